/* Report and results files. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpjson.h"
#include "store.h"

/* Seconds rounded to microseconds, or JSON null when negative (never happened). */
static json_t *seconds(double s) {
    return s < 0 ? json_null() : json_real(round(s * 1e6) / 1e6);
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

/* Every attempt of a node, oldest first, lost and retried ones included. */
static json_t *history_json(const zd_node_outcome *o) {
    json_t *h = json_array();
    for (uint32_t i = 0; h && i < o->n_history; i++) {
        const zd_attempt *a = &o->history[i];
        json_t *e = json_object();
        json_object_set_new(e, "attempt", json_integer(a->attempt));
        json_object_set_new(e, "host", str_or_null(a->host));
        json_object_set_new(e, "executor", json_integer(a->executor));
        json_object_set_new(e, "ready_s", seconds(a->ready_s));
        json_object_set_new(e, "start_s", seconds(a->start_s));
        json_object_set_new(e, "end_s", seconds(a->end_s));
        json_object_set_new(e, "outcome", json_string(a->outcome));
        json_array_append_new(h, e);
    }
    return h;
}

static json_t *node_json(const zd_node *node, const zd_node_outcome *o) {
    json_t *j = json_object();
    if (!j)
        return NULL;
    bool ran = o->executor >= 0;
    json_object_set_new(j, "name", json_string(node->name));
    json_object_set_new(j, "status", json_string(zd_node_state_name(o->state)));
    json_object_set_new(j, "attempts", json_integer(o->attempts));
    json_object_set_new(j, "host", ran ? str_or_null(o->host) : json_null());
    json_object_set_new(j, "executor", ran ? json_integer(o->executor) : json_null());
    json_object_set_new(j, "start_s", seconds(o->start_s));
    json_object_set_new(j, "end_s", seconds(o->end_s));
    json_object_set_new(j, "exit_code",
                        o->has_exit_code ? json_integer(o->exit_code) : json_null());
    json_object_set_new(j, "error", str_or_null(o->error));
    json_object_set_new(j, "history", history_json(o));
    return j;
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

/* The report's top level, without its nodes; NULL when out of memory. */
static json_t *run_json(const char *pipeline, const zd_run_summary *sum, const char *error) {
    char started[32];
    struct tm tm;
    gmtime_r(&sum->started.tv_sec, &tm);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *root = json_object();
    if (!root)
        return NULL;
    json_object_set_new(root, "pipeline", json_string(pipeline ? pipeline : ""));
    json_object_set_new(root, "status", json_string(error ? "error" : sum->status));
    json_object_set_new(root, "exit_code", json_integer(sum->exit_code));
    json_object_set_new(root, "started_at", json_string(started));
    json_object_set_new(root, "wall_s", seconds(sum->wall_s));
    json_object_set_new(root, "jobs", json_integer(sum->jobs));
    if (error) /* only a run that could not start or go on has one (SPEC section 7) */
        json_object_set_new(root, "error", json_string(error));
    return root;
}

/* Adds the nodes (taking the array) and writes the report. */
static int finish_report(json_t *root, json_t *nodes, const char *path) {
    if (!root || !nodes) {
        json_decref(root);
        json_decref(nodes);
        return ZDAG_ENOMEM;
    }
    json_object_set_new(root, "nodes", nodes);
    int rc = dump_atomic(root, path);
    json_decref(root);
    return rc;
}

int zd_report_write(const char *path, const char *pipeline, const zd_graph *g, const zd_coord *c,
                    const char *error) {
    zd_run_summary sum;
    zd_coord_summary(c, &sum);
    json_t *root = run_json(pipeline, &sum, error), *nodes = json_array();
    for (uint32_t i = 0; nodes && i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        json_array_append_new(nodes, node_json(zd_graph_node(g, i), &o));
    }
    return finish_report(root, nodes, path);
}

int zd_report_write_error(const char *path, const char *pipeline, const zd_graph *g,
                          const bool *active, int exit_code, const char *why) {
    zd_run_summary sum = {.status = "error", .exit_code = exit_code, .wall_s = 0, .jobs = 0};
    clock_gettime(CLOCK_REALTIME, &sum.started);
    json_t *root = run_json(pipeline, &sum, why ? why : "the run could not start"),
           *nodes = json_array();
    for (uint32_t i = 0; nodes && g && i < zd_graph_size(g); i++) {
        bool in = !active || active[i];
        zd_node_outcome o = {.state = in ? ZD_NS_SKIPPED : ZD_NS_EXCLUDED,
                             .executor = -1,
                             .start_s = -1,
                             .end_s = -1,
                             .error = in ? why : NULL};
        json_array_append_new(nodes, node_json(zd_graph_node(g, i), &o));
    }
    return finish_report(root, nodes, path);
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
