/* Tests of common/graph.c: node storage and lookup, deps, children, topological order, cycles,
 * pools, node settings copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph.h"

static uint32_t add(zd_graph *g, const char *name) {
    uint32_t index = UINT32_MAX;
    assert_int_equal(zd_graph_add_node(g, name, &index), 0);
    return index;
}

static void dep(zd_graph *g, uint32_t node, uint32_t on) {
    assert_int_equal(zd_graph_add_dep(g, node, on), 0);
}

static void test_add_and_find(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    assert_non_null(g);
    assert_int_equal(add(g, "a"), 0);
    assert_int_equal(add(g, "b"), 1);
    assert_int_equal(add(g, "c.d-e_f"), 2);
    assert_int_equal(zd_graph_size(g), 3);
    assert_int_equal(zd_graph_find(g, "a"), 0);
    assert_int_equal(zd_graph_find(g, "c.d-e_f"), 2);
    assert_int_equal(zd_graph_find(g, "x"), -1);
    assert_int_equal(zd_graph_find(g, NULL), -1);

    uint32_t index = 77;
    assert_int_equal(zd_graph_add_node(g, "b", &index), ZDAG_EEXIST);
    assert_int_equal(index, 77);
    assert_int_equal(zd_graph_size(g), 3);
    assert_int_equal(zd_graph_add_node(g, NULL, &index), ZDAG_EINVAL);

    const zd_node *n = zd_graph_node(g, 1);
    assert_string_equal(n->name, "b");
    assert_int_equal(n->kind, ZD_NODE_SHELL);
    assert_null(n->shell);
    assert_int_equal(n->pool, -1);
    assert_true(n->cpus == 1.0);
    assert_true(n->estimate == 1.0);
    assert_int_equal(n->priority, 0);
    assert_null(zd_graph_node(g, 3));
    assert_null(zd_graph_topo(g));
    zd_graph_free(&g);
    assert_null(g);
    zd_graph_free(&g);
    zd_graph_free(NULL);
}

/* Enough nodes to grow the name index several times. */
static void test_many_nodes(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    char name[32];
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "node%u", i);
        assert_int_equal(add(g, name), i);
    }
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "node%u", i);
        assert_int_equal(zd_graph_find(g, name), i);
        assert_string_equal(zd_graph_node(g, i)->name, name);
    }
    assert_int_equal(zd_graph_find(g, "node5000"), -1);
    assert_int_equal(zd_graph_add_node(g, "node4321", NULL), ZDAG_EEXIST);
    zd_graph_free(&g);
}

static void test_deps_and_children(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t a = add(g, "a"), b = add(g, "b"), c = add(g, "c");
    dep(g, b, a);
    dep(g, c, a);
    dep(g, c, b);
    assert_int_equal(zd_graph_add_dep(g, c, a), ZDAG_EEXIST);
    assert_int_equal(zd_graph_add_dep(g, a, a), ZDAG_EINVAL);
    assert_int_equal(zd_graph_add_dep(g, a, 9), ZDAG_EINVAL);
    assert_int_equal(zd_graph_add_dep(g, 9, a), ZDAG_EINVAL);

    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    const zd_node *na = zd_graph_node(g, a), *nb = zd_graph_node(g, b), *nc = zd_graph_node(g, c);
    assert_int_equal(nc->n_deps, 2);
    assert_int_equal(nc->deps[0], a);
    assert_int_equal(nc->deps[1], b);
    assert_int_equal(na->n_children, 2);
    assert_int_equal(na->children[0], b);
    assert_int_equal(na->children[1], c);
    assert_int_equal(nb->n_children, 1);
    assert_int_equal(nb->children[0], c);
    assert_int_equal(nc->n_children, 0);

    /* Finishing again rebuilds the children instead of appending to them. */
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    assert_int_equal(zd_graph_node(g, a)->n_children, 2);
    zd_graph_free(&g);
}

static void test_topo_order(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    /* a depends on b; c and b are free: b and c come first, in declaration order. */
    uint32_t a = add(g, "a"), b = add(g, "b"), c = add(g, "c"), d = add(g, "d");
    dep(g, a, b);
    dep(g, d, a);
    dep(g, d, c);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    const uint32_t *topo = zd_graph_topo(g);
    assert_non_null(topo);
    uint32_t expected[] = {b, c, a, d};
    assert_memory_equal(topo, expected, sizeof expected);

    /* Adding a node or a dep invalidates the order until the next finish. */
    uint32_t e = add(g, "e");
    assert_null(zd_graph_topo(g));
    dep(g, b, e);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    uint32_t expected2[] = {c, e, b, a, d};
    assert_memory_equal(zd_graph_topo(g), expected2, sizeof expected2);
    zd_graph_free(&g);
}

static void test_empty_graph_finishes(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t *cycle = NULL;
    size_t len = 0;
    assert_int_equal(zd_graph_finish(g, &cycle, &len), 0);
    assert_null(cycle);
    assert_non_null(zd_graph_topo(g));
    zd_graph_free(&g);
}

static void test_cycle_path(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t a = add(g, "a"), b = add(g, "b"), c = add(g, "c");
    dep(g, a, c);
    dep(g, b, a);
    dep(g, c, b);
    uint32_t *cycle = NULL;
    size_t len = 0;
    assert_int_equal(zd_graph_finish(g, &cycle, &len), ZDAG_ECYCLE);
    assert_null(zd_graph_topo(g));
    /* In dependency order (x -> y: y depends on x), first node repeated at the end. */
    assert_int_equal(len, 4);
    uint32_t expected[] = {b, c, a, b};
    assert_memory_equal(cycle, expected, sizeof expected);
    free(cycle);

    /* Without an output the cycle is still detected. */
    assert_int_equal(zd_graph_finish(g, NULL, NULL), ZDAG_ECYCLE);
    zd_graph_free(&g);
}

/* The search starts at a node downstream of the cycle: only the cycle itself is returned. */
static void test_cycle_behind_a_node(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t x = add(g, "x"), ok = add(g, "ok"), a = add(g, "a"), b = add(g, "b");
    dep(g, x, a);
    dep(g, a, b);
    dep(g, b, a);
    dep(g, a, ok);
    uint32_t *cycle = NULL;
    size_t len = 0;
    assert_int_equal(zd_graph_finish(g, &cycle, &len), ZDAG_ECYCLE);
    assert_int_equal(len, 3);
    uint32_t expected[] = {b, a, b};
    assert_memory_equal(cycle, expected, sizeof expected);
    for (size_t i = 0; i < len; i++)
        assert_int_not_equal(cycle[i], x);
    free(cycle);
    zd_graph_free(&g);
}

static void test_pools(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    int32_t db = -1, lic = -1;
    assert_int_equal(zd_graph_add_pool(g, "db", 2, &db), 0);
    assert_int_equal(zd_graph_add_pool(g, "license", 1, &lic), 0);
    assert_int_equal(db, 0);
    assert_int_equal(lic, 1);
    assert_int_equal(zd_graph_add_pool(g, "db", 3, NULL), ZDAG_EEXIST);
    assert_int_equal(zd_graph_add_pool(g, "zero", 0, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_graph_pool_count(g), 2);
    assert_int_equal(zd_graph_find_pool(g, "license"), 1);
    assert_int_equal(zd_graph_find_pool(g, "nope"), -1);
    assert_string_equal(zd_graph_pool(g, 0)->name, "db");
    assert_int_equal(zd_graph_pool(g, 0)->capacity, 2);
    assert_null(zd_graph_pool(g, 2));
    assert_null(zd_graph_pool(g, -1));
    zd_graph_free(&g);
}

/* A node holds its pool's index in 16 bits: a graph takes ZD_GRAPH_MAX_POOLS pools, no more,
 * each found by name. */
static void test_pool_limit(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    char name[32];
    for (int i = 0; i < ZD_GRAPH_MAX_POOLS; i++) {
        snprintf(name, sizeof name, "p%d", i);
        assert_int_equal(zd_graph_add_pool(g, name, 1, NULL), 0);
    }
    assert_int_equal(zd_graph_add_pool(g, "one-more", 1, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_graph_pool_count(g), ZD_GRAPH_MAX_POOLS);
    snprintf(name, sizeof name, "p%d", ZD_GRAPH_MAX_POOLS - 1);
    assert_int_equal(zd_graph_find_pool(g, name), ZD_GRAPH_MAX_POOLS - 1);
    assert_string_equal(zd_graph_pool(g, ZD_GRAPH_MAX_POOLS - 1)->name, name);
    uint32_t a = add(g, "a");
    zd_graph_node(g, a)->pool = (int16_t)zd_graph_find_pool(g, name);
    assert_int_equal(zd_graph_node(g, a)->pool, ZD_GRAPH_MAX_POOLS - 1);
    zd_graph_free(&g);
}

static void test_settings(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    zd_graph_settings *s = zd_graph_settings_of(g);
    assert_null(s->path);
    assert_int_equal(s->max_concurrency, 0);
    s->path = strdup("p.yaml");
    s->plugins = calloc(2, sizeof *s->plugins);
    s->plugins[0] = strdup("./x.so");
    s->n_plugins = 1;
    s->env = calloc(1, sizeof *s->env);
    s->env[0].key = strdup("A");
    s->env[0].value = strdup("1");
    s->n_env = 1;
    zd_graph_free(&g); /* frees what the settings own: ASan reports a leak otherwise */
}

static void test_copy_settings(void **state) {
    (void)state;
    zd_node src, dst;
    zd_node_init(&src);
    src.name = "src"; /* a name is the graph's, never the node's: not freed by zd_node_clear */
    src.kind = ZD_NODE_ARGV;
    src.argc = 2;
    src.argv = calloc(3, sizeof *src.argv);
    src.argv[0] = strdup("echo");
    src.argv[1] = strdup("hi");
    src.args = malloc(1);
    src.args[0] = (char)0x93;
    src.args_len = 1;
    src.priority = -4;
    src.sequential = true;
    src.pool = 3;
    src.cpus = 0.5;
    src.n_resources = 1;
    src.resources = calloc(1, sizeof *src.resources);
    src.resources[0].name = strdup("gpu");
    src.resources[0].amount = 2;
    src.retries = 2;
    src.timeout = 1.5;
    src.n_env = 1;
    src.env = calloc(1, sizeof *src.env);
    src.env[0].key = strdup("K");
    src.env[0].value = strdup("V");
    src.workdir = strdup("/tmp");
    src.estimate = 9;
    src.n_tags = 1;
    src.tags = calloc(2, sizeof *src.tags);
    src.tags[0] = strdup("t");

    zd_node_init(&dst);
    assert_int_equal(zd_node_copy_settings(&dst, &src), 0);
    assert_null(dst.name);
    assert_int_equal(dst.kind, ZD_NODE_ARGV);
    assert_int_equal(dst.argc, 2);
    assert_string_equal(dst.argv[1], "hi");
    assert_null(dst.argv[2]);
    assert_ptr_not_equal(dst.argv[0], src.argv[0]);
    assert_int_equal(dst.args_len, 1);
    assert_int_equal((unsigned char)dst.args[0], 0x93);
    assert_int_equal(dst.priority, -4);
    assert_true(dst.sequential);
    assert_int_equal(dst.pool, 3);
    assert_true(dst.cpus == 0.5);
    assert_string_equal(dst.resources[0].name, "gpu");
    assert_true(dst.resources[0].amount == 2);
    assert_int_equal(dst.retries, 2);
    assert_true(dst.timeout == 1.5);
    assert_string_equal(dst.env[0].value, "V");
    assert_string_equal(dst.workdir, "/tmp");
    assert_true(dst.estimate == 9);
    assert_string_equal(dst.tags[0], "t");

    zd_node_clear(&src);
    zd_node_clear(&dst);
    assert_null(src.name);
    assert_int_equal(src.pool, -1);
    assert_true(dst.cpus == 1.0);
}

/* After zd_graph_finish the deps of all nodes are one array: a dep added since then gives that
 * node an array of its own, and a second finish packs again (ASan checks the frees). */
static void test_deps_after_finish(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t a = add(g, "a"), b = add(g, "b"), c = add(g, "c");
    dep(g, b, a);
    dep(g, c, a);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    dep(g, c, b);
    assert_int_equal(zd_graph_add_dep(g, c, a), ZDAG_EEXIST);
    const zd_node *nc = zd_graph_node(g, c), *nb = zd_graph_node(g, b);
    assert_int_equal(nc->n_deps, 2);
    assert_int_equal(nc->deps[0], a);
    assert_int_equal(nc->deps[1], b);
    assert_int_equal(nb->n_deps, 1);
    assert_int_equal(nb->deps[0], a);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    nc = zd_graph_node(g, c);
    assert_int_equal(nc->n_deps, 2);
    assert_int_equal(nc->deps[1], b);
    const zd_node *na = zd_graph_node(g, a);
    assert_int_equal(na->n_children, 2);
    assert_int_equal(na->children[0], b);
    assert_int_equal(na->children[1], c);
    assert_int_equal(zd_graph_node(g, b)->n_children, 1);
    assert_int_equal(zd_graph_topo(g)[2], c);
    /* A node added after a finish, with a dep of its own, is freed with the graph. */
    uint32_t d = add(g, "d");
    dep(g, d, c);
    dep(g, b, c);
    zd_graph_free(&g);
}

/* Duplicates are refused whatever the order deps come in (in increasing order they are
 * checked without a scan). */
static void test_duplicate_deps_in_any_order(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t idx;
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(zd_graph_add_node(g, name, &idx), 0);
    }
    assert_int_equal(zd_graph_add_dep(g, 5, 1), 0);
    assert_int_equal(zd_graph_add_dep(g, 5, 2), 0);
    assert_int_equal(zd_graph_add_dep(g, 5, 4), 0);
    assert_int_equal(zd_graph_add_dep(g, 5, 2), ZDAG_EEXIST); /* smaller than the last */
    assert_int_equal(zd_graph_add_dep(g, 5, 4), ZDAG_EEXIST); /* equal to the last */
    assert_int_equal(zd_graph_add_dep(g, 5, 3), 0);           /* out of order from here */
    assert_int_equal(zd_graph_add_dep(g, 5, 4), ZDAG_EEXIST);
    assert_int_equal(zd_graph_add_dep(g, 5, 0), 0);
    assert_int_equal(zd_graph_add_dep(g, 5, 0), ZDAG_EEXIST);
    assert_int_equal(zd_graph_node(g, 5)->n_deps, 5);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_deps_in_any_order),
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_many_nodes),
        cmocka_unit_test(test_deps_and_children),
        cmocka_unit_test(test_topo_order),
        cmocka_unit_test(test_empty_graph_finishes),
        cmocka_unit_test(test_cycle_path),
        cmocka_unit_test(test_cycle_behind_a_node),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_copy_settings),
        cmocka_unit_test(test_deps_after_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
