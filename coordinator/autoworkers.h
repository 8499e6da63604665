/* Automatic workers in the coordinator's loop (`zdag run --slurm`): the provisioner
 * (provision.h) fed from the core twice a second and on every join, its actions carried out by
 * Slurm's commands (slurm.h). coord.c polls the descriptors given here beside its sockets and
 * calls zd_autow_step() after each wake-up. */
#ifndef ZD_AUTOWORKERS_H
#define ZD_AUTOWORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "provision.h"
#include "slurm.h"

#define ZD_AUTOW_TICK_S 0.5 /* how often the demand is looked at */

typedef struct zd_autow zd_autow;

/* Creates them for the run of core c over graph g (both borrowed): prov and slurm are copied,
 * their graph, agent_state and log filled in here. Writes the worker job's script. Returns 0,
 * ZDAG_ESYS or ZDAG_ENOMEM. */
int zd_autow_new(const zd_prov_cfg *prov, const zd_slurm_cfg *slurm, const zd_graph *g,
                 const zd_core *c, const zd_log *log, zd_autow **out)
    __attribute__((warn_unused_result));

/* Frees them (a command still running is killed); sets *a to NULL. Accepts NULL. */
void zd_autow_free(zd_autow **a);

/* Descriptors to poll for input (at most 2); returns how many. */
int zd_autow_fds(const zd_autow *a, int fds[2]);

/* Milliseconds until zd_autow_step() has something to do (the next look at the demand, or a
 * command's time limit). */
int zd_autow_timeout_ms(const zd_autow *a, double now);

/* Reads the commands' output, and when due looks at the demand: submits, polls. Returns why the
 * run cannot go on (no worker could be started: give it to zd_core_give_up()), or NULL. */
const char *zd_autow_step(zd_autow *a, double now);

/* A worker joined as agent `id` (its JOIN m): one of our jobs, when its allocation says so. */
void zd_autow_on_join(zd_autow *a, double now, const zd_msg_join *m, uint32_t id);

/* The run is over: the jobs not joined are cancelled (scancel, waiting at most 30 s). */
void zd_autow_finish(zd_autow *a, double now);

/* The provisioner, for the status and the report (borrowed). */
const zd_prov *zd_autow_prov(const zd_autow *a);

#endif
