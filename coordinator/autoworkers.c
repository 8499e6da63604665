/* Automatic workers in the coordinator's loop (autoworkers.h). */
#include "autoworkers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINISH_WAIT_S 30.0 /* the end of the run waits this long for sbatch, then scancel */

struct zd_autow {
    zd_prov *prov;    /* the decisions */
    zd_slurm *slurm;  /* the commands */
    const zd_core *c; /* the run (borrowed) */
    double next_tick; /* when the demand is looked at next */
    bool finished;    /* zd_autow_finish() was called */
};

static zd_core_agent_state agent_state(void *ctx, uint32_t agent) {
    return zd_core_agent_state_of(((zd_autow *)ctx)->c, agent);
}

int zd_autow_new(const zd_prov_cfg *prov, const zd_slurm_cfg *slurm, const zd_graph *g,
                 const zd_core *c, const zd_log *log, zd_autow **out) {
    zd_autow *a = calloc(1, sizeof *a);
    if (!a)
        return ZDAG_ENOMEM;
    a->c = c;
    zd_prov_cfg pc = *prov;
    pc.g = g;
    pc.agent_state = agent_state;
    pc.ctx = a;
    pc.log = *log;
    zd_slurm_cfg sc = *slurm;
    sc.log = *log;
    int rc = (a->prov = zd_prov_new(&pc)) ? zd_slurm_new(&sc, &a->slurm) : ZDAG_ENOMEM;
    if (rc < 0) {
        zd_autow_free(&a);
        return rc;
    }
    *out = a;
    return 0;
}

void zd_autow_free(zd_autow **ap) {
    if (!ap || !*ap)
        return;
    zd_slurm_free(&(*ap)->slurm);
    zd_prov_free(&(*ap)->prov);
    free(*ap);
    *ap = NULL;
}

int zd_autow_fds(const zd_autow *a, int fds[2]) {
    return zd_slurm_fds(a->slurm, fds);
}

int zd_autow_timeout_ms(const zd_autow *a, double now) {
    int tick = now >= a->next_tick ? 0 : (int)ceil((a->next_tick - now) * 1000);
    int cmd = zd_slurm_timeout_ms(a->slurm);
    return cmd >= 0 && cmd < tick ? cmd : tick;
}

/* Carries out what the provisioner asked; returns a GIVE_UP's reason, or NULL. */
static const char *carry_out(zd_autow *a, double now) {
    size_t n;
    const zd_prov_action *acts = zd_prov_actions(a->prov, &n);
    const char *why = NULL;
    for (size_t i = 0; i < n; i++)
        if (acts[i].kind == ZD_PROV_GIVE_UP)
            why = acts[i].why;
    zd_slurm_queue(a->slurm, a->prov, now, acts, n);
    return why;
}

const char *zd_autow_step(zd_autow *a, double now) {
    if (a->finished)
        return NULL;
    zd_slurm_step(a->slurm, a->prov, now);
    const char *why = carry_out(a, now);
    if (now >= a->next_tick) {
        zd_core_demand_info d;
        zd_core_demand(a->c, &d);
        zd_prov_tick(a->prov, now, &d);
        a->next_tick = now + ZD_AUTOW_TICK_S;
        const char *w = carry_out(a, now);
        why = why ? why : w;
    }
    return why;
}

void zd_autow_on_join(zd_autow *a, double now, const zd_msg_join *m, uint32_t id) {
    char allocation[ZD_WIRE_MAX_ALLOCATION + 1], host[256];
    snprintf(allocation, sizeof allocation, "%.*s", (int)m->allocation.len,
             m->allocation.ptr ? m->allocation.ptr : "");
    snprintf(host, sizeof host, "%.*s", (int)m->host.len, m->host.ptr ? m->host.ptr : "");
    if (id && zd_prov_on_join(a->prov, now, allocation, id, host))
        a->next_tick = now; /* its slots may change what is needed */
}

void zd_autow_finish(zd_autow *a, double now) {
    if (a->finished)
        return;
    a->finished = true;
    zd_prov_finish(a->prov, now);
    carry_out(a, now);
    zd_slurm_drain(a->slurm, a->prov, now, FINISH_WAIT_S);
}

const zd_prov *zd_autow_prov(const zd_autow *a) {
    return a ? a->prov : NULL;
}
