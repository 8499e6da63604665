/* The run's status as JSON (see status.h). */
#include "status.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "metrics.h"
#include "provision.h"

#define LIT(w, s) zd_jsonout_rawn((w), (s), sizeof(s) - 1)

static void real_or_null(zd_jsonout *w, double v) {
    if (isnan(v) || v < 0)
        LIT(w, "null");
    else
        zd_jsonout_real(w, v);
}

static void counts(zd_jsonout *w, const zd_graph *g, const zd_core *c) {
    uint32_t n[8] = {0};
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_core_outcome(c, i, &o);
        if ((unsigned)o.state < 8)
            n[o.state]++;
    }
    LIT(w, "{");
    for (int s = 0; s < 8; s++) {
        if (s)
            LIT(w, ", ");
        zd_jsonout_str(w, zd_node_state_name((zd_node_state)s));
        LIT(w, ": ");
        zd_jsonout_int(w, n[s]);
    }
    LIT(w, "}");
}

/* Whether node's last attempt holds an executor now. */
static bool running_now(const zd_node_outcome *o) {
    return o->state == ZD_NS_RUNNING && o->n_history && o->history[o->n_history - 1].end_s < 0 &&
           o->executor >= 0;
}

static void running(zd_jsonout *w, const zd_graph *g, const zd_core *c, double now) {
    LIT(w, "[");
    bool first = true;
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_core_outcome(c, i, &o);
        if (!running_now(&o))
            continue;
        zd_jsonout_raw(w, first ? "\n  {\"name\": " : ",\n  {\"name\": ");
        first = false;
        zd_jsonout_str(w, zd_graph_node(g, i)->name);
        LIT(w, ", \"host\": ");
        zd_jsonout_str(w, o.host);
        LIT(w, ", \"executor\": ");
        zd_jsonout_int(w, o.executor);
        LIT(w, ", \"attempt\": ");
        zd_jsonout_int(w, o.attempts);
        LIT(w, ", \"elapsed_s\": ");
        zd_jsonout_real(w, now - o.start_s > 0 ? now - o.start_s : 0);
        LIT(w, "}");
    }
    zd_jsonout_raw(w, first ? "]" : "\n ]");
}

static void named_why(zd_jsonout *w, const zd_graph *g, const zd_core *c, const zd_prov *prov,
                      uint32_t node, bool first, const char *state) {
    char why[768];
    zd_core_why(c, node, why, sizeof why);
    if (prov && zd_core_waits_for_hosts(c, node)) { /* what automatic workers do about it */
        size_t used = strlen(why);
        if (used + 2 < sizeof why) {
            zd_prov_why(prov, node, why + used + 2, sizeof why - used - 2);
            if (why[used + 2])
                memcpy(why + used, "; ", 2);
        }
    }
    zd_jsonout_raw(w, first ? "\n  {\"name\": " : ",\n  {\"name\": ");
    zd_jsonout_str(w, zd_graph_node(g, node)->name);
    if (state) {
        LIT(w, ", \"state\": ");
        zd_jsonout_str(w, state);
    }
    LIT(w, ", \"why\": ");
    zd_jsonout_str(w, why);
    LIT(w, "}");
}

static void ready(zd_jsonout *w, const zd_graph *g, const zd_core *c, const zd_prov *prov) {
    uint32_t head[ZD_STATUS_READY_HEAD];
    size_t n = zd_core_ready_head(c, head, ZD_STATUS_READY_HEAD);
    LIT(w, "[");
    for (size_t k = 0; k < n; k++)
        named_why(w, g, c, prov, head[k], k == 0, NULL);
    zd_jsonout_raw(w, n ? "\n ]" : "]");
}

/* Every node not running and not ended: waiting for deps, ready, or between attempts. */
static uint32_t waiting(zd_jsonout *w, const zd_graph *g, const zd_core *c, const zd_prov *prov) {
    uint32_t total = 0;
    LIT(w, "[");
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_core_outcome(c, i, &o);
        bool waits = o.state == ZD_NS_WAITING || o.state == ZD_NS_READY ||
                     (o.state == ZD_NS_RUNNING && !running_now(&o));
        if (!waits)
            continue;
        if (total < ZD_STATUS_MAX_LISTED)
            named_why(w, g, c, prov, i, total == 0, zd_node_state_name(o.state));
        total++;
    }
    zd_jsonout_raw(w, total ? "\n ]" : "]");
    return total;
}

static void hosts(zd_jsonout *w, const zd_core *c, double now) {
    LIT(w, "[");
    for (uint32_t h = 0; h < zd_core_host_count(c); h++) {
        zd_core_host_info hi;
        zd_core_host(c, h, now, &hi);
        zd_jsonout_raw(w, h ? ",\n  {\"name\": " : "\n  {\"name\": ");
        zd_jsonout_str(w, hi.name);
        LIT(w, ", \"slots\": ");
        zd_jsonout_int(w, hi.slots);
        LIT(w, ", \"busy\": ");
        zd_jsonout_int(w, hi.busy);
        LIT(w, ", \"cpus_used\": ");
        zd_jsonout_real(w, hi.cpus_used);
        LIT(w, ", \"cpus\": ");
        zd_jsonout_real(w, hi.cpus);
        LIT(w, ", \"heard_s\": ");
        real_or_null(w, hi.heard_s);
        if (hi.allocation && hi.allocation[0]) {
            LIT(w, ", \"allocation\": ");
            zd_jsonout_str(w, hi.allocation);
        }
        if (hi.left)
            LIT(w, ", \"left\": true");
        zd_jsonout_raw(w, hi.lost ? ", \"lost\": true}" : ", \"lost\": false}");
    }
    LIT(w, "\n ]");
}

/* The automatic workers' jobs. */
static void slurm_jobs(zd_jsonout *w, const zd_prov *prov) {
    LIT(w, "{\"jobs\": [");
    for (uint32_t i = 0; i < zd_prov_job_count(prov); i++) {
        const zd_prov_job *j = zd_prov_job_at(prov, i);
        zd_jsonout_raw(w, i ? ",\n  {\"id\": " : "\n  {\"id\": ");
        zd_jsonout_str(w, j->id);
        LIT(w, ", \"state\": ");
        zd_jsonout_str(w, zd_prov_state_name(j->state));
        LIT(w, ", \"cpus\": ");
        zd_jsonout_real(w, j->cpus);
        LIT(w, ", \"mem_mb\": ");
        zd_jsonout_real(w, j->mem_mb);
        LIT(w, ", \"host\": ");
        zd_jsonout_str(w, j->host);
        LIT(w, ", \"why\": ");
        zd_jsonout_str(w, j->why);
        LIT(w, "}");
    }
    zd_jsonout_raw(w, zd_prov_job_count(prov) ? "\n ]}" : "]}");
}

int zd_status_json(const zd_graph *g, const zd_core *c, const zd_prov *prov, double now,
                   double eta_s, const char *pipeline, char **out, size_t *len) {
    zd_jsonout w;
    if (zd_jsonout_open_mem(&w) < 0)
        return ZDAG_ENOMEM;
    LIT(&w, "{\n \"pipeline\": ");
    zd_jsonout_str(&w, pipeline);
    LIT(&w, ",\n \"elapsed_s\": ");
    zd_jsonout_real(&w, now);
    LIT(&w, ",\n \"eta_s\": ");
    real_or_null(&w, eta_s);
    LIT(&w, ",\n \"counts\": ");
    counts(&w, g, c);
    LIT(&w, ",\n \"running\": ");
    running(&w, g, c, now);
    LIT(&w, ",\n \"ready\": ");
    ready(&w, g, c, prov);
    LIT(&w, ",\n \"waiting\": ");
    uint32_t total = waiting(&w, g, c, prov);
    LIT(&w, ",\n \"waiting_total\": ");
    zd_jsonout_int(&w, total);
    LIT(&w, ",\n \"hosts\": ");
    hosts(&w, c, now);
    if (prov) {
        LIT(&w, ",\n \"slurm\": ");
        slurm_jobs(&w, prov);
    }
    LIT(&w, "\n}\n");
    const char *text = zd_jsonout_text(&w);
    int rc = text && (*out = strdup(text)) ? 0 : ZDAG_ENOMEM;
    if (rc == 0)
        *len = strlen(*out);
    zd_jsonout_fini(&w);
    return rc;
}

static void per_host(FILE *f, const zd_core *c, double now, const char *name, const char *help,
                     int what) {
    zd_metrics_head(f, name, "gauge", help);
    for (uint32_t h = 0; h < zd_core_host_count(c); h++) {
        zd_core_host_info hi;
        zd_core_host(c, h, now, &hi);
        double v = what == 0 ? hi.slots : what == 1 ? hi.busy : what == 2 ? hi.cpus : hi.cpus_used;
        fprintf(f, "%s{host=\"", name);
        zd_metrics_label(f, hi.name);
        fprintf(f, "\"} %g\n", v);
    }
}

int zd_status_metrics(const zd_graph *g, const zd_core *c, double now, char **out, size_t *len) {
    FILE *f = open_memstream(out, len);
    if (!f)
        return ZDAG_ENOMEM;
    uint32_t n[8] = {0};
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_core_outcome(c, i, &o);
        if ((unsigned)o.state < 8)
            n[o.state]++;
    }
    zd_metrics_head(f, "zdag_nodes", "gauge", "Nodes of the run by state.");
    for (int s = 0; s < 8; s++)
        fprintf(f, "zdag_nodes{state=\"%s\"} %" PRIu32 "\n", zd_node_state_name((zd_node_state)s),
                n[s]);
    zd_core_counts k;
    zd_core_counts_get(c, &k);
    zd_metrics_head(f, "zdag_attempts_started_total", "counter",
                    "Attempts sent to an executor and started.");
    fprintf(f, "zdag_attempts_started_total %" PRIu64 "\n", k.started);
    zd_metrics_head(f, "zdag_results_total", "counter", "Results accepted from executors.");
    fprintf(f, "zdag_results_total %" PRIu64 "\n", k.results);
    zd_metrics_head(f, "zdag_retries_total", "counter", "Retries after an attempt failed.");
    fprintf(f, "zdag_retries_total %" PRIu64 "\n", k.retries);
    zd_metrics_head(f, "zdag_hosts_lost_total", "counter",
                    "Remote hosts lost (silent past T_lost).");
    fprintf(f, "zdag_hosts_lost_total %" PRIu32 "\n", k.lost_hosts);
    per_host(f, c, now, "zdag_host_executors", "Executors up on the host.", 0);
    per_host(f, c, now, "zdag_host_executors_busy", "Executors running an attempt.", 1);
    per_host(f, c, now, "zdag_host_cpus", "CPU units the host offers.", 2);
    per_host(f, c, now, "zdag_host_cpus_used", "CPU units taken on the host.", 3);
    zd_metrics_head(f, "zdag_elapsed_seconds", "gauge", "Seconds since the run started.");
    fprintf(f, "zdag_elapsed_seconds %.3f\n", now);
    return fclose(f) == 0 ? 0 : ZDAG_ENOMEM;
}
