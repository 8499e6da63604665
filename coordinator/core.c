/* The coordinator's core: the run as a state machine (see core.h). Every event ends with a
 * dispatch round, so whatever the event freed is used at once. */
#include "core.h"

#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "capacity.h"
#include "lease.h"
#include "place.h"
#include "slots.h"
#include "timers.h"
#include "trace.h"

#define MAX_SPAWN_FAILS 3 /* deaths in a row before HELLO that retire a local slot */
#define RETRY_FIRST_S 0.1 /* back-off before the first retry; doubles each time */
#define RETRY_MAX_S 10.   /* longest back-off */
#define FN_GRACE_S 1.     /* the backstop after a function's timeout (its executor enforces it) */
#define CMD_GRACE_S 3. /* ... after a command's (its executor sends SIGTERM, SIGKILL 2 s later) */
#define REFUSAL_QUIET_S 60.   /* a refusal of the same key is logged once per this many seconds */
#define MAX_REFUSERS 64       /* keys whose refusals are rate-limited one by one */
#define WAITING_EVERY_S 10.   /* a run that waits for workers says so this often */
#define AHEAD_HORIZON_S 0.005 /* work sent ahead to one executor, by estimate, at most */
#define AHEAD_WEIGHT 0.2      /* weight of the newest attempt in a class's estimate */
#define MAX_TOUCHED 64        /* slots remembered per event for sending ahead */
#define AHEAD_MAX_CHILDREN 64 /* a node with more children has nothing sent ahead behind it */
#define RANDOM_BATCH 64       /* random values drawn at once */

/* One attempt as the report shows it. */
typedef zd_attempt attempt;

typedef struct node_run {
    /* Ordered widest first (no padding): there is one per node. */
    uint64_t token;              /* token of the running attempt; 0 when none runs */
    double ready_s;              /* when it last entered a ready queue */
    double start_s, end_s;       /* last attempt, -1 = none */
    char *error;                 /* owned; why it failed */
    char *output;                /* owned inline result (at most ZD_RESULT_INLINE_MAX bytes) */
    uint64_t size;               /* bytes of the result, inline or stored */
    char **env;                  /* "K=V" for the task, built on first dispatch; owned */
    zd_grant grant;              /* units and leases of the running attempt */
    attempt *hist;               /* owned: every attempt, oldest first */
    uint8_t hash[ZD_STORE_HASH]; /* the stored result's SHA-256 (in_store) */
    int32_t slot;                /* slot of the last attempt, or -1 */
    uint32_t attempts;           /* attempts started */
    uint32_t losses;             /* attempts lost with their executor */
    int exit_code;               /* last attempt's exit status */
    int32_t after;               /* a chain link sent with its parent: that node, else -1 */
    uint32_t output_len;         /* bytes in output (<= ZD_RESULT_INLINE_MAX) */
    uint32_t n_env;              /* entries in env */
    uint32_t n_hist;             /* entries in hist */
    bool has_exit_code;          /* exit_code set */
    bool timed_out;              /* the running attempt passed its deadline and was told to stop */
    bool ahead;                  /* sent ahead to slot's executor (token set), not started */
    bool alone;                  /* was queued on an executor that died: never sent ahead again */
    bool in_store;               /* the result is a store file instead, named by hash */
    bool granted;                /* grant is held */
    bool late;                   /* decided during the run: a template, or cached by lookup */
    bool looked;                 /* growth->lookup was asked about it */
} node_run;

/* A peer (connection and key) whose refusals are being rate-limited. */
typedef struct refuser {
    char user_id[ZD_MAX_USER];     /* the key's file name ("" for none) */
    unsigned char rid[ZD_MAX_RID]; /* the connection's routing id */
    size_t rid_len;                /* bytes in rid */
    zd_log_limit limit;            /* its rate limit */
} refuser;

struct zd_core {
    zd_core_cfg cfg;                /* copy of the configuration */
    const zd_graph *g;              /* borrowed graph (it grows by cfg.growth->expand) */
    uint32_t n_static;              /* nodes of the pipeline; those after were added in the run */
    uint32_t n_templates;           /* run-time fan-outs in the graph */
    uint32_t n_runs;                /* nodes in runs (the graph's, unless growing it failed) */
    uint64_t n_attempts;            /* attempts started (metrics) */
    uint64_t n_results;             /* RESULTs accepted */
    uint64_t n_retries;             /* retries scheduled after a failed attempt */
    uint32_t n_lost_hosts;          /* agents lost */
    uint32_t *fans;                 /* templates whose deps are done: expanded in settle() */
    uint32_t n_fans, cap_fans;      /* entries used and allocated in fans */
    uint32_t *late;                 /* ready nodes to ask growth->lookup about, in settle() */
    uint32_t n_late, cap_late;      /* entries used and allocated in late */
    zd_prio_key *keys;              /* effective priorities */
    uint32_t *class_of;             /* demand class per node */
    uint32_t n_classes;             /* classes */
    double *class_est;              /* per class: mean duration of its attempts in this run */
    uint32_t *class_seen;           /* per class: attempts that went into class_est */
    uint32_t touched[MAX_TOUCHED];  /* slots given work in this event: sent ahead to after */
    uint32_t n_touched;             /* entries in touched */
    bool touched_all;               /* ... more than fit: look at every slot */
    bool ahead_dropped;             /* the run stopped: every task sent ahead was told DROP */
    uint64_t random[RANDOM_BATCH];  /* random values not used yet: random[0..n_random) */
    uint32_t n_random;              /* entries left in random */
    zd_sched *sched;                /* node states and ready queues */
    zd_capacity *cap;               /* per-host units */
    zd_leases *leases;              /* the sequential lease and pools */
    zd_place *place;                /* what starts next, where */
    node_run *runs;                 /* per node */
    zd_slots *slots;                /* executor slots and idle stacks */
    zd_agents agents;               /* remote agents */
    zd_timers timers;               /* every timer */
    zd_action *acts;                /* actions since the last zd_core_actions() */
    size_t n_acts, cap_acts;        /* entries and room in acts */
    zd_bytes *env_scratch;          /* task env and argv views */
    zd_dep_result *dep_scratch;     /* task dep views */
    size_t scratch_cap;             /* entries in both scratch arrays */
    char log_path[4096];            /* the last task's log path */
    char why[160];                  /* the last CANCEL's reason */
    refuser refusers[MAX_REFUSERS]; /* rate limits of refused keys */
    uint32_t n_refusers;            /* entries in refusers */
    uint32_t next_refuser;          /* the entry reused when the table is full */
    uint64_t n_refused;             /* refusals in all */
    uint64_t n_refused_quiet;       /* ... of which not logged */
    uint64_t n_stale;               /* stale, forged or misrouted results */
    uint64_t n_stale_quiet;         /* ... of which not logged */
    zd_log_limit stale_limit;       /* rate limit of stale-result lines */
    double now;                     /* the time of the event being handled */
    int jobs;                       /* effective -j */
    uint32_t n_active;              /* nodes taking part */
    uint32_t n_hello;               /* local executors that said HELLO at least once */
    bool started;                   /* zd_core_start() was called */
    bool mustered;                  /* dispatching has begun */
    bool sync_armed;                /* a journal window timer is armed */
    int interrupted;                /* the signal that interrupted the run, or 0 */
    bool gave_up;                   /* the run could not go on */
    char gave_up_why[256];          /* ... why */
    bool finished;                  /* zd_core_finish() was called */
};

/* ---- Small helpers ------------------------------------------------------------------------ */

/* A random non-zero 64-bit value; without cfg.random, from libsodium, RANDOM_BATCH at a time (one
 * getrandom(2) per batch, not per token). */
static uint64_t random64(zd_core *c) {
    uint64_t v = 0;
    while (v == 0) {
        if (c->cfg.random) {
            v = c->cfg.random(c->cfg.random_ctx);
            continue;
        }
        if (c->n_random == 0) {
            randombytes_buf(c->random, sizeof c->random);
            c->n_random = RANDOM_BATCH;
        }
        v = c->random[--c->n_random];
        c->random[c->n_random] = 0;
    }
    return v;
}

static void act(zd_core *c, zd_action a) {
    if (c->n_acts == c->cap_acts) {
        size_t cap = c->cap_acts ? c->cap_acts * 2 : 64;
        zd_action *v = realloc(c->acts, cap * sizeof *v);
        if (!v) {
            zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "out of memory: an action was lost");
            return;
        }
        c->acts = v;
        c->cap_acts = cap;
    }
    c->acts[c->n_acts++] = a;
}

static void arm(zd_core *c, double due, zd_timer_kind kind, uint32_t id, uint64_t gen) {
    if (zd_timers_arm(&c->timers, due, kind, id, gen) < 0)
        zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "out of memory: a timer was lost");
}

static const char *node_name(const zd_core *c, uint32_t node) {
    return zd_graph_node(c->g, node)->name;
}

static const char *host_name(const zd_core *c, uint32_t host) {
    return zd_capacity_host_name(c->cap, host);
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

static double heartbeat_s(const zd_core *c) {
    return c->cfg.heartbeat_s;
}

/* ---- Creation ----------------------------------------------------------------------------- */

/* Appends v to a list; false when out of memory. */
static bool list_push(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t value) {
    if (*n == *cap) {
        uint32_t more = *cap ? *cap * 2 : 16;
        uint32_t *w = realloc(*v, more * sizeof *w);
        if (!w)
            return false;
        *v = w;
        *cap = more;
    }
    (*v)[(*n)++] = value;
    return true;
}

/* Whether --resume may still find a result of a node that just became ready: the plan could not
 * decide it before the run (an instance, or a dep was decided during the run), and every input
 * is cached. */
static bool undecided(const zd_core *c, uint32_t node) {
    const zd_node *n = zd_graph_node(c->g, node);
    bool late = node >= c->n_static;
    for (uint32_t i = 0; i < n->n_deps && !late; i++)
        late = c->runs[n->deps[i]].late;
    if (!late || c->runs[node].looked)
        return false;
    zd_graph_inputs it;
    uint32_t d;
    zd_graph_inputs_begin(c->g, node, &it);
    while (zd_graph_inputs_next(c->g, &it, &d))
        if (zd_sched_state(c->sched, d) != ZD_NS_CACHED)
            return false;
    return true;
}

static void node_ready(void *ctx, uint32_t node) {
    zd_core *c = ctx;
    c->runs[node].ready_s = c->now;
    if (c->cfg.growth && c->cfg.growth->lookup && undecided(c, node)) {
        c->runs[node].looked = true;
        if (!list_push(&c->late, &c->n_late, &c->cap_late, node))
            zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "out of memory: node \"%s\" runs again",
                    zd_graph_node(c->g, node)->name);
    }
}

static void template_due(void *ctx, uint32_t tmpl) {
    zd_core *c = ctx;
    if (!list_push(&c->fans, &c->n_fans, &c->cap_fans, tmpl))
        zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "out of memory: node \"%s\" cannot fan out",
                zd_graph_node(c->g, tmpl)->name);
}

/* The host where a node's dependencies ran (the one with the largest result first), or
 * UINT32_MAX: files a command wrote on its host's disk are there for its dependents. */
static uint32_t input_host(void *ctx, uint32_t index) {
    const zd_core *c = ctx;
    uint32_t best = UINT32_MAX;
    size_t most = 0;
    zd_graph_inputs it;
    uint32_t d;
    zd_graph_inputs_begin(c->g, index, &it);
    while (zd_graph_inputs_next(c->g, &it, &d)) {
        const node_run *dep = &c->runs[d];
        if (dep->slot >= 0 && dep->size + 1 > most) {
            most = (size_t)dep->size + 1;
            best = zd_slots_host(c->slots, (uint32_t)dep->slot);
        }
    }
    return best;
}

/* The scheduling parts: capacity with the local host, leases, classes, queues, placement. */
static int make_scheduler(zd_core *c) {
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
    c->n_classes = n_classes;
    c->class_est = calloc(n_classes ? n_classes : 1, sizeof *c->class_est);
    c->class_seen = calloc(n_classes ? n_classes : 1, sizeof *c->class_seen);
    if (!c->class_est || !c->class_seen)
        return ZDAG_ENOMEM;
    c->sched =
        zd_sched_new_classes(g, c->keys, c->cfg.active, c->cfg.keep_going, c->class_of, n_classes);
    if (!c->sched)
        return ZDAG_ENOMEM;
    zd_sched_on_ready(c->sched, node_ready, c);
    zd_sched_on_fan(c->sched, template_due, c);
    c->place = zd_place_new(g, c->sched, c->cap, c->leases, c->jobs, c->class_of, n_classes);
    if (!c->place)
        return ZDAG_ENOMEM;
    zd_place_set_prefer(c->place, input_host, c);
    return 0;
}

static int restore_cached(zd_core *c) {
    for (uint32_t i = 0; c->cfg.cached && i < zd_graph_size(c->g); i++) {
        if (!c->cfg.cached[i] || (c->cfg.active && !c->cfg.active[i]) ||
            zd_graph_fan_source(c->g, i) >= 0) /* a template ends with its instances */
            continue;
        node_run *r = &c->runs[i];
        if (c->cfg.cached_hashes && c->cfg.cached_hashes[i]) {
            r->in_store = true;
            memcpy(r->hash, c->cfg.cached_hashes[i], ZD_STORE_HASH);
            r->size = c->cfg.cached_sizes[i];
            zd_sched_cached(c->sched, i);
            continue;
        }
        size_t len = c->cfg.cached_lens ? c->cfg.cached_lens[i] : 0;
        if (len > ZD_RESULT_INLINE_MAX)
            return ZDAG_EINVAL; /* the caller moves larger ones into the store */
        if (!(r->output = malloc(len + 1)))
            return ZDAG_ENOMEM;
        if (len)
            memcpy(r->output, c->cfg.cached_results[i], len);
        r->output[len] = '\0';
        r->output_len = (uint32_t)len;
        r->size = len;
        zd_sched_cached(c->sched, i);
    }
    return 0;
}

int zd_core_new(const zd_core_cfg *cfg, const zd_graph *g, zd_core **out) {
    if (!cfg || !g || !out || !zd_graph_topo(g) || (cfg->n_local == 0 && !cfg->listen))
        return ZDAG_EINVAL;
    size_t n = zd_graph_size(g);
    zd_core *c = calloc(1, sizeof *c);
    if (!c)
        return ZDAG_ENOMEM;
    c->cfg = *cfg;
    zd_core_cfg *k = &c->cfg;
    if (k->max_losses <= 0)
        k->max_losses = 3;
    if (!k->host_id)
        k->host_id = "localhost";
    if (k->heartbeat_s <= 0)
        k->heartbeat_s = 1;
    if (k->fence_s <= 0)
        k->fence_s = 3 * k->heartbeat_s;
    if (k->lost_s <= 0)
        k->lost_s = 5 * k->heartbeat_s;
    if (k->muster_s == 0)
        k->muster_s = 1;
    if (k->journal_window_s <= 0)
        k->journal_window_s = 0.05;
    c->g = g;
    c->n_static = c->n_runs = (uint32_t)zd_graph_static_size(g);
    c->n_templates = (uint32_t)zd_graph_runtime_fans(g);
    /* Each template is due once: room for all of them now, so that none is ever lost. */
    c->cap_fans = c->n_templates;
    if (c->n_templates && !(c->fans = malloc(c->n_templates * sizeof *c->fans))) {
        free(c);
        return ZDAG_ENOMEM;
    }
    /* Without -j, the executors' capacity is the only limit (remote ones join later). */
    c->jobs = cfg->jobs > 0 ? cfg->jobs : cfg->listen ? INT32_MAX : (int)cfg->n_local;
    c->stale_limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    c->keys = calloc(n ? n : 1, sizeof *c->keys);
    c->runs = calloc(n ? n : 1, sizeof *c->runs);
    if (k->n_started == 0 || k->n_started > k->n_local)
        k->n_started = k->n_local;
    c->slots = zd_slots_new(k->n_local, k->n_started);
    int rc = ZDAG_ENOMEM;
    if (!c->keys || !c->runs || !c->slots)
        goto out_fail;
    for (size_t i = 0; i < n; i++) {
        c->runs[i] = (node_run){.slot = -1, .start_s = -1, .end_s = -1, .after = -1};
        c->n_active += !cfg->active || cfg->active[i];
    }
    if ((rc = zd_prio_compute(g, cfg->prio, cfg->active, cfg->durations, c->keys)) < 0 ||
        (rc = make_scheduler(c)) < 0 || (rc = restore_cached(c)) < 0)
        goto out_fail;
    *out = c;
    return 0;
out_fail:
    zd_core_free(&c);
    return rc;
}

void zd_core_free(zd_core **cp) {
    if (!cp || !*cp)
        return;
    zd_core *c = *cp;
    for (size_t i = 0; c->runs && i < c->n_runs; i++) {
        node_run *r = &c->runs[i];
        free(r->error);
        free(r->output);
        for (size_t e = 0; e < r->n_env; e++)
            free(r->env[e]);
        free(r->env);
        free(r->hist);
    }
    free(c->runs);
    free(c->fans);
    free(c->late);
    free(c->keys);
    free(c->class_of);
    free(c->class_est);
    free(c->class_seen);
    zd_place_free(&c->place);
    zd_sched_free(&c->sched);
    zd_leases_free(&c->leases);
    zd_capacity_free(&c->cap);
    zd_slots_free(&c->slots);
    zd_agents_clear(&c->agents);
    zd_timers_clear(&c->timers);
    free(c->acts);
    free(c->env_scratch);
    free(c->dep_scratch);
    free(c);
    *cp = NULL;
}

const zd_action *zd_core_actions(zd_core *c, size_t *n) {
    *n = c->n_acts;
    c->n_acts = 0;
    return c->acts;
}

/* ---- Trace -------------------------------------------------------------------------------- */

static void trace_attempt(zd_core *c, uint32_t index, const char *status) {
    const node_run *r = &c->runs[index];
    if (!c->cfg.trace || r->slot < 0)
        return;
    uint32_t host = zd_slots_host(c->slots, (uint32_t)r->slot);
    if (zd_trace_slice(c->cfg.trace, host, r->slot, node_name(c, index), r->start_s, r->end_s,
                       r->attempts, status, r->exit_code, r->has_exit_code) < 0)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "the trace is incomplete (out of memory)");
}

static void trace_instant(zd_core *c, const char *what, uint32_t index) {
    if (c->cfg.trace &&
        zd_trace_instant(c->cfg.trace, 0, -1, what, c->now, node_name(c, index)) < 0)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "the trace is incomplete (out of memory)");
}

static void trace_track(zd_core *c, uint32_t host, int32_t slot) {
    if (c->cfg.trace && zd_trace_track(c->cfg.trace, host, host_name(c, host), slot) < 0)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "the trace is incomplete (out of memory)");
}

/* ---- Attempts ----------------------------------------------------------------------------- */

/* The history entry of the running (last) attempt. */
static attempt *last_attempt(node_run *r) {
    return r->n_hist ? &r->hist[r->n_hist - 1] : NULL;
}

static void begin_attempt(zd_core *c, uint32_t index, uint32_t slot) {
    node_run *r = &c->runs[index];
    attempt *h = realloc(r->hist, ((size_t)r->n_hist + 1) * sizeof *h);
    if (h) {
        r->hist = h;
        r->hist[r->n_hist++] = (attempt){.attempt = r->attempts,
                                         .host = host_name(c, zd_slots_host(c->slots, slot)),
                                         .executor = (int32_t)slot,
                                         .ready_s = r->ready_s,
                                         .start_s = c->now,
                                         .end_s = -1,
                                         .outcome = "running"};
    }
}

/* Closes the running attempt: its grant is given back (false when a lease was stale). */
static bool end_attempt(zd_core *c, uint32_t index, const char *outcome) {
    node_run *r = &c->runs[index];
    r->end_s = c->now;
    r->token = 0;
    attempt *a = last_attempt(r);
    if (a && a->end_s < 0) {
        a->end_s = c->now;
        a->outcome = outcome;
    }
    trace_attempt(c, index, outcome);
    if (!r->granted)
        return true;
    r->granted = false;
    return zd_place_release(c->place, &r->grant);
}

static void journal_outcome(zd_core *c, uint32_t index) {
    act(c, (zd_action){.kind = ZD_ACT_OUTCOME, .node = index});
    if (!c->sync_armed) {
        c->sync_armed = true;
        arm(c, c->now + c->cfg.journal_window_s, ZD_TIMER_SYNC, 0, 0);
    }
}

static void node_failed(zd_core *c, uint32_t index) {
    zd_sched_failed(c->sched, index);
    journal_outcome(c, index);
}

/* Failures so far (attempts that ended for the node's own reasons, not with its executor). */
static uint32_t failures(const node_run *r) {
    return r->attempts - r->losses;
}

/* The back-off before the next retry of a node whose last attempt failed on its own. */
static double retry_delay(const node_run *r) {
    uint32_t f = failures(r);
    double delay = RETRY_FIRST_S * pow(2, f > 1 ? f - 1 : 0);
    return delay > RETRY_MAX_S ? RETRY_MAX_S : delay;
}

static void schedule_retry(zd_core *c, uint32_t index) {
    const node_run *r = &c->runs[index];
    c->n_retries++;
    arm(c, c->now + retry_delay(r), ZD_TIMER_RETRY, index, r->attempts);
}

/* After an attempt that failed on its own: a retry, or the node's failure. */
static void failed_attempt(zd_core *c, uint32_t index) {
    const zd_node *node = zd_graph_node(c->g, index);
    node_run *r = &c->runs[index];
    if (c->interrupted) {
        set_error(r, "interrupted");
        zd_sched_abandon(c->sched, index);
    } else if ((int)failures(r) <= node->retries && !zd_sched_stopped(c->sched)) {
        schedule_retry(c, index);
    } else {
        node_failed(c, index);
    }
}

/* The executor of a running attempt is gone (`how`): the attempt is over. A timed-out attempt
 * fails as such; any other is a loss: run again, or fail after too many. */
static void attempt_lost(zd_core *c, uint32_t index, const char *how) {
    node_run *r = &c->runs[index];
    const zd_node *node = zd_graph_node(c->g, index);
    bool timed_out = r->timed_out || (node->timeout > 0 && c->now >= r->start_s + node->timeout);
    end_attempt(c, index, c->interrupted ? "interrupted" : timed_out ? "timed out" : "lost");
    if (c->interrupted) {
        set_error(r, "interrupted");
        zd_sched_abandon(c->sched, index);
        return;
    }
    if (timed_out) {
        set_error(r, "timed out after %g s", node->timeout);
        failed_attempt(c, index);
        return;
    }
    r->losses++;
    zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "executor died (%s) while running \"%s\"", how,
            node->name);
    if ((int)r->losses >= c->cfg.max_losses) {
        set_error(r, "executor died: %s (%u executors lost)", how, r->losses);
        node_failed(c, index);
    } else if (zd_sched_stopped(c->sched)) {
        set_error(r, "executor died: %s", how);
        node_failed(c, index);
    } else {
        zd_sched_unclaim(c->sched, index); /* a link whose parent was lost too waits again */
    }
}

/* A task sent ahead will not run there (its executor is gone, or did not start it): it goes
 * back to the ready queue untouched, no attempt counted (or is abandoned when interrupted).
 * After an executor's death it runs `alone` from then on: only as the first task of an idle
 * executor, so that if it is what kills executors, the loss is its own (a death is charged to
 * the attempt the coordinator saw start there, and results of the ones before may not have
 * left the dead process). */
static void take_back(zd_core *c, uint32_t index, bool died) {
    node_run *r = &c->runs[index];
    r->alone |= died;
    r->token = 0;
    r->ahead = false;
    r->after = -1;
    r->slot = r->n_hist ? r->hist[r->n_hist - 1].executor : -1;
    if (c->interrupted) {
        set_error(r, "interrupted");
        zd_sched_abandon(c->sched, index);
    } else {
        zd_sched_unclaim(c->sched, index); /* ready unless it is a link whose parent is not done */
    }
}

/* `parent` did not succeed on `slot`: the chain links sent after it there will not run (their
 * executor drops them), so they are taken back now, before the failure skips descendants. */
static void unlink_chain(zd_core *c, uint32_t slot, uint32_t parent) {
    uint32_t cut[ZD_SLOT_QUEUE], n_cut = 0;
    int64_t broken = parent;
    for (uint32_t k = 0; k < zd_slots_queued(c->slots, slot); k++) {
        uint32_t q = zd_slots_queued_at(c->slots, slot, k);
        if (c->runs[q].after >= 0 && c->runs[q].after == broken) {
            cut[n_cut++] = q;
            broken = q;
        }
    }
    for (uint32_t k = 0; k < n_cut; k++) {
        zd_slots_unqueue(c->slots, slot, cut[k]);
        take_back(c, cut[k], false);
    }
}

/* A slot's executor is gone: the attempt it ran (if any) is lost; the tasks sent ahead to it
 * go back to the ready queue. */
static void slot_gone(zd_core *c, uint32_t slot, const char *how, bool replaced) {
    uint32_t ahead[ZD_SLOT_QUEUE], n_ahead;
    int64_t node = zd_slots_gone(c->slots, slot, replaced, ahead, &n_ahead);
    for (uint32_t k = 0; k < n_ahead; k++)
        take_back(c, ahead[k], true);
    if (node >= 0)
        attempt_lost(c, (uint32_t)node, how);
}

/* ---- Dispatch ----------------------------------------------------------------------------- */

/* Starts dormant (IO-only) local executors for ready nodes that take no CPU unit, fit this
 * host's free units and wait only for an executor: one per such class of nodes, minus those
 * already starting. */
static void wake_dormant(zd_core *c) {
    if (c->cfg.n_started >= c->cfg.n_local || !c->cfg.can_spawn || zd_sched_stopped(c->sched) ||
        zd_slots_idle(c->slots)[0] > 0 || (int64_t)zd_place_running(c->place) >= c->jobs)
        return;
    uint32_t want = 0, starting = 0;
    for (uint32_t k = 0; k < zd_sched_classes(c->sched); k++) {
        if (!zd_sched_class_ready(c->sched, k))
            continue;
        uint32_t node = zd_sched_class_peek(c->sched, k);
        want += zd_graph_node(c->g, node)->cpus <= 0 && zd_capacity_fits(c->cap, 0, node);
    }
    for (uint32_t s = 0; s < c->cfg.n_local; s++)
        starting += zd_slots_state(c->slots, s) == ZD_SLOT_STARTING;
    for (uint32_t s = c->cfg.n_started; s < c->cfg.n_local && starting < want; s++)
        if (zd_slots_state(c->slots, s) == ZD_SLOT_DORMANT) {
            zd_slots_wake(c->slots, s);
            act(c, (zd_action){.kind = ZD_ACT_SPAWN, .slot = s});
            starting++;
        }
}

/* The slot will run `index` (granted or sent ahead): a fresh token, and its TASK goes out. */
static void commit(zd_core *c, uint32_t index, uint32_t slot) {
    node_run *r = &c->runs[index];
    r->token = random64(c);
    r->slot = (int32_t)slot;
    act(c, (zd_action){.kind = ZD_ACT_TASK, .slot = slot, .node = index});
}

/* The node's attempt starts on its slot now: counted, in the history, its deadline armed. */
static void start_attempt(zd_core *c, uint32_t index, uint32_t slot) {
    node_run *r = &c->runs[index];
    const zd_node *node = zd_graph_node(c->g, index);
    if (r->after >= 0)
        r->ready_s = c->now; /* its parent just succeeded */
    r->ahead = false;
    r->after = -1;
    r->attempts++;
    c->n_attempts++;
    r->start_s = c->now;
    r->end_s = -1;
    r->has_exit_code = false;
    r->timed_out = false;
    begin_attempt(c, index, slot);
    if (node->timeout > 0)
        arm(c, c->now + node->timeout + (node->kind == ZD_NODE_FN ? FN_GRACE_S : CMD_GRACE_S),
            ZD_TIMER_DEADLINE, index, r->token);
}

static void touch(zd_core *c, uint32_t slot) {
    if (c->n_touched < MAX_TOUCHED)
        c->touched[c->n_touched++] = slot;
    else
        c->touched_all = true;
}

/* How long a node is expected to take: its recorded median, else the mean of its class's
 * attempts in this run; < 0 when neither is known. */
static double estimate(const zd_core *c, uint32_t index) {
    if (c->cfg.durations && index < c->n_static && c->cfg.durations[index] > 0)
        return c->cfg.durations[index];
    uint32_t k = c->class_of[index];
    return c->class_seen[k] ? c->class_est[k] : -1;
}

static void learn_duration(zd_core *c, uint32_t index, double seconds) {
    uint32_t k = c->class_of[index];
    c->class_est[k] =
        c->class_seen[k] ? (1 - AHEAD_WEIGHT) * c->class_est[k] + AHEAD_WEIGHT * seconds : seconds;
    if (c->class_seen[k] < UINT32_MAX)
        c->class_seen[k]++;
}

/* True when `b` takes exactly the units `a` holds and neither takes a lease: b can run on a's
 * grant once a ends. */
static bool same_demand(const zd_core *c, uint32_t a, uint32_t b) {
    const zd_node *x = zd_graph_node(c->g, a), *y = zd_graph_node(c->g, b);
    if (c->class_of[a] != c->class_of[b] || x->pool >= 0 || x->sequential || x->cpus != y->cpus ||
        x->n_resources != y->n_resources)
        return false;
    for (size_t i = 0; i < x->n_resources; i++)
        if (x->resources[i].amount != y->resources[i].amount ||
            strcmp(x->resources[i].name, y->resources[i].name) != 0)
            return false;
    return true;
}

/* Sends ready nodes ahead to a busy slot (README "Sending ahead"): the best ready nodes, in
 * priority order, while each takes exactly the units the slot's attempt holds, no lease, and
 * the work queued there is expected to end within AHEAD_HORIZON_S, and no node that work may
 * release outranks it. Stops at the first ready node that does not qualify, so nothing overtakes
 * it. */
/* Whether node is a template (a run-time fan-out): it never runs, so it is neither overtaken
 * nor sent as a link. */
static bool is_template(const zd_core *c, uint32_t node) {
    return c->n_templates && zd_graph_fan_source(c->g, node) >= 0;
}

/* Raises *bar to the best waiting child of `node` (its end may make it ready); false when the
 * node has too many children to look at. */
static bool raise_bar(const zd_core *c, uint32_t node, int64_t *bar) {
    const zd_node *n = zd_graph_node(c->g, node);
    if (n->n_children > AHEAD_MAX_CHILDREN)
        return false;
    for (size_t i = 0; i < n->n_children; i++) {
        uint32_t ch = n->children[i];
        if (zd_sched_state(c->sched, ch) != ZD_NS_WAITING)
            continue;
        if (is_template(c, ch)) {
            /* It never runs: the last instance's end releases what follows it. */
            if (zd_sched_pending(c->sched, ch) == 1 && !raise_bar(c, ch, bar))
                return false;
            continue;
        }
        if (*bar < 0 || zd_sched_before(c->sched, ch, (uint32_t)*bar))
            *bar = ch;
    }
    return true;
}

/* The next link of a chain after `node`: its best waiting child whose last pending dep it is,
 * or -1 (README "Chains"). A node that declares outputs is never a link's parent: its success is
 * the coordinator's to judge (every output must exist), after its executor saw it succeed. */
static int64_t chain_link(const zd_core *c, uint32_t node) {
    const zd_node *n = zd_graph_node(c->g, node);
    int64_t best = -1;
    if (n->n_children > AHEAD_MAX_CHILDREN || (n->files && n->files->n_outputs))
        return -1;
    for (size_t i = 0; i < n->n_children; i++) {
        uint32_t ch = n->children[i];
        if (zd_sched_state(c->sched, ch) == ZD_NS_WAITING && zd_sched_pending(c->sched, ch) == 1 &&
            !is_template(c, ch) && (best < 0 || zd_sched_before(c->sched, ch, (uint32_t)best)))
            best = ch;
    }
    return best;
}

/* Over what a busy slot runs and holds: *load, the work expected (< 0: unknown), and *bar, the
 * best waiting node that work may release (a node it outranks would be overtaken). False when
 * that cannot be known (a node with too many children). */
static bool queue_bar(const zd_core *c, uint32_t slot, int64_t *bar, double *load) {
    uint32_t head = (uint32_t)zd_slots_node(c->slots, slot);
    *bar = -1;
    *load = estimate(c, head);
    bool known = raise_bar(c, head, bar);
    for (uint32_t k = 0; k < zd_slots_queued(c->slots, slot) && *load >= 0 && known; k++) {
        uint32_t q = zd_slots_queued_at(c->slots, slot, k);
        double e = estimate(c, q);
        *load = e < 0 ? -1 : *load + e;
        known = raise_bar(c, q, bar);
    }
    return known;
}

static void send_ahead(zd_core *c, uint32_t slot, bool links_only) {
    uint32_t room = zd_slots_room(c->slots, slot);
    int64_t head = zd_slots_node(c->slots, slot);
    if (!room || head < 0)
        return;
    int64_t bar;
    double load;
    bool known = queue_bar(c, slot, &bar, &load);
    /* A remote executor's result may still fail here (its upload checked): no links there. */
    bool links = zd_slots_agent(c->slots, slot) == 0;
    uint32_t last = zd_slots_queued(c->slots, slot)
                        ? zd_slots_queued_at(c->slots, slot, zd_slots_queued(c->slots, slot) - 1)
                        : (uint32_t)head;
    while (known && room > 0 && load >= 0 && load < AHEAD_HORIZON_S) {
        /* The best of: the best ready node, and the next link of a chain ending the queue. */
        int64_t link = links ? chain_link(c, last) : -1;
        bool ready = zd_sched_has_ready(c->sched);
        uint32_t node = ready ? zd_sched_peek(c->sched) : 0;
        bool linked = link >= 0 && (!ready || zd_sched_before(c->sched, (uint32_t)link, node));
        if (linked)
            node = (uint32_t)link;
        else if (!ready || links_only) /* a ready node that outranks the link waits for a limit */
            return;
        double e = estimate(c, node);
        if (e < 0 || c->runs[node].alone || c->runs[head].alone ||
            !same_demand(c, (uint32_t)head, node) ||
            (bar >= 0 && bar != (int64_t)node && zd_sched_before(c->sched, (uint32_t)bar, node)))
            return;
        if (linked) {
            zd_sched_claim(c->sched, node);
            c->runs[node].after = (int32_t)last;
        } else {
            (void)zd_sched_class_pop(c->sched, c->class_of[node]);
        }
        c->runs[node].ahead = true;
        zd_slots_push(c->slots, slot, node);
        commit(c, node, slot);
        last = node;
        room--;
        if (bar == (int64_t)node) { /* it is queued now: what else waits? */
            known = queue_bar(c, slot, &bar, &load);
        } else {
            known = raise_bar(c, node, &bar);
            load += e;
        }
    }
}

/* Whether an executor idles where the best ready node could start now (a unit free there, and
 * -j not reached): ready nodes wait for it, not behind busy executors. An executor that idles
 * for want of units (more executors than CPUs) does not hold back sending ahead. */
static bool idle_could_start(zd_core *c) {
    if (!zd_sched_has_ready(c->sched) || (int64_t)zd_place_running(c->place) >= c->jobs)
        return false;
    uint32_t node = zd_sched_peek(c->sched);
    for (uint32_t h = 0; h < zd_capacity_hosts(c->cap); h++)
        if (zd_slots_idle(c->slots)[h] > 0 && zd_capacity_fits(c->cap, h, node))
            return true;
    return false;
}

/* After a dispatch round: the slots given work send ahead. */
static void send_ahead_all(zd_core *c) {
    bool idle = idle_could_start(c);
    /* With an executor idle that could take the best ready node, that node waits for it (a
     * pool or the lease, say): only chain links (not ready yet, so no executor could take
     * them) go ahead. */
    bool go = zd_place_seq_waiting(c->place, NULL) < 0 && !zd_sched_stopped(c->sched);
    if (go && c->touched_all) {
        for (uint32_t s = 0; s < zd_slots_count(c->slots); s++)
            send_ahead(c, s, idle);
    } else if (go) {
        for (uint32_t k = 0; k < c->n_touched; k++)
            send_ahead(c, c->touched[k], idle);
    }
    c->n_touched = 0;
    c->touched_all = false;
}

/* Once the run stops, nothing sent ahead may start: every such task is told DROP. */
static void drop_ahead(zd_core *c) {
    if (c->ahead_dropped || !zd_sched_stopped(c->sched))
        return;
    c->ahead_dropped = true;
    for (uint32_t s = 0; s < zd_slots_count(c->slots); s++)
        for (uint32_t k = 0; k < zd_slots_queued(c->slots, s); k++) {
            uint32_t node = zd_slots_queued_at(c->slots, s, k);
            act(c, (zd_action){
                       .kind = ZD_ACT_DROP, .slot = s, .node = node, .token = c->runs[node].token});
        }
}

static void dispatch(zd_core *c) {
    if (!c->started || c->finished)
        return;
    /* The first dispatch waits (briefly) for every local executor, so that the order nodes
     * start in does not depend on which executor process happened to come up first. */
    if (!c->mustered)
        c->mustered = c->n_hello >= c->cfg.n_started;
    if (!c->mustered)
        return;
    zd_grant grant;
    zd_place_round(c->place);
    while (
        zd_place_next_io(c->place, zd_slots_idle(c->slots), zd_slots_idle_io(c->slots), &grant)) {
        bool io = zd_graph_node(c->g, grant.node)->cpus <= 0;
        uint32_t slot = zd_slots_take(c->slots, grant.host, grant.node, io);
        node_run *r = &c->runs[grant.node];
        const zd_node *node = zd_graph_node(c->g, grant.node);
        r->grant = grant;
        r->granted = true;
        commit(c, grant.node, slot);
        start_attempt(c, grant.node, slot);
        touch(c, slot);
        if (grant.seq_token)
            trace_instant(c, "lease: sequential", grant.node);
        if (grant.pool_token && c->cfg.trace) {
            char what[300];
            snprintf(what, sizeof what, "lease: pool %s", zd_graph_pool(c->g, node->pool)->name);
            trace_instant(c, what, grant.node);
        }
    }
    bool fresh;
    int64_t waiting = zd_place_seq_waiting(c->place, &fresh);
    if (fresh)
        trace_instant(c, "sequential wait", (uint32_t)waiting);
    send_ahead_all(c);
    wake_dormant(c);
}

/* ---- The graph grows (README "Fan-out at run time") --------------------------------------- */

/* A template could not get its instances: it fails, with why. */
static void template_failed(zd_core *c, uint32_t tmpl, const char *why) {
    set_error(&c->runs[tmpl], "cannot fan out: %s", why);
    zd_sched_fan_failed(c->sched, tmpl);
    journal_outcome(c, tmpl);
}

/* Grows an array to `want` entries of `size` bytes; false when out of memory. */
static bool grow_array(void **v, size_t want, size_t size) {
    void *p = realloc(*v, (want ? want : 1) * size);
    if (p)
        *v = p;
    return p != NULL;
}

/* The core's own per-node state for the instances of tmpl, just added to the graph: each as its
 * template for priority, class and units. */
static int add_instances(zd_core *c, uint32_t tmpl) {
    uint32_t first, count;
    if (!zd_graph_fan_instances(c->g, tmpl, &first, &count))
        return ZDAG_EINVAL;
    size_t n = (size_t)first + count;
    bool keys = grow_array((void **)&c->keys, n, sizeof *c->keys);
    zd_sched_set_keys(c->sched, c->keys); /* they may have moved */
    if (!keys || !grow_array((void **)&c->runs, n, sizeof *c->runs) ||
        !grow_array((void **)&c->class_of, n, sizeof *c->class_of) ||
        zd_capacity_add_like(c->cap, first, count, tmpl) < 0)
        return ZDAG_ENOMEM;
    /* From n_runs: instances an earlier fan-out could not take (out of memory) come first. */
    for (size_t i = c->n_runs; i < n; i++) {
        c->runs[i] = (node_run){.slot = -1, .start_s = -1, .end_s = -1, .after = -1};
        c->keys[i] = c->keys[tmpl];
        c->class_of[i] = c->class_of[tmpl];
    }
    c->runs[tmpl].late = true;
    int rc = zd_sched_fan_out(c->sched, tmpl);
    if (rc == 0) {
        c->n_active += count;
        c->n_runs = (uint32_t)n;
    }
    return rc;
}

/* The deps of template tmpl are done: the loop adds its instances, from its source's result. */
static void expand(zd_core *c, uint32_t tmpl) {
    char why[256] = "";
    int rc = ZDAG_EUNSUPPORTED;
    if (c->cfg.growth && c->cfg.growth->expand) {
        zd_node_outcome src;
        zd_core_outcome(c, (uint32_t)zd_graph_fan_source(c->g, tmpl), &src);
        rc = c->cfg.growth->expand(c->cfg.growth->ctx, tmpl, &src, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "this run cannot add nodes");
    }
    if (rc == 0 && (rc = add_instances(c, tmpl)) < 0)
        snprintf(why, sizeof why, "%s", zdag_strerror(rc));
    if (rc < 0)
        template_failed(c, tmpl, why[0] ? why : zdag_strerror(rc));
}

/* A ready node whose inputs are all cached: --resume takes its earlier result when it stands. */
static void look_up(zd_core *c, uint32_t node) {
    zd_core_cached got = {0};
    if (zd_sched_state(c->sched, node) != ZD_NS_READY ||
        !c->cfg.growth->lookup(c->cfg.growth->ctx, node, &got))
        return;
    node_run *r = &c->runs[node];
    if (got.hash) {
        r->in_store = true;
        memcpy(r->hash, got.hash, ZD_STORE_HASH);
        r->size = got.size;
    } else {
        if (got.len > ZD_RESULT_INLINE_MAX || !(r->output = malloc(got.len + 1)))
            return; /* it runs */
        if (got.len)
            memcpy(r->output, got.output, got.len);
        r->output[got.len] = '\0';
        r->output_len = (uint32_t)got.len;
        r->size = got.len;
    }
    r->late = true;
    zd_sched_cached(c->sched, node);
}

/* What the last event made due: templates to expand, ready nodes to look up. */
static void grow_graph(zd_core *c) {
    while (c->n_fans || c->n_late) {
        if (zd_sched_stopped(c->sched) || c->finished) {
            c->n_fans = c->n_late = 0; /* nothing more starts: they are skipped */
            return;
        }
        if (c->n_late)
            look_up(c, c->late[--c->n_late]);
        else
            expand(c, c->fans[--c->n_fans]);
    }
}

/* Every event ends here: what it freed is used, and a run that cannot go on is stopped. */
static void settle(zd_core *c) {
    grow_graph(c);
    if (!c->cfg.listen && !c->gave_up && !zd_sched_finished(c->sched)) {
        bool alive = false;
        for (uint32_t s = 0; s < c->cfg.n_local && !alive; s++)
            alive = zd_slots_state(c->slots, s) != ZD_SLOT_DEAD &&
                    (zd_slots_state(c->slots, s) != ZD_SLOT_DORMANT || c->cfg.can_spawn);
        if (!alive)
            zd_core_give_up(c, c->now, "no executor could be started");
    }
    drop_ahead(c);
    dispatch(c);
}

/* ---- Events ------------------------------------------------------------------------------- */

void zd_core_start(zd_core *c, double now) {
    c->now = now;
    c->started = true;
    if (c->cfg.muster_s > 0)
        arm(c, now + c->cfg.muster_s, ZD_TIMER_MUSTER, 0, 0);
    else
        c->mustered = true;
    if (c->cfg.listen) {
        arm(c, now + heartbeat_s(c), ZD_TIMER_BEAT, 0, 0);
        arm(c, now + WAITING_EVERY_S, ZD_TIMER_WAITING, 0, 0);
    }
    if (c->cfg.progress_s > 0)
        arm(c, now + c->cfg.progress_s, ZD_TIMER_DRAW, 0, 0);
    settle(c);
}

/* Logs a refused peer, once per peer (connection and key) per REFUSAL_QUIET_S, with the count
 * held back; zd_core_finish() logs the totals. */
static void refuse(zd_core *c, const zd_peer *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(zd_core *c, const zd_peer *peer, const char *fmt, ...) {
    const char *user = peer->user_id ? peer->user_id : "";
    refuser *r = NULL;
    c->n_refused++;
    for (uint32_t i = 0; i < c->n_refusers && !r; i++)
        if (strcmp(c->refusers[i].user_id, user) == 0 && c->refusers[i].rid_len == peer->rid_len &&
            memcmp(c->refusers[i].rid, peer->rid, peer->rid_len) == 0)
            r = &c->refusers[i];
    if (!r) {
        /* A full table forgets its oldest peers: many peers still log at most one line each. */
        r = &c->refusers[c->n_refusers < MAX_REFUSERS ? c->n_refusers++
                                                      : c->next_refuser++ % MAX_REFUSERS];
        snprintf(r->user_id, sizeof r->user_id, "%s", user);
        r->rid_len = peer->rid_len < sizeof r->rid ? peer->rid_len : sizeof r->rid;
        memcpy(r->rid, peer->rid, r->rid_len);
        r->limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    }
    unsigned held = 0;
    if (!zd_log_limit_ok(&r->limit, c->now, REFUSAL_QUIET_S, &held)) {
        c->n_refused_quiet++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char more[64] = "";
    if (held)
        snprintf(more, sizeof more, " (%u more refused since)", held);
    zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "%s%s%s%s%s", msg, *user ? " (key \"" : "", user,
            *user ? "\")" : "", more);
}

bool zd_core_on_hello(zd_core *c, double now, const zd_peer *peer, const zd_msg_hello *h) {
    c->now = now;
    bool ok = false;
    if (h->version != ZD_WIRE_VERSION) {
        refuse(c, peer, "refused an executor speaking protocol %u", h->version);
    } else if (peer->sock == ZD_SOCK_LOCAL) {
        ok = h->agent == 0 && h->slot < c->cfg.n_local &&
             zd_slots_state(c->slots, h->slot) == ZD_SLOT_STARTING;
        if (!ok)
            refuse(c, peer, "refused an executor (slot %u, pid %lld)", h->slot, (long long)h->pid);
        else if (c->n_hello < c->cfg.n_local)
            c->n_hello++;
    } else {
        zd_agent *a = zd_agents_get(&c->agents, h->agent);
        /* Only an executor of that agent knows its secret, and it authenticated with the same
         * key: another authorized worker cannot take over this agent's slots. */
        ok = a && a->state == ZD_AGENT_ACTIVE && h->slot < a->slots && h->secret == a->secret &&
             strcmp(a->user_id, peer->user_id ? peer->user_id : "") == 0;
        uint32_t slot = ok ? a->base + h->slot : 0;
        zd_slot_state st = ok ? zd_slots_state(c->slots, slot) : ZD_SLOT_DEAD;
        if (ok && (st == ZD_SLOT_IDLE || st == ZD_SLOT_BUSY) &&
            zd_slots_pid(c->slots, slot) != h->pid) {
            /* The agent runs one executor per slot: a new one proves the old one dead. Its
             * HELLO can overtake the agent's LOST for the old one (two connections), which is
             * then ignored by its pid. */
            slot_gone(c, slot, "replaced by a new executor", true);
            st = zd_slots_state(c->slots, slot);
        }
        ok = ok && st == ZD_SLOT_STARTING;
        if (!ok)
            refuse(c, peer, "refused an executor (agent %u, slot %u)", h->agent, h->slot);
    }
    if (ok) {
        uint32_t slot = peer->sock == ZD_SOCK_LOCAL
                            ? h->slot
                            : zd_agents_get(&c->agents, h->agent)->base + h->slot;
        zd_slots_ready(c->slots, slot, peer, h->pid);
        zd_slots_set_credit(c->slots, slot, h->credit);
        trace_track(c, zd_slots_host(c->slots, slot), (int32_t)slot);
    }
    settle(c);
    return ok;
}

/* Finds or adds the host named in a JOIN; -1 when out of memory. */
/* The allocation of host h: that of the agents on it ("" for none, and for the local host). */
static const char *host_allocation(const zd_core *c, uint32_t h) {
    for (uint32_t i = 1; i <= c->agents.n; i++)
        if (zd_agents_get(&c->agents, i)->host == h)
            return zd_agents_get(&c->agents, i)->allocation;
    return "";
}

static int64_t join_host(zd_core *c, const zd_msg_join *m, const char *allocation) {
    char host[256], names[ZD_WIRE_MAX_RESOURCES][128];
    zd_amount res[ZD_WIRE_MAX_RESOURCES];
    snprintf(host, sizeof host, "%.*s", (int)m->host.len, m->host.ptr);
    /* Agents naming a known host (the coordinator's own included) share its limits, unless
     * they bring an allocation of their own (a Slurm job's share of a node): then only agents
     * of the same allocation share them. */
    for (uint32_t h = 0; h < zd_capacity_hosts(c->cap); h++)
        if (strcmp(host_name(c, h), host) == 0 && strcmp(host_allocation(c, h), allocation) == 0)
            return h;
    for (uint32_t i = 0; i < m->n_res; i++) {
        snprintf(names[i], sizeof names[i], "%.*s", (int)m->res_names[i].len, m->res_names[i].ptr);
        res[i] = (zd_amount){names[i], m->res_amounts[i]};
    }
    uint32_t index;
    if (zd_capacity_add_host(c->cap, host, m->cpus, res, m->n_res, &index) < 0 ||
        zd_slots_add_host(c->slots, index) < 0)
        return -1;
    trace_track(c, index, -1);
    return index;
}

uint32_t zd_core_on_join(zd_core *c, double now, const zd_peer *peer, const zd_msg_join *m) {
    c->now = now;
    uint32_t id = 0;
    if (!c->cfg.listen || peer->sock != ZD_SOCK_REMOTE || m->version != ZD_WIRE_VERSION ||
        zd_agents_find(&c->agents, peer) || c->agents.n >= ZD_MAX_AGENTS) {
        refuse(c, peer, "refused a worker (protocol %u, joined twice, or too many)", m->version);
        goto out;
    }
    char allocation[ZD_WIRE_MAX_ALLOCATION + 1];
    snprintf(allocation, sizeof allocation, "%.*s", (int)m->allocation.len,
             m->allocation.ptr ? m->allocation.ptr : "");
    int64_t host = join_host(c, m, allocation);
    /* Its slots carry the id it is about to get. */
    int64_t base =
        host < 0 ? -1 : zd_slots_add(c->slots, (uint32_t)host, m->slots, c->agents.n + 1);
    zd_agent a = {.state = ZD_AGENT_ACTIVE,
                  .rid_len = peer->rid_len,
                  .secret = random64(c),
                  .host = (uint32_t)host,
                  .base = (uint32_t)base,
                  .slots = m->slots,
                  .last_heard = now,
                  .pid = m->pid};
    memcpy(a.rid, peer->rid, peer->rid_len);
    snprintf(a.user_id, sizeof a.user_id, "%s", peer->user_id ? peer->user_id : "");
    memcpy(a.allocation, allocation, sizeof a.allocation);
    if (base < 0 || !(id = zd_agents_add(&c->agents, &a))) {
        zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "out of memory for a joining worker");
        for (uint32_t s = 0; base >= 0 && s < m->slots; s++)
            zd_slots_gone(c->slots, (uint32_t)base + s, false, NULL, NULL);
        goto out;
    }
    act(c, (zd_action){.kind = ZD_ACT_WELCOME, .agent = id});
    zd_logf(&c->cfg.log, ZDAG_LOG_INFO,
            "worker %u joined from host %.*s%s%s%s (%u slots, %g cpus, pid %lld)", id,
            (int)m->host.len, m->host.ptr, allocation[0] ? " (allocation " : "", allocation,
            allocation[0] ? ")" : "", m->slots, m->cpus, (long long)m->pid);
out:
    settle(c);
    return id;
}

/* An agent spoke: it is alive. A lost one is told it was evicted. Returns it, or NULL. */
static zd_agent *heard(zd_core *c, const zd_peer *peer, uint32_t *id) {
    *id = zd_agents_find(&c->agents, peer);
    zd_agent *a = zd_agents_get(&c->agents, *id);
    if (!a || a->state == ZD_AGENT_LEFT)
        return NULL; /* (what a departed agent still says before its BYE reaches it) */
    if (a->state == ZD_AGENT_LOST) {
        /* Its nodes were given to others: it must drop what it runs (a healed partition, a
         * stopped agent that woke up). */
        act(c, (zd_action){.kind = ZD_ACT_BYE, .agent = *id, .reason = ZD_BYE_EVICTED});
        return NULL;
    }
    a->last_heard = c->now;
    return a;
}

void zd_core_on_beat(zd_core *c, double now, const zd_peer *peer, uint64_t seq) {
    c->now = now;
    uint32_t id;
    zd_agent *a = heard(c, peer, &id);
    if (a && seq > a->acked)
        a->acked = seq;
    settle(c);
}

/* True when none of agent a's slots has work (no attempt running, no task sent ahead) and every
 * executor of it has said HELLO (one still starting has not had its chance at work yet). */
static bool agent_idle(const zd_core *c, const zd_agent *a) {
    for (uint32_t s = a->base; s < a->base + a->slots; s++)
        if (zd_slots_node(c->slots, s) >= 0 || zd_slots_queued(c->slots, s) > 0 ||
            zd_slots_state(c->slots, s) == ZD_SLOT_STARTING)
            return false;
    return true;
}

bool zd_core_on_leave(zd_core *c, double now, const zd_peer *peer, zd_leave_reason reason) {
    c->now = now;
    uint32_t id;
    zd_agent *a = heard(c, peer, &id);
    bool stopped = reason == ZD_LEAVE_STOPPED;
    bool ok = a && (stopped || agent_idle(c, a));
    if (ok) {
        /* Idle, its slots hold no work: retiring them loses nothing. Stopped, it has killed
         * what they ran (as an agent reports an executor LOST): those attempts are over. */
        a->state = ZD_AGENT_LEFT;
        a->stopped = stopped;
        for (uint32_t s = a->base; s < a->base + a->slots; s++)
            slot_gone(c, s, "its worker stopped", false);
        if (!stopped)
            act(c, (zd_action){.kind = ZD_ACT_BYE, .agent = id, .reason = ZD_BYE_DONE});
        zd_logf(&c->cfg.log, stopped ? ZDAG_LOG_WARNING : ZDAG_LOG_INFO,
                "worker %u on host %s left the run (%s)", id, host_name(c, a->host),
                stopped ? "stopped: what it ran runs elsewhere" : "idle");
    }
    settle(c);
    return ok;
}

/* The running attempt of `slot` (node run r) is over: the next task sent ahead there, if any,
 * takes over its grant (the same units, see same_demand()) and is returned; else -1. */
static int64_t hand_over(zd_core *c, uint32_t slot, node_run *r) {
    int64_t next = zd_slots_next(c->slots, slot);
    if (next >= 0 && r->granted) {
        c->runs[next].grant = r->grant;
        c->runs[next].grant.node = (uint32_t)next;
        c->runs[next].granted = true;
        r->granted = false;
    }
    return next;
}

/* Checks that a RESULT answers the running attempt, from its own executor; logs why not. */
static bool result_is_current(zd_core *c, const zd_peer *peer, const zd_msg_result *m) {
    unsigned held = 0;
    bool stale = m->node >= c->n_runs || m->token == 0 || c->runs[m->node].token != m->token ||
                 c->runs[m->node].slot < 0;
    if (!stale && zd_slots_is_peer(c->slots, (uint32_t)c->runs[m->node].slot, peer) &&
        zd_slots_node(c->slots, (uint32_t)c->runs[m->node].slot) == (int64_t)m->node)
        return true;
    c->n_stale++;
    /* A peer can send these as fast as it likes: one line a second, the rest counted. */
    if (!zd_log_limit_ok(&c->stale_limit, c->now, 1.0, &held)) {
        c->n_stale_quiet++;
        return false;
    }
    char more[64] = "";
    if (held)
        snprintf(more, sizeof more, "; %u more discarded since", held);
    if (stale)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "discarded a stale or unknown result (node %u)%s",
                m->node, more);
    else
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING,
                "discarded a result for node %u from the wrong executor%s", m->node, more);
    return false;
}

/* Keeps an accepted result: the inline bytes, or the hash and size of the store file. */
static bool keep_result(node_run *r, const zd_msg_result *m) {
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
    r->in_store = m->hash != NULL;
    r->size = m->size;
    if (m->hash) {
        memcpy(r->hash, m->hash, ZD_STORE_HASH);
        return true;
    }
    if (!(r->output = malloc(m->output.len + 1)))
        return false;
    if (m->output.len)
        memcpy(r->output, m->output.ptr, m->output.len);
    r->output[m->output.len] = '\0';
    r->output_len = (uint32_t)m->output.len; /* a frame is far below 4 GiB */
    return true;
}

uint64_t zd_core_max_result(const zd_core *c, uint32_t index) {
    const zd_node *n = zd_graph_node(c->g, index);
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)c->g);
    return n->max_result       ? n->max_result
           : gs->max_result    ? gs->max_result
           : c->cfg.max_result ? c->cfg.max_result
                               : ZD_RESULT_DEFAULT_MAX;
}

bool zd_core_attempt_live(const zd_core *c, uint32_t node, uint64_t token) {
    return node < c->n_runs && token != 0 && c->runs[node].token == token &&
           c->runs[node].slot >= 0;
}

bool zd_core_attempt_is_peer(const zd_core *c, const zd_peer *peer, uint32_t node, uint64_t token) {
    if (!zd_core_attempt_live(c, node, token))
        return false;
    uint32_t slot = (uint32_t)c->runs[node].slot;
    return zd_slots_is_peer(c->slots, slot, peer) && zd_slots_node(c->slots, slot) == (int64_t)node;
}

bool zd_core_may_fetch(const zd_core *c, const zd_peer *peer, const uint8_t *hash, uint64_t *size,
                       uint64_t *token) {
    for (uint32_t s = 0; s < zd_slots_count(c->slots); s++) {
        int64_t node = zd_slots_node(c->slots, s);
        if (node < 0 || !zd_slots_is_peer(c->slots, s, peer))
            continue;
        zd_graph_inputs it;
        uint32_t d;
        zd_graph_inputs_begin(c->g, (uint32_t)node, &it);
        while (zd_graph_inputs_next(c->g, &it, &d)) {
            const node_run *dep = &c->runs[d];
            if (dep->in_store && memcmp(dep->hash, hash, ZD_STORE_HASH) == 0) {
                *size = dep->size;
                if (token)
                    *token = c->runs[node].token;
                return true;
            }
        }
    }
    return false;
}

bool zd_core_on_result(zd_core *c, double now, const zd_peer *peer, const zd_msg_result *m) {
    c->now = now;
    if (!result_is_current(c, peer, m)) {
        settle(c);
        return false;
    }
    node_run *r = &c->runs[m->node];
    uint32_t slot = (uint32_t)r->slot;
    zd_agent *a = zd_agents_get(&c->agents, zd_slots_agent(c->slots, slot));
    c->n_results++;
    if (a && a->state == ZD_AGENT_ACTIVE)
        a->last_heard = now; /* a result is word from its host too */
    r->has_exit_code = true;
    r->exit_code = m->exit_code;
    uint64_t limit = zd_core_max_result(c, m->node);
    bool ok = m->ok;
    if (!m->ok) {
        set_error(r, "%.*s", (int)m->error.len, m->error.ptr ? m->error.ptr : "failed");
    } else if (m->size > limit) {
        /* Its executor checks the limit too: a remote one may not. */
        char shown[32];
        zd_size_format(limit, shown, sizeof shown);
        set_error(r, "result is over max_result (%s)", shown);
        ok = false;
    } else if (!keep_result(r, m)) {
        set_error(r, "out of memory for its result");
        ok = false;
    }
    learn_duration(c, m->node, now - r->start_s);
    if (!ok)
        unlink_chain(c, slot, m->node);
    if (c->interrupted) /* nothing starts any more: what waits there is abandoned */
        while (zd_slots_queued(c->slots, slot)) {
            uint32_t q = zd_slots_queued_at(c->slots, slot, 0);
            zd_slots_unqueue(c->slots, slot, q);
            take_back(c, q, false);
        }
    /* The next task sent ahead starts now, on the units this attempt held. */
    int64_t next = hand_over(c, slot, r);
    const char *outcome = ok ? "succeeded" : c->interrupted ? "interrupted" : "failed";
    if (!end_attempt(c, m->node, outcome))
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "\"%s\" ended holding a revoked lease",
                node_name(c, m->node));
    if (next >= 0) {
        start_attempt(c, (uint32_t)next, slot);
        touch(c, slot);
    }
    if (ok) {
        free(r->error);
        r->error = NULL;
        zd_sched_succeeded(c->sched, m->node);
        journal_outcome(c, m->node);
    } else {
        failed_attempt(c, m->node);
    }
    settle(c);
    return true;
}

void zd_core_on_dropped(zd_core *c, double now, const zd_peer *peer, const zd_msg_dropped *m) {
    c->now = now;
    node_run *r = m->node < c->n_runs ? &c->runs[m->node] : NULL;
    if (!r || m->token == 0 || r->token != m->token || r->slot < 0 ||
        !zd_slots_is_peer(c->slots, (uint32_t)r->slot, peer)) {
        settle(c);
        return;
    }
    uint32_t slot = (uint32_t)r->slot;
    if (r->ahead) {
        if (zd_slots_unqueue(c->slots, slot, m->node))
            take_back(c, m->node, false);
    } else if (zd_slots_node(c->slots, slot) == (int64_t)m->node) {
        /* It had become the running attempt here when the one before it ended, but its executor
         * had the DROP first: the attempt never started. */
        if (r->n_hist)
            r->n_hist--;
        r->attempts--;
        r->start_s = r->n_hist ? r->hist[r->n_hist - 1].start_s : -1;
        r->end_s = r->n_hist ? r->hist[r->n_hist - 1].end_s : -1;
        int64_t next = hand_over(c, slot, r);
        if (r->granted)
            zd_place_release(c->place, &r->grant);
        r->granted = false;
        take_back(c, m->node, false);
        if (next >= 0)
            start_attempt(c, (uint32_t)next, slot);
    }
    settle(c);
}

/* The tasks a dead executor held up to the one it last started (`started`) all started there:
 * each becomes the running attempt in turn and is lost. */
static void ran_before_death(zd_core *c, uint32_t slot, uint64_t started, const char *how) {
    bool held = false;
    for (uint32_t k = 0; k < zd_slots_queued(c->slots, slot) && started; k++)
        held |= c->runs[zd_slots_queued_at(c->slots, slot, k)].token == started;
    while (held) {
        int64_t head = zd_slots_node(c->slots, slot);
        if (head < 0 || c->runs[head].token == started)
            return;
        int64_t next = hand_over(c, slot, &c->runs[head]);
        attempt_lost(c, (uint32_t)head, how);
        if (next < 0)
            return;
        start_attempt(c, (uint32_t)next, slot);
    }
}

void zd_core_on_exit(zd_core *c, double now, uint32_t slot, const char *how) {
    zd_core_on_exit_started(c, now, slot, how, 0);
}

void zd_core_on_exit_started(zd_core *c, double now, uint32_t slot, const char *how,
                             uint64_t started) {
    c->now = now;
    if (slot >= c->cfg.n_local || zd_slots_state(c->slots, slot) == ZD_SLOT_DEAD) {
        settle(c);
        return;
    }
    ran_before_death(c, slot, started, how);
    /* The slot waits for a replacement (STARTING) unless none may come. */
    bool over = c->interrupted || c->finished || zd_sched_finished(c->sched);
    slot_gone(c, slot, how, true);
    over = over || zd_sched_finished(c->sched);
    if (!over && c->cfg.can_spawn && zd_slots_early_deaths(c->slots, slot) < MAX_SPAWN_FAILS) {
        act(c, (zd_action){.kind = ZD_ACT_SPAWN, .slot = slot});
    } else {
        if (!over && c->cfg.can_spawn)
            zd_logf(&c->cfg.log, ZDAG_LOG_ERROR,
                    "executor %u keeps dying at start (%s); giving up on it", slot, how);
        zd_slots_gone(c->slots, slot, false, NULL, NULL);
    }
    settle(c);
}

/* An agent reports an executor dead, with the last task it started (see ran_before_death()). */
void zd_core_on_lost(zd_core *c, double now, const zd_peer *peer, const zd_msg_lost *m) {
    c->now = now;
    uint32_t id;
    zd_agent *a = heard(c, peer, &id);
    if (!a || m->agent != id || m->slot >= a->slots) {
        if (!a && !id)
            refuse(c, peer, "ignored a LOST report from an unknown worker");
        settle(c);
        return;
    }
    uint32_t slot = a->base + m->slot;
    zd_slot_state st = zd_slots_state(c->slots, slot);
    if (m->pid && (st == ZD_SLOT_IDLE || st == ZD_SLOT_BUSY) &&
        zd_slots_pid(c->slots, slot) != m->pid) {
        settle(c); /* about an executor already replaced (its successor said HELLO first) */
        return;
    }
    char how[160];
    snprintf(how, sizeof how, "%.*s on host %s", (int)m->how.len, m->how.ptr,
             host_name(c, a->host));
    ran_before_death(c, slot, m->started, how);
    slot_gone(c, slot, how, true);
    settle(c);
}

void zd_core_on_spawned(zd_core *c, double now, uint32_t slot, bool ok) {
    c->now = now;
    if (!ok && slot < c->cfg.n_local) {
        zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "cannot start a new executor for slot %u", slot);
        zd_slots_gone(c->slots, slot, false, NULL, NULL);
    }
    settle(c);
}

void zd_core_on_unreachable(zd_core *c, double now, uint32_t slot) {
    c->now = now;
    /* The executor disconnected (its process or its host died, and nobody told us yet). A local
     * one is dead or dying (nothing else closes its connection): it is killed to be sure, and
     * its exit does the rest (how far it got, its slot refilled). A remote one is like a lost
     * executor: its node runs elsewhere, the slot refilled when its agent reports it. */
    zd_slot_state st =
        slot < zd_slots_count(c->slots) ? zd_slots_state(c->slots, slot) : ZD_SLOT_DEAD;
    if (slot < c->cfg.n_local && (st == ZD_SLOT_IDLE || st == ZD_SLOT_BUSY))
        act(c, (zd_action){.kind = ZD_ACT_KILL, .slot = slot, .sig = SIGKILL});
    else if (slot >= c->cfg.n_local && st != ZD_SLOT_DEAD)
        slot_gone(c, slot, "unreachable", true);
    settle(c);
}

/* An attempt passed its deadline (the worker side should have stopped it already): tell its
 * executor's keeper to stop it. Nothing is released until it is known to be over. */
static void deadline_passed(zd_core *c, uint32_t node, uint64_t token) {
    node_run *r = &c->runs[node];
    if (r->token != token || r->slot < 0 || r->timed_out)
        return;
    r->timed_out = true;
    uint32_t slot = (uint32_t)r->slot;
    uint32_t id = zd_slots_agent(c->slots, slot);
    if (!id) {
        act(c, (zd_action){.kind = ZD_ACT_KILL, .slot = slot, .sig = SIGKILL});
        return;
    }
    zd_agent *a = zd_agents_get(&c->agents, id);
    if (!a || a->state != ZD_AGENT_ACTIVE)
        return;
    snprintf(c->why, sizeof c->why, "timed out after %g s", zd_graph_node(c->g, node)->timeout);
    act(c, (zd_action){.kind = ZD_ACT_CANCEL,
                       .agent = id,
                       .agent_slot = slot - a->base,
                       .token = token,
                       .why = c->why});
}

/* Heartbeats: every agent is told the last beat we got from it; silent ones are lost. */
static void beat(zd_core *c) {
    for (uint32_t i = 1; i <= c->agents.n; i++) {
        zd_agent *a = zd_agents_get(&c->agents, i);
        if (a->state != ZD_AGENT_ACTIVE)
            continue;
        double silent = c->now - a->last_heard;
        if (silent > c->cfg.lost_s) {
            /* Longer than T_lost > T_fence: the worker side has stopped every attempt. */
            zd_logf(&c->cfg.log, ZDAG_LOG_WARNING,
                    "worker %u on host %s is lost (silent for %.1f s)", i, host_name(c, a->host),
                    silent);
            a->state = ZD_AGENT_LOST;
            c->n_lost_hosts++;
            for (uint32_t s = a->base; s < a->base + a->slots; s++)
                slot_gone(c, s, "host lost", false);
            continue;
        }
        act(c, (zd_action){.kind = ZD_ACT_BEAT, .agent = i, .token = a->acked});
    }
    arm(c, c->now + heartbeat_s(c), ZD_TIMER_BEAT, 0, 0);
}

/* With nothing running and nodes ready, a run that accepts workers says what it waits for. */
static void say_waiting(zd_core *c) {
    if (c->finished || zd_place_running(c->place) > 0 || !zd_sched_has_ready(c->sched))
        return;
    uint32_t active = 0, best = zd_sched_peek(c->sched);
    for (uint32_t i = 1; i <= c->agents.n; i++)
        active += zd_agents_get(&c->agents, i)->state == ZD_AGENT_ACTIVE;
    char why[160];
    if (active == 0 && c->cfg.n_local == 0) {
        zd_logf(&c->cfg.log, ZDAG_LOG_INFO, "waiting for workers: no worker has joined yet");
    } else if (!zd_place_can_ever_run(c->place, best)) {
        zd_capacity_explain(c->cap, best, why, sizeof why);
        zd_logf(&c->cfg.log, ZDAG_LOG_INFO, "waiting for a bigger worker: node \"%s\" %s",
                node_name(c, best), why);
    } else {
        zd_logf(&c->cfg.log, ZDAG_LOG_INFO,
                "waiting for workers: node \"%s\" is ready, %u worker%s joined, none has an "
                "executor free",
                node_name(c, best), active, active == 1 ? "" : "s");
    }
}

void zd_core_on_timer(zd_core *c, double now) {
    c->now = now;
    zd_timer t;
    while (zd_timers_due(&c->timers, now, &t)) {
        switch (t.kind) {
        case ZD_TIMER_RETRY:
            if (zd_sched_state(c->sched, t.id) == ZD_NS_RUNNING && c->runs[t.id].token == 0 &&
                c->runs[t.id].attempts == t.gen) {
                if (zd_sched_stopped(c->sched))
                    node_failed(c, t.id);
                else
                    zd_sched_requeue(c->sched, t.id);
            }
            break;
        case ZD_TIMER_DEADLINE:
            deadline_passed(c, t.id, t.gen);
            break;
        case ZD_TIMER_BEAT:
            if (!c->finished)
                beat(c);
            break;
        case ZD_TIMER_SYNC:
            c->sync_armed = false;
            act(c, (zd_action){.kind = ZD_ACT_SYNC});
            break;
        case ZD_TIMER_DRAW:
            act(c, (zd_action){.kind = ZD_ACT_DRAW});
            if (!c->finished)
                arm(c, now + c->cfg.progress_s, ZD_TIMER_DRAW, 0, 0);
            break;
        case ZD_TIMER_MUSTER:
            c->mustered = true;
            break;
        case ZD_TIMER_WAITING:
            say_waiting(c);
            if (!c->finished)
                arm(c, now + WAITING_EVERY_S, ZD_TIMER_WAITING, 0, 0);
            break;
        }
    }
    settle(c);
}

/* Fails the nodes waiting for a retry once the run has stopped: they get no attempt. */
static void drop_retries(zd_core *c) {
    for (uint32_t i = 0; i < c->n_runs; i++)
        if (zd_sched_state(c->sched, i) == ZD_NS_RUNNING && c->runs[i].token == 0) {
            if (c->interrupted) {
                set_error(&c->runs[i], "interrupted");
                zd_sched_abandon(c->sched, i);
            } else {
                node_failed(c, i);
            }
        }
}

/* BYE to every agent still in the run (a departed one was told already). */
static void bye_all(zd_core *c) {
    for (uint32_t i = 1; i <= c->agents.n; i++) {
        zd_agent *a = zd_agents_get(&c->agents, i);
        if (a->state != ZD_AGENT_GONE && a->state != ZD_AGENT_LEFT)
            act(c, (zd_action){.kind = ZD_ACT_BYE, .agent = i, .reason = ZD_BYE_DONE});
        if (a->state != ZD_AGENT_LEFT)
            a->state = ZD_AGENT_GONE;
    }
}

void zd_core_on_signal(zd_core *c, double now, int sig) {
    c->now = now;
    if (c->interrupted) {
        /* A second signal: leave at once, killing everything. */
        for (uint32_t s = 0; s < c->cfg.n_local; s++)
            act(c, (zd_action){.kind = ZD_ACT_KILL, .slot = s, .sig = SIGKILL});
        return;
    }
    zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "%s: stopping (running nodes are killed)",
            strsignal(sig));
    c->interrupted = sig;
    zd_sched_stop(c->sched);
    drop_retries(c);
    /* Remote nodes die with their agents' sessions, which end now. */
    for (uint32_t s = c->cfg.n_local; s < zd_slots_count(c->slots); s++)
        if (zd_slots_state(c->slots, s) == ZD_SLOT_BUSY)
            slot_gone(c, s, "interrupted", false);
    bye_all(c);
    /* Running local nodes are killed with their executors. */
    for (uint32_t s = 0; s < c->cfg.n_local; s++)
        if (zd_slots_state(c->slots, s) == ZD_SLOT_BUSY)
            act(c, (zd_action){.kind = ZD_ACT_KILL, .slot = s, .sig = SIGTERM});
}

void zd_core_give_up(zd_core *c, double now, const char *why) {
    c->now = now;
    if (c->gave_up)
        return;
    zd_logf(&c->cfg.log, ZDAG_LOG_ERROR, "%s; the run cannot go on", why);
    c->gave_up = true;
    snprintf(c->gave_up_why, sizeof c->gave_up_why, "%s", why);
    zd_sched_stop(c->sched);
    drop_retries(c);
}

void zd_core_finish(zd_core *c, double now) {
    c->now = now;
    if (c->finished)
        return;
    drop_retries(c);
    c->finished = true;
    bye_all(c);
    zd_sched_close(c->sched);
    act(c, (zd_action){.kind = ZD_ACT_SYNC});
    if (c->n_refused_quiet)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING, "refused %llu messages of workers in all",
                (unsigned long long)c->n_refused);
    if (c->n_stale_quiet)
        zd_logf(&c->cfg.log, ZDAG_LOG_WARNING,
                "discarded %llu stale, forged or misrouted results in all",
                (unsigned long long)c->n_stale);
}

/* ---- Queries ------------------------------------------------------------------------------ */

double zd_core_next_timer(const zd_core *c) {
    return zd_timers_next(&c->timers);
}

bool zd_core_finished(const zd_core *c) {
    return zd_sched_finished(c->sched);
}

int zd_core_exit_code(const zd_core *c) {
    if (c->interrupted)
        return 128 + c->interrupted;
    if (zd_sched_count(c->sched, ZD_NS_FAILED) > 0)
        return 1;
    if (c->gave_up)
        return 3;
    return 0;
}

/* Builds the task environment of a node once: graph-wide env, then the node's own. */
static int node_env(zd_core *c, uint32_t index) {
    node_run *r = &c->runs[index];
    const zd_node *node = zd_graph_node(c->g, index);
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)c->g);
    size_t n = gs->n_env + node->n_env;
    if (r->env || n == 0)
        return 0;
    r->env = calloc(n ? n : 1, sizeof *r->env);
    if (!r->env)
        return ZDAG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const zd_kv *kv = i < gs->n_env ? &gs->env[i] : &node->env[i - gs->n_env];
        if (asprintf(&r->env[i], "%s=%s", kv->key, kv->value) < 0) {
            r->env[i] = NULL;
            return ZDAG_ENOMEM;
        }
        r->n_env = (uint32_t)i + 1;
    }
    return 0;
}

static int reserve_scratch(zd_core *c, size_t n) {
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

void zd_core_log_path(const zd_core *c, uint32_t node, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s.log", c->cfg.log_dir ? c->cfg.log_dir : ".", node_name(c, node));
}

int zd_core_task(zd_core *c, uint32_t index, uint32_t slot, zd_msg_task *t) {
    const zd_node *node = zd_graph_node(c->g, index);
    node_run *r = &c->runs[index];
    int rc = node_env(c, index);
    size_t n_inputs = zd_graph_input_count(c->g, index);
    if (rc < 0 || (rc = reserve_scratch(c, node->argc + n_inputs + r->n_env + 1)) < 0)
        return rc;
    zd_bytes *argv = c->env_scratch + r->n_env; /* argv views follow the env views */
    for (size_t i = 0; i < node->argc; i++)
        argv[i] = cstr(node->argv[i]);
    for (size_t i = 0; i < r->n_env; i++)
        c->env_scratch[i] = cstr(r->env[i]);
    zd_graph_inputs it;
    uint32_t d;
    zd_graph_inputs_begin(c->g, index, &it);
    for (size_t i = 0; zd_graph_inputs_next(c->g, &it, &d); i++) {
        const node_run *dep = &c->runs[d];
        const zd_node *producer = zd_graph_node(c->g, d);
        c->dep_scratch[i].name = cstr(producer->name);
        c->dep_scratch[i].format = producer->kind == ZD_NODE_FN ? ZD_FORMAT_MSGPACK : ZD_FORMAT_RAW;
        c->dep_scratch[i].size = dep->size;
        c->dep_scratch[i].hash = dep->in_store ? dep->hash : NULL;
        c->dep_scratch[i].data = dep->in_store
                                     ? (zd_bytes){NULL, 0}
                                     : (zd_bytes){dep->output ? dep->output : "", dep->output_len};
    }
    /* A remote executor cannot write here: it sends its log back with the result. A function
     * has no log of its own. */
    bool remote = zd_slots_agent(c->slots, slot) != 0;
    bool log = !remote && node->kind != ZD_NODE_FN;
    if (log)
        zd_core_log_path(c, index, c->log_path, sizeof c->log_path);
    *t = (zd_msg_task){.node = index,
                       .token = r->token,
                       .attempt = r->attempts + (r->ahead ? 1 : 0),
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
                       .log_path = log ? cstr(c->log_path) : (zd_bytes){NULL, 0},
                       .deps = c->dep_scratch,
                       .n_deps = (uint32_t)n_inputs,
                       .max_result = zd_core_max_result(c, index),
                       .store_dir = remote ? (zd_bytes){NULL, 0} : cstr(c->cfg.store_dir),
                       .after = r->after >= 0 ? c->runs[r->after].token : 0,
                       .cpus = node->cpus};
    return 0;
}

void zd_core_welcome(const zd_core *c, uint32_t id, zd_msg_welcome *w, zd_bytes *plugins) {
    const zd_agent *a = zd_agents_get(&c->agents, id);
    uint32_t n = c->cfg.n_plugins < ZD_WIRE_MAX_PLUGINS ? c->cfg.n_plugins : 0;
    for (uint32_t i = 0; i < n; i++)
        plugins[i] = cstr(c->cfg.plugins[i]);
    *w = (zd_msg_welcome){.agent = id,
                          .run_id = cstr(c->cfg.run_id),
                          .heartbeat_ms = (uint32_t)llround(c->cfg.heartbeat_s * 1000),
                          .plugins = plugins,
                          .n_plugins = n,
                          .secret = a ? a->secret : 0,
                          .fence_ms = (uint32_t)llround(c->cfg.fence_s * 1000)};
}

bool zd_core_slot_peer(const zd_core *c, uint32_t slot, zd_sock_id *sock, const unsigned char **rid,
                       size_t *rid_len) {
    return slot < zd_slots_count(c->slots) && zd_slots_peer(c->slots, slot, sock, rid, rid_len);
}

bool zd_core_agent_peer(const zd_core *c, uint32_t id, const unsigned char **rid, size_t *rid_len) {
    const zd_agent *a = zd_agents_get(&c->agents, id);
    if (!a)
        return false;
    *rid = a->rid;
    *rid_len = a->rid_len;
    return true;
}

bool zd_core_slot_is_idle(const zd_core *c, uint32_t slot) {
    return slot < zd_slots_count(c->slots) && zd_slots_state(c->slots, slot) == ZD_SLOT_IDLE;
}

void zd_core_counts_get(const zd_core *c, zd_core_counts *out) {
    uint32_t failed = zd_sched_count(c->sched, ZD_NS_FAILED);
    out->failed = failed;
    out->done = zd_sched_count(c->sched, ZD_NS_SUCCEEDED) + failed +
                zd_sched_count(c->sched, ZD_NS_SKIPPED) + zd_sched_count(c->sched, ZD_NS_CACHED);
    out->running = zd_place_running(c->place);
    out->active = c->n_active;
    out->started = c->n_attempts;
    out->results = c->n_results;
    out->retries = c->n_retries;
    out->lost_hosts = c->n_lost_hosts;
}

void zd_core_outcome(const zd_core *c, uint32_t index, zd_node_outcome *out) {
    if (index >= c->n_runs) { /* an instance the core could not take (out of memory) */
        *out = (zd_node_outcome){.state = ZD_NS_SKIPPED,
                                 .executor = -1,
                                 .start_s = -1,
                                 .end_s = -1,
                                 .error = "out of memory as its node fanned out"};
        return;
    }
    const node_run *r = &c->runs[index];
    zd_node_state st = zd_sched_state(c->sched, index);
    bool has_result = st == ZD_NS_SUCCEEDED || st == ZD_NS_CACHED;
    *out = (zd_node_outcome){
        .state = st,
        .up_to_date = st == ZD_NS_CACHED && c->cfg.up_to_date && index < c->n_static &&
                      c->cfg.up_to_date[index],
        .attempts = r->attempts,
        .executor = r->slot,
        .host = r->slot >= 0 ? host_name(c, zd_slots_host(c->slots, (uint32_t)r->slot)) : NULL,
        .start_s = r->start_s,
        .end_s = r->end_s,
        .has_exit_code = r->has_exit_code,
        .exit_code = r->exit_code,
        .error = r->error,
        .output = has_result && !r->in_store ? r->output : NULL,
        .output_len = has_result && !r->in_store ? r->output_len : 0,
        .has_output = has_result && (r->in_store || r->output),
        .output_hash = has_result && r->in_store ? r->hash : NULL,
        .output_size = has_result ? r->size : 0,
        .output_is_msgpack = zd_graph_node(c->g, index)->kind == ZD_NODE_FN,
        .history = r->hist,
        .n_history = r->n_hist,
        .is_template = zd_graph_fan_source(c->g, index) >= 0};
    uint32_t first;
    if (out->is_template)
        out->expanded = zd_graph_fan_instances(c->g, index, &first, &out->instances);
    if (st == ZD_NS_SKIPPED && !r->error)
        out->error = zd_sched_skip_cause(c->sched, index) >= 0 ? "a dependency failed"
                     : c->interrupted                          ? "interrupted"
                                                               : "the run stopped first";
}

/* ---- Status (zdag status) ----------------------------------------------------------------- */

/* Appends printf text to buf[0..size) at *at. */
static void add(char *buf, size_t size, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t size, size_t *at, const char *fmt, ...) {
    if (*at >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, size - *at, fmt, ap);
    va_end(ap);
    *at = n < 0 ? size : *at + (size_t)n > size ? size : *at + (size_t)n;
}

/* Why a waiting node waits: the deps not done yet, or a template's instances. */
static void why_waiting(const zd_core *c, uint32_t node, char *buf, size_t size) {
    size_t at = 0;
    uint32_t first, count;
    if (zd_graph_fan_instances(c->g, node, &first, &count)) {
        add(buf, size, &at, "waits for its instances: %u of %u done",
            count - zd_sched_pending(c->sched, node), count);
        return;
    }
    const zd_node *n = zd_graph_node(c->g, node);
    uint32_t shown = 0, left = zd_sched_pending(c->sched, node);
    add(buf, size, &at, "waits for");
    for (uint32_t i = 0; i < n->n_deps; i++) {
        zd_node_state st = zd_sched_state(c->sched, n->deps[i]);
        if (st == ZD_NS_SUCCEEDED || st == ZD_NS_CACHED)
            continue;
        if (shown == 3) {
            add(buf, size, &at, " and %u more", left - shown);
            break;
        }
        add(buf, size, &at, "%s %s (%s)", shown ? "," : "", node_name(c, n->deps[i]),
            zd_node_state_name(st));
        shown++;
    }
}

/* The first limit that holds a ready node (README "zdag status"). */
typedef enum ready_hold {
    HOLD_MUSTER,    /* the local executors are starting */
    HOLD_JOBS,      /* -j reached */
    HOLD_SEQ_OTHER, /* a sequential node waits to run alone */
    HOLD_SEQ_DRAIN, /* it is sequential and waits for the running ones to end */
    HOLD_POOL,      /* its pool is full */
    HOLD_NO_HOST,   /* no host could ever fit it: it waits for a bigger one */
    HOLD_UNITS,     /* CPU units or resources in use on every host that could fit it */
    HOLD_NO_IDLE,   /* no idle executor on a host with room */
    HOLD_NONE,      /* nothing: it starts next */
} ready_hold;

/* Per host: whether it has an executor slot that is not retired (the local host of a run with
 * -w 0 has none, nor the host of an agent that left): only those can ever run a node. Caller
 * frees; NULL when out of memory. */
static bool *hosts_alive(const zd_core *c) {
    uint32_t n = zd_capacity_hosts(c->cap);
    bool *alive = calloc(n ? n : 1, sizeof *alive);
    for (uint32_t s = 0; alive && s < zd_slots_count(c->slots); s++)
        if (zd_slots_state(c->slots, s) != ZD_SLOT_DEAD)
            alive[zd_slots_host(c->slots, s)] = true;
    return alive;
}

static ready_hold hold_of(const zd_core *c, uint32_t node, const bool *alive) {
    const zd_node *n = zd_graph_node(c->g, node);
    uint32_t running = zd_place_running(c->place);
    int64_t seq = zd_place_seq_waiting(c->place, NULL);
    if (!c->mustered)
        return HOLD_MUSTER;
    if ((int64_t)running >= c->jobs)
        return HOLD_JOBS;
    if (seq >= 0 && (uint32_t)seq != node)
        return HOLD_SEQ_OTHER;
    if (n->sequential && running > 0)
        return HOLD_SEQ_DRAIN;
    if (n->pool >= 0 && !zd_lease_available(c->leases, n->pool))
        return HOLD_POOL;
    bool ever = false, now = false, idle = false;
    for (uint32_t h = 0; h < zd_capacity_hosts(c->cap); h++) {
        if (alive && !alive[h])
            continue;
        bool fits = zd_capacity_fits(c->cap, h, node);
        ever |= zd_capacity_fits_total(c->cap, h, node);
        now |= fits;
        idle |= fits && zd_slots_idle(c->slots)[h] > 0;
    }
    return !ever ? HOLD_NO_HOST : !now ? HOLD_UNITS : !idle ? HOLD_NO_IDLE : HOLD_NONE;
}

/* Why a ready node has not started: the first limit that holds it, in words. */
static void why_ready(const zd_core *c, uint32_t node, char *buf, size_t size) {
    const zd_node *n = zd_graph_node(c->g, node);
    size_t at = 0;
    int64_t seq = zd_place_seq_waiting(c->place, NULL);
    char why[160];
    bool *alive = hosts_alive(c);
    bool any = false;
    for (uint32_t h = 0; alive && h < zd_capacity_hosts(c->cap); h++)
        any |= alive[h];
    ready_hold hold = hold_of(c, node, alive);
    free(alive);
    switch (hold) {
    case HOLD_MUSTER:
        add(buf, size, &at, "ready: the executors are starting");
        break;
    case HOLD_JOBS:
        add(buf, size, &at, "ready: -j %d reached (%u running)", c->jobs,
            zd_place_running(c->place));
        break;
    case HOLD_SEQ_OTHER:
        add(buf, size, &at, "ready: sequential node %s waits to run alone", node_name(c, seq));
        break;
    case HOLD_SEQ_DRAIN:
        add(buf, size, &at, "ready: sequential, waits until the %u running end",
            zd_place_running(c->place));
        break;
    case HOLD_POOL: {
        const zd_pool *p = zd_graph_pool(c->g, n->pool);
        add(buf, size, &at, "ready: pool %s is full (%u of %d in use)", p->name,
            zd_lease_in_use(c->leases, n->pool), p->capacity);
        break;
    }
    case HOLD_NO_HOST:
        if (!any) {
            add(buf, size, &at, "ready: waits for a host (no executor is in the run)");
            break;
        }
        zd_capacity_explain(c->cap, node, why, sizeof why);
        add(buf, size, &at, "ready: %s; waits for a bigger host", why);
        break;
    case HOLD_UNITS:
        add(buf, size, &at, "ready: CPU units or resources in use on every host");
        for (uint32_t h = 0; h < zd_capacity_hosts(c->cap); h++) {
            double used, total;
            zd_capacity_cpu_units(c->cap, h, &used, &total);
            add(buf, size, &at, "%s %s %g/%g", h ? "," : ";", host_name(c, h), used, total);
        }
        break;
    case HOLD_NO_IDLE:
        add(buf, size, &at, "ready: no idle executor on a host with room");
        break;
    case HOLD_NONE:
        add(buf, size, &at, "ready: starts next");
        break;
    }
}

/* True for the holds more hosts would lift. */
static bool host_hold(ready_hold h) {
    return h == HOLD_NO_HOST || h == HOLD_UNITS || h == HOLD_NO_IDLE;
}

bool zd_core_waits_for_hosts(const zd_core *c, uint32_t node) {
    if (node >= c->n_runs || zd_sched_stopped(c->sched) || c->finished ||
        zd_sched_state(c->sched, node) != ZD_NS_READY)
        return false;
    bool *alive = hosts_alive(c);
    bool waits = host_hold(hold_of(c, node, alive));
    free(alive);
    return waits;
}

void zd_core_demand(const zd_core *c, zd_core_demand_info *out) {
    *out = (zd_core_demand_info){.big_node = UINT32_MAX};
    for (uint32_t s = 0; s < zd_slots_count(c->slots); s++) {
        zd_slot_state st = zd_slots_state(c->slots, s);
        out->executors += st == ZD_SLOT_IDLE || st == ZD_SLOT_BUSY || st == ZD_SLOT_STARTING;
    }
    if (zd_sched_stopped(c->sched) || c->finished)
        return;
    bool *alive = hosts_alive(c);
    for (uint32_t i = 0; i < c->n_runs; i++) {
        if (zd_sched_state(c->sched, i) != ZD_NS_READY)
            continue;
        ready_hold h = hold_of(c, i, alive);
        if (!host_hold(h))
            continue;
        out->waiting++;
        if (h != HOLD_NO_HOST)
            continue;
        const zd_node *n = zd_graph_node(c->g, i);
        double mem = 0;
        for (uint32_t k = 0; k < n->n_resources; k++) {
            if (strcmp(n->resources[k].name, "mem_mb") == 0)
                mem = n->resources[k].amount;
            else
                out->other_resources |= n->resources[k].amount > 0;
        }
        if (out->too_big++ == 0 || n->cpus > out->need_cpus || mem > out->need_mem_mb)
            out->big_node = i;
        out->need_cpus = n->cpus > out->need_cpus ? n->cpus : out->need_cpus;
        out->need_mem_mb = mem > out->need_mem_mb ? mem : out->need_mem_mb;
    }
    free(alive);
}

void zd_core_why(const zd_core *c, uint32_t node, char *buf, size_t size) {
    if (size)
        buf[0] = '\0';
    if (node >= c->n_runs || !size)
        return;
    const node_run *r = &c->runs[node];
    size_t at = 0;
    switch (zd_sched_state(c->sched, node)) {
    case ZD_NS_WAITING:
        why_waiting(c, node, buf, size);
        break;
    case ZD_NS_READY:
        if (zd_sched_stopped(c->sched))
            add(buf, size, &at, "the run is stopping: it will not start");
        else
            why_ready(c, node, buf, size);
        break;
    case ZD_NS_RUNNING:
        if (r->after >= 0)
            add(buf, size, &at, "sent with %s: starts when it succeeds", node_name(c, r->after));
        else if (r->ahead)
            add(buf, size, &at, "queued on executor %d", r->slot);
        else if (!r->granted)
            add(buf, size, &at, "back-off: attempt %u at %.1f s", r->attempts + 1,
                r->end_s + retry_delay(r));
        else
            add(buf, size, &at, "running");
        break;
    default:
        add(buf, size, &at, "%s", zd_node_state_name(zd_sched_state(c->sched, node)));
    }
}

size_t zd_core_ready_head(const zd_core *c, uint32_t *out, size_t max) {
    size_t n = 0;
    for (uint32_t i = 0; i < c->n_runs && max; i++) {
        if (zd_sched_state(c->sched, i) != ZD_NS_READY)
            continue;
        size_t at = n < max ? n++ : max;
        if (at == max && !zd_sched_before(c->sched, i, out[max - 1]))
            continue;
        if (at == max)
            at = max - 1;
        while (at > 0 && zd_sched_before(c->sched, i, out[at - 1])) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = i;
    }
    return n;
}

size_t zd_core_running_nodes(const zd_core *c, uint32_t *out, size_t max) {
    size_t n = 0;
    for (uint32_t s = 0; s < zd_slots_count(c->slots); s++) {
        int64_t node =
            zd_slots_state(c->slots, s) == ZD_SLOT_BUSY ? zd_slots_node(c->slots, s) : -1;
        if (node >= 0 && n < max)
            out[n] = (uint32_t)node;
        n += node >= 0;
    }
    return n;
}

uint32_t zd_core_host_count(const zd_core *c) {
    return zd_capacity_hosts(c->cap);
}

zd_core_agent_state zd_core_agent_state_of(const zd_core *c, uint32_t id) {
    const zd_agent *a = zd_agents_get(&c->agents, id);
    if (!a)
        return ZD_CORE_AGENT_NONE;
    return a->state == ZD_AGENT_ACTIVE ? ZD_CORE_AGENT_ACTIVE
           : a->state == ZD_AGENT_LOST ? ZD_CORE_AGENT_LOST
           : a->state == ZD_AGENT_LEFT ? (a->stopped ? ZD_CORE_AGENT_STOPPED : ZD_CORE_AGENT_LEFT)
                                       : ZD_CORE_AGENT_DONE;
}

void zd_core_host(const zd_core *c, uint32_t host, double now, zd_core_host_info *out) {
    *out = (zd_core_host_info){
        .name = host_name(c, host), .heard_s = -1, .allocation = host_allocation(c, host)};
    bool any = false, all_left = true;
    zd_capacity_cpu_units(c->cap, host, &out->cpus_used, &out->cpus);
    for (uint32_t s = 0; s < zd_slots_count(c->slots); s++) {
        if (zd_slots_host(c->slots, s) != host)
            continue;
        zd_slot_state st = zd_slots_state(c->slots, s);
        out->slots += st == ZD_SLOT_IDLE || st == ZD_SLOT_BUSY || st == ZD_SLOT_STARTING;
        out->busy += st == ZD_SLOT_BUSY;
    }
    for (uint32_t i = 1; i <= c->agents.n; i++) {
        const zd_agent *a = zd_agents_get(&c->agents, i);
        if (a->host != host)
            continue;
        double ago = now - a->last_heard;
        if (out->heard_s < 0 || ago < out->heard_s)
            out->heard_s = ago;
        out->lost |= a->state == ZD_AGENT_LOST;
        any = true;
        all_left &= a->state == ZD_AGENT_LEFT;
    }
    out->left = any && all_left;
}

bool zd_core_interrupted(const zd_core *c, int *sig) {
    if (sig)
        *sig = c->interrupted;
    return c->interrupted != 0;
}

const char *zd_core_error(const zd_core *c) {
    return c->gave_up ? c->gave_up_why : NULL;
}

int zd_core_jobs(const zd_core *c) {
    if (c->jobs < INT32_MAX && c->cfg.jobs > 0)
        return c->jobs;
    /* Without -j: the executors for the cores and the remote ones (IO-only slots come on top,
     * for nodes that take no CPU unit). */
    return (int)(zd_slots_count(c->slots) - (c->cfg.n_local - c->cfg.n_started));
}
