/* Automatic workers (`zdag run --slurm`): when ready nodes wait for hosts, worker jobs are asked
 * of the batch system, up to a number in flight; each job is followed from its submission to its
 * worker's join and departure; a job that fails to start is reported; at the end of the run what
 * is still queued is cancelled. This is the decision logic only, as events in and actions out:
 * no process and no clock of its own. The loop (coord.c) passes `now`, the core's demand
 * (zd_core_demand()) and the answers of the batch system, and carries out the actions with
 * coordinator/slurm.h. A fake clock and scripted answers drive it in tests.
 *
 * The rules:
 * - Submit when ready nodes wait for hosts (demand.waiting) and the slots of the jobs already
 *   coming (asked for, queued, or started but not joined) do not cover them; one job at a time
 *   (the next once sbatch has answered), while fewer than max_jobs are in flight.
 * - A node no host can fit (demand.too_big) gets a job of its size (CPUs, and mem_mb as
 *   memory) when no job coming is that big, unless the --slurm options fix the size: then a
 *   node bigger than that waits, and zd_prov_why() says so.
 * - A job that sbatch refuses, or that ends before its worker joins, is FAILED with the reason,
 *   logged and kept for the report; the next submission waits a back-off (retry_s, doubling, at
 *   most 60 s). After max_failures of them in a row, with no executor in the run and no job
 *   coming, the run gives up (ZD_PROV_GIVE_UP).
 * - A joined job ends with its worker (it left idle, was lost, or the run ended). */
#ifndef ZD_PROVISION_H
#define ZD_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "log.h"

typedef enum zd_prov_job_state {
    ZD_JOB_SUBMITTING, /* sbatch runs; no id yet */
    ZD_JOB_QUEUED,     /* it has an id; pending in the batch system (or not seen yet) */
    ZD_JOB_STARTED,    /* running there; its worker has not joined yet */
    ZD_JOB_JOINED,     /* its worker joined the run */
    ZD_JOB_ENDED,      /* its worker left or was lost, or the job ended after joining */
    ZD_JOB_FAILED,     /* sbatch refused it, or it ended before its worker joined */
    ZD_JOB_CANCELLED,  /* still queued (or not joined) at the end of the run: cancelled */
} zd_prov_job_state;

#define ZD_PROV_ID_MAX 64 /* bytes of a job id, its NUL included */

typedef struct zd_prov_job {
    char id[ZD_PROV_ID_MAX]; /* the batch system's job id ("" until sbatch answered) */
    zd_prov_job_state state; /* see zd_prov_job_state */
    double cpus;             /* CPUs asked for */
    double mem_mb;           /* memory asked for, MB (0: none asked) */
    int64_t for_node;        /* the node no host could fit it was sized for, or -1 */
    uint32_t agent;          /* its worker's agent id once joined, else 0 */
    char host[128];          /* ... and that worker's host ("" before) */
    double submitted_s;      /* when it was asked for (seconds since the start) */
    double joined_s;         /* when its worker joined; < 0 never */
    double ended_s;          /* when it ended, failed or was cancelled; < 0 not yet */
    bool polled;             /* its state was asked in the poll being answered */
    bool lost;               /* ENDED because its worker was lost: the job may still run */
    char why[256];           /* FAILED: why; ENDED: how ("left idle", "lost", ...); else "" */
} zd_prov_job;

typedef struct zd_prov_cfg {
    uint32_t max_jobs;     /* jobs in flight at most (submitting, queued, started or joined) */
    double cpus;           /* > 0: the --slurm options fix every job's CPUs (-c N) */
    double mem_mb;         /* > 0: ... and its memory (--mem) */
    const char *size_text; /* how they set it, for messages ("-c 2"), or NULL */
    double poll_s;         /* jobs not joined are asked about this often; 0 = 1 s */
    double retry_s;        /* first back-off after a job failed to start; 0 = 1 s */
    uint32_t max_failures; /* failures in a row before a run without executors gives up; 0 = 3 */
    const zd_graph *g;     /* the run's graph, for node names and needs (borrowed) */
    /* The state of a joined worker's agent (coordinator/core.h). */
    zd_core_agent_state (*agent_state)(void *ctx, uint32_t agent);
    void *ctx;  /* passed to agent_state */
    zd_log log; /* failures, sizes no job can have, the end */
} zd_prov_cfg;

typedef enum zd_prov_action_kind {
    ZD_PROV_SUBMIT,  /* submit job `job` (its cpus, mem_mb): answer zd_prov_on_submitted() */
    ZD_PROV_POLL,    /* ask the states of the jobs with `polled` set: answer zd_prov_on_states()
                        or zd_prov_on_poll_failed() */
    ZD_PROV_CANCEL,  /* cancel job `job` (by its id); no answer */
    ZD_PROV_GIVE_UP, /* no worker can be had: the run cannot go on (why) */
} zd_prov_action_kind;

typedef struct zd_prov_action {
    zd_prov_action_kind kind; /* what to do */
    uint32_t job;             /* SUBMIT, CANCEL: the job (index, zd_prov_job_at()) */
    const char *why;          /* GIVE_UP: why (borrowed until the next event) */
} zd_prov_action;

/* What the batch system says of one job (views borrowed for the call). */
typedef struct zd_prov_answer {
    const char *id;     /* the job id */
    const char *state;  /* Slurm's state name: PENDING, RUNNING, COMPLETED, FAILED, ... */
    const char *reason; /* its reason, or "" */
} zd_prov_answer;

typedef struct zd_prov zd_prov;

/* Creates the provisioner (cfg copied; its strings borrowed, they must outlive it). Returns
 * NULL when out of memory. */
zd_prov *zd_prov_new(const zd_prov_cfg *cfg);

/* Frees it; sets *p to NULL. Accepts NULL. */
void zd_prov_free(zd_prov **p);

/* The actions since the last call (borrowed until the next event); *n set, the list emptied. */
const zd_prov_action *zd_prov_actions(zd_prov *p, size_t *n);

/* Looks at the run: the demand for hosts `d`, the joined workers (cfg.agent_state), and decides
 * what to submit and whether to poll. */
void zd_prov_tick(zd_prov *p, double now, const zd_core_demand_info *d);

/* sbatch answered for job `job`: its id, or (id NULL) the error it printed. */
void zd_prov_on_submitted(zd_prov *p, double now, uint32_t job, const char *id, const char *error);

/* A poll's answers; a polled job absent from them has left the queue (it ended). */
void zd_prov_on_states(zd_prov *p, double now, const zd_prov_answer *a, size_t n);

/* The poll could not be made (logged at most once a minute); the jobs are asked again later. */
void zd_prov_on_poll_failed(zd_prov *p, double now, const char *why);

/* A worker joined with `allocation` as agent `agent` on `host`: the job of that id, if one is
 * ours, has joined. Returns true when it was one of ours. */
bool zd_prov_on_join(zd_prov *p, double now, const char *allocation, uint32_t agent,
                     const char *host);

/* The run is over: every job not joined (or whose worker was lost) is cancelled
 * (ZD_PROV_CANCEL each); nothing is submitted any more. */
void zd_prov_finish(zd_prov *p, double now);

/* The jobs, in submission order. */
uint32_t zd_prov_job_count(const zd_prov *p);
const zd_prov_job *zd_prov_job_at(const zd_prov *p, uint32_t job);

/* "queued", "started", ... */
const char *zd_prov_state_name(zd_prov_job_state s);

/* What automatic workers do for node `node` (of cfg.g) that waits for a host, in words, into
 * buf ("" when nothing): "Slurm job 12 (4 cpus) is queued", "a Slurm job for it waits: 2 jobs in
 * flight (--slurm-max-jobs)", "no Slurm worker job will fit it: --slurm sets -c 2". */
void zd_prov_why(const zd_prov *p, uint32_t node, char *buf, size_t size);

#endif
