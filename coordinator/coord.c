/* The coordinator's poll loop: sockets, the signalfd and reaped children in, the core's actions
 * out. One clock (CLOCK_MONOTONIC, seconds since the run started) feeds every event. */
#include "coord.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "admission.h"
#include "autoworkers.h"
#include "capacity.h"
#include "curve.h"
#include "defhash.h"
#include "foreach.h"
#include "journal.h"
#include "metrics.h"
#include "pipeline.h"
#include "progress.h"
#include "rlimits.h"
#include "statedir.h"
#include "status.h"
#include "store.h"
#include "trace.h"
#include "wire.h"
#include "zap.h"

#define SHUTDOWN_GRACE_S 3.         /* how long local executors get to leave after BYE */
#define PROGRESS_TICK_S .25         /* the elapsed time on the progress line moves this often */
#define REMOTE_LINGER_MS 500        /* the final BYEs get this long to reach the agents */
#define FAILURE_TAIL_LINES 20       /* lines of a failed node's log shown when it fails */
#define READ_BATCH 256              /* messages read from a socket before timers get their turn */
#define READ_BATCH_BYTES (4u << 20) /* ... or bytes (one upload window) */
#define TX_MAX 64                   /* TASKs in one BATCH frame, at most */
#define EXIT_GRACE_S 1.             /* a reaped executor's connection gets this long to close */
#define BATCH_MAX                                                                                  \
    64                          /* messages read from one BATCH frame, at most (an executor        \
                                   sends up to 16) */
#define TX_MAX_BYTES (1u << 20) /* ... or bytes */

/* A remote executor's result on its way in (CHUNKs), until its RESULT. */
typedef struct upload {
    uint32_t node;      /* the attempt's node */
    uint64_t token;     /* ... and token */
    zd_store_writer *w; /* into the store; NULL when the entry is free */
    uint64_t next;      /* the offset the next chunk must have */
    int error;          /* a chunk could not be written (ZDAG_ETOOBIG, ZDAG_ESYS): the RESULT
                           fails */
} upload;

/* Where a peer's fetch of one stored dependency is: FETCHes are answered only from `next` on,
 * within one window, each offset once, so that a peer that asks and does not read cannot make
 * the coordinator queue DATA without end. Belongs to one attempt: cleared by the peer's RESULT,
 * and started afresh by the peer's next attempt (another token). */
typedef struct fetch_state {
    zd_sock_id sock;               /* the peer's socket */
    unsigned char rid[ZD_MAX_RID]; /* ... and routing id */
    size_t rid_len;                /* 0: the entry is free */
    uint8_t hash[ZD_STORE_HASH];   /* the dependency */
    uint64_t token;                /* the attempt fetching it */
    uint64_t next;                 /* the lowest offset not answered yet */
} fetch_state;

#define FETCH_STATES 16 /* fetch states allocated at first; doubled when all are live */

typedef struct zd_coord zd_coord;
static void fetch_forget(zd_coord *c, const zd_peer *peer);
static void drain(zd_coord *c);
static uint32_t finished_nodes(const zd_coord *c, uint32_t done);
static void close_status(zd_coord *c);

struct zd_coord {
    zd_coord_cfg cfg;              /* copy of the configuration */
    zd_graph *g;                   /* borrowed graph; run-time fan-outs add to it */
    uint32_t n_static;             /* its nodes before any were added */
    uint8_t (*ext_hash)[32];       /* definition hashes of the nodes added, from n_static on */
    size_t cap_ext_hash;           /* entries allocated in ext_hash */
    zd_core_growth growth;         /* how the core asks for instances and late results */
    zd_core *core;                 /* every decision */
    pid_t *pids;                   /* per local slot: its executor's pid, 0 when none */
    char (*exit_how)[64];          /* per local slot: how its reaped executor ended, "" when none
                                      is waiting for its connection to close (settle_exits()) */
    double *exit_at;               /* ... when it was reaped */
    uint64_t *exit_started;        /* ... the token of the last task it started (0: unknown) */
    char **cached;                 /* per node: the journal's result of a cached node (borrowed) */
    size_t *cached_lens;           /* per node: its length */
    const uint8_t **cached_hashes; /* per node: the hash of a cached stored result, or NULL */
    uint64_t *cached_sizes;        /* per node: its size */
    uint8_t (*moved)[ZD_STORE_HASH]; /* hashes of old inline results moved into the store */
    upload *uploads;                 /* results being uploaded */
    size_t n_uploads;                /* entries in uploads (free ones included) */
    char *chunk_buf;          /* one DATA's bytes (ZD_WIRE_CHUNK), allocated on first FETCH */
    fetch_state *fetches;     /* peers' fetches, allocated on first FETCH */
    size_t n_fetches;         /* entries in fetches (free ones included) */
    size_t fetch_sent;        /* DATA bytes sent in this read batch (toward its budget) */
    zd_log_limit read_limit;  /* rate limit of unreadable-store-file lines */
    zd_log_limit drop_limit;  /* rate limit of dropped-CHUNK lines */
    zd_log_limit fetch_limit; /* ... and of refused-FETCH lines */
    uint64_t n_dropped;       /* dropped CHUNKs and FETCHes in all */
    const char **plugins;     /* the graph's plugins, for WELCOME */
    void *zctx;               /* ZeroMQ context */
    void *router;             /* ROUTER bound at cfg.endpoint for local executors */
    void *remote;             /* ROUTER for remote agents and executors, or NULL */
    void *status;             /* REP answering `zdag status` (cfg.status_path), or NULL */
    zd_metrics *metrics;      /* the --metrics server, or NULL */
    zd_autow *autow;          /* automatic workers (--slurm), or NULL */
    double metrics_at;        /* when its snapshot was last published (now_s) */
    struct zd_zap *zap;       /* the ZAP handler admitting workers' keys, or NULL */
    zd_admission *admission;  /* bounds the connections open on remote, or NULL */
    zd_log_relay *zap_log;    /* the ZAP handler's messages, relayed to this thread */
    zd_log zap_sink;          /* the relay's sink, given to the handler */
    zd_wire_buf *out;         /* encoder */
    zd_wire_batch *tx;        /* TASKs for one slot not sent yet, to go in one BATCH */
    int64_t tx_slot;          /* ... that slot, or -1 */
    zd_sock_id tx_sock;       /* ... its socket */
    unsigned char tx_rid[ZD_MAX_RID]; /* ... and its executor's routing id when they were made */
    size_t tx_rid_len;                /* bytes in tx_rid */
    bool tx_hold;                     /* TASKs wait for the end of the read batch (read_messages) */
    zd_action *acts;                  /* the actions being carried out (a copy of the core's) */
    size_t acts_cap;                  /* room in acts */
    zd_wire_decoder *dec;             /* decoder */
    zd_trace *trace;                  /* the timeline for --trace, or NULL */
    zd_progress *progress;            /* the progress line, or NULL */
    zd_log user_log;         /* the caller's sink; cfg.core.log clears the progress line first */
    struct timespec started; /* wall clock at start */
    double t0;               /* monotonic clock at start */
    double wall_s;           /* duration of the run */
    bool journal_failed;     /* a journal sync failed: outcomes are no longer recorded */
    char error[256];         /* why the run ended with exit 3 after its nodes, or "" */
    int exit_code;           /* the run's exit status */
};

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(const zd_coord *c) {
    return mono() - c->t0;
}

int zd_coord_check_fit(const zd_graph *g, const bool *active, const char *host_id, double cpus,
                       const zd_log *log) {
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
        zd_logf(log, ZDAG_LOG_ERROR, "node \"%s\" %s", zd_graph_node(g, i)->name, why);
        bad++;
    }
    zd_capacity_free(&cap);
    return bad;
}

/* Writes an inline result of an old journal record into the store; its hash into hash. Then
 * restates the record with the stored result (durable before the run starts), so that the
 * store's cleanup keeps the file and the next resume does not move it again. Logs what failed. */
static int move_to_store(zd_coord *c, const zd_journal_rec *rec, uint8_t *hash) {
    zd_store_writer *w = zd_store_writer_new(c->cfg.store_dir, UINT64_MAX >> 1);
    bool stored;
    uint64_t size;
    const char *inline_bytes;
    int rc = w ? zd_store_writer_write(w, rec->result, rec->result_len) : ZDAG_ENOMEM;
    if (rc == 0)
        rc = zd_store_writer_finish(w, &stored, hash, &size, &inline_bytes);
    int err = w ? zd_store_writer_errno(w) : ENOMEM;
    zd_store_writer_free(&w);
    if (rc < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR,
                "cannot move the result of node \"%s\" into the result store %s: %s", rec->name,
                c->cfg.store_dir, rc == ZDAG_ESYS && err ? strerror(err) : zdag_strerror(rc));
        return rc;
    }
    zd_journal_rec moved = *rec;
    moved.result = NULL;
    moved.result_len = 0;
    moved.result_in_store = true;
    memcpy(moved.result_hash, hash, sizeof moved.result_hash);
    moved.result_size = rec->result_len;
    if ((rc = zd_journal_restate(c->cfg.journal, &moved)) < 0 ||
        (rc = zd_journal_sync(c->cfg.journal)) < 0)
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR,
                "cannot journal the stored result of node \"%s\": %s", rec->name,
                zd_journal_error(c->cfg.journal));
    return rc;
}

/* The results of cached nodes, from the journal, for the core to hand to their dependents. */
static int load_cached(zd_coord *c) {
    size_t n = zd_graph_size(c->g);
    if (!c->cfg.cached || !c->cfg.journal)
        return 0;
    c->cached = calloc(n ? n : 1, sizeof *c->cached);
    c->cached_lens = calloc(n ? n : 1, sizeof *c->cached_lens);
    c->cached_hashes = calloc(n ? n : 1, sizeof *c->cached_hashes);
    c->cached_sizes = calloc(n ? n : 1, sizeof *c->cached_sizes);
    c->moved = calloc(n ? n : 1, sizeof *c->moved);
    if (!c->cached || !c->cached_lens || !c->cached_hashes || !c->cached_sizes || !c->moved)
        return ZDAG_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const zd_journal_rec *rec = zd_journal_find(c->cfg.journal, zd_graph_node(c->g, i)->name);
        if (!c->cfg.cached[i] || !rec)
            continue;
        if (rec->result_in_store) {
            c->cached_hashes[i] = rec->result_hash;
            c->cached_sizes[i] = rec->result_size;
        } else if (rec->result_len > ZD_RESULT_INLINE_MAX) {
            /* A journal of before the store: its large results move there. */
            int rc = move_to_store(c, rec, c->moved[i]);
            if (rc < 0)
                return rc;
            c->cached_hashes[i] = c->moved[i];
            c->cached_sizes[i] = rec->result_len;
        } else {
            c->cached[i] = (char *)rec->result;
            c->cached_lens[i] = rec->result_len;
        }
    }
    return 0;
}

/* Every message of the run goes on a line of its own: the progress line is erased first (it
 * is drawn again on the next update). */
static void log_beside_progress(void *ctx, zdag_log_level level, const char *message) {
    zd_coord *c = ctx;
    if (c->progress)
        zd_progress_clear(c->progress);
    if (c->user_log.fn)
        c->user_log.fn(c->user_log.ctx, level, message);
}

/* The definition hash of a node, one added during the run included. */
static const uint8_t *defhash_of(const zd_coord *c, uint32_t index) {
    return index < c->n_static ? c->cfg.defhash[index] : c->ext_hash[index - c->n_static];
}

/* What a node's attempt is given, as the journal records it (zd_inputs): its inputs' results,
 * the instances of a template each, final once they succeeded. */
static void inputs_hash(const zd_coord *c, uint32_t index, uint8_t out[ZD_INPUTS_HASH_SIZE]) {
    zd_inputs h;
    zd_graph_inputs it;
    uint32_t d;
    zd_inputs_init(&h);
    zd_graph_inputs_begin(c->g, index, &it);
    while (zd_graph_inputs_next(c->g, &it, &d)) {
        zd_node_outcome o;
        zd_core_outcome(c->core, d, &o);
        zd_inputs_add(&h, zd_graph_node(c->g, d)->name, o.output_is_msgpack, o.output_hash,
                      o.output, o.output_len);
    }
    zd_inputs_final(&h, out);
}

/* ---- Fan-out at run time ----------------------------------------------------------------- */

/* Adds template tmpl's instances to the graph from src, the outcome of its source (core.h
 * zd_core_growth.expand). */
static int expand_template(void *ctx, uint32_t tmpl, const zd_node_outcome *src, char *why,
                           size_t size) {
    zd_coord *c = ctx;
    const zd_node *t = zd_graph_node(c->g, tmpl);
    const char *bytes = src->output ? src->output : "";
    size_t len = src->output_len;
    if (src->output_hash) {
        bytes = zd_store_map(c->cfg.store_dir, src->output_hash, src->output_size);
        len = (size_t)src->output_size;
        if (!bytes) {
            snprintf(why, size, "cannot read the result of %s: %s",
                     zd_graph_node(c->g, (uint32_t)zd_graph_fan_source(c->g, tmpl))->name,
                     strerror(errno));
            return ZDAG_EIO;
        }
    }
    zd_fan *f = NULL;
    int rc = zd_fan_from_result(bytes, len, src->output_is_msgpack, &f, why, size);
    if (src->output_hash)
        zd_store_unmap(bytes, src->output_size);
    size_t n = rc == 0 ? zd_fan_count(f) : 0;
    zd_node *protos = rc == 0 ? calloc(n ? n : 1, sizeof *protos) : NULL;
    char **names = rc == 0 ? calloc(n ? n : 1, sizeof *names) : NULL;
    if (rc == 0 && (!protos || !names))
        rc = ZDAG_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        zd_node_init(&protos[i]);
        if ((rc = zd_fan_node(f, i, t, &protos[i])) == 0 &&
            asprintf(&names[i], "%s[%zu]", t->name, i) < 0) {
            names[i] = NULL;
            rc = ZDAG_ENOMEM;
        }
        protos[i].line = t->line;
        protos[i].col = t->col;
        /* The template's workdir is as written: resolved once substituted, as for foreach. */
        const char *base = zd_graph_settings_of(c->g)->base_dir;
        char *dir =
            rc == 0 && protos[i].workdir ? zd_pipeline_resolve_path(base, protos[i].workdir) : NULL;
        if (rc == 0 && protos[i].workdir && !dir)
            rc = ZDAG_ENOMEM;
        if (dir) {
            free(protos[i].workdir);
            protos[i].workdir = dir;
        }
    }
    size_t want = zd_graph_size(c->g) - c->n_static + n;
    if (rc == 0 && want > c->cap_ext_hash) {
        size_t cap = want > 2 * c->cap_ext_hash ? want : 2 * c->cap_ext_hash;
        uint8_t(*v)[32] = realloc(c->ext_hash, cap * sizeof *v);
        if (v) {
            c->ext_hash = v;
            c->cap_ext_hash = cap;
        } else {
            rc = ZDAG_ENOMEM;
        }
    }
    uint32_t first = 0;
    if (rc == 0)
        rc = zd_graph_add_instances(c->g, tmpl, protos, names, (uint32_t)n, &first);
    for (size_t i = 0; rc == 0 && i < n; i++)
        zd_defhash_instance(defhash_of(c, tmpl), names[i], zd_fan_item(f, i),
                            c->ext_hash[first + i - c->n_static]);
    if (rc < 0 && !why[0])
        snprintf(why, size, "%s", zdag_strerror(rc));
    for (size_t i = 0; protos && i < n; i++)
        zd_node_clear(&protos[i]);
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(protos);
    free(names);
    zd_fan_free(&f);
    return rc;
}

/* --resume for a node decided during the run (core.h zd_core_growth.lookup): its journal record
 * stands when it succeeded with this definition, on the results its inputs have now, and a
 * stored result is still the file it names (zd_resume_plan()'s rules). */
static bool lookup_result(void *ctx, uint32_t node, zd_core_cached *out) {
    zd_coord *c = ctx;
    const zd_journal_rec *r =
        c->cfg.journal ? zd_journal_find(c->cfg.journal, zd_graph_node(c->g, node)->name) : NULL;
    if (!r || r->status != ZD_JOURNAL_SUCCEEDED || !r->has_inputs ||
        memcmp(r->defhash, defhash_of(c, node), sizeof r->defhash) != 0)
        return false;
    uint8_t h[ZD_INPUTS_HASH_SIZE];
    inputs_hash(c, node, h);
    if (memcmp(h, r->inputs_hash, sizeof h) != 0)
        return false;
    if (r->result_in_store) {
        if (!zd_store_verify(c->cfg.store_dir, r->result_hash, r->result_size, true))
            return false;
        *out = (zd_core_cached){.hash = r->result_hash, .size = r->result_size};
        return true;
    }
    *out = (zd_core_cached){.output = r->result ? r->result : "", .len = r->result_len};
    return r->result_len <= ZD_RESULT_INLINE_MAX;
}

int zd_coord_new(const zd_coord_cfg *cfg, zd_graph *g, zd_coord **out) {
    if (!cfg || !g || !out)
        return ZDAG_EINVAL;
    zd_coord *c = calloc(1, sizeof *c);
    if (!c)
        return ZDAG_ENOMEM;
    c->cfg = *cfg;
    c->cfg.local = NULL; /* the caller's until this call succeeds */
    c->g = g;
    c->n_static = (uint32_t)zd_graph_static_size(g);
    c->growth = (zd_core_growth){
        .expand = expand_template, .lookup = cfg->resume ? lookup_result : NULL, .ctx = c};
    c->user_log = cfg->core.log;
    if (cfg->progress)
        c->cfg.core.log = (zd_log){log_beside_progress, c};
    c->drop_limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    c->fetch_limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    c->read_limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    c->pids = calloc(cfg->core.n_local ? cfg->core.n_local : 1, sizeof *c->pids);
    c->exit_how = calloc(cfg->core.n_local ? cfg->core.n_local : 1, sizeof *c->exit_how);
    c->exit_at = calloc(cfg->core.n_local ? cfg->core.n_local : 1, sizeof *c->exit_at);
    c->exit_started = calloc(cfg->core.n_local ? cfg->core.n_local : 1, sizeof *c->exit_started);
    c->out = zd_wire_buf_new();
    c->tx = zd_wire_batch_new();
    c->tx_slot = -1;
    c->dec = zd_wire_decoder_new();
    int rc = ZDAG_ENOMEM;
    if (!c->pids || !c->exit_how || !c->exit_at || !c->exit_started || !c->out || !c->tx ||
        !c->dec || (rc = load_cached(c)) < 0)
        goto out_fail;
    rc = ZDAG_ENOMEM;
    for (uint32_t s = 0; s < (cfg->core.n_started ? cfg->core.n_started : cfg->core.n_local); s++)
        c->pids[s] = cfg->local_pids[s];
    if (cfg->trace_path && !(c->trace = zd_trace_new()))
        goto out_fail;
    zd_core_cfg k = c->cfg.core;
    k.can_spawn = cfg->spawn != NULL;
    k.listen = cfg->listen != NULL;
    k.progress_s = cfg->progress ? PROGRESS_TICK_S : 0;
    k.cached = c->cached ? cfg->cached : NULL;
    k.up_to_date = c->cached ? cfg->up_to_date : NULL;
    k.cached_results = (const char *const *)c->cached;
    k.cached_lens = c->cached_lens;
    k.cached_hashes = c->cached_hashes;
    k.cached_sizes = c->cached_sizes;
    k.store_dir = cfg->store_dir;
    k.plugins = (const char *const *)gs->plugins;
    k.n_plugins = (uint32_t)gs->n_plugins;
    k.trace = c->trace;
    k.growth = &c->growth;
    if ((rc = zd_core_new(&k, g, &c->core)) < 0)
        goto out_fail;
    rc = ZDAG_ENOMEM;
    zd_core_counts counts;
    zd_core_counts_get(c->core, &counts);
    if (cfg->progress && !(c->progress = zd_progress_new(stdout, cfg->progress_tty, counts.active)))
        goto out_fail;
    if (cfg->auto_slurm && (rc = zd_autow_new(cfg->auto_prov, cfg->auto_slurm, g, c->core,
                                              &c->cfg.core.log, &c->autow)) < 0)
        goto out_fail;
    c->cfg.local = cfg->local;
    *out = c;
    return 0;
out_fail:
    zd_coord_free(&c);
    return rc;
}

static void close_remote(zd_coord *c) {
    zd_admission_free(&c->admission);
    if (c->remote)
        zmq_close(c->remote);
    c->remote = NULL;
    zd_zap_stop(&c->zap);
    zd_log_relay_free(&c->zap_log);
}

void zd_coord_free(zd_coord **cp) {
    if (!cp || !*cp)
        return;
    zd_coord *c = *cp;
    zd_autow_free(&c->autow);
    zd_core_free(&c->core);
    zd_trace_free(&c->trace);
    zd_progress_free(&c->progress);
    free(c->pids);
    free(c->cached);
    free(c->cached_lens);
    free(c->cached_hashes);
    free(c->cached_sizes);
    free(c->moved);
    free(c->ext_hash);
    for (size_t i = 0; i < c->n_uploads; i++)
        zd_store_writer_free(&c->uploads[i].w);
    free(c->uploads);
    free(c->chunk_buf);
    free(c->fetches);
    zd_wire_buf_free(&c->out);
    zd_wire_batch_free(&c->tx);
    free(c->acts);
    free(c->exit_how);
    free(c->exit_at);
    free(c->exit_started);
    zd_wire_decoder_free(&c->dec);
    close_remote(c);
    zd_coord_local_free(&c->cfg.local); /* never run */
    close_status(c);
    zd_metrics_stop(&c->metrics);
    if (c->router)
        zmq_close(c->router);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    free(c);
    *cp = NULL;
}

/* ---- Sockets ------------------------------------------------------------------------------ */

static int set_router_opts(void *s, int linger) {
    int mandatory = 1;
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    return zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
                   zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) < 0 ||
                   zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0
               ? ZDAG_EZMQ
               : 0;
}

struct zd_coord_local {
    void *zctx;   /* ZeroMQ context */
    void *router; /* ROUTER bound at the endpoint */
};

void zd_coord_local_free(zd_coord_local **lp) {
    if (!lp || !*lp)
        return;
    if ((*lp)->router)
        zmq_close((*lp)->router);
    if ((*lp)->zctx)
        zmq_ctx_term((*lp)->zctx);
    free(*lp);
    *lp = NULL;
}

int zd_coord_local_bind(const char *endpoint, const zd_log *log, zd_coord_local **out) {
    zd_coord_local *l = calloc(1, sizeof *l);
    if (!l)
        return ZDAG_ENOMEM;
    l->zctx = zmq_ctx_new();
    l->router = l->zctx ? zmq_socket(l->zctx, ZMQ_ROUTER) : NULL;
    if (!l->router || set_router_opts(l->router, 0) < 0 || zmq_bind(l->router, endpoint) < 0) {
        zd_logf(log, ZDAG_LOG_ERROR, "cannot listen on %s: %s", endpoint, zmq_strerror(errno));
        zd_coord_local_free(&l);
        return ZDAG_EZMQ;
    }
    *out = l;
    return 0;
}

/* The local endpoint: the one bound ahead (taken over), else bound now. */
static int open_local(zd_coord *c) {
    zd_coord_local *l = c->cfg.local;
    c->cfg.local = NULL;
    int rc = l ? 0 : zd_coord_local_bind(c->cfg.endpoint, &c->cfg.core.log, &l);
    if (rc < 0)
        return rc;
    c->zctx = l->zctx;
    c->router = l->router;
    free(l);
    return 0;
}

/* The status socket (README "zdag status"): ipc in the state directory, this user's only. A run
 * without it still runs (logged). */
static void open_status(zd_coord *c) {
    char endpoint[4200];
    if (!c->cfg.status_path)
        return;
    if (strlen(c->cfg.status_path) >= ZD_STATUS_MAX_PATH) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING,
                "no status socket: the path %s is longer than an ipc socket's %d bytes",
                c->cfg.status_path, ZD_STATUS_MAX_PATH - 1);
        return;
    }
    snprintf(endpoint, sizeof endpoint, "ipc://%s", c->cfg.status_path);
    int linger = 0;
    mode_t old = umask(077); /* the socket file is created 0600 */
    c->status = zmq_socket(c->zctx, ZMQ_REP);
    bool ok = c->status && zmq_setsockopt(c->status, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
              zmq_bind(c->status, endpoint) == 0;
    umask(old);
    if (!ok) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "no status socket at %s: %s",
                c->cfg.status_path, zmq_strerror(zmq_errno()));
        if (c->status)
            zmq_close(c->status);
        c->status = NULL;
    }
}

#define METRICS_EVERY_S 0.5 /* the --metrics snapshot is this fresh at least */

/* Publishes the --metrics snapshot when the last is older than METRICS_EVERY_S (or `now`). */
static void publish_metrics(zd_coord *c, bool now) {
    if (!c->metrics || (!now && now_s(c) - c->metrics_at < METRICS_EVERY_S))
        return;
    char *text = NULL;
    size_t len = 0;
    c->metrics_at = now_s(c);
    if (zd_status_metrics(c->g, c->core, c->metrics_at, &text, &len) == 0)
        zd_metrics_publish(c->metrics, text, len);
    free(text);
}

/* Closes the status socket and removes its file (libzmq leaves it). */
static void close_status(zd_coord *c) {
    if (!c->status)
        return;
    zmq_close(c->status);
    c->status = NULL;
    unlink(c->cfg.status_path);
}

/* What `zdag status` shows now (caller frees; NULL when out of memory). */
static char *status_text(zd_coord *c, size_t *len) {
    zd_core_counts k;
    zd_core_counts_get(c->core, &k);
    double eta = NAN;
    if (c->progress) {
        zd_progress_set_total(c->progress, k.active);
        eta = zd_progress_eta(c->progress, finished_nodes(c, k.done), k.running);
    }
    char *text = NULL;
    if (zd_status_json(c->g, c->core, zd_autow_prov(c->autow), now_s(c), eta, c->cfg.pipeline,
                       &text, len) < 0) {
        text = strdup("{\"error\": \"out of memory\"}\n");
        *len = text ? strlen(text) : 0;
    }
    return text;
}

/* Answers each status request waiting (a REP socket takes one at a time). */
static void answer_status(zd_coord *c) {
    char req[64];
    while (zmq_recv(c->status, req, sizeof req, ZMQ_DONTWAIT) >= 0) {
        size_t len = 0;
        char *text = status_text(c, &len);
        (void)zmq_send(c->status, text ? text : "", len, ZMQ_DONTWAIT);
        free(text);
    }
}

static int open_remote(zd_coord *c) {
    c->remote = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (!c->remote || set_router_opts(c->remote, REMOTE_LINGER_MS) < 0)
        return ZDAG_EZMQ;
    if (!c->cfg.insecure) {
        /* The handler runs in its own thread: its messages reach our sink through a relay. */
        if (!(c->zap_log = zd_log_relay_new(&c->cfg.core.log)))
            return ZDAG_ENOMEM;
        c->zap_sink = zd_log_relay_sink(c->zap_log);
        zd_zap_opts zo = {.allow_null = false, .log = &c->zap_sink};
        if (!c->cfg.curve_secret || zd_zap_start(c->zctx, c->cfg.authorized, &zo, &c->zap) < 0 ||
            zd_curve_server(c->remote, c->cfg.curve_secret) < 0) {
            zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot set up CurveZMQ on %s",
                    c->cfg.listen);
            return ZDAG_EZMQ;
        }
    }
    /* A peer that never completes its handshake is dropped, and no more connections are kept
     * open than the descriptors left after the run's own (local executors first). */
    if (zd_admission_harden(c->remote) < 0 || zmq_bind(c->remote, c->cfg.listen) < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot listen on %s: %s", c->cfg.listen,
                zmq_strerror(errno));
        return ZDAG_EZMQ;
    }
    size_t spare = zd_rlimit_spare_fds(c->cfg.core.n_local, true) / 2;
    unsigned max_open = spare < 2 ? 2 : spare > 100000 ? 100000 : (unsigned)spare;
    if (zd_admission_new(c->zctx, c->remote, c->cfg.listen, max_open, &c->cfg.core.log,
                         &c->admission) < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot watch the connections on %s",
                c->cfg.listen);
        return ZDAG_EZMQ;
    }
    zd_admission_set_curve(c->admission, !c->cfg.insecure);
    zd_logf(&c->cfg.core.log, ZDAG_LOG_INFO, "accepting workers on %s%s", c->cfg.listen,
            c->cfg.insecure ? " WITHOUT encryption or authentication (--insecure)" : "");
    return 0;
}

static void *sock_of(const zd_coord *c, zd_sock_id id) {
    return id == ZD_SOCK_REMOTE ? c->remote : c->router;
}

/* Sends the frame in c->out to rid on sock; -1 with errno when it cannot be delivered. */
static int send_frame(void *sock, const unsigned char *rid, size_t rid_len, const zd_wire_buf *b) {
    if (!sock || zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(sock, zd_wire_buf_data(b), zd_wire_buf_size(b), ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static void send_to_agent(zd_coord *c, uint32_t agent) {
    const unsigned char *rid;
    size_t rid_len;
    /* A vanished agent is not an error here: its silence will tell. */
    if (zd_core_agent_peer(c->core, agent, &rid, &rid_len))
        send_frame(c->remote, rid, rid_len, c->out);
}

/* ---- Actions ------------------------------------------------------------------------------ */

/* Logs the last `n` lines of the file at path, each as "  | LINE". */
static void log_tail(const zd_coord *c, const char *path, int n) {
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[16384];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    size_t len = size >= 0 && fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, sizeof buf - 1, f) : 0;
    fclose(f);
    buf[len] = '\0';
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    char *start = buf + len;
    for (int lines = 0; start > buf && lines < n; start--)
        if (start[-1] == '\n' && ++lines == n)
            break;
    if (from > 0 && start == buf) /* a cut first line: skip it */
        start = strchr(buf, '\n') ? strchr(buf, '\n') + 1 : buf + len;
    for (char *line = start; *line;) {
        char *end = strchr(line, '\n');
        int l = end ? (int)(end - line) : (int)strlen(line);
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "  | %.*s", l, line);
        line = end ? end + 1 : line + l;
    }
}

/* Says at once why a node failed, with its log's path and last lines (as ninja shows a failing
 * command's output), on a line of its own. */
static void report_failure(zd_coord *c, uint32_t index, const zd_node_outcome *o) {
    char path[4096];
    zd_core_log_path(c->core, index, path, sizeof path);
    if (c->progress)
        zd_progress_clear(c->progress);
    if (o->is_template) { /* it never ran: no log */
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "node \"%s\" failed: %s",
                zd_graph_node(c->g, index)->name, o->error ? o->error : "unknown error");
        return;
    }
    zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "node \"%s\" failed: %s (log: %s)",
            zd_graph_node(c->g, index)->name, o->error ? o->error : "unknown error", path);
    log_tail(c, path, FAILURE_TAIL_LINES);
}

/* make's .DELETE_ON_ERROR: a failed node's declared outputs are removed (unless `keep`), so that
 * a half-written file never passes for an up-to-date one. */
static void remove_outputs(const zd_coord *c, uint32_t index) {
    const zd_node_files *f = zd_graph_node(c->g, index)->files;
    for (uint32_t k = 0; f && !f->keep && k < f->n_outputs; k++)
        if (unlink(f->outputs[k]) == 0)
            zd_logf(&c->cfg.core.log, ZDAG_LOG_INFO, "removed %s, an output of failed node \"%s\"",
                    f->outputs[k], zd_graph_node(c->g, index)->name);
}

/* Records a node's final outcome in the journal (made durable by the next sync), after telling
 * of a failure (and removing its outputs) and calling the run's `ended` hook. */
static void journal_outcome(zd_coord *c, uint32_t index) {
    zd_node_outcome o;
    zd_core_outcome(c->core, index, &o);
    if (o.state == ZD_NS_FAILED) {
        report_failure(c, index, &o);
        if (!o.is_template) /* its outputs are its instances', as written */
            remove_outputs(c, index);
    }
    if (c->progress && o.start_s >= 0 && o.end_s >= o.start_s)
        zd_progress_node_done(c->progress, o.end_s - o.start_s);
    if (c->cfg.ended)
        c->cfg.ended(c->cfg.ended_ctx, c, index);
    if (!c->cfg.journal)
        return;
    const zd_node *node = zd_graph_node(c->g, index);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    bool ok = o.state == ZD_NS_SUCCEEDED;
    zd_journal_rec rec = {.name = node->name,
                          .status = ok ? ZD_JOURNAL_SUCCEEDED : ZD_JOURNAL_FAILED,
                          .result = ok ? o.output : NULL,
                          .result_len = ok ? o.output_len : 0,
                          .result_is_msgpack = o.output_is_msgpack,
                          .result_in_store = ok && o.output_hash,
                          .result_size = ok ? o.output_size : 0,
                          .duration_s =
                              o.start_s >= 0 && o.end_s >= o.start_s ? o.end_s - o.start_s : 0,
                          .attempts = o.attempts,
                          .run_id = c->cfg.core.run_id,
                          .finished_at = (double)now.tv_sec + (double)now.tv_nsec / 1e9};
    memcpy(rec.defhash, defhash_of(c, index), sizeof rec.defhash);
    if (rec.result_in_store)
        memcpy(rec.result_hash, o.output_hash, sizeof rec.result_hash);
    inputs_hash(c, index, rec.inputs_hash);
    rec.has_inputs = true;
    if (zd_journal_append(c->cfg.journal, &rec) < 0)
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot journal \"%s\": %s", node->name,
                zd_journal_error(c->cfg.journal));
}

/* Makes the journaled outcomes durable (group commit). */
static void sync_journal(zd_coord *c) {
    if (!c->cfg.journal || zd_journal_pending(c->cfg.journal) == 0 || c->journal_failed)
        return;
    /* While nodes run, fdatasync is the journal thread's; the last sync waits for it: the run
     * ends (report, exit status) only once every outcome is durable. */
    int rc = zd_core_finished(c->core) ? zd_journal_sync(c->cfg.journal)
                                       : zd_journal_sync_async(c->cfg.journal);
    if (rc < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR,
                "cannot write the journal: %s; --resume will run these nodes again",
                zd_journal_error(c->cfg.journal));
        c->journal_failed = true;
    }
}

/* The nodes that came to their end themselves. After an interrupt the core skips every node
 * left ("interrupted"): counting those would jump the line to N/N. */
static uint32_t finished_nodes(const zd_coord *c, uint32_t done) {
    if (!zd_core_interrupted(c->core, NULL))
        return done;
    uint32_t n = 0;
    for (uint32_t i = 0; i < zd_graph_size(c->g); i++) {
        zd_node_outcome o;
        zd_core_outcome(c->core, i, &o);
        bool by_interrupt = o.error && strcmp(o.error, "interrupted") == 0;
        n += o.state == ZD_NS_SUCCEEDED || o.state == ZD_NS_FAILED || o.state == ZD_NS_CACHED ||
             (o.state == ZD_NS_SKIPPED && !by_interrupt);
    }
    return n;
}

#define RUNNING_NAMED 3 /* the progress line names the running nodes when no more run */

static void draw_progress(zd_coord *c, bool final) {
    if (!c->progress)
        return;
    zd_core_counts k;
    zd_core_counts_get(c->core, &k);
    zd_progress_set_total(c->progress, k.active); /* run-time fan-outs add nodes */
    char names[ZD_PROGRESS_NAMES_MAX] = "";
    uint32_t running[RUNNING_NAMED + 1],
        n = (uint32_t)zd_core_running_nodes(c->core, running, RUNNING_NAMED + 1);
    for (uint32_t i = 0; i < n && n <= RUNNING_NAMED; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                 zd_graph_node(c->g, running[i])->name);
    }
    zd_progress_set_running(c->progress, n <= RUNNING_NAMED ? names : NULL);
    k.done = finished_nodes(c, k.done);
    if (final)
        zd_progress_finish(c->progress, now_s(c), k.done, k.running, k.failed);
    else
        zd_progress_update(c->progress, now_s(c), k.done, k.running, k.failed);
}

/* A reaped local executor's exit is told to the core once its connection is closed, so that every
 * RESULT it sent before it died (in its sockets and ours) has been read first: a task it finished
 * is never run again. Sending to it fails then (ZMQ_ROUTER_MANDATORY); after EXIT_GRACE_S the
 * exit is told anyway. */
static void exit_now(zd_coord *c, uint32_t slot) {
    char how[sizeof c->exit_how[0]];
    memcpy(how, c->exit_how[slot], sizeof how);
    c->exit_how[slot][0] = '\0';
    zd_core_on_exit_started(c->core, now_s(c), slot, how, c->exit_started[slot]);
}

static void settle_exits(zd_coord *c) {
    for (uint32_t s = 0; s < c->cfg.core.n_local; s++) {
        if (!c->exit_how[s][0])
            continue;
        zd_sock_id sock;
        const unsigned char *rid;
        size_t rid_len;
        bool gone = !zd_core_slot_peer(c->core, s, &sock, &rid, &rid_len) ||
                    now_s(c) - c->exit_at[s] >= EXIT_GRACE_S;
        if (!gone && zmq_send(c->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            gone = errno == EHOSTUNREACH; /* its connection is closed (EAGAIN: closing) */
        else if (!gone)
            (void)zmq_send(c->router, "", 0, ZMQ_DONTWAIT); /* an empty frame to a dead process */
        if (gone) {
            exit_now(c, s);
            drain(c);
        }
    }
}

static bool exit_waiting(const zd_coord *c) {
    for (uint32_t s = 0; s < c->cfg.core.n_local; s++)
        if (c->exit_how[s][0])
            return true;
    return false;
}

/* Sending to `slot` failed: its executor is gone. */
static void unreachable(zd_coord *c, uint32_t slot) {
    if (slot < c->cfg.core.n_local && c->exit_how[slot][0])
        exit_now(c, slot);
    else
        zd_core_on_unreachable(c->core, now_s(c), slot);
}

/* Sends the TASKs waiting for c->tx_slot, as one BATCH, to the executor they were made for: when
 * that slot has another executor by now, they are not its (the core took them back). */
static void flush_tasks(zd_coord *c) {
    if (zd_wire_batch_count(c->tx) == 0) {
        c->tx_slot = -1;
        return;
    }
    uint32_t slot = (uint32_t)c->tx_slot;
    zd_sock_id sock;
    const unsigned char *rid;
    size_t rid_len, len;
    bool same = zd_core_slot_peer(c->core, slot, &sock, &rid, &rid_len) && sock == c->tx_sock &&
                rid_len == c->tx_rid_len && memcmp(rid, c->tx_rid, rid_len) == 0;
    const char *frame = zd_wire_batch_frame(c->tx, &len);
    void *s = sock_of(c, c->tx_sock);
    bool sent = same && s &&
                zmq_send(s, c->tx_rid, c->tx_rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
                zmq_send(s, frame, len, ZMQ_DONTWAIT) >= 0;
    zd_wire_batch_clear(c->tx);
    c->tx_slot = -1;
    if (same && !sent)
        unreachable(c, slot);
}

/* Queues a TASK for its slot's executor: TASKs to one executor in a row share a frame. */
static void send_task(zd_coord *c, const zd_action *a) {
    zd_msg_task t;
    zd_sock_id sock;
    const unsigned char *rid;
    size_t rid_len;
    int rc = zd_core_task(c->core, a->node, a->slot, &t);
    if (rc == 0)
        rc = zd_wire_encode_task(c->out, &t);
    if (rc == 0 && !zd_core_slot_peer(c->core, a->slot, &sock, &rid, &rid_len)) {
        unreachable(c, a->slot);
        return;
    }
    /* Another slot, or the same slot with another executor by now (the TASKs waiting were the
     * old one's: flush_tasks() drops them), starts a new batch. */
    if (rc == 0 && (c->tx_slot != (int64_t)a->slot || sock != c->tx_sock ||
                    rid_len != c->tx_rid_len || memcmp(rid, c->tx_rid, rid_len) != 0))
        flush_tasks(c);
    if (rc == 0 && c->tx_slot < 0) {
        c->tx_slot = a->slot;
        c->tx_sock = sock;
        c->tx_rid_len = rid_len;
        memcpy(c->tx_rid, rid, rid_len);
    }
    if (rc == 0)
        rc = zd_wire_batch_add(c->tx, c->out);
    if (rc < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot send node \"%s\" to executor %u: %s",
                zd_graph_node(c->g, a->node)->name, a->slot, zdag_strerror(rc));
        unreachable(c, a->slot);
        return;
    }
    if (zd_wire_batch_count(c->tx) >= TX_MAX || zd_wire_batch_size(c->tx) >= TX_MAX_BYTES)
        flush_tasks(c);
}

static void spawn(zd_coord *c, uint32_t slot) {
    pid_t pid = 0;
    bool ok = c->cfg.spawn && c->cfg.spawn(c->cfg.spawn_ctx, slot, &pid) == 0;
    if (ok)
        c->pids[slot] = pid;
    else
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot start a new executor: %s",
                strerror(errno));
    zd_core_on_spawned(c->core, now_s(c), slot, ok);
}

/* Carries out every action the core asked for; acting may raise events, whose actions follow. */
static void drain(zd_coord *c) {
    for (;;) {
        size_t n;
        const zd_action *v = zd_core_actions(c->core, &n);
        if (n == 0) {
            /* TASKs go out once the actions are done, unless the read batch goes on. */
            if (c->tx_hold || zd_wire_batch_count(c->tx) == 0)
                return;
            flush_tasks(c);
            continue;
        }
        /* The list is the core's until the next event: copy it, events may follow (and this
         * loop is not re-entered: acting calls events, never drain()). */
        if (n > c->acts_cap) {
            zd_action *bigger = realloc(c->acts, n * sizeof *bigger);
            if (!bigger) {
                zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "out of memory for %zu actions", n);
                return;
            }
            c->acts = bigger;
            c->acts_cap = n;
        }
        zd_action *acts = c->acts;
        memcpy(acts, v, n * sizeof *acts);
        for (size_t i = 0; i < n; i++) {
            const zd_action *a = &acts[i];
            switch (a->kind) {
            case ZD_ACT_TASK:
                send_task(c, a);
                break;
            case ZD_ACT_DROP: {
                flush_tasks(c); /* the TASK goes before its DROP */
                zd_sock_id sock;
                const unsigned char *rid;
                size_t rid_len;
                if (zd_wire_encode_drop(c->out, a->token) == 0 &&
                    zd_core_slot_peer(c->core, a->slot, &sock, &rid, &rid_len))
                    (void)send_frame(sock_of(c, sock), rid, rid_len, c->out);
                break;
            }
            case ZD_ACT_KILL:
                if (a->slot < c->cfg.core.n_local && c->pids[a->slot] > 0)
                    kill(c->pids[a->slot], a->sig);
                break;
            case ZD_ACT_CANCEL: {
                zd_msg_cancel m = {a->agent_slot, a->token, {a->why, a->why ? strlen(a->why) : 0}};
                if (zd_wire_encode_cancel(c->out, &m) == 0)
                    send_to_agent(c, a->agent);
                break;
            }
            case ZD_ACT_SPAWN:
                spawn(c, a->slot);
                break;
            case ZD_ACT_WELCOME: {
                zd_msg_welcome w;
                zd_bytes plugins[ZD_WIRE_MAX_PLUGINS];
                zd_core_welcome(c->core, a->agent, &w, plugins);
                if (zd_wire_encode_welcome(c->out, &w) == 0)
                    send_to_agent(c, a->agent);
                break;
            }
            case ZD_ACT_BEAT:
                if (zd_wire_encode_beat(c->out, a->token) == 0)
                    send_to_agent(c, a->agent);
                break;
            case ZD_ACT_BYE:
                if (zd_wire_encode_bye(c->out, (zd_bye_reason)a->reason) == 0)
                    send_to_agent(c, a->agent);
                break;
            case ZD_ACT_OUTCOME:
                journal_outcome(c, a->node);
                break;
            case ZD_ACT_SYNC:
                sync_journal(c);
                break;
            case ZD_ACT_DRAW:
                draw_progress(c, false);
                break;
            }
        }
    }
}

/* ---- Events ------------------------------------------------------------------------------- */

/* Writes a log a remote executor sent back to STATE_DIR/logs/NODE.log. */
static void write_shipped_log(zd_coord *c, uint32_t index, zd_bytes log) {
    zd_node_outcome o;
    zd_core_outcome(c->core, index, &o);
    char path[4096];
    zd_core_log_path(c->core, index, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (o.attempts == 1 ? O_TRUNC : O_APPEND),
                  ZD_STATE_FILE_MODE);
    FILE *f = fd >= 0 ? fdopen(fd, o.attempts == 1 ? "w" : "a") : NULL;
    if (fd >= 0 && fchmod(fd, ZD_STATE_FILE_MODE) < 0) /* an older 0644 log */
        zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "cannot restrict %s: %s", path,
                strerror(errno));
    if (!f) {
        if (fd >= 0)
            close(fd);
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot write %s: %s", path, strerror(errno));
        return;
    }
    if (o.attempts > 1)
        fprintf(f, "--- zdag: attempt %u ---\n", o.attempts);
    fwrite(log.ptr, 1, log.len, f);
    fclose(f);
}

/* ---- Results on the wire ----------------------------------------------------------------- */

/* A CHUNK or FETCH that cannot be taken: logged one line a second, the rest counted. */
static void dropped(zd_coord *c, zd_log_limit *limit, const char *what, uint32_t node) {
    unsigned held = 0;
    c->n_dropped++;
    if (!zd_log_limit_ok(limit, now_s(c), 1.0, &held))
        return;
    char more[64] = "";
    if (held)
        snprintf(more, sizeof more, "; %u more dropped since", held);
    zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "dropped %s (node %u)%s", what, node, more);
}

static void reply(zd_coord *c, const zd_peer *peer) {
    (void)send_frame(sock_of(c, peer->sock), peer->rid, peer->rid_len, c->out);
}

static upload *find_upload(zd_coord *c, uint32_t node, uint64_t token) {
    for (size_t i = 0; i < c->n_uploads; i++)
        if (c->uploads[i].w && c->uploads[i].node == node && c->uploads[i].token == token)
            return &c->uploads[i];
    return NULL;
}

static upload *new_upload(zd_coord *c, uint32_t node, uint64_t token) {
    upload *u = NULL;
    for (size_t i = 0; !u && i < c->n_uploads; i++)
        if (!c->uploads[i].w)
            u = &c->uploads[i];
    if (!u) {
        upload *v = realloc(c->uploads, (c->n_uploads + 1) * sizeof *v);
        if (!v)
            return NULL;
        c->uploads = v;
        u = &c->uploads[c->n_uploads++];
    }
    *u = (upload){.node = node, .token = token};
    if (!(u->w = zd_store_writer_new(c->cfg.store_dir, zd_core_max_result(c->core, node))))
        return NULL;
    return u;
}

/* Removes the uploads of attempts that are over (lost, timed out, revoked): their partial
 * files go. */
static void sweep_uploads(zd_coord *c) {
    for (size_t i = 0; i < c->n_uploads; i++)
        if (c->uploads[i].w &&
            !zd_core_attempt_live(c->core, c->uploads[i].node, c->uploads[i].token))
            zd_store_writer_free(&c->uploads[i].w);
}

/* A CHUNK of a remote executor's result: appended to its upload if it is the running attempt's
 * and comes in order, then ACKed. A chunk that cannot be taken (over max_result, disk full, out
 * of memory, out of order) is ACKed too, its upload marked failed, so that the executor goes on
 * to its RESULT, which then fails: an executor never waits for an ACK that does not come. */
static void on_chunk(zd_coord *c, const zd_peer *peer, const zd_msg_chunk *m) {
    if (peer->sock != ZD_SOCK_REMOTE ||
        !zd_core_attempt_is_peer(c->core, peer, m->node, m->token)) {
        dropped(c, &c->drop_limit, "a result chunk of a stale or unknown attempt", m->node);
        return;
    }
    upload *u = find_upload(c, m->node, m->token);
    if (!u && m->offset == 0 && !(u = new_upload(c, m->node, m->token)))
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "out of memory for a result upload");
    uint64_t next = m->offset + m->data.len;
    if (u && m->offset == u->next) {
        int rc = u->error ? 0 : zd_store_writer_write(u->w, m->data.ptr, m->data.len);
        if (rc < 0)
            u->error = rc;
        u->next = next;
    } else {
        /* Without an upload the RESULT fails as damaged; with one, it is marked so. */
        dropped(c, &c->drop_limit, "a result chunk out of order", m->node);
        if (u && !u->error)
            u->error = ZDAG_EIO;
    }
    zd_msg_ack a = {.token = m->token, .offset = next};
    if (zd_wire_encode_ack(c->out, &a) == 0)
        reply(c, peer);
}

/* Checks a stored result at its RESULT: a remote one's upload must be whole, of the size and
 * hash announced (then it is renamed into the store); a local executor wrote the file itself.
 * False with the reason in why. */
static bool stored_result_ok(zd_coord *c, const zd_peer *peer, const zd_msg_result *r, char *why,
                             size_t why_size) {
    if (peer->sock == ZD_SOCK_LOCAL) {
        if (zd_store_verify(c->cfg.store_dir, r->hash, r->size, false))
            return true;
        snprintf(why, why_size, "its result is missing from %s", c->cfg.store_dir);
        return false;
    }
    upload *u = find_upload(c, r->node, r->token);
    bool stored = false;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size = 0;
    const char *inline_bytes;
    int rc = !u ? ZDAG_EIO : u->error ? u->error : 0;
    if (rc == 0 && u->next != r->size)
        rc = ZDAG_EIO;
    if (rc == 0) {
        /* A file that is not what was announced never gets a name in the store. */
        zd_store_writer_expect(u->w, r->hash, r->size);
        rc = zd_store_writer_finish(u->w, &stored, hash, &size, &inline_bytes);
    }
    if (rc == ZDAG_ETOOBIG) {
        char limit[32];
        zd_size_format(zd_core_max_result(c->core, r->node), limit, sizeof limit);
        snprintf(why, why_size, "result is over max_result (%s)", limit);
        return false;
    }
    if (rc == ZDAG_ESYS) {
        snprintf(why, why_size, "cannot store its result in %s: %s", c->cfg.store_dir,
                 strerror(zd_store_writer_errno(u->w)));
        return false;
    }
    if (rc < 0 || !stored || size != r->size || memcmp(hash, r->hash, ZD_STORE_HASH) != 0) {
        snprintf(why, why_size, "its result arrived damaged (%llu of %llu bytes, or another hash)",
                 (unsigned long long)(u ? u->next : 0), (unsigned long long)r->size);
        return false;
    }
    return true;
}

/* Whether every output node declares exists, as the coordinator sees the paths (README "Files
 * that are up to date"); writes the first missing one into why. */
static bool outputs_made(const zd_coord *c, uint32_t node, char *why, size_t size) {
    const zd_node_files *f = zd_graph_node(c->g, node)->files;
    struct stat st;
    for (uint32_t k = 0; f && k < f->n_outputs; k++)
        if (stat(f->outputs[k], &st) < 0) {
            snprintf(why, size, "declared output %s was not created", f->outputs[k]);
            return false;
        }
    return true;
}

/* A RESULT: a stored result is checked first, then the node's declared outputs; a bad one makes
 * the attempt fail. */
static void on_result(zd_coord *c, const zd_peer *peer, const zd_msg_result *m) {
    zd_msg_result r = *m;
    char why[4096 + 64];
    if (r.ok && zd_core_attempt_is_peer(c->core, peer, r.node, r.token) &&
        ((r.hash && !stored_result_ok(c, peer, &r, why, sizeof why)) ||
         !outputs_made(c, r.node, why, sizeof why))) {
        r.ok = false;
        r.error = (zd_bytes){why, strlen(why)};
        r.hash = NULL;
        r.size = 0;
        r.output = (zd_bytes){"", 0};
    }
    /* Only the attempt's own executor ends its upload: another peer's RESULT is dropped. */
    upload *u = zd_core_attempt_is_peer(c->core, peer, r.node, r.token)
                    ? find_upload(c, r.node, r.token)
                    : NULL;
    if (u)
        zd_store_writer_free(&u->w);
    if (zd_core_attempt_is_peer(c->core, peer, r.node, r.token))
        fetch_forget(c, peer);
    if (zd_core_on_result(c->core, now_s(c), peer, &r) && peer->sock == ZD_SOCK_REMOTE && r.log.ptr)
        write_shipped_log(c, r.node, r.log);
}

static bool fetch_is_peer(const fetch_state *f, const zd_peer *peer) {
    return f->rid_len && f->sock == peer->sock && f->rid_len == peer->rid_len &&
           memcmp(f->rid, peer->rid, peer->rid_len) == 0;
}

/* The peer's fetch state for hash, made (next 0) when there is none; NULL without memory. A
 * free entry is taken first, then one whose peer may no longer fetch its dependency (its
 * attempt is over); when every entry is live the table doubles (live entries are bounded by
 * the running attempts' dependencies). */
static fetch_state *fetch_state_of(zd_coord *c, const zd_peer *peer, const uint8_t *hash,
                                   uint64_t token) {
    fetch_state *spare = NULL;
    for (size_t i = 0; i < c->n_fetches; i++) {
        fetch_state *f = &c->fetches[i];
        if (fetch_is_peer(f, peer) && memcmp(f->hash, hash, ZD_STORE_HASH) == 0) {
            if (f->token != token) { /* left by an earlier attempt that sent no RESULT */
                f->token = token;
                f->next = 0;
            }
            return f;
        }
        if (!spare && !f->rid_len)
            spare = f;
    }
    for (size_t i = 0; !spare && i < c->n_fetches; i++) {
        fetch_state *f = &c->fetches[i];
        zd_peer p = {.sock = f->sock, .rid = f->rid, .rid_len = f->rid_len, .user_id = ""};
        uint64_t size;
        uint64_t live = 0;
        if (!zd_core_may_fetch(c->core, &p, f->hash, &size, &live) || live != f->token)
            spare = f;
    }
    if (!spare) {
        size_t n = c->n_fetches ? 2 * c->n_fetches : FETCH_STATES;
        fetch_state *v = realloc(c->fetches, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + c->n_fetches, 0, (n - c->n_fetches) * sizeof *v);
        spare = v + c->n_fetches;
        c->fetches = v;
        c->n_fetches = n;
    }
    spare->sock = peer->sock;
    memcpy(spare->rid, peer->rid, peer->rid_len);
    spare->rid_len = peer->rid_len;
    memcpy(spare->hash, hash, ZD_STORE_HASH);
    spare->token = token;
    spare->next = 0;
    return spare;
}

/* The peer's attempt is over (its RESULT): a later one fetches from offset 0 again. */
static void fetch_forget(zd_coord *c, const zd_peer *peer) {
    for (size_t i = 0; i < c->n_fetches; i++)
        if (fetch_is_peer(&c->fetches[i], peer))
            c->fetches[i].rid_len = 0;
}

/* A FETCH of a stored dependency: answered with DATA from the store file (read per request,
 * so memory stays at one chunk), or DATA without bytes when the peer may not have it. Only an
 * offset from the peer's next one on, within one window, is answered (each once): repeated,
 * old or far-ahead FETCHes are dropped. */
static void on_fetch(zd_coord *c, const zd_peer *peer, const zd_msg_fetch *m) {
    uint64_t size = 0, token = 0;
    zd_msg_data d = {.hash = m->hash, .offset = m->offset, .data = {NULL, 0}};
    fetch_state *f = NULL;
    if (!zd_core_may_fetch(c->core, peer, m->hash, &size, &token) || m->offset >= size) {
        dropped(c, &c->fetch_limit, "a fetch of a result the executor does not need", 0);
    } else if (!(f = fetch_state_of(c, peer, m->hash, token))) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "out of memory for a fetch");
    } else if (m->offset < f->next || m->offset - f->next >= ZD_WIRE_WINDOW) {
        dropped(c, &c->fetch_limit, "a fetch repeated or out of its window", 0);
        return;
    } else if (c->chunk_buf || (c->chunk_buf = malloc(ZD_WIRE_CHUNK))) {
        char path[ZD_STORE_PATH] = "";
        size_t want = size - m->offset < ZD_WIRE_CHUNK ? (size_t)(size - m->offset) : ZD_WIRE_CHUNK;
        bool named = zd_store_path(c->cfg.store_dir, m->hash, path, sizeof path);
        int fd = named ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n = fd >= 0 ? pread(fd, c->chunk_buf, want, (off_t)m->offset) : -1;
        int err = !named ? ENAMETOOLONG : errno;
        if (fd >= 0)
            close(fd);
        unsigned held = 0;
        if (n == (ssize_t)want) {
            d.data = (zd_bytes){c->chunk_buf, want};
            f->next = m->offset + want;
            c->fetch_sent += want;
        } else if (zd_log_limit_ok(&c->read_limit, now_s(c), 1.0, &held)) {
            zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot read the stored result %s: %s%s",
                    named ? path : "(its path is too long)",
                    n < 0 ? strerror(err) : "the file is short",
                    held ? " (and more such errors since)" : "");
        }
    }
    if (zd_wire_encode_data(c->out, &d) == 0)
        reply(c, peer);
}

static void on_message(zd_coord *c, const zd_peer *peer, const zd_msg *m) {
    double now = now_s(c);
    bool remote = peer->sock == ZD_SOCK_REMOTE;
    switch (m->type) {
    case ZD_MSG_HELLO:
        /* A local executor proves itself by its pid: the one forked for that slot. */
        if (!remote && (m->u.hello.slot >= c->cfg.core.n_local ||
                        c->pids[m->u.hello.slot] != (pid_t)m->u.hello.pid)) {
            zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "refused an executor (slot %u, pid %lld)",
                    m->u.hello.slot, (long long)m->u.hello.pid);
            return;
        }
        zd_core_on_hello(c->core, now, peer, &m->u.hello);
        return;
    case ZD_MSG_RESULT:
        on_result(c, peer, &m->u.result);
        return;
    case ZD_MSG_DROPPED:
        zd_core_on_dropped(c->core, now, peer, &m->u.dropped);
        return;
    case ZD_MSG_CHUNK:
        on_chunk(c, peer, &m->u.chunk);
        return;
    case ZD_MSG_FETCH:
        on_fetch(c, peer, &m->u.fetch);
        return;
    case ZD_MSG_JOIN:
        if (remote) {
            uint32_t id = zd_core_on_join(c->core, now, peer, &m->u.join);
            if (c->autow)
                zd_autow_on_join(c->autow, now, &m->u.join, id);
            return;
        }
        break;
    case ZD_MSG_BEAT:
        if (remote) {
            zd_core_on_beat(c->core, now, peer, m->u.beat.seq);
            return;
        }
        break;
    case ZD_MSG_LOST:
        if (remote) {
            zd_core_on_lost(c->core, now, peer, &m->u.lost);
            return;
        }
        break;
    case ZD_MSG_LEAVE:
        if (remote) {
            zd_core_on_leave(c->core, now, peer, (zd_leave_reason)m->u.leave);
            return;
        }
        break;
    case ZD_MSG_STATUS:
        if (remote) { /* an authorized key (ZAP), as for a worker */
            size_t len = 0;
            char *text = status_text(c, &len);
            if (text && zd_wire_encode_status_reply(c->out, (zd_bytes){text, len}) == 0)
                reply(c, peer);
            free(text);
            return;
        }
        break;
    default:
        break;
    }
    zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "dropped an unexpected message of type %d",
            m->type);
}

/* One message from peer: decoded, handed to the core, its actions carried out. */
static void on_frame(zd_coord *c, const zd_peer *peer, const void *frame, size_t len) {
    zd_msg m;
    if (zd_wire_decode(c->dec, frame, len, &m) < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "dropped a malformed message (%zu bytes): %s",
                len, zd_wire_decoder_error(c->dec));
        return;
    }
    on_message(c, peer, &m);
    drain(c);
}

/* Reads every frame waiting on a ROUTER socket (a BATCH counts as its messages); the TASKs the
 * messages lead to go out at the end, one frame per executor. */
static void read_messages(zd_coord *c, zd_sock_id id) {
    c->tx_hold = true;
    void *sock = sock_of(c, id);
    unsigned char rid[ZD_MAX_RID];
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    /* A stream of result chunks never leaves the socket empty: after a batch the loop goes
     * round, so that timers (heartbeats above all) keep their times. */
    size_t bytes = 0;
    c->fetch_sent = 0; /* DATA sent counts too: a FETCH flood must not starve the timers */
    for (int count = 0; count < READ_BATCH && bytes + c->fetch_sent < READ_BATCH_BYTES; count++) {
        int n = zmq_recv(sock, rid, sizeof rid, ZMQ_DONTWAIT);
        if (n < 0)
            break;
        size_t rid_len = (size_t)n > sizeof rid ? sizeof rid : (size_t)n;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
        if (!more) {
            zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "dropped a message without a body");
            continue;
        }
        if (zmq_msg_recv(&msg, sock, 0) < 0)
            break;
        if (zmq_msg_more(&msg)) {
            zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING, "dropped a message of more than one frame");
            do
                zmq_msg_recv(&msg, sock, 0);
            while (zmq_msg_more(&msg));
            continue;
        }
        bytes += zmq_msg_size(&msg);
        /* The key the connection authenticated with (ZAP User-Id): "" without CURVE. */
        const char *user = id == ZD_SOCK_REMOTE ? zmq_msg_gets(&msg, "User-Id") : NULL;
        zd_peer peer = {id, rid, rid_len, user ? user : ""};
        zd_wire_batch_iter it;
        if (!zd_wire_batch_open(&it, zmq_msg_data(&msg), zmq_msg_size(&msg))) {
            on_frame(c, &peer, zmq_msg_data(&msg), zmq_msg_size(&msg));
            continue;
        }
        const void *one;
        size_t len;
        int got;
        uint32_t in_frame = 0;
        while (in_frame < BATCH_MAX && (got = zd_wire_batch_next(&it, &one, &len)) == 1) {
            on_frame(c, &peer, one, len);
            in_frame++;
            count++;
        }
        if (in_frame == BATCH_MAX && zd_wire_batch_next(&it, &one, &len) != 0)
            zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING,
                    "dropped the rest of a batch of more than %u messages", BATCH_MAX);
        else if (got < 0)
            zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING,
                    "dropped the rest of a malformed batch (%zu bytes)", zmq_msg_size(&msg));
    }
    zmq_msg_close(&msg);
    c->tx_hold = false;
    drain(c);
}

/* Reaps local executors that exited: their slots' attempts are over. */
static void reap(zd_coord *c) {
    for (uint32_t s = 0; s < c->cfg.core.n_local; s++) {
        int status;
        if (c->pids[s] <= 0 || waitpid(c->pids[s], &status, WNOHANG) != c->pids[s])
            continue;
        c->pids[s] = 0;
        c->exit_started[s] = c->cfg.reaped ? c->cfg.reaped(c->cfg.spawn_ctx, s) : 0;
        char *how = c->exit_how[s];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof c->exit_how[s], "signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof c->exit_how[s], "exit status %d", WEXITSTATUS(status));
        c->exit_at[s] = now_s(c);
    }
    settle_exits(c);
}

static void read_signals(zd_coord *c) {
    struct signalfd_siginfo si;
    bool child = false;
    while (read(c->cfg.signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            child = true;
        else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            zd_core_on_signal(c->core, now_s(c), (int)si.ssi_signo);
            drain(c);
        }
    }
    if (child)
        reap(c);
}

/* ---- The run ------------------------------------------------------------------------------ */

/* Ends the local executors: BYE to idle ones, SIGTERM to the rest, SIGKILL after a grace. */
static void shutdown_executors(zd_coord *c) {
    bool bye = zd_wire_encode_bye(c->out, ZD_BYE_DONE) == 0;
    for (uint32_t s = 0; s < c->cfg.core.n_local; s++) {
        zd_sock_id sock;
        const unsigned char *rid;
        size_t rid_len;
        if (c->pids[s] <= 0)
            continue;
        if (!(bye && zd_core_slot_is_idle(c->core, s) &&
              zd_core_slot_peer(c->core, s, &sock, &rid, &rid_len) &&
              send_frame(c->router, rid, rid_len, c->out) == 0))
            kill(c->pids[s], SIGTERM); /* still starting or busy: nothing to wait for */
    }
    double deadline = mono() + SHUTDOWN_GRACE_S;
    for (;;) {
        bool left = false;
        for (uint32_t s = 0; s < c->cfg.core.n_local; s++) {
            if (c->pids[s] > 0 && waitpid(c->pids[s], NULL, WNOHANG) == c->pids[s]) {
                c->pids[s] = 0;
                if (c->cfg.reaped)
                    c->cfg.reaped(c->cfg.spawn_ctx, s);
            }
            left |= c->pids[s] > 0;
        }
        if (!left)
            return;
        if (mono() >= deadline)
            break;
        zmq_pollitem_t item = {NULL, c->cfg.signal_fd, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 50) > 0) {
            struct signalfd_siginfo si;
            while (read(c->cfg.signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
                    deadline = 0; /* impatient: kill now */
        }
    }
    for (uint32_t s = 0; s < c->cfg.core.n_local; s++)
        if (c->pids[s] > 0) {
            kill(c->pids[s], SIGKILL);
            waitpid(c->pids[s], NULL, 0);
            c->pids[s] = 0;
            if (c->cfg.reaped)
                c->cfg.reaped(c->cfg.spawn_ctx, s);
        }
}

/* Milliseconds until the core's next timer (-1: none). */
static int poll_timeout(const zd_coord *c) {
    double next = zd_core_next_timer(c->core);
    if (next < 0)
        return -1;
    double left = next - now_s(c);
    return left <= 0 ? 0 : (int)ceil(left * 1000);
}

int zd_coord_run(zd_coord *c) {
    clock_gettime(CLOCK_REALTIME, &c->started);
    c->t0 = mono();
    char why[512];
    if (open_local(c) < 0 || (c->cfg.listen && open_remote(c) < 0))
        zd_core_give_up(c->core, now_s(c), "no socket for the executors");
    else if (c->cfg.metrics_addr &&
             zd_metrics_start(c->cfg.metrics_addr, &c->metrics, why, sizeof why) < 0)
        zd_core_give_up(c->core, now_s(c), why); /* before any node starts */
    open_status(c);
    zd_core_start(c->core, now_s(c));
    drain(c);
    publish_metrics(c, true);
    while (!zd_core_finished(c->core)) {
        /* The signals, then the sockets that exist (a NULL socket would poll fd 0). */
        void *socks[] = {c->router, c->remote,
                         c->admission ? zd_admission_socket(c->admission) : NULL, c->status};
        zmq_pollitem_t items[7] = {{NULL, c->cfg.signal_fd, ZMQ_POLLIN, 0}};
        int n_items = 1, at[4] = {-1, -1, -1, -1}; /* where each of socks is in items */
        for (int k = 0; k < 4; k++)
            if (socks[k]) {
                at[k] = n_items;
                items[n_items++] = (zmq_pollitem_t){socks[k], 0, ZMQ_POLLIN, 0};
            }
        int slurm_fds[2], n_slurm = c->autow ? zd_autow_fds(c->autow, slurm_fds) : 0;
        for (int k = 0; k < n_slurm; k++) /* the output of sbatch, squeue (they answer later) */
            items[n_items++] = (zmq_pollitem_t){NULL, slurm_fds[k], ZMQ_POLLIN, 0};
        int timeout = poll_timeout(c);
        int slurm_ms = c->autow ? zd_autow_timeout_ms(c->autow, now_s(c)) : -1;
        if (slurm_ms >= 0 && (timeout < 0 || timeout > slurm_ms))
            timeout = slurm_ms;
        if (zd_admission_holding(c->admission) && (timeout < 0 || timeout > 250))
            timeout = 250; /* its held refusals are logged a second after they came */
        if (exit_waiting(c) && (timeout < 0 || timeout > 5))
            timeout = 5; /* a reaped executor's connection closes soon */
        if (c->metrics && (timeout < 0 || timeout > 1000 * METRICS_EVERY_S))
            timeout = (int)(1000 * METRICS_EVERY_S); /* the snapshot stays fresh while idle */
        if (zmq_poll(items, n_items, timeout) < 0 && errno != EINTR) {
            zd_core_give_up(c->core, now_s(c), "polling failed");
            drain(c);
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            read_signals(c);
        if (at[0] > 0 && (items[at[0]].revents & ZMQ_POLLIN))
            read_messages(c, ZD_SOCK_LOCAL);
        settle_exits(c);
        if (at[1] > 0 && (items[at[1]].revents & ZMQ_POLLIN))
            read_messages(c, ZD_SOCK_REMOTE);
        if (at[2] > 0 && (items[at[2]].revents & ZMQ_POLLIN))
            zd_admission_read(c->admission, now_s(c));
        if (at[3] > 0 && (items[at[3]].revents & ZMQ_POLLIN))
            answer_status(c);
        zd_admission_tick(c->admission, now_s(c));
        if (c->zap_log)
            zd_log_relay_drain(c->zap_log);
        zd_core_on_timer(c->core, now_s(c));
        const char *no_workers = c->autow ? zd_autow_step(c->autow, now_s(c)) : NULL;
        if (no_workers)
            zd_core_give_up(c->core, now_s(c), no_workers);
        drain(c);
        sweep_uploads(c);
        publish_metrics(c, false);
    }
    publish_metrics(c, true);
    close_status(c); /* the run is over: `zdag status` says so from now on */
    zd_core_finish(c->core, now_s(c));
    drain(c);
    if (c->autow) /* after the BYEs: the workers that joined leave; the others are cancelled */
        zd_autow_finish(c->autow, now_s(c));
    sweep_uploads(c);
    if (c->n_dropped)
        zd_logf(&c->cfg.core.log, ZDAG_LOG_WARNING,
                "dropped %llu result chunks and fetches in all (stale, out of order or not needed)",
                (unsigned long long)c->n_dropped);
    shutdown_executors(c);
    draw_progress(c, true);
    c->wall_s = now_s(c);
    c->exit_code = zd_core_exit_code(c->core);
    if (c->journal_failed && c->exit_code == 0) {
        c->exit_code = 3;
        snprintf(c->error, sizeof c->error, "the journal could not be written");
    }
    if (c->trace && zd_trace_write(c->trace, c->cfg.trace_path) < 0) {
        zd_logf(&c->cfg.core.log, ZDAG_LOG_ERROR, "cannot write the trace %s: %s",
                c->cfg.trace_path, strerror(errno));
        if (c->exit_code == 0) {
            c->exit_code = 3;
            snprintf(c->error, sizeof c->error, "the trace could not be written");
        }
    }
    return c->exit_code;
}

const struct zd_prov *zd_coord_provisioner(const zd_coord *c) {
    return zd_autow_prov(c->autow);
}

const char *zd_coord_store_dir(const zd_coord *c) {
    return c->cfg.store_dir;
}

void zd_coord_outcome(const zd_coord *c, uint32_t index, zd_node_outcome *out) {
    zd_core_outcome(c->core, index, out);
}

void zd_coord_summary(const zd_coord *c, zd_run_summary *out) {
    int sig = 0;
    bool interrupted = zd_core_interrupted(c->core, &sig);
    const char *error = c->exit_code == 3 ? zd_core_error(c->core) : NULL;
    if (c->exit_code == 3 && !error)
        error = c->error[0] ? c->error : "the run could not go on";
    out->status = interrupted         ? "interrupted"
                  : c->exit_code == 0 ? "succeeded"
                  : error             ? "error"
                                      : "failed";
    out->error = error;
    out->exit_code = c->exit_code;
    out->started = c->started;
    out->wall_s = c->wall_s;
    out->jobs = zd_core_jobs(c->core);
}
