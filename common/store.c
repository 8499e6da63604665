/* The result store: content-addressed files written through a hashing writer. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdag.h"

#define VERIFY_PIECE (1u << 20) /* bytes read at a time when a file is checked */

int zd_store_prepare(const char *dir) {
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return ZDAG_ESYS;
    DIR *d = opendir(dir);
    if (!d)
        return ZDAG_ESYS;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "tmp.", 4) == 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return 0;
}

void zd_store_hex(const uint8_t hash[ZD_STORE_HASH], char hex[ZD_STORE_HEX]) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < ZD_STORE_HASH; i++) {
        hex[2 * i] = digits[hash[i] >> 4];
        hex[2 * i + 1] = digits[hash[i] & 15];
    }
    hex[2 * ZD_STORE_HASH] = '\0';
}

bool zd_store_path(const char *dir, const uint8_t hash[ZD_STORE_HASH], char *buf, size_t size) {
    char hex[ZD_STORE_HEX];
    zd_store_hex(hash, hex);
    int n = snprintf(buf, size, "%s/%s", dir, hex);
    return n > 0 && (size_t)n < size;
}

bool zd_store_verify(const char *dir, const uint8_t hash[ZD_STORE_HASH], uint64_t size,
                     bool check_hash) {
    char path[ZD_STORE_PATH];
    if (!zd_store_path(dir, hash, path, sizeof path))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
    if (ok && check_hash) {
        char *buf = malloc(VERIFY_PIECE);
        crypto_hash_sha256_state h;
        crypto_hash_sha256_init(&h);
        uint64_t seen = 0;
        while (buf && seen < size) {
            ssize_t n = read(fd, buf, VERIFY_PIECE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            crypto_hash_sha256_update(&h, (const unsigned char *)buf, (unsigned long long)n);
            seen += (uint64_t)n;
        }
        uint8_t got[ZD_STORE_HASH];
        crypto_hash_sha256_final(&h, got);
        ok = buf && seen == size && memcmp(got, hash, ZD_STORE_HASH) == 0;
        free(buf);
    }
    close(fd);
    return ok;
}

const char *zd_store_map(const char *dir, const uint8_t hash[ZD_STORE_HASH], uint64_t size) {
    char path[ZD_STORE_PATH];
    if (size == 0)
        return "";
    if (!zd_store_path(dir, hash, path, sizeof path)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
        close(fd);
        errno = EIO;
        return NULL;
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

void zd_store_unmap(const char *p, uint64_t size) {
    if (p && size)
        munmap((void *)p, (size_t)size);
}

void zd_size_format(uint64_t bytes, char *buf, size_t size) {
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    static const unsigned shifts[] = {40, 30, 20, 10};
    for (size_t i = 0; i < 4; i++)
        if (bytes >= (1ull << shifts[i]) && bytes % (1ull << shifts[i]) == 0) {
            snprintf(buf, size, "%llu %s", (unsigned long long)(bytes >> shifts[i]), units[i]);
            return;
        }
    snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
}

bool zd_size_parse(const char *text, uint64_t *out) {
    const char *p = text;
    if (!p || !isdigit((unsigned char)*p))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v > ZD_RESULT_LIMIT_MAX)
            return false;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    while (*p == ' ')
        p++;
    unsigned shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift) {
        p++;
        if (*p == 'i')
            p++;
        if (*p == 'B')
            p++;
    } else if (*p == 'B') {
        p++;
    }
    if (*p != '\0' || v == 0 || v > (ZD_RESULT_LIMIT_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

struct zd_store_writer {
    char *dir;                       /* where the file goes */
    uint64_t limit;                  /* bytes allowed */
    uint64_t size;                   /* bytes appended */
    crypto_hash_sha256_state hash;   /* of every byte appended */
    char head[ZD_RESULT_INLINE_MAX]; /* the first bytes, while there is no file */
    int fd;                          /* the temporary file, -1 until the result outgrows head */
    char tmp[ZD_STORE_PATH];         /* its path */
    bool failed;                     /* a write failed or passed the limit */
    bool over;                       /* ... it passed the limit */
    int err;                         /* errno of the failure */
};

zd_store_writer *zd_store_writer_new(const char *dir, uint64_t limit) {
    zd_store_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir ? dir : "."))) {
        free(w);
        return NULL;
    }
    w->limit = limit ? limit : ZD_RESULT_DEFAULT_MAX;
    w->fd = -1;
    crypto_hash_sha256_init(&w->hash);
    return w;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int fail(zd_store_writer *w, int rc) {
    w->failed = true;
    w->over = rc == ZDAG_ETOOBIG;
    w->err = rc == ZDAG_ESYS ? errno : 0;
    return rc;
}

/* The result outgrew memory: create its file and move the head there. */
static int open_file(zd_store_writer *w) {
    int n = snprintf(w->tmp, sizeof w->tmp, "%s/tmp.XXXXXX", w->dir);
    if (n < 0 || (size_t)n >= sizeof w->tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0)
        return -1;
    return write_all(w->fd, w->head, (size_t)w->size);
}

int zd_store_writer_write(zd_store_writer *w, const void *buf, size_t n) {
    if (w->failed)
        return w->over ? ZDAG_ETOOBIG : ZDAG_ESYS;
    if (n == 0)
        return 0;
    if (n > w->limit - w->size)
        return fail(w, ZDAG_ETOOBIG);
    crypto_hash_sha256_update(&w->hash, buf, n);
    if (w->fd < 0 && w->size + n <= sizeof w->head) {
        memcpy(w->head + w->size, buf, n);
        w->size += n;
        return 0;
    }
    if (w->fd < 0 && open_file(w) < 0)
        return fail(w, ZDAG_ESYS);
    if (write_all(w->fd, buf, n) < 0)
        return fail(w, ZDAG_ESYS);
    w->size += n;
    return 0;
}

uint64_t zd_store_writer_size(const zd_store_writer *w) {
    return w->size;
}

int zd_store_writer_errno(const zd_store_writer *w) {
    return w->err;
}

int zd_store_writer_finish(zd_store_writer *w, bool *in_store, uint8_t hash[ZD_STORE_HASH],
                           uint64_t *size, const char **inline_bytes) {
    if (w->failed)
        return w->over ? ZDAG_ETOOBIG : ZDAG_ESYS;
    crypto_hash_sha256_final(&w->hash, hash);
    *size = w->size;
    *in_store = false;
    *inline_bytes = NULL;
    if (w->fd < 0) {
        *inline_bytes = w->head;
        w->failed = true; /* finished: nothing more may be written */
        return 0;
    }
    char path[ZD_STORE_PATH];
    if (!zd_store_path(w->dir, hash, path, sizeof path)) {
        errno = ENAMETOOLONG;
        return fail(w, ZDAG_ESYS);
    }
    if (fchmod(w->fd, 0444) < 0 || fdatasync(w->fd) < 0 || close(w->fd) < 0) {
        w->fd = -1;
        return fail(w, ZDAG_ESYS);
    }
    w->fd = -1;
    if (rename(w->tmp, path) < 0)
        return fail(w, ZDAG_ESYS);
    w->tmp[0] = '\0';
    w->failed = true;
    *in_store = true;
    return 0;
}

void zd_store_writer_free(zd_store_writer **wp) {
    if (!wp || !*wp)
        return;
    zd_store_writer *w = *wp;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp[0])
        unlink(w->tmp);
    free(w->dir);
    free(w);
    *wp = NULL;
}
