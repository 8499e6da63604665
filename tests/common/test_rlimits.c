/* Tests of common/rlimits.c: raising RLIMIT_NOFILE, and the clear refusal of a run when too
 * few descriptors or threads remain. Each limit is lowered in a forked child, which sends its
 * results back through a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rlimits.h"

/* What a child reports: the return code, the reason, the last message logged. */
typedef struct child_report {
    int rc;
    unsigned long soft;
    char why[160];
    char logged[160];
} child_report;

static void keep_message(void *ctx, zdag_log_level level, const char *message) {
    assert_int_equal(level, ZDAG_LOG_ERROR);
    snprintf(ctx, sizeof((child_report *)0)->logged, "%s", message);
}

/* Runs body(r) in a child and returns its report. */
static child_report in_child(void (*body)(child_report *r)) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_report r = {0};
        body(&r);
        _exit(write(p[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
    }
    close(p[1]);
    child_report r = {0};
    assert_int_equal(read(p[0], &r, sizeof r), (ssize_t)sizeof r);
    close(p[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return r;
}

static void set_nofile(rlim_t soft) {
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = soft;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void check_two_executors(child_report *r) {
    zd_log log = {keep_message, r->logged};
    r->rc = zd_rlimit_check_run(2, false, &log, r->why, sizeof r->why);
}

static void raise_after_lowering(child_report *r) {
    set_nofile(16);
    r->soft = (unsigned long)zd_rlimit_raise_nofile();
    check_two_executors(r);
}

static void test_raise_restores_the_hard_limit(void **state) {
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    child_report r = in_child(raise_after_lowering);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 1048576)
        assert_int_equal(r.soft, (unsigned long)rl.rlim_max);
    assert_true(r.soft > 16);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.why, "");
    assert_string_equal(r.logged, "");
}

static void low_nofile(child_report *r) {
    set_nofile(16);
    check_two_executors(r);
}

static void test_too_few_descriptors(void **state) {
    (void)state;
    child_report r = in_child(low_nofile);
    assert_int_equal(r.rc, ZDAG_ESYS);
    /* Descriptors open beyond stdin/stdout/stderr (the report pipe...) count on top. */
    const char *prefix = "too few file descriptors: ulimit -n is 16, this run needs at least ";
    assert_memory_equal(r.why, prefix, strlen(prefix));
    assert_true(strtoul(r.why + strlen(prefix), NULL, 10) >= zd_rlimit_fds_needed(2, false));
    assert_string_equal(r.logged, r.why);
}

/* The arithmetic of the header: base + listen + per executor + reserve. */
static void test_descriptor_arithmetic(void **state) {
    (void)state;
    assert_int_equal(zd_rlimit_fds_needed(0, false), ZD_RLIMIT_FD_BASE + ZD_RLIMIT_FD_RESERVE);
    assert_int_equal(zd_rlimit_fds_needed(10, true) - zd_rlimit_fds_needed(0, true),
                     10 * ZD_RLIMIT_FD_PER_EXECUTOR);
    assert_int_equal(zd_rlimit_fds_needed(1, true) - zd_rlimit_fds_needed(1, false),
                     ZD_RLIMIT_FD_LISTEN);
    assert_int_equal(zd_rlimit_threads_needed(0, true), zd_rlimit_threads_needed(0, false) + 1);
    assert_int_equal(zd_rlimit_threads_needed(2, false),
                     zd_rlimit_threads_needed(0, false) + 2 * ZD_RLIMIT_TASKS_PER_EXECUTOR);
}

/* Threads cannot be had: a thread's stack does not fit under RLIMIT_AS (this works as root
 * too, where RLIMIT_NPROC is not enforced); pthread_create() fails with EAGAIN. */
static void no_room_for_threads(child_report *r) {
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    struct rlimit as = {.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1 << 20),
                        .rlim_max = RLIM_INFINITY};
    assert_int_equal(setrlimit(RLIMIT_AS, &as), 0);
    check_two_executors(r);
}

static void test_threads_cannot_be_created(void **state) {
    (void)state;
    child_report r = in_child(no_room_for_threads);
    assert_int_equal(r.rc, ZDAG_ESYS);
    assert_string_equal(r.why, "cannot create a thread: Resource temporarily unavailable "
                               "(ulimit -u?)");
    assert_string_equal(r.logged, r.why);
}

/* The threads are tried unless every limit that could refuse them is known not to. */
static void test_tasks_certain_only_when_no_limit_binds(void **state) {
    (void)state;
    zd_task_limits l = {.known = true,
                        .tasks = 100,
                        .nproc = RLIM_INFINITY,
                        .threads_max = 100000,
                        .pids_limited = false,
                        .memory_limited = false};
    assert_true(zd_rlimit_tasks_certain(&l, 8));
    zd_task_limits t = l;
    t.nproc = 10000; /* far above every task on the machine */
    assert_true(zd_rlimit_tasks_certain(&t, 8));
    t.nproc = 150; /* the machine's tasks, ours and the slack may pass it */
    assert_false(zd_rlimit_tasks_certain(&t, 8));
    t = l;
    t.threads_max = 150;
    assert_false(zd_rlimit_tasks_certain(&t, 8));
    t = l;
    t.pids_limited = true;
    assert_false(zd_rlimit_tasks_certain(&t, 8));
    t = l;
    t.memory_limited = true;
    assert_false(zd_rlimit_tasks_certain(&t, 8));
    t = l;
    t.known = false;
    assert_false(zd_rlimit_tasks_certain(&t, 8));
}

static void read_with_low_nproc(child_report *r) {
    zd_task_limits l;
    zd_rlimit_task_limits_read(&l);
    r->rc = l.known;
    struct rlimit rl = {.rlim_cur = 2, .rlim_max = 2};
    assert_int_equal(setrlimit(RLIMIT_NPROC, &rl), 0);
    zd_rlimit_task_limits_read(&l);
    r->soft = (unsigned long)l.nproc;
    snprintf(r->why, sizeof r->why, "%s", zd_rlimit_tasks_certain(&l, 1) ? "certain" : "try");
}

/* Read here: the machine's tasks are counted, and a low ulimit -u means trying. */
static void test_task_limits_read(void **state) {
    (void)state;
    child_report r = in_child(read_with_low_nproc);
    assert_int_equal(r.rc, 1);
    assert_int_equal(r.soft, 2);
    assert_string_equal(r.why, "try");
}

static void test_no_log_no_buffer(void **state) {
    (void)state;
    assert_int_equal(zd_rlimit_check_run(1, true, NULL, NULL, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raise_restores_the_hard_limit),
        cmocka_unit_test(test_too_few_descriptors),
        cmocka_unit_test(test_descriptor_arithmetic),
        cmocka_unit_test(test_threads_cannot_be_created),
        cmocka_unit_test(test_tasks_certain_only_when_no_limit_binds),
        cmocka_unit_test(test_task_limits_read),
        cmocka_unit_test(test_no_log_no_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
