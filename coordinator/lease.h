/* Leases: the sequential lease and the units of each pool, granted by the coordinator to one
 * attempt at a time. Every grant carries a fencing token from one increasing counter; once a
 * lease is released or revoked its token is stale, so a late result carrying it can be told
 * apart and discarded. */
#ifndef ZD_LEASE_H
#define ZD_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZD_LEASE_SEQUENTIAL (-1) /* the "pool" of the sequential lease: one unit */
#define ZD_LEASE_MAX_POOLS 1024  /* pools a lease table can hold */

typedef struct zd_leases zd_leases;

/* Creates a lease table for n_pools pools with the given capacities (each >= 1) plus the
 * sequential lease. Returns NULL when out of memory or n_pools > ZD_LEASE_MAX_POOLS. */
zd_leases *zd_leases_new(const int *capacities, size_t n_pools);

/* Frees the table; sets *l to NULL. Accepts NULL. */
void zd_leases_free(zd_leases **l);

/* True when a unit of `pool` (or the sequential lease) can be granted now. */
bool zd_lease_available(const zd_leases *l, int32_t pool);

/* Grants a unit of `pool` (or the sequential lease) and returns its fencing token (> 0), or 0
 * when none is free (or, rarely, memory for one more holder ran out). O(1) amortised; memory
 * grows with the units in use, not with the capacity. */
uint64_t zd_lease_acquire(zd_leases *l, int32_t pool);

/* Releases (or revokes) the lease with this token, in O(units of its pool in use). Returns
 * false when the token is not held: stale, never granted, or 0. */
bool zd_lease_release(zd_leases *l, uint64_t token);

/* True when the token is currently held. */
bool zd_lease_held(const zd_leases *l, uint64_t token);

/* Units of `pool` (or of the sequential lease) held now. */
uint32_t zd_lease_in_use(const zd_leases *l, int32_t pool);

#endif
