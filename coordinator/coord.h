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

/* The local executors' endpoint, bound ahead of the coordinator: executors forked before it
 * connect and say HELLO while the run gets ready (journal, core), and the first dispatch finds
 * them there. Owns a ZeroMQ context: fork the first executors before. */
typedef struct zd_coord_local zd_coord_local;

/* Creates a context and binds a ROUTER at endpoint (ipc://...). Returns 0 with *out (free it
 * with zd_coord_local_free(), unless a coordinator took it over), or ZDAG_ENOMEM / ZDAG_EZMQ
 * with a message logged to log. */
int zd_coord_local_bind(const char *endpoint, const zd_log *log, zd_coord_local **out)
    __attribute__((warn_unused_result));

/* Closes the socket and terminates the context; sets *l to NULL. Accepts NULL. */
void zd_coord_local_free(zd_coord_local **l);

/* Forks a (replacement) local executor for `slot`; stores its pid. Returns 0 or an error. */
typedef int (*zd_spawn_fn)(void *ctx, uint32_t slot, pid_t *pid);

typedef struct zd_coord zd_coord; /* the coordinator of one run */

/* The run's configuration as it travels from the CLI or zdag_run() to the coordinator: what
 * the core decides with (core: filled by the caller, except the fields marked "set by the
 * coordinator" below), and what the loop around it needs (sockets, processes, files). */
typedef struct zd_coord_cfg {
    zd_core_cfg core;        /* the core's configuration; the coordinator sets can_spawn,
                                listen, progress_s, cached, cached_results, cached_lens,
                                plugins and trace from the fields below */
    const char *endpoint;    /* bound by the coordinator; local executors connect to it */
    zd_coord_local *local;   /* endpoint bound already (taken over by a zd_coord_new() that
                                returns 0; the caller frees it otherwise), or NULL */
    const pid_t *local_pids; /* pid of the executor already forked in each of the first
                                core.n_started slots */
    zd_spawn_fn spawn;       /* forks a (replacement or on-demand) executor (may be NULL) */
    /* An executor was reaped: kill what it left running; returns the token of the last task it
     * started (0: unknown). May be NULL. */
    uint64_t (*reaped)(void *ctx, uint32_t slot);
    void *spawn_ctx;          /* passed to spawn and reaped */
    int signal_fd;            /* signalfd for SIGCHLD, SIGINT and SIGTERM (borrowed) */
    const char *trace_path;   /* --trace: where to write the timeline at the end, or NULL */
    const char *metrics_addr; /* --metrics: serve Prometheus text there (metrics.h), or NULL */
    bool progress;            /* draw the progress line */
    bool progress_tty;        /* ... on a terminal (redrawn in place) */
    const char *listen;       /* accept remote workers here (tcp://...), or NULL */
    const char *curve_public; /* the coordinator's CurveZMQ key pair (Z85), or NULL */
    const char *curve_secret;
    const struct zd_keyset *authorized; /* workers' public keys admitted (borrowed) */
    bool insecure;                      /* --insecure: plain tcp, no CurveZMQ */
    struct zd_journal *journal;         /* where final outcomes are recorded (borrowed), or NULL */
    const char *store_dir;              /* the result store (STATE_DIR/results, prepared with
                                           zd_store_prepare()); results over 4 KiB live there */
    uint8_t (*defhash)[32];  /* per node: its definition hash, for the journal (borrowed) */
    const bool *cached;      /* per node: taken from an earlier run (--resume, or up to date), or
                                NULL */
    const bool *up_to_date;  /* per node: cached because its outputs are up to date, or NULL */
    const char *status_path; /* the status socket to bind (ipc, mode 0600) for `zdag status`,
                                or NULL */
    const char *pipeline;    /* the pipeline file, for the status */
    bool resume;             /* --resume: a node decided only during the run (an instance of a
                                run-time fan-out, what follows one) is looked up in the journal */
    /* Called on the coordinator's thread as each node reaches its final state (succeeded or
     * failed; not for nodes skipped or taken from an earlier run, nor for a run-time fan-out's
     * template that ended with its instances), before it is journaled:
     * zd_coord_outcome() of that node is final there. May be NULL. */
    void (*ended)(void *ctx, const zd_coord *c, uint32_t index);
    void *ended_ctx; /* passed to ended */
    /* Automatic workers (--slurm; coordinator/autoworkers.h): what the provisioner decides with
     * and how Slurm's commands are run (both borrowed), or NULL for none. */
    const struct zd_prov_cfg *auto_prov;
    const struct zd_slurm_cfg *auto_slurm;
} zd_coord_cfg;

/* Checks before a run that every active node fits on a host offering `cpus` CPU units and no
 * other resources; logs "node "x" needs 4 cpus; the most any host offers is 2" for each that
 * does not. Returns the number of such nodes, or ZDAG_ENOMEM. */
int zd_coord_check_fit(const zd_graph *g, const bool *active, const char *host_id, double cpus,
                       const zd_log *log);

/* Creates a coordinator for graph g (borrowed, finished; must outlive it; the instances of its
 * run-time fan-outs are added to it during the run). Its ZeroMQ context
 * is cfg->local's, or created by zd_coord_run(): fork the first executors before either.
 * Returns 0, ZDAG_ENOMEM, ZDAG_EINVAL. */
int zd_coord_new(const zd_coord_cfg *cfg, zd_graph *g, zd_coord **out)
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

/* The result store of the run (borrowed), for reading stored results (zd_store_map()). */
const char *zd_coord_store_dir(const zd_coord *c);

/* The automatic workers' jobs (--slurm), or NULL without them (borrowed; valid until
 * zd_coord_free()). */
const struct zd_prov *zd_coord_provisioner(const zd_coord *c);

/* Facts of the run; valid after zd_coord_run(). */
void zd_coord_summary(const zd_coord *c, zd_run_summary *out);

#endif
