/* Capacity: CPU and resource units per host, fractional amounts, masks, explanations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "graphs.h"

/* io (cpus 0), cpu (1), big (cpus 2), gpu (cpus 0.5, gpu 1), half (0.5). */
static zd_graph *graph(void) {
    const char *nodes[] = {"io", "cpu", "big", "gpu", "half", NULL};
    zd_graph *g = build_graph(nodes, NULL);
    zd_graph_node(g, 0)->cpus = 0;
    zd_graph_node(g, 2)->cpus = 2;
    zd_node *gn = zd_graph_node(g, 3);
    gn->cpus = 0.5;
    gn->resources = calloc(1, sizeof *gn->resources);
    gn->resources[0] = (zd_amount){strdup("gpu"), 1};
    gn->n_resources = 1;
    zd_graph_node(g, 4)->cpus = 0.5;
    return g;
}

static void test_cpu_units(void **state) {
    (void)state;
    zd_graph *g = graph();
    zd_capacity *c = zd_capacity_new(g);
    uint32_t h;
    assert_int_equal(zd_capacity_add_host(c, "a", 2, NULL, 0, &h), 0);
    assert_int_equal(h, 0);
    assert_string_equal(zd_capacity_host_name(c, 0), "a");
    zd_capacity_take(c, h, 1); /* cpu: 1 of 2 */
    assert_true(zd_capacity_fits(c, h, 1));
    assert_false(zd_capacity_fits(c, h, 2)); /* big needs 2 */
    assert_true(zd_capacity_fits_total(c, h, 2));
    zd_capacity_take(c, h, 1); /* 2 of 2 */
    assert_false(zd_capacity_fits(c, h, 1));
    assert_true(zd_capacity_fits(c, h, 0)); /* IO nodes always fit */
    zd_capacity_give(c, h, 1);
    zd_capacity_take(c, h, 4);
    zd_capacity_take(c, h, 4); /* two halves fill the second unit exactly */
    assert_false(zd_capacity_fits(c, h, 4));
    zd_capacity_give(c, h, 4);
    assert_true(zd_capacity_fits(c, h, 4));
    zd_capacity_free(&c);
    assert_null(c);
    zd_graph_free(&g);
}

static void test_resources_and_masks(void **state) {
    (void)state;
    zd_graph *g = graph();
    zd_capacity *c = zd_capacity_new(g);
    zd_amount gpu = {"gpu", 1}, other = {"tpu", 8};
    uint32_t a, b;
    assert_int_equal(zd_capacity_add_host(c, "nogpu", 4, &other, 1, &a), 0);
    assert_int_equal(zd_capacity_add_host(c, "gpuhost", 1, &gpu, 1, &b), 0);
    assert_int_equal(zd_capacity_hosts(c), 2);
    assert_false(zd_capacity_fits_total(c, a, 3));
    assert_true(zd_capacity_fits(c, b, 3));
    zd_capacity_take(c, b, 3);
    assert_false(zd_capacity_fits(c, b, 3)); /* the one gpu is taken */
    assert_true(zd_capacity_fits(c, b, 4));  /* 0.5 cpu left */
    assert_int_equal(zd_capacity_mask(c, 0), 0);
    assert_int_equal(zd_capacity_mask(c, 1), 1);
    assert_int_equal(zd_capacity_mask(c, 3), 3); /* cpus + gpu */
    char why[128];
    zd_capacity_free(&c);
    /* A host too small for big explains itself. */
    c = zd_capacity_new(g);
    assert_int_equal(zd_capacity_add_host(c, "small", 1, NULL, 0, &a), 0);
    zd_capacity_explain(c, 2, why, sizeof why);
    assert_string_equal(why, "needs 2 cpus; the most any host offers is 1");
    zd_capacity_explain(c, 3, why, sizeof why);
    assert_string_equal(why, "needs 1 gpu; the most any host offers is 0");
    zd_capacity_free(&c);
    zd_graph_free(&g);
}

/* Nodes with the same demand share one laid-out demand; each node still takes and gives its
 * own: 1000 nodes of three demands (1 CPU; 0.5 CPU and 1 gpu; none), interleaved. */
static void test_shared_demands(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        uint32_t index;
        assert_int_equal(zd_graph_add_node(g, name, &index), 0);
        zd_node *n = zd_graph_node(g, index);
        if (i % 3 == 1) {
            n->cpus = 0.5;
            n->resources = calloc(1, sizeof *n->resources);
            n->resources[0] = (zd_amount){strdup("gpu"), 1};
            n->n_resources = 1;
        } else if (i % 3 == 2) {
            n->cpus = 0;
        }
    }
    zd_capacity *c = zd_capacity_new(g);
    zd_amount gpu = {"gpu", 2};
    uint32_t h;
    assert_int_equal(zd_capacity_add_host(c, "h", 2, &gpu, 1, &h), 0);
    assert_int_equal(zd_capacity_mask(c, 0), 1);
    assert_int_equal(zd_capacity_mask(c, 999), 1);
    assert_int_equal(zd_capacity_mask(c, 1), 3);
    assert_int_equal(zd_capacity_mask(c, 997), 3);
    assert_int_equal(zd_capacity_mask(c, 2), 0);
    zd_capacity_take(c, h, 1);
    zd_capacity_take(c, h, 997); /* both gpus, 1 CPU unit */
    assert_false(zd_capacity_fits(c, h, 4));
    assert_true(zd_capacity_fits(c, h, 3));
    zd_capacity_take(c, h, 3); /* 2 CPU units */
    assert_false(zd_capacity_fits(c, h, 6));
    assert_true(zd_capacity_fits(c, h, 998));
    zd_capacity_give(c, h, 997); /* a gpu and half a CPU unit free */
    assert_true(zd_capacity_fits(c, h, 4));
    assert_false(zd_capacity_fits(c, h, 6));
    zd_capacity_take(c, h, 4);
    assert_false(zd_capacity_fits(c, h, 7));
    zd_capacity_give(c, h, 3);
    assert_true(zd_capacity_fits(c, h, 6));
    assert_false(zd_capacity_fits(c, h, 7)); /* the gpus are taken */
    zd_capacity_free(&c);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_units),
        cmocka_unit_test(test_resources_and_masks),
        cmocka_unit_test(test_shared_demands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
