/* Per-host capacity: CPU units and named resources (gpu, mem_mb, ...) that running nodes take
 * on their host. Amounts are kept in thousandths, so `cpus: 0.5` adds up without drift.
 * Slots (nodes at once on a host) are the host's idle executors, counted by the coordinator. */
#ifndef ZD_CAPACITY_H
#define ZD_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"

typedef struct zd_capacity zd_capacity;

/* Creates the accounting for graph g (borrowed; must outlive it): every resource name used by
 * a node becomes a kind. Returns NULL when out of memory. */
zd_capacity *zd_capacity_new(const zd_graph *g);

/* Frees it; sets *c to NULL. Accepts NULL. */
void zd_capacity_free(zd_capacity **c);

/* Adds a host offering `cpus` CPU units and the resources res[0..n_res) (names no node uses are
 * ignored). Stores its index in *host. Returns 0 or ZDAG_ENOMEM. */
int zd_capacity_add_host(zd_capacity *c, const char *name, double cpus, const zd_amount *res,
                         size_t n_res, uint32_t *host) __attribute__((warn_unused_result));

/* Number of hosts, and a host's name (borrowed). */
uint32_t zd_capacity_hosts(const zd_capacity *c);
const char *zd_capacity_host_name(const zd_capacity *c, uint32_t host);

/* True when node fits in what `host` has free now. */
bool zd_capacity_fits(const zd_capacity *c, uint32_t host, uint32_t node);

/* True when node fits in `host`'s whole capacity (with nothing else running). */
bool zd_capacity_fits_total(const zd_capacity *c, uint32_t host, uint32_t node);

/* Takes or gives back node's units on host. */
void zd_capacity_take(zd_capacity *c, uint32_t host, uint32_t node);
void zd_capacity_give(zd_capacity *c, uint32_t host, uint32_t node);

/* Nodes first .. first + count - 1 (added to the graph during the run) take what node `like`
 * takes. Returns 0 or ZDAG_ENOMEM. */
int zd_capacity_add_like(zd_capacity *c, uint32_t first, uint32_t count, uint32_t like)
    __attribute__((warn_unused_result));

/* A host's CPU units taken and offered. */
void zd_capacity_cpu_units(const zd_capacity *c, uint32_t host, double *used, double *total);

/* The kinds a node takes, as bits: bit 0 CPU units, bit 1 + k resource kind k (kinds past 62
 * share bit 63). Two nodes compete for a host's capacity only if their masks intersect. */
uint64_t zd_capacity_mask(const zd_capacity *c, uint32_t node);

/* Writes why node fits no host's whole capacity ("needs 4 cpus; the most any host offers is
 * 2") into buf. */
void zd_capacity_explain(const zd_capacity *c, uint32_t node, char *buf, size_t size);

#endif
