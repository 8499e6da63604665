/* Tests of common/dot.c: the exact DOT text of a pipeline, escaping, write errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dot.h"
#include "pipeline.h"

/* Returns what zd_dot_write writes for g with flags (caller frees). */
static char *dot_with(const zd_graph *g, unsigned flags) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    assert_int_equal(zd_dot_write(f, g, flags), 0);
    fclose(f);
    return text;
}

static char *dot_of(const zd_graph *g) {
    return dot_with(g, 0);
}

/* Loads a pipeline that must be valid (caller frees the graph). */
static zd_graph *load(const char *pipeline) {
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    assert_int_equal(zd_pipeline_load_buffer("p.yaml", pipeline, strlen(pipeline), &g, &d), 0);
    zd_diags_clear(&d);
    return g;
}

static void test_spec_example(void **state) {
    (void)state;
    static const char pipeline[] = "pools: {db: 2, license: 1}\n"
                                   "nodes:\n"
                                   "  fetch:\n"
                                   "    cmd: curl -sS https://example.org -o page.html\n"
                                   "    priority: 10\n"
                                   "    cpus: 0\n"
                                   "  parse:\n"
                                   "    cmd: [python3, parse.py, page.html]\n"
                                   "    deps: [fetch]\n"
                                   "  train:\n"
                                   "    fn: train_model\n"
                                   "    deps: [parse]\n"
                                   "    sequential: true\n"
                                   "    priority: -3\n"
                                   "    cpus: 2.5\n"
                                   "  report:\n"
                                   "    cmd: ./make_report.sh\n"
                                   "    deps: [train, parse]\n"
                                   "    pool: db\n";
    zd_graph *g = load(pipeline);
    char *text = dot_of(g);
    assert_string_equal(text, "digraph zdag {\n"
                              "  node [shape=box, style=rounded];\n"
                              "  \"fetch\" [label=\"fetch\\npriority: 10\\ncpus: 0\"];\n"
                              "  \"parse\" [label=\"parse\"];\n"
                              "  \"train\" [label=\"train\\npriority: -3\\nsequential\\ncpus: "
                              "2.5\", shape=octagon, style=bold];\n"
                              "  \"report\" [label=\"report\\npool: db\"];\n"
                              "  \"fetch\" -> \"parse\";\n"
                              "  \"parse\" -> \"train\";\n"
                              "  \"train\" -> \"report\";\n"
                              "  \"parse\" -> \"report\";\n"
                              "}\n");
    free(text);
    zd_graph_free(&g);
}

/* A graph built in code may hold any name: quotes, backslashes and newlines are escaped. */
static void test_escaping(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t a, b;
    int32_t pool;
    assert_int_equal(zd_graph_add_node(g, "say \"hi\"", &a), 0);
    assert_int_equal(zd_graph_add_node(g, "back\\slash\nnew\tline", &b), 0);
    assert_int_equal(zd_graph_add_pool(g, "p\"q", 1, &pool), 0);
    zd_graph_node(g, b)->pool = pool;
    assert_int_equal(zd_graph_add_dep(g, b, a), 0);
    char *text = dot_of(g);
    assert_string_equal(text, "digraph zdag {\n"
                              "  node [shape=box, style=rounded];\n"
                              "  \"say \\\"hi\\\"\" [label=\"say \\\"hi\\\"\"];\n"
                              "  \"back\\\\slash\\nnewline\" [label=\"back\\\\slash\\nnewline"
                              "\\npool: p\\\"q\"];\n"
                              "  \"say \\\"hi\\\"\" -> \"back\\\\slash\\nnewline\";\n"
                              "}\n");
    free(text);
    zd_graph_free(&g);
}

static void test_empty_graph_and_errors(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    char *text = dot_of(g);
    assert_string_equal(text, "digraph zdag {\n  node [shape=box, style=rounded];\n}\n");
    free(text);
    assert_int_equal(zd_dot_write(NULL, g, 0), ZDAG_EINVAL);
    assert_int_equal(zd_dot_write(stdout, NULL, 0), ZDAG_EINVAL);
    /* A stream that cannot be written. */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        assert_int_equal(zd_dot_write(full, g, 0), ZDAG_EIO);
        fclose(full);
    }
    zd_graph_free(&g);
}

/* A node with foreach is one box with its count and one edge per pair of boxes; --expand
 * draws the instances. */
static void test_fanned_nodes(void **state) {
    (void)state;
    static const char pipeline[] =
        "nodes:\n"
        "  a: {foreach: {list: [x, y]}, cmd: x, priority: 2}\n"
        "  b: {foreach: {list: [x, y]}, cmd: x, deps: [\"a[{index}]\"]}\n"
        "  one: {foreach: {list: [x]}, cmd: x}\n"
        "  c: {cmd: x, deps: [b, one, a]}\n";
    zd_graph *g = load(pipeline);
    char *text = dot_of(g);
    assert_string_equal(text, "digraph zdag {\n"
                              "  node [shape=box, style=rounded];\n"
                              "  \"a\" [label=\"a\\n2 instances\\npriority: 2\"];\n"
                              "  \"b\" [label=\"b\\n2 instances\"];\n"
                              "  \"one\" [label=\"one\\n1 instance\"];\n"
                              "  \"c\" [label=\"c\"];\n"
                              "  \"a\" -> \"b\";\n"
                              "  \"b\" -> \"c\";\n"
                              "  \"one\" -> \"c\";\n"
                              "  \"a\" -> \"c\";\n"
                              "}\n");
    free(text);
    text = dot_with(g, ZD_DOT_EXPAND);
    assert_non_null(strstr(text, "  \"a[1]\" [label=\"a[1]\\npriority: 2\"];\n"));
    assert_non_null(strstr(text, "  \"a[1]\" -> \"b[1]\";\n"));
    assert_null(strstr(text, "instance"));
    free(text);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_empty_graph_and_errors),
        cmocka_unit_test(test_fanned_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
