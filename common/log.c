/* The log sink. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

void zd_logf(const zd_log *log, zdag_log_level level, const char *fmt, ...) {
    if (!log || !log->fn)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log->fn(log->ctx, level, msg);
}

void zdag_log_stderr(void *ctx, zdag_log_level level, const char *message) {
    (void)ctx;
    (void)level;
    fprintf(stderr, "zdag: %s\n", message);
}

void zd_log_worker_stderr(void *ctx, zdag_log_level level, const char *message) {
    (void)ctx;
    (void)level;
    fprintf(stderr, "zdag worker: %s\n", message);
}

bool zd_log_limit_ok(zd_log_limit *l, double now, double every_s, unsigned *suppressed) {
    if (l->last_s >= 0 && now - l->last_s < every_s) {
        l->suppressed++;
        return false;
    }
    *suppressed = l->suppressed;
    l->suppressed = 0;
    l->last_s = now;
    return true;
}

struct zd_log_relay {
    const zd_log *target;                    /* where drained messages go (borrowed) */
    pthread_mutex_t lock;                    /* guards the fields below */
    char *msgs[ZD_LOG_RELAY_MAX];            /* queued, owned */
    zdag_log_level levels[ZD_LOG_RELAY_MAX]; /* their levels */
    unsigned n;                              /* entries queued */
    unsigned dropped;                        /* messages that found the queue full */
};

static void relay_put(void *ctx, zdag_log_level level, const char *message) {
    zd_log_relay *r = ctx;
    char *copy = strdup(message);
    pthread_mutex_lock(&r->lock);
    if (copy && r->n < ZD_LOG_RELAY_MAX) {
        r->levels[r->n] = level;
        r->msgs[r->n++] = copy;
        copy = NULL;
    } else {
        r->dropped++;
    }
    pthread_mutex_unlock(&r->lock);
    free(copy);
}

zd_log_relay *zd_log_relay_new(const zd_log *target) {
    zd_log_relay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->target = target;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

zd_log zd_log_relay_sink(zd_log_relay *r) {
    return (zd_log){relay_put, r};
}

void zd_log_relay_drain(zd_log_relay *r) {
    char *msgs[ZD_LOG_RELAY_MAX];
    zdag_log_level levels[ZD_LOG_RELAY_MAX];
    pthread_mutex_lock(&r->lock);
    unsigned n = r->n, dropped = r->dropped;
    memcpy(msgs, r->msgs, n * sizeof *msgs);
    memcpy(levels, r->levels, n * sizeof *levels);
    r->n = r->dropped = 0;
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < n; i++) {
        zd_logf(r->target, levels[i], "%s", msgs[i]);
        free(msgs[i]);
    }
    if (dropped)
        zd_logf(r->target, ZDAG_LOG_WARNING, "%u more messages of the same kind not shown",
                dropped);
}

void zd_log_relay_free(zd_log_relay **rp) {
    if (!rp || !*rp)
        return;
    zd_log_relay_drain(*rp);
    pthread_mutex_destroy(&(*rp)->lock);
    free(*rp);
    *rp = NULL;
}
