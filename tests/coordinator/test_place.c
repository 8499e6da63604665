/* Placement: every limit at once, in priority order, without starvation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graphs.h"
#include "place.h"
#include "prio.h"

typedef struct rig {
    zd_graph *g;
    zd_prio_key keys[32];
    uint32_t class_of[32];
    zd_sched *sched;
    zd_capacity *cap;
    zd_leases *leases;
    zd_place *place;
    uint32_t idle[2];
} rig;

/* Builds the parts for g with one host of `cpus` units (and a second of `cpus2` if > 0). */
static void rig_up(rig *r, zd_graph *g, double cpus, double cpus2, int jobs) {
    uint32_t n_classes, h;
    int caps[4];
    for (size_t i = 0; i < zd_graph_pool_count(g); i++)
        caps[i] = zd_graph_pool(g, (int32_t)i)->capacity;
    r->g = g;
    assert_int_equal(zd_prio_compute(g, ZD_PRIO_USER, NULL, NULL, r->keys), 0);
    r->cap = zd_capacity_new(g);
    assert_int_equal(zd_capacity_add_host(r->cap, "a", cpus, NULL, 0, &h), 0);
    if (cpus2 > 0)
        assert_int_equal(zd_capacity_add_host(r->cap, "b", cpus2, NULL, 0, &h), 0);
    r->leases = zd_leases_new(caps, zd_graph_pool_count(g));
    assert_int_equal(zd_place_classes(g, r->cap, r->class_of, &n_classes), 0);
    r->sched = zd_sched_new_classes(g, r->keys, NULL, false, r->class_of, n_classes);
    r->place = zd_place_new(g, r->sched, r->cap, r->leases, jobs, r->class_of, n_classes);
    assert_non_null(r->place);
}

static void rig_down(rig *r) {
    zd_place_free(&r->place);
    zd_sched_free(&r->sched);
    zd_leases_free(&r->leases);
    zd_capacity_free(&r->cap);
    zd_graph_free(&r->g);
}

/* Grants everything that may start now; returns the names' first letters in grant order. */
static void grant_all(rig *r, zd_grant *grants, size_t *n, char *order) {
    zd_place_round(r->place);
    while (zd_place_next(r->place, r->idle, &grants[*n])) {
        r->idle[grants[*n].host]--;
        *order++ = zd_graph_node(r->g, grants[*n].node)->name[0];
        (*n)++;
    }
    *order = '\0';
}

static void finish(rig *r, zd_grant *g) {
    assert_true(zd_place_release(r->place, g));
    r->idle[g->host]++;
    zd_sched_succeeded(r->sched, g->node);
}

static void test_cpu_and_io(void **state) {
    (void)state;
    const char *nodes[] = {"c1:3", "c2:3", "c3:3", "i1", "i2", "i3", "i4", NULL};
    zd_graph *g = build_graph(nodes, NULL);
    for (uint32_t i = 3; i < 7; i++)
        zd_graph_node(g, i)->cpus = 0;
    rig r = {.idle = {6, 0}};
    rig_up(&r, g, 2, 0, 100);
    zd_grant grants[8];
    size_t n = 0;
    char order[8];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "cciiii"); /* c3 waits for a CPU unit; IO nodes flow */
    assert_int_equal(zd_place_running(r.place), 6);
    finish(&r, &grants[0]);
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "c"); /* c3 gets the freed unit */
    rig_down(&r);
}

/* A blocked 2-unit node reserves the CPU units: a lower-priority 1-unit node may not take the
 * unit that frees up, an IO node may start. */
static void test_reservation(void **state) {
    (void)state;
    const char *nodes[] = {"first:9", "big:5", "small", "io", NULL};
    zd_graph *g = build_graph(nodes, NULL);
    zd_graph_node(g, 1)->cpus = 2;
    zd_graph_node(g, 3)->cpus = 0;
    rig r = {.idle = {4, 0}};
    rig_up(&r, g, 2, 0, 100);
    zd_grant grants[8];
    size_t n = 0;
    char order[8];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "fi"); /* big waits for 2 units; small may not overtake it */
    finish(&r, &grants[0]);
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "b");
    rig_down(&r);
}

static void test_jobs_limit(void **state) {
    (void)state;
    const char *nodes[] = {"a", "b", "c", NULL};
    rig r = {.idle = {3, 0}};
    rig_up(&r, build_graph(nodes, NULL), 8, 0, 2);
    zd_grant grants[4];
    size_t n = 0;
    char order[4];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "ab");
    rig_down(&r);
}

static void test_sequential(void **state) {
    (void)state;
    const char *nodes[] = {"a:1", "s:5", "l:0", "h:9", NULL};
    const char *edges[] = {"a>s", "a>l", "a>h", NULL};
    zd_graph *g = build_graph(nodes, edges);
    zd_graph_node(g, 1)->sequential = true;
    rig r = {.idle = {4, 0}};
    rig_up(&r, g, 4, 0, 100);
    zd_grant grants[8];
    size_t n = 0;
    char order[8];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "a");
    finish(&r, &grants[0]);
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "h"); /* higher priority than s; then s waits, l stays behind */
    bool fresh;
    assert_int_equal(zd_place_seq_waiting(r.place, &fresh), 1);
    assert_true(fresh);
    finish(&r, &grants[1]);
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "s"); /* alone */
    assert_int_equal(zd_place_seq_waiting(r.place, NULL), -1);
    assert_true(grants[2].seq_token > 0);
    finish(&r, &grants[2]);
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "l");
    rig_down(&r);
}

static void test_pool_and_revoked_lease(void **state) {
    (void)state;
    const char *nodes[] = {"p1:3", "p2:3", "p3:3", "x", NULL};
    zd_graph *g = build_graph(nodes, NULL);
    int32_t pool;
    assert_int_equal(zd_graph_add_pool(g, "db", 2, &pool), 0);
    for (uint32_t i = 0; i < 3; i++)
        zd_graph_node(g, i)->pool = pool;
    rig r = {.idle = {4, 0}};
    rig_up(&r, g, 8, 0, 100);
    zd_grant grants[8];
    size_t n = 0;
    char order[8];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "ppx");
    /* Revoke p1's unit (its worker was lost): releasing its grant later reports it stale. */
    assert_true(zd_lease_release(r.leases, grants[0].pool_token));
    assert_false(zd_place_release(r.place, &grants[0]));
    rig_down(&r);
}

static void test_second_host(void **state) {
    (void)state;
    const char *nodes[] = {"big:5", "s1", "s2", NULL};
    zd_graph *g = build_graph(nodes, NULL);
    zd_graph_node(g, 0)->cpus = 4;
    rig r = {.idle = {2, 2}};
    rig_up(&r, g, 2, 4, 100);
    assert_true(zd_place_can_ever_run(r.place, 0));
    zd_grant grants[4];
    size_t n = 0;
    char order[4];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "bss");
    assert_int_equal(grants[0].host, 1); /* only host b has 4 units */
    assert_int_equal(grants[1].host, 0);
    rig_down(&r);
}

static uint32_t prefer_b(void *ctx, uint32_t node) {
    (void)ctx;
    return node == 1 ? 1 : UINT32_MAX;
}

/* A preferred host is taken when it has room; otherwise the first host that has. */
static void test_preferred_host(void **state) {
    (void)state;
    const char *nodes[] = {"x:3", "y:2", "z:1", NULL};
    rig r = {.idle = {2, 1}};
    rig_up(&r, build_graph(nodes, NULL), 4, 4, 100);
    zd_place_set_prefer(r.place, prefer_b, NULL);
    zd_grant grants[4];
    size_t n = 0;
    char order[4];
    grant_all(&r, grants, &n, order);
    assert_string_equal(order, "xyz");
    assert_int_equal(grants[0].host, 0); /* no preference: first fit */
    assert_int_equal(grants[1].host, 1); /* y prefers b */
    assert_int_equal(grants[2].host, 0);
    rig_down(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_and_io),
        cmocka_unit_test(test_reservation),
        cmocka_unit_test(test_jobs_limit),
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_pool_and_revoked_lease),
        cmocka_unit_test(test_second_host),
        cmocka_unit_test(test_preferred_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
