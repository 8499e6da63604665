/* Slurm's commands for automatic workers (coordinator/slurm.h): the --slurm options split as a
 * shell would, the job size they set, sbatch's and squeue's output read, the worker job's
 * script, and the commands run in the background (here stand-ins for sbatch, squeue and
 * scancel: small scripts that answer as they do and note how they were called). */
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

#include "graphs.h"
#include "slurm.h"
#include "xset.h"

static void test_split_as_a_shell_would(void **state) {
    (void)state;
    char **w;
    size_t n;
    char why[128];
    assert_int_equal(zd_slurm_split("  -p short  -t 1:00 --comment='a b' x\"y z\"\\ q ''", &w, &n,
                                    why, sizeof why),
                     0);
    assert_int_equal(n, 7);
    const char *want[] = {"-p", "short", "-t", "1:00", "--comment=a b", "xy z q", ""};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(w[i], want[i]);
    assert_null(w[n]);
    zd_slurm_words_free(&w);
    assert_null(w);
    assert_int_equal(zd_slurm_split("\"a \\\" \\\\ \\n\"", &w, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    assert_string_equal(w[0], "a \" \\ \\n");
    zd_slurm_words_free(&w);
    assert_int_equal(zd_slurm_split("", &w, &n, why, sizeof why), 0);
    assert_int_equal(n, 0);
    assert_null(w[0]);
    zd_slurm_words_free(&w);
    assert_int_equal(zd_slurm_split("-p 'open", &w, &n, why, sizeof why), ZDAG_EINVAL);
    assert_string_equal(why, "the --slurm options have an unclosed '");
    assert_int_equal(zd_slurm_split("-p x\\", &w, &n, why, sizeof why), ZDAG_EINVAL);
    assert_string_equal(why, "a backslash ends the --slurm options");
}

static void test_size_from_the_options(void **state) {
    (void)state;
    double cpus, mem;
    char text[64], why[128];
    const char *a[] = {"-p", "x", "-c", "4", "--mem=2G"};
    assert_true(zd_slurm_size(a, 5, &cpus, &mem, text, sizeof text, why, sizeof why));
    assert_true(cpus == 4 && mem == 2048);
    assert_string_equal(text, "-c 4 --mem=2G");
    const char *b[] = {"-c8", "--mem", "512", "--cpus-per-task=2"};
    assert_true(zd_slurm_size(b, 4, &cpus, &mem, text, sizeof text, why, sizeof why));
    assert_true(cpus == 2 && mem == 512); /* the last one wins, as in sbatch */
    const char *c[] = {"--cpus-per-task", "3", "--mem-per-cpu=1G"};
    assert_true(zd_slurm_size(c, 3, &cpus, &mem, text, sizeof text, why, sizeof why));
    assert_true(cpus == 3 && mem == 0);
    const char *d[] = {"-t", "5"};
    assert_true(zd_slurm_size(d, 2, &cpus, &mem, text, sizeof text, why, sizeof why));
    assert_true(cpus == 0 && mem == 0 && text[0] == '\0');
    const char *e[] = {"-c", "two"};
    assert_false(zd_slurm_size(e, 2, &cpus, &mem, text, sizeof text, why, sizeof why));
    assert_string_equal(why, "--slurm: -c takes a whole number, not \"two\"");
    const char *f[] = {"--mem=lots"};
    assert_false(zd_slurm_size(f, 1, &cpus, &mem, text, sizeof text, why, sizeof why));
}

static void test_read_sbatch_and_squeue(void **state) {
    (void)state;
    char id[16];
    assert_true(zd_slurm_parse_sbatch("1234\n", id, sizeof id));
    assert_string_equal(id, "1234");
    assert_true(zd_slurm_parse_sbatch("77;cluster2\n", id, sizeof id));
    assert_string_equal(id, "77");
    assert_false(zd_slurm_parse_sbatch("Submitted batch job 5\n", id, sizeof id));
    assert_false(zd_slurm_parse_sbatch("", id, sizeof id));
    assert_false(zd_slurm_parse_sbatch("12345678901234567890", id, sizeof id));
    char out[] = "12|PENDING|Resources\n13|RUNNING|None\nnonsense\n 14|FAILED|NonZeroExitCode\n";
    zd_prov_answer a[8];
    assert_int_equal(zd_slurm_parse_squeue(out, a, 8), 3);
    assert_string_equal(a[0].id, "12");
    assert_string_equal(a[0].state, "PENDING");
    assert_string_equal(a[0].reason, "Resources");
    assert_string_equal(a[2].id, "14");
    assert_string_equal(a[2].reason, "NonZeroExitCode");
}

/* A private directory with stand-ins for Slurm's commands. */
typedef struct fake {
    char dir[64];     /* the directory (removed at the end) */
    char sbatch[128]; /* the commands */
    char squeue[128];
    char scancel[128];
    char calls[128]; /* each command appends its argv here */
    char out[128];   /* the jobs' --output */
    zd_graph *g;     /* a graph for the provisioner */
    zd_prov *p;      /* a provisioner */
    zd_slurm *s;     /* the commands' runner */
} fake;

static void write_exec(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0700);
}

static void fake_setup(fake *f, const char *sbatch_body) {
    memset(f, 0, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/zdag-test-slurm-XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : ".");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->calls, sizeof f->calls, "%s/calls", f->dir);
    snprintf(f->out, sizeof f->out, "%s/slurm-%%j.out", f->dir);
    char body[1024];
    snprintf(f->sbatch, sizeof f->sbatch, "%s/sbatch", f->dir);
    snprintf(body, sizeof body, "#!/bin/sh\necho sbatch \"$@\" >> %s\n%s\n", f->calls, sbatch_body);
    write_exec(f->sbatch, body);
    snprintf(f->squeue, sizeof f->squeue, "%s/squeue", f->dir);
    snprintf(body, sizeof body,
             "#!/bin/sh\necho squeue \"$@\" >> %s\necho '4242|RUNNING|None'\necho '9|PENDING|x'\n",
             f->calls);
    write_exec(f->squeue, body);
    snprintf(f->scancel, sizeof f->scancel, "%s/scancel", f->dir);
    snprintf(body, sizeof body,
             "#!/bin/sh\necho scancel \"$@\" >> %s\n"
             "echo 'scancel: error: Kill job error on job id 1: Job/step already completing or "
             "completed' >&2\nexit 1\n",
             f->calls);
    write_exec(f->scancel, body);
    f->g = build_graph((const char *[]){"a", NULL}, NULL);
    zd_prov_cfg pc = {.max_jobs = 2, .g = f->g};
    assert_non_null(f->p = zd_prov_new(&pc));
    const char *words[] = {"-p", "debug part"};
    zd_slurm_cfg sc = {.words = words,
                       .n_words = 2,
                       .dir = f->dir,
                       .output = f->out,
                       .zdag = "/opt/zd ag/zdag",
                       .connect = "tcp://head:7700",
                       .worker_key = "/keys/w.key",
                       .coordinator_key = "/keys/c.pub",
                       .idle_s = 30,
                       .sbatch = f->sbatch,
                       .squeue = f->squeue,
                       .scancel = f->scancel};
    assert_int_equal(zd_slurm_new(&sc, &f->s), 0);
}

static void fake_teardown(fake *f) {
    zd_slurm_free(&f->s);
    zd_prov_free(&f->p);
    zd_graph_free(&f->g);
    zd_rmtree(f->dir);
}

/* Ticks the provisioner (one node waiting) and carries out its actions until the command
 * queued has answered. */
static void run_commands(fake *f, double now, uint32_t waiting) {
    zd_core_demand_info d = {.waiting = waiting, .big_node = UINT32_MAX, .executors = 1};
    zd_prov_tick(f->p, now, &d);
    size_t n;
    const zd_prov_action *a = zd_prov_actions(f->p, &n);
    zd_slurm_queue(f->s, f->p, now, a, n);
    for (int i = 0; i < 500 && zd_slurm_timeout_ms(f->s) >= 0; i++) {
        usleep(10000);
        zd_slurm_step(f->s, f->p, now);
    }
    assert_true(zd_slurm_timeout_ms(f->s) < 0);
}

static char *slurp(const char *path) {
    static char buf[4096];
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* The job script runs one zdag worker named by the job, with the run's keys, quoted for sh;
 * sbatch gets zdag's options then the user's (as separate words), and the script; its job id
 * comes back; squeue is asked about the job; scancel at the end, its "already completed" not
 * taken for a failure. */
static void test_commands_run_in_the_background(void **state) {
    (void)state;
    fake f;
    fake_setup(&f, "echo 4242");
    char script[128];
    snprintf(script, sizeof script, "%s/worker.sh", f.dir);
    const char *text = slurp(script);
    assert_non_null(strstr(text, "export ZDAG_WORKER_CONNECT='tcp://head:7700'\n"));
    assert_non_null(strstr(text, "exec '/opt/zd ag/zdag' worker --connect \"$ZDAG_WORKER_CONNECT\" "
                                 "--host-id \"$ZDAG_WORKER_HOST_ID\""));
    assert_non_null(strstr(text, "--idle-exit 30"));
    assert_non_null(strstr(text, "export ZDAG_WORKER_CURVE_SECRET='/keys/w.key'\n"));
    assert_non_null(strstr(text, "--curve-secret \"$ZDAG_WORKER_CURVE_SECRET\""));
    run_commands(&f, 0, 1);
    const zd_prov_job *j = zd_prov_job_at(f.p, 0);
    assert_int_equal(j->state, ZD_JOB_QUEUED);
    assert_string_equal(j->id, "4242");
    char want[512];
    snprintf(want, sizeof want,
             "sbatch --parsable --job-name=zdag-worker --nodes=1 --ntasks=1 --output=%s "
             "--cpus-per-task=1 -p debug part %s\n",
             f.out, script);
    assert_string_equal(slurp(f.calls), want);
    run_commands(&f, 2, 1); /* nothing more to submit (its slot comes); a poll */
    assert_int_equal(j->state, ZD_JOB_STARTED);
    assert_non_null(strstr(slurp(f.calls), "squeue -h -t all -o %i|%T|%r -j 4242\n"));
    zd_prov_finish(f.p, 3);
    size_t n;
    const zd_prov_action *a = zd_prov_actions(f.p, &n);
    zd_slurm_queue(f.s, f.p, 3, a, n);
    zd_slurm_drain(f.s, f.p, 3, 10);
    assert_non_null(strstr(slurp(f.calls), "scancel 4242\n"));
    assert_int_equal(j->state, ZD_JOB_CANCELLED);
    fake_teardown(&f);
}

/* Runs the job script of cfg with sh in a Slurm-like environment; returns what its worker
 * command (a stand-in that prints its arguments and the ZDAG_WORKER_* variables) wrote. */
static char *run_script(const char *dir, zd_slurm_cfg *cfg, const char *mem) {
    char path[128], cmd[512], out[128];
    snprintf(path, sizeof path, "%s/job.sh", dir);
    snprintf(out, sizeof out, "%s/job.out", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(zd_slurm_write_script(cfg, f), 0);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "env -i PATH=/usr/bin:/bin SLURM_CPUS_ON_NODE=3 SLURM_JOB_ID=77 SLURMD_NODENAME=n1 "
             "SLURM_MEM_PER_NODE=%s sh %s > %s 2>&1",
             mem, path, out);
    assert_int_equal(system(cmd), 0);
    return slurp(out);
}

/* Every worker finds the job's settings in ZDAG_WORKER_*: a program of its own (worker_argv,
 * each word quoted) as well as `zdag worker`, which also gets them as flags. */
static void test_the_job_script_gives_the_worker_its_settings(void **state) {
    (void)state;
    fake f;
    fake_setup(&f, "echo 1");
    char show[128];
    snprintf(show, sizeof show, "%s/show worker", f.dir);
    write_exec(show, "#!/bin/sh\necho \"args: $*\"\nenv | grep ^ZDAG_WORKER_ | sort\n");
    const char *argv[] = {show, "it's", "a b", NULL};
    zd_slurm_cfg cfg = {.connect = "tcp://head:7700",
                        .worker_key = "/k/w.key",
                        .coordinator_key = "/k/c.pub",
                        .idle_s = 12.5,
                        .worker_argv = argv};
    char *text = run_script(f.dir, &cfg, "2048");
    assert_string_equal(text, "args: it's a b\n"
                              "ZDAG_WORKER_ALLOCATION=77\n"
                              "ZDAG_WORKER_CONNECT=tcp://head:7700\n"
                              "ZDAG_WORKER_COORDINATOR_KEY=/k/c.pub\n"
                              "ZDAG_WORKER_CPUS=3\n"
                              "ZDAG_WORKER_CURVE_SECRET=/k/w.key\n"
                              "ZDAG_WORKER_HOST_ID=n1\n"
                              "ZDAG_WORKER_IDLE_EXIT=12.5\n"
                              "ZDAG_WORKER_MEM_MB=2048\n"
                              "ZDAG_WORKER_SLOTS=3\n");
    cfg = (zd_slurm_cfg){.connect = "tcp://head:7700", .idle_s = 5, .zdag = show};
    text = run_script(f.dir, &cfg, "0");
    assert_non_null(strstr(text, "args: worker --connect tcp://head:7700 --host-id n1 "
                                 "--allocation 77 --slots 3 --cpus 3 --idle-exit 5 --insecure\n"));
    assert_non_null(strstr(text, "ZDAG_WORKER_INSECURE=1\n"));
    assert_null(strstr(text, "MEM_MB"));
    fake_teardown(&f);
}

/* sbatch failing says why (its stderr); a program that does not exist too. */
static void test_a_failing_sbatch_is_answered(void **state) {
    (void)state;
    fake f;
    fake_setup(&f, "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1");
    run_commands(&f, 0, 1);
    const zd_prov_job *j = zd_prov_job_at(f.p, 0);
    assert_int_equal(j->state, ZD_JOB_FAILED);
    assert_string_equal(j->why, "sbatch: sbatch: error: invalid partition specified: nope");
    fake_teardown(&f);
    fake_setup(&f, "echo 1");
    unlink(f.sbatch);
    run_commands(&f, 0, 1);
    assert_int_equal(zd_prov_job_at(f.p, 0)->state, ZD_JOB_FAILED);
    assert_non_null(strstr(zd_prov_job_at(f.p, 0)->why, "cannot start"));
    fake_teardown(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_as_a_shell_would),
        cmocka_unit_test(test_size_from_the_options),
        cmocka_unit_test(test_read_sbatch_and_squeue),
        cmocka_unit_test(test_commands_run_in_the_background),
        cmocka_unit_test(test_a_failing_sbatch_is_answered),
        cmocka_unit_test(test_the_job_script_gives_the_worker_its_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
