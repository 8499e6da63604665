/* The ready queue: a binary max-heap of node indices ordered by effective priority.
 *
 * Order: higher `major` first, then higher `minor`, then lower node index (declaration order).
 * Push and pop are O(log n); nothing ever scans the queue. */
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

/* Frees the queue; sets *q to NULL. Accepts NULL. */
void zd_readyq_free(zd_readyq **q);

/* Adds a node (each node at most once at a time; the heap has room for all of them). */
void zd_readyq_push(zd_readyq *q, uint32_t node);

/* Removes and returns the highest-priority node; the queue must not be empty. */
uint32_t zd_readyq_pop(zd_readyq *q);

/* Returns the highest-priority node without removing it; the queue must not be empty. */
uint32_t zd_readyq_peek(const zd_readyq *q);

/* Returns the number of queued nodes. */
size_t zd_readyq_size(const zd_readyq *q);

/* Returns the number of key comparisons made so far (for complexity tests). */
uint64_t zd_readyq_comparisons(const zd_readyq *q);

/* True when node a goes before node b. */
bool zd_prio_before(const zd_prio_key *keys, uint32_t a, uint32_t b);

#endif
