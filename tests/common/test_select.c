/* Tests of common/select.c: --target keeps ancestors, --exclude drops descendants, tags,
 * unknown names, diamonds, and a long chain in linear time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "select.h"

static uint32_t add(zd_graph *g, const char *name) {
    uint32_t index = UINT32_MAX;
    assert_int_equal(zd_graph_add_node(g, name, &index), 0);
    return index;
}

static void dep(zd_graph *g, const char *node, const char *on) {
    int64_t a = zd_graph_find(g, node), b = zd_graph_find(g, on);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(zd_graph_add_dep(g, (uint32_t)a, (uint32_t)b), 0);
}

static void tag(zd_graph *g, const char *node, const char *name) {
    zd_node *n = zd_graph_node(g, (uint32_t)zd_graph_find(g, node));
    char **tags = realloc(n->tags, (n->n_tags + 1) * sizeof *tags);
    assert_non_null(tags);
    n->tags = tags;
    n->tags[n->n_tags] = strdup(name);
    assert_non_null(n->tags[n->n_tags]);
    n->n_tags++;
}

/* Builds a graph from "a b c" (node names) and "b:a c:b" (b depends on a, c on b). */
static zd_graph *build(const char *nodes, const char *deps) {
    zd_graph *g = zd_graph_new();
    assert_non_null(g);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", nodes);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        add(g, tok);
    snprintf(buf, sizeof buf, "%s", deps);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        assert_non_null(colon);
        *colon = '\0';
        dep(g, tok, colon + 1);
    }
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

/* Runs zd_select and returns the selected node names in declaration order, space-separated
 * (static buffer), or "error" when it fails. */
static const char *selected(const zd_graph *g, const char *const *targets, size_t n_targets,
                            const char *const *excludes, size_t n_excludes, zd_diags *diags) {
    static char out[512];
    size_t n = zd_graph_size(g);
    bool *active = malloc((n ? n : 1) * sizeof *active);
    assert_non_null(active);
    int rc = zd_select(g, targets, n_targets, excludes, n_excludes, active, diags);
    out[0] = '\0';
    if (rc < 0) {
        snprintf(out, sizeof out, "error");
    } else {
        assert_int_equal(rc, 0);
        for (uint32_t i = 0; i < n; i++) {
            if (!active[i])
                continue;
            if (out[0])
                strcat(out, " ");
            strcat(out, zd_graph_node(g, i)->name);
        }
    }
    free(active);
    return out;
}

#define SELECT(g, t, e, d)                                                                         \
    selected(g, t, sizeof(t) / sizeof *(t)-1, e, sizeof(e) / sizeof *(e)-1, d)

static const char *const NONE[] = {NULL};

/*   fetch -> parse -> train -> report
 *               \-----------> lint        (lint and report depend on parse; report on train)
 *   docs (alone) */
static zd_graph *pipeline(void) {
    zd_graph *g =
        build("fetch parse train report lint docs", "parse:fetch train:parse report:train "
                                                    "report:parse lint:parse");
    tag(g, "train", "ml");
    tag(g, "report", "ml");
    tag(g, "report", "publish");
    tag(g, "docs", "publish");
    return g;
}

static void test_no_names_selects_all(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    assert_string_equal(SELECT(g, NONE, NONE, &d), "fetch parse train report lint docs");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);

    g = build("", ""); /* an empty graph, with and without names */
    assert_string_equal(SELECT(g, NONE, NONE, &d), "");
    const char *const t[] = {"x", NULL};
    assert_string_equal(SELECT(g, t, NONE, &d), "error");
    assert_int_equal(d.n, 1);
    zd_diags_clear(&d);
    zd_graph_free(&g);
}

static void test_target_keeps_ancestors(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    const char *const t1[] = {"train", NULL};
    assert_string_equal(SELECT(g, t1, NONE, &d), "fetch parse train");
    const char *const t2[] = {"fetch", NULL};
    assert_string_equal(SELECT(g, t2, NONE, &d), "fetch");
    const char *const t3[] = {"lint", "docs", NULL};
    assert_string_equal(SELECT(g, t3, NONE, &d), "fetch parse lint docs");
    const char *const t4[] = {"report", "train", "report", NULL}; /* repeats are fine */
    assert_string_equal(SELECT(g, t4, NONE, &d), "fetch parse train report");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

static void test_tag_targets(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    const char *const t1[] = {"ml", NULL};
    assert_string_equal(SELECT(g, t1, NONE, &d), "fetch parse train report");
    const char *const t2[] = {"publish", NULL};
    assert_string_equal(SELECT(g, t2, NONE, &d), "fetch parse train report docs");
    const char *const t3[] = {"lint", "ml", NULL}; /* names and tags mix */
    assert_string_equal(SELECT(g, t3, NONE, &d), "fetch parse train report lint");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

static void test_name_that_is_also_a_tag_means_both(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    tag(g, "docs", "lint"); /* node "lint" and tag "lint" on docs */
    zd_diags d;
    zd_diags_init(&d);
    const char *const t[] = {"lint", NULL};
    assert_string_equal(SELECT(g, t, NONE, &d), "fetch parse lint docs");
    assert_string_equal(SELECT(g, NONE, t, &d), "fetch parse train report");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

static void test_exclude_drops_descendants(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    const char *const e1[] = {"parse", NULL};
    assert_string_equal(SELECT(g, NONE, e1, &d), "fetch docs");
    const char *const e2[] = {"train", NULL};
    assert_string_equal(SELECT(g, NONE, e2, &d), "fetch parse lint docs");
    const char *const e3[] = {"publish", NULL}; /* a tag */
    assert_string_equal(SELECT(g, NONE, e3, &d), "fetch parse train lint");
    const char *const e4[] = {"fetch", "docs", NULL};
    assert_string_equal(SELECT(g, NONE, e4, &d), "");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

static void test_targets_and_excludes(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    /* (targets + ancestors) - (excludes + descendants) */
    const char *const t1[] = {"report", "lint", NULL};
    const char *const e1[] = {"train", NULL};
    assert_string_equal(SELECT(g, t1, e1, &d), "fetch parse lint");
    /* Excluding an ancestor of a target removes the target too. */
    const char *const t2[] = {"report", NULL};
    const char *const e2[] = {"parse", NULL};
    assert_string_equal(SELECT(g, t2, e2, &d), "fetch");
    /* The same name as a target and an exclude: excluded. */
    const char *const t3[] = {"lint", "docs", NULL};
    const char *const e3[] = {"docs", NULL};
    assert_string_equal(SELECT(g, t3, e3, &d), "fetch parse lint");
    /* A tag target minus a name. */
    const char *const t4[] = {"publish", NULL};
    const char *const e4[] = {"report", NULL};
    assert_string_equal(SELECT(g, t4, e4, &d), "fetch parse train docs");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

static void test_unknown_names_all_reported(void **state) {
    (void)state;
    zd_graph *g = pipeline();
    zd_diags d;
    zd_diags_init(&d);
    const char *const t[] = {"trian", "train", "nope", "trian", "", NULL};
    const char *const e[] = {"ml", "nope", "gone", NULL};
    assert_string_equal(SELECT(g, t, e, &d), "error");
    assert_int_equal(d.n, 5);
    assert_string_equal(d.lines[0], "zdag: error: --target \"trian\" names no node or tag; "
                                    "did you mean \"train\"?");
    assert_string_equal(d.lines[1], "zdag: error: --target \"nope\" names no node or tag");
    assert_string_equal(d.lines[2], "zdag: error: --target \"\" names no node or tag");
    assert_string_equal(d.lines[3], "zdag: error: --exclude \"nope\" names no node or tag");
    assert_string_equal(d.lines[4], "zdag: error: --exclude \"gone\" names no node or tag");
    zd_diags_clear(&d);

    /* Node names are case-sensitive; tags too (and a near tag is suggested as a node is). */
    const char *const t2[] = {"Train", "ML", "publsh", NULL};
    assert_string_equal(SELECT(g, t2, NONE, &d), "error");
    assert_int_equal(d.n, 3);
    assert_string_equal(d.lines[0], "zdag: error: --target \"Train\" names no node or tag; "
                                    "did you mean \"train\"?");
    assert_string_equal(d.lines[2], "zdag: error: --target \"publsh\" names no node or tag; "
                                    "did you mean \"publish\"?");
    zd_diags_clear(&d);
    zd_graph_free(&g);
}

/* Diamonds: every node is reached along two paths, and is still selected once. */
static void test_diamonds(void **state) {
    (void)state;
    zd_graph *g = build("a b c d e f g", "b:a c:a d:b d:c e:d f:d g:e g:f");
    zd_diags d;
    zd_diags_init(&d);
    size_t n = zd_graph_size(g);
    bool active[7];
    const char *const t[] = {"g", NULL};
    assert_int_equal(zd_select(g, t, 1, NONE, 0, active, &d), 0);
    for (size_t i = 0; i < n; i++)
        assert_true(active[i]);
    const char *const e1[] = {"b", NULL};
    assert_string_equal(SELECT(g, NONE, e1, &d), "a c");
    const char *const e[] = {"b", "c", NULL};
    assert_string_equal(SELECT(g, NONE, e, &d), "a");
    const char *const t2[] = {"e", NULL};
    const char *const e2[] = {"f", NULL};
    assert_string_equal(SELECT(g, t2, e2, &d), "a b c d e");
    assert_int_equal(d.n, 0);
    zd_graph_free(&g);
}

/* A chain of 100k nodes, each tagged: targeting the last node and excluding the middle one
 * walks the whole chain; a quadratic selection would take minutes. */
static void test_long_chain_is_linear(void **state) {
    (void)state;
    enum { N = 100000 };
    zd_graph *g = zd_graph_new();
    assert_non_null(g);
    char name[32];
    for (uint32_t i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%u", i);
        add(g, name);
        if (i)
            assert_int_equal(zd_graph_add_dep(g, i, i - 1), 0);
        snprintf(name, sizeof name, "t%u", i % 1000);
        zd_node *node = zd_graph_node(g, i);
        node->tags = malloc(sizeof *node->tags);
        assert_non_null(node->tags);
        node->tags[0] = strdup(name);
        node->n_tags = 1;
    }
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    bool *active = malloc(N * sizeof *active);
    assert_non_null(active);
    zd_diags d;
    zd_diags_init(&d);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *const t[] = {"n99999", "t7", NULL};
    const char *const e[] = {"n50000", NULL};
    assert_int_equal(zd_select(g, t, 2, e, 1, active, &d), 0);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(active[i], i < 50000);
    const char *const t2[] = {"n0", NULL};
    const char *const e2[] = {"n1", NULL};
    assert_int_equal(zd_select(g, t2, 1, e2, 1, active, &d), 0);
    assert_true(active[0]);
    for (uint32_t i = 1; i < N; i++)
        assert_false(active[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 2.0); /* milliseconds in practice, even under sanitizers */
    assert_int_equal(d.n, 0);
    free(active);
    zd_graph_free(&g);
}

/* Instances of a node with foreach: NAME stands for all of them, NAME[I] for one; a name that
 * only looks like an instance prefix ("a[" or "a[x]") stands for nothing. */
static void test_fanned_names(void **state) {
    (void)state;
    zd_graph *g = build("a[0] a[1] a[12] ab[0] b[0] b[1] c", "b[0]:a[0] b[1]:a[1] c:b[0] c:b[1]");
    zd_diags d;
    zd_diags_init(&d);
    const char *const a[] = {"a", NULL}, *const b1[] = {"b[1]", NULL}, *const c[] = {"c", NULL};
    assert_string_equal(SELECT(g, a, NONE, &d), "a[0] a[1] a[12]");
    assert_string_equal(SELECT(g, b1, NONE, &d), "a[1] b[1]");
    assert_string_equal(SELECT(g, c, b1, &d), "a[0] a[1] b[0]"); /* c needs b[1]: dropped */
    assert_string_equal(SELECT(g, NONE, a, &d), "ab[0]");
    assert_int_equal(d.n, 0);
    const char *const bad[] = {"a[", "b[x]", NULL};
    assert_string_equal(SELECT(g, bad, NONE, &d), "error");
    assert_int_equal(d.n, 2);
    zd_diags_clear(&d);
    zd_graph_free(&g);
}

/* zd_select_named (--force): exactly the nodes the names stand for, no closure; a fanned name
 * is all its instances; an unknown name is one message with the option's name. */
static void test_named_without_closure(void **state) {
    (void)state;
    zd_graph *g = build("a[0] a[1] b c", "b:a[0] b:a[1] c:b");
    zd_diags d;
    zd_diags_init(&d);
    bool named[4];
    const char *const names[] = {"a", "c"};
    assert_int_equal(zd_select_named(g, names, 2, "--force", named, &d), 0);
    assert_true(named[0] && named[1] && !named[2] && named[3]);
    const char *const bad[] = {"nope"};
    assert_int_equal(zd_select_named(g, bad, 1, "--force", named, &d), ZDAG_EINVAL);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines[0], "zdag: error: --force \"nope\" names no node or tag");
    zd_diags_clear(&d);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_without_closure),
        cmocka_unit_test(test_no_names_selects_all),
        cmocka_unit_test(test_target_keeps_ancestors),
        cmocka_unit_test(test_tag_targets),
        cmocka_unit_test(test_name_that_is_also_a_tag_means_both),
        cmocka_unit_test(test_exclude_drops_descendants),
        cmocka_unit_test(test_targets_and_excludes),
        cmocka_unit_test(test_unknown_names_all_reported),
        cmocka_unit_test(test_diamonds),
        cmocka_unit_test(test_long_chain_is_linear),
        cmocka_unit_test(test_fanned_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
