/* Command execution: output capture, exit codes, signals, timeout of a whole process tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "store.h"
#include "zdag.h"

extern char **environ;
static volatile sig_atomic_t pgid;

static char store[] = "/tmp/zdag-test-proc-store-XXXXXX";
static zd_store_writer *out; /* the last command's result */
static char output[ZD_RESULT_INLINE_MAX + 1];

/* Ends the last result: its inline bytes into output (NUL-terminated). */
static void end_output(void) {
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    output[0] = '\0';
    if (zd_store_writer_finish(out, &stored, hash, &size, &bytes) == 0 && !stored) {
        memcpy(output, bytes, (size_t)size);
        output[size] = '\0';
    }
    zd_store_writer_free(&out);
}

static zd_proc_result run_limited(const char *cmd, double timeout, uint64_t limit) {
    out = zd_store_writer_new(store, limit);
    zd_proc_spec spec = {.shell = cmd,
                         .envp = environ,
                         .log_fd = -1,
                         .timeout_s = timeout,
                         .grace_s = 0.2,
                         .out = out,
                         .max_output = limit};
    zd_proc_result r;
    assert_int_equal(zd_proc_run(&spec, &r, &pgid), 0);
    assert_int_equal(pgid, 0);
    return r;
}

static zd_proc_result run_shell(const char *cmd, double timeout) {
    zd_proc_result r = run_limited(cmd, timeout, 0);
    end_output();
    return r;
}

static void test_output_and_exit_code(void **state) {
    (void)state;
    zd_proc_result r = run_shell("printf hello; echo err >&2; exit 4", 0);
    assert_int_equal(r.exit_code, 4);
    assert_int_equal(r.signal, 0);
    assert_string_equal(output, "hello");
    assert_string_equal(r.error, "exited with status 4");
}

static void test_argv_and_log(void **state) {
    (void)state;
    char log[] = "/tmp/zdag-test-proc-XXXXXX";
    int fd = mkstemp(log);
    char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    out = zd_store_writer_new(store, 0);
    zd_proc_spec spec = {.argv = argv, .envp = environ, .log_fd = fd, .out = out};
    zd_proc_result r;
    assert_int_equal(zd_proc_run(&spec, &r, &pgid), 0);
    end_output();
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.error, "");
    assert_string_equal(output, "out\n");
    char buf[64] = {0};
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    assert_non_null(strstr(buf, "out"));
    assert_non_null(strstr(buf, "err"));
    close(fd);
    unlink(log);
}

/* Runs cmd with a lazy log at path; returns the result. */
static zd_proc_result run_logged(const char *cmd, const char *path, bool append,
                                 const char *header) {
    out = zd_store_writer_new(store, 0);
    zd_proc_spec spec = {.shell = cmd,
                         .envp = environ,
                         .log_fd = -1,
                         .log_path = path,
                         .log_append = append,
                         .log_header = header,
                         .out = out};
    zd_proc_result r;
    assert_int_equal(zd_proc_run(&spec, &r, &pgid), 0);
    end_output();
    return r;
}

static size_t read_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return n;
}

/* The log is made at the first byte: a silent command leaves none (and removes an old one); a
 * retry's header comes only with its output; stdout and stderr both land there. */
static void test_lazy_log(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-test-proc-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/n.log", dir);
    FILE *old = fopen(path, "w");
    fputs("an older run's log\n", old);
    fclose(old);
    assert_int_equal(run_logged("true", path, false, NULL).exit_code, 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(run_logged("exit 3", path, true, "--- zdag: attempt 2 ---\n").exit_code, 3);
    assert_int_equal(access(path, F_OK), -1);
    run_logged("echo out; echo err >&2", path, false, NULL);
    assert_string_equal(output, "out\n");
    read_file(path, buf, sizeof buf);
    assert_non_null(strstr(buf, "out\n"));
    assert_non_null(strstr(buf, "err\n"));
    assert_null(strstr(buf, "older"));
    run_logged("echo again >&2", path, true, "--- zdag: attempt 2 ---\n");
    read_file(path, buf, sizeof buf);
    assert_non_null(strstr(buf, "err\n--- zdag: attempt 2 ---\nagain\n"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(path);
    rmdir(dir);
}

/* The command starts with every signal at its default, whatever its parent ignored or handled,
 * and none blocked. */
static void on_usr1(int sig) {
    (void)sig;
}

static void test_signals_reset(void **state) {
    (void)state;
    struct sigaction sa = {.sa_handler = on_usr1}, old_usr1, old_pipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old_usr1);
    signal(SIGPIPE, SIG_IGN);
    old_pipe.sa_handler = SIG_DFL;
    /* cat reads its own status: it sets no handler of its own. */
    out = zd_store_writer_new(store, 0);
    char *argv[] = {"cat", "/proc/self/status", NULL};
    zd_proc_spec spec = {.argv = argv, .envp = environ, .log_fd = -1, .out = out};
    zd_proc_result r;
    assert_int_equal(zd_proc_run(&spec, &r, &pgid), 0);
    end_output();
    sigaction(SIGUSR1, &old_usr1, NULL);
    signal(SIGPIPE, old_pipe.sa_handler);
    assert_int_equal(r.exit_code, 0);
    /* Signals 32 and 33 are glibc's own (no libc call changes them): whatever the process
     * that started the test left there stays, as it did for every command before. */
    const unsigned long long glibc_own = 3ull << 31;
    static const char *const masks[] = {"\nSigBlk:\t", "\nSigIgn:\t", "\nSigCgt:\t"};
    for (size_t i = 0; i < 3; i++) {
        const char *at = strstr(output, masks[i]);
        assert_non_null(at);
        unsigned long long mask = strtoull(at + strlen(masks[i]), NULL, 16);
        assert_int_equal(mask & ~glibc_own, 0);
    }
}

static void test_signal(void **state) {
    (void)state;
    zd_proc_result r = run_shell("kill -TERM $$", 0);
    assert_int_equal(r.signal, SIGTERM);
    assert_int_equal(r.exit_code, 128 + SIGTERM);
    assert_non_null(strstr(r.error, "killed by signal 15"));
}

/* The timeout kills the whole group: a background sleep must not survive. */
static void test_timeout_kills_tree(void **state) {
    (void)state;
    char pidfile[] = "/tmp/zdag-test-bg-XXXXXX";
    close(mkstemp(pidfile));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sleep 100 & echo $! > %s; sleep 100", pidfile);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    zd_proc_result r = run_shell(cmd, 0.3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(r.timed_out);
    assert_string_equal(r.error, "timed out after 0.3 s");
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    FILE *f = fopen(pidfile, "r");
    int bg = 0;
    assert_int_equal(fscanf(f, "%d", &bg), 1);
    fclose(f);
    unlink(pidfile);
    /* Reaped by init eventually; a live process would still accept signal 0 as non-zombie. */
    char path[64], st[512] = {0};
    snprintf(path, sizeof path, "/proc/%d/stat", bg);
    for (int i = 0; i < 100; i++) {
        FILE *p = fopen(path, "r");
        if (!p)
            break;
        size_t n = fread(st, 1, sizeof st - 1, p);
        fclose(p);
        st[n] = '\0';
        char *rp = strrchr(st, ')');
        if (rp && rp[2] == 'Z')
            break;
        assert_true(i < 99); /* still alive after 1 s */
        usleep(10000);
    }
}

/* A large output is kept whole (once cut at 1 MiB): stored by its SHA-256. */
static void test_output_whole(void **state) {
    (void)state;
    zd_proc_result r = run_limited("head -c 2000000 /dev/zero", 0, 0);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.error, "");
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(out, &stored, hash, &size, &bytes), 0);
    zd_store_writer_free(&out);
    assert_true(stored);
    assert_int_equal(size, 2000000);
    assert_true(zd_store_verify(store, hash, 2000000, true));
    char path[ZD_STORE_PATH];
    assert_true(zd_store_path(store, hash, path, sizeof path));
    assert_int_equal(unlink(path), 0);
}

/* Past max_result the command is killed and fails, naming the limit; an endless writer ends. */
static void test_output_over_limit(void **state) {
    (void)state;
    zd_proc_result r = run_limited("yes", 0, 1000);
    assert_true(r.over_limit);
    assert_string_equal(r.error, "result is over max_result (1000 bytes)");
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(out, &stored, hash, &size, &bytes), ZDAG_ETOOBIG);
    zd_store_writer_free(&out);
    r = run_limited("head -c 2048 /dev/zero", 0, 2 << 10);
    assert_false(r.over_limit); /* exactly the limit is fine */
    assert_string_equal(r.error, "");
    end_output();
}

static void test_missing_program(void **state) {
    (void)state;
    char *argv[] = {"zdag-no-such-program", NULL};
    out = zd_store_writer_new(store, 0);
    zd_proc_spec spec = {.argv = argv, .envp = environ, .log_fd = -1, .out = out};
    zd_proc_result r;
    assert_int_equal(zd_proc_run(&spec, &r, &pgid), 0);
    end_output();
    assert_int_equal(r.exit_code, 127);
}

static void test_simple_argv(void **state) {
    (void)state;
    char **v = zd_proc_simple_argv("  sleep\t0.1  x/y.z ");
    assert_non_null(v);
    assert_string_equal(v[0], "sleep");
    assert_string_equal(v[1], "0.1");
    assert_string_equal(v[2], "x/y.z");
    assert_null(v[3]);
    for (int i = 0; v[i]; i++)
        free(v[i]);
    free(v);
    const char *need_shell[] = {"echo $HOME", "a | b",  "a > f",    "echo 'q'", "ls *.c",
                                "cd /tmp",    "exit 3", "X=1 env",  "a; b",     "echo \"x\"",
                                "a && b",     "",       "   ",      "{ a; }",   "echo ~",
                                "export A",   "a\nb",   "echo `x`", "wait",     NULL};
    for (const char **c = need_shell; *c; c++)
        if (zd_proc_simple_argv(*c) != NULL)
            fail_msg("\"%s\" needs the shell", *c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_exit_code),
        cmocka_unit_test(test_argv_and_log),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_timeout_kills_tree),
        cmocka_unit_test(test_output_whole),
        cmocka_unit_test(test_output_over_limit),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_simple_argv),
        cmocka_unit_test(test_lazy_log),
        cmocka_unit_test(test_signals_reset),
    };
    if (!mkdtemp(store))
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(store);
    return rc;
}
