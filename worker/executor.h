/* An executor process: connects a DEALER socket to the coordinator, announces itself, and runs
 * the nodes it is sent one at a time, replying with each result. */
#ifndef ZD_EXECUTOR_H
#define ZD_EXECUTOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "fn.h"
#include <sys/types.h>

typedef struct zd_executor_cfg {
    const char *endpoint;        /* the coordinator's endpoint, e.g. ipc:///tmp/zdag-x/coord */
    uint32_t slot;               /* this executor's slot, told to the coordinator in HELLO */
    const char *host_id;         /* host name told to the coordinator */
    const char *scratch_dir;     /* private directory for dependency result files */
    volatile sig_atomic_t *pgid; /* where the running command's process group is published
                                    (shared memory, so that whoever reaps a killed executor
                                    can kill its command too); NULL: private */
    const zd_fn_table *fns;      /* functions `fn` nodes may call (borrowed), or NULL */
    size_t max_result;           /* largest function result, bytes; 0 = the default */
    uint32_t agent;              /* agent id from WELCOME; 0 when forked by the coordinator */
    const char *curve_public;    /* this host's CurveZMQ key pair (Z85), or NULL: no CURVE */
    const char *curve_secret;
    const char *curve_server; /* the coordinator's public key (Z85) */
} zd_executor_cfg;

#define ZD_SHIPPED_LOG_MAX (4u << 20) /* log bytes a remote attempt sends back */

/* Runs the executor in the calling process until the coordinator says BYE. Creates its own
 * ZeroMQ context. Returns the process exit status (0 after BYE). */
int zd_executor_main(const zd_executor_cfg *cfg);

/* Forks an executor process and stores its pid. The child closes every inherited file
 * descriptor above 2 (including a parent's ZeroMQ sockets, which it never touches), unblocks
 * signals, dies with its parent (SIGTERM), runs zd_executor_main() and _exit()s.
 * Returns 0 or ZDAG_ESYS. */
int zd_executor_fork(const zd_executor_cfg *cfg, pid_t *pid) __attribute__((warn_unused_result));

#endif
