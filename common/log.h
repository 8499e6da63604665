/* The log sink every part of zdag reports through: the library never writes to stderr itself.
 * A zd_log is a (function, context) pair the caller installs (the CLI installs
 * zdag_log_stderr); a NULL function discards every message. */
#ifndef ZD_LOG_H
#define ZD_LOG_H

#include "zdag.h"

typedef struct zd_log {
    zdag_log_fn fn; /* receives each message, or NULL to discard */
    void *ctx;      /* passed to fn */
} zd_log;

/* Formats one message and hands it to the sink (log may be NULL: discarded). Messages longer
 * than 4 KiB are cut. */
void zd_logf(const zd_log *log, zdag_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The sink of `zdag worker` (and zdag_worker_main()): writes "zdag worker: MESSAGE\n" to
 * stderr (ctx unused). */
void zd_log_worker_stderr(void *ctx, zdag_log_level level, const char *message);

/* A rate limit for a message that a peer can make us repeat: zd_log_limit_ok() returns true
 * for the first occurrence and then at most once per `every_s` seconds of `now`; *suppressed
 * counts the occurrences it refused since the last one it allowed (report it with the next). */
typedef struct zd_log_limit {
    double last_s;       /* when the last allowed message went out; < 0 = never */
    unsigned suppressed; /* occurrences held back since */
} zd_log_limit;

#define ZD_LOG_LIMIT_INIT                                                                          \
    { -1.0, 0 }

bool zd_log_limit_ok(zd_log_limit *l, double now, double every_s, unsigned *suppressed);

#endif
