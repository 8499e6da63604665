/* The host agent's metrics as Prometheus text (see agentstats.h). */
#include "agentstats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "zdag.h"

static void gauge(FILE *f, const char *name, const char *help, double v) {
    zd_metrics_head(f, name, "gauge", help);
    fprintf(f, "%s %g\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v) {
    zd_metrics_head(f, name, "counter", help);
    fprintf(f, "%s %" PRIu64 "\n", name, v);
}

int zd_agentstats_text(const zd_agentstats *s, char **out, size_t *len) {
    FILE *f = open_memstream(out, len);
    if (!f)
        return ZDAG_ENOMEM;
    zd_metrics_head(f, "zdag_worker_info", "gauge", "This worker: its host id and coordinator.");
    fputs("zdag_worker_info{host=\"", f);
    zd_metrics_label(f, s->host_id);
    fputs("\",connect=\"", f);
    zd_metrics_label(f, s->connect);
    fputs("\"} 1\n", f);
    gauge(f, "zdag_worker_slots", "Executors of this worker (--slots).", s->slots);
    gauge(f, "zdag_worker_slots_busy", "Executors in an attempt now.", s->busy);
    gauge(f, "zdag_worker_cpus", "CPU units this worker offers (--cpus).", s->cpus);
    gauge(f, "zdag_worker_cpus_used", "CPU units of the attempts running now.", s->cpus_used);
    counter(f, "zdag_worker_attempts_started_total", "Attempts its executors started.", s->started);
    counter(f, "zdag_worker_attempts_succeeded_total", "Attempts whose result said success.",
            s->succeeded);
    counter(f, "zdag_worker_attempts_failed_total", "Attempts whose result said failure.",
            s->failed);
    counter(f, "zdag_worker_attempts_lost_total",
            "Attempts whose executor died or was killed before its result (crashed, fenced, "
            "cancelled, a function past its timeout, the run ending).",
            s->lost);
    counter(f, "zdag_worker_runs_joined_total", "Runs this worker joined.", s->runs_joined);
    gauge(f, "zdag_worker_connected", "1 while the worker is in a run and holds its lease.",
          s->connected ? 1 : 0);
    zd_metrics_head(f, "zdag_worker_heartbeat_age_seconds", "gauge",
                    "Seconds since the coordinator last spoke (NaN: never).");
    if (s->heard_s < 0)
        fputs("zdag_worker_heartbeat_age_seconds NaN\n", f);
    else
        fprintf(f, "zdag_worker_heartbeat_age_seconds %.3f\n", s->heard_s);
    return fclose(f) == 0 ? 0 : ZDAG_ENOMEM;
}
