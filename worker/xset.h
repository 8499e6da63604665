/* A set of executor processes on one host, forked and watched by their parent (the local
 * runner, or a `zdag worker` agent). Each executor publishes its running attempt (token,
 * timeout, command's process group: a zd_slot_cell) in memory shared with the parent, so that
 * when an executor is killed the parent can kill what it left running and tell which attempt
 * it was; the parent publishes its lease there for the executors' watchdogs. */
#ifndef ZD_XSET_H
#define ZD_XSET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "executor.h"

typedef struct zd_xset zd_xset;

/* Creates a set of n slots. `base` (copied; its strings borrowed, they must outlive the set)
 * is the configuration every executor gets, with its own slot, its scratch directory
 * SCRATCH_ROOT/xSLOT, its shared cell and the shared lease filled in. Forks nothing yet.
 * Returns NULL when out of memory. */
zd_xset *zd_xset_new(uint32_t n, const zd_executor_cfg *base, const char *scratch_root);

/* Frees the set (the processes must be gone); sets *x to NULL. Accepts NULL. */
void zd_xset_free(zd_xset **x);

/* Forks the executor of `slot` (see zd_executor_fork()); stores its pid. Returns 0 or
 * ZDAG_ESYS. */
int zd_xset_spawn(zd_xset *x, uint32_t slot, pid_t *pid) __attribute__((warn_unused_result));

/* The same for an executor started before the coordinator listens: it connects once gate_fd
 * (a pipe's read end, borrowed) reads end-of-file (see zd_executor_cfg.gated). */
int zd_xset_spawn_gated(zd_xset *x, uint32_t slot, int gate_fd, pid_t *pid)
    __attribute__((warn_unused_result));

/* The pid of a slot's executor, 0 when none runs. */
pid_t zd_xset_pid(const zd_xset *x, uint32_t slot);

/* Kills, group and all, the command a dead executor of `slot` left running. */
void zd_xset_orphans(zd_xset *x, uint32_t slot);

/* The token of the last attempt the executor of `slot` started (0: none yet). */
uint64_t zd_xset_started(const zd_xset *x, uint32_t slot);

/* SIGKILLs the executor of `slot` and its running command's process group (if any); reap it
 * with zd_xset_reap() (SIGCHLD tells when). */
void zd_xset_kill(zd_xset *x, uint32_t slot);

/* The token of the attempt the executor of `slot` runs (0: idle), and its timeout in ms (0:
 * none). They stay readable after the executor died, until the slot is spawned again. */
uint64_t zd_xset_token(const zd_xset *x, uint32_t slot);
uint64_t zd_xset_timeout_ms(const zd_xset *x, uint32_t slot);

/* Publishes the lease to every executor of the set (its end, CLOCK_BOOTTIME ns). */
void zd_xset_set_lease(zd_xset *x, int64_t until_ns);

/* Reaps one exited executor without waiting: returns true with its slot, wait status and pid
 * (pid may be NULL), its orphans killed; false when none has exited. */
bool zd_xset_reap(zd_xset *x, uint32_t *slot, int *status, pid_t *pid);

/* Sends sig to every executor, waits up to grace_s for them to exit, then SIGKILLs the rest;
 * all are reaped and their orphans killed on return. */
void zd_xset_stop(zd_xset *x, int sig, double grace_s);

/* What the set's executors do and did, from their shared cells (zd_xset_tally_get()). */
typedef struct zd_xset_tally {
    uint32_t busy;      /* executors alive and in an attempt */
    double cpus_used;   /* the CPU units of those attempts */
    uint64_t started;   /* attempts the set's executors started */
    uint64_t succeeded; /* of those, results sent that said success */
    uint64_t failed;    /* and results sent that said failure */
    uint64_t lost;      /* attempts whose executor was reaped before it counted their result */
} zd_xset_tally;

/* Fills *t. The cells of live executors change as it reads them: each number is one a moment
 * ago; once every executor is reaped, started = succeeded + failed + lost exactly. */
void zd_xset_tally_get(const zd_xset *x, zd_xset_tally *t);

/* Removes a directory and everything below it, best effort (symbolic links are not followed). */
void zd_rmtree(const char *path);

/* Removes the runtime directories that coordinators and agents killed with -9 left in base:
 * zdag-PID-* directories of this user whose PID no longer exists. */
void zd_runtime_sweep(const char *base);

#endif
