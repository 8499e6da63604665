/* Tests of common/graph.c: node storage and lookup, deps, children, topological order, cycles,
 * pools, node settings copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* ---- Fan-out at run time ---------------------------------------------------------------- */

/* a, list (a dep of each), each (a template over list's result, also on a; its instances are
 * given list's result when source_is_input), after (on a, each and b), b; finished. */
static zd_graph *fan_graph(bool source_is_input) {
    zd_graph *g = zd_graph_new();
    uint32_t a = add(g, "a"), list = add(g, "list"), each = add(g, "each");
    uint32_t after = add(g, "after"), b = add(g, "b");
    dep(g, each, a);
    dep(g, each, list);
    dep(g, after, a);
    dep(g, after, each);
    dep(g, after, b);
    assert_int_equal(zd_graph_set_runtime_fan(g, each, list, source_is_input), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

/* count protos, shells "run I", named each[I]; the names are written to names[] (16 bytes). */
static void make_protos(zd_node *protos, char names[][16], char **v, uint32_t count,
                        const char *base) {
    for (uint32_t i = 0; i < count; i++) {
        zd_node_init(&protos[i]);
        char cmd[32];
        snprintf(cmd, sizeof cmd, "run %u", i);
        protos[i].shell = strdup(cmd);
        protos[i].priority = (int64_t)i + 1;
        snprintf(names[i], 16, "%.8s[%u]", base, i % 100);
        v[i] = names[i];
    }
}

/* The inputs of node as zd_graph_inputs_next() walks them, by name, joined by spaces. */
static void assert_inputs(const zd_graph *g, uint32_t node, const char *want) {
    char got[256] = "";
    zd_graph_inputs it;
    zd_graph_inputs_begin(g, node, &it);
    uint32_t d;
    size_t n = 0;
    while (zd_graph_inputs_next(g, &it, &d)) {
        strcat(got, n++ ? " " : "");
        strcat(got, zd_graph_node(g, d)->name);
    }
    assert_string_equal(got, want);
    assert_int_equal(zd_graph_input_count(g, node), n);
}

static void test_runtime_fan_marks(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t a = add(g, "a"), t = add(g, "t"), u = add(g, "u");
    dep(g, t, a);
    dep(g, u, a);
    assert_int_equal(zd_graph_runtime_fans(g), 0);
    assert_int_equal(zd_graph_fan_source(g, t), -1);
    /* Marked in decreasing index order: still found (the marks are kept sorted). */
    assert_int_equal(zd_graph_set_runtime_fan(g, u, a, false), 0);
    assert_int_equal(zd_graph_set_runtime_fan(g, t, a, true), 0);
    assert_int_equal(zd_graph_runtime_fans(g), 2);
    assert_int_equal(zd_graph_fan_source(g, t), a);
    assert_int_equal(zd_graph_fan_source(g, u), a);
    assert_int_equal(zd_graph_fan_source(g, a), -1);
    assert_int_equal(zd_graph_fan_source(g, 99), -1);
    assert_int_equal(zd_graph_set_runtime_fan(g, t, a, false), ZDAG_EINVAL); /* twice */
    assert_int_equal(zd_graph_set_runtime_fan(g, a, a, false), ZDAG_EINVAL); /* itself */
    assert_int_equal(zd_graph_set_runtime_fan(g, 3, a, false), ZDAG_EINVAL); /* bad template */
    assert_int_equal(zd_graph_set_runtime_fan(g, a, 3, false), ZDAG_EINVAL); /* bad source */
    assert_int_equal(zd_graph_set_runtime_fan(NULL, a, t, false), ZDAG_EINVAL);
    assert_int_equal(zd_graph_runtime_fans(g), 2);
    uint32_t first = 7, count = 7;
    assert_false(zd_graph_fan_instances(g, t, &first, &count)); /* not expanded */
    assert_false(zd_graph_fan_instances(g, a, &first, &count)); /* not a template */
    assert_int_equal(first, 7);
    assert_int_equal(zd_graph_runtime_fans(NULL), 0);
    assert_int_equal(zd_graph_fan_source(NULL, 0), -1);
    zd_graph_free(&g);
}

/* Instances are added after the finish, past the static nodes, without moving any node: each
 * depends on the template's deps (its source included, as an input) and has the template as
 * its one child. */
static void test_add_instances(void **state) {
    (void)state;
    zd_graph *g = fan_graph(true);
    uint32_t a = 0, list = 1, each = 2, after = 3;
    zd_node *na = zd_graph_node(g, a), *ne = zd_graph_node(g, each);
    zd_node protos[3];
    char names[3][16], *v[3];
    make_protos(protos, names, v, 3, "each");
    uint32_t first = 0;
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 3, &first), 0);
    assert_int_equal(first, 5);
    assert_int_equal(zd_graph_static_size(g), 5);
    assert_int_equal(zd_graph_size(g), 8);
    assert_ptr_equal(zd_graph_node(g, a), na);
    assert_ptr_equal(zd_graph_node(g, each), ne);
    assert_null(zd_graph_node(g, 8));
    for (uint32_t i = 0; i < 3; i++) {
        const zd_node *n = zd_graph_node(g, first + i);
        assert_non_null(n);
        assert_string_equal(n->name, names[i]);
        assert_int_equal(zd_graph_find(g, names[i]), first + i);
        char cmd[32];
        snprintf(cmd, sizeof cmd, "run %u", i);
        assert_string_equal(n->shell, cmd);
        assert_int_equal(n->priority, i + 1);
        assert_int_equal(n->n_deps, 2);
        assert_int_equal(n->deps[0], a);
        assert_int_equal(n->deps[1], list);
        assert_int_equal(n->n_children, 1);
        assert_int_equal(n->children[0], each);
        /* The settings moved: the proto is left initialised. */
        assert_null(protos[i].shell);
        assert_int_equal(protos[i].priority, 0);
        assert_int_equal(protos[i].pool, -1);
    }
    uint32_t f = 0, count = 0;
    assert_true(zd_graph_fan_instances(g, each, &f, &count));
    assert_int_equal(f, 5);
    assert_int_equal(count, 3);
    assert_int_equal(zd_graph_topo(g)[4], after); /* the order is the static nodes' */
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 3, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_graph_add_instances(g, a, protos, v, 3, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_graph_size(g), 8);
    zd_graph_free(&g);
}

/* A source not listed as an input: the instances depend on the template's other deps only. */
static void test_add_instances_without_source(void **state) {
    (void)state;
    zd_graph *g = fan_graph(false);
    zd_node protos[2];
    char names[2][16], *v[2];
    make_protos(protos, names, v, 2, "each");
    uint32_t first = 0;
    assert_int_equal(zd_graph_add_instances(g, 2, protos, v, 2, &first), 0);
    for (uint32_t i = 0; i < 2; i++) {
        const zd_node *n = zd_graph_node(g, first + i);
        assert_int_equal(n->n_deps, 1);
        assert_int_equal(n->deps[0], 0);
        assert_int_equal(n->children[0], 2);
    }
    assert_int_equal(zd_graph_node(g, 2)->n_deps, 2); /* the template keeps both */
    assert_int_equal(zd_graph_fan_source(g, 2), 1);
    zd_graph_free(&g);
}

/* Before the finish, and for a name already in the graph, nothing is added and the protos keep
 * their settings. */
static void test_add_instances_refused(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t list = add(g, "list"), each = add(g, "each");
    dep(g, each, list);
    assert_int_equal(zd_graph_set_runtime_fan(g, each, list, false), 0);
    zd_node protos[2];
    char names[2][16], *v[2];
    make_protos(protos, names, v, 2, "each");
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 2, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    v[1] = "list";
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 2, NULL), ZDAG_EEXIST);
    assert_int_equal(zd_graph_size(g), 2);
    assert_int_equal(zd_graph_find(g, "each[0]"), -1);
    assert_string_equal(protos[0].shell, "run 0");
    assert_string_equal(protos[1].shell, "run 1");
    uint32_t first, count;
    assert_false(zd_graph_fan_instances(g, each, &first, &count));
    /* Not expanded: the template can still take its instances. */
    v[1] = names[1];
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 2, NULL), 0);
    assert_int_equal(zd_graph_find(g, "each[1]"), 3);
    zd_graph_free(&g);
}

/* Two names alike in one call: the second is taken by the first, so nothing is added (else
 * the first instance could not be found by its name). */
static void test_add_instances_same_name_twice(void **state) {
    (void)state;
    zd_graph *g = fan_graph(false);
    zd_node protos[2];
    char names[2][16], *v[2];
    make_protos(protos, names, v, 2, "each");
    v[1] = v[0];
    int rc = zd_graph_add_instances(g, 2, protos, v, 2, NULL);
    size_t size = zd_graph_size(g);
    int64_t found = zd_graph_find(g, "each[0]");
    zd_graph_free(&g); /* before the checks, so that a failure leaks nothing */
    for (uint32_t i = 0; i < 2; i++)
        zd_node_clear(&protos[i]);
    assert_int_equal(rc, ZDAG_EEXIST);
    assert_int_equal(size, 5);
    assert_int_equal(found, -1);
}

/* Two templates expanded one after the other take contiguous blocks; zero instances is a block
 * of none. */
static void test_two_templates_expand(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t src = add(g, "src"), p = add(g, "p"), q = add(g, "q"), z = add(g, "z");
    uint32_t end = add(g, "end");
    dep(g, p, src);
    dep(g, q, src);
    dep(g, z, src);
    dep(g, end, p);
    dep(g, end, z);
    dep(g, end, q);
    assert_int_equal(zd_graph_set_runtime_fan(g, p, src, false), 0);
    assert_int_equal(zd_graph_set_runtime_fan(g, q, src, false), 0);
    assert_int_equal(zd_graph_set_runtime_fan(g, z, src, false), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    assert_inputs(g, end, "p z q"); /* before expansion: the templates themselves */
    zd_node pp[2], qp[3];
    char pn[2][16], qn[3][16], *pv[2], *qv[3];
    make_protos(pp, pn, pv, 2, "p");
    make_protos(qp, qn, qv, 3, "q");
    uint32_t first = 0, count = 9;
    assert_int_equal(zd_graph_add_instances(g, q, qp, qv, 3, &first), 0);
    assert_int_equal(first, 5);
    assert_int_equal(zd_graph_add_instances(g, z, NULL, NULL, 0, &first), 0);
    assert_int_equal(first, 8);
    assert_true(zd_graph_fan_instances(g, z, &first, &count));
    assert_int_equal(count, 0);
    assert_int_equal(zd_graph_size(g), 8);
    assert_int_equal(zd_graph_add_instances(g, p, pp, pv, 2, &first), 0);
    assert_int_equal(first, 8);
    assert_int_equal(zd_graph_size(g), 10);
    assert_true(zd_graph_fan_instances(g, p, &first, &count));
    assert_int_equal(first, 8);
    assert_int_equal(count, 2);
    assert_string_equal(zd_graph_node(g, 5)->name, "q[0]");
    assert_string_equal(zd_graph_node(g, 7)->name, "q[2]");
    assert_string_equal(zd_graph_node(g, 8)->name, "p[0]");
    assert_string_equal(zd_graph_node(g, 9)->name, "p[1]");
    assert_int_equal(zd_graph_node(g, 7)->children[0], q);
    assert_int_equal(zd_graph_node(g, 9)->children[0], p);
    assert_null(zd_graph_node(g, 10));
    assert_int_equal(zd_graph_find(g, "p[1]"), 9);
    assert_int_equal(zd_graph_find(g, "q[0]"), 5);
    assert_inputs(g, end, "p[0] p[1] q[0] q[1] q[2]"); /* z has none */
    assert_inputs(g, 9, "");                           /* src is not an input of theirs */
    assert_int_equal(zd_graph_node(g, 9)->n_deps, 0);
    zd_graph_free(&g);
}

/* A dependent walks its deps in order, an expanded template replaced by its instances. */
static void test_inputs_walk(void **state) {
    (void)state;
    zd_graph *g = fan_graph(true);
    uint32_t each = 2, after = 3;
    assert_inputs(g, after, "a each b");
    assert_inputs(g, 0, "");
    zd_node protos[2];
    char names[2][16], *v[2];
    make_protos(protos, names, v, 2, "each");
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 2, NULL), 0);
    assert_inputs(g, after, "a each[0] each[1] b");
    assert_inputs(g, each, "a list");
    assert_inputs(g, 6, "a list");
    zd_graph_free(&g);

    g = fan_graph(false);
    make_protos(protos, names, v, 2, "each");
    assert_int_equal(zd_graph_add_instances(g, each, protos, v, 2, NULL), 0);
    assert_inputs(g, after, "a each[0] each[1] b");
    assert_inputs(g, each, "a list");
    assert_inputs(g, 6, "a"); /* the source is not an input of the instances */
    zd_graph_free(&g);

    g = fan_graph(false);
    assert_int_equal(zd_graph_add_instances(g, each, NULL, NULL, 0, NULL), 0);
    assert_inputs(g, after, "a b");
    zd_graph_free(&g);
}

/* Once instances were added the static graph is closed: no node, dep, finish or mark. */
static void test_static_graph_closed_after_instances(void **state) {
    (void)state;
    zd_graph *g = fan_graph(false);
    zd_node protos[1];
    char names[1][16], *v[1];
    make_protos(protos, names, v, 1, "each");
    assert_int_equal(zd_graph_add_instances(g, 2, protos, v, 1, NULL), 0);
    uint32_t index = 77;
    assert_int_equal(zd_graph_add_node(g, "new", &index), ZDAG_EINVAL);
    assert_int_equal(index, 77);
    assert_int_equal(zd_graph_find(g, "new"), -1);
    assert_int_equal(zd_graph_add_dep(g, 4, 0), ZDAG_EINVAL);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), ZDAG_EINVAL);
    assert_non_null(zd_graph_topo(g));
    assert_int_equal(zd_graph_set_runtime_fan(g, 4, 0, false), ZDAG_EINVAL);
    assert_int_equal(zd_graph_size(g), 6);
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
        cmocka_unit_test(test_runtime_fan_marks),
        cmocka_unit_test(test_add_instances),
        cmocka_unit_test(test_add_instances_without_source),
        cmocka_unit_test(test_add_instances_refused),
        cmocka_unit_test(test_add_instances_same_name_twice),
        cmocka_unit_test(test_two_templates_expand),
        cmocka_unit_test(test_inputs_walk),
        cmocka_unit_test(test_static_graph_closed_after_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
