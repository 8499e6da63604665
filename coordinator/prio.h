/* Effective priorities of the nodes that take part in a run (SPEC section 3). */
#ifndef ZD_PRIO_H
#define ZD_PRIO_H

#include <stdbool.h>

#include "graph.h"
#include "readyq.h"

typedef enum zd_prio_mode {
    ZD_PRIO_CRITICAL_PATH = 0, /* max priority downstream, then longest weighted path */
    ZD_PRIO_COMPOUND = 1,      /* sum of the priorities of the node and its distinct descendants */
    ZD_PRIO_USER = 2,          /* the node's own priority */
} zd_prio_mode;

/* Parses "critical-path", "compound" or "user". Returns 0 or ZDAG_EINVAL. */
int zd_prio_mode_parse(const char *text, zd_prio_mode *mode) __attribute__((warn_unused_result));

/* Fills keys[i] for every node of the finished graph g. Only nodes with active[i] (all when
 * active is NULL) count as descendants, so priorities follow the graph that actually runs.
 * durations[i] > 0 overrides the node's estimate (history); NULL uses estimates.
 * Compound mode costs O(nodes x reachable nodes); the others O(nodes + edges).
 * Returns 0, ZDAG_EINVAL (graph not finished) or ZDAG_ENOMEM. */
int zd_prio_compute(const zd_graph *g, zd_prio_mode mode, const bool *active,
                    const double *durations, zd_prio_key *keys) __attribute__((warn_unused_result));

#endif
