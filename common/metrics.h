/* `--metrics ADDR`: Prometheus text over HTTP (libmicrohttpd, its own thread), for `zdag run`
 * and `zdag worker` alike. The owner's thread publishes a snapshot of the text now and then
 * (the coordinator's coord.c from zd_status_metrics(), the worker's agent.c from
 * zd_agentstats_text()); the server's thread answers GET /metrics with the latest one, so it
 * never reads the state the numbers come from. Also the two pieces of the text format that
 * both writers use. */
#ifndef ZD_METRICS_H
#define ZD_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"

typedef struct zd_metrics zd_metrics;

/* Serves on addr: "HOST:PORT" (an IPv4 address or a name) or ":PORT" / "PORT" (every address).
 * On failure writes why into why[0..size) and returns ZDAG_EINVAL (a bad address), ZDAG_ESYS
 * (cannot listen) or ZDAG_ENOMEM. */
int zd_metrics_start(const char *addr, zd_metrics **out, char *why, size_t size)
    __attribute__((warn_unused_result));

/* Makes text[0..len) the answer from now on (copied). Until the first, GET /metrics answers 503
 * "no snapshot yet". */
void zd_metrics_publish(zd_metrics *m, const char *text, size_t len);

/* Stops serving and frees; sets *m to NULL. Accepts NULL. */
void zd_metrics_stop(zd_metrics **m);

/* Writes a metric's "# HELP" and "# TYPE" lines (type: "gauge" or "counter"). */
void zd_metrics_head(FILE *f, const char *name, const char *type, const char *help);

/* Writes v as a label value: backslash, double quote and newline escaped. */
void zd_metrics_label(FILE *f, const char *v);

#endif
