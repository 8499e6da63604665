/* The host agent of `zdag worker`: joins a coordinator with this host's capacity, forks the
 * executors that run its nodes, exchanges heartbeats, reports executors that die, and stops
 * everything it runs when the coordinator says BYE or falls silent.
 *
 * The fence: the agent's BEATs count up (seq 1, 2, 3...) and the coordinator answers with the
 * highest seq it received. The agent's lease ends T_fence (WELCOME's fence_ms) after the send
 * time of the last beat so acknowledged (before any ack, after WELCOME), on CLOCK_BOOTTIME, which
 * counts time spent stopped; no other message extends it. When it ends, the agent SIGKILLs the
 * executor of every running attempt and its command's process group, reports each as LOST
 * ("fenced: no word from the coordinator for T s", T = T_fence), and keeps the session open: a
 * new ack takes it back to work, BYE ends it, and 3 T_fence more of silence end it as lost.
 * Its executors read the same lease from shared memory and fence themselves (ZD_EXIT_FENCED),
 * so a stopped agent cannot keep their nodes alive.
 *
 * LOST reports ("how"): "fenced: no word from the coordinator for T s"; "timed out after N s"
 * (a function node past the TASK's timeout_ms: its executor exited ZD_EXIT_TIMEOUT; N is that
 * timeout in seconds, printed with %g, as zd_proc_run() words a command's); "cancelled: WHY"
 * (a CANCEL); otherwise "signal S" or "exit status E". */
#ifndef ZD_AGENT_H
#define ZD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fn.h"
#include "graph.h"
#include "log.h"

typedef struct zd_agent_cfg {
    const char *connect;      /* the coordinator's endpoint, e.g. tcp://10.0.0.1:7700 */
    const char *host_id;      /* this host's name; agents with the same id share its limits */
    uint32_t slots;           /* executors, i.e. nodes at once on this host (>= 1) */
    double cpus;              /* CPU units of this host */
    const zd_amount *res;     /* other resources of this host (borrowed) */
    size_t n_res;             /* entries in res */
    const char *curve_public; /* this worker's key pair (Z85), or NULL with insecure */
    const char *curve_secret;
    const char *curve_server;    /* the coordinator's public key (Z85) */
    const char *secret_file;     /* where curve_secret came from, for messages (or NULL) */
    const char *server_key_file; /* where curve_server came from, for messages (or NULL) */
    bool forever;                /* after a run ends (or the coordinator is lost), wait for the
                                    next one instead of exiting */
    const char *metrics_addr;    /* serve Prometheus text there (common/metrics.h), or NULL */
    double idle_exit_s;          /* > 0: after this long with no executor running a node, ask
                                    to LEAVE; the BYE that answers it ends the agent (exit 0,
                                    forever or not) */
    const char *allocation;      /* JOIN's allocation (its own share of the host), or NULL */
    const zd_fn_entry *fns;      /* functions of this program that fn nodes may call (borrowed) */
    size_t n_fns;                /* entries in fns */
    zd_log log;                  /* where the agent's and its executors' messages go */
} zd_agent_cfg;

/* Runs the agent in the calling process until the run ends (or, with forever, until SIGINT or
 * SIGTERM). With metrics_addr, serves its gauges and counters (agentstats.h) there from the
 * start, refreshed every 0.5 s at most and at once when a run is joined or left; an address that
 * is invalid returns 2, one that cannot be listened on 3, before anything else is tried.
 * Returns the process exit status: 0 after a run ended normally (BYE DONE); 2 when
 * the coordinator cannot admit this worker as configured (it refused our key, it does not
 * hold the pinned key, CurveZMQ on one side only, not a zdag endpoint: see peerwatch.h) or
 * the endpoint is invalid; 3 when the coordinator could not be reached for 60 s or was lost,
 * or declared this worker lost (BYE EVICTED); 130/143 when interrupted. Each failed attempt to
 * join is logged at once with its reason, and a repeated reason once a minute. With forever,
 * only an invalid endpoint ends it: every other failure is retried, and an evicted agent
 * joins again. */
int zd_agent_run(const zd_agent_cfg *cfg);

#endif
