/* The test rig of the coordinator's core (tests/coordinator/test_core*.c): a core over a graph,
 * a fake random source and clock, its actions and log kept, and peers to script events from. */
#ifndef ZD_TEST_CORE_RIG_H
#define ZD_TEST_CORE_RIG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "graphs.h"

#define MAX_ACTS 512

typedef struct rig {
    zd_graph *g;              /* the graph under test */
    zd_core *c;               /* the core */
    zd_action acts[MAX_ACTS]; /* the actions of the last event */
    size_t n;                 /* entries in acts */
    uint64_t counter;         /* the "random" source: 1, 2, 3, ... */
    char log[8192];           /* every message, one per line */
} rig;

static inline uint64_t next_random(void *ctx) {
    return ++*(uint64_t *)ctx;
}

static inline void keep_log(void *ctx, zdag_log_level level, const char *msg) {
    (void)level;
    rig *r = ctx;
    size_t used = strlen(r->log);
    snprintf(r->log + used, sizeof r->log - used, "%s\n", msg);
}

/* Takes the actions the core appended since the last call. */
static inline void take(rig *r) {
    size_t n;
    const zd_action *a = zd_core_actions(r->c, &n);
    assert_true(n <= MAX_ACTS);
    memcpy(r->acts, a, n * sizeof *a);
    r->n = n;
}

/* How many actions of `kind` the last event returned (for `node` or `slot` when >= 0). */
static inline int count(const rig *r, zd_action_kind kind) {
    int k = 0;
    for (size_t i = 0; i < r->n; i++)
        k += r->acts[i].kind == kind;
    return k;
}

static inline const zd_action *first(const rig *r, zd_action_kind kind) {
    for (size_t i = 0; i < r->n; i++)
        if (r->acts[i].kind == kind)
            return &r->acts[i];
    return NULL;
}

static inline void setup(rig *r, zd_graph *g, zd_core_cfg cfg) {
    memset(r, 0, sizeof *r);
    r->g = g;
    cfg.random = next_random;
    cfg.random_ctx = &r->counter;
    cfg.log = (zd_log){keep_log, r};
    if (cfg.muster_s == 0)
        cfg.muster_s = -1;
    cfg.host_id = "here";
    if (cfg.local_cpus == 0)
        cfg.local_cpus = 4;
    assert_int_equal(zd_core_new(&cfg, g, &r->c), 0);
}

static inline void teardown(rig *r) {
    zd_core_free(&r->c);
    zd_graph_free(&r->g);
}

/* Routing ids: "L0", "L1"... for local executors, "R0".. for remote ones, "A1".. for agents. */
static char rids[64][8];

static inline zd_peer peer(zd_sock_id sock, char kind, unsigned i, const char *user) {
    char *rid = rids[(kind == 'A' ? 0 : kind == 'R' ? 21 : 42) + i % 21];
    snprintf(rid, sizeof rids[0], "%c%u", kind, i);
    return (zd_peer){sock, (const unsigned char *)rid, strlen(rid), user};
}

static inline zd_peer local(unsigned slot) {
    return peer(ZD_SOCK_LOCAL, 'L', slot, "");
}

static inline void hello_local(rig *r, double now, uint32_t slot) {
    zd_msg_hello h = {.version = ZD_WIRE_VERSION, .slot = slot, .pid = 100 + slot, .credit = 1};
    zd_peer p = local(slot);
    assert_true(zd_core_on_hello(r->c, now, &p, &h));
}

static inline uint64_t token_of(rig *r, uint32_t node, uint32_t slot) {
    zd_msg_task t;
    assert_int_equal(zd_core_task(r->c, node, slot, &t), 0);
    return t.token;
}

static inline bool result(rig *r, double now, const zd_peer *p, uint32_t node, uint64_t token,
                          bool ok) {
    zd_msg_result m = {.node = node,
                       .token = token,
                       .ok = ok,
                       .exit_code = ok ? 0 : 1,
                       .error = {ok ? NULL : "exited with status 1", ok ? 0 : 20},
                       .output = {"out", 3},
                       .size = 3};
    return zd_core_on_result(r->c, now, p, &m);
}

static inline uint32_t node(const rig *r, const char *name) {
    return (uint32_t)zd_graph_find(r->g, name);
}

static inline const char *outcome_of(rig *r, uint32_t index, uint32_t attempt) {
    zd_node_outcome o;
    zd_core_outcome(r->c, index, &o);
    return attempt < o.n_history ? o.history[attempt].outcome : "(none)";
}

static inline zd_node_state state_of(rig *r, uint32_t index) {
    zd_node_outcome o;
    zd_core_outcome(r->c, index, &o);
    return o.state;
}

/* Joins an agent from peer "A<n>" with key `user`, offering cpus and (unless NULL) an allocation
 * of its own; returns its id and secret. */
static inline uint32_t join_with(rig *r, double now, unsigned n, const char *host, uint32_t slots,
                                 double cpus, const char *allocation, const char *user,
                                 uint64_t *secret) {
    zd_msg_join j = {.version = ZD_WIRE_VERSION,
                     .host = {host, strlen(host)},
                     .slots = slots,
                     .cpus = cpus,
                     .pid = 4000 + n,
                     .allocation = {allocation, allocation ? strlen(allocation) : 0}};
    zd_peer p = peer(ZD_SOCK_REMOTE, 'A', n, user);
    uint32_t id = zd_core_on_join(r->c, now, &p, &j);
    take(r);
    assert_int_equal(count(r, ZD_ACT_WELCOME), 1);
    zd_msg_welcome w;
    zd_bytes plugins[4];
    zd_core_welcome(r->c, id, &w, plugins);
    *secret = w.secret;
    return id;
}

/* The same with 4 CPU units and no allocation. */
static inline uint32_t join(rig *r, double now, unsigned n, const char *host, uint32_t slots,
                            const char *user, uint64_t *secret) {
    return join_with(r, now, n, host, slots, 4, NULL, user, secret);
}

static inline bool hello_remote_credit(rig *r, double now, unsigned rid, uint32_t agent,
                                       uint32_t slot, uint64_t secret, const char *user,
                                       int64_t pid, uint32_t credit) {
    zd_msg_hello h = {.version = ZD_WIRE_VERSION,
                      .slot = slot,
                      .pid = pid,
                      .credit = credit,
                      .agent = agent,
                      .secret = secret};
    zd_peer p = peer(ZD_SOCK_REMOTE, 'R', rid, user);
    return zd_core_on_hello(r->c, now, &p, &h);
}

static inline bool hello_remote(rig *r, double now, unsigned rid, uint32_t agent, uint32_t slot,
                                uint64_t secret, const char *user, int64_t pid) {
    return hello_remote_credit(r, now, rid, agent, slot, secret, user, pid, 1);
}

#endif
