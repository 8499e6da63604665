/* Scheduler: readiness, fail-fast, keep-going, requeue, cached, excluded, determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graphs.h"
#include "prio.h"
#include "scheduler.h"

typedef struct fixture {
    zd_graph *g;
    zd_prio_key keys[16];
} fixture;

/* a -> b -> c, a -> d, independent e. */
static int setup(void **state) {
    static fixture f;
    const char *nodes[] = {"a", "b", "c", "d", "e", NULL};
    const char *edges[] = {"a>b", "b>c", "a>d", NULL};
    f.g = build_graph(nodes, edges);
    if (zd_prio_compute(f.g, ZD_PRIO_USER, NULL, NULL, f.keys) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    zd_graph_free(&f->g);
    return 0;
}

static void test_fail_fast(void **state) {
    fixture *f = *state;
    zd_sched *s = zd_sched_new(f->g, f->keys, NULL, false);
    assert_int_equal(zd_sched_pop(s), 0); /* a */
    assert_int_equal(zd_sched_pop(s), 4); /* e, running beside a */
    zd_sched_failed(s, 0);
    assert_true(zd_sched_stopped(s));
    assert_false(zd_sched_has_ready(s));
    assert_false(zd_sched_finished(s)); /* e still runs */
    zd_sched_succeeded(s, 4);
    assert_true(zd_sched_finished(s));
    zd_sched_close(s);
    assert_int_equal(zd_sched_state(s, 0), ZD_NS_FAILED);
    assert_int_equal(zd_sched_state(s, 4), ZD_NS_SUCCEEDED);
    assert_int_equal(zd_sched_state(s, 1), ZD_NS_SKIPPED);
    assert_int_equal(zd_sched_count(s, ZD_NS_SKIPPED), 3);
    zd_sched_free(&s);
}

static void test_keep_going(void **state) {
    fixture *f = *state;
    zd_sched *s = zd_sched_new(f->g, f->keys, NULL, true);
    assert_int_equal(zd_sched_pop(s), 0);
    zd_sched_succeeded(s, 0);
    assert_int_equal(zd_sched_pop(s), 1); /* b */
    zd_sched_failed(s, 1);
    assert_false(zd_sched_stopped(s));
    assert_int_equal(zd_sched_state(s, 2), ZD_NS_SKIPPED); /* c after b */
    assert_int_equal(zd_sched_skip_cause(s, 2), 1);
    assert_int_equal(zd_sched_pop(s), 3); /* d still runs */
    zd_sched_succeeded(s, 3);
    assert_int_equal(zd_sched_pop(s), 4);
    zd_sched_succeeded(s, 4);
    assert_true(zd_sched_finished(s));
    zd_sched_free(&s);
}

static void test_requeue_and_abandon(void **state) {
    fixture *f = *state;
    zd_sched *s = zd_sched_new(f->g, f->keys, NULL, false);
    assert_int_equal(zd_sched_pop(s), 0);
    zd_sched_requeue(s, 0);
    assert_int_equal(zd_sched_state(s, 0), ZD_NS_READY);
    assert_int_equal(zd_sched_pop(s), 0); /* still the best */
    zd_sched_abandon(s, 0);
    assert_int_equal(zd_sched_state(s, 0), ZD_NS_SKIPPED);
    zd_sched_free(&s);
}

static void test_cached_and_excluded(void **state) {
    fixture *f = *state;
    bool active[5] = {true, true, true, true, false};
    zd_sched *s = zd_sched_new(f->g, f->keys, active, false);
    assert_int_equal(zd_sched_state(s, 4), ZD_NS_EXCLUDED);
    zd_sched_cached(s, 0);
    assert_int_equal(zd_sched_state(s, 0), ZD_NS_CACHED);
    assert_int_equal(zd_sched_pop(s), 1); /* released by a's cached result */
    assert_int_equal(zd_sched_pop(s), 3);
    assert_false(zd_sched_has_ready(s));
    zd_sched_free(&s);
}

/* --resume of a wide pipeline: 200,000 independent nodes, every other one cached. Each cached
 * ready node leaves its queue in O(log n) (the old code rebuilt the whole queue per node:
 * ~10^10 heap operations here), and the rest come out in order. */
static void test_many_cached_roots(void **state) {
    (void)state;
    const uint32_t n = 200000;
    zd_graph *g = zd_graph_new();
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        uint32_t idx;
        snprintf(name, sizeof name, "n%u", i);
        assert_int_equal(zd_graph_add_node(g, name, &idx), 0);
    }
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    zd_prio_key *keys = calloc(n, sizeof *keys);
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_USER, NULL, NULL, keys), 0);
    zd_sched *s = zd_sched_new(g, keys, NULL, false);
    for (uint32_t i = 0; i < n; i += 2)
        zd_sched_cached(s, i);
    for (uint32_t i = 1; i < n; i += 2)
        assert_int_equal(zd_sched_pop(s), i);
    assert_false(zd_sched_has_ready(s));
    zd_sched_free(&s);
    free(keys);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fail_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_going, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_and_abandon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_and_excluded, setup, teardown),
        cmocka_unit_test(test_many_cached_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
