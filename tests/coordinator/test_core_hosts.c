/* Hosts that come and go during a run, as automatic workers do (coordinator/provision.h): an
 * idle agent that asks to LEAVE, agents with an allocation of their own on a shared host, and
 * the demand for more hosts the core reports. Scripted events and a fake clock. */
#include <signal.h>
#include <stdlib.h>

#include "core_rig.h"

/* Gives node i one unit of resource `name`. */
static void add_resource(zd_graph *g, uint32_t i, const char *name, double amount) {
    zd_node *n = zd_graph_node(g, i);
    n->resources = realloc(n->resources, (n->n_resources + 1) * sizeof *n->resources);
    n->resources[n->n_resources++] = (zd_amount){strdup(name), amount};
}

/* The slot of the first TASK of the last event. */
static uint32_t task_slot(const rig *r) {
    const zd_action *a = first(r, ZD_ACT_TASK);
    assert_non_null(a);
    return a->slot;
}

/* Starts the run; agent 1 (host h1) joins and is given the first node, then agent 2 (h2)
 * joins and stays idle. Returns the slot the node went to. */
static uint32_t busy_and_idle(rig *r, uint32_t *a1, uint32_t *a2) {
    zd_core_start(r->c, 0);
    uint64_t s1, s2;
    *a1 = join(r, 0.0, 1, "h1", 1, "k1", &s1);
    assert_true(hello_remote(r, 0.1, 1, *a1, 0, s1, "k1", 11));
    take(r);
    uint32_t slot = task_slot(r);
    *a2 = join(r, 0.2, 2, "h2", 1, "k2", &s2);
    assert_true(hello_remote(r, 0.3, 2, *a2, 0, s2, "k2", 21));
    take(r);
    assert_int_equal(count(r, ZD_ACT_TASK), 0);
    return slot;
}

/* A LEAVE is granted only to an agent whose slots hold no work and whose executors all said
 * HELLO: it is told BYE, its slots take nothing more, it is neither lost nor told BYE again at
 * the end; a busy agent's LEAVE changes nothing. */
static void test_idle_agent_leaves(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, (const char *[]){"a>b", NULL}),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    uint32_t a1, a2, slot_a = busy_and_idle(&r, &a1, &a2); /* a runs on agent 1 */
    uint64_t s3;
    uint32_t a3 = join(&r, 0.35, 3, "h3", 1, "k3", &s3);
    zd_peer p2 = peer(ZD_SOCK_REMOTE, 'A', 2, "k2"), p3 = peer(ZD_SOCK_REMOTE, 'A', 3, "k3");
    assert_false(zd_core_on_leave(r.c, 0.4, &p3, ZD_LEAVE_IDLE)); /* no HELLO yet: stays */
    assert_true(hello_remote(&r, 0.41, 3, a3, 0, s3, "k3", 31));
    assert_true(zd_core_on_leave(r.c, 0.42, &p3, ZD_LEAVE_IDLE));
    take(&r);
    zd_peer p1 = peer(ZD_SOCK_REMOTE, 'A', 1, "k1");
    assert_false(zd_core_on_leave(r.c, 0.5, &p1, ZD_LEAVE_IDLE)); /* busy: stays */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BYE), 0);
    assert_int_equal(zd_core_agent_state_of(r.c, a1), ZD_CORE_AGENT_ACTIVE);
    assert_true(zd_core_on_leave(r.c, 0.6, &p2, ZD_LEAVE_IDLE)); /* idle: let go */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BYE), 1);
    assert_int_equal(first(&r, ZD_ACT_BYE)->agent, a2);
    assert_int_equal(first(&r, ZD_ACT_BYE)->reason, ZD_BYE_DONE);
    assert_int_equal(zd_core_agent_state_of(r.c, a2), ZD_CORE_AGENT_LEFT);
    assert_non_null(strstr(r.log, "worker 2 on host h2 left the run (idle)"));
    zd_core_host_info h;
    zd_core_host(r.c, 2, 0.6, &h);
    assert_string_equal(h.name, "h2");
    assert_true(h.left && !h.lost && h.slots == 0);
    /* b goes to agent 1, never to the agent that left; its late beats are ignored. */
    zd_peer e1 = peer(ZD_SOCK_REMOTE, 'R', 1, "k1");
    assert_true(result(&r, 1.0, &e1, 0, token_of(&r, 0, slot_a), true));
    take(&r);
    assert_int_equal(task_slot(&r), slot_a);
    zd_core_on_beat(r.c, 1.1, &p2, 3);
    for (double t = 1.5; t <= 9.0; t += 0.5) {
        zd_core_on_beat(r.c, t, &p1, (uint64_t)(t * 2));
        zd_core_on_timer(r.c, t);
        take(&r);
        assert_int_equal(count(&r, ZD_ACT_BYE), 0);
    }
    assert_null(strstr(r.log, "is lost"));
    assert_true(result(&r, 9.2, &e1, 1, token_of(&r, 1, slot_a), true));
    zd_core_finish(r.c, 9.3);
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BYE), 1); /* agent 1 only */
    assert_int_equal(first(&r, ZD_ACT_BYE)->agent, a1);
    teardown(&r);
}

/* A LEAVE from an agent whose executor holds tasks sent ahead is refused; once they are done, it
 * is granted. */
static void test_leave_refused_with_work_sent_ahead(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a:3", "b:2", "c:1", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1, .prio = ZD_PRIO_USER});
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t a = join(&r, 0.0, 1, "h", 1, "k", &s);
    assert_true(hello_remote_credit(&r, 0.1, 1, a, 0, s, "k", 11, 4));
    take(&r);
    uint32_t slot = task_slot(&r);
    zd_peer e = peer(ZD_SOCK_REMOTE, 'R', 1, "k"), p = peer(ZD_SOCK_REMOTE, 'A', 1, "k");
    assert_true(result(&r, 0.101, &e, 0, token_of(&r, 0, slot), true)); /* a took 1 ms */
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 2); /* b runs, c is sent ahead */
    uint64_t tb = token_of(&r, 1, slot), tc = token_of(&r, 2, slot);
    assert_false(zd_core_on_leave(r.c, 0.2, &p, ZD_LEAVE_IDLE));
    assert_true(result(&r, 0.3, &e, 1, tb, true));
    assert_false(zd_core_on_leave(r.c, 0.4, &p, ZD_LEAVE_IDLE)); /* c runs now */
    assert_true(result(&r, 0.5, &e, 2, tc, true));
    take(&r);
    assert_true(zd_core_on_leave(r.c, 0.6, &p, ZD_LEAVE_IDLE));
    teardown(&r);
}

/* A stopped agent (SIGTERM: scancel) says so after killing what it ran: its attempt is lost
 * and runs on another agent at once, long before T_lost; it is told no BYE. */
static void test_stopped_agent_gives_its_work_back_at_once(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    uint32_t a1, a2, first_slot = busy_and_idle(&r, &a1, &a2);
    (void)a2;
    zd_peer p1 = peer(ZD_SOCK_REMOTE, 'A', 1, "k1");
    assert_true(zd_core_on_leave(r.c, 0.4, &p1, ZD_LEAVE_STOPPED));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_BYE), 0);
    assert_int_equal(count(&r, ZD_ACT_TASK), 1);
    assert_true(task_slot(&r) != first_slot);
    assert_string_equal(outcome_of(&r, 0, 0), "lost");
    assert_int_equal(zd_core_agent_state_of(r.c, a1), ZD_CORE_AGENT_STOPPED);
    assert_non_null(strstr(r.log, "worker 1 on host h1 left the run (stopped: what it ran runs "
                                  "elsewhere)"));
    teardown(&r);
}

/* Agents of one host id share its limits (those of the first), unless each brings an
 * allocation of its own: then agents of the same allocation share, others get a host each,
 * under the same name. */
static void test_allocations_keep_their_own_limits(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1});
    zd_core_start(r.c, 0);
    uint64_t s;
    join_with(&r, 0.0, 1, "node1", 1, 1, "11", "k", &s);
    join_with(&r, 0.1, 2, "node1", 2, 2, "12", "k", &s);
    join_with(&r, 0.2, 3, "node1", 1, 8, NULL, "k", &s);
    join_with(&r, 0.3, 4, "node1", 1, 4, "11", "k", &s); /* job 11 again: its limits */
    join_with(&r, 0.4, 5, "node1", 1, 16, NULL, "k", &s);
    assert_int_equal(zd_core_host_count(r.c), 4); /* here, node1/11, node1/12, node1 */
    const char *allocs[] = {"", "11", "12", ""};
    double cpus[] = {4, 1, 2, 8};
    uint32_t slots[] = {0, 2, 2, 2};
    for (uint32_t h = 0; h < 4; h++) {
        zd_core_host_info info;
        zd_core_host(r.c, h, 0.5, &info);
        assert_string_equal(info.name, h ? "node1" : "here");
        assert_string_equal(info.allocation, allocs[h]);
        assert_true(info.cpus == cpus[h]);
        assert_int_equal(info.slots, slots[h]);
    }
    assert_non_null(strstr(r.log, "worker 1 joined from host node1 (allocation 11) (1 slots"));
    teardown(&r);
}

/* The demand: ready nodes that wait for hosts (none with room, no idle executor), those no host
 * could ever fit and the most they need; not nodes held by their deps or by -j, and nothing
 * once the run stops. */
static void test_demand_counts_nodes_waiting_for_hosts(void **state) {
    (void)state;
    rig r;
    zd_graph *g = zd_graph_new();
    uint32_t x, y, big, gpu, after;
    assert_int_equal(zd_graph_add_node(g, "x", &x), 0);
    assert_int_equal(zd_graph_add_node(g, "y", &y), 0);
    assert_int_equal(zd_graph_add_node(g, "big", &big), 0);
    assert_int_equal(zd_graph_add_node(g, "gpu", &gpu), 0);
    assert_int_equal(zd_graph_add_node(g, "after", &after), 0);
    zd_graph_node(g, big)->cpus = 4;
    add_resource(g, big, "mem_mb", 1000);
    add_resource(g, gpu, "gpu", 1);
    assert_int_equal(zd_graph_add_dep(g, after, x), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    setup(&r, g, (zd_core_cfg){.listen = true, .heartbeat_s = 1, .local_cpus = 1});
    zd_core_start(r.c, 0);
    zd_core_demand_info d;
    zd_core_demand(r.c, &d);
    assert_int_equal(d.waiting, 4); /* x, y, big, gpu; not after */
    assert_int_equal(d.too_big, 4); /* no executor yet (-w 0): the local host does not count */
    assert_int_equal(d.executors, 0);
    assert_true(d.need_cpus == 4 && d.need_mem_mb == 1000 && d.other_resources);
    assert_int_equal(d.big_node, big);
    uint64_t s;
    uint32_t a = join_with(&r, 0.1, 1, "h", 2, 2, "7", "k", &s);
    assert_true(hello_remote(&r, 0.2, 1, a, 0, s, "k", 11));
    assert_true(hello_remote(&r, 0.2, 2, a, 1, s, "k", 12));
    take(&r);
    assert_int_equal(count(&r, ZD_ACT_TASK), 2); /* x and y */
    zd_core_demand(r.c, &d);
    assert_int_equal(d.waiting, 2);
    assert_int_equal(d.too_big, 2); /* big (4 cpus, mem_mb), gpu: no host offers them */
    assert_int_equal(d.executors, 2);
    zd_core_on_signal(r.c, 0.3, SIGTERM);
    zd_core_demand(r.c, &d);
    assert_int_equal(d.waiting, 0);
    teardown(&r);
}

/* -j reached is no demand for hosts. */
static void test_demand_not_held_by_jobs(void **state) {
    (void)state;
    rig r;
    setup(&r, build_graph((const char *[]){"a", "b", NULL}, NULL),
          (zd_core_cfg){.listen = true, .heartbeat_s = 1, .jobs = 1});
    zd_core_start(r.c, 0);
    uint64_t s;
    uint32_t a = join(&r, 0.0, 1, "h", 1, "k", &s);
    assert_true(hello_remote(&r, 0.1, 1, a, 0, s, "k", 11));
    zd_core_demand_info d;
    zd_core_demand(r.c, &d);
    assert_int_equal(d.waiting, 0);
    teardown(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_agent_leaves),
        cmocka_unit_test(test_leave_refused_with_work_sent_ahead),
        cmocka_unit_test(test_stopped_agent_gives_its_work_back_at_once),
        cmocka_unit_test(test_allocations_keep_their_own_limits),
        cmocka_unit_test(test_demand_counts_nodes_waiting_for_hosts),
        cmocka_unit_test(test_demand_not_held_by_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
