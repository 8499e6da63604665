/* Streaming JSON output for the run's files (report, trace): values written to a FILE as they
 * are produced, so that a large document never exists in memory as a tree, and the file they go
 * to, written whole or not at all (a temporary file renamed into place).
 *
 * Strings of printable ASCII (the common case: node names, statuses) are copied as they are;
 * any other string is escaped by jansson, and bytes that are not valid UTF-8 (which jansson
 * refuses) become '?'. Reals are printed as jansson's JSON_REAL_PRECISION(15) prints them. */
#ifndef ZD_JSONOUT_H
#define ZD_JSONOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct zd_jsonout {
    FILE *f;       /* the temporary file written */
    void *scratch; /* a jansson string reused to escape strings, or NULL before the first */
    char *tmp;     /* the temporary file of zd_jsonout_open(), or NULL */
    bool oom;      /* out of memory while escaping: the output is incomplete */
} zd_jsonout;

/* Creates a temporary file beside path (PATH.tmp.PID, exclusively: never through a planted
 * link) and writes to it. Then zd_jsonout_commit() puts it in place. Returns 0, ZDAG_EIO or
 * ZDAG_ENOMEM. */
int zd_jsonout_open(zd_jsonout *w, const char *path) __attribute__((warn_unused_result));

/* Flushes the temporary file (and fsyncs it when durable), closes it and renames it over path;
 * on any failure (or earlier out of memory) removes it. Frees w's state either way. Returns 0,
 * ZDAG_EIO or ZDAG_ENOMEM. */
int zd_jsonout_commit(zd_jsonout *w, const char *path, bool durable)
    __attribute__((warn_unused_result));

/* Frees what w holds (a temporary file not committed is removed). Accepts a zeroed w. */
void zd_jsonout_fini(zd_jsonout *w);

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

/* Writes s as it is (punctuation, keys known to need no escaping). */
void zd_jsonout_raw(zd_jsonout *w, const char *s);

#endif
