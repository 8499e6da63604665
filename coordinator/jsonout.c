/* Streaming JSON output and the atomic file it goes to. */
#include "jsonout.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
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

/* The writer thread: takes a full buffer at a time and writes it to fd. */
struct zd_jsonout_writer {
    pthread_t thread;   /* the thread */
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signalled when data is handed over, taken, or stop is set */
    int fd;             /* the file (borrowed from the zd_jsonout) */
    const char *data;   /* the buffer handed over and not yet written, or NULL: idle */
    size_t len;         /* its bytes */
    bool stop;          /* no more buffers: the thread ends once idle */
    bool failed;        /* a write failed */
};

/* Writes len bytes of p to fd; false when a write failed. */
static bool write_all(int fd, const char *p, size_t len) {
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

static void *writer_main(void *arg) {
    zd_jsonout_writer *wr = arg;
    pthread_mutex_lock(&wr->mu);
    for (;;) {
        while (!wr->data && !wr->stop)
            pthread_cond_wait(&wr->cv, &wr->mu);
        if (!wr->data)
            break;
        const char *data = wr->data;
        size_t len = wr->len;
        bool failed = wr->failed;
        pthread_mutex_unlock(&wr->mu);
        bool ok = failed || write_all(wr->fd, data, len); /* after a failure: nothing more */
        pthread_mutex_lock(&wr->mu);
        wr->failed |= !ok;
        wr->data = NULL;
        pthread_cond_broadcast(&wr->cv);
    }
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

/* Waits until the writer has written what it was handed; locked on return. */
static void writer_wait_idle(zd_jsonout_writer *wr) {
    pthread_mutex_lock(&wr->mu);
    while (wr->data)
        pthread_cond_wait(&wr->cv, &wr->mu);
}

/* Starts w's writer thread and its second buffer; false (and none) when either cannot be had. */
static bool writer_start(zd_jsonout *w) {
    zd_jsonout_writer *wr = calloc(1, sizeof *wr);
    char *spare = malloc(ZD_JSONOUT_BUF);
    if (!wr || !spare)
        goto out_free;
    wr->fd = w->fd;
    if (pthread_mutex_init(&wr->mu, NULL) != 0)
        goto out_free;
    if (pthread_cond_init(&wr->cv, NULL) != 0)
        goto out_mutex;
    if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0)
        goto out_cond;
    w->writer = wr;
    w->spare = spare;
    return true;
out_cond:
    pthread_cond_destroy(&wr->cv);
out_mutex:
    pthread_mutex_destroy(&wr->mu);
out_free:
    free(spare);
    free(wr);
    return false;
}

/* Waits for the writer to write what it holds and ends it; its failure becomes w's. */
static void writer_stop(zd_jsonout *w) {
    zd_jsonout_writer *wr = w->writer;
    if (!wr)
        return;
    writer_wait_idle(wr);
    wr->stop = true;
    pthread_cond_broadcast(&wr->cv);
    pthread_mutex_unlock(&wr->mu);
    pthread_join(wr->thread, NULL);
    w->failed |= wr->failed;
    pthread_cond_destroy(&wr->cv);
    pthread_mutex_destroy(&wr->mu);
    free(wr);
    w->writer = NULL;
}

/* Hands the buffer to the writer thread (started at the first full buffer) and goes on with
 * the other one; writes it here when there is no thread. */
static void drain_to_file(zd_jsonout *w) {
    if (!w->writer && !w->spare && !w->failed && w->len == ZD_JSONOUT_BUF)
        writer_start(w);
    zd_jsonout_writer *wr = w->writer;
    if (!wr) {
        if (!w->failed && !write_all(w->fd, w->buf, w->len))
            w->failed = true;
        w->len = 0;
        return;
    }
    writer_wait_idle(wr);
    w->failed |= wr->failed;
    char *full = w->buf;
    w->buf = w->spare;
    w->spare = full;
    wr->data = full;
    wr->len = w->len;
    pthread_cond_broadcast(&wr->cv);
    pthread_mutex_unlock(&wr->mu);
    w->len = 0;
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
    drain_to_file(w);
}

const char *zd_jsonout_text(zd_jsonout *w) {
    drain(w);
    return w->oom ? NULL : w->mem ? w->mem : "";
}

int zd_jsonout_commit(zd_jsonout *w, const char *path, bool durable) {
    drain(w);
    writer_stop(w);
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
    writer_stop(w);
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
    free(w->spare);
    w->spare = NULL;
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
