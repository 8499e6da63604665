/* Tests of common/pipeline.c (and the YAML layers under it): valid files load with every field
 * right, every class of error is reported with its exact position, and no input crashes or
 * leaks (the suite runs under ASan+UBSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <math.h>

#include <cmocka.h>
#include <msgpack.h>

#include "pipeline.h"
#include "yamlvalue.h"

static const char spec_example[] =
    "max_concurrency: 4            # optional; -j overrides\n"
    "defaults: {retries: 1, timeout: 600}\n"
    "env: {LC_ALL: C}              # for every cmd node\n"
    "pools: {db: 2, license: 1}    # named leases held across all hosts\n"
    "plugins: [./build/libnodes.so]\n"
    "nodes:\n"
    "  fetch:\n"
    "    cmd: curl -sS https://example.org -o page.html\n"
    "    priority: 10\n"
    "    cpus: 0                   # IO-bound: takes no CPU unit\n"
    "  parse:\n"
    "    cmd: [python3, parse.py, page.html]\n"
    "    deps: [fetch]\n"
    "  train:\n"
    "    fn: train_model           # a function from a plugin; receives its deps' results\n"
    "    args: {epochs: 3}\n"
    "    deps: [parse]\n"
    "    sequential: true\n"
    "  report:\n"
    "    cmd: ./make_report.sh\n"
    "    deps: [train, parse]\n"
    "    pool: db\n";

/* Every node key, defaults given after the nodes, a JSON-style flow map. */
static const char full_example[] =
    "nodes:\n"
    "  a:\n"
    "    cmd: [sleep, 1, true, '']\n"
    "    env: {X: 1, Y: ~, Z: '', W: \"two words\"}\n"
    "    resources: {gpu: 1, mem_mb: 1.5e3}\n"
    "    workdir: /tmp/w\n"
    "    estimate: 2.5\n"
    "    tags: [io, \"2024\"]\n"
    "    timeout: 0.5\n"
    "    retries: 3\n"
    "    priority: -9223372036854775808\n"
    "  b: {\"fn\": \"f\", \"deps\": [\"a\"], \"pool\": \"lic\", \"cpus\": 2}\n"
    "  c:\n"
    "    cmd: true\n"
    "    sequential: false\n"
    "    deps:\n"
    "      - b\n"
    "      - a\n"
    "defaults:\n"
    "  priority: 5\n"
    "  args: [1, x]\n"
    "  tags: [default]\n"
    "  env: {D: d}\n"
    "  pool: lic\n"
    "pools:\n"
    "  lic: 1\n";

static zd_graph *load_ok(const char *text) {
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    int rc = zd_pipeline_load_buffer("pipe.yaml", text, strlen(text), &g, &d);
    if (rc != 0)
        zd_diags_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    assert_non_null(g);
    assert_non_null(zd_graph_topo(g));
    zd_diags_clear(&d);
    return g;
}

/* Loads text and asserts it fails with exactly the messages given, in order (NULL-terminated). */
static void expect_errors(const char *text, ...) {
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = (zd_graph *)&d; /* must be overwritten with NULL */
    int rc = zd_pipeline_load_buffer("pipe.yaml", text, strlen(text), &g, &d);
    va_list ap;
    va_start(ap, text);
    size_t i = 0;
    for (const char *want; (want = va_arg(ap, const char *)); i++) {
        if (i >= d.n || strcmp(d.lines[i], want) != 0) {
            fprintf(stderr, "message %zu: want %s\n", i, want);
            zd_diags_print(&d, stderr);
        }
        assert_true(i < d.n);
        assert_string_equal(d.lines[i], want);
    }
    va_end(ap);
    if (d.n != i)
        zd_diags_print(&d, stderr);
    assert_int_equal(d.n, i);
    assert_int_equal(rc, ZDAG_EPIPELINE);
    assert_null(g);
    zd_diags_clear(&d);
}

/* Loads buf[0..len), asserts that it fails cleanly and returns all its messages, one a line
 * (caller frees). */
static char *expect_failure(const char *buf, size_t len) {
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    int rc = zd_pipeline_load_buffer("pipe.yaml", buf, len, &g, &d);
    assert_int_equal(rc, ZDAG_EPIPELINE);
    assert_null(g);
    assert_true(d.n > 0);
    char *all = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&all, &size);
    for (size_t i = 0; i < d.n; i++)
        fprintf(f, "%s%s", i ? "\n" : "", d.lines[i]);
    fclose(f);
    zd_diags_clear(&d);
    return all;
}

static const zd_node *node(const zd_graph *g, const char *name) {
    int64_t i = zd_graph_find(g, name);
    assert_true(i >= 0);
    return zd_graph_node(g, (uint32_t)i);
}

static void assert_packed(const zd_node *n, const msgpack_sbuffer *want) {
    assert_int_equal(n->args_len, want->size);
    assert_memory_equal(n->args, want->data, want->size);
}

static void test_spec_example(void **state) {
    (void)state;
    zd_graph *g = load_ok(spec_example);
    zd_graph_settings *s = zd_graph_settings_of(g);
    assert_string_equal(s->path, "pipe.yaml");
    assert_int_equal(s->max_concurrency, 4);
    assert_int_equal(s->n_env, 1);
    assert_string_equal(s->env[0].key, "LC_ALL");
    assert_string_equal(s->env[0].value, "C");
    assert_int_equal(s->n_plugins, 1);
    assert_string_equal(s->plugins[0], "./build/libnodes.so");
    assert_null(s->plugins[1]);
    assert_int_equal(zd_graph_pool_count(g), 2);
    assert_string_equal(zd_graph_pool(g, 0)->name, "db");
    assert_int_equal(zd_graph_pool(g, 0)->capacity, 2);
    assert_string_equal(zd_graph_pool(g, 1)->name, "license");
    assert_int_equal(zd_graph_pool(g, 1)->capacity, 1);
    assert_int_equal(zd_graph_size(g), 4);

    const zd_node *fetch = zd_graph_node(g, 0);
    assert_string_equal(fetch->name, "fetch");
    assert_int_equal(fetch->line, 7);
    assert_int_equal(fetch->col, 3);
    assert_int_equal(fetch->kind, ZD_NODE_SHELL);
    assert_string_equal(fetch->shell, "curl -sS https://example.org -o page.html");
    assert_null(fetch->argv);
    assert_int_equal(fetch->priority, 10);
    assert_true(fetch->cpus == 0);
    assert_int_equal(fetch->retries, 1);
    assert_true(fetch->timeout == 600);
    assert_int_equal(fetch->n_deps, 0);
    assert_int_equal(fetch->pool, -1);
    assert_false(fetch->sequential);
    assert_true(fetch->estimate == 1);
    assert_null(fetch->args);

    const zd_node *parse = zd_graph_node(g, 1);
    assert_string_equal(parse->name, "parse");
    assert_int_equal(parse->kind, ZD_NODE_ARGV);
    assert_int_equal(parse->argc, 3);
    assert_string_equal(parse->argv[0], "python3");
    assert_string_equal(parse->argv[1], "parse.py");
    assert_string_equal(parse->argv[2], "page.html");
    assert_null(parse->argv[3]);
    assert_null(parse->shell);
    assert_int_equal(parse->n_deps, 1);
    assert_int_equal(parse->deps[0], 0);
    assert_true(parse->cpus == 1);
    assert_int_equal(parse->retries, 1);

    const zd_node *train = zd_graph_node(g, 2);
    assert_int_equal(train->kind, ZD_NODE_FN);
    assert_string_equal(train->fn, "train_model");
    assert_true(train->sequential);
    const unsigned char epochs[] = {0x81, 0xA6, 'e', 'p', 'o', 'c', 'h', 's', 0x03};
    assert_int_equal(train->args_len, sizeof epochs);
    assert_memory_equal(train->args, epochs, sizeof epochs);

    const zd_node *report = zd_graph_node(g, 3);
    assert_string_equal(report->shell, "./make_report.sh");
    assert_int_equal(report->n_deps, 2);
    assert_int_equal(report->deps[0], 2);
    assert_int_equal(report->deps[1], 1);
    assert_int_equal(report->pool, 0);
    assert_true(report->timeout == 600);

    assert_int_equal(parse->n_children, 2);
    assert_int_equal(parse->children[0], 2);
    assert_int_equal(parse->children[1], 3);
    const uint32_t topo[] = {0, 1, 2, 3};
    assert_memory_equal(zd_graph_topo(g), topo, sizeof topo);
    zd_graph_free(&g);
}

static void test_full_example(void **state) {
    (void)state;
    zd_graph *g = load_ok(full_example);
    const zd_node *a = node(g, "a"), *b = node(g, "b"), *c = node(g, "c");

    /* List entries and env values are kept as written. */
    assert_int_equal(a->kind, ZD_NODE_ARGV);
    assert_int_equal(a->argc, 4);
    assert_string_equal(a->argv[1], "1");
    assert_string_equal(a->argv[2], "true");
    assert_string_equal(a->argv[3], "");
    assert_int_equal(a->n_env, 4);
    assert_string_equal(a->env[0].key, "X");
    assert_string_equal(a->env[0].value, "1");
    assert_string_equal(a->env[1].value, "~");
    assert_string_equal(a->env[2].value, "");
    assert_string_equal(a->env[3].value, "two words");
    assert_int_equal(a->n_resources, 2);
    assert_string_equal(a->resources[0].name, "gpu");
    assert_true(a->resources[0].amount == 1);
    assert_string_equal(a->resources[1].name, "mem_mb");
    assert_true(a->resources[1].amount == 1500);
    assert_string_equal(a->workdir, "/tmp/w");
    assert_true(a->estimate == 2.5);
    assert_int_equal(a->n_tags, 2);
    assert_string_equal(a->tags[0], "io");
    assert_string_equal(a->tags[1], "2024");
    assert_null(a->tags[2]);
    assert_true(a->timeout == 0.5);
    assert_int_equal(a->retries, 3);
    assert_true(a->priority == INT64_MIN);
    assert_int_equal(a->pool, 0); /* from defaults */

    /* Defaults fill what a node does not set; a node's own value replaces them whole. */
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "x", 1);
    assert_packed(a, &want);
    assert_packed(b, &want);
    msgpack_sbuffer_destroy(&want);

    assert_int_equal(b->kind, ZD_NODE_FN);
    assert_string_equal(b->fn, "f");
    assert_int_equal(b->priority, 5);
    assert_true(b->cpus == 2);
    assert_int_equal(b->n_env, 1);
    assert_string_equal(b->env[0].key, "D");
    assert_string_equal(b->tags[0], "default");
    assert_int_equal(b->n_deps, 1);

    assert_int_equal(c->kind, ZD_NODE_SHELL);
    assert_string_equal(c->shell, "true");
    assert_false(c->sequential);
    assert_int_equal(c->n_deps, 2);
    assert_int_equal(c->deps[0], 1);
    assert_int_equal(c->deps[1], 0);
    assert_int_equal(c->line, 13);
    assert_int_equal(c->col, 3);
    zd_graph_free(&g);
}

/* `inputs`, `outputs`, `keep`: kept as written (no base directory here); an input that is
 * another node's output makes a dependency without `deps`. */
static void test_files_keys(void **state) {
    (void)state;
    zd_graph *g =
        load_ok("nodes:\n"
                "  make: {cmd: x, inputs: [src.c, 'lib/*.h'], outputs: [app], keep: true}\n"
                "  test: {cmd: y, inputs: [app]}\n"
                "  plain: {cmd: z}\n");
    const zd_node *make = zd_graph_node(g, 0), *test = zd_graph_node(g, 1);
    assert_non_null(make->files);
    assert_int_equal(make->files->n_inputs, 2);
    assert_string_equal(make->files->inputs[0], "src.c");
    assert_string_equal(make->files->inputs[1], "lib/*.h");
    assert_int_equal(make->files->n_outputs, 1);
    assert_string_equal(make->files->outputs[0], "app");
    assert_true(make->files->keep);
    assert_int_equal((make->files->line), 2);
    assert_int_equal(test->n_deps, 1);
    assert_int_equal(test->deps[0], 0);
    assert_false(test->files->keep);
    assert_null(zd_graph_node(g, 2)->files);
    zd_graph_free(&g);
    /* Paths resolve from the pipeline's directory, so `a/../b` and `./b` stay as meant. */
    zd_diags d;
    zd_diags_init(&d);
    zd_load_opts opts = {.base_dir = "/base"};
    static const char text[] = "nodes:\n  a: {cmd: x, inputs: [./in], outputs: [out/f, /abs]}\n";
    assert_int_equal(zd_pipeline_load_buffer_opts("p.yaml", text, strlen(text), &opts, &g, &d), 0);
    assert_string_equal(zd_graph_node(g, 0)->files->inputs[0], "/base/in");
    assert_string_equal(zd_graph_node(g, 0)->files->outputs[0], "/base/out/f");
    assert_string_equal(zd_graph_node(g, 0)->files->outputs[1], "/abs");
    zd_graph_free(&g);
    zd_diags_clear(&d);
}

static void test_files_errors(void **state) {
    (void)state;
    expect_errors(
        "nodes:\n"
        "  a: {cmd: x, outputs: [f]}\n"
        "  b: {cmd: x, outputs: [g, f]}\n",
        "pipe.yaml:3:15: error: output \"f\" of node \"b\" is an output of node \"a\" too", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: x, outputs: ['*.o']}\n",
                  "pipe.yaml:2:25: error: output \"*.o\" of node \"a\" is a pattern: an output "
                  "names one file",
                  NULL);
    expect_errors("defaults: {keep: true}\n"
                  "nodes:\n"
                  "  a: {cmd: x}\n",
                  "pipe.yaml:1:12: error: \"keep\" cannot be set in defaults", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: x, inputs: f}\n",
                  "pipe.yaml:2:23: error: \"inputs\" in node \"a\" must be a list of paths", NULL);
    /* Files close a cycle as deps do. */
    expect_errors("nodes:\n"
                  "  a: {cmd: x, inputs: [g], outputs: [f]}\n"
                  "  b: {cmd: x, inputs: [f], outputs: [g]}\n",
                  "pipe.yaml:2:3: error: cycle: a -> b -> a", NULL);
}

/* `version`: a string or a number as written; from defaults unless the node sets its own. */
static void test_version_key(void **state) {
    (void)state;
    zd_graph *g = load_ok("defaults: {version: 7}\n"
                          "nodes:\n"
                          "  a: {cmd: x}\n"
                          "  b: {cmd: x, version: 'release 2'}\n"
                          "  c: {cmd: x, version: 2.50}\n"
                          "  d: {fn: f, version: '3'}\n");
    assert_string_equal(node(g, "a")->version, "7");
    assert_string_equal(node(g, "b")->version, "release 2");
    assert_string_equal(node(g, "c")->version, "2.50");
    assert_string_equal(node(g, "d")->version, "3");
    zd_graph_free(&g);
    g = load_ok("nodes:\n  a: {cmd: x}\n");
    assert_null(node(g, "a")->version);
    zd_graph_free(&g);
}

/* A node's own cmd replaces a default fn, and the reverse. */
static void test_defaults_command(void **state) {
    (void)state;
    zd_graph *g = load_ok("defaults: {fn: dflt, retries: 2}\n"
                          "nodes:\n"
                          "  a: {cmd: echo}\n"
                          "  b: {}\n"
                          "  c: {fn: own}\n");
    assert_int_equal(node(g, "a")->kind, ZD_NODE_SHELL);
    assert_null(node(g, "a")->fn);
    assert_int_equal(node(g, "a")->retries, 2);
    assert_string_equal(node(g, "b")->fn, "dflt");
    assert_string_equal(node(g, "c")->fn, "own");
    zd_graph_free(&g);
}

static void test_args_values(void **state) {
    (void)state;
    zd_graph *g = load_ok("nodes:\n"
                          "  a:\n"
                          "    fn: f\n"
                          "    args:\n"
                          "      n: [~, null, '', true, False, yes, 0x1F, 0o17, -12, +3,\n"
                          "          18446744073709551615, 1.5, -.inf, .NaN, 1e3, \"7\",\n"
                          "          !!str 8, !!float 2, !!int \"9\", 012]\n"
                          "      nested: {k: [[]], {}: x}\n"
                          "      long: >-\n"
                          "        folded\n"
                          "        text\n"
                          "  nil: {fn: f, args: ~}\n"
                          "  big: {fn: f, args: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, "
                          "14, 15, 16]}\n");
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_array(&pk, 20);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_str_with_body(&pk, "yes", 3); /* YAML 1.2 core: not a bool */
    msgpack_pack_int64(&pk, 31);
    msgpack_pack_int64(&pk, 15);
    msgpack_pack_int64(&pk, -12);
    msgpack_pack_int64(&pk, 3);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_double(&pk, -INFINITY);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_double(&pk, 1000);
    msgpack_pack_str_with_body(&pk, "7", 1);
    msgpack_pack_str_with_body(&pk, "8", 1);
    msgpack_pack_double(&pk, 2);
    msgpack_pack_int64(&pk, 9);
    msgpack_pack_int64(&pk, 12);
    msgpack_pack_str_with_body(&pk, "nested", 6);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_str_with_body(&pk, "long", 4);
    msgpack_pack_str_with_body(&pk, "folded text", 11);
    assert_packed(node(g, "a"), &want);

    assert_null(node(g, "nil")->args);
    assert_int_equal(node(g, "nil")->args_len, 0);

    /* 17 entries: the shortest header is array16, put in front of the entries once counted. */
    msgpack_sbuffer_clear(&want);
    msgpack_pack_array(&pk, 17);
    for (int i = 0; i < 17; i++)
        msgpack_pack_int64(&pk, i);
    assert_int_equal((unsigned char)want.data[0], 0xDC);
    assert_packed(node(g, "big"), &want);
    msgpack_sbuffer_destroy(&want);
    zd_graph_free(&g);
}

static void test_load_file(void **state) {
    (void)state;
    char path[] = "/tmp/zdag-test-pipeline-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, spec_example, strlen(spec_example)), (ssize_t)strlen(spec_example));
    close(fd);
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    assert_int_equal(zd_pipeline_load(path, &g, &d), 0);
    assert_string_equal(zd_graph_settings_of(g)->path, path);
    assert_int_equal(zd_graph_size(g), 4);
    zd_graph_free(&g);
    unlink(path);

    assert_int_equal(zd_pipeline_load(path, &g, &d), ZDAG_EIO);
    assert_null(g);
    assert_int_equal(d.n, 1);
    char want[128];
    snprintf(want, sizeof want, "%s: error: cannot read: No such file or directory", path);
    assert_string_equal(d.lines[0], want);
    zd_diags_clear(&d);

    assert_int_equal(zd_pipeline_load("/tmp", &g, &d), ZDAG_EIO);
    assert_int_equal(d.n, 1);
    assert_string_equal(
        d.lines[0], "/tmp:1:1: error: cannot read a directory: a pipeline must be a regular file");
    zd_diags_clear(&d);

    assert_int_equal(zd_pipeline_load(NULL, &g, &d), ZDAG_EINVAL);
    assert_int_equal(zd_pipeline_load_buffer("x", NULL, 1, &g, &d), ZDAG_EINVAL);
}

/* zd_pipeline_load_file() frees the file's text once it is parsed: the errors found after
 * that (deps, cycles, an unknown key's hint) are the same, at the same positions, as from the
 * same text in a buffer. */
static void test_load_file_errors_after_text(void **state) {
    (void)state;
    static const char text[] = "nodes:\n"
                               "  a: {cmd: x, deps: [b, zz]}\n"
                               "  b: {cmd: y, deps: [a], bogus: 1}\n"
                               "  c: {cmd: y, deps: [c]}\n"
                               "\tbad: 1\n";
    static const char fixed[] = "nodes:\n"
                                "  a: {cmd: x, deps: [b, zz]}\n"
                                "  b: {cmd: y, deps: [a], bogus: 1}\n"
                                "  c: {cmd: y, deps: [c]}\n";
    const char *texts[] = {text, fixed};
    for (size_t t = 0; t < 2; t++) {
        char path[] = "/tmp/zdag-test-pipeline-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        size_t len = strlen(texts[t]);
        assert_int_equal(write(fd, texts[t], len), (ssize_t)len);
        close(fd);
        zd_diags from_file, from_buffer;
        zd_diags_init(&from_file);
        zd_diags_init(&from_buffer);
        zd_graph *g = NULL;
        assert_int_equal(zd_pipeline_load_file(path, 0, &g, &from_file), ZDAG_EPIPELINE);
        assert_int_equal(zd_pipeline_load_buffer(path, texts[t], len, &g, &from_buffer),
                         ZDAG_EPIPELINE);
        assert_true(from_file.n >= 1);
        assert_int_equal(from_file.n, from_buffer.n);
        for (size_t i = 0; i < from_file.n; i++)
            assert_string_equal(from_file.lines[i], from_buffer.lines[i]);
        if (t == 1) {
            assert_int_equal(from_file.n, 4);
            char want[128];
            snprintf(want, sizeof want, "%s:2:25: error: node \"a\" depends on unknown node", path);
            assert_true(strncmp(from_file.lines[1], want, strlen(want)) == 0);
            snprintf(want, sizeof want, "%s:2:3: error: cycle: a -> b -> a", path);
            assert_string_equal(from_file.lines[0], want);
        }
        zd_diags_clear(&from_file);
        zd_diags_clear(&from_buffer);
        unlink(path);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes text to the file at path. */
static void write_at(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* A FIFO is refused at once (not waited on); relative paths resolve from the file's directory;
 * with the check flags, plugins are opened and fn nodes need a plugin exporting them. */
static void test_file_checks(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-test-files-XXXXXX", path[256], fifo[256], sub[256], real[200];
    assert_non_null(mkdtemp(dir));
    char *rp = realpath(dir, NULL);
    assert_non_null(rp);
    assert_true(strlen(rp) < sizeof real);
    strcpy(real, rp);
    free(rp);
    snprintf(fifo, sizeof fifo, "%s/p.fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    double start = now_s();
    assert_int_equal(zd_pipeline_load(fifo, &g, &d), ZDAG_EIO);
    assert_true(now_s() - start < 1.0);
    assert_int_equal(d.n, 1);
    char want[2048];
    snprintf(want, sizeof want,
             "%s:1:1: error: cannot read a FIFO: a pipeline must be a regular file", fifo);
    assert_string_equal(d.lines[0], want);
    zd_diags_clear(&d);
    assert_int_equal(zd_pipeline_load("/dev/null", &g, &d), ZDAG_EIO);
    assert_string_equal(d.lines[0], "/dev/null:1:1: error: cannot read a character device: a "
                                    "pipeline must be a regular file");
    zd_diags_clear(&d);

    /* Relative paths resolve from the file's directory, whatever the current directory. */
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/p.yaml", dir);
    write_at(path, "plugins: [./lib/x.so, ../y.so, /abs/z.so, w.so]\n"
                   "defaults: {workdir: out/./here/}\n"
                   "nodes:\n"
                   "  a: {cmd: x}\n"
                   "  b: {cmd: x, workdir: /tmp}\n"
                   "  c: {cmd: x, workdir: .}\n");
    assert_int_equal(zd_pipeline_load(path, &g, &d), 0);
    zd_graph_settings *gs = zd_graph_settings_of(g);
    assert_int_equal(gs->n_plugins, 4);
    char expect[512];
    snprintf(expect, sizeof expect, "%s/sub/lib/x.so", real);
    assert_string_equal(gs->plugins[0], expect);
    snprintf(expect, sizeof expect, "%s/sub/../y.so", real);
    assert_string_equal(gs->plugins[1], expect);
    assert_string_equal(gs->plugins[2], "/abs/z.so");
    snprintf(expect, sizeof expect, "%s/sub/w.so", real);
    assert_string_equal(gs->plugins[3], expect);
    assert_null(gs->plugins[4]);
    snprintf(expect, sizeof expect, "%s/sub/out/here", real);
    assert_string_equal(node(g, "a")->workdir, expect);
    assert_string_equal(node(g, "b")->workdir, "/tmp");
    snprintf(expect, sizeof expect, "%s/sub", real);
    assert_string_equal(node(g, "c")->workdir, expect);
    zd_graph_free(&g);

    /* The check flags: a missing plugin, a file that is no shared object, fn without plugins. */
    const unsigned check = ZD_LOAD_PROBE_PLUGINS | ZD_LOAD_CHECK_FNS;
    snprintf(sub, sizeof sub, "%s/not-elf.so", dir);
    write_at(sub, "hello\n");
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    write_at(path, "plugins: [nope.so, not-elf.so]\n"
                   "nodes:\n"
                   "  f: {fn: range}\n");
    assert_int_equal(zd_pipeline_load(path, &g, &d), 0); /* plain loads do not open plugins */
    zd_graph_free(&g);
    assert_int_equal(zd_pipeline_load_file(path, check, &g, &d), ZDAG_EPIPELINE);
    assert_null(g);
    assert_int_equal(d.n, 2);
    snprintf(want, sizeof want,
             "%s:1:11: error: cannot load plugin \"%s/nope.so\": %s/nope.so: ", path, real, real);
    if (strncmp(d.lines[0], want, strlen(want)) != 0)
        fprintf(stderr, "got %s\nwant %s\n", d.lines[0], want);
    assert_true(strncmp(d.lines[0], want, strlen(want)) == 0);
    assert_non_null(strstr(d.lines[0], "No such file"));
    snprintf(want, sizeof want, "%s:1:20: error: cannot load plugin \"%s/not-elf.so\": ", path,
             real);
    assert_true(strncmp(d.lines[1], want, strlen(want)) == 0);
    zd_diags_clear(&d);
    write_at(path, "defaults: {fn: range}\n"
                   "nodes:\n"
                   "  f: {}\n"
                   "  g: {fn: other}\n"
                   "  c: {cmd: x}\n");
    assert_int_equal(zd_pipeline_load_file(path, check, &g, &d), ZDAG_EPIPELINE);
    assert_int_equal(d.n, 2);
    snprintf(want, sizeof want,
             "%s:1:16: error: node \"f\" calls function \"range\", but the pipeline lists no "
             "plugins to find it in (zdag run needs them, unless it runs with -w 0 --listen and "
             "remote workers that serve the function: then check with --remote)",
             path);
    assert_string_equal(d.lines[0], want);
    snprintf(want, sizeof want, "%s:4:11: error: node \"g\" calls function \"other\"", path);
    assert_true(strncmp(d.lines[1], want, strlen(want)) == 0);
    zd_diags_clear(&d);
    assert_int_equal(zd_pipeline_load_file(path, ZD_LOAD_PROBE_PLUGINS, &g, &d), 0);
    zd_graph_free(&g);

    unlink(sub);
    unlink(path);
    unlink(fifo);
    snprintf(path, sizeof path, "%s/sub/p.yaml", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

/* The hidden-set style: each invalid file fails at once with a positioned error, the first at
 * the place given, naming the problem. */
typedef struct invalid_case {
    const char *what; /* the mistake */
    const char *text; /* the file */
    const char *at;   /* "LINE:COL" of the first message */
    const char *says; /* a part of the first message */
} invalid_case;

static const invalid_case invalid_cases[] = {
    {"unknown key", "nodes:\n  a: {cmd: x, colour: red}\n", "2:15", "unknown key \"colour\""},
    {"misspelt key", "nodes:\n  a: {cmd: x}\n  b: {cmd: y, dpes: [a]}\n", "3:15",
     "did you mean \"deps\"?"},
    {"misspelt top key", "node:\n  a: {cmd: x}\n", "1:1", "did you mean \"nodes\"?"},
    {"bad type", "nodes:\n  a: {cmd: x, priority: high}\n", "2:25", "must be an integer"},
    {"cycle", "nodes:\n  a: {cmd: x, deps: [b]}\n  b: {cmd: x, deps: [a]}\n", "2:3",
     "cycle: a -> b -> a"},
    {"unknown dep", "nodes:\n  compile: {cmd: x}\n  t: {cmd: x, deps: [complie]}\n", "3:22",
     "unknown node \"complie\"; did you mean \"compile\"?"},
    {"duplicate node", "nodes:\n  a: {cmd: x}\n  a: {cmd: y}\n", "3:3", "duplicate node \"a\""},
    {"bad name", "nodes:\n  'a b': {cmd: x}\n", "2:3", "invalid node \"a b\""},
    {"negative cpus", "nodes:\n  a: {cmd: x, cpus: -1}\n", "2:21", "must be a number >= 0"},
    {"retries -1", "nodes:\n  a: {cmd: x, retries: -1}\n", "2:24", "must be an integer >= 0"},
    {"timeout 0", "nodes:\n  a: {cmd: x, timeout: 0}\n", "2:24", "must be a number > 0"},
    {"timeout negative", "nodes:\n  a: {cmd: x, timeout: -5}\n", "2:24", "must be a number > 0"},
    {"empty nodes", "nodes: {}\n", "1:8", "\"nodes\" is empty"},
    {"null nodes", "nodes:\n", "1:1", "\"nodes\" is empty"},
    {"no nodes", "env: {A: b}\n", "1:1", "missing required key \"nodes\""},
    {"empty file", "", "1:1", "the file is empty"},
    {"deps not a list", "nodes:\n  a: {cmd: x}\n  b: {cmd: x, deps: a}\n", "3:21",
     "must be a list of node names"},
    {"pool undeclared", "nodes:\n  a: {cmd: x, pool: db}\n", "2:21", "undeclared pool \"db\""},
    {"pool capacity 0", "pools: {db: 0}\nnodes:\n  a: {cmd: x, pool: db}\n", "1:13",
     "must be an integer >= 1"},
    {"pool too large", "pools: {db: 2000000000}\nnodes:\n  a: {cmd: x, pool: db}\n", "1:13",
     "must be at most 1000000"},
    {"sequential not bool", "nodes:\n  a: {cmd: x, sequential: yes}\n", "2:27",
     "must be true or false"},
    {"tab indentation", "nodes:\n\ta: {cmd: x}\n", "2:1", "tabs are not allowed for indentation"},
    {"not UTF-8", "nodes:\n  a: {cmd: caf\xE9}\n", "2:15", "not valid UTF-8 (byte 0xE9"},
    {"no command", "nodes:\n  a: {priority: 1}\n", "2:3", "has neither \"cmd\" nor \"fn\""},
    {"cmd and fn", "nodes:\n  a: {cmd: x, fn: f}\n", "2:3", "has both \"cmd\" and \"fn\""},
    {"empty program", "nodes:\n  a: {cmd: ['', x]}\n", "2:13", "program name"},
    {"dep variables collide",
     "nodes:\n  a-b: {cmd: x}\n  a_b: {cmd: x}\n  c: {cmd: x, deps: [a-b, a_b]}\n", "4:27",
     "both passed as $ZDAG_DEP_A_B"},
    {"max_concurrency 0", "max_concurrency: 0\nnodes:\n  a: {cmd: x}\n", "1:18",
     "must be an integer >= 1"},
    {"syntax error", "nodes:\n  a: {cmd: x\n", "3:1", "invalid YAML"},
    {"alias", "defaults: &d {cmd: x}\nnodes:\n  a: *d\n", "3:6", "aliases"},
    {"self dependency", "nodes:\n  a: {cmd: x, deps: [a]}\n", "2:22", "depends on itself"},
    {"env value a list", "nodes:\n  a: {cmd: x, env: {A: [1]}}\n", "2:24", "must be a string"},
    {"version a bool", "nodes:\n  a: {cmd: x, version: true}\n", "2:24",
     "\"version\" in node \"a\" must be a string or a number"},
    {"version null", "nodes:\n  a: {cmd: x, version: ~}\n", "2:24", "must be a string or a number"},
    {"version a list", "nodes:\n  a: {cmd: x, version: [1]}\n", "2:24",
     "must be a string or a number"},
    {"version a map", "nodes:\n  a: {cmd: x, version: {v: 1}}\n", "2:24",
     "must be a string or a number"},
    {"version empty", "nodes:\n  a: {cmd: x, version: ''}\n", "2:24",
     "must be a string or a number"},
    {"version in defaults", "defaults: {version: false}\nnodes:\n  a: {cmd: x}\n", "1:21",
     "must be a string or a number"},
    {"version twice", "nodes:\n  a: {cmd: x, version: 1, version: 2}\n", "2:27", "duplicate"},
    {"misspelt version", "nodes:\n  a: {cmd: x, verison: 1}\n", "2:15",
     "did you mean \"version\"?"},
};

static void test_invalid_files(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        const invalid_case *c = &invalid_cases[i];
        zd_diags d;
        zd_diags_init(&d);
        zd_graph *g = NULL;
        double start = now_s();
        int rc = zd_pipeline_load_buffer("pipe.yaml", c->text, strlen(c->text), &g, &d);
        double took = now_s() - start;
        char where[64];
        snprintf(where, sizeof where, "pipe.yaml:%s: error: ", c->at);
        bool ok = rc == ZDAG_EPIPELINE && !g && d.n > 0 &&
                  strncmp(d.lines[0], where, strlen(where)) == 0 && strstr(d.lines[0], c->says);
        for (size_t k = 0; ok && k < d.n; k++) {
            int line = 0, col = 0;
            ok = sscanf(d.lines[k], "pipe.yaml:%d:%d: error: ", &line, &col) == 2 && line > 0;
        }
        if (!ok) {
            fprintf(stderr, "case \"%s\": want %s...%s, got:\n", c->what, where, c->says);
            zd_diags_print(&d, stderr);
        }
        assert_true(ok);
        assert_true(took < 1.0);
        zd_diags_clear(&d);
    }
}

static void test_dependency_errors(void **state) {
    (void)state;
    expect_errors("nodes:\n"
                  "  fetch:\n"
                  "    cmd: x\n"
                  "  parse:\n"
                  "    cmd: y\n"
                  "    deps: [fecth, parse, fetch, fetch]\n",
                  "pipe.yaml:6:12: error: node \"parse\" depends on unknown node \"fecth\"; did "
                  "you mean \"fetch\"?",
                  "pipe.yaml:6:19: error: node \"parse\" depends on itself",
                  "pipe.yaml:6:33: error: node \"parse\" lists dependency \"fetch\" twice", NULL);
}

static void test_cycle(void **state) {
    (void)state;
    /* Reported from the node declared first, whatever node the search started at. */
    expect_errors("nodes:\n"
                  "  x: {cmd: x, deps: [b]}\n"
                  "  a: {cmd: x, deps: [c]}\n"
                  "  b: {cmd: x, deps: [a]}\n"
                  "  c: {cmd: x, deps: [b]}\n",
                  "pipe.yaml:3:3: error: cycle: a -> b -> c -> a", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: x, deps: [b]}\n"
                  "  b: {cmd: x, deps: [a]}\n",
                  "pipe.yaml:2:3: error: cycle: a -> b -> a", NULL);
}

static void test_key_errors(void **state) {
    (void)state;
    expect_errors(
        "nodes:\n"
        "  a:\n"
        "    prority: 3\n"
        "    cmd: x\n"
        "    cmd: y\n",
        "pipe.yaml:3:5: error: unknown key \"prority\" in node \"a\"; did you mean \"priority\"?",
        "pipe.yaml:5:5: error: duplicate key \"cmd\" in node \"a\"", NULL);
    expect_errors("nodez: {}\n"
                  "env: {}\n"
                  "env: {}\n",
                  "pipe.yaml:1:1: error: unknown top-level key \"nodez\"; did you mean \"nodes\"?",
                  "pipe.yaml:1:1: error: missing required key \"nodes\"",
                  "pipe.yaml:3:1: error: duplicate top-level key \"env\"", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: x}\n"
                  "  b: {cmd: y}\n"
                  "  a: {cmd: z}\n",
                  "pipe.yaml:4:3: error: duplicate node \"a\" (first declared at 2:3)", NULL);
    expect_errors("defaults: {deps: [a], cmd: x}\n"
                  "nodes: {a: {}}\n",
                  "pipe.yaml:1:12: error: \"deps\" cannot be set in defaults", NULL);
    expect_errors("nodes:\n"
                  "  1abc: {cmd: x}\n"
                  "  ok: {cmd: x, deps: [1abc]}\n"
                  "  \"a b\": {cmd: x}\n"
                  "  ? [x]\n"
                  "  : {cmd: x}\n",
                  "pipe.yaml:2:3: error: invalid node \"1abc\": names match "
                  "[A-Za-z_][A-Za-z0-9_.-]*",
                  "pipe.yaml:4:3: error: invalid node \"a b\": names match "
                  "[A-Za-z_][A-Za-z0-9_.-]*",
                  "pipe.yaml:5:5: error: keys in nodes must be strings", NULL);
}

/* Duplicate keys are refused in every mapping, at every level. */
static void test_duplicate_keys_everywhere(void **state) {
    (void)state;
    expect_errors("env: {A: 1, A: 2}\n"
                  "pools: {p: 1, p: 2}\n"
                  "defaults: {retries: 1, retries: 2}\n"
                  "nodes:\n"
                  "  a:\n"
                  "    fn: f\n"
                  "    env: {B: 1, B: 1}\n"
                  "    resources: {gpu: 1, gpu: 1}\n"
                  "    args: {k: {x: 1, x: 1}, 1: a, 0x1: b, '1': c, [1]: d, [1]: e}\n",
                  "pipe.yaml:1:13: error: duplicate key \"A\" in env",
                  "pipe.yaml:2:15: error: duplicate key \"p\" in pools",
                  "pipe.yaml:3:24: error: duplicate key \"retries\" in defaults",
                  "pipe.yaml:7:17: error: duplicate key \"B\" in env of node \"a\"",
                  "pipe.yaml:8:25: error: duplicate key \"gpu\" in resources of node \"a\"",
                  "pipe.yaml:9:22: error: duplicate key \"x\" in args of node \"a\"",
                  "pipe.yaml:9:35: error: duplicate key \"0x1\" in args of node \"a\"",
                  "pipe.yaml:9:59: error: duplicate key (a collection) in args of node \"a\"",
                  NULL);
}

static void test_value_errors(void **state) {
    (void)state;
    expect_errors(
        "max_concurrency: 0\n"
        "pools: {db: 0, big: 99999999999}\n"
        "plugins: x\n"
        "env: {A: [1], \"B=C\": 1, '': 2}\n"
        "nodes:\n"
        "  a:\n"
        "    cmd: []\n"
        "    cpus: -1\n"
        "    timeout: 0\n"
        "    sequential: yes\n"
        "    priority: 99999999999999999999\n"
        "    retries: 1.5\n"
        "    estimate: .inf\n"
        "    workdir: ''\n"
        "    tags: [a, '', [b]]\n"
        "    resources: {gpu: -1, cpu: '2'}\n"
        "    pool: ~\n"
        "    args: 123456789012345678901234567890\n"
        "  b:\n"
        "    cmd: {a: 1}\n"
        "    priority: 1.0\n"
        "    timeout: 10m\n"
        "  c: {fn: ~}\n"
        "  d: {cmd: [echo, {}], deps: a}\n"
        "  e: echo\n",
        "pipe.yaml:1:18: error: \"max_concurrency\" must be an integer >= 1",
        "pipe.yaml:2:13: error: \"db\" in pools must be an integer >= 1",
        "pipe.yaml:2:21: error: \"big\" in pools must be at most 1000000 (units of a pool)",
        "pipe.yaml:3:10: error: \"plugins\" must be a list of plugin paths",
        "pipe.yaml:4:10: error: \"A\" in env must be a string",
        "pipe.yaml:4:15: error: invalid environment variable name \"B=C\" in env",
        "pipe.yaml:4:25: error: invalid environment variable name \"\" in env",
        "pipe.yaml:7:10: error: \"cmd\" in node \"a\" must be a string or a non-empty "
        "list of strings",
        "pipe.yaml:8:11: error: \"cpus\" in node \"a\" must be a number >= 0",
        "pipe.yaml:9:14: error: \"timeout\" in node \"a\" must be a number > 0",
        "pipe.yaml:10:17: error: \"sequential\" in node \"a\" must be true or false",
        "pipe.yaml:11:15: error: \"priority\" in node \"a\" is out of range",
        "pipe.yaml:12:14: error: \"retries\" in node \"a\" must be an integer >= 0",
        "pipe.yaml:13:15: error: \"estimate\" in node \"a\" must be a number >= 0",
        "pipe.yaml:14:14: error: \"workdir\" in node \"a\" must be a directory path",
        "pipe.yaml:15:15: error: \"tags\" in node \"a\" must be a list of non-empty "
        "strings",
        "pipe.yaml:15:19: error: \"tags\" in node \"a\" must be a list of non-empty "
        "strings",
        "pipe.yaml:16:22: error: \"gpu\" in resources of node \"a\" must be a number "
        ">= 0",
        "pipe.yaml:16:31: error: \"cpu\" in resources of node \"a\" must be a number "
        ">= 0",
        "pipe.yaml:17:11: error: \"pool\" in node \"a\" must be a pool name",
        "pipe.yaml:18:11: error: integer \"123456789012345678901234567890\" does not "
        "fit 64 bits",
        "pipe.yaml:20:10: error: \"cmd\" in node \"b\" must be a string or a non-empty "
        "list of strings",
        "pipe.yaml:21:15: error: \"priority\" in node \"b\" must be an integer",
        "pipe.yaml:22:14: error: \"timeout\" in node \"b\" must be a number > 0",
        "pipe.yaml:23:11: error: \"fn\" in node \"c\" must be a function name",
        "pipe.yaml:24:19: error: \"cmd\" in node \"d\" must be a string or a non-empty "
        "list of strings",
        "pipe.yaml:24:30: error: \"deps\" in node \"d\" must be a list of node names",
        "pipe.yaml:25:6: error: node \"e\" must be a map of settings", NULL);
}

static void test_command_and_pool_errors(void **state) {
    (void)state;
    expect_errors("pools: {db: 1}\n"
                  "nodes:\n"
                  "  both: {cmd: x, fn: f}\n"
                  "  neither: {priority: 1}\n"
                  "  p: {cmd: x, pool: dbb}\n",
                  "pipe.yaml:3:3: error: node \"both\" has both \"cmd\" and \"fn\"",
                  "pipe.yaml:4:3: error: node \"neither\" has neither \"cmd\" nor \"fn\"",
                  "pipe.yaml:5:21: error: undeclared pool \"dbb\" in node \"p\"", NULL);
    expect_errors("defaults: {pool: nope}\n"
                  "nodes: {a: {cmd: x}}\n",
                  "pipe.yaml:1:18: error: undeclared pool \"nope\" in defaults", NULL);
    expect_errors("defaults: {cmd: x, fn: f}\n"
                  "nodes: {a: {}, b: {fn: g}}\n",
                  "pipe.yaml:2:9: error: node \"a\" has both \"cmd\" and \"fn\"", NULL);
}

static void test_document_errors(void **state) {
    (void)state;
    expect_errors("", "pipe.yaml:1:1: error: missing required key \"nodes\" (the file is empty)",
                  NULL);
    expect_errors("# only a comment\n",
                  "pipe.yaml:1:1: error: missing required key \"nodes\" (the file is empty)", NULL);
    expect_errors("---\n", "pipe.yaml:2:1: error: missing required key \"nodes\"", NULL);
    expect_errors("hello\n",
                  "pipe.yaml:1:1: error: the pipeline must be a map with a \"nodes\" key", NULL);
    expect_errors("- nodes\n",
                  "pipe.yaml:1:1: error: the pipeline must be a map with a \"nodes\" key", NULL);
    expect_errors("nodes: x\n",
                  "pipe.yaml:1:8: error: \"nodes\" must be a map of node names to settings", NULL);
    expect_errors("nodes: {a: {cmd: x}}\n"
                  "---\n"
                  "nodes: {}\n",
                  "pipe.yaml:2:1: error: a pipeline file holds one YAML document only", NULL);
    expect_errors("defaults: &d {cmd: x}\n"
                  "nodes:\n"
                  "  a: *d\n",
                  "pipe.yaml:3:6: error: YAML aliases (*d) are not supported", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: !shell x, args: !!binary aGk=}\n",
                  "pipe.yaml:2:12: error: unsupported YAML tag \"!shell\"",
                  "pipe.yaml:2:28: error: unsupported YAML tag \"tag:yaml.org,2002:binary\"", NULL);
    expect_errors("nodes: {a: {fn: f, args: !!int x}}\n",
                  "pipe.yaml:1:26: error: \"x\" is not a valid !!int", NULL);
    expect_errors("nodes:\n"
                  "  a: {cmd: x\n",
                  "pipe.yaml:3:1: error: invalid YAML: did not find expected ',' or '}' (while "
                  "parsing a flow mapping at 2:6)",
                  NULL);
}

static void test_binary_input(void **state) {
    (void)state;
    const char nul[] = "nodes:\n  a: {cmd: x\0y}\n";
    char *msg = expect_failure(nul, sizeof nul - 1);
    assert_string_equal(msg, "pipe.yaml:2:13: error: invalid YAML: control characters are not "
                             "allowed (#x0)");
    free(msg);
    const char utf8[] = "nodes:\n  a: {cmd: \xC3\x28}\n";
    msg = expect_failure(utf8, sizeof utf8 - 1);
    assert_string_equal(msg, "pipe.yaml:2:12: error: the file is not valid UTF-8 (byte 0xC3 "
                             "here); a pipeline file must be UTF-8 text");
    free(msg);
    /* Latin-1 text, an overlong '/', a surrogate, a truncated character at the end. */
    const char *const bad[] = {"# caf\xE9\nnodes: {a: {cmd: x}}\n", "nodes: {a: {cmd: \xC0\xAF}}\n",
                               "nodes: {a: {cmd: \xED\xA0\x80}}\n",
                               "nodes: {a: {cmd: x}} # \xE2\x82"};
    const char *const where[] = {"pipe.yaml:1:6: error: the file is not valid UTF-8 (byte 0xE9",
                                 "pipe.yaml:1:18: error: the file is not valid UTF-8 (byte 0xC0",
                                 "pipe.yaml:1:18: error: the file is not valid UTF-8 (byte 0xED",
                                 "pipe.yaml:1:24: error: the file is not valid UTF-8 (byte 0xE2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg = expect_failure(bad[i], strlen(bad[i]));
        if (strncmp(msg, where[i], strlen(where[i])) != 0)
            fprintf(stderr, "got %s\n", msg);
        assert_true(strncmp(msg, where[i], strlen(where[i])) == 0);
        assert_null(strchr(msg, '\n')); /* one message */
        free(msg);
    }
    zd_graph *utf8_ok = load_ok("nodes: {a: {cmd: \"\xE2\x82\xAC \xF0\x9F\x98\x80\"}}\n");
    zd_graph_free(&utf8_ok);
    /* A tab in indentation gets its own message, at the tab. */
    expect_errors("nodes:\n\ta: {cmd: x}\n",
                  "pipe.yaml:2:1: error: tabs are not allowed for indentation in YAML; use spaces",
                  NULL);
    expect_errors("nodes:\n  a:\n  \tcmd: x\n",
                  "pipe.yaml:3:3: error: tabs are not allowed for indentation in YAML; use spaces",
                  NULL);
    expect_errors("nodes:\n  a: {cmd: x}\n\tb: {cmd: y}\n",
                  "pipe.yaml:3:1: error: tabs are not allowed for indentation in YAML; use spaces",
                  NULL);
    zd_graph *tabbed = load_ok("nodes:\n  a: {cmd: \"x\ty\"}\t# a tab elsewhere is fine\n");
    assert_string_equal(node(tabbed, "a")->shell, "x\ty");
    zd_graph_free(&tabbed);
    /* A NUL byte from an escape reaches the loader: C strings cannot hold it. */
    expect_errors("nodes: {a: {cmd: \"x\\0y\"}}\n",
                  "pipe.yaml:1:18: error: \"cmd\" in node \"a\" must not contain a NUL byte", NULL);
    unsigned char garbage[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) {
        x = x * 1103515245 + 12345;
        garbage[i] = (unsigned char)(x >> 16);
    }
    free(expect_failure((const char *)garbage, sizeof garbage));
}

/* Several independent errors in one file are all reported, sorted by position, whatever order
 * the checks ran in (deps and pools are resolved after the whole file is read). */
static void test_all_errors_reported(void **state) {
    (void)state;
    expect_errors(
        "max_concurrency: many\n"
        "nodes:\n"
        "  a:\n"
        "    cmd: x\n"
        "    prority: 1\n"
        "  b:\n"
        "    cmd: y\n"
        "    deps: [a, zz]\n"
        "    retries: -2\n"
        "  c: {cmd: z, pool: nope}\n"
        "color: red\n",
        "pipe.yaml:1:18: error: \"max_concurrency\" must be an integer >= 1",
        "pipe.yaml:5:5: error: unknown key \"prority\" in node \"a\"; did you mean \"priority\"?",
        "pipe.yaml:8:15: error: node \"b\" depends on unknown node \"zz\"",
        "pipe.yaml:9:14: error: \"retries\" in node \"b\" must be an integer >= 0",
        "pipe.yaml:10:21: error: undeclared pool \"nope\" in node \"c\"",
        "pipe.yaml:11:1: error: unknown top-level key \"color\"", NULL);
}

/* What `run` would trip over is found at load time, once, at its place (issue 10). */
static void test_loader_catches_run_errors(void **state) {
    (void)state;
    /* Deps whose ZDAG_DEP_ variables collide: both positions named. */
    expect_errors("nodes:\n"
                  "  a-b: {cmd: x}\n"
                  "  a_b: {cmd: x}\n"
                  "  A_B: {cmd: x}\n"
                  "  a.c: {cmd: x}\n"
                  "  use: {cmd: x, deps: [a-b, a_b, A_B, a.c]}\n"
                  "  ok: {cmd: x, deps: [a-b, a.c]}\n",
                  "pipe.yaml:6:29: error: deps \"a-b\" (at 6:24) and \"a_b\" of node \"use\" are "
                  "both passed as $ZDAG_DEP_A_B; rename one of the nodes",
                  "pipe.yaml:6:34: error: deps \"a_b\" (at 6:29) and \"A_B\" of node \"use\" are "
                  "both passed as $ZDAG_DEP_A_B; rename one of the nodes",
                  NULL);
    /* An empty program name; empty arguments stay allowed. */
    expect_errors("nodes:\n"
                  "  a: {cmd: [\"\", foo]}\n"
                  "  b: {cmd: [printf, '']}\n",
                  "pipe.yaml:2:13: error: the program name (the first entry of \"cmd\" in node "
                  "\"a\") must not be empty",
                  NULL);
    /* No cascade: a pool with a bad capacity, a node with a bad name, are reported once. */
    expect_errors("pools: {db: 0}\n"
                  "nodes:\n"
                  "  a: {cmd: x, pool: db}\n",
                  "pipe.yaml:1:13: error: \"db\" in pools must be an integer >= 1", NULL);
    expect_errors("pools: {db: 2000000000, ok: 1000000}\n"
                  "defaults: {pool: db}\n"
                  "nodes:\n"
                  "  a: {cmd: x}\n",
                  "pipe.yaml:1:13: error: \"db\" in pools must be at most 1000000 (units of a "
                  "pool)",
                  NULL);
    expect_errors("nodes:\n"
                  "  9lives: {cmd: x}\n"
                  "  a: {cmd: x, deps: [9lives, nine]}\n",
                  "pipe.yaml:2:3: error: invalid node \"9lives\": names match "
                  "[A-Za-z_][A-Za-z0-9_.-]*",
                  "pipe.yaml:3:30: error: node \"a\" depends on unknown node \"nine\"", NULL);
    /* Did you mean: keys, top-level keys, node names (edit distance <= 2). */
    expect_errors("node:\n"
                  "  compile: {cmd: cc}\n"
                  "  link: {cmd: ld, dpes: [compile]}\n",
                  "pipe.yaml:1:1: error: unknown top-level key \"node\"; did you mean \"nodes\"?",
                  "pipe.yaml:1:1: error: missing required key \"nodes\"", NULL);
    expect_errors("nodes:\n"
                  "  compile: {cmd: cc}\n"
                  "  link: {cmd: ld, dpes: [compile]}\n"
                  "  test: {cmd: t, deps: [complie, lnik, zzzzzz]}\n"
                  "defaults: {timeot: 1, x: 1}\n",
                  "pipe.yaml:3:19: error: unknown key \"dpes\" in node \"link\"; did you mean "
                  "\"deps\"?",
                  "pipe.yaml:4:25: error: node \"test\" depends on unknown node \"complie\"; did "
                  "you mean \"compile\"?",
                  "pipe.yaml:4:34: error: node \"test\" depends on unknown node \"lnik\"; did you "
                  "mean \"link\"?",
                  "pipe.yaml:4:40: error: node \"test\" depends on unknown node \"zzzzzz\"",
                  "pipe.yaml:5:12: error: unknown key \"timeot\" in defaults; did you mean "
                  "\"timeout\"?",
                  "pipe.yaml:5:23: error: unknown key \"x\" in defaults", NULL);
    zd_graph *g = load_ok("pools: {big: 1000000}\nnodes: {a: {cmd: x, pool: big}}\n");
    assert_int_equal(zd_graph_pool(g, 0)->capacity, 1000000);
    zd_graph_free(&g);
    g = zd_graph_new();
    assert_int_equal(zd_graph_add_pool(g, "p", ZD_POOL_MAX_CAPACITY + 1, NULL), ZDAG_EINVAL);
    zd_graph_free(&g);
}

static void test_too_many_errors(void **state) {
    (void)state;
    size_t cap = 64 + 200 * 32, len = 0;
    char *text = malloc(cap);
    len += (size_t)sprintf(text, "nodes:\n");
    for (int i = 0; i < 200; i++)
        len += (size_t)sprintf(text + len, "  n%d: {cmd: x, bad: 1}\n", i);
    zd_diags d;
    zd_diags_init(&d);
    zd_graph *g = NULL;
    assert_int_equal(zd_pipeline_load_buffer("pipe.yaml", text, len, &g, &d), ZDAG_EPIPELINE);
    assert_int_equal(d.n, ZD_YAML_MAX_ERRORS + 1);
    assert_string_equal(d.lines[0], "pipe.yaml:2:16: error: unknown key \"bad\" in node \"n0\"");
    assert_string_equal(d.lines[ZD_YAML_MAX_ERRORS], "pipe.yaml: error: too many errors, stopping");
    zd_diags_clear(&d);
    free(text);
}

static void test_json_and_pool_limit(void **state) {
    (void)state;
    zd_graph *g = load_ok("{\"nodes\": {\"a\": {\"cmd\": [\"echo\", \"hi\"], \"priority\": 2},"
                          " \"b\": {\"fn\": \"f\", \"deps\": [\"a\"], \"args\": {\"k\": null},"
                          " \"sequential\": true}}, \"max_concurrency\": 3}");
    assert_int_equal(zd_graph_settings_of(g)->max_concurrency, 3);
    assert_string_equal(node(g, "a")->argv[1], "hi");
    assert_true(node(g, "b")->sequential);
    const unsigned char args[] = {0x81, 0xA1, 'k', 0xC0};
    assert_int_equal(node(g, "b")->args_len, sizeof args);
    assert_memory_equal(node(g, "b")->args, args, sizeof args);
    zd_graph_free(&g);

    size_t cap = 64 + (ZD_PIPELINE_MAX_POOLS + 2) * 16, len = 0;
    char *text = malloc(cap);
    len += (size_t)sprintf(text, "nodes: {a: {cmd: x}}\npools:\n");
    for (int i = 0; i < ZD_PIPELINE_MAX_POOLS + 2; i++)
        len += (size_t)sprintf(text + len, "  p%d: 1\n", i);
    char *msg = expect_failure(text, len);
    assert_string_equal(msg, "pipe.yaml:1027:3: error: more than 1024 pools");
    free(msg);
    free(text);
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail,
                    size_t *len) {
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    *len = hl + ul * times + tl;
    return s;
}

/* 10 MB of nesting stops at the depth limit with one error, without deep recursion. */
static void test_deep_nesting(void **state) {
    (void)state;
    const size_t ten_mb = 10u << 20;
    /* The root map is level 1. */
    const struct {
        const char *head, *unit, *want;
    } cases[] = {
        {"", "[",
         "pipe.yaml:1:1: error: the pipeline must be a map with a \"nodes\" key\n"
         "pipe.yaml:1:65: error: nesting deeper than 64 levels"},
        {"", "{",
         "pipe.yaml:1:2: error: top-level keys must be strings\n"
         "pipe.yaml:1:65: error: nesting deeper than 64 levels"},
        {"nodes: {a: {fn: f, args: ", "[", "pipe.yaml:1:87: error: nesting deeper than 64 levels"},
        {"nodes: {a: {fn: f, args: ", "{a: ",
         "pipe.yaml:1:270: error: nesting deeper than 64 levels"},
        {"nodes:\n  a:\n    args:\n      ", "- ",
         "pipe.yaml:4:129: error: nesting deeper than 64 levels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *text = repeat(cases[i].head, cases[i].unit, ten_mb / strlen(cases[i].unit), "", &len);
        char *msg = expect_failure(text, len);
        assert_string_equal(msg, cases[i].want);
        free(msg);
        free(text);
    }
    /* Exactly at the limit: levels 1-3 for the root, nodes and a, then 61 for args. */
    size_t len;
    char *text = repeat("nodes: {a: {fn: f, args: ", "[", 61, "", &len);
    char *closed = repeat(text, "]", 61, "}}", &len);
    zd_graph *g = load_ok(closed);
    assert_int_equal(node(g, "a")->args_len, 61);
    zd_graph_free(&g);
    free(closed);
    free(text);
    text = repeat("nodes: {a: {fn: f, args: ", "[", 62, "", &len);
    closed = repeat(text, "]", 62, "}}", &len);
    char *msg = expect_failure(closed, len);
    assert_string_equal(msg, "pipe.yaml:1:87: error: nesting deeper than 64 levels");
    free(msg);
    free(closed);
    free(text);
}

/* Huge but flat inputs load, and huge numbers are refused cleanly. */
static void test_huge_inputs(void **state) {
    (void)state;
    size_t len;
    char *text = repeat("nodes: {a: {fn: f, args: [", "7,", 1000000, "7]}}", &len);
    zd_graph *g = load_ok(text);
    assert_int_equal(node(g, "a")->args_len, 5 + 1000001);
    zd_graph_free(&g);
    free(text);

    text = repeat("nodes: {a: {cmd: '", "x", 5u << 20, "'}}", &len);
    g = load_ok(text);
    assert_int_equal(strlen(node(g, "a")->shell), 5u << 20);
    zd_graph_free(&g);
    free(text);

    text = repeat("nodes: {a: {cmd: x, priority: ", "9", 100000, "}}", &len);
    free(expect_failure(text, len));
    free(text);

    zd_diags d;
    zd_diags_init(&d);
    assert_int_equal(zd_pipeline_load_buffer("big.yaml", "", ZD_PIPELINE_MAX_BYTES + 1, &g, &d),
                     ZDAG_EPIPELINE);
    assert_string_equal(d.lines[0], "big.yaml: error: the file is larger than 64 MiB");
    zd_diags_clear(&d);
}

static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Applies one random edit to buf (len bytes, room for cap) and returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap, uint64_t *seed) {
    static const char alphabet[] = "[]{}:,-?&*!|>'\"#%@`\n\t \\~0123456789.xabcdefgnodesdepscmd";
    size_t pos = len ? next_random(seed) % len : 0;
    switch (next_random(seed) % 6) {
    case 0: /* flip a byte to anything */
        if (len)
            buf[pos] = (char)next_random(seed);
        return len;
    case 1: /* replace a byte with a YAML-significant one */
        if (len)
            buf[pos] = alphabet[next_random(seed) % (sizeof alphabet - 1)];
        return len;
    case 2: /* truncate */
        return pos;
    case 3: { /* insert a few characters */
        size_t n = 1 + next_random(seed) % 8;
        if (len + n > cap)
            return len;
        memmove(buf + pos + n, buf + pos, len - pos);
        for (size_t i = 0; i < n; i++)
            buf[pos + i] = alphabet[next_random(seed) % (sizeof alphabet - 1)];
        return len + n;
    }
    case 4: { /* duplicate the line around pos */
        size_t start = pos, end = pos;
        while (start > 0 && buf[start - 1] != '\n')
            start--;
        while (end < len && buf[end] != '\n')
            end++;
        size_t n = end - start + (end < len);
        if (len + n > cap)
            return len;
        memmove(buf + end + (end < len), buf + start, len - start);
        return len + n;
    }
    default: { /* delete a range */
        size_t n = next_random(seed) % 16;
        n = n < len - pos ? n : len - pos;
        memmove(buf + pos, buf + pos + n, len - pos - n);
        return len - n;
    }
    }
}

/* Thousands of deterministic mutations of valid files: every load ends with a graph or with
 * messages, never a crash, a sanitizer report or a leak. */
static void test_mutations(void **state) {
    (void)state;
    const char *bases[] = {spec_example, full_example,
                           "{\"nodes\": {\"a\": {\"cmd\": \"x\", \"args\": [1, {\"k\": null}]}, "
                           "\"b\": {\"fn\": \"f\", \"deps\": [\"a\"]}}, \"pools\": {\"p\": 1}}\n"};
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    size_t cap = 8192, loaded = 0, failed = 0;
    char *buf = malloc(cap);
    for (int iter = 0; iter < 6000; iter++) {
        const char *base = bases[iter % 3];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        int edits = 1 + (int)(next_random(&seed) % 4);
        for (int e = 0; e < edits; e++)
            len = mutate(buf, len, cap, &seed);
        zd_diags d;
        zd_diags_init(&d);
        zd_graph *g = NULL;
        int rc = zd_pipeline_load_buffer("fuzz.yaml", buf, len, &g, &d);
        if (rc == 0) {
            assert_non_null(g);
            assert_int_equal(d.n, 0);
            assert_non_null(zd_graph_topo(g));
            loaded++;
        } else {
            assert_int_equal(rc, ZDAG_EPIPELINE);
            assert_null(g);
            assert_true(d.n > 0);
            for (size_t i = 0; i < d.n; i++)
                assert_memory_equal(d.lines[i], "fuzz.yaml:", 10);
            failed++;
        }
        zd_graph_free(&g);
        zd_diags_clear(&d);
    }
    free(buf);
    /* The mutations must exercise both outcomes. */
    assert_true(loaded > 300);
    assert_true(failed > 3000);
}

/* A run-time fan-out's source is a dep even when not listed, so a cycle through it is one. */
static void test_result_lines_cycle_through_source(void **state) {
    (void)state;
    expect_errors("nodes:\n"
                  "  list: {cmd: ls, deps: [after]}\n"
                  "  each: {foreach: {result_lines: list}, cmd: \"x {item}\"}\n"
                  "  after: {cmd: x, deps: [each]}\n",
                  "pipe.yaml:2:3: error: cycle: list -> each -> after -> list", NULL);
}

/* result_lines is one of the sources, suggested for a near miss and named when none is given. */
static void test_result_lines_key(void **state) {
    (void)state;
    expect_errors("nodes:\n"
                  "  list: {cmd: ls}\n"
                  "  a: {foreach: {result_line: list}, cmd: x}\n"
                  "  b: {foreach: {}, cmd: x}\n"
                  "  c: {foreach: {result_lines: [list]}, cmd: x}\n"
                  "  d: {foreach: {result_lines: list, list: [1]}, cmd: x}\n",
                  "pipe.yaml:3:17: error: unknown key \"result_line\" in foreach of node \"a\"; "
                  "did you mean \"result_lines\"?",
                  "pipe.yaml:4:16: error: foreach of node \"b\" needs one of list, range, glob, "
                  "lines, matrix, result_lines",
                  "pipe.yaml:5:31: error: \"result_lines\" in foreach of node \"c\" must be a node "
                  "name",
                  "pipe.yaml:6:37: error: foreach of node \"d\" has more than one source", NULL);
}

/* A function over a result's lines: its args keep their placeholders for the run; the template
 * keeps its other settings, and loads with a topological order like any graph. */
static void test_result_lines_fn_template(void **state) {
    (void)state;
    zd_graph *g = load_ok("nodes:\n"
                          "  list: {fn: ls}\n"
                          "  each:\n"
                          "    foreach: {result_lines: list}\n"
                          "    fn: work\n"
                          "    args: {name: \"{item}\", at: \"{index}\"}\n"
                          "    priority: 4\n"
                          "    retries: 2\n");
    const zd_node *each = node(g, "each");
    assert_int_equal(each->kind, ZD_NODE_FN);
    assert_string_equal(each->fn, "work");
    assert_int_equal(each->priority, 4);
    assert_int_equal(each->retries, 2);
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "{item}", 6);
    msgpack_pack_str_with_body(&pk, "at", 2);
    msgpack_pack_str_with_body(&pk, "{index}", 7);
    assert_packed(each, &want);
    msgpack_sbuffer_destroy(&want);
    assert_int_equal(zd_graph_topo(g)[1], zd_graph_find(g, "each"));
    assert_int_equal(zd_graph_fan_source(g, 1), 0);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_defaults_command),
        cmocka_unit_test(test_version_key),
        cmocka_unit_test(test_args_values),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_errors_after_text),
        cmocka_unit_test(test_file_checks),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_dependency_errors),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_duplicate_keys_everywhere),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_command_and_pool_errors),
        cmocka_unit_test(test_document_errors),
        cmocka_unit_test(test_binary_input),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_loader_catches_run_errors),
        cmocka_unit_test(test_too_many_errors),
        cmocka_unit_test(test_json_and_pool_limit),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_inputs),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_files_keys),
        cmocka_unit_test(test_files_errors),
        cmocka_unit_test(test_result_lines_cycle_through_source),
        cmocka_unit_test(test_result_lines_key),
        cmocka_unit_test(test_result_lines_fn_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
