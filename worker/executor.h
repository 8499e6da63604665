/* An executor process: connects a DEALER socket to the coordinator, announces itself, and runs
 * the nodes it is sent one at a time, replying with each result. */
#ifndef ZD_EXECUTOR_H
#define ZD_EXECUTOR_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fn.h"
#include "log.h"

/* Exit statuses by which an executor tells its parent why it stopped its own attempt. */
#define ZD_EXIT_FENCED 75   /* its agent's lease ended (no word from the coordinator) */
#define ZD_EXIT_TIMEOUT 124 /* its function node ran past the task's timeout_ms */

/* What an executor shares with its parent about the attempt it runs, in memory mapped
 * MAP_SHARED before the fork (zd_xset), so that whoever reaps a killed executor can kill its
 * command too, and an agent can tell which attempt a CANCEL or a timeout was about. */
typedef struct zd_slot_cell {
    volatile sig_atomic_t pgid;  /* the running command's process group, 0 when none */
    _Atomic uint64_t token;      /* the running attempt's token, 0 when idle */
    _Atomic uint64_t timeout_ms; /* that attempt's timeout (0: none), valid while token != 0 */
    _Atomic uint64_t started;    /* the token of the last attempt it started (kept after it ends):
                                    whoever reaps it knows how far it got through its tasks */
    _Atomic uint64_t cpus_bits;  /* that attempt's CPU units (a double's bits), valid while
                                    token != 0 */
    /* Counts for the agent's --metrics, kept across the executors of one slot: */
    _Atomic uint64_t n_started;   /* attempts started */
    _Atomic uint64_t n_succeeded; /* attempts whose result said success, counted as it goes */
    _Atomic uint64_t n_failed;    /* attempts whose result said failure, counted as it goes */
} zd_slot_cell;

typedef struct zd_executor_cfg {
    const char *endpoint;    /* the coordinator's endpoint, e.g. ipc:///tmp/zdag-x/coord */
    uint32_t slot;           /* this executor's slot, told to the coordinator in HELLO */
    const char *host_id;     /* host name told to the coordinator */
    const char *scratch_dir; /* private directory for dependency result files */
    zd_slot_cell *cell;      /* where the running attempt is published (shared memory);
                                NULL: private */
    const _Atomic int64_t *lease_until; /* the agent's lease: its end, CLOCK_BOOTTIME ns, in
                                           memory the agent updates; used when agent != 0 */
    const zd_fn_table *fns;             /* functions `fn` nodes may call (borrowed), or NULL */
    size_t max_result;                  /* largest function result, bytes; 0 = the default */
    uint32_t agent;           /* agent id from WELCOME; 0 when forked by the coordinator */
    uint64_t secret;          /* the agent's secret from WELCOME, sent in HELLO; 0 local */
    zd_log log;               /* where the executor's messages go */
    const char *curve_public; /* this host's CurveZMQ key pair (Z85), or NULL: no CURVE */
    const char *curve_secret;
    const char *curve_server; /* the coordinator's public key (Z85) */
    bool gated;               /* connect only once gate_fd reads end-of-file ... */
    int gate_fd;              /* ... (its writer closes it when the coordinator listens) */
} zd_executor_cfg;

#define ZD_SHIPPED_LOG_MAX (4u << 20) /* log bytes a remote attempt sends back */

/* Runs the executor in the calling process until the coordinator says BYE. Creates its own
 * ZeroMQ context and a watchdog thread: it _exit()s with ZD_EXIT_TIMEOUT when a function node
 * runs past its timeout and, for an agent's executor (agent != 0), kills the running command's
 * process group and _exit()s with ZD_EXIT_FENCED when the lease ends while an attempt runs. A
 * task received after the lease ended waits for it to be renewed; a result finished after it
 * ended is dropped (ZD_EXIT_FENCED). Returns the process exit status (0 after BYE). */
int zd_executor_main(const zd_executor_cfg *cfg);

/* Forks an executor process and stores its pid. The child closes every inherited file
 * descriptor above 2 (including a parent's ZeroMQ sockets, which it never touches) but the
 * gate (cfg->gated), unblocks signals, dies with its parent (SIGTERM), runs
 * zd_executor_main() and _exit()s. A gated executor sets up its context and socket at once but
 * connects when the gate closes: a connect before the coordinator binds would fail and wait
 * out libzmq's reconnect interval.
 * Returns 0 or ZDAG_ESYS. */
int zd_executor_fork(const zd_executor_cfg *cfg, pid_t *pid) __attribute__((warn_unused_result));

#endif
