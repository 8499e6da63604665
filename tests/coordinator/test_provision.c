/* Automatic workers' decisions (coordinator/provision.h) with a fake clock, scripted demand and
 * scripted answers of the batch system: when to submit, how many, of what size, when to stop,
 * what is reported. No process, no Slurm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graphs.h"
#include "provision.h"

#define MAX_AGENTS 8

typedef struct rig {
    zd_prov *p;                             /* under test */
    zd_graph *g;                            /* nodes for names and needs */
    zd_prov_action acts[16];                /* the actions of the last event */
    size_t n;                               /* entries in acts */
    zd_core_agent_state agents[MAX_AGENTS]; /* what the "core" says of each agent */
    char log[4096];                         /* every message */
} rig;

static zd_core_agent_state agent_state(void *ctx, uint32_t agent) {
    rig *r = ctx;
    return agent < MAX_AGENTS ? r->agents[agent] : ZD_CORE_AGENT_NONE;
}

static void keep_log(void *ctx, zdag_log_level level, const char *msg) {
    (void)level;
    rig *r = ctx;
    size_t used = strlen(r->log);
    snprintf(r->log + used, sizeof r->log - used, "%s\n", msg);
}

static void setup(rig *r, zd_prov_cfg cfg) {
    memset(r, 0, sizeof *r);
    r->g = build_graph((const char *[]){"a", "b", "c", "big", NULL}, NULL);
    zd_graph_node(r->g, 3)->cpus = 2.5;
    cfg.g = r->g;
    cfg.agent_state = agent_state;
    cfg.ctx = r;
    cfg.log = (zd_log){keep_log, r};
    assert_non_null(r->p = zd_prov_new(&cfg));
}

static void teardown(rig *r) {
    zd_prov_free(&r->p);
    zd_graph_free(&r->g);
}

static void take(rig *r) {
    size_t n;
    const zd_prov_action *a = zd_prov_actions(r->p, &n);
    assert_true(n <= 16);
    memcpy(r->acts, a, n * sizeof *a);
    r->n = n;
}

static int count(const rig *r, zd_prov_action_kind kind) {
    int k = 0;
    for (size_t i = 0; i < r->n; i++)
        k += r->acts[i].kind == kind;
    return k;
}

/* A tick with `waiting` nodes waiting for hosts (none too big) and `executors` in the run. */
static void tick(rig *r, double now, uint32_t waiting, uint32_t executors) {
    zd_core_demand_info d = {.waiting = waiting, .big_node = UINT32_MAX, .executors = executors};
    zd_prov_tick(r->p, now, &d);
    take(r);
}

static zd_prov_job_state job_state(const rig *r, uint32_t job) {
    return zd_prov_job_at(r->p, job)->state;
}

/* One job at a time (the next once sbatch answered), never more than max_jobs in flight, none
 * while the jobs coming will bring enough slots; the jobs not joined are polled. */
static void test_submits_one_at_a_time_up_to_max_jobs(void **state) {
    (void)state;
    rig r;
    setup(&r, (zd_prov_cfg){.max_jobs = 2});
    tick(&r, 0, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    assert_int_equal(r.acts[0].job, 0);
    assert_true(zd_prov_job_at(r.p, 0)->cpus == 1 && zd_prov_job_at(r.p, 0)->mem_mb == 0);
    tick(&r, 0.1, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* sbatch still runs */
    zd_prov_on_submitted(r.p, 0.2, 0, "100", NULL);
    assert_int_equal(job_state(&r, 0), ZD_JOB_QUEUED);
    assert_non_null(strstr(r.log, "submitted Slurm worker job 100 (1 cpus)"));
    tick(&r, 0.3, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    assert_int_equal(count(&r, ZD_PROV_POLL), 1);
    assert_true(zd_prov_job_at(r.p, 0)->polled && !zd_prov_job_at(r.p, 1)->polled);
    zd_prov_on_submitted(r.p, 0.4, 1, "101", NULL);
    zd_prov_answer a[] = {{"100", "PENDING", "Resources"}};
    zd_prov_on_states(r.p, 0.5, a, 1);
    assert_int_equal(job_state(&r, 0), ZD_JOB_QUEUED);
    tick(&r, 1.0, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* 2 in flight: the most */
    assert_int_equal(count(&r, ZD_PROV_POLL), 0);   /* at most once a second */
    tick(&r, 1.4, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_POLL), 1);
    zd_prov_answer b[] = {{"100", "RUNNING", "None"}, {"101", "PENDING", "Priority"}};
    zd_prov_on_states(r.p, 1.5, b, 2);
    assert_int_equal(job_state(&r, 0), ZD_JOB_STARTED);
    assert_int_equal(job_state(&r, 1), ZD_JOB_QUEUED);
    teardown(&r);
}

/* Jobs coming cover the nodes waiting: no more is asked for. */
static void test_no_job_while_coming_ones_suffice(void **state) {
    (void)state;
    rig r;
    setup(&r, (zd_prov_cfg){.max_jobs = 4, .cpus = 2, .size_text = "-c 2"});
    tick(&r, 0, 2, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    assert_true(zd_prov_job_at(r.p, 0)->cpus == 2); /* the size --slurm sets */
    zd_prov_on_submitted(r.p, 0.1, 0, "7", NULL);
    tick(&r, 0.2, 2, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* its 2 slots serve the 2 waiting */
    tick(&r, 1.5, 3, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1); /* a third node waits */
    teardown(&r);
}

/* A joined job ends with its worker (left idle, or lost); more demand then asks again. */
static void test_joined_jobs_end_with_their_workers(void **state) {
    (void)state;
    rig r;
    setup(&r, (zd_prov_cfg){.max_jobs = 1});
    tick(&r, 0, 1, 0);
    zd_prov_on_submitted(r.p, 0.1, 0, "200", NULL);
    assert_false(zd_prov_on_join(r.p, 0.2, "999", 1, "vm")); /* not ours */
    assert_false(zd_prov_on_join(r.p, 0.2, NULL, 1, "vm"));
    r.agents[2] = ZD_CORE_AGENT_ACTIVE;
    assert_true(zd_prov_on_join(r.p, 0.3, "200", 2, "vm"));
    const zd_prov_job *j = zd_prov_job_at(r.p, 0);
    assert_int_equal(j->state, ZD_JOB_JOINED);
    assert_string_equal(j->host, "vm");
    assert_true(j->joined_s == 0.3);
    tick(&r, 0.5, 1, 1);
    assert_int_equal(r.n, 0); /* one in flight: the most; joined: no poll */
    r.agents[2] = ZD_CORE_AGENT_LEFT;
    tick(&r, 2.0, 0, 0);
    assert_int_equal(j->state, ZD_JOB_ENDED);
    assert_string_equal(j->why, "its worker left (idle)");
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* nothing waits */
    tick(&r, 3.0, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    zd_prov_on_submitted(r.p, 3.1, 1, "201", NULL);
    r.agents[3] = ZD_CORE_AGENT_ACTIVE;
    assert_true(zd_prov_on_join(r.p, 3.2, "201", 3, "vm"));
    r.agents[3] = ZD_CORE_AGENT_LOST;
    tick(&r, 4.0, 1, 0);
    assert_string_equal(zd_prov_job_at(r.p, 1)->why, "its worker was lost");
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1); /* its nodes wait again */
    teardown(&r);
}

/* sbatch refusing a job, or a job ending before its worker joined, is a failure with its
 * reason; the next submission waits 1 s, then 2 s; after 3 in a row with no executor in the
 * run and nothing coming, the run gives up; a join resets the count. */
static void test_failures_back_off_then_give_up(void **state) {
    (void)state;
    rig r;
    setup(&r, (zd_prov_cfg){.max_jobs = 2});
    tick(&r, 0, 1, 0);
    zd_prov_on_submitted(r.p, 0.1, 0, NULL, "error: invalid partition name specified");
    const zd_prov_job *j = zd_prov_job_at(r.p, 0);
    assert_int_equal(j->state, ZD_JOB_FAILED);
    assert_string_equal(j->why, "sbatch: error: invalid partition name specified");
    assert_non_null(strstr(r.log, "Slurm worker job (none) did not start: sbatch: error: "
                                  "invalid partition name specified"));
    tick(&r, 1.0, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* back-off until 1.1 */
    tick(&r, 1.2, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    zd_prov_on_submitted(r.p, 1.3, 1, "301", NULL);
    tick(&r, 1.4, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_POLL), 1);
    zd_prov_answer a[] = {{"301", "FAILED", "NonZeroExitCode"}};
    zd_prov_on_states(r.p, 1.5, a, 1);
    assert_string_equal(zd_prov_job_at(r.p, 1)->why,
                        "it ended before its worker joined: FAILED (NonZeroExitCode)");
    tick(&r, 3.0, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* back-off 2 s: until 3.5 */
    tick(&r, 3.6, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    zd_prov_on_submitted(r.p, 3.7, 2, "302", NULL);
    tick(&r, 3.8, 1, 0);
    zd_prov_on_states(r.p, 3.9, NULL, 0); /* it left the queue unseen */
    assert_string_equal(zd_prov_job_at(r.p, 2)->why,
                        "it ended before its worker joined (it left the queue)");
    tick(&r, 4.0, 1, 2);
    assert_int_equal(count(&r, ZD_PROV_GIVE_UP), 0); /* other executors: the run goes on */
    tick(&r, 4.1, 1, 0);
    assert_int_equal(count(&r, ZD_PROV_GIVE_UP), 1);
    assert_string_equal(r.acts[0].why, "no Slurm worker could be started (3 jobs failed: it "
                                       "ended before its worker joined (it left the queue))");
    tick(&r, 100, 1, 0);
    assert_int_equal(r.n, 0); /* once */
    teardown(&r);
}

/* A node no host fits gets a job of its size (CPUs rounded up, its mem_mb as memory), and its
 * status names that job; with the size fixed by --slurm, a node bigger than that gets none,
 * says why, and the others still get jobs. */
static void test_sizes_for_nodes_no_host_fits(void **state) {
    (void)state;
    rig r;
    char why[256];
    setup(&r, (zd_prov_cfg){.max_jobs = 3});
    zd_core_demand_info d = {
        .waiting = 2, .too_big = 1, .need_cpus = 2.5, .need_mem_mb = 1000, .big_node = 3};
    zd_prov_tick(r.p, 0, &d);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1);
    const zd_prov_job *j = zd_prov_job_at(r.p, 0);
    assert_true(j->cpus == 3 && j->mem_mb == 1000 && j->for_node == 3);
    zd_prov_why(r.p, 3, why, sizeof why);
    assert_string_equal(why, "Slurm job (submitting) (3 cpus) is submitting");
    zd_prov_on_submitted(r.p, 0.1, 0, "400", NULL);
    zd_prov_why(r.p, 3, why, sizeof why);
    assert_string_equal(why, "Slurm job 400 (3 cpus) is queued");
    zd_prov_tick(r.p, 0.2, &d);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* job 400 brings 3 slots for both */
    teardown(&r);

    setup(&r, (zd_prov_cfg){.max_jobs = 3, .cpus = 1, .size_text = "-c 1"});
    zd_prov_tick(r.p, 0, &d);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 1); /* for the other node */
    assert_true(zd_prov_job_at(r.p, 0)->cpus == 1 && zd_prov_job_at(r.p, 0)->for_node == -1);
    assert_non_null(strstr(r.log, "node \"big\" needs 2.5 cpus and 1000 mem_mb, more than any "
                                  "host offers, and no Slurm worker job will fit it (--slurm "
                                  "sets -c 1)"));
    zd_prov_why(r.p, 3, why, sizeof why);
    assert_string_equal(why, "no Slurm worker job will fit it: --slurm sets -c 1");
    zd_prov_on_submitted(r.p, 0.1, 0, "500", NULL);
    zd_prov_tick(r.p, 0.2, &d);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_SUBMIT), 0); /* the big one cannot be served */
    teardown(&r);
}

/* At the end of the run every job not joined is cancelled, and a job whose worker was lost
 * (its job may run on); joined ones end with the run; a job sbatch answers for after the end
 * is cancelled at once; nothing more is submitted. */
static void test_finish_cancels_what_has_not_joined(void **state) {
    (void)state;
    rig r;
    setup(&r, (zd_prov_cfg){.max_jobs = 5});
    for (uint32_t i = 0; i < 4; i++) {
        tick(&r, i, 10, 0);
        if (i < 3) {
            char id[8];
            snprintf(id, sizeof id, "%u", 600 + i);
            zd_prov_on_submitted(r.p, i + 0.1, i, id, NULL);
        }
    }
    r.agents[1] = r.agents[2] = ZD_CORE_AGENT_ACTIVE;
    assert_true(zd_prov_on_join(r.p, 5, "601", 1, "vm"));
    assert_true(zd_prov_on_join(r.p, 5, "602", 2, "vm"));
    r.agents[1] = ZD_CORE_AGENT_DONE; /* the core told it BYE */
    r.agents[2] = ZD_CORE_AGENT_LOST;
    zd_prov_finish(r.p, 6);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_CANCEL), 2);
    assert_int_equal(r.acts[0].job, 0); /* queued */
    assert_int_equal(r.acts[1].job, 2); /* its worker lost */
    assert_int_equal(job_state(&r, 0), ZD_JOB_CANCELLED);
    assert_int_equal(job_state(&r, 1), ZD_JOB_ENDED);
    assert_string_equal(zd_prov_job_at(r.p, 1)->why, "the run ended");
    zd_prov_on_submitted(r.p, 6.5, 3, "603", NULL);
    take(&r);
    assert_int_equal(count(&r, ZD_PROV_CANCEL), 1);
    assert_int_equal(job_state(&r, 3), ZD_JOB_CANCELLED);
    tick(&r, 7, 10, 0);
    assert_int_equal(r.n, 0);
    teardown(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submits_one_at_a_time_up_to_max_jobs),
        cmocka_unit_test(test_no_job_while_coming_ones_suffice),
        cmocka_unit_test(test_joined_jobs_end_with_their_workers),
        cmocka_unit_test(test_failures_back_off_then_give_up),
        cmocka_unit_test(test_sizes_for_nodes_no_host_fits),
        cmocka_unit_test(test_finish_cancels_what_has_not_joined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
