/* Streaming JSON output and the atomic file it goes to. */
#include "jsonout.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdag.h"

int zd_jsonout_open_mem(zd_jsonout *w) {
    *w = (zd_jsonout){.fd = -1};
    return (w->buf = malloc(ZD_JSONOUT_BUF)) ? 0 : ZDAG_ENOMEM;
}

int zd_jsonout_open(zd_jsonout *w, const char *path) {
    if (zd_jsonout_open_mem(w) < 0)
        return ZDAG_ENOMEM;
    if (asprintf(&w->tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
        w->tmp = NULL;
        zd_jsonout_fini(w);
        return ZDAG_ENOMEM;
    }
    /* A stale file of a crashed run with our pid may be in the way; O_EXCL then makes sure we
     * write a file of our own, never through a symlink someone planted. */
    unlink(w->tmp);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        free(w->tmp);
        w->tmp = NULL;
        zd_jsonout_fini(w);
        return ZDAG_EIO;
    }
    return 0;
}

/* Hands the buffer to the file (or to mem). */
static void drain(zd_jsonout *w) {
    if (w->fd < 0) {
        char *m = w->oom ? NULL : realloc(w->mem, w->mem_len + w->len + 1);
        if (!m) {
            w->oom = true;
        } else {
            memcpy(m + w->mem_len, w->buf, w->len);
            w->mem = m;
            w->mem_len += w->len;
            m[w->mem_len] = '\0';
        }
        w->len = 0;
        return;
    }
    for (size_t off = 0; off < w->len && !w->failed;) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->failed = true;
        else
            off += (size_t)n;
    }
    w->len = 0;
}

const char *zd_jsonout_text(zd_jsonout *w) {
    drain(w);
    return w->oom ? NULL : w->mem ? w->mem : "";
}

int zd_jsonout_commit(zd_jsonout *w, const char *path, bool durable) {
    drain(w);
    int rc = w->oom ? ZDAG_ENOMEM : w->failed ? ZDAG_EIO : 0;
    if (rc == 0 && durable && fsync(w->fd) != 0)
        rc = ZDAG_EIO;
    if (close(w->fd) != 0 && rc == 0)
        rc = ZDAG_EIO;
    w->fd = -1;
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
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    free(w->mem);
    w->mem = NULL;
    free(w->buf);
    w->buf = NULL;
    json_decref(w->scratch);
    w->scratch = NULL;
}

void zd_jsonout_rawn_slow(zd_jsonout *w, const char *s, size_t n) {
    while (n > 0) {
        if (w->len == ZD_JSONOUT_BUF)
            drain(w);
        size_t k = ZD_JSONOUT_BUF - w->len < n ? ZD_JSONOUT_BUF - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
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
    char *text = json_dumps(w->scratch, JSON_ENCODE_ANY);
    if (!text) {
        w->oom = true;
        return;
    }
    zd_jsonout_raw(w, text);
    free(text);
}

void zd_jsonout_str(zd_jsonout *w, const char *s) {
    size_t len;
    if (!s) {
        zd_jsonout_rawn(w, "null", 4);
    } else if (plain(s, &len)) {
        zd_jsonout_rawn(w, "\"", 1);
        zd_jsonout_rawn(w, s, len);
        zd_jsonout_rawn(w, "\"", 1);
    } else {
        escaped(w, s);
    }
}

void zd_jsonout_real(zd_jsonout *w, double v) {
    if (!isfinite(v)) {
        zd_jsonout_rawn(w, "null", 4);
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
    zd_jsonout_raw(w, buf);
}

/* The decimal digits of v (< 10^20) at the end of buf[0..24); returns where they start. */
static char *digits(uint64_t v, char *end) {
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* us / 1e6 for 0 <= us < 100 as zd_jsonout_real() prints it: "0.0", or one or two digits
 * and an exponent ("5e-6", "1.2e-5"). A ready_s of 0 is in every entry of a report whose nodes
 * were all ready at the start: printf's floating point was most of its cost. */
static void tiny_micros(zd_jsonout *w, int64_t us) {
    char buf[8];
    size_t n = 0;
    if (us == 0) {
        zd_jsonout_rawn(w, "0.0", 3);
        return;
    }
    if (us < 10) {
        buf[n++] = (char)('0' + us);
    } else {
        buf[n++] = (char)('0' + us / 10);
        if (us % 10) {
            buf[n++] = '.';
            buf[n++] = (char)('0' + us % 10);
        }
    }
    memcpy(buf + n, us < 10 ? "e-6" : "e-5", 3);
    zd_jsonout_rawn(w, buf, n + 3);
}

void zd_jsonout_micros(zd_jsonout *w, int64_t us) {
    /* %.15g of us / 1e6 is that decimal, trailing zeros trimmed, for 1e-4 <= s < 1e9 (at most
     * 15 significant digits, no exponent); below, one or two digits and an exponent; elsewhere
     * it is left to zd_jsonout_real(). */
    if (us >= 0 && us < 100) {
        tiny_micros(w, us);
        return;
    }
    if (us < 0 || us >= 1000000000000000) {
        zd_jsonout_real(w, (double)us / 1e6);
        return;
    }
    char buf[32], *end = buf + 24;
    char *p = digits((uint64_t)(us / 1000000), end);
    uint64_t frac = (uint64_t)(us % 1000000);
    end[0] = '.';
    for (int i = 6; i >= 1; i--, frac /= 10)
        end[i] = (char)('0' + frac % 10);
    size_t n = 7;
    while (n > 2 && end[n - 1] == '0')
        n--;
    zd_jsonout_rawn(w, p, (size_t)(end - p) + n);
}

void zd_jsonout_int(zd_jsonout *w, int64_t v) {
    char buf[32], *end = buf + sizeof buf;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = digits(u, end);
    if (v < 0)
        *--p = '-';
    zd_jsonout_rawn(w, p, (size_t)(end - p));
}
