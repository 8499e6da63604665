/* The host agent of `zdag worker`: joins a coordinator with this host's capacity, forks the
 * executors that run its nodes, exchanges heartbeats, reports executors that die, and stops
 * everything it runs when the coordinator says BYE or falls silent. */
#ifndef ZD_AGENT_H
#define ZD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fn.h"
#include "graph.h"

typedef struct zd_agent_cfg {
    const char *connect;      /* the coordinator's endpoint, e.g. tcp://10.0.0.1:7700 */
    const char *host_id;      /* this host's name; agents with the same id share its limits */
    uint32_t slots;           /* executors, i.e. nodes at once on this host (>= 1) */
    double cpus;              /* CPU units of this host */
    const zd_amount *res;     /* other resources of this host (borrowed) */
    size_t n_res;             /* entries in res */
    const char *curve_public; /* this worker's key pair (Z85), or NULL with insecure */
    const char *curve_secret;
    const char *curve_server; /* the coordinator's public key (Z85) */
    bool forever;             /* after a run ends (or the coordinator is lost), wait for the
                                 next one instead of exiting */
    const zd_fn_entry *fns;   /* functions of this program that fn nodes may call (borrowed) */
    size_t n_fns;             /* entries in fns */
} zd_agent_cfg;

/* Runs the agent in the calling process until the run ends (or, with forever, until SIGINT or
 * SIGTERM). Returns the process exit status: 0 after a run ended normally, 3 when the
 * coordinator could not be reached or was lost, 130/143 when interrupted. */
int zd_agent_run(const zd_agent_cfg *cfg);

#endif
