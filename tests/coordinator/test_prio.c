/* Priority modes: user, compound and critical-path, on Tawazi's and the seed's examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graphs.h"
#include "prio.h"
#include "scheduler.h"

/* Runs the graph with one slot: pops, marks succeeded, returns the order as a string. */
static void one_slot_order(const zd_graph *g, zd_prio_mode mode, char *out) {
    zd_prio_key keys[32];
    assert_int_equal(zd_prio_compute(g, mode, NULL, NULL, keys), 0);
    zd_sched *s = zd_sched_new(g, keys, NULL, false);
    while (zd_sched_has_ready(s)) {
        uint32_t n = zd_sched_pop(s);
        *out++ = zd_graph_node(g, n)->name[0];
        zd_sched_succeeded(s, n);
    }
    *out = '\0';
    assert_true(zd_sched_finished(s));
    zd_sched_free(&s);
}

/* Tawazi: a(p1) -> b(p2) -> c(p2), a -> d(p1); one slot runs a b c d in every mode. */
static void test_tawazi_priority_example(void **state) {
    (void)state;
    const char *nodes[] = {"a:1", "b:2", "c:2", "d:1", NULL};
    const char *edges[] = {"a>b", "b>c", "a>d", NULL};
    zd_graph *g = build_graph(nodes, edges);
    char order[8];
    one_slot_order(g, ZD_PRIO_USER, order);
    assert_string_equal(order, "abcd");
    one_slot_order(g, ZD_PRIO_COMPOUND, order);
    assert_string_equal(order, "abcd");
    one_slot_order(g, ZD_PRIO_CRITICAL_PATH, order);
    assert_string_equal(order, "abcd");
    zd_graph_free(&g);
}

/* Compound: a -> b -> d, a -> c, plus an isolated e; each priority 1. Every descendant counts
 * once even when reachable twice. */
static void test_compound_sums(void **state) {
    (void)state;
    const char *nodes[] = {"a:1", "b:1", "c:1", "d:1", "e:1", NULL};
    const char *edges[] = {"a>b", "b>d", "a>c", "c>d", NULL};
    zd_graph *g = build_graph(nodes, edges);
    zd_prio_key keys[5];
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_COMPOUND, NULL, NULL, keys), 0);
    assert_int_equal(keys[0].major, 4); /* a + b + c + d, d counted once */
    assert_int_equal(keys[1].major, 2);
    assert_int_equal(keys[2].major, 2);
    assert_int_equal(keys[3].major, 1);
    assert_int_equal(keys[4].major, 1);
    /* Only active nodes count: without d, a sums a + b + c. */
    bool active[5] = {true, true, true, false, true};
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_COMPOUND, active, NULL, keys), 0);
    assert_int_equal(keys[0].major, 3);
    zd_graph_free(&g);
}

/* The seed: A; B, C, D after A; E after C and D. Critical path puts C and D before B. */
static void test_seed_critical_path(void **state) {
    (void)state;
    const char *nodes[] = {"A", "B", "C", "D", "E", NULL};
    const char *edges[] = {"A>B", "A>C", "A>D", "C>E", "D>E", NULL};
    zd_graph *g = build_graph(nodes, edges);
    char order[8];
    one_slot_order(g, ZD_PRIO_CRITICAL_PATH, order);
    assert_string_equal(order, "ACDBE"); /* B and E tie at the end: declaration order */
    /* In user mode everything ties: declaration order among the ready. */
    one_slot_order(g, ZD_PRIO_USER, order);
    assert_string_equal(order, "ABCDE");
    zd_prio_key keys[5];
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_CRITICAL_PATH, NULL, NULL, keys), 0);
    assert_true(keys[0].minor == 3.0 && keys[1].minor == 1.0 && keys[2].minor == 2.0);
    /* Recorded durations override estimates: B now 5 s long goes first. */
    double durations[5] = {0, 5, 0, 0, 0};
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_CRITICAL_PATH, NULL, durations, keys), 0);
    assert_true(keys[1].minor == 5.0 && keys[0].minor == 6.0);
    zd_graph_free(&g);
}

/* Critical path: a node inherits the highest priority downstream before path length. */
static void test_inherited_urgency(void **state) {
    (void)state;
    const char *nodes[] = {"x", "y", "z:9", "l1", "l2", "l3", NULL};
    const char *edges[] = {"y>z", "x>l1", "l1>l2", "l2>l3", NULL};
    zd_graph *g = build_graph(nodes, edges);
    zd_prio_key keys[6];
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_CRITICAL_PATH, NULL, NULL, keys), 0);
    assert_int_equal(keys[1].major, 9);      /* y leads to z */
    assert_true(zd_prio_before(keys, 1, 0)); /* y before x despite x's longer path */
    zd_graph_free(&g);
}

static void test_mode_names(void **state) {
    (void)state;
    zd_prio_mode m;
    assert_int_equal(zd_prio_mode_parse("compound", &m), 0);
    assert_int_equal(m, ZD_PRIO_COMPOUND);
    assert_int_equal(zd_prio_mode_parse("critical-path", &m), 0);
    assert_int_equal(m, ZD_PRIO_CRITICAL_PATH);
    assert_int_equal(zd_prio_mode_parse("user", &m), 0);
    assert_int_equal(zd_prio_mode_parse("fifo", &m), ZDAG_EINVAL);
    assert_int_equal(zd_prio_mode_parse(NULL, &m), ZDAG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tawazi_priority_example),
        cmocka_unit_test(test_compound_sums),
        cmocka_unit_test(test_seed_critical_path),
        cmocka_unit_test(test_inherited_urgency),
        cmocka_unit_test(test_mode_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
