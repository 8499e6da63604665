/* Progress line: exact output on a tty and elsewhere, throttling, the running median and the
 * ETA, and the final line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

/* A display writing into memory; take() returns what was written since the last take(). */
typedef struct sink {
    FILE *f;       /* the memstream */
    char *buf;     /* its buffer */
    size_t size;   /* bytes written so far */
    size_t taken;  /* bytes already returned by take() */
    char out[512]; /* the last take() */
} sink;

static int setup(void **state) {
    sink *s = calloc(1, sizeof *s);
    s->f = open_memstream(&s->buf, &s->size);
    *state = s;
    return s->f ? 0 : -1;
}

static int teardown(void **state) {
    sink *s = *state;
    fclose(s->f);
    free(s->buf);
    free(s);
    return 0;
}

static const char *take(sink *s) {
    fflush(s->f);
    size_t n = s->size - s->taken;
    assert_true(n < sizeof s->out);
    memcpy(s->out, s->buf + s->taken, n);
    s->out[n] = '\0';
    s->taken = s->size;
    return s->out;
}

#define CLR "\033[K"

static void test_tty_lines_and_throttle(void **state) {
    sink *s = *state;
    zd_progress *p = zd_progress_new(s->f, true, 100);
    assert_non_null(p);
    assert_string_equal(take(s), ""); /* nothing before the first update */
    zd_progress_update(p, 0.0, 0, 0, 0);
    assert_string_equal(take(s), "\r[  0/100] 0 running, 0 failed, 0.0 s elapsed, ETA ?" CLR);
    /* Two updates 10 ms apart give one line. */
    zd_progress_update(p, 0.01, 1, 2, 0);
    assert_string_equal(take(s), "");
    zd_progress_update(p, 0.099, 1, 2, 0);
    assert_string_equal(take(s), "");
    zd_progress_node_done(p, 2.0);
    zd_progress_update(p, 0.1, 42, 3, 1);
    assert_string_equal(take(s), "\r[ 42/100] 3 running, 1 failed, 0.1 s elapsed, ETA 39 s" CLR);
    zd_progress_update(p, 0.15, 43, 3, 1);
    assert_string_equal(take(s), "");
    zd_progress_update(p, 12.34, 43, 3, 1);
    assert_string_equal(take(s), "\r[ 43/100] 3 running, 1 failed, 12.3 s elapsed, ETA 38 s" CLR);
    /* finish draws at once, whatever the throttle, and ends the line. */
    zd_progress_finish(p, 12.5, 100, 0, 1);
    assert_string_equal(take(s),
                        "\r[100/100] 0 running, 1 failed, 12.5 s elapsed, ETA 0 s" CLR "\n");
    /* Nothing after finish. */
    zd_progress_update(p, 20.0, 100, 0, 1);
    zd_progress_finish(p, 20.0, 100, 0, 1);
    assert_string_equal(take(s), "");
    zd_progress_free(&p);
    assert_null(p);
    zd_progress_free(&p);
    zd_progress_free(NULL);
}

/* On a terminal the line names the nodes running when few run (as ninja shows the command);
 * elsewhere, and with no names, it does not; a bigger total shows from the next draw. */
static void test_names_what_runs(void **state) {
    sink *s = *state;
    zd_progress *p = zd_progress_new(s->f, true, 9);
    zd_progress_set_running(p, "compile, link");
    zd_progress_update(p, 0.0, 1, 2, 0);
    assert_string_equal(take(s),
                        "\r[1/9] 2 running (compile, link), 0 failed, 0.0 s elapsed, ETA ?" CLR);
    zd_progress_set_running(p, NULL);
    zd_progress_set_total(p, 12);
    zd_progress_update(p, 1.0, 1, 5, 0);
    assert_string_equal(take(s), "\r[ 1/12] 5 running, 0 failed, 1.0 s elapsed, ETA ?" CLR);
    zd_progress_free(&p);
    p = zd_progress_new(s->f, false, 9);
    zd_progress_set_running(p, "compile");
    zd_progress_update(p, 0.0, 1, 1, 0);
    assert_string_equal(take(s), "[1/9] 1 running, 0 failed, 0.0 s elapsed, ETA ?\n");
    zd_progress_free(&p);
}

static void test_plain_lines_and_throttle(void **state) {
    sink *s = *state;
    zd_progress *p = zd_progress_new(s->f, false, 5);
    zd_progress_update(p, 0.0, 0, 1, 0);
    assert_string_equal(take(s), "[0/5] 1 running, 0 failed, 0.0 s elapsed, ETA ?\n");
    zd_progress_update(p, 0.01, 0, 2, 0);
    zd_progress_update(p, 0.5, 1, 2, 0);
    zd_progress_update(p, 0.999, 1, 2, 0);
    assert_string_equal(take(s), ""); /* at most one line a second */
    zd_progress_node_done(p, 3.0);
    zd_progress_update(p, 1.0, 1, 2, 0);
    /* 4 remaining x 3 s over 2 running. */
    assert_string_equal(take(s), "[1/5] 2 running, 0 failed, 1.0 s elapsed, ETA 6 s\n");
    /* finish prints the final line, even within the second... */
    zd_progress_finish(p, 1.2, 5, 0, 0);
    assert_string_equal(take(s), "[5/5] 0 running, 0 failed, 1.2 s elapsed, ETA 0 s\n");
    zd_progress_free(&p);

    /* ...but not a repeat of the line just printed. */
    p = zd_progress_new(s->f, false, 5);
    zd_progress_update(p, 2.0, 5, 0, 2);
    zd_progress_finish(p, 2.0, 5, 0, 2);
    assert_string_equal(take(s), "[5/5] 0 running, 2 failed, 2.0 s elapsed, ETA 0 s\n");
    zd_progress_free(&p);

    /* A finish with no update before it still prints its line. */
    p = zd_progress_new(s->f, false, 0);
    zd_progress_finish(p, 0.04, 0, 0, 0);
    assert_string_equal(take(s), "[0/0] 0 running, 0 failed, 0.0 s elapsed, ETA 0 s\n");
    zd_progress_free(&p);
}

/* ETA = ceil(median x (total - done) / max(running, 1)), in s, m+s or h+m. */
static void test_median_and_eta(void **state) {
    sink *s = *state;
    zd_progress *p = zd_progress_new(s->f, false, 10);
    assert_true(isnan(zd_progress_median(p)));
    zd_progress_node_done(p, 3.0);
    assert_true(zd_progress_median(p) == 3.0);
    zd_progress_node_done(p, 1.0);
    assert_true(zd_progress_median(p) == 2.0);
    zd_progress_node_done(p, 2.0);
    assert_true(zd_progress_median(p) == 2.0);
    zd_progress_node_done(p, 100.0); /* one slow outlier barely moves the median */
    assert_true(zd_progress_median(p) == 2.5);

    /* 6 remaining x 2.5 s over 2 running = 7.5 -> 8 s. */
    zd_progress_update(p, 10.0, 4, 2, 0);
    assert_string_equal(take(s), "[ 4/10] 2 running, 0 failed, 10.0 s elapsed, ETA 8 s\n");
    /* Nothing running: parallelism 1, 15 s. */
    zd_progress_update(p, 11.0, 4, 0, 0);
    assert_string_equal(take(s), "[ 4/10] 0 running, 0 failed, 11.0 s elapsed, ETA 15 s\n");
    zd_progress_free(&p);

    p = zd_progress_new(s->f, false, 10);
    zd_progress_node_done(p, 25.0);
    zd_progress_update(p, 0.0, 4, 1, 0); /* 150 s */
    assert_string_equal(take(s), "[ 4/10] 1 running, 0 failed, 0.0 s elapsed, ETA 2m30s\n");
    zd_progress_node_done(p, 25.0);
    zd_progress_node_done(p, 745.0);     /* median 25 */
    zd_progress_update(p, 1.0, 9, 1, 0); /* 25 s */
    assert_string_equal(take(s), "[ 9/10] 1 running, 0 failed, 1.0 s elapsed, ETA 25 s\n");
    zd_progress_node_done(p, 745.0);
    zd_progress_node_done(p, 745.0); /* median 745: 745 x 5 = 3725 s */
    zd_progress_update(p, 2.0, 5, 1, 0);
    assert_string_equal(take(s), "[ 5/10] 1 running, 0 failed, 2.0 s elapsed, ETA 1h02m\n");
    zd_progress_update(p, 3.0, 10, 0, 0);
    assert_string_equal(take(s), "[10/10] 0 running, 0 failed, 3.0 s elapsed, ETA 0 s\n");
    zd_progress_free(&p);

    /* Negative and NaN durations count as 0. */
    p = zd_progress_new(s->f, false, 10);
    zd_progress_node_done(p, -4.0);
    zd_progress_node_done(p, NAN);
    zd_progress_node_done(p, 0.0);
    assert_true(zd_progress_median(p) == 0.0);
    zd_progress_free(&p);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The running median agrees with sorting at every step, over values with many repeats. */
static void test_median_matches_sort(void **state) {
    sink *s = *state;
    enum { N = 1001 };
    double vals[N], sorted[N];
    zd_progress *p = zd_progress_new(s->f, false, N);
    srand(11);
    for (int i = 0; i < N; i++) {
        vals[i] = (double)(rand() % 50) / 4;
        zd_progress_node_done(p, vals[i]);
        memcpy(sorted, vals, (size_t)(i + 1) * sizeof *vals);
        qsort(sorted, (size_t)i + 1, sizeof *sorted, cmp_double);
        int n = i + 1;
        double want = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        if (zd_progress_median(p) != want)
            fail_msg("after %d values: median %g, want %g", n, zd_progress_median(p), want);
    }
    zd_progress_free(&p);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A million durations and a million throttled updates stay cheap: no sort per call. */
static void test_million_is_cheap(void **state) {
    sink *s = *state;
    const uint32_t n = 1000000;
    zd_progress *p = zd_progress_new(s->f, true, n);
    double t0 = mono_s();
    for (uint32_t i = 0; i < n; i++) {
        zd_progress_node_done(p, (double)((uint64_t)i * 7919u % n));
        zd_progress_update(p, i * 1e-6, i, 1, 0); /* 1 s in all: ten draws */
    }
    double t1 = mono_s();
    print_message("1M durations and updates: %.3f s\n", t1 - t0);
    assert_true(t1 - t0 < 5.0);
    /* 7919 is prime to 10^6: the values are 0..n-1 once each. */
    assert_true(zd_progress_median(p) == (n / 2 - 1 + n / 2) / 2.0);
    fflush(s->f);
    size_t draws = 0;
    for (size_t i = 0; i < s->size; i++)
        draws += s->buf[i] == '\r';
    assert_int_equal(draws, 10);
    zd_progress_free(&p);
}

/* A reader that went away (`zdag run --progress | head -c1`): the first failed write breaks
 * the display, silently, and nothing more is written; the run's calls keep working. */
static void test_stops_drawing_on_epipe(void **state) {
    (void)state;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    FILE *w = fdopen(fds[1], "w");
    assert_non_null(w);
    zd_progress *p = zd_progress_new(w, false, 10);
    zd_progress_update(p, 0.0, 0, 1, 0);
    assert_false(zd_progress_broken(p));
    char buf[256];
    assert_true(read(fds[0], buf, sizeof buf) > 0);
    close(fds[0]);
    zd_progress_update(p, 2.0, 1, 1, 0);
    assert_true(zd_progress_broken(p));
    clearerr(w);
    zd_progress_node_done(p, 1.0);
    zd_progress_update(p, 4.0, 2, 1, 0);
    zd_progress_finish(p, 5.0, 10, 0, 0);
    assert_false(ferror(w)); /* nothing was written after the break */
    zd_progress_free(&p);
    fclose(w);
    assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tty_lines_and_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_what_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_lines_and_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_median_and_eta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_median_matches_sort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_million_is_cheap, setup, teardown),
        cmocka_unit_test(test_stops_drawing_on_epipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
