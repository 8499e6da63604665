/* The coordinator's core driven by scripted events and a fake clock: every rule is checked on
 * the exact actions it returns, with no socket, process or clock. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core_rig.h"

/* A stored result is kept as hash and size only; its dependent's TASK names it by hash, with
 * the store dir (a local executor) and the node's limit. A result over max_result fails. */
static void test_stored_results_and_max_result(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"a", "b", "c", NULL}, (const char *[]){"a>b", NULL});
    zd_graph_node(g, (uint32_t)zd_graph_find(g, "c"))->max_result = 1000;
    setup(&r, g, (zd_core_cfg){.n_local = 2, .store_dir = "/state/results"});
    hello_local(&r, 0.1, 0);
    hello_local(&r, 0.1, 1);
    zd_core_start(r.c, 0.2);
    take(&r);
    uint32_t a = node(&r, "a"), b = node(&r, "b"), c = node(&r, "c");
    uint32_t sa = r.acts[0].node == a ? r.acts[0].slot : r.acts[1].slot;
    uint32_t sc = r.acts[0].node == c ? r.acts[0].slot : r.acts[1].slot;
    zd_msg_task t;
    assert_int_equal(zd_core_task(r.c, c, sc, &t), 0);
    assert_int_equal(t.max_result, 1000);
    assert_int_equal(zd_core_task(r.c, a, sa, &t), 0);
    assert_true(t.max_result == ZD_RESULT_DEFAULT_MAX);
    assert_int_equal(zd_core_max_result(r.c, a), ZD_RESULT_DEFAULT_MAX);
    uint64_t ta = t.token;
    zd_peer pa = local(sa), pc = local(sc);
    assert_true(zd_core_attempt_is_peer(r.c, &pa, a, ta));
    assert_false(zd_core_attempt_is_peer(r.c, &pc, a, ta)); /* another executor */
    assert_false(zd_core_attempt_is_peer(r.c, &pa, a, ta + 1));
    uint8_t hash[ZD_STORE_HASH];
    memset(hash, 0x42, sizeof hash);
    zd_msg_result m = {.node = a, .token = ta, .ok = true, .size = 300000000, .hash = hash};
    assert_true(zd_core_on_result(r.c, 1.0, &pa, &m));
    assert_false(zd_core_attempt_live(r.c, a, ta));
    zd_node_outcome o;
    zd_core_outcome(r.c, a, &o);
    assert_true(o.has_output);
    assert_null(o.output);
    assert_memory_equal(o.output_hash, hash, ZD_STORE_HASH);
    assert_int_equal(o.output_size, 300000000);
    /* c's result of 5000 bytes is over its limit, though its executor said ok. */
    uint64_t tc = token_of(&r, c, sc);
    zd_msg_result mc = {.node = c, .token = tc, .ok = true, .size = 5000, .hash = hash};
    assert_true(zd_core_on_result(r.c, 1.1, &pc, &mc));
    zd_core_outcome(r.c, c, &o);
    assert_int_equal(o.state, ZD_NS_FAILED);
    assert_string_equal(o.error, "result is over max_result (1000 bytes)");
    /* b runs next, on an idle slot, and is told a's hash, not its bytes. */
    take(&r);
    const zd_action *tb = first(&r, ZD_ACT_TASK);
    assert_non_null(tb);
    assert_int_equal(tb->node, b);
    assert_int_equal(zd_core_task(r.c, b, tb->slot, &t), 0);
    assert_int_equal(t.n_deps, 1);
    assert_memory_equal(t.deps[0].hash, hash, ZD_STORE_HASH);
    assert_null(t.deps[0].data.ptr);
    assert_int_equal(t.deps[0].size, 300000000);
    assert_true(t.store_dir.ptr && strcmp(t.store_dir.ptr, "/state/results") == 0);
    zd_peer pb = local(tb->slot);
    uint64_t size = 0;
    uint64_t token = 0;
    assert_true(zd_core_may_fetch(r.c, &pb, hash, &size, &token));
    assert_int_equal(size, 300000000);
    assert_true(token == t.token && token != 0); /* a fetch belongs to this attempt */
    uint8_t other[ZD_STORE_HASH] = {0};
    assert_false(zd_core_may_fetch(r.c, &pb, other, &size, NULL));
    zd_peer idle = local(tb->slot == sa ? sc : sa);
    assert_false(zd_core_may_fetch(r.c, &idle, hash, &size, NULL)); /* it runs nothing now */
    teardown(&r);
}

/* Two independent nodes on two local slots: two TASKs, two OUTCOMEs, exit 0, one attempt each
 * with the fake clock's times. */
static void test_two_nodes(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, NULL), (zd_core_cfg){.n_local = 2});
    hello_local(&r, 0.1, 0);
    hello_local(&r, 0.1, 1);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 2);
    uint32_t a = node(&r, "a"), b = node(&r, "b");
    uint32_t sa = r.acts[0].node == a ? r.acts[0].slot : r.acts[1].slot;
    uint32_t sb = r.acts[0].node == b ? r.acts[0].slot : r.acts[1].slot;
    zd_peer pa = local(sa), pb = local(sb);
    assert_true(result(&r, 1.0, &pa, a, token_of(&r, a, sa), true));
    assert_true(result(&r, 1.5, &pb, b, token_of(&r, b, sb), true));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_OUTCOME), 2);
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 0);
    zd_node_outcome o;
    zd_core_outcome(r.c, a, &o);
    assert_int_equal(o.n_history, 1);
    assert_string_equal(o.history[0].outcome, "succeeded");
    assert_true(o.history[0].start_s == 0.2 && o.history[0].end_s == 1.0);
    assert_true(o.history[0].ready_s == 0.0);
    teardown(&r);
}

/* A node with retries 2 fails twice then succeeds; each retry waits for its back-off (0.1 s,
 * then 0.2 s), told by zd_core_next_timer(). */
static void test_retry_backoff(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"a", NULL}, NULL);
    zd_graph_node(g, 0)->retries = 2;
    setup(&r, g, (zd_core_cfg){.n_local = 1});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    zd_peer p = local(0);
    assert_true(result(&r, 1.0, &p, 0, token_of(&r, 0, 0), false));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    double due = zd_core_next_timer(r.c);
    assert_true(due > 1.0999 && due < 1.1001);
    zd_core_on_timer(r.c, 1.05);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    zd_core_on_timer(r.c, due);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_true(result(&r, 2.0, &p, 0, token_of(&r, 0, 0), false));
    due = zd_core_next_timer(r.c);
    assert_true(due > 2.1999 && due < 2.2001);
    zd_core_on_timer(r.c, due);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_true(result(&r, 3.0, &p, 0, token_of(&r, 0, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_string_equal(outcome_of(&r, 0, 0), "failed");
    assert_string_equal(outcome_of(&r, 0, 1), "failed");
    assert_string_equal(outcome_of(&r, 0, 2), "succeeded");
    zd_node_outcome o;
    zd_core_outcome(r.c, 0, &o);
    assert_int_equal(o.attempts, 3);
    assert_true(o.history[1].ready_s > 1.0999 && o.history[1].ready_s < 1.1001); /* back-off end */
    teardown(&r);
}

/* An executor that dies under its node three times fails the node (max losses 3), with a
 * replacement asked for each time. */
static void test_max_losses(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .can_spawn = true});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    for (int i = 0; i < 3; i++) {
        take(&r);
        assert_int_equal(count(&r, ZD_ACT_TASK), 1);
        zd_core_on_exit(r.c, 1.0 + i, 0, "signal 9");
        take(&r);
        if (i < 2) {
            assert_int_equal(count(&r, ZD_ACT_SPAWN), 1);
            zd_core_on_spawned(r.c, 1.0 + i, 0, true);
            hello_local(&r, 1.1 + i, 0);
        }
    }
    assert_int_equal(state_of(&r, 0), ZD_NS_FAILED);
    assert_int_equal(zd_core_exit_code(r.c), 1);
    zd_node_outcome o;
    zd_core_outcome(r.c, 0, &o);
    assert_non_null(strstr(o.error, "3 executors lost"));
    for (uint32_t i = 0; i < 3; i++)
        assert_string_equal(outcome_of(&r, 0, i), "lost");
    teardown(&r);
}

/* A local node past its timeout: at start + timeout + grace a KILL for its slot, and the pool
 * unit it holds is released only when its executor is reaped. */
static void test_local_timeout_releases_only_on_exit(void **state) {
    (void)state;
    rig r;
    zd_graph *g = zd_graph_new();
    uint32_t a, b;
    int32_t pool;
    assert_int_equal(zd_graph_add_pool(g, "p", 1, &pool), 0);
    assert_int_equal(zd_graph_add_node(g, "a", &a), 0);
    assert_int_equal(zd_graph_add_node(g, "b", &b), 0);
    zd_graph_node(g, a)->pool = pool;
    zd_graph_node(g, a)->timeout = 2;
    zd_graph_node(g, a)->priority = 1;
    zd_graph_node(g, b)->pool = pool;
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    setup(&r, g,
          (zd_core_cfg){.n_local = 2, .can_spawn = true, .prio = ZD_PRIO_USER, .keep_going = true});
    hello_local(&r, 0, 0);
    hello_local(&r, 0, 1);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, a);
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    double due = zd_core_next_timer(r.c);
    assert_true(due > 2.0); /* the timeout plus the backstop's grace */
    zd_core_on_timer(r.c, due);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_KILL), 1);
    assert_int_equal(first(&r, ZD_ACT_KILL)->slot, slot);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0); /* b still waits for the pool unit */
    zd_core_on_exit(r.c, due + 0.1, slot, "signal 9");
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, b);
    assert_int_equal(state_of(&r, a), ZD_NS_FAILED);
    zd_node_outcome o;
    zd_core_outcome(r.c, a, &o);
    assert_non_null(strstr(o.error, "timed out"));
    assert_string_equal(outcome_of(&r, a, 0), "timed out");
    teardown(&r);
}

/* A result with a wrong token, from another routing id, or of a lost attempt is refused and
 * changes nothing. */
static void test_stale_results(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.n_local = 2, .can_spawn = true});
    hello_local(&r, 0, 0);
    hello_local(&r, 0, 1);
    zd_core_start(r.c, 0);
    take(&r);
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    uint64_t token = token_of(&r, 0, slot);
    zd_peer right = local(slot), wrong = local(1 - slot);
    assert_false(result(&r, 1, &right, 0, token + 1, true));
    assert_false(result(&r, 1, &wrong, 0, token, true));
    assert_false(result(&r, 1, &right, 7, token, true)); /* no such node */
    assert_int_equal(state_of(&r, 0), ZD_NS_RUNNING);
    zd_core_on_exit(r.c, 2, slot, "signal 9"); /* lost: the node runs again */
    assert_false(result(&r, 2.5, &right, 0, token, true));
    assert_int_equal(state_of(&r, 0), ZD_NS_RUNNING);
    assert_non_null(strstr(r.log, "discarded"));
    teardown(&r);
}

/* An agent's executors are admitted only with its secret and from a connection with its key;
 * a slot already admitted is not taken over. */
static void test_remote_hello_needs_secret_and_key(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    zd_core_start(r.c, 0);
    uint64_t secret;
    uint32_t id = join(&r, 0.1, 1, "hostA", 2, "workerA", &secret);
    zd_msg_welcome w;
    zd_bytes plugins[4];
    zd_core_welcome(r.c, id, &w, plugins);
    assert_int_equal(w.heartbeat_ms, 1000);
    assert_int_equal(w.fence_ms, 3000);
    assert_true(secret != 0);
    assert_false(hello_remote(&r, 0.2, 1, id, 0, secret + 1, "workerA", 11)); /* wrong secret */
    assert_false(hello_remote(&r, 0.2, 2, id, 0, secret, "workerB", 11));     /* other key */
    assert_false(hello_remote(&r, 0.2, 3, id, 2, secret, "workerA", 11));     /* past slots */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    assert_true(hello_remote(&r, 0.3, 4, id, 0, secret, "workerA", 11));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_false(hello_remote(&r, 0.4, 5, id, 0, secret, "workerA", 11)); /* the same one twice */
    assert_non_null(strstr(r.log, "refused an executor"));
    assert_non_null(strstr(r.log, "key \"workerB\""));
    teardown(&r);
}

/* An agent beating, then silent while its executor holds the sequential lease: nothing is
 * re-granted before T_lost (5 beats) after the last word from it; then the node runs on the
 * other agent, the late result of the first attempt is refused, and the lost agent is told it
 * was evicted when it speaks again. */
static void test_lease_revoked_only_after_T_lost(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"s", NULL}, NULL);
    zd_graph_node(g, 0)->sequential = true;
    setup(&r, g, (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    zd_core_start(r.c, 0);
    uint64_t s1, s2;
    uint32_t a1 = join(&r, 0.0, 1, "h1", 1, "k1", &s1);
    assert_true(hello_remote(&r, 0.1, 1, a1, 0, s1, "k1", 11));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    uint32_t slot1 = first(&r, ZD_ACT_TASK)->slot;
    uint64_t token1 = token_of(&r, 0, slot1);
    uint32_t a2 = join(&r, 0.2, 2, "h2", 1, "k2", &s2);
    assert_true(hello_remote(&r, 0.3, 2, a2, 0, s2, "k2", 21));
    zd_peer p1 = peer(ZD_SOCK_REMOTE, 'A', 1, "k1"), p2 = peer(ZD_SOCK_REMOTE, 'A', 2, "k2");
    zd_core_on_beat(r.c, 2.0, &p1, 1); /* agent 1's last word */
    for (double t = 2.5; t < 7.0; t += 0.5) {
        zd_core_on_beat(r.c, t, &p2, (uint64_t)(t * 2));
        zd_core_on_timer(r.c, t);
        take(&r);
        assert_int_equal(count(&r, ZD_ACT_TASK), 0); /* 2.0 + 5 = 7.0: not yet */
    }
    zd_core_on_beat(r.c, 7.5, &p2, 15);
    zd_core_on_timer(r.c, 8.0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    uint32_t slot2 = first(&r, ZD_ACT_TASK)->slot;
    assert_true(slot2 != slot1);
    assert_string_equal(outcome_of(&r, 0, 0), "lost");
    assert_string_equal(outcome_of(&r, 0, 1), "running");
    zd_peer e1 = peer(ZD_SOCK_REMOTE, 'R', 1, "k1");
    assert_false(result(&r, 8.5, &e1, 0, token1, true));
    zd_core_on_beat(r.c, 9.0, &p1, 2);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BYE), 1);
    assert_int_equal(first(&r, ZD_ACT_BYE)->agent, a1);
    assert_int_equal(first(&r, ZD_ACT_BYE)->reason, ZD_BYE_EVICTED);
    zd_peer e2 = peer(ZD_SOCK_REMOTE, 'R', 2, "k2");
    assert_true(result(&r, 9.5, &e2, 0, token_of(&r, 0, slot2), true));
    assert_true(zd_core_finished(r.c));
    teardown(&r);
}

/* Every heartbeat each active agent is sent the highest BEAT seq received from it. */
static void test_beats_acknowledge(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t id = join(&r, 0.1, 1, "h", 1, "", &s);
    zd_peer p = peer(ZD_SOCK_REMOTE, 'A', 1, "");
    zd_core_on_beat(r.c, 0.5, &p, 7);
    zd_core_on_beat(r.c, 0.6, &p, 5); /* late and reordered: the ack never goes back */
    zd_core_on_timer(r.c, 1.0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BEAT), 1);
    assert_int_equal(first(&r, ZD_ACT_BEAT)->agent, id);
    assert_int_equal(first(&r, ZD_ACT_BEAT)->token, 7);
    teardown(&r);
}

/* A remote node past its timeout: a CANCEL to its agent (its own slot number, the attempt's
 * token); nothing is released until the agent reports that executor LOST. */
static void test_remote_cancel(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"a", NULL}, NULL);
    zd_graph_node(g, 0)->timeout = 1;
    zd_graph_node(g, 0)->kind = ZD_NODE_FN;
    setup(&r, g, (zd_core_cfg){.listen = true, .heartbeat_s = 10});
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t id = join(&r, 0, 1, "h", 2, "k", &s);
    assert_true(hello_remote(&r, 0, 1, id, 1, s, "k", 31));
    take(&r);
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    uint64_t token = token_of(&r, 0, slot);
    zd_core_on_timer(r.c, 1.5);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_CANCEL), 0);
    zd_core_on_timer(r.c, 2.0); /* timeout 1 s + the 1 s grace of a function */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_CANCEL), 1);
    const zd_action *c = first(&r, ZD_ACT_CANCEL);
    assert_int_equal(c->agent, id);
    assert_int_equal(c->agent_slot, 1);
    assert_true(c->token == token);
    assert_int_equal(state_of(&r, 0), ZD_NS_RUNNING);
    zd_msg_lost lost = {.agent = id, .slot = 1, .how = {"cancelled: timed out", 20}, .pid = 31};
    zd_peer p = peer(ZD_SOCK_REMOTE, 'A', 1, "k");
    zd_core_on_lost(r.c, 2.2, &p, &lost);
    assert_int_equal(state_of(&r, 0), ZD_NS_FAILED);
    assert_string_equal(outcome_of(&r, 0, 0), "timed out");
    teardown(&r);
}

/* SIGINT with a running local node: its executor gets SIGTERM; after it exits the run ends
 * with 130; a second signal kills every local executor. */
static void test_interrupt(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, (const char *[]){"a>b", NULL}),
          (zd_core_cfg){.n_local = 1, .can_spawn = true});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    zd_core_on_signal(r.c, 1, SIGINT);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_KILL), 1);
    assert_int_equal(first(&r, ZD_ACT_KILL)->sig, SIGTERM);
    zd_core_on_signal(r.c, 1.1, SIGINT);
    take(&r);
    assert_int_equal(first(&r, ZD_ACT_KILL)->sig, SIGKILL);
    zd_core_on_exit(r.c, 1.2, 0, "signal 15");
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_SPAWN), 0);
    assert_true(zd_core_finished(r.c));
    zd_core_finish(r.c, 1.3);
    assert_int_equal(zd_core_exit_code(r.c), 130);
    assert_string_equal(outcome_of(&r, 0, 0), "interrupted");
    teardown(&r);
}

/* A sequential node runs alone: no TASK while another node runs, none while it runs. */
static void test_sequential_alone(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"x:3", "s:2", "y:1", NULL}, NULL);
    zd_graph_node(g, 1)->sequential = true;
    setup(&r, g, (zd_core_cfg){.n_local = 3, .prio = ZD_PRIO_USER});
    for (uint32_t i = 0; i < 3; i++)
        hello_local(&r, 0, i);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1); /* x; s waits for it, y waits behind s */
    uint32_t sx = first(&r, ZD_ACT_TASK)->slot;
    zd_peer px = local(sx);
    assert_true(result(&r, 1, &px, 0, token_of(&r, 0, sx), true));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, 1);
    uint32_t ss = first(&r, ZD_ACT_TASK)->slot;
    zd_core_on_timer(r.c, 1.5);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    zd_peer ps = local(ss);
    assert_true(result(&r, 2, &ps, 1, token_of(&r, 1, ss), true));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, 2);
    teardown(&r);
}

/* An outcome is synced at the end of the journal window, not before. */
static void test_journal_window(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, (const char *[]){"a>b", NULL}),
          (zd_core_cfg){.n_local = 1, .journal_window_s = 0.05});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    zd_peer p = local(0);
    assert_true(result(&r, 1.0, &p, 0, token_of(&r, 0, 0), true));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_OUTCOME), 1);
    assert_int_equal(count(&r, ZD_ACT_SYNC), 0);
    zd_core_on_timer(r.c, 1.04);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_SYNC), 0);
    zd_core_on_timer(r.c, 1.05);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_SYNC), 1);
    teardown(&r);
}

/* An agent's new executor for a slot can say HELLO before the agent's LOST for the old one
 * arrives (two connections, no order between them): the HELLO proves the old one dead, its
 * node runs again, and the late LOST (the old pid) does not unseat the new executor. Before,
 * the HELLO was refused and the slot never came back: with -w 0 the run never ended. */
static void test_hello_overtakes_lost(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 10});
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t id = join(&r, 0, 1, "h", 1, "k", &s);
    assert_true(hello_remote(&r, 0.1, 1, id, 0, s, "k", 500));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    assert_true(hello_remote(&r, 1.0, 2, id, 0, s, "k", 501)); /* the replacement */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1); /* the node again, on the new executor */
    assert_string_equal(outcome_of(&r, 0, 0), "lost");
    zd_msg_lost lost = {.agent = id, .slot = 0, .how = {"signal 9", 8}, .pid = 500};
    zd_peer pa = peer(ZD_SOCK_REMOTE, 'A', 1, "k");
    zd_core_on_lost(r.c, 1.1, &pa, &lost);
    zd_peer e2 = peer(ZD_SOCK_REMOTE, 'R', 2, "k");
    assert_true(result(&r, 1.5, &e2, 0, token_of(&r, 0, slot), true));
    assert_true(zd_core_finished(r.c));
    teardown(&r);
}

/* Dormant local executors wake only for nodes that take no CPU unit and fit: 1 executor for
 * the cores, 4 IO-only ones; 3 IO nodes and 2 CPU nodes ready. */
static void test_io_slots_wake_for_io_nodes(void **state) {
    (void)state;
    rig r;
    zd_graph *g = build_graph((const char *[]){"c1", "c2", "i1", "i2", "i3", NULL}, NULL);
    for (uint32_t i = 2; i < 5; i++)
        zd_graph_node(g, i)->cpus = 0;
    setup(&r, g, (zd_core_cfg){.n_local = 5, .n_started = 1, .can_spawn = true, .local_cpus = 4});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1); /* c1 on the one executor */
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, 0);
    assert_int_equal(count(&r, ZD_ACT_SPAWN), 1); /* one class of IO nodes ready */
    uint32_t s = first(&r, ZD_ACT_SPAWN)->slot;
    assert_true(s >= 1);
    zd_core_on_spawned(r.c, 0.1, s, true);
    hello_local(&r, 0.2, s);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_true(zd_graph_node(r.g, first(&r, ZD_ACT_TASK)->node)->cpus == 0);
    assert_int_equal(count(&r, ZD_ACT_SPAWN), 1); /* more IO nodes wait: another wakes */
    teardown(&r);
}

/* ---- Sending ahead ------------------------------------------------------------------------ */

static void hello_credit(rig *r, double now, uint32_t slot, uint32_t credit) {
    zd_msg_hello h = {
        .version = ZD_WIRE_VERSION, .slot = slot, .pid = 100 + slot, .credit = credit};
    zd_peer p = local(slot);
    assert_true(zd_core_on_hello(r->c, now, &p, &h));
}

/* One local executor (slot 0) taking `credit` tasks says HELLO, the run starts and its first
 * node `first` ends after 1 ms, so that the time of such nodes is known; the actions of that
 * are taken. Returns the executor's peer. */
static zd_peer warm_up(rig *r, uint32_t credit, uint32_t first) {
    hello_credit(r, 0.1, 0, credit);
    zd_core_start(r->c, 0.2);
    take(r);
    zd_peer p = local(0);
    assert_true(result(r, 0.201, &p, first, token_of(r, first, 0), true));
    take(r);
    return p;
}

/* The nodes of the TASKs of the last event, in order, as "n0 n1 ..." */
static const char *tasks_sent(rig *r, char *buf, size_t size) {
    buf[0] = '\0';
    for (size_t i = 0; i < r->n; i++)
        if (r->acts[i].kind == ZD_ACT_TASK) {
            size_t used = strlen(buf);
            snprintf(buf + used, size - used, "%s%s", used ? " " : "",
                     zd_graph_node(r->g, r->acts[i].node)->name);
        }
    return buf;
}

static uint32_t attempts_of(rig *r, uint32_t index) {
    zd_node_outcome o;
    zd_core_outcome(r->c, index, &o);
    return o.attempts;
}

/* Six independent nodes, one executor taking 4 tasks: once a node has shown how short they are
 * (1 ms), the best ready ones go ahead in priority order; an attempt counts, and its start time
 * is taken, only when it starts (the one before it ended); a RESULT for a task that has not
 * started is refused. */
static void test_ahead_in_order_counted_at_start(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r,
          build_graph((const char *[]){"n0:6", "n1:5", "n2:4", "n3:3", "n4:2", "n5:1", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n2 = node(&r, "n2"), n3 = node(&r, "n3");
    uint32_t n4 = node(&r, "n4"), n5 = node(&r, "n5");
    hello_credit(&r, 0.1, 0, 4);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n0"); /* no estimate yet */
    zd_peer p = local(0);
    uint64_t t0 = token_of(&r, n0, 0);
    assert_true(result(&r, 0.201, &p, n0, t0, true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 n3 n4");
    assert_int_equal(attempts_of(&r, n1), 1);
    assert_int_equal(attempts_of(&r, n2), 0);
    assert_int_equal(state_of(&r, n2), ZD_NS_RUNNING);
    zd_msg_task t;
    assert_int_equal(zd_core_task(r.c, n2, 0, &t), 0);
    assert_int_equal(t.attempt, 1);
    uint64_t t2 = t.token, t3 = token_of(&r, n3, 0);
    assert_false(result(&r, 0.2015, &p, n3, t3, true)); /* not started: not its turn */
    assert_true(result(&r, 0.202, &p, n1, token_of(&r, n1, 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n5"); /* topped up */
    assert_int_equal(attempts_of(&r, n2), 1);
    zd_node_outcome o;
    zd_core_outcome(r.c, n2, &o);
    assert_int_equal(o.n_history, 1);
    assert_true(o.history[0].start_s == 0.202);
    assert_true(result(&r, 0.203, &p, n2, t2, true));
    assert_true(result(&r, 0.204, &p, n3, t3, true));
    assert_true(result(&r, 0.205, &p, n4, token_of(&r, n4, 0), true));
    assert_true(result(&r, 0.206, &p, n5, token_of(&r, n5, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 0);
    for (uint32_t i = 0; i < 6; i++)
        assert_int_equal(attempts_of(&r, i), 1);
    teardown(&r);
}

/* A node the running one releases, if it outranks the next ready node, is not overtaken by it
 * (Tawazi's example: a -> b -> c with b, c above d, one executor: a b c d). */
static void test_ahead_never_overtakes_a_released_node(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r,
          build_graph((const char *[]){"w:9", "a:1", "b:2", "c:2", "d:1", NULL},
                      (const char *[]){"a>b", "b>c", "a>d", NULL}),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER});
    zd_peer p = warm_up(&r, 8, node(&r, "w"));
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b c"); /* links of a's chain */
    uint32_t b = node(&r, "b"), c = node(&r, "c"), d = node(&r, "d");
    zd_msg_task t;
    assert_int_equal(zd_core_task(r.c, b, 0, &t), 0);
    assert_true(t.after == token_of(&r, node(&r, "a"), 0)); /* run after a, if a succeeds */
    assert_int_equal(state_of(&r, b), ZD_NS_RUNNING);
    assert_int_equal(attempts_of(&r, b), 0);
    assert_true(result(&r, 0.202, &p, node(&r, "a"), token_of(&r, node(&r, "a"), 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "d"); /* behind c, which outranks it */
    assert_int_equal(attempts_of(&r, b), 1);
    assert_true(result(&r, 0.203, &p, b, token_of(&r, b, 0), true));
    assert_true(result(&r, 0.204, &p, c, token_of(&r, c, 0), true));
    assert_true(result(&r, 0.205, &p, d, token_of(&r, d, 0), true));
    assert_true(zd_core_finished(r.c));
    teardown(&r);
}

/* The tasks sent ahead to an executor that dies go back to the ready queue untouched (no
 * attempt counted) and run once on its replacement, each alone; the running one is a lost
 * attempt. */
static void test_ahead_of_a_dead_executor_run_once(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r, build_graph((const char *[]){"n0:4", "n1:3", "n2:2", "n3:1", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER, .can_spawn = true});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n2 = node(&r, "n2"), n3 = node(&r, "n3");
    zd_peer p = warm_up(&r, 4, n0);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 n3");
    zd_core_on_exit(r.c, 0.3, 0, "signal 9");
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_SPAWN), 1);
    assert_int_equal(attempts_of(&r, n1), 1);
    assert_int_equal(attempts_of(&r, n2), 0);
    assert_int_equal(attempts_of(&r, n3), 0);
    assert_int_equal(state_of(&r, n2), ZD_NS_READY);
    assert_string_equal(outcome_of(&r, n1, 0), "lost");
    hello_credit(&r, 0.4, 0, 4);
    take(&r);
    /* n2 and n3 were queued there: from now on each runs alone (if one of them is what killed
     * the executor, the next death is its own). */
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1");
    assert_true(result(&r, 0.401, &p, n1, token_of(&r, n1, 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n2");
    assert_true(result(&r, 0.402, &p, n2, token_of(&r, n2, 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n3");
    assert_true(result(&r, 0.403, &p, n3, token_of(&r, n3, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(attempts_of(&r, n1), 2);
    assert_int_equal(attempts_of(&r, n2), 1);
    assert_int_equal(attempts_of(&r, n3), 1);
    teardown(&r);
}

/* A failure stops the run: every task sent ahead is told DROP. A DROPPED one never ran (no
 * attempt), also when it had become the running one as the RESULT before it came (the executor
 * had the DROP first); the run ends with them skipped. */
static void test_ahead_dropped_when_the_run_stops(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r, build_graph((const char *[]){"n0:5", "n1:4", "n2:3", "n3:2", "n4:1", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n2 = node(&r, "n2"), n3 = node(&r, "n3");
    uint32_t n4 = node(&r, "n4");
    zd_peer p = warm_up(&r, 4, n0);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 n3 n4");
    uint64_t t2 = token_of(&r, n2, 0), t3 = token_of(&r, n3, 0), t4 = token_of(&r, n4, 0);
    assert_true(result(&r, 0.202, &p, n1, token_of(&r, n1, 0), false));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_DROP), 2); /* n2 started when n1 ended */
    assert_int_equal(r.acts[r.n - 2].kind, ZD_ACT_DROP);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    const zd_action *d = first(&r, ZD_ACT_DROP);
    assert_int_equal(d->node, n3);
    assert_true(d->token == t3);
    assert_true(result(&r, 0.203, &p, n2, t2, true)); /* it had started: it ran */
    zd_msg_dropped m3 = {n3, t3}, m4 = {n4, t4}, forged = {n4, t4 + 1};
    zd_core_on_dropped(r.c, 0.204, &p, &m3); /* n3 had become the running one */
    zd_peer other = local(1);
    zd_core_on_dropped(r.c, 0.204, &other, &m4); /* not its executor: ignored */
    zd_core_on_dropped(r.c, 0.204, &p, &forged);
    assert_false(zd_core_finished(r.c));
    zd_core_on_dropped(r.c, 0.205, &p, &m4);
    assert_true(zd_core_finished(r.c));
    zd_core_finish(r.c, 0.3);
    assert_int_equal(zd_core_exit_code(r.c), 1);
    assert_int_equal(state_of(&r, n2), ZD_NS_SUCCEEDED);
    assert_int_equal(state_of(&r, n3), ZD_NS_SKIPPED);
    assert_int_equal(state_of(&r, n4), ZD_NS_SKIPPED);
    assert_int_equal(attempts_of(&r, n3), 0);
    assert_int_equal(attempts_of(&r, n4), 0);
    teardown(&r);
}

/* Nodes with a pool or `sequential` are never sent ahead, nor is anything behind them. */
static void test_ahead_never_for_leases(void **state) {
    (void)state;
    rig r;
    char buf[128];
    zd_graph *g = build_graph((const char *[]){"n0:5", "n1:4", "s:3", "n3:2", NULL}, NULL);
    zd_graph_node(g, (uint32_t)zd_graph_find(g, "s"))->sequential = true;
    setup(&r, g, (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER});
    zd_peer p = warm_up(&r, 4, node(&r, "n0"));
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1");
    assert_true(result(&r, 0.202, &p, node(&r, "n1"), token_of(&r, node(&r, "n1"), 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "s"); /* alone: nothing behind it */
    teardown(&r);
}

/* A chain's links go with its first node once their time is known; a link whose parent fails
 * is taken back at once (WAITING again, no attempt): after the parent's retry succeeds it runs;
 * after a final failure it is skipped with its descendants (keep-going). */
static void test_chain_links_follow_their_parent(void **state) {
    (void)state;
    rig r;
    char buf[128];
    zd_graph *g = build_graph((const char *[]){"w", "a", "b", "c", NULL},
                              (const char *[]){"w>a", "a>b", "b>c", NULL});
    zd_graph_node(g, (uint32_t)zd_graph_find(g, "a"))->retries = 1;
    setup(&r, g, (zd_core_cfg){.n_local = 1, .keep_going = true});
    uint32_t w = node(&r, "w"), a = node(&r, "a"), b = node(&r, "b"), c = node(&r, "c");
    zd_peer p = warm_up(&r, 8, w);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b c");
    uint64_t tb = token_of(&r, b, 0);
    assert_true(result(&r, 0.202, &p, a, token_of(&r, a, 0), false)); /* a fails: a retry */
    assert_int_equal(state_of(&r, b), ZD_NS_WAITING);
    assert_int_equal(state_of(&r, c), ZD_NS_WAITING);
    assert_int_equal(attempts_of(&r, b), 0);
    zd_msg_dropped late = {b, tb}; /* the executor passes b over: already taken back */
    zd_core_on_dropped(r.c, 0.2021, &p, &late);
    assert_int_equal(state_of(&r, b), ZD_NS_WAITING);
    zd_core_on_timer(r.c, 0.9); /* past the back-off (0.1 s): a again, with its chain */
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b c");
    assert_true(token_of(&r, b, 0) != tb);
    double t = 1.0;
    assert_true(result(&r, t, &p, a, token_of(&r, a, 0), true));
    assert_int_equal(attempts_of(&r, b), 1);
    zd_node_outcome o;
    zd_core_outcome(r.c, b, &o);
    assert_true(o.history[0].ready_s == t && o.history[0].start_s == t);
    assert_true(result(&r, t + 0.001, &p, b, token_of(&r, b, 0), true));
    assert_true(result(&r, t + 0.002, &p, c, token_of(&r, c, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 0);
    assert_int_equal(attempts_of(&r, a), 2);
    assert_int_equal(attempts_of(&r, c), 1);
    teardown(&r);

    /* No retry left: the links are skipped, never attempted. */
    g = build_graph((const char *[]){"w", "a", "b", "c", NULL},
                    (const char *[]){"w>a", "a>b", "b>c", NULL});
    setup(&r, g, (zd_core_cfg){.n_local = 1, .keep_going = true});
    hello_credit(&r, 0.1, 0, 8);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_true(result(&r, 0.201, &p, node(&r, "w"), token_of(&r, node(&r, "w"), 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b c");
    assert_true(result(&r, 0.202, &p, node(&r, "a"), token_of(&r, node(&r, "a"), 0), false));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(state_of(&r, node(&r, "b")), ZD_NS_SKIPPED);
    assert_int_equal(state_of(&r, node(&r, "c")), ZD_NS_SKIPPED);
    assert_int_equal(attempts_of(&r, node(&r, "b")), 0);
    teardown(&r);
}

/* A node that declares outputs is no chain link's parent: the coordinator judges its success
 * (its outputs must exist) after its executor saw it succeed, so its child waits for that. */
static void test_no_link_behind_a_node_with_outputs(void **state) {
    (void)state;
    rig r;
    char buf[128];
    zd_graph *g = build_graph((const char *[]){"w", "a", "b", "c", NULL},
                              (const char *[]){"w>a", "a>b", "b>c", NULL});
    zd_node *b_node = zd_graph_node(g, (uint32_t)zd_graph_find(g, "b"));
    assert_non_null(b_node->files = calloc(1, sizeof *b_node->files));
    assert_non_null(b_node->files->outputs = calloc(2, sizeof(char *)));
    assert_non_null(b_node->files->outputs[0] = strdup("/nonexistent/b.out"));
    b_node->files->n_outputs = 1;
    setup(&r, g, (zd_core_cfg){.n_local = 1, .keep_going = true});
    uint32_t a = node(&r, "a"), b = node(&r, "b"), c = node(&r, "c");
    zd_peer p = warm_up(&r, 8, node(&r, "w"));
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b"); /* c is not linked behind b */
    assert_true(result(&r, 0.202, &p, a, token_of(&r, a, 0), true));
    assert_true(result(&r, 0.203, &p, b, token_of(&r, b, 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "c"); /* sent once b is judged */
    assert_int_equal(attempts_of(&r, c), 1);
    teardown(&r);
}

/* An executor dies running a chain's first node: its links wait again (they are not ready, no
 * attempt counted), the node is a lost attempt; the links then run alone. */
static void test_chain_of_a_dead_executor(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r,
          build_graph((const char *[]){"w", "a", "b", NULL}, (const char *[]){"w>a", "a>b", NULL}),
          (zd_core_cfg){.n_local = 1, .can_spawn = true});
    uint32_t a = node(&r, "a"), b = node(&r, "b");
    zd_peer p = warm_up(&r, 8, node(&r, "w"));
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b");
    zd_core_on_exit(r.c, 0.3, 0, "signal 9");
    assert_int_equal(state_of(&r, a), ZD_NS_READY);
    assert_int_equal(state_of(&r, b), ZD_NS_WAITING);
    assert_int_equal(attempts_of(&r, b), 0);
    hello_credit(&r, 0.4, 0, 8);
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a"); /* b runs alone now */
    assert_true(result(&r, 0.401, &p, a, token_of(&r, a, 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "b");
    assert_true(result(&r, 0.402, &p, b, token_of(&r, b, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(attempts_of(&r, a), 2);
    assert_int_equal(attempts_of(&r, b), 1);
    teardown(&r);
}

/* A node that kills its executor while it waits behind another (whose RESULT died with the
 * process): the death is charged once to the attempt seen running, then the killer runs alone
 * and its own deaths fail it, never an innocent node's. */
static void test_ahead_killer_is_charged_alone(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r, build_graph((const char *[]){"n0:5", "n1:4", "n2:3", "k:2", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER, .can_spawn = true, .keep_going = true});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n2 = node(&r, "n2"), k = node(&r, "k");
    zd_peer p = warm_up(&r, 4, n0);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 k");
    assert_true(result(&r, 0.202, &p, n1, token_of(&r, n1, 0), true));
    /* n2 ran and k killed the process before n2's RESULT left it: n2 is charged. */
    double t = 1;
    zd_core_on_exit(r.c, t, 0, "signal 11");
    for (int death = 1; death <= 3; death++) {
        hello_credit(&r, t + 0.1, 0, 4);
        take(&r);
        if (death == 1) {
            assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n2"); /* k not behind it */
            assert_true(result(&r, t + 0.11, &p, n2, token_of(&r, n2, 0), true));
            take(&r);
        }
        assert_string_equal(tasks_sent(&r, buf, sizeof buf), "k");
        t += 1;
        zd_core_on_exit(r.c, t, 0, "signal 11");
    }
    assert_true(zd_core_finished(r.c));
    assert_int_equal(state_of(&r, n2), ZD_NS_SUCCEEDED);
    assert_int_equal(attempts_of(&r, n2), 2);
    assert_int_equal(state_of(&r, k), ZD_NS_FAILED);
    assert_int_equal(attempts_of(&r, k), 3);
    teardown(&r);
}

/* A link never overtakes a ready node that outranks it: y (3) waits for -j 1 (the other
 * executor idles, for want of a job) and goes ahead behind h, before h's link l (1), which
 * would otherwise take h's grant; l goes once y runs. */
static void test_link_never_overtakes_a_ready_node(void **state) {
    (void)state;
    rig r;
    char buf[128];
    zd_graph *g =
        build_graph((const char *[]){"h:5", "l:1", "y:3", NULL}, (const char *[]){"h>l", NULL});
    double durations[3] = {0.001, 0.001, 0.001};
    setup(&r, g,
          (zd_core_cfg){.n_local = 2, .jobs = 1, .prio = ZD_PRIO_USER, .durations = durations});
    hello_credit(&r, 0.1, 0, 4);
    hello_credit(&r, 0.1, 1, 4);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "h y");
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    zd_peer p = local(slot);
    assert_true(result(&r, 0.201, &p, node(&r, "h"), token_of(&r, node(&r, "h"), slot), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "l");
    assert_int_equal(attempts_of(&r, node(&r, "y")), 1);
    assert_int_equal(attempts_of(&r, node(&r, "l")), 0);
    teardown(&r);
}

/* A dead executor had started the third of its tasks (its shared cell says so): the two before
 * it ran there too, their RESULTs died with it, so all three are lost attempts and run again;
 * the one after is taken back untouched. A chain link that started there waits again for its
 * parent, lost with it. */
static void test_exit_knows_how_far_it_got(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r, build_graph((const char *[]){"n0:5", "n1:4", "n2:3", "n3:2", "n4:1", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .prio = ZD_PRIO_USER, .can_spawn = true});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n3 = node(&r, "n3");
    uint32_t n4 = node(&r, "n4");
    zd_peer p = warm_up(&r, 5, n0);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 n3 n4");
    zd_core_on_exit_started(r.c, 0.3, 0, "signal 9", token_of(&r, n3, 0));
    for (uint32_t i = n1; i <= n3; i++) {
        assert_int_equal(attempts_of(&r, i), 1);
        assert_string_equal(outcome_of(&r, i, 0), "lost");
        assert_int_equal(state_of(&r, i), ZD_NS_READY);
    }
    assert_int_equal(attempts_of(&r, n4), 0);
    teardown(&r);

    setup(&r,
          build_graph((const char *[]){"w", "a", "b", NULL}, (const char *[]){"w>a", "a>b", NULL}),
          (zd_core_cfg){.n_local = 1, .can_spawn = true});
    hello_credit(&r, 0.1, 0, 8);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_true(result(&r, 0.201, &p, node(&r, "w"), token_of(&r, node(&r, "w"), 0), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "a b");
    zd_core_on_exit_started(r.c, 0.3, 0, "signal 9", token_of(&r, node(&r, "b"), 0));
    assert_string_equal(outcome_of(&r, node(&r, "a"), 0), "lost");
    assert_string_equal(outcome_of(&r, node(&r, "b"), 0), "lost");
    assert_int_equal(state_of(&r, node(&r, "a")), ZD_NS_READY);
    assert_int_equal(state_of(&r, node(&r, "b")), ZD_NS_WAITING); /* a has not succeeded */
    teardown(&r);
}

/* The same for a remote executor: its agent's LOST says which task it had started last (the
 * executor's shared cell on that host). The tasks up to it are lost attempts; the one after
 * goes back untouched; a RESULT that comes after the LOST is stale. */
static void test_lost_knows_how_far_it_got(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r, build_graph((const char *[]){"n0:5", "n1:4", "n2:3", "n3:2", "n4:1", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 10, .prio = ZD_PRIO_USER});
    uint32_t n0 = node(&r, "n0"), n1 = node(&r, "n1"), n3 = node(&r, "n3"), n4 = node(&r, "n4");
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t id = join(&r, 0, 1, "h", 1, "k", &s);
    assert_true(hello_remote_credit(&r, 0.1, 1, id, 0, s, "k", 500, 5));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n0");
    uint32_t slot = first(&r, ZD_ACT_TASK)->slot;
    zd_peer e = peer(ZD_SOCK_REMOTE, 'R', 1, "k");
    assert_true(result(&r, 0.101, &e, n0, token_of(&r, n0, slot), true));
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n1 n2 n3 n4");
    uint64_t t1 = token_of(&r, n1, slot);
    zd_msg_lost lost = {.agent = id,
                        .slot = 0,
                        .how = {"signal 9", 8},
                        .pid = 500,
                        .started = token_of(&r, n3, slot)};
    zd_peer pa = peer(ZD_SOCK_REMOTE, 'A', 1, "k");
    zd_core_on_lost(r.c, 0.2, &pa, &lost);
    for (uint32_t i = n1; i <= n3; i++) {
        assert_int_equal(attempts_of(&r, i), 1);
        assert_string_equal(outcome_of(&r, i, 0), "lost");
        assert_int_equal(state_of(&r, i), ZD_NS_READY);
    }
    assert_int_equal(attempts_of(&r, n4), 0);
    assert_int_equal(state_of(&r, n4), ZD_NS_READY);
    assert_false(result(&r, 0.3, &e, n1, t1, true)); /* its RESULT, late: stale */
    assert_int_equal(state_of(&r, n1), ZD_NS_READY);
    teardown(&r);
}

/* A local executor whose connection closed before its death was seen (a TASK to it failed) is
 * killed, and once reaped its slot is refilled and its node runs again: the slot is not given
 * up for the rest of the run. */
static void test_unreachable_local_executor_is_replaced(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.n_local = 1, .can_spawn = true});
    hello_local(&r, 0.1, 0);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    zd_core_on_unreachable(r.c, 0.3, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_KILL), 1);
    assert_int_equal(first(&r, ZD_ACT_KILL)->slot, 0);
    zd_core_on_exit_started(r.c, 0.4, 0, "signal 9", 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_SPAWN), 1);
    assert_string_equal(outcome_of(&r, 0, 0), "lost");
    zd_core_on_spawned(r.c, 0.5, 0, true);
    hello_local(&r, 0.6, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    zd_peer p = local(0);
    assert_true(result(&r, 0.7, &p, 0, token_of(&r, 0, 0), true));
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 0);
    teardown(&r);
}

/* More executors than CPU units (-w 3 on 2 cores): the third executor stays idle because no
 * CPU unit is free, not for want of work, so the busy two take work ahead; were nothing sent
 * ahead while it idles, every node would wait for a round trip. */
static void test_ahead_while_an_executor_idles_for_want_of_units(void **state) {
    (void)state;
    rig r;
    char buf[128];
    setup(&r,
          build_graph((const char *[]){"n0:9", "n1:8", "n2:7", "n3:6", "n4:5", "n5:4", "n6:3",
                                       "n7:2", NULL},
                      NULL),
          (zd_core_cfg){.n_local = 3, .local_cpus = 2, .prio = ZD_PRIO_USER});
    for (uint32_t s = 0; s < 3; s++)
        hello_credit(&r, 0.1, s, 4);
    zd_core_start(r.c, 0.2);
    take(&r);
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n0 n1"); /* 2 units */
    uint32_t n0 = node(&r, "n0"), s0 = first(&r, ZD_ACT_TASK)->slot;
    zd_peer p = local(s0);
    assert_true(result(&r, 0.201, &p, n0, token_of(&r, n0, s0), true));
    take(&r);
    /* n2 takes n0's unit; once the time of such nodes is known, the best ones go ahead to the
     * two busy executors, although one executor idles */
    assert_string_equal(tasks_sent(&r, buf, sizeof buf), "n2 n3 n4 n5");
    for (uint32_t i = node(&r, "n3"); i <= node(&r, "n5"); i++) {
        assert_int_equal(state_of(&r, i), ZD_NS_RUNNING);
        assert_int_equal(attempts_of(&r, i), 0);
    }
    teardown(&r);
}

/* ---- Fan-out at run time ------------------------------------------------------------------ */

/* list -> each (a template over list's result) -> total. */
static zd_graph *fan_graph(void) {
    zd_graph *g = zd_graph_new();
    uint32_t list, each, total;
    assert_int_equal(zd_graph_add_node(g, "list", &list), 0);
    assert_int_equal(zd_graph_add_node(g, "each", &each), 0);
    assert_int_equal(zd_graph_add_node(g, "total", &total), 0);
    assert_int_equal(zd_graph_add_dep(g, each, list), 0);
    assert_int_equal(zd_graph_add_dep(g, total, each), 0);
    assert_int_equal(zd_graph_set_runtime_fan(g, each, list, false), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

typedef struct fan_rig {
    rig *r;                  /* the core under test */
    int expanded;            /* calls of expand */
    uint32_t instances;      /* instances expand adds */
    char src[64];            /* the source's inline result expand was given */
    const char *fail;        /* expand fails with this, or NULL */
    int64_t cached_instance; /* lookup finds a result of this instance, or -1 */
    int looked;              /* calls of lookup */
} fan_rig;

/* Adds `instances` instances named each[I], as the coordinator does from the result's lines. */
static int fan_expand(void *ctx, uint32_t tmpl, const zd_node_outcome *src, char *why,
                      size_t size) {
    fan_rig *f = ctx;
    f->expanded++;
    snprintf(f->src, sizeof f->src, "%.*s", (int)src->output_len, src->output ? src->output : "");
    if (f->fail) {
        snprintf(why, size, "%s", f->fail);
        return ZDAG_EINVAL;
    }
    zd_node protos[8];
    char names[8][32], *v[8];
    for (uint32_t i = 0; i < f->instances; i++) {
        zd_node_init(&protos[i]);
        snprintf(names[i], sizeof names[i], "each[%u]", i);
        v[i] = names[i];
    }
    return zd_graph_add_instances(f->r->g, tmpl, protos, v, f->instances, NULL);
}

static bool fan_lookup(void *ctx, uint32_t node, zd_core_cached *out) {
    fan_rig *f = ctx;
    f->looked++;
    if ((int64_t)node != f->cached_instance)
        return false;
    *out = (zd_core_cached){.output = "old", .len = 3};
    return true;
}

static bool result_text(rig *r, double now, uint32_t slot, uint32_t node, const char *text) {
    zd_peer p = local(slot);
    zd_msg_result m = {.node = node,
                       .token = token_of(r, node, slot),
                       .ok = true,
                       .output = {text, strlen(text)},
                       .size = strlen(text)};
    return zd_core_on_result(r->c, now, &p, &m);
}

/* The template waits for its source, then its instances run, on its own limits; it ends once
 * they all did, and its dependent is given every instance's result as its deps. */
static void test_run_time_fan_out(void **state) {
    (void)state;
    rig r;
    fan_rig f = {.r = &r, .instances = 2, .cached_instance = -1};
    zd_core_growth growth = {.expand = fan_expand, .ctx = &f};
    setup(&r, fan_graph(), (zd_core_cfg){.n_local = 2, .growth = &growth});
    uint32_t each = node(&r, "each");
    hello_local(&r, 0, 0);
    hello_local(&r, 0, 1);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, node(&r, "list"));
    assert_int_equal(f.expanded, 0);
    assert_true(result_text(&r, 1, first(&r, ZD_ACT_TASK)->slot, node(&r, "list"), "x\ny\n"));
    take(&r);
    assert_int_equal(f.expanded, 1);
    assert_string_equal(f.src, "x\ny\n");
    assert_int_equal(zd_graph_size(r.g), 5);
    assert_int_equal(count(&r, ZD_ACT_TASK), 2); /* each[0] and each[1], not the template */
    uint32_t e0 = node(&r, "each[0]"), e1 = node(&r, "each[1]");
    const zd_action *t0 = first(&r, ZD_ACT_TASK), *t1 = t0 + 1;
    assert_int_equal(t0->node, e0);
    assert_int_equal(t1->kind, ZD_ACT_TASK);
    assert_int_equal(t1->node, e1);
    uint32_t s0 = t0->slot, s1 = t1->slot;
    assert_int_equal(state_of(&r, each), ZD_NS_WAITING);
    zd_core_counts k;
    zd_core_counts_get(r.c, &k);
    assert_int_equal(k.active, 5);
    assert_true(result_text(&r, 2, s0, e0, "r0"));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 0);
    assert_int_equal(state_of(&r, each), ZD_NS_WAITING);
    assert_true(result_text(&r, 3, s1, e1, "r1"));
    take(&r);
    assert_int_equal(state_of(&r, each), ZD_NS_SUCCEEDED);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    const zd_action *t = first(&r, ZD_ACT_TASK);
    assert_int_equal(t->node, node(&r, "total"));
    zd_msg_task task;
    assert_int_equal(zd_core_task(r.c, t->node, t->slot, &task), 0);
    assert_int_equal(task.n_deps, 2);
    assert_memory_equal(task.deps[0].name.ptr, "each[0]", 7);
    assert_memory_equal(task.deps[1].name.ptr, "each[1]", 7);
    assert_memory_equal(task.deps[1].data.ptr, "r1", 2);
    /* Only the instances and the others are journaled: the template has no outcome of its own. */
    zd_node_outcome o;
    zd_core_outcome(r.c, each, &o);
    assert_true(o.is_template && o.expanded);
    assert_int_equal(o.instances, 2);
    assert_int_equal(o.attempts, 0);
    assert_true(result_text(&r, 4, t->slot, t->node, "sum"));
    take(&r);
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 0);
    teardown(&r);
}

/* A template that cannot get its instances fails, positioned on its own outcome; an instance's
 * failure skips the template and what follows it (keep-going: the other instances run on). */
static void test_run_time_fan_out_failures(void **state) {
    (void)state;
    rig r;
    fan_rig f = {
        .r = &r, .fail = "its source's result is not one msgpack value", .cached_instance = -1};
    zd_core_growth growth = {.expand = fan_expand, .ctx = &f};
    setup(&r, fan_graph(), (zd_core_cfg){.n_local = 1, .growth = &growth, .keep_going = true});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    assert_true(result_text(&r, 1, 0, node(&r, "list"), "x"));
    take(&r);
    assert_int_equal(state_of(&r, node(&r, "each")), ZD_NS_FAILED);
    assert_int_equal(count(&r, ZD_ACT_OUTCOME), 2); /* list, and the template's failure */
    zd_node_outcome o;
    zd_core_outcome(r.c, node(&r, "each"), &o);
    assert_string_equal(o.error, "cannot fan out: its source's result is not one msgpack value");
    assert_false(o.expanded);
    assert_int_equal(state_of(&r, node(&r, "total")), ZD_NS_SKIPPED);
    assert_true(zd_core_finished(r.c));
    assert_int_equal(zd_core_exit_code(r.c), 1);
    teardown(&r);

    f = (fan_rig){.r = &r, .instances = 3, .cached_instance = -1};
    setup(&r, fan_graph(), (zd_core_cfg){.n_local = 1, .growth = &growth, .keep_going = true});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    assert_true(result_text(&r, 1, 0, node(&r, "list"), "x"));
    take(&r);
    uint32_t e0 = node(&r, "each[0]");
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, e0);
    zd_peer p = local(0);
    assert_true(result(&r, 2, &p, e0, token_of(&r, e0, 0), false));
    take(&r);
    assert_int_equal(state_of(&r, node(&r, "each")), ZD_NS_SKIPPED);
    assert_int_equal(state_of(&r, node(&r, "total")), ZD_NS_SKIPPED);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, node(&r, "each[1]"));
    teardown(&r);
}

/* --resume: the source is cached, so the template expands at the start; an instance the journal
 * still holds is cached (lookup), the other runs, and the template is not cached then. */
static void test_run_time_fan_out_resumes(void **state) {
    (void)state;
    rig r;
    fan_rig f = {.r = &r, .instances = 2, .cached_instance = 3};
    zd_core_growth growth = {.expand = fan_expand, .lookup = fan_lookup, .ctx = &f};
    bool cached[3] = {true, false, false};
    const char *results[3] = {"x\ny\n", NULL, NULL};
    size_t lens[3] = {4, 0, 0};
    setup(&r, fan_graph(),
          (zd_core_cfg){.n_local = 1,
                        .growth = &growth,
                        .cached = cached,
                        .cached_results = results,
                        .cached_lens = lens});
    hello_local(&r, 0, 0);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(f.expanded, 1);
    assert_string_equal(f.src, "x\ny\n");
    assert_int_equal(f.looked, 2);
    uint32_t e0 = node(&r, "each[0]"), e1 = node(&r, "each[1]");
    assert_int_equal(e0, 3);
    assert_int_equal(state_of(&r, e0), ZD_NS_CACHED);
    zd_node_outcome o;
    zd_core_outcome(r.c, e0, &o);
    assert_int_equal(o.output_len, 3);
    assert_memory_equal(o.output, "old", 3);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, e1);
    assert_true(result_text(&r, 1, 0, e1, "new"));
    take(&r);
    assert_int_equal(state_of(&r, node(&r, "each")), ZD_NS_SUCCEEDED);
    assert_int_equal(f.looked, 2); /* total has an input that ran: it runs, without asking */
    assert_int_equal(first(&r, ZD_ACT_TASK)->node, node(&r, "total"));
    teardown(&r);
}

/* ---- zdag status ---------------------------------------------------------------------------- */

static const char *why(rig *r, const char *name) {
    static char buf[512];
    zd_core_why(r->c, node(r, name), buf, sizeof buf);
    return buf;
}

/* Each node that has not started says what holds it: its deps, a pool, CPU units, a retry's
 * back-off; the head of the ready queue is in priority order; the host counts its executors. */
static void test_status_says_why_nodes_wait(void **state) {
    (void)state;
    rig r;
    zd_graph *g = zd_graph_new();
    uint32_t a, b, big, after, flaky;
    int32_t pool;
    assert_int_equal(zd_graph_add_pool(g, "db", 1, &pool), 0);
    assert_int_equal(zd_graph_add_node(g, "a", &a), 0);
    assert_int_equal(zd_graph_add_node(g, "b", &b), 0);
    assert_int_equal(zd_graph_add_node(g, "big", &big), 0);
    assert_int_equal(zd_graph_add_node(g, "after", &after), 0);
    assert_int_equal(zd_graph_add_node(g, "flaky", &flaky), 0);
    zd_graph_node(g, a)->pool = zd_graph_node(g, b)->pool = (int16_t)pool;
    zd_graph_node(g, a)->priority = 3;
    zd_graph_node(g, big)->cpus = 2;
    zd_graph_node(g, big)->priority = 1; /* below flaky: it would bar flaky from starting */
    zd_graph_node(g, flaky)->retries = 1;
    zd_graph_node(g, flaky)->priority = 2;
    assert_int_equal(zd_graph_add_dep(g, after, a), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    setup(&r, g, (zd_core_cfg){.n_local = 3, .local_cpus = 2, .prio = ZD_PRIO_USER});
    for (uint32_t s = 0; s < 3; s++)
        hello_local(&r, 0, s);
    zd_core_start(r.c, 0);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 2); /* a and flaky: 2 CPU units */
    assert_string_equal(why(&r, "a"), "running");
    assert_string_equal(why(&r, "after"), "waits for a (running)");
    assert_string_equal(why(&r, "b"), "ready: pool db is full (1 of 1 in use)");
    assert_string_equal(why(&r, "big"), "ready: CPU units or resources in use on every host; "
                                        "here 2/2");
    uint32_t head[4];
    assert_int_equal(zd_core_ready_head(r.c, head, 4), 2);
    assert_int_equal(head[0], big); /* priority 1 before b's 0 */
    assert_int_equal(head[1], b);
    zd_core_host_info h;
    assert_int_equal(zd_core_host_count(r.c), 1);
    zd_core_host(r.c, 0, 1, &h);
    assert_string_equal(h.name, "here");
    assert_int_equal(h.slots, 3);
    assert_int_equal(h.busy, 2);
    assert_true(h.cpus_used == 2 && h.cpus == 2 && h.heard_s < 0 && !h.lost);
    /* flaky fails: its retry waits out a back-off of 0.1 s from its end at 1 s. */
    uint32_t slot = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.acts[i].kind == ZD_ACT_TASK && r.acts[i].node == flaky)
            slot = r.acts[i].slot;
    zd_peer p = local(slot);
    assert_true(result(&r, 1, &p, flaky, token_of(&r, flaky, slot), false));
    take(&r);
    assert_string_equal(why(&r, "flaky"), "back-off: attempt 2 at 1.1 s");
    teardown(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes),
        cmocka_unit_test(test_stored_results_and_max_result),
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_max_losses),
        cmocka_unit_test(test_local_timeout_releases_only_on_exit),
        cmocka_unit_test(test_stale_results),
        cmocka_unit_test(test_remote_hello_needs_secret_and_key),
        cmocka_unit_test(test_lease_revoked_only_after_T_lost),
        cmocka_unit_test(test_beats_acknowledge),
        cmocka_unit_test(test_remote_cancel),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_sequential_alone),
        cmocka_unit_test(test_journal_window),
        cmocka_unit_test(test_hello_overtakes_lost),
        cmocka_unit_test(test_io_slots_wake_for_io_nodes),
        cmocka_unit_test(test_ahead_in_order_counted_at_start),
        cmocka_unit_test(test_ahead_never_overtakes_a_released_node),
        cmocka_unit_test(test_ahead_of_a_dead_executor_run_once),
        cmocka_unit_test(test_ahead_dropped_when_the_run_stops),
        cmocka_unit_test(test_ahead_never_for_leases),
        cmocka_unit_test(test_chain_links_follow_their_parent),
        cmocka_unit_test(test_no_link_behind_a_node_with_outputs),
        cmocka_unit_test(test_chain_of_a_dead_executor),
        cmocka_unit_test(test_ahead_killer_is_charged_alone),
        cmocka_unit_test(test_link_never_overtakes_a_ready_node),
        cmocka_unit_test(test_exit_knows_how_far_it_got),
        cmocka_unit_test(test_lost_knows_how_far_it_got),
        cmocka_unit_test(test_unreachable_local_executor_is_replaced),
        cmocka_unit_test(test_ahead_while_an_executor_idles_for_want_of_units),
        cmocka_unit_test(test_run_time_fan_out),
        cmocka_unit_test(test_run_time_fan_out_failures),
        cmocka_unit_test(test_run_time_fan_out_resumes),
        cmocka_unit_test(test_status_says_why_nodes_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
