/* The coordinator's core as a state machine: scripted events, a fake clock, and the exact
 * actions and states that come out. Written against coordinator/core.h only: slots are found
 * through the TASK actions and zd_core_slot_peer(), tokens through zd_core_task(), and every
 * timer is fired through zd_core_next_timer()/zd_core_on_timer(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "graphs.h"

#define EPS 1e-6        /* "just before" a deadline */
#define MAX_LOGGED 4096 /* actions one test may see */
#define MAX_KNOWN 32    /* peers one test may use */
#define MAX_RANDOM 1024 /* random values one test may hand out */
#define RANDOM_BASE 0x5eed000000000000ull

/* One action as drained, with what it borrowed copied and, for a TASK, its attempt. */
typedef struct logged {
    zd_action a;      /* the action (a.why points at why) */
    char why[160];    /* CANCEL: the reason, copied */
    double at;        /* the "now" of the event that produced it */
    uint64_t token;   /* TASK: the attempt token from zd_core_task() */
    uint32_t attempt; /* TASK: the attempt number */
    uint64_t timeout; /* TASK: timeout_ms */
} logged;

/* A connection the test speaks through. */
typedef struct peer_rec {
    zd_sock_id sock;
    char rid[32];
    char user[32];
} peer_rec;

typedef struct rig {
    zd_graph *g;
    zd_core_cfg cfg;
    zd_core *c;
    logged log[MAX_LOGGED]; /* every action since the core was made */
    size_t n;
    peer_rec known[MAX_KNOWN]; /* peers that said HELLO or JOIN */
    size_t n_known;
    uint32_t local_gen[16]; /* incarnations of each local slot (for fresh routing ids) */
    uint64_t counter;       /* the fake random source */
    uint64_t randoms[MAX_RANDOM];
    size_t n_randoms;
    char last_log[512]; /* the last message the core logged */
    unsigned n_logs;
} rig;

/* cmocka 1.1 has no assert_double_equal; times are compared to 1e-9 s. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file, int line) {
    if (!(a >= b - eps && a <= b + eps)) {
        print_error("%.9f != %.9f\n", a, b);
        _fail(file, line);
    }
}

/* ---- The rig ------------------------------------------------------------------------------- */

static uint64_t fake_random(void *ctx) {
    rig *r = ctx;
    uint64_t v = RANDOM_BASE + ++r->counter;
    if (r->n_randoms < MAX_RANDOM)
        r->randoms[r->n_randoms++] = v;
    return v;
}

static bool from_random(const rig *r, uint64_t v) {
    for (size_t i = 0; i < r->n_randoms; i++)
        if (r->randoms[i] == v)
            return true;
    return false;
}

static void sink(void *ctx, zdag_log_level level, const char *message) {
    rig *r = ctx;
    (void)level;
    snprintf(r->last_log, sizeof r->last_log, "%s", message);
    r->n_logs++;
    if (getenv("ZD_TEST_VERBOSE"))
        fprintf(stderr, "core: %s\n", message);
}

/* A finished graph of `names` (no edges unless given), every node a shell command. */
static zd_graph *graph_of(const char *const *names, const char *const *edges) {
    zd_graph *g = build_graph(names, edges);
    for (uint32_t i = 0; i < zd_graph_size(g); i++)
        zd_graph_node(g, i)->shell = strdup("true");
    return g;
}

static zd_node *node_of(rig *r, uint32_t i) {
    return zd_graph_node(r->g, i);
}

/* Makes node i a function node (its timeout is then the coordinator's to enforce too). */
static void make_fn(zd_graph *g, uint32_t i) {
    zd_node *n = zd_graph_node(g, i);
    free(n->shell);
    n->shell = NULL;
    n->kind = ZD_NODE_FN;
    n->fn = strdup("f");
}

/* The default configuration: n_local local slots, one CPU each, deterministic randomness. */
static rig *rig_new(zd_graph *g, uint32_t n_local) {
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->g = g;
    r->cfg = (zd_core_cfg){.n_local = n_local,
                           .can_spawn = true,
                           .prio = ZD_PRIO_USER,
                           .log_dir = "/nonexistent/zdag-test-logs",
                           .run_id = "run-test",
                           .host_id = "here",
                           .local_cpus = n_local,
                           .heartbeat_s = 1,
                           .random = fake_random,
                           .random_ctx = r,
                           .log = {sink, r}};
    return r;
}

static void pump(rig *r, double now);

static void rig_up(rig *r) {
    assert_int_equal(zd_core_new(&r->cfg, r->g, &r->c), 0);
    assert_non_null(r->c);
    pump(r, 0);
}

static void rig_free(rig *r) {
    zd_core_free(&r->c);
    assert_null(r->c);
    zd_graph_free(&r->g);
    free(r);
}

/* Drains the actions of the event just made into the log; a TASK's token is read at once,
 * since zd_core_task()'s views last only until the next event. */
static void pump(rig *r, double now) {
    size_t n;
    const zd_action *a = zd_core_actions(r->c, &n);
    assert_true(n == 0 || a != NULL);
    for (size_t i = 0; i < n; i++) {
        assert_true(r->n < MAX_LOGGED);
        logged *l = &r->log[r->n++];
        memset(l, 0, sizeof *l);
        l->a = a[i];
        l->at = now;
        if (a[i].why) {
            snprintf(l->why, sizeof l->why, "%s", a[i].why);
            l->a.why = l->why;
        }
        if (a[i].kind == ZD_ACT_TASK) {
            zd_msg_task t;
            assert_int_equal(zd_core_task(r->c, a[i].node, a[i].slot, &t), 0);
            assert_int_equal(t.node, a[i].node);
            l->token = t.token;
            l->attempt = t.attempt;
            l->timeout = t.timeout_ms;
        }
    }
    size_t again;
    (void)zd_core_actions(r->c, &again);
    assert_int_equal(again, 0); /* the list was emptied */
}

/* Fires every timer due up to `until`, in order, each at its own due time. */
static void advance(rig *r, double until) {
    for (int guard = 0;; guard++) {
        assert_true(guard < 100000); /* a timer that never moves on */
        double due = zd_core_next_timer(r->c);
        if (due < 0 || due > until)
            break;
        zd_core_on_timer(r->c, due);
        pump(r, due);
    }
}

/* Queries over the log, from index `from` on. */
static size_t count_kind(const rig *r, size_t from, zd_action_kind kind) {
    size_t k = 0;
    for (size_t i = from; i < r->n; i++)
        k += r->log[i].a.kind == kind;
    return k;
}

static const logged *find_act(const rig *r, size_t from, zd_action_kind kind) {
    for (size_t i = from; i < r->n; i++)
        if (r->log[i].a.kind == kind)
            return &r->log[i];
    return NULL;
}

static const logged *find_node_act(const rig *r, size_t from, zd_action_kind kind, uint32_t node) {
    for (size_t i = from; i < r->n; i++)
        if (r->log[i].a.kind == kind && r->log[i].a.node == node)
            return &r->log[i];
    return NULL;
}

/* The last TASK sent for node (its slot, token, attempt). */
static const logged *last_task(const rig *r, uint32_t node) {
    for (size_t i = r->n; i-- > 0;)
        if (r->log[i].a.kind == ZD_ACT_TASK && r->log[i].a.node == node)
            return &r->log[i];
    return NULL;
}

static size_t count_tasks_for(const rig *r, size_t from, uint32_t node) {
    size_t k = 0;
    for (size_t i = from; i < r->n; i++)
        k += r->log[i].a.kind == ZD_ACT_TASK && r->log[i].a.node == node;
    return k;
}

/* ---- Peers and events ---------------------------------------------------------------------- */

static zd_peer peer_view(const peer_rec *p) {
    return (zd_peer){p->sock, (const unsigned char *)p->rid, strlen(p->rid), p->user};
}

static const peer_rec *remember(rig *r, zd_sock_id sock, const char *rid, const char *user) {
    for (size_t i = 0; i < r->n_known; i++)
        if (r->known[i].sock == sock && strcmp(r->known[i].rid, rid) == 0) {
            snprintf(r->known[i].user, sizeof r->known[i].user, "%s", user);
            return &r->known[i];
        }
    assert_true(r->n_known < MAX_KNOWN);
    peer_rec *p = &r->known[r->n_known++];
    p->sock = sock;
    snprintf(p->rid, sizeof p->rid, "%s", rid);
    snprintf(p->user, sizeof p->user, "%s", user);
    return p;
}

/* The peer the core routes `slot` to (must be one the test spoke through). */
static zd_peer slot_peer(const rig *r, uint32_t slot) {
    zd_sock_id sock;
    const unsigned char *rid;
    size_t len;
    assert_true(zd_core_slot_peer(r->c, slot, &sock, &rid, &len));
    for (size_t i = 0; i < r->n_known; i++)
        if (r->known[i].sock == sock && strlen(r->known[i].rid) == len &&
            memcmp(r->known[i].rid, rid, len) == 0)
            return peer_view(&r->known[i]);
    fail_msg("slot %u routes to a peer the test does not know", slot);
    return (zd_peer){0};
}

static void ev_start(rig *r, double now) {
    zd_core_start(r->c, now);
    pump(r, now);
}

/* Local executor `slot` (a fresh incarnation, so a fresh routing id) says HELLO. */
static bool ev_local_hello(rig *r, double now, uint32_t slot) {
    char rid[32];
    snprintf(rid, sizeof rid, "L%u.%u", slot, ++r->local_gen[slot]);
    zd_peer p = peer_view(remember(r, ZD_SOCK_LOCAL, rid, ""));
    zd_msg_hello h = {.version = ZD_WIRE_VERSION,
                      .slot = slot,
                      .pid = 1000 + 100 * slot + r->local_gen[slot],
                      .host = {"here", 4},
                      .credit = 1,
                      .agent = 0,
                      .secret = 0};
    bool ok = zd_core_on_hello(r->c, now, &p, &h);
    pump(r, now);
    return ok;
}

/* Every local slot says HELLO at `now`; start first. */
static void start_local(rig *r, double now) {
    ev_start(r, now);
    for (uint32_t s = 0; s < r->cfg.n_local; s++)
        assert_true(ev_local_hello(r, now, s));
}

static uint32_t ev_join(rig *r, double now, const char *rid, const char *user, const char *host,
                        uint32_t slots) {
    zd_peer p = peer_view(remember(r, ZD_SOCK_REMOTE, rid, user));
    zd_msg_join j;
    memset(&j, 0, sizeof j);
    j.version = ZD_WIRE_VERSION;
    j.host = (zd_bytes){host, strlen(host)};
    j.slots = slots;
    j.cpus = slots;
    j.pid = 4242;
    uint32_t id = zd_core_on_join(r->c, now, &p, &j);
    pump(r, now);
    return id;
}

/* Agent's WELCOME as the core would send it. */
static zd_msg_welcome welcome_of(rig *r, uint32_t agent) {
    zd_msg_welcome w;
    zd_bytes plugins[4];
    memset(&w, 0, sizeof w);
    zd_core_welcome(r->c, agent, &w, plugins);
    return w;
}

static bool ev_remote_hello(rig *r, double now, const char *rid, const char *user, uint32_t agent,
                            uint32_t slot, uint64_t secret) {
    zd_peer p = peer_view(remember(r, ZD_SOCK_REMOTE, rid, user));
    zd_msg_hello h = {.version = ZD_WIRE_VERSION,
                      .slot = slot,
                      .pid = 2000 + slot,
                      .host = {"remote", 6},
                      .credit = 1,
                      .agent = agent,
                      .secret = secret};
    bool ok = zd_core_on_hello(r->c, now, &p, &h);
    pump(r, now);
    return ok;
}

static void ev_beat(rig *r, double now, const char *rid, const char *user, uint64_t seq) {
    zd_peer p = peer_view(remember(r, ZD_SOCK_REMOTE, rid, user));
    zd_core_on_beat(r->c, now, &p, seq);
    pump(r, now);
}

static void ev_lost(rig *r, double now, const char *rid, const char *user, uint32_t agent,
                    uint32_t agent_slot, const char *how) {
    zd_peer p = peer_view(remember(r, ZD_SOCK_REMOTE, rid, user));
    zd_msg_lost m = {.agent = agent, .slot = agent_slot, .how = {how, strlen(how)}};
    zd_core_on_lost(r->c, now, &p, &m);
    pump(r, now);
}

/* A RESULT for node with `token`, from `p`. */
static bool result_from(rig *r, double now, const zd_peer *p, uint32_t node, uint64_t token,
                        bool ok) {
    zd_msg_result m = {.node = node,
                       .token = token,
                       .ok = ok,
                       .exit_code = ok ? 0 : 1,
                       .signal = 0,
                       .error = ok ? (zd_bytes){NULL, 0} : (zd_bytes){"exit status 1", 13},
                       .output = {"out", 3},
                       .log = {NULL, 0}};
    bool accepted = zd_core_on_result(r->c, now, p, &m);
    pump(r, now);
    return accepted;
}

/* The right RESULT for node's last attempt, from the slot's own peer. */
static bool ev_result(rig *r, double now, uint32_t node, bool ok) {
    const logged *t = last_task(r, node);
    assert_non_null(t);
    zd_peer p = slot_peer(r, t->a.slot);
    return result_from(r, now, &p, node, t->token, ok);
}

static void ev_exit(rig *r, double now, uint32_t slot, const char *how) {
    zd_core_on_exit(r->c, now, slot, how);
    pump(r, now);
}

static void ev_spawned(rig *r, double now, uint32_t slot, bool ok) {
    zd_core_on_spawned(r->c, now, slot, ok);
    pump(r, now);
}

static void ev_signal(rig *r, double now, int sig) {
    zd_core_on_signal(r->c, now, sig);
    pump(r, now);
}

static zd_node_outcome outcome_of(const rig *r, uint32_t node) {
    zd_node_outcome o;
    memset(&o, 0, sizeof o);
    zd_core_outcome(r->c, node, &o);
    return o;
}

static void assert_history(const rig *r, uint32_t node, const char *const *outcomes) {
    zd_node_outcome o = outcome_of(r, node);
    uint32_t n = 0;
    while (outcomes[n])
        n++;
    if (o.n_history != n)
        fail_msg("node %u: %u attempts in history, expected %u", node, o.n_history, n);
    assert_non_null(o.history);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(o.history[i].attempt, i + 1);
        assert_non_null(o.history[i].outcome);
        assert_string_equal(o.history[i].outcome, outcomes[i]);
    }
}

static zd_node_state state_of(const rig *r, uint32_t node) {
    return outcome_of(r, node).state;
}

/* ---- 1. The plain run ---------------------------------------------------------------------- */

static void test_two_nodes_two_slots(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 2);
    rig_up(r);
    ev_start(r, 0);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 0); /* nobody said HELLO yet */
    assert_false(zd_core_finished(r->c));
    assert_true(ev_local_hello(r, 0.2, 0));
    assert_true(ev_local_hello(r, 0.2, 1));
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 2);
    const logged *ta = last_task(r, 0), *tb = last_task(r, 1);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_not_equal(ta->a.slot, tb->a.slot);
    assert_true(ta->a.slot < 2 && tb->a.slot < 2);
    assert_int_equal(ta->attempt, 1);
    assert_int_equal(tb->attempt, 1);
    assert_true(from_random(r, ta->token)); /* tokens are the random source's */
    assert_true(from_random(r, tb->token));
    assert_true(ta->token != tb->token);
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    zd_core_counts k;
    zd_core_counts_get(r->c, &k);
    assert_int_equal(k.running, 2);
    assert_int_equal(k.done, 0);
    assert_int_equal(k.active, 2);

    size_t mark = r->n;
    assert_true(ev_result(r, 1.0, 0, true));
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
    assert_false(zd_core_finished(r->c));
    mark = r->n;
    assert_true(ev_result(r, 1.5, 1, true));
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 1));
    assert_int_equal(count_kind(r, 0, ZD_ACT_OUTCOME), 2);
    assert_true(zd_core_finished(r->c));

    const double ends[] = {1.0, 1.5};
    for (uint32_t i = 0; i < 2; i++) {
        zd_node_outcome o = outcome_of(r, i);
        assert_int_equal(o.state, ZD_NS_SUCCEEDED);
        assert_int_equal(o.attempts, 1);
        assert_int_equal(o.executor, (int32_t)last_task(r, i)->a.slot);
        assert_null(o.error);
        assert_int_equal(o.output_len, 3);
        assert_memory_equal(o.output, "out", 3);
        assert_near(o.start_s, 0.2, 1e-9);
        assert_near(o.end_s, ends[i], 1e-9);
        assert_int_equal(o.n_history, 1);
        assert_int_equal(o.history[0].attempt, 1);
        assert_string_equal(o.history[0].outcome, "succeeded");
        assert_int_equal(o.history[0].executor, (int32_t)last_task(r, i)->a.slot);
        assert_near(o.history[0].start_s, 0.2, 1e-9);
        assert_near(o.history[0].end_s, ends[i], 1e-9);
        assert_string_equal(o.history[0].host, "here");
    }
    zd_core_counts_get(r->c, &k);
    assert_int_equal(k.done, 2);
    assert_int_equal(k.running, 0);
    assert_int_equal(k.failed, 0);
    zd_core_finish(r->c, 2.0);
    pump(r, 2.0);
    assert_int_equal(zd_core_exit_code(r->c), 0);
    int sig = -1;
    assert_false(zd_core_interrupted(r->c, &sig));
    rig_free(r);
}

/* ---- 2. Retries after a back-off ----------------------------------------------------------- */

static void test_retry_backoff(void **state) {
    (void)state;
    const char *nodes[] = {"flaky", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 1);
    node_of(r, 0)->retries = 2;
    rig_up(r);
    start_local(r, 0);
    assert_int_equal(count_tasks_for(r, 0, 0), 1);
    uint64_t t1 = last_task(r, 0)->token;

    /* First failure at 1.0: the retry waits 0.1 s. */
    size_t mark = r->n;
    assert_true(ev_result(r, 1.0, 0, false));
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    assert_null(find_act(r, mark, ZD_ACT_OUTCOME)); /* not final */
    assert_false(zd_core_finished(r->c));
    advance(r, 1.1 - EPS);
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    assert_near(zd_core_next_timer(r->c), 1.1, 1e-9);
    advance(r, 1.1);
    assert_int_equal(count_tasks_for(r, mark, 0), 1);
    const logged *t = last_task(r, 0);
    assert_int_equal(t->attempt, 2);
    assert_near(t->at, 1.1, 1e-9);
    uint64_t t2 = t->token;
    assert_true(t2 != t1);

    /* Second failure at 2.0: 0.2 s. */
    mark = r->n;
    assert_true(ev_result(r, 2.0, 0, false));
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    advance(r, 2.2 - EPS);
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    assert_near(zd_core_next_timer(r->c), 2.2, 1e-9);
    advance(r, 2.2);
    assert_int_equal(count_tasks_for(r, mark, 0), 1);
    t = last_task(r, 0);
    assert_int_equal(t->attempt, 3);
    assert_true(t->token != t1 && t->token != t2);

    mark = r->n;
    assert_true(ev_result(r, 3.0, 0, true));
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
    assert_true(zd_core_finished(r->c));
    zd_node_outcome o = outcome_of(r, 0);
    assert_int_equal(o.state, ZD_NS_SUCCEEDED);
    assert_int_equal(o.attempts, 3);
    const char *hist[] = {"failed", "failed", "succeeded", NULL};
    assert_history(r, 0, hist);
    assert_near(o.history[0].end_s, 1.0, 1e-9);
    assert_near(o.history[1].start_s, 1.1, 1e-9);
    assert_near(o.history[1].end_s, 2.0, 1e-9);
    assert_near(o.history[2].start_s, 2.2, 1e-9);
    assert_near(o.history[2].end_s, 3.0, 1e-9);
    assert_int_equal(zd_core_exit_code(r->c), 0);
    rig_free(r);
}

/* ---- 3. Too many lost executors ------------------------------------------------------------ */

static void test_max_losses(void **state) {
    (void)state;
    const char *nodes[] = {"crasher", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 1);
    rig_up(r);
    start_local(r, 0);
    double now = 0;
    for (int loss = 1; loss <= 3; loss++) {
        const logged *t = last_task(r, 0);
        assert_non_null(t);
        assert_int_equal(t->attempt, loss);
        assert_int_equal(t->a.slot, 0);
        uint32_t slot = t->a.slot;
        now += 1;
        size_t mark = r->n;
        ev_exit(r, now, slot, "signal 9");
        if (loss < 3) {
            assert_int_equal(state_of(r, 0), ZD_NS_READY); /* requeued, no executor yet */
            assert_null(find_act(r, mark, ZD_ACT_OUTCOME));
            const logged *s = find_act(r, mark, ZD_ACT_SPAWN);
            assert_non_null(s);
            assert_int_equal(s->a.slot, slot);
            assert_null(find_act(r, mark, ZD_ACT_TASK));
            ev_spawned(r, now, slot, true);
            assert_null(find_act(r, mark, ZD_ACT_TASK)); /* not before its HELLO */
            assert_true(ev_local_hello(r, now + 0.1, slot));
            assert_int_equal(count_tasks_for(r, mark, 0), 1);
        } else {
            assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
            assert_null(find_act(r, mark, ZD_ACT_TASK));
        }
    }
    assert_true(zd_core_finished(r->c));
    zd_node_outcome o = outcome_of(r, 0);
    assert_int_equal(o.state, ZD_NS_FAILED);
    assert_int_equal(o.attempts, 3);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "lost"));
    const char *hist[] = {"lost", "lost", "lost", NULL};
    assert_history(r, 0, hist);
    assert_near(o.history[2].end_s, 3.0, 1e-9);
    assert_int_equal(zd_core_exit_code(r->c), 1);
    rig_free(r);
}

/* ---- 4. The timeout backstop, local -------------------------------------------------------- */

static void test_timeout_backstop_local(void **state) {
    (void)state;
    const char *nodes[] = {"slow:10", "next:1", NULL};
    zd_graph *g = graph_of(nodes, NULL);
    int32_t pool;
    assert_int_equal(zd_graph_add_pool(g, "one", 1, &pool), 0);
    make_fn(g, 0);
    zd_graph_node(g, 0)->timeout = 2;
    zd_graph_node(g, 0)->pool = pool;
    zd_graph_node(g, 1)->pool = pool;
    rig *r = rig_new(g, 2);
    r->cfg.keep_going = true; /* the failure must not stop the run */
    rig_up(r);
    start_local(r, 0);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 1); /* the pool holds one */
    const logged *t = last_task(r, 0);
    assert_non_null(t);
    assert_int_equal(t->timeout, 2000);
    uint32_t slot = t->a.slot;

    /* The backstop is start + timeout + 1 s grace. */
    advance(r, 3.0 - EPS);
    assert_null(find_act(r, 0, ZD_ACT_KILL));
    assert_near(zd_core_next_timer(r->c), 3.0, 1e-9);
    size_t mark = r->n;
    advance(r, 3.0);
    const logged *k = find_act(r, mark, ZD_ACT_KILL);
    assert_non_null(k);
    assert_int_equal(k->a.slot, slot);
    assert_int_equal(k->a.sig, SIGKILL);
    assert_int_equal(count_kind(r, mark, ZD_ACT_KILL), 1);

    /* The kill released nothing: the pool's unit is held until the executor is reaped. */
    advance(r, 3.9);
    assert_int_equal(count_tasks_for(r, 0, 1), 0);
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    assert_int_equal(state_of(r, 1), ZD_NS_READY);

    mark = r->n;
    ev_exit(r, 4.0, slot, "signal 9");
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
    zd_node_outcome o = outcome_of(r, 0);
    assert_int_equal(o.state, ZD_NS_FAILED);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "timed out"));
    const char *hist[] = {"timed out", NULL};
    assert_history(r, 0, hist);
    assert_near(o.history[0].end_s, 4.0, 1e-9);
    /* Now the unit is free: the other node of the pool runs (on the idle slot). */
    assert_int_equal(count_tasks_for(r, mark, 1), 1);
    assert_int_not_equal(last_task(r, 1)->a.slot, slot);
    assert_true(ev_result(r, 5.0, 1, true));
    assert_true(zd_core_finished(r->c));
    assert_int_equal(zd_core_exit_code(r->c), 1);
    rig_free(r);
}

/* ---- 5. Stale and misrouted results -------------------------------------------------------- */

static void test_stale_token(void **state) {
    (void)state;
    const char *nodes[] = {"a", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 2);
    rig_up(r);
    start_local(r, 0);
    const logged *t = last_task(r, 0);
    assert_non_null(t);
    uint32_t slot = t->a.slot, other = slot == 0 ? 1 : 0;
    uint64_t token = t->token;
    zd_peer mine = slot_peer(r, slot), theirs = slot_peer(r, other);

    size_t mark = r->n;
    assert_false(result_from(r, 1.0, &mine, 0, token + 1, true)); /* wrong token */
    assert_false(result_from(r, 1.0, &mine, 0, 0, true));
    assert_false(result_from(r, 1.0, &theirs, 0, token, true)); /* right token, other rid */
    zd_peer remote = mine;
    remote.sock = ZD_SOCK_REMOTE; /* same rid bytes, other socket */
    assert_false(result_from(r, 1.0, &remote, 0, token, true));
    assert_int_equal(r->n, mark); /* no action */
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    zd_core_counts k;
    zd_core_counts_get(r->c, &k);
    assert_int_equal(k.running, 1);
    assert_int_equal(k.done, 0);

    /* The executor dies: the attempt is lost and runs again on the other slot. */
    ev_exit(r, 2.0, slot, "signal 9");
    assert_int_equal(count_tasks_for(r, mark, 0), 1);
    const logged *t2 = last_task(r, 0);
    assert_int_equal(t2->a.slot, other);
    assert_int_equal(t2->attempt, 2);
    assert_true(t2->token != token);
    uint64_t token2 = t2->token;

    /* The lost attempt's late result, from its old connection or the new one, is refused. */
    mark = r->n;
    assert_false(result_from(r, 2.5, &mine, 0, token, true));
    assert_false(result_from(r, 2.5, &theirs, 0, token, true));
    assert_null(find_act(r, mark, ZD_ACT_OUTCOME));
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);

    assert_true(result_from(r, 3.0, &theirs, 0, token2, true));
    assert_false(result_from(r, 3.1, &theirs, 0, token2, true)); /* a duplicate */
    assert_int_equal(count_kind(r, 0, ZD_ACT_OUTCOME), 1);
    const char *hist[] = {"lost", "succeeded", NULL};
    assert_history(r, 0, hist);
    assert_true(zd_core_finished(r->c));
    assert_int_equal(zd_core_exit_code(r->c), 0);
    rig_free(r);
}

/* ---- 6. A remote agent and the admission of its executors ---------------------------------- */

static void test_remote_agent_admission(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 0); /* -w 0 */
    r->cfg.listen = true;
    r->cfg.local_cpus = 0;
    rig_up(r);
    ev_start(r, 0);

    zd_msg_join bad;
    memset(&bad, 0, sizeof bad);
    bad.version = ZD_WIRE_VERSION + 1;
    bad.host = (zd_bytes){"hostZ", 5};
    bad.slots = 1;
    bad.cpus = 1;
    zd_peer zp = peer_view(remember(r, ZD_SOCK_REMOTE, "Z", "workerZ"));
    assert_int_equal(zd_core_on_join(r->c, 0.05, &zp, &bad), 0); /* wrong version */
    pump(r, 0.05);
    assert_null(find_act(r, 0, ZD_ACT_WELCOME));

    size_t mark = r->n;
    uint32_t agent = ev_join(r, 0.1, "A", "workerA", "hostA", 2);
    assert_int_equal(agent, 1);
    const logged *wa = find_act(r, mark, ZD_ACT_WELCOME);
    assert_non_null(wa);
    assert_int_equal(wa->a.agent, agent);
    const unsigned char *arid;
    size_t arid_len;
    assert_true(zd_core_agent_peer(r->c, agent, &arid, &arid_len));
    assert_int_equal(arid_len, 1);
    assert_memory_equal(arid, "A", 1);
    assert_false(zd_core_agent_peer(r->c, 7, &arid, &arid_len));

    zd_msg_welcome w = welcome_of(r, agent);
    assert_int_equal(w.agent, agent);
    assert_true(from_random(r, w.secret));
    assert_int_equal(w.heartbeat_ms, 1000);
    assert_int_equal(w.fence_ms, 3000); /* 3 heartbeats */
    assert_int_equal(w.n_plugins, 0);
    assert_int_equal(w.run_id.len, strlen("run-test"));
    assert_memory_equal(w.run_id.ptr, "run-test", w.run_id.len);
    uint64_t secret = w.secret;

    mark = r->n;
    assert_true(ev_remote_hello(r, 0.2, "A0", "workerA", agent, 0, secret));
    assert_int_equal(count_kind(r, mark, ZD_ACT_TASK), 1); /* -w 0: work goes to agents */

    mark = r->n;
    assert_false(ev_remote_hello(r, 0.3, "A1x", "workerA", agent, 1, secret ^ 1)); /* secret */
    assert_false(ev_remote_hello(r, 0.3, "A1y", "workerB", agent, 1, secret));     /* other key */
    assert_false(ev_remote_hello(r, 0.3, "A0x", "workerA", agent, 0, secret));     /* admitted */
    assert_false(ev_remote_hello(r, 0.3, "A9", "workerA", agent, 9, secret)); /* no such slot */
    assert_false(ev_remote_hello(r, 0.3, "A1z", "workerA", 0, 1, 0));         /* a "local" one */
    assert_false(ev_remote_hello(r, 0.3, "A1w", "workerA", agent + 1, 1, secret)); /* agent */
    assert_int_equal(r->n, mark); /* the refusals changed nothing */
    assert_true(ev_remote_hello(r, 0.4, "A1", "workerA", agent, 1, secret));
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 2);

    /* Both nodes run on the agent's two executors, addressed by their own routing ids. */
    const logged *ta = last_task(r, 0), *tb = last_task(r, 1);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_not_equal(ta->a.slot, tb->a.slot);
    zd_peer pa = slot_peer(r, ta->a.slot), pb = slot_peer(r, tb->a.slot);
    assert_int_equal(pa.sock, ZD_SOCK_REMOTE);
    assert_int_equal(pb.sock, ZD_SOCK_REMOTE);
    assert_true((pa.rid_len == 2 && memcmp(pa.rid, "A0", 2) == 0) ||
                (pb.rid_len == 2 && memcmp(pb.rid, "A0", 2) == 0));
    assert_true((pa.rid_len == 2 && memcmp(pa.rid, "A1", 2) == 0) ||
                (pb.rid_len == 2 && memcmp(pb.rid, "A1", 2) == 0));
    assert_false(zd_core_slot_is_idle(r->c, ta->a.slot)); /* not a local slot */

    assert_true(ev_result(r, 1.0, 0, true));
    assert_true(ev_result(r, 1.2, 1, true));
    assert_true(zd_core_finished(r->c));
    zd_node_outcome o = outcome_of(r, 0);
    assert_int_equal(o.state, ZD_NS_SUCCEEDED);
    assert_string_equal(o.history[0].host, "hostA");

    mark = r->n;
    zd_core_finish(r->c, 1.5);
    pump(r, 1.5);
    const logged *bye = find_act(r, mark, ZD_ACT_BYE);
    assert_non_null(bye);
    assert_int_equal(bye->a.agent, agent);
    assert_int_equal(bye->a.reason, ZD_BYE_DONE);
    assert_int_equal(zd_core_exit_code(r->c), 0);
    rig_free(r);
}

/* ---- 7. A silent host ----------------------------------------------------------------------- */

static void test_host_silent(void **state) {
    (void)state;
    const char *nodes[] = {"seq", NULL};
    zd_graph *g = graph_of(nodes, NULL);
    zd_graph_node(g, 0)->sequential = true;
    rig *r = rig_new(g, 0);
    r->cfg.listen = true;
    r->cfg.local_cpus = 0;
    rig_up(r);
    ev_start(r, 0);

    uint32_t a = ev_join(r, 0, "A", "workerA", "hostA", 1);
    assert_int_equal(a, 1);
    assert_true(ev_remote_hello(r, 0, "A0", "workerA", a, 0, welcome_of(r, a).secret));
    const logged *t = last_task(r, 0);
    assert_non_null(t);
    uint32_t slot_a = t->a.slot;
    uint64_t old_token = t->token;
    zd_peer pa = slot_peer(r, slot_a);

    uint32_t b = ev_join(r, 0.5, "B", "workerB", "hostB", 1);
    assert_int_equal(b, 2);
    size_t mark = r->n;
    assert_true(ev_remote_hello(r, 0.5, "B0", "workerB", b, 0, welcome_of(r, b).secret));
    assert_null(find_act(r, mark, ZD_ACT_TASK));

    /* A's last word is at 1.5 (off the heartbeat ticks, so that a T_lost of 4 or 6
     * heartbeats would show); B beats every second throughout. */
    ev_beat(r, 1.5, "A", "workerA", 1);
    uint64_t bseq = 0;
    for (double now = 1.0; now <= 6.0; now += 1) {
        advance(r, now);
        ev_beat(r, now, "B", "workerB", ++bseq);
    }
    advance(r, 1.5 + 5.0 - EPS); /* just before T_lost = 5 heartbeats */
    assert_int_equal(count_tasks_for(r, mark, 0), 0);
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    assert_int_equal(outcome_of(r, 0).executor, (int32_t)slot_a);
    assert_null(find_act(r, mark, ZD_ACT_BYE));

    /* Within one heartbeat past T_lost, the node is requeued and goes to B. */
    advance(r, 7.0);
    ev_beat(r, 7.0, "B", "workerB", ++bseq);
    advance(r, 7.5);
    assert_int_equal(count_tasks_for(r, mark, 0), 1);
    const logged *t2 = last_task(r, 0);
    assert_int_not_equal(t2->a.slot, slot_a);
    assert_true(t2->at >= 6.5 - 1e-9);
    assert_int_equal(t2->attempt, 2);
    zd_peer pb = slot_peer(r, t2->a.slot);
    assert_int_equal(pb.rid_len, 2);
    assert_memory_equal(pb.rid, "B0", 2);
    const char *hist[] = {"lost", "running", NULL};
    assert_history(r, 0, hist);
    zd_node_outcome o = outcome_of(r, 0);
    assert_true(o.history[0].end_s >= 6.5 - 1e-9);
    assert_string_equal(o.history[0].host, "hostA");
    assert_true(o.history[1].end_s < 0);
    assert_string_equal(o.history[1].host, "hostB");

    /* The lost agent's executor answers late: refused. The agent speaks again: evicted. */
    mark = r->n;
    assert_false(result_from(r, 7.6, &pa, 0, old_token, true));
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    ev_beat(r, 7.7, "A", "workerA", 2);
    const logged *bye = find_act(r, mark, ZD_ACT_BYE);
    assert_non_null(bye);
    assert_int_equal(bye->a.agent, a);
    assert_int_equal(bye->a.reason, ZD_BYE_EVICTED);
    assert_null(find_act(r, mark, ZD_ACT_OUTCOME));

    assert_true(ev_result(r, 8.0, 0, true));
    assert_true(zd_core_finished(r->c));
    const char *hist2[] = {"lost", "succeeded", NULL};
    assert_history(r, 0, hist2);
    assert_int_equal(zd_core_exit_code(r->c), 0);
    rig_free(r);
}

/* ---- 8. Heartbeat acknowledgements ---------------------------------------------------------- */

/* The BEATs to `agent` in the log from `from` on: their number, and the last one's seq. */
static size_t beats_to(const rig *r, size_t from, uint32_t agent, uint64_t *seq) {
    size_t k = 0;
    for (size_t i = from; i < r->n; i++)
        if (r->log[i].a.kind == ZD_ACT_BEAT && r->log[i].a.agent == agent) {
            k++;
            *seq = r->log[i].a.token;
        }
    return k;
}

static void test_beat_acks(void **state) {
    (void)state;
    const char *nodes[] = {"a", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 0);
    r->cfg.listen = true;
    r->cfg.local_cpus = 0;
    rig_up(r);
    ev_start(r, 0);
    uint32_t a = ev_join(r, 0, "A", "workerA", "hostA", 1);
    uint32_t b = ev_join(r, 0, "B", "workerB", "hostB", 1);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    ev_beat(r, 0.1, "A", "workerA", 1);
    ev_beat(r, 0.2, "A", "workerA", 2);
    ev_beat(r, 0.3, "B", "workerB", 7);

    size_t mark = r->n;
    uint64_t seq = 0;
    advance(r, 1.15);
    assert_int_equal(beats_to(r, mark, a, &seq), 1);
    assert_int_equal(seq, 2);
    assert_int_equal(beats_to(r, mark, b, &seq), 1);
    assert_int_equal(seq, 7);

    /* Out of order and duplicated: the highest seq is acknowledged. */
    ev_beat(r, 1.2, "A", "workerA", 3);
    ev_beat(r, 1.3, "A", "workerA", 5);
    ev_beat(r, 1.4, "A", "workerA", 4);
    ev_beat(r, 1.5, "B", "workerB", 0); /* heard, no new seq */
    mark = r->n;
    advance(r, 2.15);
    assert_int_equal(beats_to(r, mark, a, &seq), 1);
    assert_int_equal(seq, 5);
    assert_int_equal(beats_to(r, mark, b, &seq), 1);
    assert_int_equal(seq, 7);

    /* Every heartbeat, even without news. */
    ev_beat(r, 2.5, "A", "workerA", 5);
    ev_beat(r, 2.5, "B", "workerB", 8);
    mark = r->n;
    advance(r, 3.15);
    assert_int_equal(beats_to(r, mark, a, &seq), 1);
    assert_int_equal(seq, 5);
    assert_int_equal(beats_to(r, mark, b, &seq), 1);
    assert_int_equal(seq, 8);
    rig_free(r);
}

/* ---- 9. The timeout backstop, remote: CANCEL ------------------------------------------------ */

static void test_cancel_remote(void **state) {
    (void)state;
    const char *nodes[] = {"slow:10", "next:1", NULL};
    zd_graph *g = graph_of(nodes, NULL);
    int32_t pool;
    assert_int_equal(zd_graph_add_pool(g, "one", 1, &pool), 0);
    make_fn(g, 0);
    zd_graph_node(g, 0)->timeout = 1;
    zd_graph_node(g, 0)->pool = pool;
    zd_graph_node(g, 1)->pool = pool;
    rig *r = rig_new(g, 0);
    r->cfg.listen = true;
    r->cfg.local_cpus = 0;
    r->cfg.keep_going = true; /* the failure must not stop the run */
    rig_up(r);
    ev_start(r, 0);
    uint32_t a = ev_join(r, 0, "A", "workerA", "hostA", 2);
    uint64_t secret = welcome_of(r, a).secret;
    assert_true(ev_remote_hello(r, 0, "A0", "workerA", a, 0, secret));
    assert_true(ev_remote_hello(r, 0, "A1", "workerA", a, 1, secret));
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 1);
    const logged *t = last_task(r, 0);
    assert_non_null(t);
    assert_int_equal(t->timeout, 1000);
    uint64_t token = t->token;
    zd_peer p0 = slot_peer(r, t->a.slot);
    assert_int_equal(p0.rid_len, 2);
    assert_memory_equal(p0.rid, "A0", 2); /* so the agent's slot is 0 */

    size_t mark = r->n;
    ev_beat(r, 1.0, "A", "workerA", 1);
    advance(r, 2.0 - EPS);
    assert_null(find_act(r, mark, ZD_ACT_CANCEL));
    advance(r, 2.0);
    const logged *cx = find_act(r, mark, ZD_ACT_CANCEL);
    assert_non_null(cx);
    assert_int_equal(cx->a.agent, a);
    assert_int_equal(cx->a.agent_slot, 0);
    assert_int_equal(cx->a.token, token);
    assert_true(cx->why[0] != '\0');
    assert_int_equal(count_kind(r, mark, ZD_ACT_CANCEL), 1);

    /* Nothing released at the CANCEL: the pool's unit waits for the agent's LOST. */
    for (double now = 2.0; now <= 4.0; now += 1) {
        advance(r, now);
        ev_beat(r, now, "A", "workerA", (uint64_t)now);
    }
    assert_int_equal(count_tasks_for(r, 0, 1), 0);
    assert_int_equal(state_of(r, 0), ZD_NS_RUNNING);
    assert_int_equal(count_kind(r, mark, ZD_ACT_CANCEL), 1); /* asked once */

    mark = r->n;
    ev_lost(r, 4.2, "A", "workerA", a, 0, "signal 9");
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
    zd_node_outcome o = outcome_of(r, 0);
    assert_int_equal(o.state, ZD_NS_FAILED);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "timed out"));
    const char *hist[] = {"timed out", NULL};
    assert_history(r, 0, hist);
    assert_near(o.history[0].end_s, 4.2, 1e-9);
    /* The unit is free: the pool's other node runs on the agent's other executor. */
    assert_int_equal(count_tasks_for(r, mark, 1), 1);
    zd_peer p1 = slot_peer(r, last_task(r, 1)->a.slot);
    assert_memory_equal(p1.rid, "A1", 2);
    rig_free(r);
}

/* ---- 10. Interrupts ------------------------------------------------------------------------- */

static void test_interrupt(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", NULL};
    const char *edges[] = {"a>b", NULL};
    rig *r = rig_new(graph_of(nodes, edges), 2);
    rig_up(r);
    start_local(r, 0);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 1);
    uint32_t slot = last_task(r, 0)->a.slot;

    size_t mark = r->n;
    ev_signal(r, 1.0, SIGINT);
    const logged *k = find_act(r, mark, ZD_ACT_KILL);
    assert_non_null(k);
    assert_int_equal(k->a.slot, slot);
    assert_int_equal(k->a.sig, SIGTERM);
    for (size_t i = mark; i < r->n; i++)
        if (r->log[i].a.kind == ZD_ACT_KILL)
            assert_int_equal(r->log[i].a.slot, slot); /* only the busy executor */
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    assert_false(zd_core_finished(r->c)); /* a is still running */

    mark = r->n;
    ev_signal(r, 1.2, SIGINT);
    bool killed = false;
    for (size_t i = mark; i < r->n; i++)
        if (r->log[i].a.kind == ZD_ACT_KILL && r->log[i].a.slot == slot &&
            r->log[i].a.sig == SIGKILL)
            killed = true;
    assert_true(killed);

    mark = r->n;
    ev_exit(r, 1.3, slot, "signal 9");
    assert_null(find_act(r, mark, ZD_ACT_TASK));
    assert_null(find_act(r, mark, ZD_ACT_SPAWN)); /* nothing more to run */
    assert_true(zd_core_finished(r->c));
    zd_core_finish(r->c, 1.4);
    pump(r, 1.4);
    assert_int_equal(zd_core_exit_code(r->c), 130);
    int sig = 0;
    assert_true(zd_core_interrupted(r->c, &sig));
    assert_int_equal(sig, SIGINT);
    const char *hist[] = {"interrupted", NULL};
    assert_history(r, 0, hist);
    assert_int_equal(state_of(r, 1), ZD_NS_SKIPPED);
    assert_int_equal(outcome_of(r, 1).n_history, 0);
    rig_free(r);
}

static void test_sigterm_exit_code(void **state) {
    (void)state;
    const char *nodes[] = {"a", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 1);
    rig_up(r);
    start_local(r, 0);
    size_t mark = r->n;
    ev_signal(r, 0.5, SIGTERM);
    const logged *k = find_act(r, mark, ZD_ACT_KILL);
    assert_non_null(k);
    assert_int_equal(k->a.sig, SIGTERM);
    ev_exit(r, 0.6, 0, "signal 15");
    assert_true(zd_core_finished(r->c));
    zd_core_finish(r->c, 0.7);
    pump(r, 0.7);
    assert_int_equal(zd_core_exit_code(r->c), 143);
    rig_free(r);
}

/* ---- 11. The sequential lease --------------------------------------------------------------- */

static void test_sequential_alone(void **state) {
    (void)state;
    const char *nodes[] = {"x:10", "s:5", "y:1", "z:0", NULL};
    zd_graph *g = graph_of(nodes, NULL);
    zd_graph_node(g, 1)->sequential = true;
    rig *r = rig_new(g, 3);
    rig_up(r);
    start_local(r, 0);

    bool running[4] = {false};
    bool done[4] = {false};
    size_t seen = 0;
    double now = 0;
    for (int round = 0; round < 20; round++) {
        /* Check every TASK emitted since the last look against what runs. */
        for (; seen < r->n; seen++) {
            const logged *l = &r->log[seen];
            if (l->a.kind != ZD_ACT_TASK)
                continue;
            uint32_t n = l->a.node;
            assert_true(n < 4);
            assert_false(running[n]);
            if (running[1])
                fail_msg("node %u started while the sequential node runs", n);
            if (n == 1)
                for (uint32_t i = 0; i < 4; i++)
                    if (running[i])
                        fail_msg("the sequential node started while node %u runs", i);
            running[n] = true;
        }
        /* Finish the oldest running node (the lowest index keeps it deterministic). */
        int next = -1;
        for (uint32_t i = 0; i < 4; i++)
            if (running[i]) {
                next = (int)i;
                break;
            }
        if (next < 0)
            break;
        now += 1;
        running[next] = false;
        done[next] = true;
        assert_true(ev_result(r, now, (uint32_t)next, true));
        advance(r, now);
    }
    for (uint32_t i = 0; i < 4; i++) {
        assert_true(done[i]);
        assert_int_equal(state_of(r, i), ZD_NS_SUCCEEDED);
    }
    assert_true(zd_core_finished(r->c));
    rig_free(r);
}

/* ---- 12. The journal window ----------------------------------------------------------------- */

static void test_journal_window(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", "c", "d", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 4); /* d keeps running: the run never ends here */
    r->cfg.journal_window_s = 0.25;
    rig_up(r);
    start_local(r, 0);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 4);
    advance(r, 0.9);
    assert_null(find_act(r, 0, ZD_ACT_SYNC)); /* nothing to sync yet */

    /* Two outcomes in one window: one SYNC, at the first one's time + the window. */
    size_t mark = r->n;
    assert_true(ev_result(r, 1.0, 0, true));
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 0));
    assert_null(find_act(r, mark, ZD_ACT_SYNC));
    assert_true(ev_result(r, 1.1, 1, true));
    assert_non_null(find_node_act(r, mark, ZD_ACT_OUTCOME, 1));
    assert_null(find_act(r, mark, ZD_ACT_SYNC));
    advance(r, 1.25 - EPS);
    assert_null(find_act(r, mark, ZD_ACT_SYNC));
    advance(r, 1.25);
    assert_int_equal(count_kind(r, mark, ZD_ACT_SYNC), 1);
    advance(r, 1.9);
    assert_int_equal(count_kind(r, mark, ZD_ACT_SYNC), 1); /* nothing new, no SYNC */

    mark = r->n;
    assert_true(ev_result(r, 2.0, 2, true));
    assert_null(find_act(r, mark, ZD_ACT_SYNC));
    advance(r, 2.25 - EPS);
    assert_null(find_act(r, mark, ZD_ACT_SYNC));
    advance(r, 2.25);
    assert_int_equal(count_kind(r, mark, ZD_ACT_SYNC), 1);
    assert_false(zd_core_finished(r->c));
    rig_free(r);
}

/* ---- 13. The muster ------------------------------------------------------------------------- */

static void test_muster(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", NULL};
    rig *r = rig_new(graph_of(nodes, NULL), 2);
    rig_up(r);
    ev_start(r, 0);
    assert_true(ev_local_hello(r, 0.1, 0));
    advance(r, 1.0 - EPS);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 0); /* waiting for slot 1 */
    advance(r, 1.0);
    assert_int_equal(count_kind(r, 0, ZD_ACT_TASK), 1); /* the muster gave up waiting */
    assert_int_equal(find_act(r, 0, ZD_ACT_TASK)->a.slot, 0);
    assert_int_equal(find_act(r, 0, ZD_ACT_TASK)->a.node, 0);
    size_t mark = r->n;
    assert_true(ev_local_hello(r, 1.5, 1));
    assert_int_equal(count_kind(r, mark, ZD_ACT_TASK), 1);
    assert_int_equal(find_act(r, mark, ZD_ACT_TASK)->a.slot, 1);
    rig_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes_two_slots), cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_max_losses),          cmocka_unit_test(test_timeout_backstop_local),
        cmocka_unit_test(test_stale_token),         cmocka_unit_test(test_remote_agent_admission),
        cmocka_unit_test(test_host_silent),         cmocka_unit_test(test_beat_acks),
        cmocka_unit_test(test_cancel_remote),       cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_sigterm_exit_code),   cmocka_unit_test(test_sequential_alone),
        cmocka_unit_test(test_journal_window),      cmocka_unit_test(test_muster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
