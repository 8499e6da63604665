/* Streaming JSON output: strings and reals exactly as jansson prints them, invalid UTF-8, the
 * file put in place whole or not at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonout.h"
#include "zdag.h"

/* Writes one value with fn and returns its text (caller frees). */
typedef void (*put_fn)(zd_jsonout *w, const void *arg);

static char *written(put_fn fn, const void *arg) {
    zd_jsonout w;
    assert_int_equal(zd_jsonout_open_mem(&w), 0);
    fn(&w, arg);
    const char *text = zd_jsonout_text(&w);
    assert_non_null(text);
    char *copy = strdup(text);
    zd_jsonout_fini(&w);
    return copy;
}

static void put_str(zd_jsonout *w, const void *arg) {
    zd_jsonout_str(w, arg);
}

static void put_real(zd_jsonout *w, const void *arg) {
    zd_jsonout_real(w, *(const double *)arg);
}

/* What jansson's dump of the same value is. */
static char *jansson_of(json_t *v) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    json_decref(v);
    return s;
}

static void strings_as_jansson(void **state) {
    (void)state;
    const char *cases[] = {"n0",
                           "plain text with spaces",
                           "",
                           "quote \" here",
                           "back\\",
                           "tab\tnew\nline\x01",
                           "caf\xc3\xa9",
                           "/slash/"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = written(put_str, cases[i]), *want = jansson_of(json_string(cases[i]));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    char *null = written(put_str, NULL);
    assert_string_equal(null, "null");
    free(null);
}

static void invalid_utf8_becomes_question_marks(void **state) {
    (void)state;
    char *got = written(put_str, "a\xff"
                                 "b\xc3");
    assert_string_equal(got, "\"a?b?\"");
    free(got);
}

static void reals_as_jansson(void **state) {
    (void)state;
    const double cases[] = {0.0,       1.0,  0.010378, 123456.789012, 1e-5,
                            2.5e-7,    1e20, -3.25,    1e15,          123456789012345678.0,
                            0.1 + 0.2, -0.0, 1.5e300};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = written(put_real, &cases[i]), *want = jansson_of(json_real(cases[i]));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    const double inf = INFINITY;
    char *got = written(put_real, &inf);
    assert_string_equal(got, "null");
    free(got);
}

static void put_micros(zd_jsonout *w, const void *arg) {
    zd_jsonout_micros(w, *(const int64_t *)arg);
}

/* Microseconds print as jansson prints the seconds they are (the report's times). */
static void micros_as_jansson(void **state) {
    (void)state;
    int64_t cases[] = {0,
                       1,
                       99,
                       100,
                       101,
                       999999,
                       1000000,
                       1000001,
                       10378,
                       12768,
                       1234567890,
                       60000000,
                       86400000000,
                       999999999999999,
                       1000000000000000,
                       123456789012345};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = written(put_micros, &cases[i]),
             *want = jansson_of(json_real((double)cases[i] / 1e6));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    for (int64_t us = -5; us < 2000; us++) { /* every small one: a fast path of its own */
        char *got = written(put_micros, &us);
        char *want = jansson_of(json_real((double)us / 1e6));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    uint64_t x = 88172645463325252u; /* xorshift: many more, spread over the range */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = (int64_t)(x % 100000000000000u) >> (x % 40);
        char *got = written(put_micros, &us);
        char *want = jansson_of(json_real((double)us / 1e6));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
}

static void put_int(zd_jsonout *w, const void *arg) {
    zd_jsonout_int(w, *(const int64_t *)arg);
}

static void ints_as_printf(void **state) {
    (void)state;
    const int64_t cases[] = {0, 1, -1, 9, 10, -10, 1234567890123, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, cases[i]);
        char *got = written(put_int, &cases[i]);
        assert_string_equal(got, want);
        free(got);
    }
}

/* More than a buffer's worth reaches the file whole, in order. */
static void large_documents_are_whole(void **state) {
    (void)state;
    char dir[] = "/tmp/zd_jsonout_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/out.json", dir);
    zd_jsonout w;
    assert_int_equal(zd_jsonout_open(&w, path), 0);
    zd_jsonout_raw(&w, "[");
    for (int i = 0; i < 50000; i++) {
        if (i)
            zd_jsonout_raw(&w, ",");
        zd_jsonout_int(&w, i);
    }
    zd_jsonout_raw(&w, "]");
    assert_int_equal(zd_jsonout_commit(&w, path, true), 0);
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);
    assert_non_null(v);
    assert_int_equal(json_array_size(v), 50000);
    for (size_t i = 0; i < 50000; i += 997)
        assert_int_equal(json_integer_value(json_array_get(v, i)), (json_int_t)i);
    json_decref(v);
    unlink(path);
    rmdir(dir);
}

/* Writes many buffers' worth of mixed values (the writer thread's case) to w. */
static void put_many(zd_jsonout *w) {
    zd_jsonout_raw(w, "[");
    for (int i = 0; i < 120000; i++) {
        zd_jsonout_raw(w, i ? ",\n {\"name\": " : "\n {\"name\": ");
        zd_jsonout_str(w, i % 7 ? "node" : "tab\there");
        zd_jsonout_raw(w, ", \"s\": ");
        zd_jsonout_micros(w, (int64_t)i * 37);
        zd_jsonout_raw(w, "}");
    }
    zd_jsonout_raw(w, "\n]\n");
}

/* A file of many buffers (written by the writer thread) holds the very bytes written to
 * memory; one abandoned midway is removed; one whose writes fail is never put in place. */
static void file_is_what_memory_gets(void **state) {
    (void)state;
    char dir[] = "/tmp/zd_jsonout_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], tmp[96];
    snprintf(path, sizeof path, "%s/out.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    zd_jsonout m, w;
    assert_int_equal(zd_jsonout_open_mem(&m), 0);
    put_many(&m);
    const char *want = zd_jsonout_text(&m);
    assert_non_null(want);
    size_t want_len = strlen(want);
    assert_true(want_len > 8 * ZD_JSONOUT_BUF);
    assert_int_equal(zd_jsonout_open(&w, path), 0);
    put_many(&w);
    assert_int_equal(zd_jsonout_commit(&w, path, false), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *got = malloc(want_len + 1);
    assert_int_equal(fread(got, 1, want_len + 1, f), want_len);
    fclose(f);
    assert_memory_equal(got, want, want_len);
    free(got);
    zd_jsonout_fini(&m);
    unlink(path);

    assert_int_equal(zd_jsonout_open(&w, path), 0);
    put_many(&w);
    zd_jsonout_fini(&w); /* abandoned with the writer running */
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);

    /* Writes past a file size limit fail (EFBIG, SIGXFSZ ignored): not put in place. */
    struct rlimit old, small = {.rlim_cur = 3 * ZD_JSONOUT_BUF};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(zd_jsonout_open(&w, path), 0);
    put_many(&w);
    int rc = zd_jsonout_commit(&w, path, true);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    assert_int_equal(rc, ZDAG_EIO);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    rmdir(dir);
}

static void failed_file_is_removed(void **state) {
    (void)state;
    char dir[] = "/tmp/zd_jsonout_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], tmp[96];
    snprintf(path, sizeof path, "%s/out.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    zd_jsonout w;
    assert_int_equal(zd_jsonout_open(&w, path), 0);
    zd_jsonout_raw(&w, "{");
    assert_int_equal(access(tmp, F_OK), 0);
    zd_jsonout_fini(&w); /* abandoned: nothing is put in place */
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(zd_jsonout_open(&w, path), 0);
    w.oom = true; /* an incomplete document is never put in place */
    assert_int_equal(zd_jsonout_commit(&w, path, true), ZDAG_ENOMEM);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    char missing[96];
    snprintf(missing, sizeof missing, "%s/no/such/dir.json", dir);
    assert_int_equal(zd_jsonout_open(&w, missing), ZDAG_EIO);
    zd_jsonout_fini(&w);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_as_jansson),
        cmocka_unit_test(invalid_utf8_becomes_question_marks),
        cmocka_unit_test(reals_as_jansson),
        cmocka_unit_test(micros_as_jansson),
        cmocka_unit_test(ints_as_printf),
        cmocka_unit_test(large_documents_are_whole),
        cmocka_unit_test(file_is_what_memory_gets),
        cmocka_unit_test(failed_file_is_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
