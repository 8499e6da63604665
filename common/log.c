/* The log sink. */
#include "log.h"

#include <stdarg.h>
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
