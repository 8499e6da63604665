/* Runs a graph on this host: forks the local executors, then starts the coordinator. This is
 * the one place that wires worker/ and coordinator/ together; the CLI and libzdag's run
 * function both call it, so a local run and a remote one go through the same protocol. */
#ifndef ZD_RUNNER_H
#define ZD_RUNNER_H

#include <stdbool.h>

#include "coord.h"
#include "fn.h"
#include "graph.h"
#include "log.h"
#include "prio.h"

#define ZD_IO_SLOTS_PER_CORE 8 /* default extra executors for IO-bound nodes, per core */
#define ZD_IO_SLOTS_MAX 1024   /* at most this many */

/* Why a run could not start (zd_runner_run() returned without running the coordinator). */
typedef struct zd_run_failure {
    int code;      /* ZDAG_EINVAL (a node needs more than this host offers), ZDAG_ESTATE (the
                      state directory), ZDAG_ESYS (descriptors, threads, fork, signals),
                      ZDAG_ENOMEM; 0 when the run took place */
    char why[512]; /* the message logged, e.g. "cannot fork an executor: ..." */
} zd_run_failure;

typedef struct zd_run_opts {
    const char *pipeline;     /* the pipeline's name in the report (its file path) */
    int jobs;                 /* -j; 0 = one node per executor */
    int local_workers;        /* executors forked here; 0 = number of cores, < 0 = none */
    int io_slots;             /* more local executors, started on demand for ready nodes that
                                 fit the free CPU units but lack an executor (IO-bound nodes);
                                 0 = ZD_IO_SLOTS_PER_CORE per core, < 0 = none */
    double cpus;              /* CPU units of this host; 0 = number of cores */
    const char *trace_path;   /* --trace, or NULL */
    const char *metrics_addr; /* --metrics HOST:PORT, or NULL */
    bool progress;            /* draw the progress line */
    bool progress_tty;        /* ... redrawn in place on a terminal */
    zd_prio_mode prio;        /* priority mode */
    bool keep_going;          /* -k */
    const char *state_dir;    /* existing, writable; logs go to STATE_DIR/logs */
    const char *report_path;  /* --report, or NULL */
    const char *html_path;    /* --html: the report's timeline page, or NULL */
    const char *results_path; /* --results, or NULL */
    const bool *active;       /* nodes taking part, NULL = all */
    bool quiet;               /* no summary line */
    const zd_fn_entry *fns;   /* functions of this program `fn` nodes may call (borrowed) */
    size_t n_fns;             /* entries in fns */
    size_t max_result;        /* largest result of a node, bytes, when neither the node nor the
                                 pipeline sets one; 0 = 1 GiB */
    /* Called once the run is over, before the coordinator is freed (may be NULL): the place
     * to copy outcomes out with zd_coord_outcome(). */
    void (*finished)(void *ctx, const zd_coord *c);
    void *finished_ctx; /* passed to finished */
    /* Called as each node ends (see zd_coord_cfg.ended; may be NULL). */
    void (*ended)(void *ctx, const zd_coord *c, uint32_t index);
    void *ended_ctx;          /* passed to ended */
    const char *listen;       /* accept remote workers here (tcp://...), or NULL */
    const char *curve_public; /* the coordinator's CurveZMQ key pair (Z85), or NULL */
    const char *curve_secret;
    const struct zd_keyset *authorized; /* workers' public keys admitted (borrowed) */
    bool insecure;                      /* plain tcp, no CurveZMQ */
    int heartbeat_ms;                   /* heartbeat interval for remote workers; 0 = 1000 */
    const char *pipeline_id;            /* names the pipeline in the journal (its real path) */
    bool resume;             /* --resume: nodes that succeeded before, unchanged, are cached */
    const bool *forced;      /* --force: per node, run even when up to date; NULL: none */
    zd_log log;              /* where every message goes (fn NULL: nowhere); ctx borrowed */
    zd_run_failure *failure; /* filled when the run could not start (may be NULL) */
    const struct zd_prov_cfg *auto_prov;   /* automatic workers (--slurm, coord.h), or NULL */
    const struct zd_slurm_cfg *auto_slurm; /* ... and how Slurm's commands run */
} zd_run_opts;

/* Checks that --report, --html, --trace and --results (those set in opts) can be written: each path
 * is not a directory and its directory takes a new file (one is created and removed, as the
 * files are written: a temporary file renamed into place). Returns 0, or ZDAG_EINVAL with the
 * first problem in why, e.g. "cannot write the report /nonexistent/r.json: its directory
 * /nonexistent: No such file or directory". zd_runner_run() does this before anything else. */
int zd_runner_check_outputs(const zd_run_opts *opts, char *why, size_t size);

/* Runs g (finished; the instances of run-time fan-outs are added to it) to its end and writes
 * the report, its page (--html) and results. Raises RLIMIT_NOFILE and checks descriptors and
 * threads (common/rlimits.h) before forking. A run that cannot start still writes the report
 * ("status": "error", "error": why, every node skipped) and its page, logs why, and fills
 * *opts->failure. Prints nothing: every message goes to opts->log (the summary at ZDAG_LOG_INFO
 * unless quiet). Returns the exit status of SPEC section 1: 0, 1, 2 (a node needs more than this
 * host offers, or an output path that cannot be written: then no node has started, and the report
 * is written only if its own path is fine), 3, 130, 143. */
int zd_runner_run(const zd_run_opts *opts, zd_graph *g);

#endif
