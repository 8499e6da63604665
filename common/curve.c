/* CurveZMQ key files, the authorized key set and CURVE socket options. */
#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* libzmq keeps this option in its DRAFT API; stable builds refuse it with EINVAL. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define KEY_FILE_MAX 4096 /* larger than any key file we accept */

static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";

typedef struct keyset_entry {
    uint8_t key[ZD_CURVE_KEY_BYTES]; /* the binary public key */
    char *name;                      /* owned; where it came from, e.g. "worker3.pub" */
} keyset_entry;

struct zd_keyset {
    keyset_entry *v; /* owned entries, in insertion order */
    size_t n;        /* entries in v */
    size_t cap;      /* allocated entries */
};

bool zd_curve_available(void) {
    return zmq_has("curve") != 0;
}

bool zd_curve_z85_valid(const char *z85, uint8_t key[ZD_CURVE_KEY_BYTES]) {
    if (!z85 || strnlen(z85, ZD_CURVE_Z85_LEN + 1) != ZD_CURVE_Z85_LEN)
        return false;
    for (size_t i = 0; i < ZD_CURVE_Z85_LEN; i++)
        if (!strchr(z85_chars, z85[i]))
            return false;
    uint8_t tmp[ZD_CURVE_KEY_BYTES];
    /* zmq_z85_decode also rejects groups of five characters whose value overflows 32 bits. */
    if (!zmq_z85_decode(tmp, z85))
        return false;
    if (key)
        memcpy(key, tmp, sizeof tmp);
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Writing key files.
 * ------------------------------------------------------------------------------------------ */

/* Creates path (never an existing one) with exactly `mode`, whatever the umask, and writes
 * text. On any failure after creating it, removes it again. */
static int write_new_file(const char *path, mode_t mode, const char *text, zd_diags *d) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        int err = errno;
        zd_diags_add(d, path, 0, 0, "%s",
                     err == EEXIST ? "already exists; not overwriting it" : strerror(err));
        return err == EEXIST ? ZDAG_EEXIST : ZDAG_ESYS;
    }
    size_t len = strlen(text), done = 0;
    int rc = fchmod(fd, mode);
    while (rc == 0 && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            done += (size_t)w;
    }
    if (rc == 0)
        rc = fsync(fd);
    if (close(fd) != 0)
        rc = -1;
    if (rc != 0) {
        zd_diags_add(d, path, 0, 0, "cannot write: %s", strerror(errno));
        unlink(path);
        return ZDAG_ESYS;
    }
    return 0;
}

int zd_curve_keygen(const char *name, zd_diags *d) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || name[len - 1] == '/') {
        zd_diags_add(d, "zdag keygen", 0, 0, "the key name must name a file, e.g. worker1");
        return ZDAG_EINVAL;
    }
    if (!zd_curve_available()) {
        zd_diags_add(d, "zdag keygen", 0, 0, "this libzmq was built without CURVE");
        return ZDAG_EUNSUPPORTED;
    }
    char *key_path = NULL, *pub_path = NULL;
    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1];
    char key_text[2 * ZD_CURVE_Z85_LEN + 32], pub_text[ZD_CURVE_Z85_LEN + 2];
    int rc = ZDAG_ENOMEM;
    if (asprintf(&key_path, "%s.key", name) < 0) {
        key_path = NULL;
        goto out_free_paths;
    }
    if (asprintf(&pub_path, "%s.pub", name) < 0) {
        pub_path = NULL;
        goto out_free_paths;
    }
    /* Refuse before creating anything when the public half is there already. */
    struct stat st;
    if (lstat(pub_path, &st) == 0) {
        zd_diags_add(d, pub_path, 0, 0, "already exists; not overwriting it");
        rc = ZDAG_EEXIST;
        goto out_free_paths;
    }
    if (zmq_curve_keypair(pub, sec) != 0) {
        zd_diags_add(d, "zdag keygen", 0, 0, "cannot generate a key pair: %s",
                     zmq_strerror(zmq_errno()));
        rc = ZDAG_EZMQ;
        goto out_free_paths;
    }
    snprintf(key_text, sizeof key_text, "public: %s\nsecret: %s\n", pub, sec);
    snprintf(pub_text, sizeof pub_text, "%s\n", pub);
    rc = write_new_file(key_path, 0600, key_text, d);
    if (rc < 0)
        goto out_wipe;
    rc = write_new_file(pub_path, 0644, pub_text, d);
    if (rc < 0)
        unlink(key_path);
out_wipe:
    explicit_bzero(sec, sizeof sec);
    explicit_bzero(key_text, sizeof key_text);
out_free_paths:
    free(key_path);
    free(pub_path);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Reading key files.
 * ------------------------------------------------------------------------------------------ */

/* Reads a small regular file into buf (NUL-terminated). With `secret`, refuses a file that
 * group or others may access; otherwise one that they may write when `strict`. */
static int read_key_file(const char *path, bool secret, bool strict, char *buf, size_t cap,
                         zd_diags *d) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        zd_diags_add(d, path, 0, 0, "cannot open: %s", strerror(err));
        return err == ENOENT ? ZDAG_ENOENT : ZDAG_ESYS;
    }
    int rc = ZDAG_ESYS;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        zd_diags_add(d, path, 0, 0, "cannot stat: %s", strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(st.st_mode)) {
        zd_diags_add(d, path, 0, 0, "not a regular file");
        goto out_close;
    }
    if (secret && (st.st_mode & 077)) {
        zd_diags_add(d, path, 0, 0,
                     "secret key file is accessible by group or others (mode %04o); "
                     "it must be private: chmod 600 %s",
                     (unsigned)(st.st_mode & 07777), path);
        goto out_close;
    }
    if (strict && (st.st_mode & 022)) {
        zd_diags_add(d, path, 0, 0,
                     "public key file is writable by group or others (mode %04o), so anyone "
                     "could change it: chmod go-w %s",
                     (unsigned)(st.st_mode & 07777), path);
        goto out_close;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            zd_diags_add(d, path, 0, 0, "cannot read: %s", strerror(errno));
            goto out_close;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap - 1) {
            zd_diags_add(d, path, 0, 0, "too large for a key file");
            rc = ZDAG_EINVAL;
            goto out_close;
        }
    }
    buf[len] = '\0';
    rc = 0;
out_close:
    close(fd);
    return rc;
}

/* Returns the next meaningful line of *text (NUL-terminated in place, trailing blanks and CR
 * removed), skipping blank and '#' lines, and sets *lineno; NULL at the end. */
static char *next_line(char **text, int *lineno) {
    while (**text) {
        char *line = *text, *nl = strchr(line, '\n');
        *text = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        (*lineno)++;
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line && *line != '#')
            return line;
    }
    return NULL;
}

/* Copies a "field: KEY" line's key into out when the line starts with field. Returns 1 when
 * it does and the key is valid, 0 when the line is another field, -1 for a bad key. */
static int key_field(const char *line, const char *field, char out[ZD_CURVE_Z85_LEN + 1]) {
    size_t n = strlen(field);
    if (strncmp(line, field, n) != 0)
        return 0;
    line += n;
    while (*line == ' ' || *line == '\t')
        line++;
    if (!zd_curve_z85_valid(line, NULL))
        return -1;
    memcpy(out, line, ZD_CURVE_Z85_LEN + 1);
    return 1;
}

/* Parses the text of a .key file. */
static int parse_secret(const char *path, char *text, char pub[ZD_CURVE_Z85_LEN + 1],
                        char sec[ZD_CURVE_Z85_LEN + 1], zd_diags *d) {
    bool have_pub = false, have_sec = false;
    int lineno = 0;
    for (char *line; (line = next_line(&text, &lineno));) {
        int p = key_field(line, "public:", pub), s = p ? 0 : key_field(line, "secret:", sec);
        if (p < 0 || s < 0) {
            zd_diags_add(d, path, lineno, 1, "not a valid key (40 Z85 characters expected)");
            return ZDAG_EINVAL;
        }
        if ((p && have_pub) || (s && have_sec)) {
            zd_diags_add(d, path, lineno, 1, "the %s key is given twice", p ? "public" : "secret");
            return ZDAG_EINVAL;
        }
        if (!p && !s) {
            zd_diags_add(d, path, lineno, 1, "expected \"public: KEY\" or \"secret: KEY\"");
            return ZDAG_EINVAL;
        }
        have_pub |= p > 0;
        have_sec |= s > 0;
    }
    if (!have_pub || !have_sec) {
        zd_diags_add(d, path, 0, 0, "not a zdag secret key file: the %s key is missing",
                     have_pub ? "secret" : "public");
        return ZDAG_EINVAL;
    }
    char derived[ZD_CURVE_Z85_LEN + 1];
    if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, pub) != 0) {
        zd_diags_add(d, path, 0, 0, "the public key does not belong to the secret key");
        return ZDAG_EINVAL;
    }
    return 0;
}

int zd_curve_load_secret(const char *path, char pub[ZD_CURVE_Z85_LEN + 1],
                         char sec[ZD_CURVE_Z85_LEN + 1], zd_diags *d) {
    char text[KEY_FILE_MAX];
    int rc = read_key_file(path, true, false, text, sizeof text, d);
    if (rc == 0)
        rc = parse_secret(path, text, pub, sec, d);
    if (rc < 0) {
        explicit_bzero(sec, ZD_CURVE_Z85_LEN + 1);
        pub[0] = '\0';
    }
    explicit_bzero(text, sizeof text);
    return rc;
}

/* Reads a .pub file; strict: refuse one that group or others may write. */
static int load_public(const char *path, bool strict, char pub[ZD_CURVE_Z85_LEN + 1], zd_diags *d) {
    char text[KEY_FILE_MAX];
    int rc = read_key_file(path, false, strict, text, sizeof text, d);
    if (rc < 0)
        return rc;
    char *rest = text;
    int lineno = 0;
    char *line = next_line(&rest, &lineno);
    if (line && (strncmp(line, "public:", 7) == 0 || strncmp(line, "secret:", 7) == 0)) {
        zd_diags_add(d, path, 0, 0,
                     "this is a secret key file; give the .pub file instead (and never copy a "
                     ".key file to another host)");
        rc = ZDAG_EINVAL;
    } else if (!line || !zd_curve_z85_valid(line, NULL)) {
        zd_diags_add(d, path, line ? lineno : 0, line ? 1 : 0,
                     "not a public key (40 Z85 characters expected)");
        rc = ZDAG_EINVAL;
    } else {
        memcpy(pub, line, ZD_CURVE_Z85_LEN + 1);
        if (next_line(&rest, &lineno)) {
            zd_diags_add(d, path, lineno, 1, "unexpected text after the key");
            rc = ZDAG_EINVAL;
        }
    }
    explicit_bzero(text, sizeof text);
    return rc;
}

int zd_curve_load_public(const char *path, char pub[ZD_CURVE_Z85_LEN + 1], zd_diags *d) {
    return load_public(path, false, pub, d);
}

/* ------------------------------------------------------------------------------------------
 * The authorized key set.
 * ------------------------------------------------------------------------------------------ */

zd_keyset *zd_keyset_new(void) {
    return calloc(1, sizeof(zd_keyset));
}

void zd_keyset_free(zd_keyset **s) {
    if (!s || !*s)
        return;
    for (size_t i = 0; i < (*s)->n; i++)
        free((*s)->v[i].name);
    free((*s)->v);
    free(*s);
    *s = NULL;
}

size_t zd_keyset_size(const zd_keyset *s) {
    return s ? s->n : 0;
}

bool zd_keyset_has(const zd_keyset *s, const uint8_t key[ZD_CURVE_KEY_BYTES], const char **name) {
    if (!s || !key)
        return false;
    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->v[i].key, key, ZD_CURVE_KEY_BYTES) == 0) {
            if (name)
                *name = s->v[i].name;
            return true;
        }
    }
    return false;
}

int zd_keyset_add(zd_keyset *s, const char *pub, const char *name) {
    uint8_t key[ZD_CURVE_KEY_BYTES];
    if (!s || !name || !zd_curve_z85_valid(pub, key))
        return ZDAG_EINVAL;
    if (zd_keyset_has(s, key, NULL))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        keyset_entry *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return ZDAG_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return ZDAG_ENOMEM;
    memcpy(s->v[s->n].key, key, sizeof key);
    s->v[s->n++].name = copy;
    return 0;
}

static int pub_file_filter(const struct dirent *e) {
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 4 && strcmp(e->d_name + n - 4, ".pub") == 0;
}

/* Adds DIR/NAME to s; reports a bad file to d. */
static int load_one(zd_keyset *s, const char *dir, const char *name, zd_diags *d) {
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return ZDAG_ENOMEM;
    char pub[ZD_CURVE_Z85_LEN + 1];
    int rc = load_public(path, true, pub, d);
    if (rc == 0)
        rc = zd_keyset_add(s, pub, name);
    free(path);
    return rc;
}

zd_keyset *zd_keyset_load(const char *dir, zd_diags *d) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        zd_diags_add(d, dir, 0, 0, "cannot read the authorized keys directory: %s",
                     strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        zd_diags_add(d, dir, 0, 0, "the authorized keys must be a directory of *.pub files");
        return NULL;
    }
    if (st.st_mode & 022) {
        zd_diags_add(d, dir, 0, 0,
                     "the authorized keys directory is writable by group or others (mode "
                     "%04o), so anyone could add a key: chmod go-w %s",
                     (unsigned)(st.st_mode & 07777), dir);
        return NULL;
    }
    struct dirent **list = NULL;
    int n = scandir(dir, &list, pub_file_filter, alphasort);
    if (n < 0) {
        zd_diags_add(d, dir, 0, 0, "cannot read the authorized keys directory: %s",
                     strerror(errno));
        return NULL;
    }
    zd_keyset *s = zd_keyset_new();
    bool failed = !s;
    for (int i = 0; i < n; i++) {
        if (s && load_one(s, dir, list[i]->d_name, d) < 0)
            failed = true;
        free(list[i]);
    }
    free(list);
    if (!failed && zd_keyset_size(s) == 0) {
        zd_diags_add(d, dir, 0, 0, "no public keys (*.pub files) in the authorized keys directory");
        failed = true;
    }
    if (failed)
        zd_keyset_free(&s);
    return s;
}

/* ------------------------------------------------------------------------------------------
 * Sockets.
 * ------------------------------------------------------------------------------------------ */

int zd_curve_server(void *sock, const char *sec) {
    if (!zd_curve_z85_valid(sec, NULL))
        return ZDAG_EINVAL;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, ZD_CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZD_CURVE_ZAP_DOMAIN, strlen(ZD_CURVE_ZAP_DOMAIN)) != 0)
        return ZDAG_EZMQ;
    /* Where available (a DRAFT build), fail handshakes when no ZAP handler answers instead of
     * admitting every key. Stable builds refuse the option: the ZAP handler is then the only
     * gate, which is why zd_zap_start() must run first. */
    (void)zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
    return 0;
}

int zd_curve_client(void *sock, const char *pub, const char *sec, const char *server_pub) {
    if (!zd_curve_z85_valid(pub, NULL) || !zd_curve_z85_valid(sec, NULL) ||
        !zd_curve_z85_valid(server_pub, NULL))
        return ZDAG_EINVAL;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, ZD_CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, ZD_CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, ZD_CURVE_Z85_LEN) != 0)
        return ZDAG_EZMQ;
    return 0;
}
