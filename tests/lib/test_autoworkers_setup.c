/* Automatic workers in libzdag: the preparation the CLI and zdag_run() share
 * (lib/autoworkers_setup.h), zdag_options' slurm fields checked, and the worker's side
 * (zdag_worker_options_from_env()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "autoworkers_setup.h"
#include "xset.h"
#include "zdag.h"

/* A temporary state directory (removed by the caller with zd_rmtree). */
static void temp_dir(char *dir, size_t size) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/zdag-test-autow-XXXXXX", tmp && strlen(tmp) < 200 ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static bool exists(const char *dir, const char *name, mode_t *mode) {
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) < 0)
        return false;
    if (mode)
        *mode = st.st_mode & 0777;
    return true;
}

/* The options need listen, split as a shell would, and a size that is a number. */
static void test_the_options_are_checked(void **state) {
    (void)state;
    zd_autow_setup s = {0};
    char why[512];
    assert_int_equal(zd_autow_setup_check(&s, "-p debug", 0, NULL, why, sizeof why), ZDAG_EINVAL);
    assert_non_null(strstr(why, "needs listen"));
    assert_int_equal(zd_autow_setup_check(&s, "-p 'debug", 0, "tcp://0.0.0.0:1", why, sizeof why),
                     ZDAG_EINVAL);
    assert_non_null(strstr(why, "-p 'debug"));
    zd_autow_setup_clear(&s);
    assert_int_equal(zd_autow_setup_check(&s, "-c x", 0, "tcp://0.0.0.0:1", why, sizeof why),
                     ZDAG_EINVAL);
    zd_autow_setup_clear(&s);
    assert_int_equal(zd_autow_setup_check(&s, "-p 'a b' -c 2", 0, "tcp://h:1", why, sizeof why), 0);
    assert_int_equal(s.n_words, 4);
    assert_string_equal(s.words[1], "a b");
    assert_int_equal(s.prov.max_jobs, ZD_AUTOW_DEFAULT_MAX_JOBS);
    assert_true(s.prov.cpus == 2);
    assert_string_equal(s.prov.size_text, "-c 2");
    zd_autow_setup_clear(&s);
}

/* A secure run gets its directory (0700) with the workers' pair and a coordinator pair of its
 * own, the workers' key admitted, a wildcard endpoint named by this host; a directory of a run
 * no longer alive is removed; clearing removes the run's. */
static void test_prepare_makes_the_runs_keys(void **state) {
    (void)state;
    char dir[256], stale[300], host[256], want[300], why[512];
    temp_dir(dir, sizeof dir);
    snprintf(stale, sizeof stale, "%s/slurm-999999999", dir);
    assert_int_equal(mkdir(stale, 0700), 0);
    zd_autow_setup s = {0};
    assert_int_equal(zd_autow_setup_check(&s, "", 3, "tcp://0.0.0.0:7700", why, sizeof why), 0);
    zd_keyset *keys = NULL;
    const char *argv[] = {"/bin/prog", "serve", NULL};
    zd_autow_run r = {.state_dir = dir,
                      .listen = "tcp://0.0.0.0:7700",
                      .secure = true,
                      .keys = &keys,
                      .idle_s = 0,
                      .worker_argv = argv};
    assert_int_equal(zd_autow_setup_prepare(&s, &r, why, sizeof why), 0);
    assert_false(exists(dir, "slurm-999999999", NULL));
    mode_t mode = 0;
    char run_dir[64];
    snprintf(run_dir, sizeof run_dir, "slurm-%d", (int)getpid());
    assert_true(exists(dir, run_dir, &mode));
    assert_int_equal(mode, 0700);
    assert_true(exists(s.dir, "worker.key", NULL) && exists(s.dir, "coord.pub", NULL));
    assert_int_equal(strlen(s.pub), ZD_CURVE_Z85_LEN);
    assert_int_equal(zd_keyset_size(keys), 1);
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    snprintf(want, sizeof want, "tcp://%s:7700", host);
    assert_string_equal(s.connect, want);
    assert_int_equal(s.prov.max_jobs, 3);
    assert_ptr_equal(s.cmds.worker_argv, argv);
    assert_string_equal(s.cmds.worker_key, s.worker_key);
    assert_true(s.cmds.idle_s == ZD_AUTOW_DEFAULT_IDLE_S);
    assert_true(exists(dir, "logs", NULL));
    zd_autow_setup_clear(&s);
    assert_false(exists(dir, run_dir, NULL));
    zd_keyset_free(&keys);
    zd_rmtree(dir);
}

/* An insecure run makes no keys; a run with its own pair gets its public key written. */
static void test_prepare_without_keys_or_with_the_runs_pair(void **state) {
    (void)state;
    char dir[256], why[512];
    temp_dir(dir, sizeof dir);
    zd_autow_setup s = {0};
    assert_int_equal(zd_autow_setup_check(&s, "", 0, "tcp://h:7700", why, sizeof why), 0);
    zd_autow_run r = {.state_dir = dir, .listen = "tcp://h:7700", .zdag = "/x/zdag"};
    assert_int_equal(zd_autow_setup_prepare(&s, &r, why, sizeof why), 0);
    assert_null(s.cmds.worker_key);
    assert_false(exists(s.dir, "worker.key", NULL));
    assert_string_equal(s.cmds.zdag, "/x/zdag");
    assert_string_equal(s.connect, "tcp://h:7700");
    zd_autow_setup_clear(&s);
    const char *pub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    zd_keyset *keys = zd_keyset_new();
    assert_int_equal(zd_autow_setup_check(&s, "", 0, "tcp://h:7700", why, sizeof why), 0);
    r = (zd_autow_run){.state_dir = dir,
                       .listen = "tcp://h:7700",
                       .secure = true,
                       .coord_public = pub,
                       .keys = &keys,
                       .zdag = "/x/zdag"};
    assert_int_equal(zd_autow_setup_prepare(&s, &r, why, sizeof why), 0);
    char got[ZD_CURVE_Z85_LEN + 1];
    zd_diags d;
    zd_diags_init(&d);
    assert_int_equal(zd_curve_load_public(s.coord_pub, got, &d), 0);
    zd_diags_clear(&d);
    assert_string_equal(got, pub);
    assert_string_equal(s.pub, ""); /* no pair made */
    zd_autow_setup_clear(&s);
    zd_keyset_free(&keys);
    zd_rmtree(dir);
}

/* The default workers' zdag: found on PATH when none is beside the library (the test
 * program's directory holds none); none at all is false. */
static void test_zdag_is_found_on_path(void **state) {
    (void)state;
    char dir[256], exe[300], found[4096];
    temp_dir(dir, sizeof dir);
    const char *saved = getenv("PATH");
    char *old = saved ? strdup(saved) : NULL;
    setenv("PATH", dir, 1);
    assert_false(zd_autow_find_zdag(found, sizeof found));
    snprintf(exe, sizeof exe, "%s/zdag", dir);
    FILE *f = fopen(exe, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    assert_false(zd_autow_find_zdag(found, sizeof found)); /* not executable */
    chmod(exe, 0700);
    char path[600];
    snprintf(path, sizeof path, "/nonexistent-zdag-dir:%s", dir);
    setenv("PATH", path, 1);
    assert_true(zd_autow_find_zdag(found, sizeof found));
    char real[4096];
    assert_non_null(realpath(exe, real));
    assert_string_equal(found, real);
    if (old)
        setenv("PATH", old, 1);
    free(old);
    zd_rmtree(dir);
}

static void gather(void *ctx, zdag_log_level level, const char *message) {
    if (level == ZDAG_LOG_ERROR)
        snprintf(ctx, 512, "%s", message);
}

static int fn_one(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_int(out, 1);
}

/* zdag_run() refuses slurm without listen, and numbers out of range, through the log sink
 * and zdag_dag_error(), before anything runs. */
static void test_zdag_run_checks_the_slurm_options(void **state) {
    (void)state;
    zdag_dag *dag = zdag_dag_new();
    assert_int_equal(zdag_dag_register(dag, "one", fn_one), 0);
    assert_int_equal(zdag_dag_add_fn(dag, "a", "one"), 0);
    zdag_options o;
    zdag_options_init(&o);
    char logged[512] = "";
    o.log = gather;
    o.log_ctx = logged;
    o.slurm = "-p debug";
    o.state_dir = "/nonexistent-zdag-state"; /* never reached */
    zdag_result *res = NULL;
    assert_int_equal(zdag_run(dag, &o, &res), ZDAG_EINVAL);
    assert_null(res);
    assert_non_null(strstr(logged, "slurm (automatic workers) needs listen"));
    assert_string_equal(zdag_dag_error(dag), logged);
    o.listen = "tcp://0.0.0.0:1";
    o.insecure = true;
    o.slurm_max_jobs = -1;
    assert_int_equal(zdag_run(dag, &o, &res), ZDAG_EINVAL);
    assert_non_null(strstr(logged, "slurm_max_jobs is -1"));
    o.slurm_max_jobs = 0;
    o.slurm_idle = 0.01;
    assert_int_equal(zdag_run(dag, &o, &res), ZDAG_EINVAL);
    assert_non_null(strstr(logged, "slurm_idle is 0.01"));
    o.slurm_idle = 0;
    const char *empty[] = {NULL};
    o.slurm_worker = empty;
    assert_int_equal(zdag_run(dag, &o, &res), ZDAG_EINVAL);
    assert_non_null(strstr(logged, "slurm_worker is an empty command"));
    o.slurm_worker = NULL;
    o.slurm = "-p 'open";
    assert_int_equal(zdag_run(dag, &o, &res), ZDAG_EINVAL);
    assert_non_null(strstr(logged, "-p 'open"));
    zdag_dag_free(&dag);
}

/* A worker job's settings read from ZDAG_WORKER_*; none set: not a worker. */
static void test_worker_options_from_the_environment(void **state) {
    (void)state;
    zdag_worker_options w;
    zdag_worker_options_init(&w);
    unsetenv("ZDAG_WORKER_CONNECT");
    assert_int_equal(zdag_worker_options_from_env(&w), 0);
    assert_null(w.connect);
    setenv("ZDAG_WORKER_CONNECT", "tcp://head:7700", 1);
    setenv("ZDAG_WORKER_CURVE_SECRET", "/k/w.key", 1);
    setenv("ZDAG_WORKER_COORDINATOR_KEY", "/k/c.pub", 1);
    setenv("ZDAG_WORKER_SLOTS", "3", 1);
    setenv("ZDAG_WORKER_CPUS", "2.5", 1);
    setenv("ZDAG_WORKER_HOST_ID", "n1", 1);
    setenv("ZDAG_WORKER_ALLOCATION", "77", 1);
    setenv("ZDAG_WORKER_IDLE_EXIT", "12.5", 1);
    assert_int_equal(zdag_worker_options_from_env(&w), 1);
    assert_string_equal(w.connect, "tcp://head:7700");
    assert_string_equal(w.curve_secret, "/k/w.key");
    assert_string_equal(w.coordinator_key, "/k/c.pub");
    assert_false(w.insecure);
    assert_int_equal(w.slots, 3);
    assert_true(w.cpus == 2.5 && w.idle_exit == 12.5);
    assert_string_equal(w.host_id, "n1");
    assert_string_equal(w.allocation, "77");
    setenv("ZDAG_WORKER_SLOTS", "3x", 1);
    assert_int_equal(zdag_worker_options_from_env(&w), ZDAG_EINVAL);
    setenv("ZDAG_WORKER_SLOTS", "1.5", 1);
    assert_int_equal(zdag_worker_options_from_env(&w), ZDAG_EINVAL);
    unsetenv("ZDAG_WORKER_SLOTS");
    setenv("ZDAG_WORKER_INSECURE", "1", 1);
    zdag_worker_options_init(&w);
    assert_int_equal(zdag_worker_options_from_env(&w), 1);
    assert_true(w.insecure);
    assert_true(w.cpus == 2.5);
    assert_int_equal(w.slots, 0);
    const char *names[] = {"CONNECT", "CURVE_SECRET", "COORDINATOR_KEY", "CPUS",
                           "HOST_ID", "ALLOCATION",   "IDLE_EXIT",       "INSECURE"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char name[64];
        snprintf(name, sizeof name, "ZDAG_WORKER_%s", names[i]);
        unsetenv(name);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_options_are_checked),
        cmocka_unit_test(test_prepare_makes_the_runs_keys),
        cmocka_unit_test(test_prepare_without_keys_or_with_the_runs_pair),
        cmocka_unit_test(test_zdag_is_found_on_path),
        cmocka_unit_test(test_zdag_run_checks_the_slurm_options),
        cmocka_unit_test(test_worker_options_from_the_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
