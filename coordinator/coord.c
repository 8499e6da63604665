/* The coordinator's event loop: one zmq_poll over the ROUTER socket and a signalfd. */
#include "coord.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "capacity.h"
#include "lease.h"
#include "place.h"
#include "progress.h"
#include "trace.h"
#include "wire.h"
#include "coord_int.h"
#include "journal.h"

#define JOURNAL_WINDOW_MS 50 /* outcomes wait at most this long to be synced together */

double zd_coord_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double zd_coord_since_start(const zd_coord *c) {
    return zd_coord_mono() - c->t0;
}

static void set_error(node_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(node_run *r, const char *fmt, ...) {
    va_list ap;
    free(r->error);
    r->error = NULL;
    va_start(ap, fmt);
    if (vasprintf(&r->error, fmt, ap) < 0)
        r->error = NULL;
    va_end(ap);
}

static void node_failed(zd_coord *c, uint32_t index);

/* Records an attempt's slice in the trace (when tracing). */
static void trace_attempt(zd_coord *c, uint32_t index, const char *status) {
    const node_run *r = &c->runs[index];
    if (!c->trace || r->executor < 0)
        return;
    const executor *x = &c->ex[r->executor];
    if (zd_trace_slice(c->trace, x->host, r->executor, zd_graph_node(c->g, index)->name, r->start_s,
                       r->end_s, r->attempts, status, r->exit_code, r->has_exit_code) < 0)
        fprintf(stderr, "zdag: the trace is incomplete (out of memory)\n");
}

/* Records an instant event on the coordinator's track (when tracing). */
static void trace_instant(zd_coord *c, const char *what, uint32_t index) {
    if (c->trace && zd_trace_instant(c->trace, 0, -1, what, zd_coord_since_start(c),
                                     zd_graph_node(c->g, index)->name) < 0)
        fprintf(stderr, "zdag: the trace is incomplete (out of memory)\n");
}

/* Feeds the progress line with a finished attempt's duration. */
static void progress_done(zd_coord *c, const node_run *r) {
    if (c->progress && r->start_s >= 0 && r->end_s >= r->start_s)
        zd_progress_node_done(c->progress, r->end_s - r->start_s);
}

static void progress_draw(zd_coord *c, bool final) {
    if (!c->progress)
        return;
    uint32_t failed = zd_sched_count(c->sched, ZD_NS_FAILED);
    uint32_t done = zd_sched_count(c->sched, ZD_NS_SUCCEEDED) + failed +
                    zd_sched_count(c->sched, ZD_NS_SKIPPED) +
                    zd_sched_count(c->sched, ZD_NS_CACHED);
    uint32_t running = zd_place_running(c->place);
    if (final)
        zd_progress_finish(c->progress, zd_coord_since_start(c), done, running, failed);
    else
        zd_progress_update(c->progress, zd_coord_since_start(c), done, running, failed);
}

int zd_coord_check_fit(const zd_graph *g, const bool *active, const char *host_id, double cpus,
                       FILE *err) {
    zd_capacity *cap = zd_capacity_new(g);
    uint32_t host;
    if (!cap || zd_capacity_add_host(cap, host_id, cpus, NULL, 0, &host) < 0) {
        zd_capacity_free(&cap);
        return ZDAG_ENOMEM;
    }
    int bad = 0;
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        if ((active && !active[i]) || zd_capacity_fits_total(cap, host, i))
            continue;
        char why[160];
        zd_capacity_explain(cap, i, why, sizeof why);
        fprintf(err, "zdag: node \"%s\" %s\n", zd_graph_node(g, i)->name, why);
        bad++;
    }
    zd_capacity_free(&cap);
    return bad;
}

/* The host where a node's dependencies ran (the one with the largest result first), or
 * UINT32_MAX: files a command wrote on its host's disk are there for its dependents. */
static uint32_t input_host(void *ctx, uint32_t index) {
    const zd_coord *c = ctx;
    const zd_node *node = zd_graph_node(c->g, index);
    uint32_t best = UINT32_MAX;
    size_t most = 0;
    for (size_t i = 0; i < node->n_deps; i++) {
        const node_run *dep = &c->runs[node->deps[i]];
        if (dep->executor >= 0 && dep->output_len + 1 > most) {
            most = dep->output_len + 1;
            best = c->ex[dep->executor].host;
        }
    }
    return best;
}

/* Builds the scheduling parts: capacity with the local host, leases, classes, queues. */
static int make_scheduler(zd_coord *c) {
    const zd_graph *g = c->g;
    size_t n = zd_graph_size(g), n_pools = zd_graph_pool_count(g);
    int caps[ZD_LEASE_MAX_POOLS];
    uint32_t n_classes, host;
    if (n_pools > ZD_LEASE_MAX_POOLS)
        return ZDAG_EINVAL;
    for (size_t i = 0; i < n_pools; i++)
        caps[i] = zd_graph_pool(g, (int32_t)i)->capacity;
    c->cap = zd_capacity_new(g);
    c->leases = zd_leases_new(caps, n_pools);
    c->class_of = calloc(n ? n : 1, sizeof *c->class_of);
    if (!c->cap || !c->leases || !c->class_of ||
        zd_capacity_add_host(c->cap, c->cfg.host_id, c->cfg.local_cpus, NULL, 0, &host) < 0 ||
        zd_place_classes(g, c->cap, c->class_of, &n_classes) < 0)
        return ZDAG_ENOMEM;
    c->sched =
        zd_sched_new_classes(g, c->keys, c->cfg.active, c->cfg.keep_going, c->class_of, n_classes);
    if (!c->sched)
        return ZDAG_ENOMEM;
    c->place = zd_place_new(g, c->sched, c->cap, c->leases, c->jobs, c->class_of, n_classes);
    if (c->place)
        zd_place_set_prefer(c->place, input_host, c);
    c->retries = zd_readyq_new(c->retry_keys, n);
    return c->place && c->retries ? 0 : ZDAG_ENOMEM;
}

int zd_coord_new(const zd_coord_cfg *cfg, const zd_graph *g, zd_coord **out) {
    size_t n = zd_graph_size(g);
    if (!cfg || !g || !out || !zd_graph_topo(g) || (cfg->n_local == 0 && !cfg->listen))
        return ZDAG_EINVAL;
    zd_coord *c = calloc(1, sizeof *c);
    if (!c)
        return ZDAG_ENOMEM;
    c->cfg = *cfg;
    if (c->cfg.max_losses <= 0)
        c->cfg.max_losses = 3;
    if (!c->cfg.host_id)
        c->cfg.host_id = "localhost";
    c->g = g;
    /* Without -j, the executors' capacity is the only limit (remote ones join later). */
    c->jobs = cfg->jobs > 0 ? cfg->jobs : cfg->listen ? INT32_MAX : (int)cfg->n_local;
    c->n_hosts = 1;
    c->keys = calloc(n ? n : 1, sizeof *c->keys);
    c->retry_keys = calloc(n ? n : 1, sizeof *c->retry_keys);
    c->runs = calloc(n ? n : 1, sizeof *c->runs);
    c->ex = calloc(cfg->n_local ? cfg->n_local : 1, sizeof *c->ex);
    c->n_ex = cfg->n_local;
    c->hosts = calloc(c->n_hosts, sizeof *c->hosts);
    c->idle_count = calloc(c->n_hosts, sizeof *c->idle_count);
    c->out = zd_wire_buf_new();
    c->dec = zd_wire_decoder_new();
    int rc = ZDAG_ENOMEM;
    if (!c->keys || !c->retry_keys || !c->runs || !c->ex || !c->hosts || !c->idle_count ||
        !c->out || !c->dec ||
        !(c->hosts[0].idle = calloc(cfg->n_local ? cfg->n_local : 1, sizeof(uint32_t))))
        goto out_fail;
    if ((rc = zd_prio_compute(g, cfg->prio, cfg->active, cfg->durations, c->keys)) < 0 ||
        (rc = make_scheduler(c)) < 0)
        goto out_fail;
    for (size_t i = 0; i < n; i++) {
        c->runs[i] = (node_run){.executor = -1, .start_s = -1, .end_s = -1};
        c->n_active += !cfg->active || cfg->active[i];
    }
    rc = ZDAG_ENOMEM;
    for (uint32_t i = 0; cfg->cached && cfg->journal && i < n; i++) {
        /* Taken from an earlier run: its result is restored for its dependents. */
        const zd_journal_rec *rec = zd_journal_find(cfg->journal, zd_graph_node(g, i)->name);
        if (!cfg->cached[i] || !rec || (cfg->active && !cfg->active[i]))
            continue;
        if (!(c->runs[i].output = malloc(rec->result_len + 1)))
            goto out_fail;
        if (rec->result_len)
            memcpy(c->runs[i].output, rec->result, rec->result_len);
        c->runs[i].output[rec->result_len] = '\0';
        c->runs[i].output_len = rec->result_len;
        zd_sched_cached(c->sched, i);
    }
    if (cfg->trace_path && !(c->trace = zd_trace_new()))
        goto out_fail;
    if (cfg->progress && !(c->progress = zd_progress_new(stdout, cfg->progress_tty, c->n_active)))
        goto out_fail;
    c->hosts[0].cap = cfg->n_local;
    for (uint32_t s = 0; s < cfg->n_local; s++)
        c->ex[s] = (executor){.pid = cfg->local_pids[s], .state = EX_STARTING, .node = -1};
    *out = c;
    return 0;
out_fail:
    zd_coord_free(&c);
    return rc;
}

void zd_coord_free(zd_coord **cp) {
    if (!cp || !*cp)
        return;
    zd_coord *c = *cp;
    for (size_t i = 0; c->runs && i < zd_graph_size(c->g); i++) {
        free(c->runs[i].error);
        free(c->runs[i].output);
        for (size_t e = 0; e < c->runs[i].n_env; e++)
            free(c->runs[i].env[e]);
        free(c->runs[i].env);
    }
    free(c->runs);
    free(c->keys);
    free(c->retry_keys);
    free(c->class_of);
    zd_readyq_free(&c->retries);
    zd_trace_free(&c->trace);
    zd_progress_free(&c->progress);
    zd_place_free(&c->place);
    zd_sched_free(&c->sched);
    zd_leases_free(&c->leases);
    zd_capacity_free(&c->cap);
    free(c->ex);
    free(c->agents);
    for (uint32_t h = 0; c->hosts && h < c->n_hosts; h++)
        free(c->hosts[h].idle);
    free(c->hosts);
    free(c->idle_count);
    free(c->env_scratch);
    free(c->dep_scratch);
    zd_wire_buf_free(&c->out);
    zd_wire_decoder_free(&c->dec);
    zd_remote_close(c);
    if (c->router)
        zmq_close(c->router);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    free(c);
    *cp = NULL;
}

/* Builds the task environment of a node once: graph-wide env, then the node's own. */
static int node_env(zd_coord *c, uint32_t index) {
    node_run *r = &c->runs[index];
    if (r->env)
        return 0;
    const zd_node *node = zd_graph_node(c->g, index);
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)c->g);
    size_t n = gs->n_env + node->n_env;
    r->env = calloc(n ? n : 1, sizeof *r->env);
    if (!r->env)
        return ZDAG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const zd_kv *kv = i < gs->n_env ? &gs->env[i] : &node->env[i - gs->n_env];
        if (asprintf(&r->env[i], "%s=%s", kv->key, kv->value) < 0) {
            r->env[i] = NULL;
            return ZDAG_ENOMEM;
        }
        r->n_env = i + 1;
    }
    return 0;
}

static int reserve_scratch(zd_coord *c, size_t n) {
    if (n <= c->scratch_cap)
        return 0;
    zd_bytes *e = realloc(c->env_scratch, n * sizeof *e);
    if (e)
        c->env_scratch = e;
    zd_dep_result *d = realloc(c->dep_scratch, n * sizeof *d);
    if (d)
        c->dep_scratch = d;
    if (!e || !d)
        return ZDAG_ENOMEM;
    c->scratch_cap = n;
    return 0;
}

static zd_bytes cstr(const char *s) {
    return (zd_bytes){s, s ? strlen(s) : 0};
}

/* Sends the node to the executor in `slot` as a TASK frame. */
static int send_task(zd_coord *c, uint32_t index, uint32_t slot) {
    const zd_node *node = zd_graph_node(c->g, index);
    node_run *r = &c->runs[index];
    executor *x = &c->ex[slot];
    int rc = node_env(c, index);
    if (rc < 0 || (rc = reserve_scratch(c, node->argc + node->n_deps + r->n_env + 1)) < 0)
        return rc;
    zd_bytes *argv = c->env_scratch + r->n_env; /* argv views follow the env views */
    for (size_t i = 0; i < node->argc; i++)
        argv[i] = cstr(node->argv[i]);
    for (size_t i = 0; i < r->n_env; i++)
        c->env_scratch[i] = cstr(r->env[i]);
    for (size_t i = 0; i < node->n_deps; i++) {
        const node_run *dep = &c->runs[node->deps[i]];
        const zd_node *producer = zd_graph_node(c->g, node->deps[i]);
        c->dep_scratch[i].name = cstr(producer->name);
        c->dep_scratch[i].format = producer->kind == ZD_NODE_FN ? ZD_FORMAT_MSGPACK : ZD_FORMAT_RAW;
        c->dep_scratch[i].data = (zd_bytes){dep->output ? dep->output : "", dep->output_len};
    }
    char log_path[4096];
    snprintf(log_path, sizeof log_path, "%s/%s.log", c->cfg.log_dir, node->name);
    /* A remote executor cannot write here: it sends its log back with the result. */
    zd_bytes log = x->agent ? (zd_bytes){NULL, 0} : cstr(log_path);
    zd_msg_task t = {.node = index,
                     .token = r->token,
                     .attempt = r->attempts,
                     .name = cstr(node->name),
                     .run_id = cstr(c->cfg.run_id),
                     .kind = node->kind,
                     .cmd = cstr(node->kind == ZD_NODE_FN ? node->fn : node->shell),
                     .argv = argv,
                     .argc = (uint32_t)node->argc,
                     .args = {node->args, node->args_len},
                     .env = c->env_scratch,
                     .n_env = (uint32_t)r->n_env,
                     .workdir = cstr(node->workdir),
                     .timeout_ms = (uint64_t)llround(node->timeout * 1000),
                     .log_path = log,
                     .deps = c->dep_scratch,
                     .n_deps = (uint32_t)node->n_deps};
    if ((rc = zd_wire_encode_task(c->out, &t)) < 0)
        return rc;
    if (zmq_send(x->sock, x->rid, x->rid_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(x->sock, zd_wire_buf_data(c->out), zd_wire_buf_size(c->out), 0) < 0)
        return ZDAG_EZMQ;
    return 0;
}

/* Gives back the units and leases of a node's attempt; false when a lease was stale. */
static bool release_grant(zd_coord *c, node_run *r) {
    if (r->deadline_s > 0) {
        r->deadline_s = 0;
        c->n_deadlines--;
    }
    if (!r->granted)
        return true;
    r->granted = false;
    return zd_place_release(c->place, &r->grant);
}

/* Starts what may start: placement decides the node and host, an idle executor there runs it. */
static void dispatch(zd_coord *c) {
    zd_grant grant;
    /* The first dispatch waits (briefly) for every local executor, so that the order nodes
     * start in does not depend on which executor process happened to come up first. */
    if (!c->mustered)
        c->mustered = c->n_hello == c->cfg.n_local || zd_coord_since_start(c) >= MUSTER_S;
    if (!c->mustered)
        return;
    zd_place_round(c->place);
    while (zd_place_next(c->place, c->idle_count, &grant)) {
        host_slots *h = &c->hosts[grant.host];
        uint32_t slot = h->idle[--h->n_idle];
        c->idle_count[grant.host] = h->n_idle;
        node_run *r = &c->runs[grant.node];
        executor *x = &c->ex[slot];
        r->grant = grant;
        r->granted = true;
        r->token = ++c->next_token;
        r->attempts++;
        r->executor = (int32_t)slot;
        r->start_s = zd_coord_since_start(c);
        r->end_s = -1;
        r->has_exit_code = false;
        r->timed_out = false;
        const zd_node *node = zd_graph_node(c->g, grant.node);
        if (node->kind == ZD_NODE_FN && node->timeout > 0) {
            /* A function runs inside its executor: only killing the executor can stop it. */
            r->deadline_s = r->start_s + node->timeout;
            c->n_deadlines++;
        }
        x->state = EX_BUSY;
        x->node = grant.node;
        if (grant.seq_token)
            trace_instant(c, "lease: sequential", grant.node);
        if (grant.pool_token && c->trace) {
            char what[300];
            snprintf(what, sizeof what, "lease: pool %s",
                     zd_graph_pool(c->g, zd_graph_node(c->g, grant.node)->pool)->name);
            trace_instant(c, what, grant.node);
        }
        int rc = send_task(c, grant.node, slot);
        if (rc == ZDAG_EZMQ && errno == EHOSTUNREACH) {
            /* The executor disconnected (its process or its host died, and nobody told us
             * yet): like a lost executor, the node runs elsewhere. */
            zd_coord_executor_gone(c, slot, "unreachable", false);
        } else if (rc < 0) {
            /* Out of memory: fail the attempt here, as no result will come for it. */
            fprintf(stderr, "zdag: cannot send node \"%s\" to executor %u: %s\n",
                    zd_graph_node(c->g, grant.node)->name, slot, zdag_strerror(rc));
            set_error(r, "cannot send the task: %s", zdag_strerror(rc));
            r->end_s = zd_coord_since_start(c);
            release_grant(c, r);
            zd_coord_push_idle(c, slot);
            node_failed(c, grant.node);
        }
    }
    bool fresh;
    int64_t waiting = zd_place_seq_waiting(c->place, &fresh);
    if (fresh)
        trace_instant(c, "sequential wait", (uint32_t)waiting);
}

/* Schedules a failed node's next attempt after an exponential back-off. */
static void schedule_retry(zd_coord *c, uint32_t index) {
    const node_run *r = &c->runs[index];
    uint32_t failures = r->attempts - r->losses;
    double delay = RETRY_FIRST_S * pow(2, failures > 1 ? failures - 1 : 0);
    if (delay > RETRY_MAX_S)
        delay = RETRY_MAX_S;
    c->retry_keys[index].major = -(int64_t)llround((zd_coord_since_start(c) + delay) * 1e6);
    zd_readyq_push(c->retries, index);
}

/* Moves the retries that are due back to the ready queues; returns ms until the next (-1). */
static int due_retries(zd_coord *c) {
    while (zd_readyq_size(c->retries)) {
        uint32_t index = zd_readyq_peek(c->retries);
        double due = (double)-c->retry_keys[index].major / 1e6, now = zd_coord_since_start(c);
        if (due > now)
            return (int)ceil((due - now) * 1000);
        (void)zd_readyq_pop(c->retries);
        zd_sched_requeue(c->sched, index);
    }
    return -1;
}

/* After a stop, the nodes waiting to retry will not get their attempt: they failed. */
static void drop_retries(zd_coord *c) {
    while (zd_readyq_size(c->retries))
        node_failed(c, zd_readyq_pop(c->retries));
}

/* A node's attempt ended with a result: success, a retry, or a failure. */
/* Records a node's final outcome in the journal (made durable by the next sync). */
static void journal_outcome(zd_coord *c, uint32_t index, bool ok) {
    if (!c->cfg.journal)
        return;
    const node_run *r = &c->runs[index];
    const zd_node *node = zd_graph_node(c->g, index);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    zd_journal_rec rec = {.name = node->name,
                          .status = ok ? ZD_JOURNAL_SUCCEEDED : ZD_JOURNAL_FAILED,
                          .result = ok ? r->output : NULL,
                          .result_len = ok ? r->output_len : 0,
                          .result_is_msgpack = node->kind == ZD_NODE_FN,
                          .duration_s =
                              r->start_s >= 0 && r->end_s >= r->start_s ? r->end_s - r->start_s : 0,
                          .attempts = r->attempts,
                          .run_id = c->cfg.run_id,
                          .finished_at = (double)now.tv_sec + (double)now.tv_nsec / 1e9};
    memcpy(rec.defhash, c->cfg.defhash[index], sizeof rec.defhash);
    if (zd_journal_append(c->cfg.journal, &rec) < 0)
        fprintf(stderr, "zdag: cannot journal \"%s\": %s\n", node->name,
                zd_journal_error(c->cfg.journal));
}

static void node_failed(zd_coord *c, uint32_t index) {
    journal_outcome(c, index, false);
    zd_sched_failed(c->sched, index);
}

static void attempt_ended(zd_coord *c, uint32_t index, bool ok) {
    const zd_node *node = zd_graph_node(c->g, index);
    node_run *r = &c->runs[index];
    r->end_s = zd_coord_since_start(c);
    release_grant(c, r);
    trace_attempt(c, index, ok ? "succeeded" : c->interrupted ? "interrupted" : "failed");
    progress_done(c, r);
    if (ok) {
        free(r->error);
        r->error = NULL;
        journal_outcome(c, index, true);
        zd_sched_succeeded(c->sched, index);
    } else if (c->interrupted) {
        set_error(r, "interrupted");
        zd_sched_abandon(c->sched, index);
    } else if ((int)(r->attempts - r->losses) <= node->retries && !zd_sched_stopped(c->sched)) {
        schedule_retry(c, index);
    } else {
        node_failed(c, index);
    }
}

/* Writes a log a remote executor sent back to STATE_DIR/logs/NODE.log. */
static void write_shipped_log(zd_coord *c, uint32_t index, zd_bytes log) {
    const node_run *r = &c->runs[index];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.log", c->cfg.log_dir, zd_graph_node(c->g, index)->name);
    FILE *f = fopen(path, r->attempts == 1 ? "w" : "a");
    if (!f) {
        fprintf(stderr, "zdag: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    if (r->attempts > 1)
        fprintf(f, "--- zdag: attempt %u ---\n", r->attempts);
    fwrite(log.ptr, 1, log.len, f);
    fclose(f);
}

static void on_result(zd_coord *c, void *sock, const unsigned char *rid, size_t rid_len,
                      const zd_msg_result *m) {
    if (m->node >= zd_graph_size(c->g) || c->runs[m->node].token != m->token ||
        c->runs[m->node].executor < 0) {
        fprintf(stderr, "zdag: discarded a stale or unknown result (node %u, token %llu)\n",
                m->node, (unsigned long long)m->token);
        return;
    }
    node_run *r = &c->runs[m->node];
    uint32_t slot = (uint32_t)r->executor;
    executor *x = &c->ex[slot];
    if (x->state != EX_BUSY || x->node != (int64_t)m->node || x->sock != sock ||
        x->rid_len != rid_len || memcmp(x->rid, rid, rid_len) != 0) {
        fprintf(stderr, "zdag: discarded a result for node %u from the wrong executor\n", m->node);
        return;
    }
    if (r->granted && ((r->grant.seq_token && !zd_lease_held(c->leases, r->grant.seq_token)) ||
                       (r->grant.pool_token && !zd_lease_held(c->leases, r->grant.pool_token)))) {
        fprintf(stderr, "zdag: discarded a result of \"%s\" carrying a revoked lease\n",
                zd_graph_node(c->g, m->node)->name);
        return;
    }
    free(r->output);
    r->output = malloc(m->output.len + 1);
    if (r->output) {
        memcpy(r->output, m->output.ptr, m->output.len);
        r->output[m->output.len] = '\0';
        r->output_len = m->output.len;
    }
    r->has_exit_code = true;
    r->exit_code = m->exit_code;
    if (x->agent && m->log.ptr)
        write_shipped_log(c, m->node, m->log);
    if (!m->ok)
        set_error(r, "%.*s", (int)m->error.len, m->error.ptr ? m->error.ptr : "failed");
    else if (!r->output)
        set_error(r, "out of memory for its result");
    zd_coord_push_idle(c, slot);
    attempt_ended(c, m->node, m->ok && r->output != NULL);
}

static void on_hello(zd_coord *c, void *sock, const unsigned char *rid, size_t rid_len,
                     const zd_msg_hello *h) {
    if (sock == c->remote) {
        if (!zd_remote_hello(c, rid, rid_len, h))
            fprintf(stderr, "zdag: refused an executor (agent %u, slot %u)\n", h->agent, h->slot);
        return;
    }
    if (h->version != ZD_WIRE_VERSION || h->agent != 0 || h->slot >= c->cfg.n_local ||
        c->ex[h->slot].state != EX_STARTING || c->ex[h->slot].pid != (pid_t)h->pid) {
        fprintf(stderr, "zdag: refused an executor (slot %u, pid %lld, version %u)\n", h->slot,
                (long long)h->pid, h->version);
        return;
    }
    if (c->n_hello < c->cfg.n_local)
        c->n_hello++;
    c->ex[h->slot].host = 0; /* local executors live on host 0 */
    zd_coord_executor_ready(c, h->slot, sock, rid, rid_len);
}

/* Reads every frame waiting on the ROUTER socket. */
/* Reads every frame waiting on a ROUTER socket (local or remote). */
static void read_messages(zd_coord *c, void *sock) {
    unsigned char rid[MAX_RID];
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (;;) {
        int n = zmq_recv(sock, rid, sizeof rid, ZMQ_DONTWAIT);
        if (n < 0)
            break;
        size_t rid_len = (size_t)n > sizeof rid ? sizeof rid : (size_t)n;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
        if (!more) {
            fprintf(stderr, "zdag: dropped a message without a body\n");
            continue;
        }
        if (zmq_msg_recv(&msg, sock, 0) < 0)
            break;
        if (zmq_msg_more(&msg)) {
            fprintf(stderr, "zdag: dropped a message of more than one frame\n");
            do
                zmq_msg_recv(&msg, sock, 0);
            while (zmq_msg_more(&msg));
            continue;
        }
        zd_msg m;
        if (zd_wire_decode(c->dec, zmq_msg_data(&msg), zmq_msg_size(&msg), &m) < 0) {
            fprintf(stderr, "zdag: dropped a malformed message (%zu bytes): %s\n",
                    zmq_msg_size(&msg), zd_wire_decoder_error(c->dec));
            continue;
        }
        bool remote = sock == c->remote;
        if (m.type == ZD_MSG_HELLO)
            on_hello(c, sock, rid, rid_len, &m.u.hello);
        else if (m.type == ZD_MSG_RESULT)
            on_result(c, sock, rid, rid_len, &m.u.result);
        else if (remote && m.type == ZD_MSG_JOIN)
            zd_remote_join(c, rid, rid_len, &m.u.join);
        else if (remote && m.type == ZD_MSG_BEAT)
            zd_remote_beat(c, rid, rid_len);
        else if (remote && m.type == ZD_MSG_LOST)
            zd_remote_lost(c, rid, rid_len, &m.u.lost);
        else
            fprintf(stderr, "zdag: dropped an unexpected message of type %d\n", m.type);
    }
    zmq_msg_close(&msg);
}

/* The node of a lost executor: run it again, or fail it after too many losses. */
void zd_coord_node_lost(zd_coord *c, uint32_t index, const char *how) {
    node_run *r = &c->runs[index];
    r->losses++;
    r->token = 0; /* a late result of the lost attempt is stale */
    r->end_s = zd_coord_since_start(c);
    release_grant(c, r); /* revokes its leases */
    trace_attempt(c, index, r->timed_out ? "timed out" : "lost");
    if (c->interrupted) {
        set_error(r, "interrupted");
        zd_sched_abandon(c->sched, index);
        return;
    }
    if (r->timed_out) {
        /* Not a loss: the attempt ran out of time, and its executor went with it. */
        const zd_node *node = zd_graph_node(c->g, index);
        r->losses--;
        set_error(r, "timed out after %g s", node->timeout);
        if ((int)(r->attempts - r->losses) <= node->retries && !zd_sched_stopped(c->sched)) {
            zd_sched_requeue(c->sched, index);
        } else {
            node_failed(c, index);
        }
        return;
    }
    fprintf(stderr, "zdag: executor died (%s) while running \"%s\"\n", how,
            zd_graph_node(c->g, index)->name);
    if ((int)r->losses >= c->cfg.max_losses) {
        set_error(r, "executor died: %s (%u executors lost)", how, r->losses);
        node_failed(c, index);
    } else if (zd_sched_stopped(c->sched)) {
        set_error(r, "executor died: %s", how);
        node_failed(c, index);
    } else {
        zd_sched_requeue(c->sched, index);
    }
}

/* Kills the executors of function attempts past their timeout; returns ms until the next
 * deadline, or -1. */
static int check_deadlines(zd_coord *c) {
    if (c->n_deadlines == 0)
        return -1;
    double now = zd_coord_since_start(c), next = -1;
    for (uint32_t s = 0; s < c->n_ex; s++) {
        executor *x = &c->ex[s];
        if (x->state != EX_BUSY)
            continue;
        node_run *r = &c->runs[x->node];
        if (r->deadline_s <= 0 || r->timed_out)
            continue;
        if (r->deadline_s <= now) {
            r->timed_out = true;
            if (x->pid > 0)
                kill(x->pid, SIGKILL);
        } else if (next < 0 || r->deadline_s < next) {
            next = r->deadline_s;
        }
    }
    return next < 0 ? -1 : (int)ceil((next - now) * 1000);
}

static void interrupt(zd_coord *c, int sig) {
    if (c->interrupted) {
        /* A second signal: leave at once, killing everything. */
        for (uint32_t s = 0; s < c->cfg.n_local; s++)
            if (c->ex[s].pid > 0)
                kill(c->ex[s].pid, SIGKILL);
        return;
    }
    fprintf(stderr, "zdag: %s: stopping (running nodes are killed)\n", strsignal(sig));
    c->interrupted = sig;
    zd_sched_stop(c->sched);
    /* Remote nodes die with their agents, which are told to leave now. */
    for (uint32_t s = c->cfg.n_local; s < c->n_ex; s++)
        if (c->ex[s].state == EX_BUSY)
            zd_coord_executor_gone(c, s, "interrupted", false);
    zd_remote_shutdown(c);
    /* Running nodes are killed with their executors; idle executors get BYE at the end. */
    for (uint32_t s = 0; s < c->cfg.n_local; s++)
        if (c->ex[s].state == EX_BUSY && c->ex[s].pid > 0)
            kill(c->ex[s].pid, SIGTERM);
}

static void read_signals(zd_coord *c) {
    struct signalfd_siginfo si;
    bool child = false;
    while (read(c->cfg.signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            child = true;
        else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
            interrupt(c, (int)si.ssi_signo);
    }
    if (child)
        zd_coord_reap(c);
}

static int open_socket(zd_coord *c) {
    c->zctx = zmq_ctx_new();
    if (!c->zctx)
        return ZDAG_EZMQ;
    c->router = zmq_socket(c->zctx, ZMQ_ROUTER);
    int linger = 0, mandatory = 1;
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    if (!c->router || zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) < 0 ||
        zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_bind(c->router, c->cfg.endpoint) < 0) {
        fprintf(stderr, "zdag: cannot listen on %s: %s\n", c->cfg.endpoint, zmq_strerror(errno));
        return ZDAG_EZMQ;
    }
    return 0;
}

/* Makes the journaled outcomes durable (group commit). */
static void sync_journal(zd_coord *c) {
    if (!c->cfg.journal || zd_journal_pending(c->cfg.journal) == 0 || c->journal_failed)
        return;
    if (zd_journal_sync(c->cfg.journal) < 0) {
        fprintf(stderr,
                "zdag: cannot write the journal: %s; --resume will run these nodes "
                "again\n",
                zd_journal_error(c->cfg.journal));
        c->journal_failed = true;
    }
}

static int final_status(zd_coord *c) {
    if (c->interrupted)
        return 128 + c->interrupted;
    if (zd_sched_count(c->sched, ZD_NS_FAILED) > 0)
        return 1;
    if (c->no_executors)
        return 3;
    return 0;
}

/* Stops the run because it cannot go on. */
static void give_up(zd_coord *c, const char *why) {
    fprintf(stderr, "zdag: %s; the run cannot go on\n", why);
    c->no_executors = true;
    zd_sched_stop(c->sched);
}

int zd_coord_run(zd_coord *c) {
    clock_gettime(CLOCK_REALTIME, &c->started);
    c->t0 = zd_coord_mono();
    if (open_socket(c) < 0 || (c->cfg.listen && zd_remote_open(c) < 0))
        give_up(c, "no socket for the executors");
    while (!zd_sched_finished(c->sched)) {
        int timeout = due_retries(c), deadline = check_deadlines(c), tick = zd_remote_tick(c);
        if (deadline >= 0 && (timeout < 0 || deadline < timeout))
            timeout = deadline;
        if (tick >= 0 && (timeout < 0 || tick < timeout))
            timeout = tick;
        if (c->progress && (timeout < 0 || timeout > 250))
            timeout = 250; /* keep the elapsed time moving */
        int64_t sync =
            c->cfg.journal ? zd_journal_sync_due_ms(c->cfg.journal, JOURNAL_WINDOW_MS) : -1;
        if (sync == 0)
            sync_journal(c);
        else if (sync > 0 && (timeout < 0 || sync < timeout))
            timeout = (int)sync;
        if (!c->mustered && (timeout < 0 || timeout > 20))
            timeout = 20;
        if (zd_sched_stopped(c->sched))
            drop_retries(c);
        dispatch(c);
        if (zd_sched_finished(c->sched))
            break;
        if (zd_coord_all_retired(c)) {
            give_up(c, "no executor could be started");
            break;
        }
        zmq_pollitem_t items[3] = {{NULL, c->cfg.signal_fd, ZMQ_POLLIN, 0},
                                   {c->router, 0, ZMQ_POLLIN, 0},
                                   {c->remote, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, c->remote ? 3 : 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            give_up(c, "polling failed");
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            read_signals(c);
        if (items[1].revents & ZMQ_POLLIN)
            read_messages(c, c->router);
        if (c->remote && (items[2].revents & ZMQ_POLLIN))
            read_messages(c, c->remote);
        progress_draw(c, false);
    }
    drop_retries(c);
    sync_journal(c);
    zd_remote_shutdown(c);
    zd_coord_shutdown_executors(c);
    zd_sched_close(c->sched);
    progress_draw(c, true);
    c->wall_s = zd_coord_since_start(c);
    c->exit_code = final_status(c);
    if (c->journal_failed && c->exit_code == 0)
        c->exit_code = 3;
    if (c->trace && zd_trace_write(c->trace, c->cfg.trace_path) < 0) {
        fprintf(stderr, "zdag: cannot write the trace %s: %s\n", c->cfg.trace_path,
                strerror(errno));
        if (c->exit_code == 0)
            c->exit_code = 3;
    }
    return c->exit_code;
}

void zd_coord_outcome(const zd_coord *c, uint32_t index, zd_node_outcome *out) {
    const node_run *r = &c->runs[index];
    zd_node_state st = zd_sched_state(c->sched, index);
    *out = (zd_node_outcome){
        .state = st,
        .attempts = r->attempts,
        .executor = r->executor,
        .host = r->executor >= 0 ? zd_capacity_host_name(c->cap, c->ex[r->executor].host) : NULL,
        .start_s = r->start_s,
        .end_s = r->end_s,
        .has_exit_code = r->has_exit_code,
        .exit_code = r->exit_code,
        .error = r->error,
        .output = st == ZD_NS_SUCCEEDED || st == ZD_NS_CACHED ? r->output : NULL,
        .output_len = st == ZD_NS_SUCCEEDED || st == ZD_NS_CACHED ? r->output_len : 0,
        .output_is_msgpack = zd_graph_node(c->g, index)->kind == ZD_NODE_FN};
    if (st == ZD_NS_SKIPPED && !r->error)
        out->error = zd_sched_skip_cause(c->sched, index) >= 0 ? "a dependency failed"
                     : c->interrupted                          ? "interrupted"
                                                               : "the run stopped first";
}

void zd_coord_summary(const zd_coord *c, zd_run_summary *out) {
    out->status = c->interrupted ? "interrupted" : c->exit_code == 0 ? "succeeded" : "failed";
    out->exit_code = c->exit_code;
    out->started = c->started;
    out->wall_s = c->wall_s;
    out->jobs = c->jobs < INT32_MAX ? c->jobs : (int)c->n_ex;
}
