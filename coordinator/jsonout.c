/* Streaming JSON output and the atomic file it goes to. */
#include "jsonout.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdag.h"

int zd_jsonout_open(zd_jsonout *w, const char *path) {
    *w = (zd_jsonout){0};
    if (asprintf(&w->tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
        w->tmp = NULL;
        return ZDAG_ENOMEM;
    }
    /* A stale file of a crashed run with our pid may be in the way; O_EXCL then makes sure we
     * write a file of our own, never through a symlink someone planted. */
    unlink(w->tmp);
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 && !(w->f = fdopen(fd, "w"))) {
        close(fd);
        unlink(w->tmp);
        fd = -1;
    }
    if (fd < 0) {
        free(w->tmp);
        w->tmp = NULL;
        return ZDAG_EIO;
    }
    /* One thread writes the file: no lock per putc; and a buffer larger than BUFSIZ. */
    __fsetlocking(w->f, FSETLOCKING_BYCALLER);
    setvbuf(w->f, NULL, _IOFBF, 1 << 16);
    return 0;
}

int zd_jsonout_commit(zd_jsonout *w, const char *path, bool durable) {
    int rc = w->oom ? ZDAG_ENOMEM : 0;
    if (rc == 0 && (fflush(w->f) != 0 || ferror(w->f) || (durable && fsync(fileno(w->f)) != 0)))
        rc = ZDAG_EIO;
    if (fclose(w->f) != 0 && rc == 0)
        rc = ZDAG_EIO;
    w->f = NULL;
    if (rc == 0 && rename(w->tmp, path) != 0)
        rc = ZDAG_EIO;
    if (rc != 0)
        unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    zd_jsonout_fini(w);
    return rc;
}

void zd_jsonout_fini(zd_jsonout *w) {
    if (w->tmp) {
        if (w->f)
            fclose(w->f);
        w->f = NULL;
        unlink(w->tmp);
        free(w->tmp);
        w->tmp = NULL;
    }
    json_decref(w->scratch);
    w->scratch = NULL;
}

/* Whether s needs no escaping: printable ASCII without '"' and '\'. */
static bool plain(const char *s, size_t *len) {
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return false;
    *len = (size_t)(p - (const unsigned char *)s);
    return true;
}

/* Escapes s with jansson; invalid UTF-8 becomes '?'. */
static void escaped(zd_jsonout *w, const char *s) {
    if (!w->scratch && !(w->scratch = json_string(""))) {
        w->oom = true;
        return;
    }
    if (json_string_set(w->scratch, s) != 0) {
        char *copy = strdup(s);
        if (!copy) {
            w->oom = true;
            return;
        }
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        int rc = json_string_set(w->scratch, copy);
        free(copy);
        if (rc != 0) {
            w->oom = true;
            return;
        }
    }
    json_dumpf(w->scratch, w->f, JSON_ENCODE_ANY);
}

void zd_jsonout_str(zd_jsonout *w, const char *s) {
    size_t len;
    if (!s) {
        fputs("null", w->f);
    } else if (plain(s, &len)) {
        putc('"', w->f);
        fwrite(s, 1, len, w->f);
        putc('"', w->f);
    } else {
        escaped(w, s);
    }
}

void zd_jsonout_real(zd_jsonout *w, double v) {
    if (!isfinite(v)) {
        fputs("null", w->f);
        return;
    }
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.15g", v);
    if (n < 0 || (size_t)n >= sizeof buf - 3)
        return;
    /* The C locale is assumed (the CLI never sets another): '.' is the decimal point. As
     * jansson: an integral value keeps a ".0"; an exponent loses its '+' and leading zeros. */
    char *e = strchr(buf, 'e');
    if (!e && !strchr(buf, '.')) {
        memcpy(buf + n, ".0", 3);
    } else if (e) {
        char *d = e + 1;
        if (*d == '-')
            d++;
        char *z = d;
        while (*z == '+' || (*z == '0' && z[1]))
            z++;
        memmove(d, z, strlen(z) + 1);
    }
    fputs(buf, w->f);
}

void zd_jsonout_micros(zd_jsonout *w, int64_t us) {
    /* %.15g of us / 1e6 is that decimal, trailing zeros trimmed, for 1e-4 <= s < 1e9 (at most
     * 15 significant digits, no exponent); elsewhere it is left to zd_jsonout_real(). */
    if (us < 100 || us >= 1000000000000000) {
        zd_jsonout_real(w, (double)us / 1e6);
        return;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
    while (buf[n - 1] == '0' && buf[n - 2] != '.')
        n--;
    fwrite(buf, 1, (size_t)n, w->f);
}

void zd_jsonout_int(zd_jsonout *w, int64_t v) {
    fprintf(w->f, "%" PRId64, v);
}

void zd_jsonout_raw(zd_jsonout *w, const char *s) {
    fputs(s, w->f);
}
