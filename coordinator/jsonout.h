/* Streaming JSON output for the run's files (report, trace): values appended to a buffer and
 * written out a large block at a time as they are produced, so that a large document never
 * exists in memory as a tree (nor whole), and the file they go to, written whole or not at all
 * (a temporary file renamed into place).
 *
 * A file past its first buffer gets a writer thread: it writes one full buffer while the caller
 * fills the other (the copy into the page cache was a third of writing a large report). The
 * bytes, their order and every error are as with plain writes; without a thread (one could not
 * be started, or the text fits one buffer) the writes happen in the caller's thread.
 *
 * Strings of printable ASCII (the common case: node names, statuses) are copied as they are;
 * any other string is escaped by jansson, and bytes that are not valid UTF-8 (which jansson
 * refuses) become '?'. Reals are printed as jansson's JSON_REAL_PRECISION(15) prints them. */
#ifndef ZD_JSONOUT_H
#define ZD_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ZD_JSONOUT_BUF (256u << 10) /* bytes buffered before a write */

typedef struct zd_jsonout_writer zd_jsonout_writer;

typedef struct zd_jsonout {
    int fd;                    /* the temporary file written, or -1 (then the bytes go to mem) */
    char *tmp;                 /* its path (PATH.tmp.PID), or NULL */
    char *mem;                 /* without a file: everything written (owned), NUL-terminated */
    size_t mem_len;            /* bytes in mem */
    void *scratch;             /* a jansson string reused to escape strings, or NULL */
    size_t len;                /* bytes in buf */
    bool oom;                  /* out of memory: the output is incomplete */
    bool failed;               /* a write failed: the file is incomplete */
    char *buf;                 /* not yet written, ZD_JSONOUT_BUF bytes */
    char *spare;               /* the other buffer, the one the writer writes (owned), or NULL */
    zd_jsonout_writer *writer; /* the thread writing full buffers to fd (owned), or NULL */
} zd_jsonout;

/* Creates a temporary file beside path (PATH.tmp.PID, exclusively: never through a planted
 * link) and writes to it. Then zd_jsonout_commit() puts it in place. Returns 0, ZDAG_EIO or
 * ZDAG_ENOMEM. */
int zd_jsonout_open(zd_jsonout *w, const char *path) __attribute__((warn_unused_result));

/* Writes to memory instead (for tests): zd_jsonout_text() then returns what was written.
 * Returns 0 or ZDAG_ENOMEM. */
int zd_jsonout_open_mem(zd_jsonout *w) __attribute__((warn_unused_result));

/* What was written to memory so far (borrowed until zd_jsonout_fini(); NULL when out of
 * memory). */
const char *zd_jsonout_text(zd_jsonout *w);

/* Writes what is buffered (and fsyncs the file when durable), closes it and renames it over
 * path; on any failure (or earlier out of memory) removes it. Frees w's state either way.
 * Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_jsonout_commit(zd_jsonout *w, const char *path, bool durable)
    __attribute__((warn_unused_result));

/* Frees what w holds (a temporary file not committed is removed). Accepts a zeroed w. */
void zd_jsonout_fini(zd_jsonout *w);

/* Writes n bytes as they are (punctuation, keys known to need no escaping). Inline: a report
 * is mostly such pieces. */
void zd_jsonout_rawn_slow(zd_jsonout *w, const char *s, size_t n);

static inline void zd_jsonout_rawn(zd_jsonout *w, const char *s, size_t n) {
    if (n <= ZD_JSONOUT_BUF - w->len) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    } else {
        zd_jsonout_rawn_slow(w, s, n);
    }
}

/* Writes the NUL-terminated s as it is. Inline, so that the length of a literal is known at
 * compile time (a trace is mostly literal pieces; strlen() was a fifth of writing it). */
static inline void zd_jsonout_raw(zd_jsonout *w, const char *s) {
    zd_jsonout_rawn(w, s, strlen(s));
}

/* Writes s as a JSON string, or null when s is NULL. */
void zd_jsonout_str(zd_jsonout *w, const char *s);

/* Writes v as jansson's JSON_REAL_PRECISION(15) does ("%.15g", a ".0" on an integral value);
 * null when v is not finite (JSON has no such number). */
void zd_jsonout_real(zd_jsonout *w, double v);

/* Writes us microseconds as seconds: as zd_jsonout_real(us / 1e6), without printf's floating
 * point (the report's times are many). */
void zd_jsonout_micros(zd_jsonout *w, int64_t us);

/* Writes v. */
void zd_jsonout_int(zd_jsonout *w, int64_t v);

#endif
