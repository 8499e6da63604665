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

/* The sink of `zdag worker` (and zdag_worker_run() in examples/hello.c): writes "zdag worker:
 * MESSAGE\n" to stderr (ctx unused). */
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

/* A relay for messages logged from another thread (the ZAP handler's): its sink
 * (zd_log_relay_sink, ctx the relay) queues each message under a mutex; the owning thread
 * hands them to `target` in order with zd_log_relay_drain(), so that the caller's sink is only
 * ever called from that thread. At most ZD_LOG_RELAY_MAX messages wait; more are counted and
 * reported with the next drain. */
#define ZD_LOG_RELAY_MAX 64
typedef struct zd_log_relay zd_log_relay;

/* Creates a relay to target (borrowed; must outlive it). NULL when out of memory. */
zd_log_relay *zd_log_relay_new(const zd_log *target);

/* Frees it (draining first); sets *r to NULL. Accepts NULL. */
void zd_log_relay_free(zd_log_relay **r);

/* The sink to give the other thread (valid while the relay lives). */
zd_log zd_log_relay_sink(zd_log_relay *r);

/* Hands every queued message to the target (from the owning thread). */
void zd_log_relay_drain(zd_log_relay *r);

#endif
