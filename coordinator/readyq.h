/* The ready queue: a binary max-heap of node indices ordered by effective priority.
 *
 * Order: higher `major` first, then higher `minor`, then lower node index (declaration order).
 * Push, pop and (for an indexed queue) remove are O(log n); nothing ever scans the queue. */
#ifndef ZD_READYQ_H
#define ZD_READYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zd_prio_key {
    int64_t major; /* compared first, higher wins */
    double minor;  /* compared second, higher wins */
} zd_prio_key;

typedef struct zd_readyq zd_readyq;

/* Creates a queue for nodes 0..n_nodes-1 keyed by keys[] (borrowed; must outlive the queue).
 * Returns NULL when out of memory. */
zd_readyq *zd_readyq_new(const zd_prio_key *keys, size_t n_nodes);

#define ZD_READYQ_ABSENT UINT32_MAX /* pos[] of a node in no queue */

/* As zd_readyq_new(), and the queue keeps pos[node] (borrowed, one entry per node of the graph,
 * all ZD_READYQ_ABSENT at first; several queues may share one array when each node is in at
 * most one of them) up to date, so that zd_readyq_remove() works. */
zd_readyq *zd_readyq_new_indexed(const zd_prio_key *keys, size_t n_nodes, uint32_t *pos);

/* Gives the queue room for extra nodes more (a graph that grew during the run). Returns 0 or
 * ZDAG_ENOMEM (nothing changed). */
int zd_readyq_reserve(zd_readyq *q, size_t extra) __attribute__((warn_unused_result));

/* Makes the queue use keys and, when indexed, pos (the arrays moved as they grew); the nodes
 * queued keep their places. */
void zd_readyq_rebind(zd_readyq *q, const zd_prio_key *keys, uint32_t *pos);

/* Frees the queue; sets *q to NULL. Accepts NULL. */
void zd_readyq_free(zd_readyq **q);

/* Adds a node (each node at most once at a time; the heap has room for all of them). */
void zd_readyq_push(zd_readyq *q, uint32_t node);

/* Removes and returns the highest-priority node; the queue must not be empty. */
uint32_t zd_readyq_pop(zd_readyq *q);

/* Takes node out of an indexed queue: true, or false when it is not in this queue. */
bool zd_readyq_remove(zd_readyq *q, uint32_t node);

/* Returns the highest-priority node without removing it; the queue must not be empty. */
uint32_t zd_readyq_peek(const zd_readyq *q);

/* Returns the number of queued nodes. */
size_t zd_readyq_size(const zd_readyq *q);

/* Returns the number of key comparisons made so far (for complexity tests). */
uint64_t zd_readyq_comparisons(const zd_readyq *q);

/* True when node a goes before node b. */
bool zd_prio_before(const zd_prio_key *keys, uint32_t a, uint32_t b);

#endif
