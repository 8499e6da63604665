/* Tests of lib/dag.c, libzdag's public API: misuse returns errors (with the details
 * zdag_dag_error() gives), and real runs of function and command nodes on forked executors:
 * results along the edges in both directions, args, failures, retries, the result size limit,
 * a crashing function and a function past its timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "zdag.h"

/* Each test's private state directory. */
typedef struct fixture {
    char dir[64]; /* mkdtemp'ed under /tmp, removed by the teardown */
} fixture;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/zdag-test-dag-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- Functions the runs call. They run in executors: they report problems with
 * zdag_call_fail(), never with cmocka's asserts. ---- */

static int fn_one(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_int(out, 41);
}

/* The result of dep "one", plus 1. */
static int fn_inc(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *o = zdag_call_dep(call, "one");
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        zdag_call_fail(call, "dep \"one\" is not a positive integer");
        return 1;
    }
    if (zdag_call_dep(call, "not-a-dep") != NULL || zdag_call_dep(call, NULL) != NULL) {
        zdag_call_fail(call, "a dep that is not one was found");
        return 1;
    }
    return msgpack_pack_uint64(out, o->via.u64 + 1);
}

/* {"x": 1, "s": "hi", "l": [true, null]} */
static int fn_map(zdag_call *call, msgpack_packer *out) {
    (void)call;
    msgpack_pack_map(out, 3);
    msgpack_pack_str_with_body(out, "x", 1);
    msgpack_pack_int(out, 1);
    msgpack_pack_str_with_body(out, "s", 1);
    msgpack_pack_str_with_body(out, "hi", 2);
    msgpack_pack_str_with_body(out, "l", 1);
    msgpack_pack_array(out, 2);
    msgpack_pack_true(out);
    return msgpack_pack_nil(out);
}

/* "got:" followed by the string result of dep "text". */
static int fn_got_text(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *o = zdag_call_dep(call, "text");
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        zdag_call_fail(call, "dep \"text\" is not a string (type %d)", o ? (int)o->type : -1);
        return 1;
    }
    char buf[256];
    int n = snprintf(buf, sizeof buf, "got:%.*s", (int)o->via.str.size, o->via.str.ptr);
    return msgpack_pack_str_with_body(out, buf, (size_t)n);
}

/* Returns its args as they came, and its node name: [args, node]. */
static int fn_echo_args(zdag_call *call, msgpack_packer *out) {
    msgpack_pack_array(out, 2);
    msgpack_pack_object(out, *zdag_call_args(call));
    const char *node = zdag_call_node(call);
    return msgpack_pack_str_with_body(out, node, strlen(node));
}

static int fn_fail(zdag_call *call, msgpack_packer *out) {
    msgpack_pack_int(out, 1); /* packed, but the call fails: the value must be dropped */
    zdag_call_fail(call, "first message");
    zdag_call_fail(call, "bad input %d", 7);
    return 1;
}

/* Fails with a message of as many bytes as its args say ("e" repeated). */
static int fn_fail_long(zdag_call *call, msgpack_packer *out) {
    (void)out;
    const msgpack_object *a = zdag_call_args(call);
    int n = a->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)a->via.u64 : 0;
    zdag_call_fail(call, "%0*d", n, 0); /* n characters: "000...0" */
    return 1;
}

static int fn_fail_silently(zdag_call *call, msgpack_packer *out) {
    (void)call;
    (void)out;
    return 1;
}

static int fn_no_value(zdag_call *call, msgpack_packer *out) {
    (void)call;
    (void)out;
    return 0;
}

static int fn_two_values(zdag_call *call, msgpack_packer *out) {
    (void)call;
    msgpack_pack_int(out, 1);
    return msgpack_pack_int(out, 2);
}

/* Fails its first two attempts; then returns the attempt number. */
static int fn_third_time(zdag_call *call, msgpack_packer *out) {
    unsigned attempt = zdag_call_attempt(call);
    if (attempt < 3) {
        zdag_call_fail(call, "attempt %u failed", attempt);
        return 1;
    }
    return msgpack_pack_unsigned_int(out, attempt);
}

/* A string of args (an unsigned integer) 'x' characters. */
static int fn_string_of(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *args = zdag_call_args(call);
    if (args->type != MSGPACK_OBJECT_POSITIVE_INTEGER || args->via.u64 > 4096) {
        zdag_call_fail(call, "args must be a length");
        return 1;
    }
    char buf[4096];
    memset(buf, 'x', (size_t)args->via.u64);
    return msgpack_pack_str_with_body(out, buf, (size_t)args->via.u64);
}

/* Crashes its executor. The default action is restored first: under AddressSanitizer the
 * executor would otherwise catch the signal, print a report and exit with status 1. */
static int fn_crash(zdag_call *call, msgpack_packer *out) {
    (void)call;
    (void)out;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 1;
}

static int fn_sleep_5s(zdag_call *call, msgpack_packer *out) {
    (void)call;
    struct timespec t = {.tv_sec = 5};
    while (nanosleep(&t, &t) != 0)
        ;
    return msgpack_pack_nil(out);
}

/* ---- Helpers ---- */

static zdag_dag *new_dag(void) {
    zdag_dag *dag = zdag_dag_new();
    assert_non_null(dag);
    assert_string_equal(zdag_dag_error(dag), "");
    assert_int_equal(zdag_dag_register(dag, "one", fn_one), 0);
    assert_int_equal(zdag_dag_register(dag, "inc", fn_inc), 0);
    assert_int_equal(zdag_dag_register(dag, "map", fn_map), 0);
    assert_int_equal(zdag_dag_register(dag, "got_text", fn_got_text), 0);
    assert_int_equal(zdag_dag_register(dag, "echo_args", fn_echo_args), 0);
    assert_int_equal(zdag_dag_register(dag, "fail", fn_fail), 0);
    assert_int_equal(zdag_dag_register(dag, "fail_silently", fn_fail_silently), 0);
    assert_int_equal(zdag_dag_register(dag, "fail_long", fn_fail_long), 0);
    assert_int_equal(zdag_dag_register(dag, "no_value", fn_no_value), 0);
    assert_int_equal(zdag_dag_register(dag, "two_values", fn_two_values), 0);
    assert_int_equal(zdag_dag_register(dag, "third_time", fn_third_time), 0);
    assert_int_equal(zdag_dag_register(dag, "string_of", fn_string_of), 0);
    assert_int_equal(zdag_dag_register(dag, "crash", fn_crash), 0);
    assert_int_equal(zdag_dag_register(dag, "sleep_5s", fn_sleep_5s), 0);
    return dag;
}

static void init_opts(zdag_options *o, const fixture *f) {
    zdag_options_init(o);
    o->local_workers = 2;
    o->state_dir = f->dir;
    o->quiet = true;
}

/* Runs dag; the run must take place. Caller frees the result. */
static zdag_result *run(zdag_dag *dag, const zdag_options *o) {
    zdag_result *r = NULL;
    int rc = zdag_run(dag, o, &r);
    if (rc != 0)
        fail_msg("zdag_run: %s: %s", zdag_strerror(rc), zdag_dag_error(dag));
    assert_non_null(r);
    return r;
}

/* Asserts a node's status, attempts and error (NULL for none). */
static void assert_node(const zdag_result *r, const char *node, const char *status,
                        unsigned attempts, const char *error) {
    const char *got = zdag_node_status_name(zdag_result_status(r, node));
    if (zdag_result_status(r, node) == ZDAG_NODE_UNKNOWN)
        fail_msg("no node \"%s\" in the result", node);
    if (strcmp(got, status) != 0)
        fail_msg("node \"%s\" is %s, not %s (%s)", node, got, status,
                 zdag_result_error(r, node) ? zdag_result_error(r, node) : "no error");
    assert_int_equal(zdag_result_attempts(r, node), attempts);
    if (error)
        assert_string_equal(zdag_result_error(r, node), error);
    else
        assert_null(zdag_result_error(r, node));
}

/* Asserts a function node's result is exactly the packed bytes want[0..len). */
static void assert_packed(const zdag_result *r, const char *node, const char *want, size_t len) {
    const char *data = NULL;
    size_t got = 0;
    bool is_msgpack = false;
    assert_int_equal(zdag_result_value(r, node, &data, &got, &is_msgpack), 0);
    assert_true(is_msgpack);
    assert_int_equal(got, len);
    assert_memory_equal(data, want, len);
}

/* Asserts a command node's stdout. */
static void assert_stdout(const zdag_result *r, const char *node, const char *want) {
    const char *data = NULL;
    size_t len = 0;
    bool is_msgpack = true;
    assert_int_equal(zdag_result_value(r, node, &data, &len, &is_msgpack), 0);
    assert_false(is_msgpack);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
}

/* Asserts a function node returned the string want. */
static void assert_str_result(const zdag_result *r, const char *node, const char *want) {
    msgpack_zone zone;
    msgpack_object obj;
    assert_true(msgpack_zone_init(&zone, 256));
    assert_int_equal(zdag_result_object(r, node, &zone, &obj), 0);
    assert_int_equal(obj.type, MSGPACK_OBJECT_STR);
    assert_int_equal(obj.via.str.size, strlen(want));
    assert_memory_equal(obj.via.str.ptr, want, strlen(want));
    msgpack_zone_destroy(&zone);
}

/* ---- Misuse ---- */

static void test_version_and_errors(void **state) {
    (void)state;
    assert_int_equal(zdag_version(), ZDAG_VERSION_HEX);
    assert_int_equal(ZDAG_VERSION_HEX, 0x000200);
    assert_string_equal(zdag_version_string(), ZDAG_VERSION_STRING);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ZDAG_VERSION_MAJOR, ZDAG_VERSION_MINOR,
             ZDAG_VERSION_PATCH);
    assert_string_equal(zdag_version_string(), want);
    assert_int_equal(zdag_version() >> 16, ZDAG_VERSION_MAJOR);
    assert_int_equal((zdag_version() >> 8) & 0xff, ZDAG_VERSION_MINOR);
    assert_int_equal(zdag_version() & 0xff, ZDAG_VERSION_PATCH);
    assert_string_equal(zdag_strerror(0), "success");
    assert_string_equal(zdag_strerror(ZDAG_ECYCLE), "dependency cycle");
    assert_string_equal(zdag_strerror(ZDAG_EEXIST), "already exists");
    assert_string_equal(zdag_strerror(ZDAG_EINTR), "interrupted");
    assert_non_null(zdag_strerror(-1000));
    assert_non_null(zdag_strerror(5));
}

static void test_null_arguments(void **state) {
    (void)state;
    zdag_dag *dag = zdag_dag_new();
    assert_non_null(dag);
    const char *argv[] = {"true", NULL}, *no_argv[] = {NULL};
    const char one = 1;

    zdag_dag_free(NULL);
    assert_string_equal(zdag_dag_error(NULL), "");
    assert_int_equal(zdag_dag_register(NULL, "f", fn_one), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_register(dag, NULL, fn_one), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_register(dag, "", fn_one), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_register(dag, "f", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_plugin(NULL, "x.so"), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_plugin(dag, NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_plugin(dag, ""), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_fn(NULL, "a", "f"), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_fn(dag, NULL, "f"), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_fn(dag, "a", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_fn(dag, "a", ""), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_cmd(NULL, "a", "true"), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_cmd(dag, NULL, "true"), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_cmd(dag, "a", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_argv(NULL, "a", argv), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_argv(dag, NULL, argv), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_argv(dag, "a", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_argv(dag, "a", no_argv), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_pool(NULL, "p", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_dag_add_pool(dag, NULL, 1), ZDAG_EINVAL);

    /* None of the above added anything: "a" and "f" are still free. */
    assert_int_equal(zdag_dag_register(dag, "f", fn_one), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "a", "f"), 0);
    assert_int_equal(zdag_dag_add_pool(dag, "p", 1), 0);

    assert_int_equal(zdag_node_add_dep(NULL, "a", "a"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_priority(NULL, "a", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_sequential(NULL, "a", true), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_pool(NULL, "a", "p"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_cpus(NULL, "a", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_resource(NULL, "a", "gpu", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_retries(NULL, "a", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_timeout(NULL, "a", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_estimate(NULL, "a", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(NULL, "a", "K", "v"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(NULL, "a", &one, 1), ZDAG_EINVAL);

    /* A NULL node name is invalid. */
    assert_int_equal(zdag_node_add_dep(dag, NULL, "a"), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "a node name is required (got NULL)");
    assert_int_equal(zdag_node_add_dep(dag, "a", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_priority(dag, NULL, 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, NULL, &one, 1), ZDAG_EINVAL);

    assert_int_equal(zdag_node_set_pool(dag, "a", NULL), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "a pool name is required (got NULL)");
    assert_int_equal(zdag_node_set_resource(dag, "a", NULL, 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_resource(dag, "a", "", 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(dag, "a", NULL, "v"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(dag, "a", "K", NULL), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(dag, "a", "", "v"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", NULL, 1), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "args must be exactly one packed msgpack value");

    zdag_result *r = NULL;
    assert_int_equal(zdag_run(NULL, NULL, &r), ZDAG_EINVAL);
    assert_null(r);
    assert_int_equal(zdag_run(dag, NULL, NULL), ZDAG_EINVAL);

    /* The result accessors accept NULL. */
    const char *data = "untouched";
    size_t len = 0;
    msgpack_zone zone;
    msgpack_object obj;
    assert_true(msgpack_zone_init(&zone, 64));
    assert_int_equal(zdag_result_exit_code(NULL), -1);
    assert_int_equal(zdag_result_status(NULL, "a"), ZDAG_NODE_UNKNOWN);
    assert_int_equal(zdag_result_count(NULL), 0);
    assert_null(zdag_result_node(NULL, 0));
    assert_null(zdag_result_error(NULL, "a"));
    assert_int_equal(zdag_result_attempts(NULL, "a"), 0);
    assert_int_equal(zdag_result_value(NULL, "a", &data, &len, NULL), ZDAG_ENOENT);
    assert_string_equal(data, "untouched");
    assert_int_equal(zdag_result_object(NULL, "a", &zone, &obj), ZDAG_ENOENT);
    msgpack_zone_destroy(&zone);
    zdag_result_free(NULL);
    zdag_result *none = NULL;
    zdag_result_free(&none);
    assert_null(none);

    /* So do the call accessors (a function is only ever given a real call). */
    assert_null(zdag_call_node(NULL));
    assert_int_equal(zdag_call_attempt(NULL), 0);
    assert_null(zdag_call_args(NULL));
    assert_null(zdag_call_dep(NULL, "a"));
    zdag_call_fail(NULL, "nothing %d", 1);

    zdag_dag_free(&dag);
    assert_null(dag);
    zdag_dag_free(&dag);
}

static void test_invalid_names(void **state) {
    (void)state;
    zdag_dag *dag = new_dag();
    static const char *const bad[] = {"", "1abc", "-a", ".a", "a b", "a/b", "a$", "é", "a\n"};
    const char *argv[] = {"true", NULL};
    char want[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(zdag_dag_add_fn(dag, bad[i], "one"), ZDAG_EINVAL);
        snprintf(want, sizeof want, "\"%s\" is not a valid node name", bad[i]);
        assert_string_equal(zdag_dag_error(dag), want);
        assert_int_equal(zdag_dag_add_cmd(dag, bad[i], "true"), ZDAG_EINVAL);
        assert_int_equal(zdag_dag_add_argv(dag, bad[i], argv), ZDAG_EINVAL);
        assert_int_equal(zdag_dag_add_pool(dag, bad[i], 1), ZDAG_EINVAL);
    }
    static const char *const good[] = {"a", "_", "A.b-c_9", "x1", "Z-"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(zdag_dag_add_fn(dag, good[i], "one"), 0);
    zdag_dag_free(&dag);
}

static void test_duplicates(void **state) {
    (void)state;
    zdag_dag *dag = new_dag();
    const char *argv[] = {"true", NULL};
    assert_int_equal(zdag_dag_register(dag, "one", fn_inc), ZDAG_EEXIST);
    assert_string_equal(zdag_dag_error(dag), "a function named \"one\" is registered already");
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "a", "inc"), ZDAG_EEXIST);
    assert_string_equal(zdag_dag_error(dag), "a node named \"a\" exists already");
    assert_int_equal(zdag_dag_add_cmd(dag, "a", "true"), ZDAG_EEXIST);
    assert_int_equal(zdag_dag_add_argv(dag, "a", argv), ZDAG_EEXIST);
    assert_int_equal(zdag_dag_add_pool(dag, "p", 2), 0);
    assert_int_equal(zdag_dag_add_pool(dag, "p", 3), ZDAG_EEXIST);
    assert_string_equal(zdag_dag_error(dag), "a pool named \"p\" exists already");
    assert_int_equal(zdag_dag_add_pool(dag, "q", 0), ZDAG_EINVAL);
    zdag_dag_free(&dag);
}

static void test_unknown_names_and_bad_settings(void **state) {
    (void)state;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    assert_int_equal(zdag_dag_add_cmd(dag, "b", "true"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "a", "nope"), ZDAG_ENOENT);
    assert_string_equal(zdag_dag_error(dag), "no node named \"nope\"");
    assert_int_equal(zdag_node_add_dep(dag, "nope", "a"), ZDAG_ENOENT);
    assert_string_equal(zdag_dag_error(dag), "no node named \"nope\"");
    assert_int_equal(zdag_node_set_priority(dag, "c", 1), ZDAG_ENOENT);
    assert_int_equal(zdag_node_set_timeout(dag, "c", 1), ZDAG_ENOENT);
    assert_int_equal(zdag_node_set_pool(dag, "a", "nopool"), ZDAG_ENOENT);
    assert_string_equal(zdag_dag_error(dag), "no pool named \"nopool\"");

    assert_int_equal(zdag_node_add_dep(dag, "a", "a"), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "node \"a\" cannot depend on itself");
    assert_int_equal(zdag_node_add_dep(dag, "b", "a"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "b", "a"), 0); /* twice is once */

    assert_int_equal(zdag_node_set_cpus(dag, "a", -1), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "cpus must be a number >= 0");
    assert_int_equal(zdag_node_set_cpus(dag, "a", NAN), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_cpus(dag, "a", 0), 0);
    assert_int_equal(zdag_node_set_retries(dag, "a", -1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_timeout(dag, "a", 0), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_timeout(dag, "a", NAN), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_estimate(dag, "a", -0.5), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_resource(dag, "a", "gpu", -1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(dag, "a", "K=V", "v"), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_env(dag, "a", "K", "v=w"), 0);
    zdag_dag_free(&dag);
}

static void test_bad_args(void **state) {
    (void)state;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "echo_args"), 0);
    static const char two_values[] = {0x01, 0x02};
    static const char array_short[] = {(char)0x92, 0x01};   /* [1, ...] missing an element */
    static const char str_short[] = {(char)0xa3, 'a', 'b'}; /* a 3-byte string with 2 */
    static const char map_short[] = {(char)0x81, 0x01};     /* {1: ...} */
    static const char never[] = {(char)0xc1};               /* the never-used byte */
    static const char one_value[] = {(char)0x92, 0x01, (char)0xa1, 'z'}; /* [1, "z"] */
    assert_int_equal(zdag_node_set_args(dag, "a", two_values, sizeof two_values), ZDAG_EINVAL);
    assert_string_equal(zdag_dag_error(dag), "args must be exactly one packed msgpack value");
    assert_int_equal(zdag_node_set_args(dag, "a", array_short, sizeof array_short), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", str_short, sizeof str_short), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", map_short, sizeof map_short), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", never, sizeof never), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", one_value, 0), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", one_value, sizeof one_value - 1), ZDAG_EINVAL);
    assert_int_equal(zdag_node_set_args(dag, "a", one_value, sizeof one_value), 0);
    assert_int_equal(zdag_node_set_args(dag, "nope", one_value, sizeof one_value), ZDAG_ENOENT);
    zdag_dag_free(&dag);
}

/* A cycle is found by zdag_run(), which then neither runs nor touches the state directory. */
static void test_cycle(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    char dir[sizeof f->dir + 8];
    snprintf(dir, sizeof dir, "%s/state", f->dir);
    o.state_dir = dir;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "b", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "c", "one"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "a", "b"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "b", "a"), 0);
    zdag_result *r = (zdag_result *)dag; /* any non-NULL value: it must be reset */
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_ECYCLE);
    assert_null(r);
    assert_int_equal(strncmp(zdag_dag_error(dag), "cycle: ", 7), 0);
    assert_int_equal(access(dir, F_OK), -1);
    zdag_dag_free(&dag);
}

/* The cycle is named from the node declared first, in the order its nodes would have to run,
 * as `zdag check` names a pipeline's (tests/common/test_pipeline.c, test_cycle). */
static void test_cycle_text(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "b", "one"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "a", "b"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "b", "a"), 0);
    zdag_result *r = NULL;
    char got[128];
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_ECYCLE);
    snprintf(got, sizeof got, "%s", zdag_dag_error(dag));
    zdag_dag_free(&dag); /* before the assert: a failure leaks nothing */
    assert_string_equal(got, "cycle: a -> b -> a");

    /* x -> b, a -> c, b -> a, c -> b (node -> dep): the search starts at x, outside the cycle. */
    dag = new_dag();
    static const char *const names[] = {"x", "a", "b", "c"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(zdag_dag_add_fn(dag, names[i], "one"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "x", "b"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "a", "c"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "b", "a"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "c", "b"), 0);
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_ECYCLE);
    snprintf(got, sizeof got, "%s", zdag_dag_error(dag));
    zdag_dag_free(&dag);
    assert_string_equal(got, "cycle: a -> b -> c -> a");
}

static void test_unregistered_function(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "b", "no_such_fn"), 0);
    zdag_result *r = NULL;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_ENOENT);
    assert_null(r);
    assert_string_equal(zdag_dag_error(dag),
                        "node \"b\" calls \"no_such_fn\", which is not registered");
    zdag_dag_free(&dag);
}

static void test_bad_options(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.priority = "fastest";
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    zdag_result *r = NULL;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_null(r);
    assert_string_equal(zdag_dag_error(dag), "unknown priority mode \"fastest\"");

    /* A node needing more CPUs than the host has cannot run here. */
    o.priority = "user";
    o.cpus = 2;
    assert_int_equal(zdag_node_set_cpus(dag, "a", 3), 0);
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_null(r);
    assert_string_equal(zdag_dag_error(dag), "a node needs more than this host offers");
    zdag_dag_free(&dag);
}

/* ---- Options, identity, versions, results as a list ---- */

/* A program compiled against a newer header passes a bigger zdag_options. */
typedef struct newer_options {
    zdag_options known; /* this library's layout */
    int64_t future[2];  /* fields it does not know of */
} newer_options;

static void test_options_grow(void **state) {
    fixture *f = *state;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    zdag_result *r = NULL;

    zdag_options o;
    memset(&o, 0, sizeof o); /* not set up with zdag_options_init() */
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_null(r);
    assert_non_null(strstr(zdag_dag_error(dag), "zdag_options_init()"));
    init_opts(&o, f);
    assert_int_equal(o.size, sizeof o);
    o.size = offsetof(zdag_options, name); /* shorter than any layout */
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);

    newer_options n;
    zdag_options_init_size(&n.known, sizeof n);
    assert_int_equal(n.known.size, sizeof n);
    assert_int_equal(n.future[0], 0);
    assert_int_equal(n.future[1], 0);
    n.known.local_workers = 1;
    n.known.state_dir = f->dir;
    n.known.quiet = true;
    r = run(dag, &n.known); /* unknown fields left at zero: fine */
    assert_node(r, "one", "succeeded", 1, NULL);
    zdag_result_free(&r);
    n.future[1] = 7;
    assert_int_equal(zdag_run(dag, &n.known, &r), ZDAG_EUNSUPPORTED);
    assert_null(r);
    assert_non_null(strstr(zdag_dag_error(dag), "unknown to libzdag"));
    zdag_options_init_size(NULL, sizeof o); /* no crash */
    zdag_dag_free(&dag);
}

/* listen (remote workers): tcp needs keys or insecure; no local executors needs listen; a
 * program compiled before the listen fields (a size up to `name`) runs as before. */
static void test_listen_options(void **state) {
    fixture *f = *state;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    zdag_result *r = NULL;
    zdag_options o;
    init_opts(&o, f);
    o.listen = "tcp://127.0.0.1:1";
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_non_null(strstr(zdag_dag_error(dag), "needs curve_secret and authorized_keys"));
    o.curve_secret = "/nonexistent/coord.key";
    o.authorized_keys = f->dir;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_non_null(strstr(zdag_dag_error(dag), "/nonexistent/coord.key"));
    init_opts(&o, f);
    o.local_workers = -1;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_non_null(strstr(zdag_dag_error(dag), "needs listen"));
    assert_null(r);
    init_opts(&o, f);
    o.size = offsetof(zdag_options, name) + sizeof o.name;
    o.listen = "tcp://127.0.0.1:1"; /* beyond that size: never read */
    r = run(dag, &o);
    assert_node(r, "one", "succeeded", 1, NULL);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_status_enum_and_iteration(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "bad", "fail"), 0);
    assert_int_equal(zdag_dag_add_cmd(dag, "after", "true"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "after", "bad"), 0);
    zdag_result *r = run(dag, &o);
    static const char *const names[] = {"one", "bad", "after"};
    static const zdag_node_status want[] = {ZDAG_NODE_SUCCEEDED, ZDAG_NODE_FAILED,
                                            ZDAG_NODE_SKIPPED};
    assert_int_equal(zdag_result_count(r), 3);
    for (size_t i = 0; i < zdag_result_count(r); i++) {
        assert_string_equal(zdag_result_node(r, i), names[i]);
        assert_int_equal(zdag_result_status(r, zdag_result_node(r, i)), want[i]);
    }
    assert_null(zdag_result_node(r, 3));
    assert_null(zdag_result_node(r, SIZE_MAX));
    zdag_result_free(&r);

    /* Resumed: what succeeded is cached, the rest runs again. */
    o.resume = true;
    r = run(dag, &o);
    assert_int_equal(zdag_result_status(r, "one"), ZDAG_NODE_CACHED);
    assert_int_equal(zdag_result_status(r, "bad"), ZDAG_NODE_FAILED);
    assert_packed(r, "one", "\x29", 1); /* the restored result */
    zdag_result_free(&r);
    zdag_dag_free(&dag);

    assert_string_equal(zdag_node_status_name(ZDAG_NODE_SUCCEEDED), "succeeded");
    assert_string_equal(zdag_node_status_name(ZDAG_NODE_FAILED), "failed");
    assert_string_equal(zdag_node_status_name(ZDAG_NODE_SKIPPED), "skipped");
    assert_string_equal(zdag_node_status_name(ZDAG_NODE_CACHED), "cached");
    assert_string_equal(zdag_node_status_name(ZDAG_NODE_EXCLUDED), "excluded");
    assert_string_equal(zdag_node_status_name(ZDAG_NODE_UNKNOWN), "unknown");
    assert_string_equal(zdag_node_status_name((zdag_node_status)99), "unknown");
}

/* Each thread looks every node up by name, all at once: the first lookups make the result's
 * name index once, and every answer is right. */
static void *look_up_all(void *arg) {
    const zdag_result *r = arg;
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "n%d", i);
        if (zdag_result_status(r, name) != ZDAG_NODE_SUCCEEDED ||
            zdag_result_attempts(r, name) != 1 ||
            zdag_result_status(r, "none") != ZDAG_NODE_UNKNOWN)
            return (void *)1;
    }
    return NULL;
}

static void test_result_lookups_from_threads(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(zdag_dag_add_fn(dag, name, "one"), 0);
    }
    zdag_result *r = run(dag, &o);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, look_up_all, r), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
    assert_string_equal(zdag_result_node(r, 199), "n199");
    assert_packed(r, "n7", "\x29", 1);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* Runs a one-node DAG (fn "one") with resume under identity `name` (NULL: the default);
 * returns the node's status. */
static zdag_node_status resume_as(const fixture *f, const char *name, const char *version) {
    zdag_options o;
    init_opts(&o, f);
    o.resume = true;
    o.name = name;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "n", "one"), 0);
    assert_int_equal(zdag_node_set_version(dag, "n", version), 0);
    zdag_result *r = run(dag, &o);
    zdag_node_status st = zdag_result_status(r, "n");
    zdag_result_free(&r);
    zdag_dag_free(&dag);
    return st;
}

static void test_programs_keep_separate_journals(void **state) {
    fixture *f = *state;
    assert_int_equal(resume_as(f, "alpha", NULL), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, "alpha", NULL), ZDAG_NODE_CACHED);
    /* Another program in the same state directory restores nothing of alpha's. */
    assert_int_equal(resume_as(f, "beta", NULL), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, NULL, NULL), ZDAG_NODE_SUCCEEDED); /* "test_dag" */
    assert_int_equal(resume_as(f, NULL, NULL), ZDAG_NODE_CACHED);
    assert_int_equal(resume_as(f, "test_dag", NULL), ZDAG_NODE_CACHED); /* the same name */
    assert_int_equal(resume_as(f, "beta", NULL), ZDAG_NODE_CACHED);

    /* The report names the run as the journal does. */
    zdag_options o;
    init_opts(&o, f);
    char report[128];
    snprintf(report, sizeof report, "%s/report.json", f->dir);
    o.report_path = report;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "n", "one"), 0);
    static const char *const names[] = {"alpha", NULL}, *const want[] = {"alpha", "test_dag"};
    for (size_t i = 0; i < 2; i++) {
        o.name = names[i];
        zdag_result *done = run(dag, &o);
        zdag_result_free(&done);
        json_t *j = json_load_file(report, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "pipeline")), want[i]);
        json_decref(j);
    }
    o.report_path = NULL;
    zdag_result *r = NULL;
    static const char *const bad[] = {"", "a/b", NULL};
    for (size_t i = 0; bad[i]; i++) {
        o.name = bad[i];
        assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
        assert_non_null(strstr(zdag_dag_error(dag), "zdag_options.name"));
    }
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o.name = longname;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    zdag_dag_free(&dag);
}

static void test_version_reruns_a_node(void **state) {
    fixture *f = *state;
    assert_int_equal(resume_as(f, "v", NULL), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, "v", "1"), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, "v", "1"), ZDAG_NODE_CACHED);
    assert_int_equal(resume_as(f, "v", "2"), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, "v", NULL), ZDAG_NODE_SUCCEEDED);
    assert_int_equal(resume_as(f, "v", NULL), ZDAG_NODE_CACHED);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_node_set_version(dag, "nope", "1"), ZDAG_ENOENT);
    assert_int_equal(zdag_node_set_version(NULL, "nope", "1"), ZDAG_EINVAL);
    zdag_dag_free(&dag);
}

/* ---- Runs ---- */

static void test_fn_to_fn(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "two", "inc"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "two", "one"), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 0);
    assert_node(r, "one", "succeeded", 1, NULL);
    assert_node(r, "two", "succeeded", 1, NULL);
    assert_packed(r, "one", "\x29", 1);
    assert_packed(r, "two", "\x2a", 1);

    msgpack_zone zone;
    msgpack_object obj;
    assert_true(msgpack_zone_init(&zone, 64));
    assert_int_equal(zdag_result_object(r, "two", &zone, &obj), 0);
    assert_int_equal(obj.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(obj.via.u64, 42);
    assert_int_equal(zdag_result_object(r, "nope", &zone, &obj), ZDAG_ENOENT);
    msgpack_zone_destroy(&zone);

    const char *data;
    size_t len;
    assert_int_equal(zdag_result_value(r, "two", &data, &len, NULL), 0); /* is_msgpack optional */
    assert_int_equal(zdag_result_value(r, "nope", &data, &len, NULL), ZDAG_ENOENT);
    assert_int_equal(zdag_result_status(r, "nope"), ZDAG_NODE_UNKNOWN);
    assert_int_equal(zdag_result_status(r, NULL), ZDAG_NODE_UNKNOWN);
    assert_int_equal(zdag_result_attempts(r, "nope"), 0);
    zdag_result_free(&r);
    assert_null(r);

    /* The same DAG runs again. */
    r = run(dag, &o);
    assert_packed(r, "two", "\x2a", 1);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* A command gets a function's result as JSON, in a file named by $ZDAG_DEP_<NAME>. */
static void test_fn_to_cmd(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "my-map.v1", "map"), 0);
    assert_int_equal(zdag_dag_add_cmd(dag, "show", "cat \"$ZDAG_DEP_MY_MAP_V1\""), 0);
    assert_int_equal(zdag_node_add_dep(dag, "show", "my-map.v1"), 0);
    const char *argv[] = {"printf", "%s|%s", "$ZDAG_NODE", "a b", NULL};
    assert_int_equal(zdag_dag_add_argv(dag, "argv", argv), 0);
    assert_int_equal(zdag_dag_add_cmd(dag, "env", "printf '%s %s' \"$ZDAG_NODE\" \"$K\""), 0);
    assert_int_equal(zdag_node_set_env(dag, "env", "K", "v=w"), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 0);
    assert_node(r, "show", "succeeded", 1, NULL);
    assert_stdout(r, "show", "{\"x\":1,\"s\":\"hi\",\"l\":[true,null]}");
    assert_stdout(r, "argv", "$ZDAG_NODE|a b"); /* no shell: no expansion */
    assert_stdout(r, "env", "env v=w");
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* A function gets a command's stdout as a msgpack string. */
static void test_cmd_to_fn(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_cmd(dag, "text", "printf 'hello\\nworld'"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "got", "got_text"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "got", "text"), 0);
    zdag_result *r = run(dag, &o);
    assert_node(r, "text", "succeeded", 1, NULL);
    assert_node(r, "got", "succeeded", 1, NULL);
    assert_stdout(r, "text", "hello\nworld");
    assert_str_result(r, "got", "got:hello\nworld");

    /* zdag_result_object() gives a command's stdout as a string too. */
    msgpack_zone zone;
    msgpack_object obj;
    assert_true(msgpack_zone_init(&zone, 64));
    assert_int_equal(zdag_result_object(r, "text", &zone, &obj), 0);
    assert_int_equal(obj.type, MSGPACK_OBJECT_STR);
    assert_int_equal(obj.via.str.size, 11);
    assert_memory_equal(obj.via.str.ptr, "hello\nworld", 11);
    msgpack_zone_destroy(&zone);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_args_reach_the_function(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    zdag_dag *dag = new_dag();
    /* args {"n": -5, "name": "zed"} */
    static const char args[] = "\x82\xa1n\xfb\xa4name\xa3zed";
    assert_int_equal(zdag_dag_add_fn(dag, "with", "echo_args"), 0);
    assert_int_equal(zdag_node_set_args(dag, "with", args, sizeof args - 1), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "without", "echo_args"), 0);
    zdag_result *r = run(dag, &o);
    assert_node(r, "with", "succeeded", 1, NULL);
    /* [args, "with"] */
    char want[64] = {(char)0x92};
    memcpy(want + 1, args, sizeof args - 1);
    memcpy(want + sizeof args, "\xa4with", 5);
    assert_packed(r, "with", want, sizeof args + 5);
    assert_packed(r, "without", "\x92\xc0\xa7without", 10); /* [nil, "without"] */
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_failing_functions(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "fail", "fail"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "after", "one"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "after", "fail"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "silent", "fail_silently"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "no_value", "no_value"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "two_values", "two_values"), 0);
    assert_int_equal(zdag_dag_add_cmd(dag, "cmd", "exit 3"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "ok", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "long", "fail_long"), 0);
    assert_int_equal(zdag_node_set_args(dag, "long", "\xcd\x27\x10", 3), 0); /* 10000 */
    assert_int_equal(zdag_dag_add_fn(dag, "too_long", "fail_long"), 0);
    assert_int_equal(zdag_node_set_args(dag, "too_long", "\xcd\x9c\x40", 3), 0); /* 40000 */
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 1);
    assert_node(r, "fail", "failed", 1, "bad input 7");
    /* A long message is kept whole up to ZDAG_ERROR_MAX, then cut, saying so. */
    char want[ZDAG_ERROR_MAX];
    memset(want, '0', sizeof want);
    want[10000] = '\0';
    assert_node(r, "long", "failed", 1, want);
    memcpy(want + ZDAG_ERROR_MAX - sizeof ZDAG_ERROR_CUT, ZDAG_ERROR_CUT, sizeof ZDAG_ERROR_CUT);
    memset(want + 10000, '0', ZDAG_ERROR_MAX - sizeof ZDAG_ERROR_CUT - 10000);
    assert_node(r, "too_long", "failed", 1, want);
    assert_int_equal(zdag_result_status(r, "after"), ZDAG_NODE_SKIPPED);
    assert_int_equal(zdag_result_attempts(r, "after"), 0);
    assert_node(r, "silent", "failed", 1, "the function failed");
    assert_node(r, "no_value", "failed", 1, "the function returned no value");
    assert_node(r, "two_values", "failed", 1,
                "the function did not pack exactly one msgpack value");
    assert_node(r, "cmd", "failed", 1, "exited with status 3");
    assert_node(r, "ok", "succeeded", 1, NULL);
    const char *data;
    size_t len;
    assert_int_equal(zdag_result_value(r, "fail", &data, &len, NULL), ZDAG_ENOENT);
    assert_int_equal(zdag_result_value(r, "after", &data, &len, NULL), ZDAG_ENOENT);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_retries(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "enough", "third_time"), 0);
    assert_int_equal(zdag_node_set_retries(dag, "enough", 2), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "too_few", "third_time"), 0);
    assert_int_equal(zdag_node_set_retries(dag, "too_few", 1), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 1);
    assert_node(r, "enough", "succeeded", 3, NULL);
    assert_packed(r, "enough", "\x03", 1);
    assert_node(r, "too_few", "failed", 2, "attempt 2 failed");
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_result_too_large(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    o.max_result = 100;
    zdag_dag *dag = new_dag();
    static const char len98[] = {0x62}, len99[] = {0x63}; /* packed as 100 and 101 bytes */
    assert_int_equal(zdag_dag_add_fn(dag, "fits", "string_of"), 0);
    assert_int_equal(zdag_node_set_args(dag, "fits", len98, 1), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "big", "string_of"), 0);
    assert_int_equal(zdag_node_set_args(dag, "big", len99, 1), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 1);
    assert_node(r, "fits", "succeeded", 1, NULL);
    const char *data;
    size_t len;
    assert_int_equal(zdag_result_value(r, "fits", &data, &len, NULL), 0);
    assert_int_equal(len, 100);
    assert_node(r, "big", "failed", 1, "result is over max_result (100 bytes)");
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* A crash loses the executor, not the run: the node is tried on 3 executors, then fails. */
static void test_crashing_function(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "crash", "crash"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "after_crash", "one"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "after_crash", "crash"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "two", "inc"), 0);
    assert_int_equal(zdag_node_add_dep(dag, "two", "one"), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 1);
    assert_node(r, "crash", "failed", 3, "executor died: signal 11 (3 executors lost)");
    assert_int_equal(zdag_result_status(r, "after_crash"), ZDAG_NODE_SKIPPED);
    assert_node(r, "one", "succeeded", 1, NULL);
    assert_node(r, "two", "succeeded", 1, NULL);
    assert_packed(r, "two", "\x2a", 1);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

static void test_timeout(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.keep_going = true;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "slow", "sleep_5s"), 0);
    assert_int_equal(zdag_node_set_timeout(dag, "slow", 0.3), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "one", "one"), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    zdag_result *r = run(dag, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took < 4.0); /* the 5 s sleep was cut short */
    assert_int_equal(zdag_result_exit_code(r), 1);
    assert_node(r, "slow", "failed", 1, "timed out after 0.3 s");
    assert_node(r, "one", "succeeded", 1, NULL);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* ---- Messages and runs that cannot start. ---- */

typedef struct messages {
    char v[16][512]; /* messages received */
    zdag_log_level level[16];
    size_t n;
} messages;

static void keep_message(void *ctx, zdag_log_level level, const char *message) {
    messages *m = ctx;
    if (m->n < 16) {
        m->level[m->n] = level;
        snprintf(m->v[m->n++], sizeof m->v[0], "%s", message);
    }
}

/* The library prints nothing: the summary goes to the sink it is given. */
static void test_messages_go_to_the_log(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    o.quiet = false;
    messages m = {0};
    o.log = keep_message;
    o.log_ctx = &m;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    zdag_result *r = run(dag, &o);
    assert_int_equal(zdag_result_exit_code(r), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.level[0], ZDAG_LOG_INFO);
    assert_memory_equal(m.v[0], "succeeded: 1 succeeded, 0 failed, 0 skipped in ", 47);
    zdag_result_free(&r);
    zdag_dag_free(&dag);
}

/* Checks the report of a run that could not start. */
static void assert_error_report(const char *path, const char *why) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 3);
    assert_string_equal(json_string_value(json_object_get(j, "error")), why);
    json_t *nodes = json_object_get(j, "nodes");
    assert_int_equal(json_array_size(nodes), 1);
    json_t *n = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(n, "status")), "skipped");
    assert_int_equal(json_integer_value(json_object_get(n, "attempts")), 0);
    json_decref(j);
}

/* A state directory that cannot hold logs: ZDAG_ESTATE, the reason logged and reported. */
static void test_cannot_start_writes_the_report(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    char file[128], report[128], why[256];
    snprintf(file, sizeof file, "%s/not-a-dir", f->dir);
    snprintf(report, sizeof report, "%s/report.json", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    o.state_dir = file;
    o.report_path = report;
    messages m = {0};
    o.log = keep_message;
    o.log_ctx = &m;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    zdag_result *r = NULL;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_ESTATE);
    assert_null(r);
    snprintf(why, sizeof why, "the state directory %s is not a directory", file);
    assert_string_equal(zdag_dag_error(dag), why);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0], why);
    assert_error_report(report, why);
    zdag_dag_free(&dag);
}

/* ulimit -n 16 (hard too, so it cannot be raised): a clean ZDAG_ESYS and a report, no abort. */
static void test_too_few_descriptors(void **state) {
    fixture *f = *state;
    char report[128];
    snprintf(report, sizeof report, "%s/report.json", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {16, 16};
        zdag_options o;
        init_opts(&o, f);
        o.report_path = report;
        zdag_dag *dag = new_dag();
        zdag_result *r = NULL;
        int ok = setrlimit(RLIMIT_NOFILE, &rl) == 0 && zdag_dag_add_fn(dag, "a", "one") == 0 &&
                 zdag_run(dag, &o, &r) == ZDAG_ESYS && !r &&
                 strstr(zdag_dag_error(dag), "too few file descriptors: ulimit -n is 16, this "
                                             "run needs at least ");
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    json_error_t err;
    json_t *j = json_load_file(report, 0, &err);
    assert_non_null(j);
    const char *why = json_string_value(json_object_get(j, "error"));
    assert_non_null(why);
    assert_non_null(strstr(why, "too few file descriptors: ulimit -n is 16"));
    assert_error_report(report, why);
    json_decref(j);
}

/* An output path that cannot be written: ZDAG_EINVAL before any node starts (the report,
 * whose own path is fine, says why). */
static void test_bad_output_path_starts_nothing(void **state) {
    fixture *f = *state;
    zdag_options o;
    init_opts(&o, f);
    char marker[160], report[128], cmd[200];
    snprintf(marker, sizeof marker, "%s/ran", f->dir);
    snprintf(report, sizeof report, "%s/report.json", f->dir);
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    o.trace_path = "/nonexistent/trace.json";
    o.report_path = report;
    zdag_dag *dag = new_dag();
    assert_int_equal(zdag_dag_add_cmd(dag, "a", cmd), 0);
    zdag_result *r = NULL;
    assert_int_equal(zdag_run(dag, &o, &r), ZDAG_EINVAL);
    assert_null(r);
    const char *why = "cannot write the trace /nonexistent/trace.json: its directory "
                      "/nonexistent: No such file or directory";
    assert_string_equal(zdag_dag_error(dag), why);
    assert_int_equal(access(marker, F_OK), -1);
    json_error_t err;
    json_t *j = json_load_file(report, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error")), why);
    json_decref(j);
    zdag_dag_free(&dag);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_output_path_starts_nothing, setup, teardown),
        cmocka_unit_test(test_version_and_errors),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_unknown_names_and_bad_settings),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_enum_and_iteration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_lookups_from_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_programs_keep_separate_journals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_reruns_a_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fn_to_fn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fn_to_cmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_to_fn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_reach_the_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crashing_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_go_to_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_start_writes_the_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_few_descriptors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
