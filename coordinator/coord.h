/* The coordinator: one run of a graph. A thin poll loop around the core (core.h): it binds the
 * ROUTER sockets (ipc for the local executors, --listen for remote agents), turns frames, the
 * signalfd and reaped children into the core's events, and carries out the actions the core
 * returns (send a TASK, kill an executor, journal an outcome). It owns the sockets, the local
 * executors' pids, the journal writes and the progress line; every decision is the core's. */
#ifndef ZD_COORD_H
#define ZD_COORD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "graph.h"
#include "prio.h"
#include "core.h"
#include "log.h"
#include "scheduler.h"

/* Forks a (replacement) local executor for `slot`; stores its pid. Returns 0 or an error. */
typedef int (*zd_spawn_fn)(void *ctx, uint32_t slot, pid_t *pid);

typedef struct zd_coord_cfg {
    const char *endpoint;    /* bound by the coordinator; local executors connect to it */
    uint32_t n_local;        /* local executor slots 0..n_local-1 */
    uint32_t n_started;      /* ... of which the first n_started are forked (local_pids), the
                                others on demand (see zd_core_cfg); 0 = all */
    const pid_t *local_pids; /* pid of the executor already forked in each slot */
    zd_spawn_fn spawn;       /* forks a replacement executor (may be NULL: none) */
    void (*reaped)(void *ctx, uint32_t slot); /* an executor was reaped: kill what it left
                                                 running (may be NULL) */
    void *spawn_ctx;                          /* passed to spawn and reaped */
    int jobs;                 /* nodes running at once at most; 0 = one per executor */
    zd_prio_mode prio;        /* how ready nodes are ordered */
    bool keep_going;          /* a failure skips its descendants only */
    const bool *active;       /* nodes taking part (borrowed), NULL = all */
    const char *log_dir;      /* directory of the NODE.log files */
    const char *run_id;       /* given to commands as ZDAG_RUN_ID */
    int signal_fd;            /* signalfd for SIGCHLD, SIGINT and SIGTERM (borrowed) */
    int max_losses;           /* executor deaths one node survives before failing; 0 = 3 */
    const char *host_id;      /* the local host's name */
    double local_cpus;        /* CPU units of the local host */
    const char *trace_path;   /* --trace: where to write the timeline at the end, or NULL */
    bool progress;            /* draw the progress line */
    bool progress_tty;        /* ... on a terminal (redrawn in place) */
    const char *listen;       /* accept remote workers here (tcp://...), or NULL */
    const char *curve_public; /* the coordinator's CurveZMQ key pair (Z85), or NULL */
    const char *curve_secret;
    const struct zd_keyset *authorized; /* workers' public keys admitted (borrowed) */
    bool insecure;                      /* --insecure: plain tcp, no CurveZMQ */
    int heartbeat_ms;           /* BEAT interval; T_fence = 3, T_lost = 5 intervals; 0 = 1000 */
    struct zd_journal *journal; /* where final outcomes are recorded (borrowed), or NULL */
    uint8_t (*defhash)[32];     /* per node: its definition hash, for the journal (borrowed) */
    const bool *cached;         /* per node: taken from an earlier run (--resume), or NULL */
    const double *durations;    /* per node: median recorded duration (0 = unknown), or NULL */
    zd_log log;                 /* where the coordinator reports (a NULL fn discards) */
} zd_coord_cfg;

/* Checks before a run that every active node fits on a host offering `cpus` CPU units and no
 * other resources; logs "node "x" needs 4 cpus; the most any host offers is 2" for each that
 * does not. Returns the number of such nodes, or ZDAG_ENOMEM. */
int zd_coord_check_fit(const zd_graph *g, const bool *active, const char *host_id, double cpus,
                       const zd_log *log);

typedef struct zd_coord zd_coord;

/* Creates a coordinator for graph g (borrowed, finished; must outlive it). Creates the ZeroMQ
 * context: fork the first executors before this call. Returns 0, ZDAG_ENOMEM, ZDAG_EINVAL. */
int zd_coord_new(const zd_coord_cfg *cfg, const zd_graph *g, zd_coord **out)
    __attribute__((warn_unused_result));

/* Frees the coordinator; sets *c to NULL. Accepts NULL. */
void zd_coord_free(zd_coord **c);

/* Runs the graph to its end. Returns the exit status of SPEC section 1: 0, 1 (a node failed),
 * 3 (the run could not go on), 130/143 (SIGINT/SIGTERM). All executors have exited on return. */
int zd_coord_run(zd_coord *c);

/* How node `index` ended (with every attempt in its history); valid after zd_coord_run(). */
void zd_coord_outcome(const zd_coord *c, uint32_t index, zd_node_outcome *out);

/* Run facts for the report. */
typedef struct zd_run_summary {
    const char *status;      /* "succeeded", "failed", "interrupted", or "error" (exit 3:
                                the run could not go on) */
    const char *error;       /* with "error": why (borrowed), else NULL */
    int exit_code;           /* as returned by zd_coord_run() */
    struct timespec started; /* wall-clock start */
    double wall_s;           /* run duration */
    int jobs;                /* the effective -j */
} zd_run_summary;

/* Facts of the run; valid after zd_coord_run(). */
void zd_coord_summary(const zd_coord *c, zd_run_summary *out);

#endif
