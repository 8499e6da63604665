/* Capacity: CPU and resource units per host, fractional amounts, masks, explanations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_units),
        cmocka_unit_test(test_resources_and_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
