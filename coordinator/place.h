/* Placement: which ready node starts next, and on which host, with every limit enforced at
 * once: -j, the hosts' slots (idle executors), CPU units and resources, pools, and the
 * sequential lease.
 *
 * The rule, so that no node starves and IO-bound nodes keep flowing:
 * - Nodes are considered in priority order (across the per-class ready queues).
 * - A `sequential` node waits until nothing runs; while it waits, only nodes of higher
 *   priority may start. Once it runs, nothing starts until it ends.
 * - A node whose pool is full waits; nodes of that pool behind it wait too (so the pool serves
 *   its nodes in priority order), other nodes go on.
 * - A node that fits no host with an idle executor holds back every lower-priority node that
 *   takes any of the same kinds of units (CPU units, a resource): those units are reserved for
 *   it as they free up. Nodes that take none of them (e.g. `cpus: 0` beside a blocked CPU-bound
 *   node) go on.
 * Nodes with the same kinds of units, pool and sequential flag form a class with its own ready
 * queue, so a decision costs O(classes + log n), never a scan of the ready nodes. */
#ifndef ZD_PLACE_H
#define ZD_PLACE_H

#include <stdbool.h>
#include <stdint.h>

#include "capacity.h"
#include "graph.h"
#include "lease.h"
#include "scheduler.h"

typedef struct zd_grant {
    uint32_t node;       /* the node to start */
    uint32_t host;       /* the host to start it on */
    uint64_t seq_token;  /* its sequential lease, or 0 */
    uint64_t pool_token; /* its pool unit, or 0 */
} zd_grant;

/* Fills class_of[i] for every node of g and stores the number of classes. Returns 0 or
 * ZDAG_ENOMEM. */
int zd_place_classes(const zd_graph *g, const zd_capacity *cap, uint32_t *class_of,
                     uint32_t *n_classes) __attribute__((warn_unused_result));

typedef struct zd_place zd_place;

/* Creates the placement over borrowed parts (all must outlive it); sched must have been made
 * with the same class_of. jobs: nodes running at once at most (>= 1). NULL when out of memory. */
zd_place *zd_place_new(const zd_graph *g, zd_sched *sched, zd_capacity *cap, zd_leases *leases,
                       int jobs, const uint32_t *class_of, uint32_t n_classes);

/* Frees it; sets *p to NULL. Accepts NULL. */
void zd_place_free(zd_place **p);

/* Sets how to find a node's preferred host (e.g. the one holding most of its inputs): the
 * host is taken when it has an idle executor and room, else the first host that has. fn
 * returns UINT32_MAX for no preference. */
void zd_place_set_prefer(zd_place *p, uint32_t (*fn)(void *ctx, uint32_t node), void *ctx);

/* Starts a new round of decisions: what blocked a node in the last round is looked at again.
 * Call it whenever something changed (a node ended, an executor came, a node became ready). */
void zd_place_round(zd_place *p);

/* Picks the next node that may start now given idle[h], the idle executors of each host; takes
 * it from the ready queue, takes its units on the chosen host and its leases. Returns true with
 * *grant filled, false when nothing may start. */
bool zd_place_next(zd_place *p, const uint32_t *idle, zd_grant *grant);

/* zd_place_next() where idle_io[h] of host h's idle executors (may be NULL: none) serve only
 * nodes that take no CPU unit: the extra executors that keep IO-bound nodes flowing. */
bool zd_place_next_io(zd_place *p, const uint32_t *idle, const uint32_t *idle_io, zd_grant *grant);

/* Gives back what a grant took, when its attempt is over (or lost). Returns false when one of
 * its lease tokens was not held any more (stale). */
bool zd_place_release(zd_place *p, const zd_grant *grant);

/* Nodes granted and not yet released. */
uint32_t zd_place_running(const zd_place *p);

/* The sequential node waiting for the others to drain, or -1. *fresh (may be NULL) is set when
 * the wait began in the last zd_place_next() call. */
int64_t zd_place_seq_waiting(const zd_place *p, bool *fresh);

/* True when node fits the whole capacity of at least one host. */
bool zd_place_can_ever_run(const zd_place *p, uint32_t node);

#endif
