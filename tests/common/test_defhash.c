/* Definition hashes: SHA-256 against FIPS 180-4 vectors; what changes a node's hash (and its
 * descendants'), and what does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "defhash.h"

static void sha_hex(const void *data, size_t len, size_t chunk, char hex[65]) {
    zd_sha256 s;
    uint8_t digest[32];
    zd_sha256_init(&s);
    const char *p = data;
    for (size_t done = 0; done < len; done += chunk)
        zd_sha256_update(&s, p + done, len - done < chunk ? len - done : chunk);
    zd_sha256_final(&s, digest);
    zd_defhash_hex(digest, hex);
}

/* FIPS 180-4 examples (and NIST's one-million-'a' vector), fed whole and in odd chunks. */
static void test_sha256_vectors(void **state) {
    (void)state;
    static const struct {
        const char *msg;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (size_t chunk = 1; chunk <= 65; chunk += 7) {
            sha_hex(v[i].msg, strlen(v[i].msg), chunk, hex);
            assert_string_equal(hex, v[i].hex);
        }
    }
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    sha_hex(a, 1000000, 4096, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The graph the tests vary: a -> b -> c, and d on its own; each a shell command. */
typedef struct variant {
    const char *a_cmd;       /* a's shell command */
    const char *b_args;      /* b's packed args, or NULL */
    size_t b_args_len;       /* bytes in b_args */
    const char *b_env_value; /* value of b's env X, or NULL for no env */
    const char *graph_env;   /* value of the graph env G, or NULL for none */
    const char *c_workdir;   /* c's workdir */
    int64_t c_priority;      /* scheduling-only settings of c */
    int c_retries;
    double c_timeout;
    double c_estimate;
    bool c_sequential;
    bool swap_c_deps; /* c's deps listed as (d, b) instead of (b, d) */
} variant;

static char *dup(const char *s) {
    char *c = strdup(s);
    assert_non_null(c);
    return c;
}

static void set_shell(zd_graph *g, uint32_t i, const char *cmd) {
    zd_node *n = zd_graph_node(g, i);
    n->kind = ZD_NODE_SHELL;
    free(n->shell);
    n->shell = dup(cmd);
}

static zd_graph *build(const variant *v) {
    zd_graph *g = zd_graph_new();
    uint32_t a, b, c, d;
    assert_int_equal(zd_graph_add_node(g, "a", &a), 0);
    assert_int_equal(zd_graph_add_node(g, "b", &b), 0);
    assert_int_equal(zd_graph_add_node(g, "c", &c), 0);
    assert_int_equal(zd_graph_add_node(g, "d", &d), 0);
    set_shell(g, a, v->a_cmd ? v->a_cmd : "echo a");
    set_shell(g, b, "echo b");
    set_shell(g, c, "echo c");
    set_shell(g, d, "echo d");
    zd_node *nb = zd_graph_node(g, b);
    if (v->b_args) {
        nb->args = malloc(v->b_args_len);
        assert_non_null(nb->args);
        memcpy(nb->args, v->b_args, v->b_args_len);
        nb->args_len = v->b_args_len;
    }
    if (v->b_env_value) {
        nb->env = calloc(1, sizeof *nb->env);
        nb->env[0] = (zd_kv){dup("X"), dup(v->b_env_value)};
        nb->n_env = 1;
    }
    if (v->graph_env) {
        zd_graph_settings *gs = zd_graph_settings_of(g);
        gs->env = calloc(1, sizeof *gs->env);
        gs->env[0] = (zd_kv){dup("G"), dup(v->graph_env)};
        gs->n_env = 1;
    }
    zd_node *nc = zd_graph_node(g, c);
    if (v->c_workdir)
        nc->workdir = dup(v->c_workdir);
    nc->priority = v->c_priority;
    nc->retries = v->c_retries;
    nc->timeout = v->c_timeout;
    nc->estimate = v->c_estimate ? v->c_estimate : 1;
    nc->sequential = v->c_sequential;
    assert_int_equal(zd_graph_add_dep(g, b, a), 0);
    /* c depends on b and d, in that order or swapped. */
    assert_int_equal(zd_graph_add_dep(g, c, v->swap_c_deps ? d : b), 0);
    assert_int_equal(zd_graph_add_dep(g, c, v->swap_c_deps ? b : d), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

/* Hashes of the variant's nodes a, b, c, d. */
static void hashes_of(const variant *v, uint8_t out[4][32]) {
    zd_graph *g = build(v);
    assert_int_equal(zd_defhash_compute(g, out), 0);
    zd_graph_free(&g);
}

/* Which of a, b, c, d differ from the base variant: a string like "-bc-". */
static const char *changed(const variant *v) {
    static char out[5];
    static const variant base = {0};
    uint8_t h0[4][32], h1[4][32];
    hashes_of(&base, h0);
    hashes_of(v, h1);
    for (int i = 0; i < 4; i++)
        out[i] = memcmp(h0[i], h1[i], 32) ? "abcd"[i] : '-';
    out[4] = '\0';
    return out;
}

/* The hashes are those of the journals already written: pinned values (computed before the
 * node's fields were gathered into blocks; a field longer than a block included). */
static void test_defhash_pinned_values(void **state) {
    (void)state;
    char long_cmd[3000];
    memset(long_cmd, 'x', sizeof long_cmd - 1);
    long_cmd[sizeof long_cmd - 1] = '\0';
    memcpy(long_cmd, "echo ", 5);
    variant v = {.a_cmd = long_cmd,
                 .b_args = "\x91\x01",
                 .b_args_len = 2,
                 .b_env_value = "value",
                 .graph_env = "g",
                 .c_workdir = "/tmp"};
    uint8_t h[4][32];
    hashes_of(&v, h);
    static const char *const want[4] = {
        "6b2ce09f28352ccbc266598900590b8b01cf4ff748484577f152c49c6f000dd0",
        "931ce79b5dffa0c41db6c516e41463a4bc7a8e886201b039105ca28cef7bb19d",
        "fb29cedc0de209c2e944d0e851e873b1ea4ebd94914a9b13e05e87df57d0278e",
        "a8aee6fb5f3af90919592133732f6f1e235f28024bd3d5e52374a7301fec8a2c"};
    for (int i = 0; i < 4; i++) {
        char hex[65];
        zd_defhash_hex(h[i], hex);
        assert_string_equal(hex, want[i]);
    }
}

static void test_defhash_deterministic_and_distinct(void **state) {
    (void)state;
    variant base = {0};
    uint8_t h[4][32];
    hashes_of(&base, h);
    assert_string_equal(changed(&base), "----");
    /* Four nodes, four different hashes (the name is part of the definition). */
    for (int i = 0; i < 4; i++)
        for (int k = i + 1; k < 4; k++)
            assert_memory_not_equal(h[i], h[k], 32);
}

/* A change propagates to every descendant and nowhere else. */
static void test_defhash_changes_propagate(void **state) {
    (void)state;
    variant v = {.a_cmd = "echo A"};
    assert_string_equal(changed(&v), "abc-");
    v = (variant){.b_args = "\x91\x01", .b_args_len = 2};
    assert_string_equal(changed(&v), "-bc-");
    v = (variant){.b_env_value = "1"};
    assert_string_equal(changed(&v), "-bc-");
    v = (variant){.graph_env = "1"};
    assert_string_equal(changed(&v), "abcd");
    v = (variant){.c_workdir = "/tmp"};
    assert_string_equal(changed(&v), "--c-");
    v = (variant){.swap_c_deps = true};
    assert_string_equal(changed(&v), "--c-");
}

/* Scheduling-only settings do not invalidate results. */
static void test_defhash_ignores_scheduling(void **state) {
    (void)state;
    variant v = {
        .c_priority = 100, .c_retries = 3, .c_timeout = 60, .c_estimate = 42, .c_sequential = true};
    assert_string_equal(changed(&v), "----");
    zd_graph *g = build(&(variant){0});
    uint8_t h0[4][32], h1[4][32];
    assert_int_equal(zd_defhash_compute(g, h0), 0);
    zd_node *c = zd_graph_node(g, 2);
    c->cpus = 8;
    c->pool = 2;
    c->tags = calloc(2, sizeof *c->tags);
    c->tags[0] = dup("slow");
    c->n_tags = 1;
    assert_int_equal(zd_defhash_compute(g, h1), 0);
    assert_memory_equal(h0, h1, sizeof h0);
    zd_graph_free(&g);
}

/* Absent args are the nil they stand for; absent and empty workdir differ. */
static void test_defhash_normalisation(void **state) {
    (void)state;
    variant v = {.b_args = "\xc0", .b_args_len = 1};
    assert_string_equal(changed(&v), "----");
    v = (variant){.c_workdir = ""};
    assert_string_equal(changed(&v), "--c-");
}

/* Field boundaries are unambiguous: the same characters split differently hash differently. */
static void test_defhash_no_ambiguity(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t i;
    assert_int_equal(zd_graph_add_node(g, "n", &i), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    zd_node *n = zd_graph_node(g, i);
    uint8_t h[6][1][32];

    set_shell(g, i, "echo a b");
    assert_int_equal(zd_defhash_compute(g, h[0]), 0);

    free(n->shell);
    n->shell = NULL;
    n->kind = ZD_NODE_ARGV;
    n->argv = calloc(4, sizeof *n->argv);
    n->argv[0] = dup("echo");
    n->argv[1] = dup("a b");
    n->argc = 2;
    assert_int_equal(zd_defhash_compute(g, h[1]), 0);
    free(n->argv[1]);
    n->argv[1] = dup("a");
    n->argv[2] = dup("b");
    n->argc = 3;
    assert_int_equal(zd_defhash_compute(g, h[2]), 0);

    for (size_t k = 0; k < n->argc; k++)
        free(n->argv[k]);
    free(n->argv);
    n->argv = NULL;
    n->argc = 0;
    n->kind = ZD_NODE_FN;
    n->fn = dup("echo a b");
    assert_int_equal(zd_defhash_compute(g, h[3]), 0);

    /* env ("AB", "C") against ("A", "BC"). */
    free(n->fn);
    n->fn = NULL;
    set_shell(g, i, "true");
    n->env = calloc(1, sizeof *n->env);
    n->env[0] = (zd_kv){dup("AB"), dup("C")};
    n->n_env = 1;
    assert_int_equal(zd_defhash_compute(g, h[4]), 0);
    n->env[0].key[1] = '\0';
    free(n->env[0].value);
    n->env[0].value = dup("BC");
    assert_int_equal(zd_defhash_compute(g, h[5]), 0);

    for (int x = 0; x < 6; x++)
        for (int y = x + 1; y < 6; y++)
            assert_memory_not_equal(h[x][0], h[y][0], 32);
    zd_graph_free(&g);
}

/* A graph of four nodes: reg (fn "mine", registered), plug (fn "theirs", from a plugin), its
 * dependent down (a command) and cmd (a command). version_of_cmd: cmd's `version`, or NULL. */
static zd_graph *code_graph(const char *version_of_cmd) {
    zd_graph *g = zd_graph_new();
    uint32_t reg, plug, down, cmd;
    assert_int_equal(zd_graph_add_node(g, "reg", &reg), 0);
    assert_int_equal(zd_graph_add_node(g, "plug", &plug), 0);
    assert_int_equal(zd_graph_add_node(g, "down", &down), 0);
    assert_int_equal(zd_graph_add_node(g, "cmd", &cmd), 0);
    zd_node *n = zd_graph_node(g, reg);
    n->kind = ZD_NODE_FN;
    n->fn = strdup("mine");
    n = zd_graph_node(g, plug);
    n->kind = ZD_NODE_FN;
    n->fn = strdup("theirs");
    zd_graph_node(g, down)->shell = strdup("cat $ZDAG_DEP_PLUG");
    n = zd_graph_node(g, cmd);
    n->shell = strdup("true");
    n->version = version_of_cmd ? strdup(version_of_cmd) : NULL;
    assert_int_equal(zd_graph_add_dep(g, down, plug), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

/* Which of reg, plug, down, cmd differ between two codes (and cmd versions): e.g. "-pd-". */
static const char *code_changes(const zd_defhash_code *c0, const char *v0,
                                const zd_defhash_code *c1, const char *v1) {
    static char out[5];
    uint8_t h0[4][32], h1[4][32];
    zd_graph *g0 = code_graph(v0), *g1 = code_graph(v1);
    assert_int_equal(zd_defhash_compute_code(g0, c0, h0), 0);
    assert_int_equal(zd_defhash_compute_code(g1, c1, h1), 0);
    for (int i = 0; i < 4; i++)
        out[i] = memcmp(h0[i], h1[i], 32) ? "rpdc"[i] : '-';
    out[4] = '\0';
    zd_graph_free(&g0);
    zd_graph_free(&g1);
    return out;
}

static size_t first_plugin(void *ctx, const char *fn) {
    (void)ctx;
    assert_string_equal(fn, "theirs");
    return 1;
}

static size_t too_many(void *ctx, const char *fn) {
    (void)ctx;
    (void)fn;
    return 99;
}

static void test_defhash_code_identity(void **state) {
    (void)state;
    static const char *const registered[] = {"mine"};
    uint8_t prog_a[32], prog_b[32], plugs_a[64], plugs_b[64];
    memset(prog_a, 1, 32);
    memset(prog_b, 2, 32);
    memset(plugs_a, 3, 64);
    memcpy(plugs_b, plugs_a, 64);
    plugs_b[40] = 4; /* the second plugin changed */
    zd_defhash_code a = {.program = prog_a,
                         .registered = registered,
                         .n_registered = 1,
                         .plugins = plugs_a,
                         .n_plugins = 2};
    zd_defhash_code b = a;
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "----");
    b.program = prog_b; /* the program rebuilt: its registered functions only */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "r---");
    b = a;
    b.plugins = plugs_b; /* a plugin rebuilt: plugin functions and their dependents */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "-pd-");
    b = a;
    b.n_plugins = 1; /* a plugin fewer */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "-pd-");
    b = a;
    b.n_registered = 0; /* "mine" now comes from a plugin */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "r---");
    b = a;
    b.program = NULL; /* unknown program: hashed as zeros, still differs from a known one */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "r---");
    /* "theirs" is exported by the first plugin: the second one no longer counts. */
    b = a;
    b.plugins_for = first_plugin;
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "-pd-"); /* a prefix of one plugin */
    zd_defhash_code c = b;
    c.plugins = plugs_b;
    assert_string_equal(code_changes(&b, NULL, &c, NULL), "----");
    plugs_b[3] = 9; /* now the first plugin changes too */
    assert_string_equal(code_changes(&b, NULL, &c, NULL), "-pd-");
    plugs_b[3] = plugs_a[3];
    b.plugins_for = too_many; /* capped at n_plugins: as without a callback */
    assert_string_equal(code_changes(&a, NULL, &b, NULL), "----");
    /* Without code, function nodes are hashed by name: the hash before code identities. */
    assert_string_equal(code_changes(&a, NULL, NULL, NULL), "rpd-");
    uint8_t h0[4][32], h1[4][32];
    zd_graph *g = code_graph(NULL);
    assert_int_equal(zd_defhash_compute(g, h0), 0);
    assert_int_equal(zd_defhash_compute_code(g, NULL, h1), 0);
    assert_memory_equal(h0, h1, sizeof h0);
    zd_graph_free(&g);
    /* `version`: absent, "1", "2" and "" all differ; a command's hash without one is as
     * before (no re-run after an upgrade). */
    assert_string_equal(code_changes(&a, NULL, &a, "1"), "---c");
    assert_string_equal(code_changes(&a, "1", &a, "2"), "---c");
    assert_string_equal(code_changes(&a, "1", &a, "1"), "----");
    assert_string_equal(code_changes(&a, NULL, &a, ""), "---c");
}

static void test_defhash_needs_finished_graph(void **state) {
    (void)state;
    zd_graph *g = zd_graph_new();
    uint32_t i;
    uint8_t h[1][32];
    assert_int_equal(zd_graph_add_node(g, "n", &i), 0);
    assert_int_equal(zd_defhash_compute(g, h), ZDAG_EINVAL);
    zd_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_defhash_pinned_values),
        cmocka_unit_test(test_defhash_deterministic_and_distinct),
        cmocka_unit_test(test_defhash_changes_propagate),
        cmocka_unit_test(test_defhash_ignores_scheduling),
        cmocka_unit_test(test_defhash_normalisation),
        cmocka_unit_test(test_defhash_no_ambiguity),
        cmocka_unit_test(test_defhash_code_identity),
        cmocka_unit_test(test_defhash_needs_finished_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
