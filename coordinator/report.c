/* Report and results files. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonout.h"
#include "mpjson.h"
#include "provision.h"
#include "store.h"
#include "timeline.h"

/* The report is written as jansson's JSON_INDENT(1) would print the tree (it was, once): but
 * a value at a time (coordinator/jsonout.h), so that 100,000 nodes cost no tree. */

static void ch(zd_jsonout *w, char c) {
    zd_jsonout_rawn(w, &c, 1);
}

/* `"key": ` on a new line at depth d (at most 8), after a ',' unless it is the first of its
 * object. */
static void key(zd_jsonout *w, int d, bool first, const char *k) {
    char b[64];
    size_t n = 0, kl = strlen(k);
    if (!first)
        b[n++] = ',';
    b[n++] = '\n';
    memset(b + n, ' ', (size_t)d);
    n += (size_t)d;
    b[n++] = '"';
    memcpy(b + n, k, kl);
    n += kl;
    memcpy(b + n, "\": ", 3);
    zd_jsonout_rawn(w, b, n + 3);
}

/* Seconds rounded to microseconds, or JSON null when negative (never happened) or absurd. */
static void seconds(zd_jsonout *w, double s) {
    if (s < 0 || !isfinite(s) || s > 1e9)
        zd_jsonout_raw(w, "null");
    else
        zd_jsonout_micros(w, llround(s * 1e6));
}

/* A piece of the layout, its length known at compile time. */
#define LIT(w, s) zd_jsonout_rawn((w), (s), sizeof(s) - 1)

/* Every attempt of a node, oldest first, lost and retried ones included (the value of the
 * node's "history", at depth 3). */
static void history_json(zd_jsonout *w, const zd_node_outcome *o) {
    if (o->n_history == 0) {
        LIT(w, "[]");
        return;
    }
    LIT(w, "[");
    for (uint32_t i = 0; i < o->n_history; i++) {
        const zd_attempt *a = &o->history[i];
        if (i)
            LIT(w, ",");
        LIT(w, "\n    {\n     \"attempt\": ");
        zd_jsonout_int(w, a->attempt);
        LIT(w, ",\n     \"host\": ");
        zd_jsonout_str(w, a->host);
        LIT(w, ",\n     \"executor\": ");
        zd_jsonout_int(w, a->executor);
        LIT(w, ",\n     \"ready_s\": ");
        seconds(w, a->ready_s);
        LIT(w, ",\n     \"start_s\": ");
        seconds(w, a->start_s);
        LIT(w, ",\n     \"end_s\": ");
        seconds(w, a->end_s);
        LIT(w, ",\n     \"outcome\": ");
        zd_jsonout_str(w, a->outcome);
        LIT(w, "\n    }");
    }
    LIT(w, "\n   ]");
}

/* The names of what node i waited for (the value of its "deps", at depth 3): its deps, an
 * expanded template's instances in its place, as the node's TASK lists them. */
static void deps_json(zd_jsonout *w, const zd_graph *g, uint32_t i) {
    zd_graph_inputs it;
    uint32_t dep;
    bool first = true;
    zd_graph_inputs_begin(g, i, &it);
    while (zd_graph_inputs_next(g, &it, &dep)) {
        if (first)
            LIT(w, "[\n    ");
        else
            LIT(w, ",\n    ");
        zd_jsonout_str(w, zd_graph_node(g, dep)->name);
        first = false;
    }
    if (first)
        LIT(w, "[]");
    else
        LIT(w, "\n   ]");
}

/* Node i's entry of "nodes" (depth 2). */
static void node_json(zd_jsonout *w, const zd_graph *g, uint32_t i, const zd_node_outcome *o) {
    const zd_node *node = zd_graph_node(g, i);
    bool ran = o->executor >= 0;
    LIT(w, "\n  {\n   \"name\": ");
    zd_jsonout_str(w, node->name);
    LIT(w, ",\n   \"status\": ");
    zd_jsonout_str(w, o->up_to_date ? "up-to-date" : zd_node_state_name(o->state));
    LIT(w, ",\n   \"attempts\": ");
    zd_jsonout_int(w, o->attempts);
    if (o->is_template) { /* a run-time fan-out: how many instances it had, once known */
        LIT(w, ",\n   \"instances\": ");
        if (o->expanded)
            zd_jsonout_int(w, o->instances);
        else
            LIT(w, "null");
    }
    LIT(w, ",\n   \"host\": ");
    zd_jsonout_str(w, ran ? o->host : NULL);
    LIT(w, ",\n   \"executor\": ");
    if (ran)
        zd_jsonout_int(w, o->executor);
    else
        LIT(w, "null");
    LIT(w, ",\n   \"start_s\": ");
    seconds(w, o->start_s);
    LIT(w, ",\n   \"end_s\": ");
    seconds(w, o->end_s);
    LIT(w, ",\n   \"exit_code\": ");
    if (o->has_exit_code)
        zd_jsonout_int(w, o->exit_code);
    else
        LIT(w, "null");
    LIT(w, ",\n   \"error\": ");
    zd_jsonout_str(w, o->error);
    LIT(w, ",\n   \"deps\": ");
    deps_json(w, g, i);
    LIT(w, ",\n   \"history\": ");
    history_json(w, o);
    LIT(w, "\n  }");
}

/* The automatic workers' jobs (--slurm): "slurm": {"jobs": [...]}, at depth 1. */
static void slurm_json(zd_jsonout *w, const zd_prov *prov) {
    key(w, 1, false, "slurm");
    LIT(w, "{");
    key(w, 2, true, "jobs");
    uint32_t n = zd_prov_job_count(prov);
    LIT(w, "[");
    for (uint32_t i = 0; i < n; i++) {
        const zd_prov_job *j = zd_prov_job_at(prov, i);
        zd_jsonout_raw(w, i ? ",\n   {" : "\n   {");
        key(w, 4, true, "id");
        zd_jsonout_str(w, j->id);
        key(w, 4, false, "state");
        zd_jsonout_str(w, zd_prov_state_name(j->state));
        key(w, 4, false, "cpus");
        zd_jsonout_real(w, j->cpus);
        key(w, 4, false, "mem_mb");
        zd_jsonout_real(w, j->mem_mb);
        key(w, 4, false, "host");
        if (j->host[0])
            zd_jsonout_str(w, j->host);
        else
            LIT(w, "null");
        key(w, 4, false, "submitted_s");
        seconds(w, j->submitted_s);
        key(w, 4, false, "joined_s");
        seconds(w, j->joined_s);
        key(w, 4, false, "ended_s");
        seconds(w, j->ended_s);
        key(w, 4, false, j->state == ZD_JOB_FAILED ? "error" : "why");
        if (j->why[0])
            zd_jsonout_str(w, j->why);
        else
            LIT(w, "null");
        LIT(w, "\n   }");
    }
    zd_jsonout_raw(w, n ? "\n  ]\n }" : "]\n }");
}

/* The report's top level up to its "nodes" array, opened. */
static void run_json(zd_jsonout *w, const char *pipeline, const zd_run_summary *sum,
                     const char *error, const zd_prov *prov) {
    char started[32];
    struct tm tm;
    gmtime_r(&sum->started.tv_sec, &tm);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    ch(w, '{');
    key(w, 1, true, "pipeline");
    zd_jsonout_str(w, pipeline ? pipeline : "");
    key(w, 1, false, "status");
    zd_jsonout_str(w, error ? "error" : sum->status);
    key(w, 1, false, "exit_code");
    zd_jsonout_int(w, sum->exit_code);
    key(w, 1, false, "started_at");
    zd_jsonout_str(w, started);
    key(w, 1, false, "wall_s");
    seconds(w, sum->wall_s);
    key(w, 1, false, "jobs");
    zd_jsonout_int(w, sum->jobs);
    if (error) { /* only a run that could not start or go on has one (SPEC section 7) */
        key(w, 1, false, "error");
        zd_jsonout_str(w, error);
    }
    if (prov)
        slurm_json(w, prov);
    key(w, 1, false, "nodes");
}

/* Closes the "nodes" array of n entries and the report. */
static void close_report(zd_jsonout *w, size_t n) {
    if (n == 0)
        zd_jsonout_raw(w, "[]");
    else
        zd_jsonout_raw(w, "\n ]");
    zd_jsonout_raw(w, "\n}");
}

/* The whole report of a finished run, into w. */
static void finished_json(zd_jsonout *w, const char *pipeline, const zd_graph *g, const zd_coord *c,
                          const char *error) {
    zd_run_summary sum;
    zd_coord_summary(c, &sum);
    run_json(w, pipeline, &sum, error, zd_coord_provisioner(c));
    uint32_t n = zd_graph_size(g);
    if (n)
        ch(w, '[');
    for (uint32_t i = 0; i < n; i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        if (i)
            ch(w, ',');
        node_json(w, g, i, &o);
    }
    close_report(w, n);
}

/* The whole report of a run that could not start, into w (see zd_report_write_error()). */
static void error_json(zd_jsonout *w, const char *pipeline, const zd_graph *g, const bool *active,
                       int exit_code, const char *why) {
    zd_run_summary sum = {.status = "error", .exit_code = exit_code, .wall_s = 0, .jobs = 0};
    clock_gettime(CLOCK_REALTIME, &sum.started);
    run_json(w, pipeline, &sum, why ? why : "the run could not start", NULL);
    uint32_t n = g ? zd_graph_size(g) : 0;
    if (n)
        ch(w, '[');
    for (uint32_t i = 0; i < n; i++) {
        bool in = !active || active[i];
        zd_node_outcome o = {.state = in ? ZD_NS_SKIPPED : ZD_NS_EXCLUDED,
                             .executor = -1,
                             .start_s = -1,
                             .end_s = -1,
                             .error = in ? why : NULL};
        if (i)
            ch(w, ',');
        node_json(w, g, i, &o);
    }
    close_report(w, n);
}

/* Writes the timeline page of the report in w (open in memory) to html_path, and frees w. */
static int commit_html(zd_jsonout *w, const char *html_path) {
    const char *text = zd_jsonout_text(w);
    int rc = text ? zd_timeline_write(html_path, text, w->mem_len) : ZDAG_ENOMEM;
    zd_jsonout_fini(w);
    return rc;
}

int zd_report_write(const char *path, const char *pipeline, const zd_graph *g, const zd_coord *c,
                    const char *error) {
    zd_jsonout w;
    int rc = zd_jsonout_open(&w, path);
    if (rc < 0)
        return rc;
    finished_json(&w, pipeline, g, c, error);
    return zd_jsonout_commit(&w, path, false);
}

int zd_report_write_html(const char *html_path, const char *pipeline, const zd_graph *g,
                         const zd_coord *c, const char *error) {
    zd_jsonout w;
    if (zd_jsonout_open_mem(&w) < 0)
        return ZDAG_ENOMEM;
    finished_json(&w, pipeline, g, c, error);
    return commit_html(&w, html_path);
}

int zd_report_write_error(const char *path, const char *pipeline, const zd_graph *g,
                          const bool *active, int exit_code, const char *why) {
    zd_jsonout w;
    int rc = zd_jsonout_open(&w, path);
    if (rc < 0)
        return rc;
    error_json(&w, pipeline, g, active, exit_code, why);
    return zd_jsonout_commit(&w, path, false);
}

int zd_report_write_error_html(const char *html_path, const char *pipeline, const zd_graph *g,
                               const bool *active, int exit_code, const char *why) {
    zd_jsonout w;
    if (zd_jsonout_open_mem(&w) < 0)
        return ZDAG_ENOMEM;
    error_json(&w, pipeline, g, active, exit_code, why);
    return commit_html(&w, html_path);
}

/* Dumps j to path through a temporary file, so a reader never sees half a file. */
static int dump_atomic(json_t *j, const char *path) {
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
        return ZDAG_ENOMEM;
    int rc = 0;
    if (json_dump_file(j, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(15)) != 0 ||
        rename(tmp, path) != 0) {
        unlink(tmp);
        rc = ZDAG_EIO;
    }
    free(tmp);
    return rc;
}

int zd_results_write(const char *path, const zd_graph *g, const zd_coord *c) {
    json_t *root = json_object();
    if (!root)
        return ZDAG_ENOMEM;
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        if ((o.state != ZD_NS_SUCCEEDED && o.state != ZD_NS_CACHED) || !o.has_output)
            continue;
        /* A stored result is read from the store, whole. */
        const char *bytes = o.output_hash
                                ? zd_store_map(zd_coord_store_dir(c), o.output_hash, o.output_size)
                                : o.output;
        size_t len = (size_t)o.output_size;
        const char *why = NULL;
        json_t *v = NULL;
        if (!bytes)
            v = json_pack("{s:s}", "error", "the result is missing from the store");
        else if (o.output_is_msgpack)
            v = zd_mpjson_to_json(bytes, len, &why);
        else
            v = json_stringn(bytes, len); /* UTF-8 only */
        if (!v && o.output_is_msgpack) {
            v = json_pack("{s:s}", "error", why ? why : "not one msgpack value");
        } else if (!v) {
            char *b64 = zd_base64(bytes, len);
            v = json_pack("{s:s}", "base64", b64 ? b64 : "");
            free(b64);
        }
        if (o.output_hash)
            zd_store_unmap(bytes, o.output_size);
        json_object_set_new(root, zd_graph_node(g, i)->name, v);
    }
    int rc = dump_atomic(root, path);
    json_decref(root);
    return rc;
}
