/* The framed log: reading with torn-tail detection, group-committed appends, atomic creation.
 *
 * The CRC-32 is zlib's crc32() (table-driven and vectorised there); the checksum is not the
 * cost of a frame, fsync is. */
#include "framelog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "zdag.h"

#define READ_CHUNK (1u << 20)  /* bytes read at a time when loading */
#define SCAN_CHUNK (64u << 10) /* bytes read at a time when scanning a suspect tail */
#define FLUSH_AT (1u << 20)    /* a created log writes through past this many buffered bytes */

uint32_t zd_framelog_crc32(uint32_t crc, const void *buf, size_t len) {
    /* Fed in pieces small enough for zlib's uInt. */
    const Bytef *p = buf;
    uLong c = crc;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* the file shrank under us */
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------------ */

typedef struct reader {
    int fd;                     /* the file */
    uint64_t size;              /* its size when the read began */
    const zd_framelog_cfg *cfg; /* limits */
    zd_framelog_fault *f;       /* receives what went wrong */
    uint8_t *win;               /* a window of the file ... */
    uint64_t win_off;           /* ... starting at this offset ... */
    size_t win_len;             /* ... this many bytes long */
    size_t win_cap;             /* bytes allocated at win */
    uint64_t scan_budget;       /* bytes a corruption scan may still checksum */
    void *ctx;                  /* the visitor's */
} reader;

typedef enum frame { FRAME_OK, FRAME_BAD, FRAME_IO } frame;

/* Points *p at len bytes of the file at off (len <= size - off), reading a chunk when they are
 * not in the window. */
static frame window(reader *r, uint64_t off, size_t len, const uint8_t **p) {
    if (off >= r->win_off && off + len <= r->win_off + r->win_len) {
        *p = r->win + (off - r->win_off);
        return FRAME_OK;
    }
    size_t want = len > READ_CHUNK ? len : READ_CHUNK;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    if (want > r->win_cap) {
        uint8_t *w = realloc(r->win, want);
        if (!w) {
            errno = ENOMEM;
            return FRAME_IO;
        }
        r->win = w;
        r->win_cap = want;
    }
    r->win_len = 0;
    if (pread_full(r->fd, r->win, want, off) < 0)
        return FRAME_IO;
    r->win_off = off;
    r->win_len = want;
    *p = r->win;
    return FRAME_OK;
}

/* Checks the frame at off; on FRAME_OK *payload and *len describe it (in the window) and
 * *skip says whether the reader did not want it (its checksum then unchecked). */
static frame read_frame(reader *r, uint64_t off, const uint8_t **payload, uint32_t *len,
                        bool *skip) {
    const uint8_t *h;
    char *why = r->f->why;
    size_t wsize = sizeof r->f->why;
    if (r->size - off < ZD_FRAMELOG_FRAME_HEADER) {
        snprintf(why, wsize, "truncated record header");
        return FRAME_BAD;
    }
    if (window(r, off, ZD_FRAMELOG_FRAME_HEADER, &h) != FRAME_OK)
        return FRAME_IO;
    *len = le32(h);
    uint32_t crc = le32(h + 4);
    if (*len == 0) {
        snprintf(why, wsize, "empty record");
        return FRAME_BAD;
    }
    if (*len > r->cfg->max_record) {
        snprintf(why, wsize, "record length %" PRIu32 " over the %" PRIu32 " MiB limit", *len,
                 r->cfg->max_record >> 20);
        return FRAME_BAD;
    }
    uint64_t left = r->size - off - ZD_FRAMELOG_FRAME_HEADER;
    if (*len > left) {
        snprintf(why, wsize, "truncated record (%" PRIu32 " bytes, %" PRIu64 " left)", *len, left);
        return FRAME_BAD;
    }
    if (window(r, off, ZD_FRAMELOG_FRAME_HEADER + (size_t)*len, &h) != FRAME_OK)
        return FRAME_IO;
    *payload = h + ZD_FRAMELOG_FRAME_HEADER;
    *skip = r->cfg->wanted && *len < left && !r->cfg->wanted(r->ctx, (const char *)*payload, *len);
    if (!*skip && zd_framelog_crc32(0, *payload, *len) != crc) {
        snprintf(why, wsize, "checksum mismatch");
        return FRAME_BAD;
    }
    return FRAME_OK;
}

/* Whether a frame with a valid checksum starts at off (p: at least 10 bytes from there).
 * Returns 1, 0 or -1 (I/O). */
static int valid_frame_at(reader *r, uint64_t off, const uint8_t *p) {
    uint32_t len = le32(p);
    if (len < 2 || len > r->cfg->max_record || len > r->size - off - ZD_FRAMELOG_FRAME_HEADER)
        return 0;
    if (r->cfg->plausible && !r->cfg->plausible(p + ZD_FRAMELOG_FRAME_HEADER, 2))
        return 0;
    /* Each candidate costs a checksum of its length: a hostile tail full of candidates would
     * take quadratic time, so past a budget assume the worst (corruption: an error, no data
     * thrown away). */
    if (len > r->scan_budget)
        return 1;
    r->scan_budget -= len;
    uint8_t chunk[4096];
    uint32_t crc = 0;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < sizeof chunk ? len - done : (uint32_t)sizeof chunk;
        if (pread_full(r->fd, chunk, n, off + ZD_FRAMELOG_FRAME_HEADER + done) < 0)
            return -1;
        crc = zd_framelog_crc32(crc, chunk, n);
        done += n;
    }
    return crc == le32(p + 4);
}

/* Whether the bad frame at off is a torn tail left by a crash: only zero bytes from there to
 * the end, or no valid frame anywhere after it. Returns 1, 0 (corruption) or -1 (I/O). */
static int torn_tail(reader *r, uint64_t off) {
    uint8_t *chunk = malloc(SCAN_CHUNK + 10);
    if (!chunk) {
        errno = ENOMEM;
        return -1;
    }
    int torn = 1;
    bool zeros = true;
    for (uint64_t base = off; base < r->size && torn == 1; base += SCAN_CHUNK) {
        size_t got = r->size - base < SCAN_CHUNK + 10 ? r->size - base : SCAN_CHUNK + 10;
        if (pread_full(r->fd, chunk, got, base) < 0) {
            torn = -1;
            break;
        }
        for (size_t i = 0; i < got && zeros; i++)
            zeros = chunk[i] == 0;
        for (size_t i = base == off ? 1 : 0; i < SCAN_CHUNK && i + 10 <= got && !zeros; i++) {
            int v = valid_frame_at(r, base + i, chunk + i);
            if (v != 0) {
                torn = v < 0 ? -1 : 0;
                break;
            }
        }
    }
    free(chunk);
    return torn;
}

static int read_frames(reader *r, zd_framelog_visit_fn visit, void *ctx, uint64_t *valid_end) {
    uint64_t off = 0;
    while (off < r->size) {
        const uint8_t *payload = NULL;
        uint32_t len = 0;
        bool skip = false;
        r->f->why[0] = '\0';
        frame fr = read_frame(r, off, &payload, &len, &skip);
        if (fr == FRAME_BAD && off > 0) {
            char why[sizeof r->f->why];
            memcpy(why, r->f->why, sizeof why);
            int torn = torn_tail(r, off);
            memcpy(r->f->why, why, sizeof why);
            if (torn == 1)
                break;
            fr = torn == 0 ? FRAME_BAD : FRAME_IO;
        }
        if (fr != FRAME_OK) {
            r->f->offset = off;
            r->f->err = fr == FRAME_IO ? errno : 0;
            return fr == FRAME_BAD ? ZDAG_ESTATE : errno == ENOMEM ? ZDAG_ENOMEM : ZDAG_EIO;
        }
        r->f->why[0] = '\0';
        int rc = skip ? 0 : visit(ctx, (const char *)payload, len, off);
        if (rc < 0)
            return rc;
        off += ZD_FRAMELOG_FRAME_HEADER + (uint64_t)len;
    }
    *valid_end = off;
    return 0;
}

int zd_framelog_read(int fd, const zd_framelog_cfg *cfg, zd_framelog_visit_fn visit, void *ctx,
                     uint64_t *valid_end, uint64_t *size, zd_framelog_fault *f) {
    memset(f, 0, sizeof *f);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        f->err = errno;
        snprintf(f->why, sizeof f->why, "cannot stat");
        return ZDAG_EIO;
    }
    reader r = {.fd = fd,
                .size = (uint64_t)st.st_size,
                .cfg = cfg,
                .f = f,
                .scan_budget = 4ull * cfg->max_record,
                .ctx = ctx};
    *size = r.size;
    *valid_end = 0;
    int rc = read_frames(&r, visit, ctx, valid_end);
    free(r.win);
    return rc;
}

/* ---- Writing ------------------------------------------------------------------------------- */

struct zd_framelog {
    char *path;                         /* the log */
    char *tmp;                          /* PATH.tmp while created and not installed, else NULL */
    int fd;                             /* the file written, O_APPEND */
    uint32_t max_record;                /* payload bytes per frame, at most */
    int (*datasync)(void *ctx, int fd); /* cfg's, or NULL for fdatasync() */
    void *datasync_ctx;                 /* its context */
    char error[512]; /* why the caller's last action failed (the caller's thread only) */
    /* Everything below is shared with the writer thread, under mu, once it runs. */
    pthread_mutex_t mu;  /* guards what follows while the writer runs */
    pthread_cond_t wake; /* the writer waits here for work */
    pthread_cond_t done; /* zd_framelog_sync() waits here for the writer */
    pthread_t writer;    /* the writer thread, when started */
    bool started;        /* writer was created */
    bool stop;           /* the writer is to end */
    bool want;           /* a sync was asked for and not yet taken by the writer */
    bool busy;           /* the writer is writing wbuf and syncing */
    uint64_t end;        /* file size after the last complete write */
    uint8_t *buf;        /* frames appended but not yet written (nor being written) */
    size_t len;          /* bytes in buf */
    size_t cap;          /* bytes allocated at buf */
    size_t buf_frames;   /* frames in buf */
    uint8_t *wbuf;       /* the frames the writer is writing, while busy; else a spare buffer */
    size_t wlen;         /* bytes in wbuf while busy */
    size_t wcap;         /* bytes allocated at wbuf */
    size_t wframes;      /* frames in wbuf while busy */
    size_t pending;      /* frames appended and not yet durable (buf, wbuf) */
    uint64_t failures;   /* writes or syncs of the writer that failed, ever */
    uint64_t reported;   /* failures already returned by zd_framelog_sync_async() */
    char werror[512];    /* why the writer's last write or sync failed */
    int64_t oldest_ms;   /* monotonic time of the oldest append in buf, -1 when buf is empty */
    bool broken;         /* an fdatasync failed */
};

static zd_framelog *framelog_new(const char *path, const zd_framelog_cfg *cfg) {
    zd_framelog *fl = calloc(1, sizeof *fl);
    if (!fl)
        return NULL;
    fl->fd = -1;
    fl->oldest_ms = -1;
    fl->max_record = cfg->max_record;
    fl->datasync = cfg->datasync;
    fl->datasync_ctx = cfg->datasync_ctx;
    if (!(fl->path = strdup(path))) {
        free(fl);
        return NULL;
    }
    return fl;
}

int zd_framelog_open(const char *path, uint64_t valid_end, const zd_framelog_cfg *cfg,
                     zd_framelog **out, char *err, size_t err_size) {
    *out = NULL;
    zd_framelog *fl = framelog_new(path, cfg);
    if (!fl)
        return ZDAG_ENOMEM;
    struct stat st;
    fl->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fl->fd < 0 || fstat(fl->fd, &st) < 0) {
        snprintf(err, err_size, "cannot open: %s", strerror(errno));
        zd_framelog_close(&fl);
        return ZDAG_ESTATE;
    }
    /* Cut a torn tail now, so that new frames follow the last valid one. */
    if ((uint64_t)st.st_size > valid_end &&
        (ftruncate(fl->fd, (off_t)valid_end) < 0 || fdatasync(fl->fd) < 0)) {
        snprintf(err, err_size, "cannot truncate a torn record: %s", strerror(errno));
        zd_framelog_close(&fl);
        return ZDAG_ESTATE;
    }
    fl->end = valid_end;
    *out = fl;
    return 0;
}

int zd_framelog_create(const char *path, mode_t mode, const zd_framelog_cfg *cfg, zd_framelog **out,
                       char *err, size_t err_size) {
    *out = NULL;
    zd_framelog *fl = framelog_new(path, cfg);
    if (!fl)
        return ZDAG_ENOMEM;
    size_t n = strlen(path) + 5;
    if (!(fl->tmp = malloc(n))) {
        zd_framelog_close(&fl);
        return ZDAG_ENOMEM;
    }
    snprintf(fl->tmp, n, "%s.tmp", path);
    /* A leftover of a crash is garbage: start afresh (O_EXCL: never through a planted link). */
    if (unlink(fl->tmp) < 0 && errno != ENOENT) {
        snprintf(err, err_size, "cannot remove %s: %s", fl->tmp, strerror(errno));
        free(fl->tmp);
        fl->tmp = NULL;
        zd_framelog_close(&fl);
        return ZDAG_ESTATE;
    }
    fl->fd = open(fl->tmp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fl->fd < 0) {
        snprintf(err, err_size, "cannot create %s: %s", fl->tmp, strerror(errno));
        free(fl->tmp);
        fl->tmp = NULL;
        zd_framelog_close(&fl);
        return ZDAG_ESTATE;
    }
    *out = fl;
    return 0;
}

static int fsync_dir_of(const char *path) {
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

int zd_framelog_install(zd_framelog *fl) {
    if (!fl->tmp) {
        snprintf(fl->error, sizeof fl->error, "%s is installed already", fl->path);
        return ZDAG_EINVAL;
    }
    bool empty = fl->end == 0 && fl->pending == 0;
    int rc = zd_framelog_sync(fl);
    if (rc == 0 && empty && fdatasync(fl->fd) < 0) {
        /* An empty log was never synced by zd_framelog_sync(): its inode must be on disk. */
        snprintf(fl->error, sizeof fl->error, "cannot sync %s: %s", fl->tmp, strerror(errno));
        rc = ZDAG_ESTATE;
    }
    if (rc == 0 && rename(fl->tmp, fl->path) < 0) {
        snprintf(fl->error, sizeof fl->error, "cannot rename %s: %s", fl->tmp, strerror(errno));
        rc = ZDAG_ESTATE;
    }
    if (rc < 0) {
        unlink(fl->tmp);
        return rc;
    }
    free(fl->tmp);
    fl->tmp = NULL;
    /* The rename is durable only once the directory is: until then a crash may bring back the
     * old file, which is just as valid. */
    if (fsync_dir_of(fl->path) < 0) {
        /* Frames appended now could vanish with the rename in a crash: append nothing more. */
        fl->broken = true;
        snprintf(fl->error, sizeof fl->error, "cannot sync the directory of %s: %s", fl->path,
                 strerror(errno));
        return ZDAG_ESTATE;
    }
    return 0;
}

static int datasync(const zd_framelog *fl) {
    return fl->datasync ? fl->datasync(fl->datasync_ctx, fl->fd) : fdatasync(fl->fd);
}

/* Writes len bytes at the end of the file (at end), rolling a partial write back (*broke set
 * when even that failed). On failure err receives why. Touches nothing of fl but its file. */
static int write_at_end(const zd_framelog *fl, const uint8_t *b, size_t len, uint64_t end,
                        bool *broke, char *err, size_t err_size) {
    if (len == 0 || write_full(fl->fd, b, len) == 0)
        return 0;
    int e = errno;
    if (ftruncate(fl->fd, (off_t)end) < 0)
        *broke = true;
    snprintf(err, err_size, "cannot write %s: %s", fl->tmp ? fl->tmp : fl->path, strerror(e));
    return ZDAG_ESTATE;
}

/* The inline path (no writer thread): writes buf, syncs when sync is set. */
static int write_buffer(zd_framelog *fl, bool sync) {
    if (write_at_end(fl, fl->buf, fl->len, fl->end, &fl->broken, fl->error, sizeof fl->error) < 0)
        return ZDAG_ESTATE;
    fl->end += fl->len;
    fl->len = 0;
    if (sync && datasync(fl) < 0) {
        /* After a failed fdatasync the kernel may have dropped the dirty pages: stop here. */
        fl->broken = true;
        snprintf(fl->error, sizeof fl->error, "cannot sync %s: %s", fl->tmp ? fl->tmp : fl->path,
                 strerror(errno));
        return ZDAG_ESTATE;
    }
    if (sync) {
        fl->pending = 0;
        fl->buf_frames = 0;
        fl->oldest_ms = -1;
    }
    return 0;
}

/* Grows the buffer b (of *cap bytes) to hold need bytes. */
static bool grow(uint8_t **b, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *nb = realloc(*b, c);
    if (!nb)
        return false;
    *b = nb;
    *cap = c;
    return true;
}

static void lock(zd_framelog *fl) {
    if (fl->started)
        pthread_mutex_lock(&fl->mu);
}

static void unlock(zd_framelog *fl) {
    if (fl->started)
        pthread_mutex_unlock(&fl->mu);
}

int zd_framelog_append(zd_framelog *fl, const void *payload, size_t len, uint64_t *off) {
    if (len == 0) {
        snprintf(fl->error, sizeof fl->error, "an empty record");
        return ZDAG_EINVAL;
    }
    if (len > fl->max_record) {
        snprintf(fl->error, sizeof fl->error,
                 "a record of %zu bytes is over the %" PRIu32 " MiB limit", len,
                 fl->max_record >> 20);
        return ZDAG_ETOOBIG;
    }
    /* Checksummed outside the lock: the writer never waits for it. */
    uint8_t head[ZD_FRAMELOG_FRAME_HEADER];
    put_le32(head, (uint32_t)len);
    put_le32(head + 4, zd_framelog_crc32(0, payload, len));
    lock(fl);
    int rc = 0;
    if (fl->broken) {
        snprintf(fl->error, sizeof fl->error, "%s is unusable after a failed sync", fl->path);
        rc = ZDAG_ESTATE;
    } else if (!grow(&fl->buf, &fl->cap, fl->len + ZD_FRAMELOG_FRAME_HEADER + len)) {
        snprintf(fl->error, sizeof fl->error, "out of memory");
        rc = ZDAG_ENOMEM;
    } else {
        uint8_t *p = fl->buf + fl->len;
        memcpy(p, head, sizeof head);
        memcpy(p + ZD_FRAMELOG_FRAME_HEADER, payload, len);
        if (off) /* after what is being written, which a failed write puts back before buf */
            *off = fl->end + (fl->busy ? fl->wlen : 0) + fl->len;
        fl->len += ZD_FRAMELOG_FRAME_HEADER + len;
        fl->pending++;
        if (fl->buf_frames++ == 0)
            fl->oldest_ms = now_ms();
    }
    unlock(fl);
    /* A created log has no writer thread (see zd_framelog_sync_async()). */
    if (rc == 0 && fl->tmp && fl->len >= FLUSH_AT)
        return write_buffer(fl, false);
    return rc;
}

/* The writer thread: takes buf whenever a sync is wanted, writes and syncs it outside the lock
 * (appends go on meanwhile into a fresh buf), then counts its frames durable. */
static void *writer_main(void *arg) {
    zd_framelog *fl = arg;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (!fl->stop && !(fl->want && fl->buf_frames > 0 && !fl->broken)) {
            fl->want = false;
            pthread_cond_broadcast(&fl->done);
            pthread_cond_wait(&fl->wake, &fl->mu);
        }
        if (fl->stop)
            break;
        fl->want = false;
        uint8_t *b = fl->wbuf;
        size_t c = fl->wcap;
        fl->wbuf = fl->buf;
        fl->wcap = fl->cap;
        fl->wlen = fl->len;
        fl->wframes = fl->buf_frames;
        fl->buf = b;
        fl->cap = c;
        fl->len = 0;
        fl->buf_frames = 0;
        fl->oldest_ms = -1;
        fl->busy = true;
        uint64_t end = fl->end;
        pthread_mutex_unlock(&fl->mu);

        char why[sizeof fl->werror];
        bool broke = false;
        int rc = write_at_end(fl, fl->wbuf, fl->wlen, end, &broke, why, sizeof why);
        bool synced = rc == 0 && datasync(fl) == 0;
        int err = errno;

        pthread_mutex_lock(&fl->mu);
        fl->busy = false;
        fl->broken |= broke;
        if (synced) {
            fl->end = end + fl->wlen;
            fl->pending -= fl->wframes;
        } else if (rc == 0) {
            /* After a failed fdatasync the kernel may have dropped the dirty pages: stop. */
            fl->end = end + fl->wlen;
            fl->broken = true;
            snprintf(fl->werror, sizeof fl->werror, "cannot sync %s: %s", fl->path, strerror(err));
            fl->failures++;
        } else {
            /* Rolled back: the frames go back before those appended since, still pending. */
            if (grow(&fl->wbuf, &fl->wcap, fl->wlen + fl->len)) {
                if (fl->len) /* buf may be NULL else */
                    memcpy(fl->wbuf + fl->wlen, fl->buf, fl->len);
                uint8_t *t = fl->buf;
                size_t tc = fl->cap;
                fl->buf = fl->wbuf;
                fl->cap = fl->wcap;
                fl->wbuf = t;
                fl->wcap = tc;
                fl->len += fl->wlen;
                fl->buf_frames += fl->wframes;
                fl->oldest_ms = now_ms();
            } else {
                fl->broken = true; /* the frames cannot be kept: nothing more is promised */
            }
            snprintf(fl->werror, sizeof fl->werror, "%s", why);
            fl->failures++;
        }
        fl->wlen = 0;
        fl->wframes = 0;
        pthread_cond_broadcast(&fl->done);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

/* Starts the writer thread; false when it cannot be (the caller then syncs inline). */
static bool start_writer(zd_framelog *fl) {
    if (fl->started)
        return true;
    if (pthread_mutex_init(&fl->mu, NULL) != 0)
        return false;
    if (pthread_cond_init(&fl->wake, NULL) != 0) {
        pthread_mutex_destroy(&fl->mu);
        return false;
    }
    if (pthread_cond_init(&fl->done, NULL) != 0) {
        pthread_cond_destroy(&fl->wake);
        pthread_mutex_destroy(&fl->mu);
        return false;
    }
    /* Nothing else touches the shared fields until the thread exists. */
    if (pthread_create(&fl->writer, NULL, writer_main, fl) != 0) {
        pthread_cond_destroy(&fl->done);
        pthread_cond_destroy(&fl->wake);
        pthread_mutex_destroy(&fl->mu);
        return false;
    }
    fl->started = true;
    return true;
}

static void stop_writer(zd_framelog *fl) {
    if (!fl->started)
        return;
    pthread_mutex_lock(&fl->mu);
    fl->stop = true;
    pthread_cond_signal(&fl->wake);
    pthread_mutex_unlock(&fl->mu);
    pthread_join(fl->writer, NULL);
    pthread_cond_destroy(&fl->done);
    pthread_cond_destroy(&fl->wake);
    pthread_mutex_destroy(&fl->mu);
    fl->started = false;
}

/* Says that the writer failed: its last error becomes the caller's, and counts as reported.
 * Under the lock. Returns ZDAG_ESTATE. */
static int writer_failed(zd_framelog *fl) {
    fl->reported = fl->failures;
    if (fl->werror[0])
        snprintf(fl->error, sizeof fl->error, "%s", fl->werror);
    else
        snprintf(fl->error, sizeof fl->error, "%s is unusable after a failed sync", fl->path);
    return ZDAG_ESTATE;
}

int zd_framelog_sync_async(zd_framelog *fl) {
    if (fl->tmp || !start_writer(fl))
        return zd_framelog_sync(fl);
    pthread_mutex_lock(&fl->mu);
    int rc = 0;
    if (fl->broken || fl->failures > fl->reported) {
        rc = writer_failed(fl);
    }
    if (!fl->broken && fl->buf_frames > 0) {
        fl->want = true;
        pthread_cond_signal(&fl->wake);
    }
    pthread_mutex_unlock(&fl->mu);
    return rc;
}

int zd_framelog_sync(zd_framelog *fl) {
    if (!fl->started) {
        if (fl->broken) {
            snprintf(fl->error, sizeof fl->error, "%s is unusable after a failed sync", fl->path);
            return ZDAG_ESTATE;
        }
        if (fl->pending == 0)
            return 0;
        int rc = write_buffer(fl, true);
        if (rc == 0)
            fl->error[0] = '\0';
        return rc;
    }
    /* Waits until every frame appended so far is durable, or the writer failed meanwhile. */
    pthread_mutex_lock(&fl->mu);
    uint64_t failures = fl->failures;
    while (!fl->broken && fl->failures == failures && fl->pending > 0) {
        if (fl->buf_frames > 0 && !fl->want) {
            fl->want = true;
            pthread_cond_signal(&fl->wake);
        }
        pthread_cond_wait(&fl->done, &fl->mu);
    }
    int rc = 0;
    if (fl->broken || fl->failures != failures) {
        rc = writer_failed(fl);
    } else {
        fl->error[0] = '\0';
    }
    pthread_mutex_unlock(&fl->mu);
    return rc;
}

int zd_framelog_pread(const zd_framelog *fl, void *buf, size_t len, uint64_t off) {
    if (off + len > zd_framelog_size(fl))
        return ZDAG_EIO;
    return pread_full(fl->fd, buf, len, off) < 0 ? ZDAG_EIO : 0;
}

size_t zd_framelog_pending(const zd_framelog *fl) {
    zd_framelog *m = (zd_framelog *)fl; /* the lock is not part of the value */
    lock(m);
    size_t n = fl->pending;
    unlock(m);
    return n;
}

uint64_t zd_framelog_size(const zd_framelog *fl) {
    zd_framelog *m = (zd_framelog *)fl;
    lock(m);
    uint64_t n = fl->end;
    unlock(m);
    return n;
}

int64_t zd_framelog_sync_due_ms(const zd_framelog *fl, int64_t window_ms) {
    zd_framelog *m = (zd_framelog *)fl;
    lock(m);
    int64_t oldest = fl->buf_frames ? fl->oldest_ms : -1;
    unlock(m);
    if (oldest < 0)
        return -1;
    int64_t left = oldest + window_ms - now_ms();
    return left > 0 ? left : 0;
}

bool zd_framelog_broken(const zd_framelog *fl) {
    zd_framelog *m = (zd_framelog *)fl;
    lock(m);
    bool b = fl->broken;
    unlock(m);
    return b;
}

const char *zd_framelog_error(const zd_framelog *fl) {
    return fl->error;
}

void zd_framelog_close(zd_framelog **flp) {
    if (!flp || !*flp)
        return;
    zd_framelog *fl = *flp;
    if (fl->fd >= 0) {
        if (fl->tmp) {
            unlink(fl->tmp);
        } else if (zd_framelog_pending(fl) && !zd_framelog_broken(fl)) {
            /* Best effort: a caller who cares has synced and seen the error already. */
            int unreported = zd_framelog_sync(fl);
            (void)unreported;
        }
    }
    stop_writer(fl);
    if (fl->fd >= 0)
        close(fl->fd);
    free(fl->tmp);
    free(fl->path);
    free(fl->buf);
    free(fl->wbuf);
    free(fl);
    *flp = NULL;
}
