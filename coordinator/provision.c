/* Automatic workers: the decisions (provision.h). */
#include "provision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MAX_S 60.0      /* the longest back-off after failed jobs */
#define POLL_FAILED_EVERY 60. /* a failing poll is logged once per this long */
#define MAX_ACTIONS 8         /* actions one event appends, at most */

struct zd_prov {
    zd_prov_cfg cfg;                  /* copy of the configuration */
    zd_prov_job *jobs;                /* every job, in submission order */
    uint32_t n_jobs, cap_jobs;        /* entries used and allocated */
    zd_prov_action acts[MAX_ACTIONS]; /* actions since the last zd_prov_actions() */
    size_t n_acts;                    /* entries in acts */
    uint32_t failures;                /* jobs that failed to start since a worker last joined */
    double next_submit_s;             /* no submission before this (back-off) */
    double next_poll_s;               /* no poll before this */
    bool polling;                     /* a poll is being answered */
    bool finished;                    /* zd_prov_finish() was called */
    bool gave_up;                     /* ZD_PROV_GIVE_UP was asked */
    int64_t unfit_logged;             /* the last node said to fit no job of the fixed size */
    zd_log_limit poll_limit;          /* rate limit of failed polls */
    char why[512];                    /* GIVE_UP's reason */
};

zd_prov *zd_prov_new(const zd_prov_cfg *cfg) {
    zd_prov *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = *cfg;
    if (p->cfg.max_jobs == 0)
        p->cfg.max_jobs = 1;
    if (p->cfg.poll_s <= 0)
        p->cfg.poll_s = 1;
    if (p->cfg.retry_s <= 0)
        p->cfg.retry_s = 1;
    if (p->cfg.max_failures == 0)
        p->cfg.max_failures = 3;
    p->unfit_logged = -1;
    p->poll_limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    return p;
}

void zd_prov_free(zd_prov **pp) {
    if (!pp || !*pp)
        return;
    free((*pp)->jobs);
    free(*pp);
    *pp = NULL;
}

const zd_prov_action *zd_prov_actions(zd_prov *p, size_t *n) {
    *n = p->n_acts;
    p->n_acts = 0;
    return p->acts;
}

static void act(zd_prov *p, zd_prov_action a) {
    if (p->n_acts < MAX_ACTIONS)
        p->acts[p->n_acts++] = a;
}

uint32_t zd_prov_job_count(const zd_prov *p) {
    return p->n_jobs;
}

const zd_prov_job *zd_prov_job_at(const zd_prov *p, uint32_t job) {
    return job < p->n_jobs ? &p->jobs[job] : NULL;
}

const char *zd_prov_state_name(zd_prov_job_state s) {
    static const char *const names[] = {"submitting", "queued", "started",  "joined",
                                        "ended",      "failed", "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static bool coming(const zd_prov_job *j) {
    return j->state == ZD_JOB_SUBMITTING || j->state == ZD_JOB_QUEUED || j->state == ZD_JOB_STARTED;
}

static bool in_flight(const zd_prov_job *j) {
    return coming(j) || j->state == ZD_JOB_JOINED;
}

static uint32_t count_if(const zd_prov *p, bool (*pred)(const zd_prov_job *)) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n_jobs; i++)
        n += pred(&p->jobs[i]);
    return n;
}

/* The slots the jobs coming will bring (one per CPU, at least one each). */
static double coming_slots(const zd_prov *p) {
    double slots = 0;
    for (uint32_t i = 0; i < p->n_jobs; i++)
        if (coming(&p->jobs[i]))
            slots += p->jobs[i].cpus >= 1 ? floor(p->jobs[i].cpus) : 1;
    return slots;
}

/* True when a job coming offers at least cpus and mem_mb. */
static bool coming_fits(const zd_prov *p, double cpus, double mem_mb) {
    for (uint32_t i = 0; i < p->n_jobs; i++)
        if (coming(&p->jobs[i]) && p->jobs[i].cpus >= cpus && p->jobs[i].mem_mb >= mem_mb)
            return true;
    return false;
}

/* A job of the fixed size (or this one) fits what a node needs. */
static bool size_fits(const zd_prov *p, double cpus, double mem_mb) {
    return (p->cfg.cpus <= 0 || p->cfg.cpus >= cpus) &&
           (p->cfg.mem_mb <= 0 || p->cfg.mem_mb >= mem_mb);
}

/* Appends a job of the given size, SUBMITTING, and asks for its submission. */
static void submit(zd_prov *p, double now, double cpus, double mem_mb, int64_t for_node) {
    if (p->n_jobs == p->cap_jobs) {
        uint32_t cap = p->cap_jobs ? 2 * p->cap_jobs : 8;
        zd_prov_job *v = realloc(p->jobs, cap * sizeof *v);
        if (!v) {
            zd_logf(&p->cfg.log, ZDAG_LOG_ERROR, "out of memory for a Slurm job");
            return;
        }
        p->jobs = v;
        p->cap_jobs = cap;
    }
    p->jobs[p->n_jobs] = (zd_prov_job){.state = ZD_JOB_SUBMITTING,
                                       .cpus = p->cfg.cpus > 0 ? p->cfg.cpus : cpus,
                                       .mem_mb = p->cfg.mem_mb > 0 ? p->cfg.mem_mb : mem_mb,
                                       .for_node = for_node,
                                       .submitted_s = now,
                                       .joined_s = -1,
                                       .ended_s = -1};
    act(p, (zd_prov_action){.kind = ZD_PROV_SUBMIT, .job = p->n_jobs});
    p->n_jobs++;
}

/* A job that did not start: why is recorded and logged; the next one waits a back-off. */
static void failed(zd_prov *p, double now, zd_prov_job *j, const char *why) {
    j->state = ZD_JOB_FAILED;
    j->ended_s = now;
    snprintf(j->why, sizeof j->why, "%s", why);
    p->failures++;
    double pause = p->cfg.retry_s * pow(2, p->failures - 1);
    p->next_submit_s = now + (pause < RETRY_MAX_S ? pause : RETRY_MAX_S);
    zd_logf(&p->cfg.log, ZDAG_LOG_WARNING, "Slurm worker job %s did not start: %s",
            j->id[0] ? j->id : "(none)", j->why);
}

/* Joined workers that left or were lost end their jobs. */
static void follow_agents(zd_prov *p, double now) {
    for (uint32_t i = 0; i < p->n_jobs; i++) {
        zd_prov_job *j = &p->jobs[i];
        if (j->state != ZD_JOB_JOINED || !p->cfg.agent_state)
            continue;
        zd_core_agent_state st = p->cfg.agent_state(p->cfg.ctx, j->agent);
        if (st == ZD_CORE_AGENT_ACTIVE)
            continue;
        j->state = ZD_JOB_ENDED;
        j->ended_s = now;
        j->lost = st == ZD_CORE_AGENT_LOST;
        snprintf(j->why, sizeof j->why, "%s",
                 st == ZD_CORE_AGENT_LOST      ? "its worker was lost"
                 : st == ZD_CORE_AGENT_DONE    ? "the run ended"
                 : st == ZD_CORE_AGENT_STOPPED ? "its worker was stopped (scancel, a time limit)"
                                               : "its worker left (idle)");
    }
}

/* The size of the job for a node no host fits, or false when none will do (a fixed size too
 * small, or a resource Slurm jobs do not offer): said once per node. */
static bool sized_job(zd_prov *p, const zd_core_demand_info *d, double *cpus, double *mem) {
    *cpus = ceil(d->need_cpus) > 1 ? ceil(d->need_cpus) : 1;
    *mem = ceil(d->need_mem_mb);
    bool fits = size_fits(p, *cpus, *mem) && !d->other_resources;
    if (!fits && p->unfit_logged != (int64_t)d->big_node) {
        p->unfit_logged = (int64_t)d->big_node;
        const zd_node *n = p->cfg.g ? zd_graph_node(p->cfg.g, d->big_node) : NULL;
        char why[160];
        if (d->other_resources)
            snprintf(why, sizeof why, "one needs a resource other than cpus and mem_mb");
        else
            snprintf(why, sizeof why, "--slurm sets %s",
                     p->cfg.size_text ? p->cfg.size_text : "a smaller size");
        zd_logf(&p->cfg.log, ZDAG_LOG_WARNING,
                "node \"%s\" needs %g cpus and %g mem_mb, more than any host offers, and no "
                "Slurm worker job will fit it (%s): it waits for a host that does",
                n ? n->name : "?", d->need_cpus, d->need_mem_mb, why);
    }
    return fits;
}

static bool submitting(const zd_prov_job *j) {
    return j->state == ZD_JOB_SUBMITTING;
}

/* Whether to submit a job now, and of what size. */
static void decide(zd_prov *p, double now, const zd_core_demand_info *d) {
    if (count_if(p, submitting) > 0)
        return; /* one sbatch at a time */
    if (d->waiting == 0 || now < p->next_submit_s || count_if(p, in_flight) >= p->cfg.max_jobs)
        return;
    double cpus = 1, mem = 0;
    uint32_t fit_waiting = d->waiting;
    if (d->too_big > 0) {
        if (sized_job(p, d, &cpus, &mem)) {
            if (!coming_fits(p, cpus, mem)) {
                submit(p, now, cpus, mem, d->big_node);
                return;
            }
        } else {
            fit_waiting -= d->too_big; /* no job can serve them */
        }
    }
    if ((double)fit_waiting > coming_slots(p))
        submit(p, now, 1, 0, -1);
}

/* After failures in a row, a run with no executor and nothing coming cannot go on. */
static void maybe_give_up(zd_prov *p, const zd_core_demand_info *d) {
    if (p->gave_up || p->failures < p->cfg.max_failures || d->executors > 0 ||
        count_if(p, in_flight) > 0)
        return;
    const zd_prov_job *last = &p->jobs[p->n_jobs - 1];
    snprintf(p->why, sizeof p->why, "no Slurm worker could be started (%u jobs failed: %s)",
             p->failures, last->why);
    p->gave_up = true;
    act(p, (zd_prov_action){.kind = ZD_PROV_GIVE_UP, .why = p->why});
}

void zd_prov_tick(zd_prov *p, double now, const zd_core_demand_info *d) {
    if (p->finished)
        return;
    follow_agents(p, now);
    maybe_give_up(p, d);
    if (p->gave_up)
        return;
    decide(p, now, d);
    bool unjoined = false;
    for (uint32_t i = 0; i < p->n_jobs; i++)
        unjoined |= p->jobs[i].state == ZD_JOB_QUEUED || p->jobs[i].state == ZD_JOB_STARTED;
    if (unjoined && !p->polling && now >= p->next_poll_s) {
        for (uint32_t i = 0; i < p->n_jobs; i++)
            p->jobs[i].polled =
                p->jobs[i].state == ZD_JOB_QUEUED || p->jobs[i].state == ZD_JOB_STARTED;
        p->polling = true;
        p->next_poll_s = now + p->cfg.poll_s;
        act(p, (zd_prov_action){.kind = ZD_PROV_POLL});
    }
}

void zd_prov_on_submitted(zd_prov *p, double now, uint32_t job, const char *id, const char *error) {
    if (job >= p->n_jobs || p->jobs[job].state != ZD_JOB_SUBMITTING)
        return;
    zd_prov_job *j = &p->jobs[job];
    if (!id || !id[0]) {
        char why[256];
        snprintf(why, sizeof why, "sbatch: %s", error && error[0] ? error : "no job id");
        failed(p, now, j, why);
        return;
    }
    snprintf(j->id, sizeof j->id, "%s", id);
    j->state = p->finished ? j->state : ZD_JOB_QUEUED;
    zd_logf(&p->cfg.log, ZDAG_LOG_INFO, "submitted Slurm worker job %s (%g cpus%s)", j->id, j->cpus,
            j->mem_mb > 0 ? ", memory asked" : "");
    if (p->finished) { /* the run ended while sbatch ran */
        j->state = ZD_JOB_CANCELLED;
        j->ended_s = now;
        act(p, (zd_prov_action){.kind = ZD_PROV_CANCEL, .job = job});
    }
}

/* True for the states of a job that has ended. */
static bool ended_state(const char *s) {
    return strcmp(s, "PENDING") != 0 && strcmp(s, "RUNNING") != 0 &&
           strcmp(s, "CONFIGURING") != 0 && strcmp(s, "COMPLETING") != 0 &&
           strcmp(s, "SUSPENDED") != 0 && strcmp(s, "REQUEUED") != 0 &&
           strcmp(s, "RESIZING") != 0 && strcmp(s, "SIGNALING") != 0 &&
           strcmp(s, "STAGE_OUT") != 0 && strcmp(s, "REQUEUE_HOLD") != 0 &&
           strcmp(s, "REQUEUE_FED") != 0;
}

/* One polled job's answer (a NULL: it has left the queue). */
static void answer(zd_prov *p, double now, zd_prov_job *j, const zd_prov_answer *a) {
    if (j->state != ZD_JOB_QUEUED && j->state != ZD_JOB_STARTED)
        return; /* it joined meanwhile */
    char why[256];
    if (!a) {
        failed(p, now, j, "it ended before its worker joined (it left the queue)");
    } else if (ended_state(a->state)) {
        bool reason = a->reason && a->reason[0] && strcmp(a->reason, "None") != 0;
        snprintf(why, sizeof why, "it ended before its worker joined: %s%s%s%s", a->state,
                 reason ? " (" : "", reason ? a->reason : "", reason ? ")" : "");
        failed(p, now, j, why);
    } else if (strcmp(a->state, "PENDING") != 0) {
        j->state = ZD_JOB_STARTED;
    }
}

void zd_prov_on_states(zd_prov *p, double now, const zd_prov_answer *a, size_t n) {
    p->polling = false;
    for (uint32_t i = 0; i < p->n_jobs; i++) {
        zd_prov_job *j = &p->jobs[i];
        if (!j->polled)
            continue;
        j->polled = false;
        const zd_prov_answer *mine = NULL;
        for (size_t k = 0; k < n && !mine; k++)
            if (a[k].id && strcmp(a[k].id, j->id) == 0)
                mine = &a[k];
        answer(p, now, j, mine);
    }
}

void zd_prov_on_poll_failed(zd_prov *p, double now, const char *why) {
    p->polling = false;
    for (uint32_t i = 0; i < p->n_jobs; i++)
        p->jobs[i].polled = false;
    unsigned held;
    if (zd_log_limit_ok(&p->poll_limit, now, POLL_FAILED_EVERY, &held))
        zd_logf(&p->cfg.log, ZDAG_LOG_WARNING, "cannot ask Slurm about the worker jobs: %s", why);
}

bool zd_prov_on_join(zd_prov *p, double now, const char *allocation, uint32_t agent,
                     const char *host) {
    for (uint32_t i = 0; allocation && allocation[0] && i < p->n_jobs; i++) {
        zd_prov_job *j = &p->jobs[i];
        if (strcmp(j->id, allocation) != 0 || j->agent)
            continue;
        /* A job given up on (it left the queue unseen) whose worker comes after all counts. */
        j->state = ZD_JOB_JOINED;
        j->agent = agent;
        j->joined_s = now;
        j->ended_s = -1;
        j->why[0] = '\0';
        snprintf(j->host, sizeof j->host, "%s", host ? host : "");
        p->failures = 0;
        p->next_submit_s = 0;
        return true;
    }
    return false;
}

void zd_prov_finish(zd_prov *p, double now) {
    if (p->finished)
        return;
    p->finished = true;
    follow_agents(p, now);
    for (uint32_t i = 0; i < p->n_jobs; i++) {
        zd_prov_job *j = &p->jobs[i];
        bool lost = j->state == ZD_JOB_ENDED && j->lost; /* its job may still run */
        if (j->state == ZD_JOB_QUEUED || j->state == ZD_JOB_STARTED || lost) {
            if (!lost) {
                j->state = ZD_JOB_CANCELLED;
                j->ended_s = now;
            }
            act(p, (zd_prov_action){.kind = ZD_PROV_CANCEL, .job = i});
        }
    }
}

void zd_prov_why(const zd_prov *p, uint32_t node, char *buf, size_t size) {
    if (size)
        buf[0] = '\0';
    const zd_node *n = p->cfg.g ? zd_graph_node(p->cfg.g, node) : NULL;
    if (!n || !size)
        return;
    double mem = 0;
    for (uint32_t k = 0; k < n->n_resources; k++)
        if (strcmp(n->resources[k].name, "mem_mb") == 0)
            mem = n->resources[k].amount;
    for (uint32_t i = 0; i < p->n_jobs; i++) {
        const zd_prov_job *j = &p->jobs[i];
        if (coming(j) && j->cpus >= n->cpus && j->mem_mb >= mem) {
            snprintf(buf, size, "Slurm job %s (%g cpus) is %s", j->id[0] ? j->id : "(submitting)",
                     j->cpus, zd_prov_state_name(j->state));
            return;
        }
    }
    if (!size_fits(p, ceil(n->cpus), ceil(mem)))
        snprintf(buf, size, "no Slurm worker job will fit it: --slurm sets %s",
                 p->cfg.size_text ? p->cfg.size_text : "a smaller size");
    else if (count_if(p, in_flight) >= p->cfg.max_jobs)
        snprintf(buf, size, "a Slurm job for it waits: %u jobs in flight (--slurm-max-jobs)",
                 p->cfg.max_jobs);
}
