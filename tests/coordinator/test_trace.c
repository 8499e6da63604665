/* Trace recorder: the exact events written, rounding, invalid calls, the atomic write, and
 * 100k slices recorded and written quickly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"
#include "zdag.h"

/* test_text_exact: what the writer printed at main 88eefb6. */
#define GOLDEN                                                                                     \
    "{\"traceEvents\": [\n"                                                                        \
    "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 0, \"tid\": 0, \"args\": {\"name\": "    \
    "\"hostA\"}},\n"                                                                               \
    "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 2, \"tid\": 0, \"args\": {\"name\": "    \
    "\"h\\\"B\"}},\n"                                                                              \
    "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 0, \"tid\": 1, \"args\": {\"name\": "     \
    "\"executor 1\"}},\n"                                                                          \
    "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 2, \"tid\": 0, \"args\": {\"name\": "     \
    "\"executor 0\"}},\n"                                                                          \
    "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1000000, \"tid\": 0, \"args\": "         \
    "{\"name\": \"coordinator\"}},\n"                                                              \
    "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1000000, \"tid\": 0, \"args\": "          \
    "{\"name\": \"coordinator\"}},\n"                                                              \
    "{\"name\": \"n0\", \"ph\": \"X\", \"pid\": 0, \"tid\": 1, \"ts\": 0, \"dur\": 1250000, "      \
    "\"args\": {\"node\": \"n0\", \"attempt\": 1, \"status\": \"succeeded\", \"exit_code\": "      \
    "0}},\n"                                                                                       \
    "{\"name\": \"n\\t1\", \"ph\": \"X\", \"pid\": 2, \"tid\": 0, \"ts\": 2000000, \"dur\": "      \
    "1500000, \"args\": {\"node\": \"n\\t1\", \"attempt\": 2, \"status\": \"lost\", "              \
    "\"exit_code\": null}},\n"                                                                     \
    "{\"name\": \"n2\", \"ph\": \"X\", \"pid\": 0, \"tid\": 1, \"ts\": 4000000, \"dur\": 0, "      \
    "\"args\": {\"node\": \"n2\", \"attempt\": 1, \"status\": null, \"exit_code\": -9}},\n"        \
    "{\"name\": \"lease: pool db\", \"ph\": \"i\", \"s\": \"t\", \"pid\": 1000000, \"tid\": 0, "   \
    "\"ts\": 500000, \"args\": {\"detail\": \"n0\"}},\n"                                           \
    "{\"name\": \"tick\", \"ph\": \"i\", \"s\": \"t\", \"pid\": 2, \"tid\": 0, \"ts\": 7000000}\n" \
    "], \"displayTimeUnit\": \"ms\"}\n"

/* A temporary directory per test, removed with what is in it. */
typedef struct fixture {
    char dir[64];   /* the directory */
    char path[128]; /* dir/trace.json */
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/zd_trace_XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/trace.json", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
        if (e->d_name[0] != '.' && unlink(p) != 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* The names of the files in dir, sorted, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t size) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            if (out[0])
                strncat(out, " ", size - strlen(out) - 1);
            strncat(out, names[i]->d_name, size - strlen(out) - 1);
        }
        free(names[i]);
    }
    free(n >= 0 ? names : NULL);
}

/* Loads path, checks the top level and returns its traceEvents (a new reference). */
static json_t *load_events(const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("%s:%d: %s", path, err.line, err.text);
    assert_true(json_is_object(root));
    assert_int_equal(json_object_size(root), 2);
    assert_string_equal(json_string_value(json_object_get(root, "displayTimeUnit")), "ms");
    json_t *events = json_object_get(root, "traceEvents");
    assert_true(json_is_array(events));
    json_incref(events);
    json_decref(root);
    return events;
}

/* Asserts that got equals want exactly (same keys, same types: 1000 is not 1000.0). */
static void assert_event(json_t *got, json_t *want) {
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
        fail_msg("event\n  got  %s\n  want %s", g, w);
    }
    json_decref(want);
}

static json_t *meta(const char *what, int pid, int tid, const char *label) {
    return json_pack("{s:s, s:s, s:i, s:i, s:{s:s}}", "name", what, "ph", "M", "pid", pid, "tid",
                     tid, "args", "name", label);
}

static void test_events_exact(void **state) {
    fixture *fx = *state;
    zd_trace *t = zd_trace_new();
    assert_non_null(t);
    char host_a[] = "hostA";
    assert_int_equal(zd_trace_track(t, 0, host_a, 0), 0);
    host_a[0] = 'X'; /* the name was copied */
    assert_int_equal(zd_trace_track(t, 0, "hostA", 3), 0);
    assert_int_equal(zd_trace_track(t, 1, "hostB", 0), 0);
    assert_int_equal(zd_trace_track(t, 0, "hostA", 3), 0); /* again: no new metadata */
    assert_int_equal(zd_trace_track(t, 7, NULL, -1), 0);   /* the coordinator */
    assert_int_equal(zd_trace_track(t, 2,
                                    "h\xff"
                                    "c",
                                    1),
                     0); /* not UTF-8 */

    char node[] = "fetch";
    assert_int_equal(zd_trace_slice(t, 0, 3, node, 0.001, 1.004, 1, "succeeded", 0, true), 0);
    node[0] = 'X';
    assert_int_equal(zd_trace_slice(t, 1, 0, "parse", 1.5, 2.25, 2, "failed", 0, false), 0);
    assert_int_equal(zd_trace_slice(t, 1, 0, "parse", 2.5, 3.0, 3, NULL, -9, true), 0);
    assert_int_equal(zd_trace_instant(t, 5, -1, "lease: pool db", 2.0, "re\"po\\rt\n\t"), 0);
    assert_int_equal(zd_trace_instant(t, 0, -1, "sequential wait: train", 2.5, NULL), 0);
    assert_int_equal(zd_trace_instant(t, 0, 3, "lease: sequential", 0.25, "train"), 0);
    assert_int_equal(zd_trace_count(t), 6);
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    zd_trace_free(&t);
    assert_null(t);
    zd_trace_free(&t);
    zd_trace_free(NULL);

    json_t *ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 15);
    size_t i = 0;
    /* Processes in the order first named, then threads, then the coordinator's track. */
    assert_event(json_array_get(ev, i++), meta("process_name", 0, 0, "hostA"));
    assert_event(json_array_get(ev, i++), meta("process_name", 1, 0, "hostB"));
    assert_event(json_array_get(ev, i++), meta("process_name", 2, 0, "h?c"));
    assert_event(json_array_get(ev, i++), meta("thread_name", 0, 0, "executor 0"));
    assert_event(json_array_get(ev, i++), meta("thread_name", 0, 3, "executor 3"));
    assert_event(json_array_get(ev, i++), meta("thread_name", 1, 0, "executor 0"));
    assert_event(json_array_get(ev, i++), meta("thread_name", 2, 1, "executor 1"));
    assert_event(json_array_get(ev, i++), meta("process_name", 1000000, 0, "coordinator"));
    assert_event(json_array_get(ev, i++), meta("thread_name", 1000000, 0, "coordinator"));
    /* Then the events, in recording order; times in whole microseconds. */
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:{s:s, s:i, s:s, s:i}}", "name",
                           "fetch", "ph", "X", "pid", 0, "tid", 3, "ts", (json_int_t)1000, "dur",
                           (json_int_t)1003000, "args", "node", "fetch", "attempt", 1, "status",
                           "succeeded", "exit_code", 0));
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:{s:s, s:i, s:s, s:n}}", "name",
                           "parse", "ph", "X", "pid", 1, "tid", 0, "ts", (json_int_t)1500000, "dur",
                           (json_int_t)750000, "args", "node", "parse", "attempt", 2, "status",
                           "failed", "exit_code"));
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:{s:s, s:i, s:n, s:i}}", "name",
                           "parse", "ph", "X", "pid", 1, "tid", 0, "ts", (json_int_t)2500000, "dur",
                           (json_int_t)500000, "args", "node", "parse", "attempt", 3, "status",
                           "exit_code", -9));
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:{s:s}}", "name", "lease: pool db",
                           "ph", "i", "s", "t", "pid", 1000000, "tid", 0, "ts", (json_int_t)2000000,
                           "args", "detail", "re\"po\\rt\n\t"));
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:s, s:i, s:i, s:I}", "name", "sequential wait: train", "ph",
                           "i", "s", "t", "pid", 1000000, "tid", 0, "ts", (json_int_t)2500000));
    assert_event(json_array_get(ev, i++),
                 json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:{s:s}}", "name", "lease: sequential",
                           "ph", "i", "s", "t", "pid", 0, "tid", 3, "ts", (json_int_t)250000,
                           "args", "detail", "train"));
    json_decref(ev);
}

/* Rounding to microseconds keeps back-to-back slices back to back: ts + dur of one is the ts
 * of the next. An empty trace is a valid file; the coordinator's track is named by use. */
static void test_rounding_and_empty(void **state) {
    fixture *fx = *state;
    zd_trace *t = zd_trace_new();
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    json_t *ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);

    assert_int_equal(zd_trace_slice(t, 0, 0, "a", 0.1234567, 0.2345678, 1, "ok", 0, true), 0);
    assert_int_equal(zd_trace_slice(t, 0, 0, "b", 0.2345678, 0.2345678, 1, "ok", 0, true), 0);
    assert_int_equal(zd_trace_slice(t, 0, -1, "c", 4e-7, 1.6e-6, 1, "ok", 0, true), 0);
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    zd_trace_free(&t);
    ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "name")),
                        "process_name");
    json_t *a = json_array_get(ev, 2), *b = json_array_get(ev, 3), *c = json_array_get(ev, 4);
    assert_int_equal(json_integer_value(json_object_get(a, "ts")), 123457);
    assert_int_equal(json_integer_value(json_object_get(a, "dur")), 111111);
    assert_int_equal(json_integer_value(json_object_get(b, "ts")), 234568);
    assert_int_equal(json_integer_value(json_object_get(b, "dur")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "ts")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "dur")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "pid")), 1000000);
    json_decref(ev);
}

static void test_invalid(void **state) {
    fixture *fx = *state;
    zd_trace *t = zd_trace_new();
    assert_int_equal(zd_trace_track(t, 0, NULL, 0), ZDAG_EINVAL);
    assert_int_equal(zd_trace_track(t, 0, "h", -2), ZDAG_EINVAL);
    assert_int_equal(zd_trace_track(t, ZD_TRACE_COORD_PID, "h", 0), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, 0, NULL, 0, 1, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, -2, "n", 0, 1, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, ZD_TRACE_COORD_PID, 0, "n", 0, 1, 1, NULL, 0, false),
                     ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, -1, "n", -0.5, 1, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, -1, "n", 2, 1, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, -1, "n", NAN, 1, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_slice(t, 0, -1, "n", 0, INFINITY, 1, "ok", 0, true), ZDAG_EINVAL);
    assert_int_equal(zd_trace_instant(t, 0, -1, NULL, 1, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_trace_instant(t, 0, -3, "i", 1, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_trace_instant(t, 0, -1, "i", -1, NULL), ZDAG_EINVAL);
    assert_int_equal(zd_trace_count(t), 0);
    /* Nothing was recorded, not even the coordinator's track. */
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    json_t *ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    zd_trace_free(&t);
}

/* The old file is replaced by a rename, never rewritten in place: a hard link to it still
 * holds the old bytes. A failed write leaves no temporary file and the old file intact. */
static void test_atomic_write(void **state) {
    fixture *fx = *state;
    char old[160], listing[512], sub[160];
    snprintf(old, sizeof old, "%s/old.json", fx->dir);
    FILE *f = fopen(fx->path, "w");
    fputs("old", f);
    fclose(f);
    assert_int_equal(link(fx->path, old), 0);

    zd_trace *t = zd_trace_new();
    assert_int_equal(zd_trace_track(t, 0, "hostA", 0), 0);
    assert_int_equal(zd_trace_slice(t, 0, 0, "n", 0, 1, 1, "succeeded", 0, true), 0);
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    char buf[8] = {0};
    f = fopen(old, "r");
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 3);
    fclose(f);
    assert_string_equal(buf, "old");
    json_t *ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 3);
    json_decref(ev);
    list_dir(fx->dir, listing, sizeof listing);
    assert_string_equal(listing, "old.json trace.json");

    /* A stale temporary file of ours is replaced, not written through. */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", fx->path, (int)getpid());
    assert_int_equal(symlink(old, tmp), 0);
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    f = fopen(old, "r");
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 3);
    fclose(f);
    list_dir(fx->dir, listing, sizeof listing);
    assert_string_equal(listing, "old.json trace.json");

    /* The target is a directory: rename fails, the temporary file is removed. */
    snprintf(sub, sizeof sub, "%s/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(zd_trace_write(t, sub), ZDAG_EIO);
    list_dir(fx->dir, listing, sizeof listing);
    assert_string_equal(listing, "old.json sub trace.json");
    /* No such directory. */
    snprintf(sub, sizeof sub, "%s/none/trace.json", fx->dir);
    assert_int_equal(zd_trace_write(t, sub), ZDAG_EIO);
    zd_trace_free(&t);
}

/* The whole file, byte for byte, as the writer printed it before it was made faster
 * (main at 88eefb6): metadata, a slice with and without an exit code, instants with and
 * without a detail, a string that needs escaping. */
static void test_text_exact(void **state) {
    fixture *fx = *state;
    zd_trace *t = zd_trace_new();
    assert_int_equal(zd_trace_track(t, 0, "hostA", 1), 0);
    assert_int_equal(zd_trace_track(t, 2, "h\"B", 0), 0);
    assert_int_equal(zd_trace_slice(t, 0, 1, "n0", 0.0000004, 1.25, 1, "succeeded", 0, true), 0);
    assert_int_equal(zd_trace_slice(t, 2, 0, "n\t1", 2, 3.5, 2, "lost", 0, false), 0);
    assert_int_equal(zd_trace_slice(t, 0, 1, "n2", 4, 4, 1, NULL, -9, true), 0);
    assert_int_equal(zd_trace_instant(t, 0, -1, "lease: pool db", 0.5, "n0"), 0);
    assert_int_equal(zd_trace_instant(t, 2, 0, "tick", 7, NULL), 0);
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    zd_trace_free(&t);
    char text[4096] = {0};
    FILE *f = fopen(fx->path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_true(n > 0);
    const char *want = GOLDEN;
    if (strcmp(text, want) != 0)
        fail_msg("the trace differs:\n%s", text);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100k slices over 4 hosts x 8 executors: recording is a cheap append, and the file holds
 * every one of them. The bounds are loose enough for sanitizer builds. */
static void test_100k_slices(void **state) {
    fixture *fx = *state;
    const uint32_t n = 100000;
    zd_trace *t = zd_trace_new();
    for (uint32_t h = 0; h < 4; h++)
        for (int32_t e = 0; e < 8; e++)
            assert_int_equal(zd_trace_track(t, h, h % 2 ? "odd" : "even", e), 0);
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "node_%u", i);
        double start = i * 0.001;
        int rc = zd_trace_slice(t, i % 4, (int32_t)(i / 4 % 8), name, start, start + 0.0005, 1,
                                "succeeded", 0, true);
        if (rc != 0)
            fail_msg("slice %u: %d", i, rc);
    }
    double t1 = now_s();
    assert_int_equal(zd_trace_write(t, fx->path), 0);
    double t2 = now_s();
    assert_int_equal(zd_trace_count(t), n);
    zd_trace_free(&t);
    print_message("100k slices: recorded in %.3f s, written in %.3f s\n", t1 - t0, t2 - t1);
    assert_true(t1 - t0 < 1.0);
    assert_true(t2 - t1 < 20.0);

    json_t *ev = load_events(fx->path);
    assert_int_equal(json_array_size(ev), 4 + 32 + n);
    json_t *last = json_array_get(ev, 4 + 32 + n - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "node_99999");
    assert_int_equal(json_integer_value(json_object_get(last, "pid")), 3);
    assert_int_equal(json_integer_value(json_object_get(last, "tid")), 7);
    assert_int_equal(json_integer_value(json_object_get(last, "ts")), 99999000);
    assert_int_equal(json_integer_value(json_object_get(last, "dur")), 500);
    json_decref(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rounding_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100k_slices, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
