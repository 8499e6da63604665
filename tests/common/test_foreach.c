/* Tests of common/foreach.c through the loader: each `foreach` source expands into the right
 * instances in the right order, placeholders are substituted in every key that takes them, and
 * each misuse is an error at the position of what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "foreach.h"
#include "pipeline.h"

/* The messages of one load, joined by newlines (owned; "" when none). */
typedef struct outcome {
    zd_graph *g; /* the graph when it loaded, else NULL */
    char *text;  /* every message */
} outcome;

static outcome run_load(const char *path, const char *yaml) {
    zd_diags d;
    zd_diags_init(&d);
    outcome o = {0};
    int rc = path ? zd_pipeline_load_file(path, 0, &o.g, &d)
                  : zd_pipeline_load_buffer("f.yaml", yaml, strlen(yaml), &o.g, &d);
    size_t size = 0;
    FILE *m = open_memstream(&o.text, &size);
    assert_non_null(m);
    for (size_t i = 0; i < d.n; i++)
        fprintf(m, "%s\n", d.lines[i]);
    fclose(m);
    zd_diags_clear(&d);
    if (rc != 0 && o.g)
        fail_msg("a graph with rc %d", rc);
    return o;
}

static zd_graph *must_load(const char *yaml) {
    outcome o = run_load(NULL, yaml);
    if (!o.g)
        fail_msg("load failed:\n%s", o.text);
    free(o.text);
    return o.g;
}

/* Asserts that yaml fails to load and that its messages are exactly want. */
static void must_fail(const char *yaml, const char *want) {
    outcome o = run_load(NULL, yaml);
    assert_null(o.g);
    assert_string_equal(o.text, want);
    free(o.text);
}

static const zd_node *inst(const zd_graph *g, const char *name) {
    int64_t i = zd_graph_find(g, name);
    if (i < 0)
        fail_msg("no node %s", name);
    return zd_graph_node(g, (uint32_t)i);
}

/* The names of node's deps, in order, joined by spaces. */
static void assert_deps(const zd_graph *g, const char *name, const char *want) {
    const zd_node *n = inst(g, name);
    char got[512] = "";
    for (uint32_t d = 0; d < n->n_deps; d++) {
        strcat(got, d ? " " : "");
        strcat(got, zd_graph_node(g, n->deps[d])->name);
    }
    assert_string_equal(got, want);
}

static void test_list_substitutes_every_key(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n"
                            "  a:\n"
                            "    foreach: {list: [x, \"y z\"]}\n"
                            "    cmd: \"echo {item} {index} {{item}} }}\"\n"
                            "    env: {V: \"<{item}>\", K: plain}\n"
                            "    workdir: \"w/{index}\"\n"
                            "    tags: [\"t-{item}\", all]\n"
                            "    args: {k: \"{item}\", n: [1, \"{index}\"]}\n"
                            "  b:\n"
                            "    foreach: {list: [p, q]}\n"
                            "    cmd: [printf, \"%s\", \"{item}\"]\n");
    assert_int_equal(zd_graph_size(g), 4);
    assert_int_equal(zd_graph_find(g, "a"), -1);
    const zd_node *a1 = inst(g, "a[1]");
    assert_string_equal(a1->shell, "echo y z 1 {item} }");
    assert_string_equal(a1->env[0].value, "<y z>");
    assert_string_equal(a1->env[1].value, "plain");
    assert_string_equal(a1->workdir, "w/1");
    assert_string_equal(a1->tags[0], "t-y z");
    assert_string_equal(a1->tags[1], "all");
    assert_int_equal(a1->line, 2);
    assert_int_equal(a1->col, 3);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, a1->args, a1->args_len, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *m = &u.data.via.map;
    assert_int_equal(m->size, 2);
    assert_memory_equal(m->ptr[0].val.via.str.ptr, "y z", 3);
    assert_int_equal(m->ptr[1].val.via.array.ptr[0].via.u64, 1);
    assert_memory_equal(m->ptr[1].val.via.array.ptr[1].via.str.ptr, "1", 1);
    msgpack_unpacked_destroy(&u);
    assert_string_equal(inst(g, "a[0]")->shell, "echo x 0 {item} }");
    assert_string_equal(inst(g, "b[1]")->argv[2], "q");
    assert_string_equal(inst(g, "b[1]")->argv[1], "%s");
    zd_graph_free(&g);
}

static void test_plain_nodes_keep_braces(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n  a: {cmd: \"awk '{print $1}' {item}\"}\n");
    assert_string_equal(inst(g, "a")->shell, "awk '{print $1}' {item}");
    zd_graph_free(&g);
}

static void test_range_is_inclusive(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n  r: {foreach: {range: [-1, 2]}, cmd: \"n={item}\"}\n");
    assert_int_equal(zd_graph_size(g), 4);
    assert_string_equal(inst(g, "r[0]")->shell, "n=-1");
    assert_string_equal(inst(g, "r[3]")->shell, "n=2");
    zd_graph_free(&g);
    must_fail("nodes:\n  r: {foreach: {range: [3, 1]}, cmd: x}\n",
              "f.yaml:2:24: error: \"range\" in foreach of node \"r\" must be [FIRST, LAST]: two "
              "integers, FIRST <= LAST (both included)\n");
}

static void test_matrix_first_variable_slowest(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n"
                            "  m:\n"
                            "    foreach: {matrix: {size: [s, m], seed: [1, 2, 3]}}\n"
                            "    cmd: \"{size}-{seed}-{index}\"\n");
    static const char *const want[] = {"s-1-0", "s-2-1", "s-3-2", "m-1-3", "m-2-4", "m-3-5"};
    assert_int_equal(zd_graph_size(g), 6);
    for (uint32_t i = 0; i < 6; i++)
        assert_string_equal(zd_graph_node(g, i)->shell, want[i]);
    zd_graph_free(&g);
    must_fail("nodes:\n  m: {foreach: {matrix: {v: [1]}}, cmd: \"{item}\"}\n",
              "f.yaml:2:41: error: unknown placeholder \"{item}\" (known: {index} and the matrix "
              "variables; write {{ and }} for literal braces)\n");
}

/* A directory with logs/b.log, logs/a.log, logs/c.txt, items.txt and the pipeline p.yaml. */
static char *make_tree(const char *yaml) {
    char *dir = strdup("/tmp/zdag-test-foreach-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[512];
    static const char *const files[] = {"logs/b.log", "logs/a.log", "logs/c.txt"};
    snprintf(path, sizeof path, "%s/logs", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/items.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("one\n\ntwo\r\n\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    f = fopen(path, "w");
    fputs(yaml, f);
    fclose(f);
    return dir;
}

static void remove_tree(char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static void test_glob_and_lines_from_the_file_directory(void **state) {
    (void)state;
    char *dir = make_tree("nodes:\n"
                          "  z: {foreach: {glob: \"logs/*.log\"}, cmd: \"gzip {item}\"}\n"
                          "  none: {foreach: {glob: \"logs/*.gz\"}, cmd: \"x {item}\"}\n"
                          "  l: {foreach: {lines: items.txt}, cmd: \"echo {item}\"}\n"
                          "  after: {cmd: x, deps: [none, z]}\n");
    char path[512];
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    outcome o = run_load(path, NULL);
    if (!o.g)
        fail_msg("%s", o.text);
    zd_graph *g = o.g;
    assert_int_equal(zd_graph_size(g), 5);
    assert_string_equal(inst(g, "z[0]")->shell, "gzip logs/a.log");
    assert_string_equal(inst(g, "z[1]")->shell, "gzip logs/b.log");
    assert_string_equal(inst(g, "l[0]")->shell, "echo one");
    assert_string_equal(inst(g, "l[1]")->shell, "echo two");
    assert_deps(g, "after", "z[0] z[1]");
    free(o.text);
    zd_graph_free(&g);
    remove_tree(dir);
}

static void test_placeholder_errors_where_written(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  a:\n"
              "    cmd: [echo, \"{itme}\"]\n"
              "    env: {X: \"{\"}\n"
              "    tags: [\"}\"]\n"
              "    args: [\"{no}\"]\n"
              "    foreach: {list: [1]}\n",
              "f.yaml:3:17: error: unknown placeholder \"{itme}\" (known: {item} and {index}; "
              "write {{ and }} for literal braces)\n"
              "f.yaml:4:14: error: an unclosed '{' (write {{ for a literal brace)\n"
              "f.yaml:5:12: error: a single '}' (write }} for a literal brace)\n"
              "f.yaml:6:11: error: in args: unknown placeholder \"{no}\" (known: {item} and "
              "{index}; write {{ and }} for literal braces) in string \"{no}\"\n");
}

static void test_source_errors(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  a: {foreach: {lisst: [1]}, cmd: x}\n"
              "  b: {foreach: {list: [1], range: [1, 2]}, cmd: x}\n"
              "  c: {foreach: [], cmd: x}\n"
              "  d: {foreach: {lines: /nonexistent/zdag}, cmd: x}\n"
              "defaults: {foreach: {list: [1]}}\n",
              "f.yaml:2:17: error: unknown key \"lisst\" in foreach of node \"a\"; did you mean "
              "\"list\"?\n"
              "f.yaml:3:28: error: foreach of node \"b\" has more than one source\n"
              "f.yaml:4:16: error: \"foreach\" in node \"c\" must be a map with one of list, "
              "range, glob, lines, matrix, result_lines\n"
              "f.yaml:5:24: error: foreach of node \"d\": cannot read lines file "
              "\"/nonexistent/zdag\": No such file or directory\n"
              "f.yaml:6:12: error: \"foreach\" cannot be set in defaults\n");
}

static void test_item_wise_and_all_instance_deps(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n"
                            "  a: {foreach: {list: [x, y, z]}, cmd: x}\n"
                            "  b: {foreach: {range: [1, 3]}, cmd: x, deps: [\"a[{index}]\"]}\n"
                            "  all: {cmd: x, deps: [b]}\n"
                            "  one: {cmd: x, deps: [\"a[2]\"]}\n");
    assert_deps(g, "b[0]", "a[0]");
    assert_deps(g, "b[2]", "a[2]");
    assert_deps(g, "all", "b[0] b[1] b[2]");
    assert_deps(g, "one", "a[2]");
    zd_graph_free(&g);
}

static void test_dep_errors_positioned(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  a: {foreach: {list: [x, y]}, cmd: x}\n"
              "  b:\n"
              "    foreach: {range: [1, 3]}\n"
              "    cmd: x\n"
              "    deps: [\"a[{index}]\", \"a[2]\", \"c[0]\", \"a[-1]\"]\n"
              "  c: {cmd: x, deps: [\"a[{index}]\"]}\n",
              "f.yaml:6:12: error: node \"b\" depends on \"a[{index}]\" item by item, but it has 3 "
              "instances and \"a\" has 2\n"
              "f.yaml:6:26: error: node \"b\" depends on \"a[2]\", but \"a\" has 2 instances "
              "(from [0])\n"
              "f.yaml:6:34: error: node \"b\" depends on \"c[0]\", but no node \"c\" has "
              "foreach\n"
              "f.yaml:6:42: error: node \"b\" depends on \"a[-1]\": an instance is NAME[NUMBER] "
              "or NAME[{index}]\n"
              "f.yaml:7:22: error: node \"c\" depends on \"a[{index}]\", but {index} is only known "
              "in a node with foreach\n");
}

static void test_cycle_through_instances(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  a: {foreach: {list: [x, y]}, cmd: x, deps: [\"b[{index}]\"]}\n"
              "  b: {foreach: {list: [x, y]}, cmd: x, deps: [\"a[1]\"]}\n",
              "f.yaml:2:3: error: cycle: a[1] -> b[1] -> a[1]\n");
}

/* What is wrong with the node as written is said once, not once per instance. */
static void test_one_message_for_all_instances(void **state) {
    (void)state;
    static const char yaml[] = "nodes:\n"
                               "  f: {foreach: {range: [1, 50]}, fn: nope, pool: none}\n"
                               "  g: {foreach: {range: [1, 50]}, args: {n: \"{item}\"}}\n";
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    zd_load_opts opts = {.flags = ZD_LOAD_CHECK_FNS};
    assert_int_equal(zd_pipeline_load_buffer_opts("f.yaml", yaml, strlen(yaml), &opts, &g, &d),
                     ZDAG_EPIPELINE);
    assert_int_equal(d.n, 3);
    assert_non_null(strstr(d.lines[0], "f.yaml:2:38: error: node \"f\" calls function \"nope\""));
    assert_string_equal(d.lines[1], "f.yaml:2:50: error: undeclared pool \"none\" in node \"f\"");
    assert_string_equal(d.lines[2], "f.yaml:3:3: error: node \"g\" has neither \"cmd\" nor \"fn\"");
    zd_diags_clear(&d);
}

/* inputs and outputs are substituted, so that instances link through their files. */
static void test_files_per_instance(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n"
                            "  z: {foreach: {list: [a, b]}, cmd: x, outputs: [\"{item}.gz\"]}\n"
                            "  n: {foreach: {list: [a, b]}, cmd: x, inputs: [\"{item}.gz\"]}\n");
    assert_string_equal(inst(g, "z[1]")->files->outputs[0], "b.gz");
    assert_string_equal(inst(g, "n[0]")->files->inputs[0], "a.gz");
    assert_deps(g, "n[1]", "z[1]");
    zd_graph_free(&g);
    must_fail("nodes:\n  z: {foreach: {list: [a]}, cmd: x, outputs: [\"{iten}\"]}\n",
              "f.yaml:2:47: error: unknown placeholder \"{iten}\" (known: {item} and {index}; "
              "write {{ and }} for literal braces)\n");
}

static void test_many_instances(void **state) {
    (void)state;
    zd_graph *g = must_load("nodes:\n"
                            "  a: {foreach: {range: [0, 99999]}, cmd: \"echo {item}\"}\n"
                            "  b: {cmd: x, deps: [a]}\n");
    assert_int_equal(zd_graph_size(g), 100001);
    assert_string_equal(inst(g, "a[99999]")->shell, "echo 99999");
    assert_int_equal(inst(g, "b")->n_deps, 100000);
    zd_graph_free(&g);
}

/* ---- Fan-out at run time (`foreach: {result_lines: NODE}`) ------------------------------ */

/* The items of f joined by "|", each checked against zd_fan_count(). */
static void assert_items(const zd_fan *f, const char *want) {
    char got[256] = "";
    for (size_t i = 0; i < zd_fan_count(f); i++) {
        assert_non_null(zd_fan_item(f, i));
        strcat(got, i ? "|" : "");
        strcat(got, zd_fan_item(f, i));
    }
    assert_string_equal(got, want);
    assert_null(zd_fan_item(f, zd_fan_count(f)));
}

static void test_fan_from_lines(void **state) {
    (void)state;
    zd_fan *f = NULL;
    static const char text[] = "a\nb\r\n\n c\n";
    assert_int_equal(zd_fan_from_lines(text, strlen(text), &f), 0);
    assert_int_equal(zd_fan_count(f), 3);
    assert_items(f, "a|b| c");
    assert_null(zd_fan_source(f, NULL, NULL));
    zd_fan_free(&f);
    assert_null(f);
    assert_int_equal(zd_fan_from_lines("", 0, &f), 0);
    assert_int_equal(zd_fan_count(f), 0);
    assert_null(zd_fan_item(f, 0));
    zd_fan_free(&f);
    assert_int_equal(zd_fan_from_lines("\n\r\n", 3, &f), 0);
    assert_int_equal(zd_fan_count(f), 0);
    zd_fan_free(&f);
    /* The last line needs no newline; only len bytes are read. */
    assert_int_equal(zd_fan_from_lines("x\ny\nzzz", 6, &f), 0);
    assert_items(f, "x|y|zz");
    zd_fan_free(&f);
}

/* A msgpack result packed by the callback (on pk) into a fresh buffer, given to
 * zd_fan_from_result(); returns its rc, *f and why set. */
static int from_packed(void (*pack)(msgpack_packer *), zd_fan **f, char *why, size_t size) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack(&pk);
    int rc = zd_fan_from_result(sb.data, sb.size, true, f, why, size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void pack_text(msgpack_packer *pk) {
    msgpack_pack_str_with_body(pk, "p\n\nq\r\n", 6);
}

static void pack_array(msgpack_packer *pk) {
    msgpack_pack_array(pk, 3);
    msgpack_pack_str_with_body(pk, "x", 1);
    msgpack_pack_int64(pk, 7);
    msgpack_pack_int64(pk, -3);
}

static void pack_bin(msgpack_packer *pk) {
    msgpack_pack_bin_with_body(pk, "b1\nb2", 5);
}

static void pack_big_int(msgpack_packer *pk) {
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_int64(pk, INT64_MIN);
}

static void pack_empty_array(msgpack_packer *pk) {
    msgpack_pack_array(pk, 0);
}

static void pack_array_with_map(msgpack_packer *pk) {
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, "x", 1);
    msgpack_pack_map(pk, 0);
}

static void pack_int(msgpack_packer *pk) {
    msgpack_pack_int64(pk, 5);
}

static void pack_two_values(msgpack_packer *pk) {
    msgpack_pack_str_with_body(pk, "x", 1);
    msgpack_pack_nil(pk);
}

static void test_fan_from_result(void **state) {
    (void)state;
    zd_fan *f = NULL;
    char why[128] = "";
    /* A command's result: its lines, whatever the bytes. */
    assert_int_equal(zd_fan_from_result("l1\nl2", 5, false, &f, why, sizeof why), 0);
    assert_items(f, "l1|l2");
    zd_fan_free(&f);
    /* A function's: the lines of a string, or one item per entry of an array. */
    assert_int_equal(from_packed(pack_text, &f, why, sizeof why), 0);
    assert_items(f, "p|q");
    zd_fan_free(&f);
    assert_int_equal(from_packed(pack_array, &f, why, sizeof why), 0);
    assert_int_equal(zd_fan_count(f), 3);
    assert_items(f, "x|7|-3");
    zd_fan_free(&f);
    assert_int_equal(from_packed(pack_bin, &f, why, sizeof why), 0);
    assert_items(f, "b1|b2");
    zd_fan_free(&f);
    assert_int_equal(from_packed(pack_big_int, &f, why, sizeof why), 0);
    assert_items(f, "18446744073709551615|-9223372036854775808");
    zd_fan_free(&f);
    assert_int_equal(from_packed(pack_empty_array, &f, why, sizeof why), 0);
    assert_int_equal(zd_fan_count(f), 0);
    zd_fan_free(&f);

    f = (zd_fan *)why; /* must be overwritten with NULL */
    assert_int_equal(from_packed(pack_array_with_map, &f, why, sizeof why), ZDAG_EINVAL);
    assert_null(f);
    assert_string_equal(why, "entry 1 of its source's result is not a string or an integer");
    assert_int_equal(from_packed(pack_int, &f, why, sizeof why), ZDAG_EINVAL);
    assert_null(f);
    assert_string_equal(why, "its source's result is neither text nor an array");
    assert_int_equal(from_packed(pack_two_values, &f, why, sizeof why), ZDAG_EINVAL);
    assert_null(f);
    assert_string_equal(why, "its source's result is not one msgpack value");
    strcpy(why, "");
    assert_int_equal(zd_fan_from_result("\x92\x01", 2, true, &f, why, sizeof why), ZDAG_EINVAL);
    assert_null(f);
    assert_string_equal(why, "its source's result is not one msgpack value"); /* truncated */
    assert_int_equal(zd_fan_from_result("", 0, true, &f, why, sizeof why), ZDAG_EINVAL);
    assert_null(f);
}

/* The run makes each instance from the template with zd_fan_node(), as a static fan-out does. */
static void test_fan_node_from_lines(void **state) {
    (void)state;
    zd_fan *f = NULL;
    assert_int_equal(zd_fan_from_lines("u\nv w\n", 6, &f), 0);
    zd_node t, n;
    zd_node_init(&t);
    t.shell = strdup("echo {item} {index} {{item}}");
    t.priority = 3;
    zd_node_init(&n);
    assert_int_equal(zd_fan_node(f, 1, &t, &n), 0);
    assert_string_equal(n.shell, "echo v w 1 {item}");
    assert_int_equal(n.priority, 3);
    assert_string_equal(t.shell, "echo {item} {index} {{item}}");
    zd_node_clear(&n);
    assert_int_equal(zd_fan_node(f, 0, &t, &n), 0);
    assert_string_equal(n.shell, "echo u 0 {item}");
    zd_node_clear(&n);
    zd_node_clear(&t);
    zd_fan_free(&f);
}

/* The template stays one node, fanned over its source; the source is a dep, listed or not. */
static void test_result_lines_loads_one_template(void **state) {
    (void)state;
    zd_graph *g =
        must_load("nodes:\n"
                  "  list: {cmd: \"ls\"}\n"
                  "  other: {cmd: x}\n"
                  "  each:\n"
                  "    foreach: {result_lines: list}\n"
                  "    cmd: \"gzip {item} # {index}\"\n"
                  "    deps: [other]\n"
                  "  named: {foreach: {result_lines: list}, cmd: x, deps: [other, list]}\n"
                  "  after: {cmd: x, deps: [each]}\n");
    assert_int_equal(zd_graph_size(g), 5);
    assert_int_equal(zd_graph_static_size(g), 5);
    assert_int_equal(zd_graph_runtime_fans(g), 2);
    int64_t list = zd_graph_find(g, "list"), each = zd_graph_find(g, "each");
    assert_true(each >= 0);
    assert_int_equal(zd_graph_find(g, "each[0]"), -1);
    assert_int_equal(zd_graph_fan_source(g, (uint32_t)each), list);
    assert_int_equal(zd_graph_fan_source(g, (uint32_t)zd_graph_find(g, "named")), list);
    assert_int_equal(zd_graph_fan_source(g, (uint32_t)list), -1);
    assert_string_equal(inst(g, "each")->shell, "gzip {item} # {index}"); /* as written */
    assert_deps(g, "each", "other list");
    assert_deps(g, "named", "other list");
    assert_deps(g, "after", "each");
    /* The instances are given the source's result only when deps lists it. */
    zd_node proto;
    char *name = "each[0]";
    zd_node_init(&proto);
    assert_int_equal(zd_graph_add_instances(g, (uint32_t)each, &proto, &name, 1, NULL), 0);
    assert_deps(g, "each[0]", "other");
    zd_node_init(&proto);
    name = "named[0]";
    assert_int_equal(
        zd_graph_add_instances(g, (uint32_t)zd_graph_find(g, "named"), &proto, &name, 1, NULL), 0);
    assert_deps(g, "named[0]", "other list");
    zd_graph_free(&g);
}

/* The source is one node with a result of its own. */
static void test_result_lines_source_errors(void **state) {
    (void)state;
    must_fail(
        "nodes:\n"
        "  list: {cmd: ls}\n"
        "  a: {foreach: {result_lines: lisst}, cmd: x}\n"
        "  b: {foreach: {result_lines: b}, cmd: x}\n"
        "  s: {foreach: {list: [1, 2]}, cmd: x}\n"
        "  c: {foreach: {result_lines: s}, cmd: x}\n"
        "  d: {foreach: {result_lines: list}, cmd: x}\n"
        "  e: {foreach: {result_lines: d}, cmd: x}\n"
        "  f: {foreach: {result_lines: \"\"}, cmd: x}\n",
        "f.yaml:3:31: error: node \"a\" takes result_lines from unknown node \"lisst\"; "
        "did you mean \"list\"?\n"
        "f.yaml:4:31: error: node \"b\" takes result_lines from itself\n"
        "f.yaml:6:31: error: node \"c\" takes result_lines from \"s\", which has foreach: "
        "name one of its instances, s[N]\n"
        "f.yaml:8:31: error: node \"e\" takes result_lines from \"d\", which fans out at "
        "run time and has no result of its own\n"
        "f.yaml:9:31: error: \"result_lines\" in foreach of node \"f\" must be a node name\n");
    /* An instance of a static fan-out has a result: it may be the source. */
    zd_graph *g = must_load("nodes:\n"
                            "  s: {foreach: {list: [1, 2]}, cmd: x}\n"
                            "  c: {foreach: {result_lines: \"s[1]\"}, cmd: x}\n");
    assert_int_equal(zd_graph_fan_source(g, (uint32_t)zd_graph_find(g, "c")),
                     zd_graph_find(g, "s[1]"));
    assert_deps(g, "c", "s[1]");
    zd_graph_free(&g);
}

/* A run-time template has no instances to name while loading, nor an {index} of its own. */
static void test_result_lines_dep_errors(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  list: {cmd: ls}\n"
              "  d: {foreach: {result_lines: list}, cmd: x}\n"
              "  one: {cmd: x, deps: [\"d[0]\"]}\n"
              "  s: {foreach: {list: [1, 2]}, cmd: x, deps: [\"d[{index}]\"]}\n"
              "  t: {foreach: {result_lines: list}, cmd: x, deps: [\"s[{index}]\"]}\n",
              "f.yaml:4:24: error: node \"one\" depends on \"d[0]\", but \"d\" fans out at run "
              "time (result_lines): depend on \"d\", all its instances\n"
              "f.yaml:5:47: error: node \"s\" depends on \"d[{index}]\", but \"d\" fans out at "
              "run time (result_lines): depend on \"d\", all its instances\n"
              "f.yaml:6:53: error: node \"t\" depends on \"s[{index}]\", but a node that fans "
              "out at run time (result_lines) has no {index} before it runs\n");
}

/* {item} and {index} are known in a run-time template's strings; nothing else is. */
static void test_result_lines_placeholders(void **state) {
    (void)state;
    must_fail("nodes:\n"
              "  list: {cmd: ls}\n"
              "  d: {foreach: {result_lines: list}, cmd: \"x {item} {size}\"}\n",
              "f.yaml:3:43: error: unknown placeholder \"{size}\" (known: {item} and {index}; "
              "write {{ and }} for literal braces)\n");
    zd_graph *g = must_load("nodes:\n"
                            "  list: {cmd: ls}\n"
                            "  d:\n"
                            "    foreach: {result_lines: list}\n"
                            "    cmd: [echo, \"{item}\", \"{index}\"]\n"
                            "    env: {I: \"{item}\"}\n");
    assert_string_equal(inst(g, "d")->argv[1], "{item}");
    assert_string_equal(inst(g, "d")->env[0].value, "{item}");
    zd_graph_free(&g);
}

/* More lines than instances allowed: ZDAG_ETOOBIG, said in why for a command's result as for a
 * function's string. */
static void test_fan_from_result_too_many(void **state) {
    (void)state;
    size_t n = ZD_FAN_MAX_INSTANCES + 1, len = 2 * n;
    char *text = malloc(len);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 2 * i, "a\n", 2);
    zd_fan *f = NULL;
    assert_int_equal(zd_fan_from_lines(text, len, &f), ZDAG_ETOOBIG);
    assert_null(f);
    char why[128] = "";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, text, len);
    assert_int_equal(zd_fan_from_result(sb.data, sb.size, true, &f, why, sizeof why), ZDAG_ETOOBIG);
    assert_string_equal(why, "its source's result gives more than 4194304 items");
    msgpack_sbuffer_destroy(&sb);
    strcpy(why, "");
    int rc = zd_fan_from_result(text, len, false, &f, why, sizeof why);
    free(text);
    assert_int_equal(rc, ZDAG_ETOOBIG);
    assert_null(f);
    assert_string_equal(why, "its source's result gives more than 4194304 items");
}

/* A workdir with placeholders is resolved against the file's directory after substitution, for
 * a run-time fan-out (by the run, from the graph's base_dir) as for a static one: an absolute
 * item stays absolute. */
static void test_result_lines_workdir_like_static(void **state) {
    (void)state;
    char *dir = make_tree("nodes:\n"
                          "  list: {cmd: ls}\n"
                          "  s: {foreach: {list: [/abs, rel]}, cmd: x, workdir: \"{item}\"}\n"
                          "  r: {foreach: {result_lines: list}, cmd: x, workdir: \"{item}\"}\n");
    char path[512], got[2][600], want[2][600];
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    outcome o = run_load(path, NULL);
    if (!o.g)
        fail_msg("%s", o.text);
    free(o.text);
    zd_fan *f = NULL;
    assert_int_equal(zd_fan_from_lines("/abs\nrel\n", 9, &f), 0);
    for (size_t i = 0; i < 2; i++) {
        zd_node n;
        zd_node_init(&n);
        assert_int_equal(zd_fan_node(f, i, inst(o.g, "r"), &n), 0);
        char *resolved = zd_pipeline_resolve_path(zd_graph_settings_of(o.g)->base_dir, n.workdir);
        snprintf(got[i], sizeof got[i], "%s", resolved);
        free(resolved);
        snprintf(want[i], sizeof want[i], "%s", inst(o.g, i ? "s[1]" : "s[0]")->workdir);
        zd_node_clear(&n);
    }
    zd_fan_free(&f);
    zd_graph_free(&o.g);
    remove_tree(dir); /* before the checks, so that a failure leaves no directory behind */
    assert_string_equal(want[0], "/abs");
    assert_string_equal(got[0], want[0]);
    assert_string_equal(got[1], want[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_substitutes_every_key),
        cmocka_unit_test(test_plain_nodes_keep_braces),
        cmocka_unit_test(test_range_is_inclusive),
        cmocka_unit_test(test_matrix_first_variable_slowest),
        cmocka_unit_test(test_glob_and_lines_from_the_file_directory),
        cmocka_unit_test(test_placeholder_errors_where_written),
        cmocka_unit_test(test_source_errors),
        cmocka_unit_test(test_item_wise_and_all_instance_deps),
        cmocka_unit_test(test_dep_errors_positioned),
        cmocka_unit_test(test_cycle_through_instances),
        cmocka_unit_test(test_one_message_for_all_instances),
        cmocka_unit_test(test_files_per_instance),
        cmocka_unit_test(test_many_instances),
        cmocka_unit_test(test_fan_from_lines),
        cmocka_unit_test(test_fan_from_result),
        cmocka_unit_test(test_fan_node_from_lines),
        cmocka_unit_test(test_result_lines_loads_one_template),
        cmocka_unit_test(test_result_lines_source_errors),
        cmocka_unit_test(test_result_lines_dep_errors),
        cmocka_unit_test(test_result_lines_placeholders),
        cmocka_unit_test(test_fan_from_result_too_many),
        cmocka_unit_test(test_result_lines_workdir_like_static),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
