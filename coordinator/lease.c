/* Lease table: per pool, the tokens of the units held. A token encodes its pool in its low
 * bits, so a release finds its pool in O(1) and scans only that pool's holders. */
#include "lease.h"

#include <stdlib.h>

#define POOL_BITS 11 /* 2^11 > ZD_LEASE_MAX_POOLS + 1 */

typedef struct pool {
    uint64_t *holders; /* tokens held; 0 = free unit */
    uint32_t capacity; /* units */
    uint32_t in_use;   /* units held */
} pool;

struct zd_leases {
    pool *pools;      /* pools[0] is the sequential lease, pools[i + 1] pool i */
    size_t n;         /* entries in pools */
    uint64_t counter; /* grants so far; the high bits of every token */
};

zd_leases *zd_leases_new(const int *capacities, size_t n_pools) {
    if (n_pools > ZD_LEASE_MAX_POOLS)
        return NULL;
    zd_leases *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->n = n_pools + 1;
    l->pools = calloc(l->n, sizeof *l->pools);
    if (!l->pools) {
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        int cap = i == 0 ? 1 : capacities[i - 1];
        l->pools[i].capacity = cap > 0 ? (uint32_t)cap : 1;
        l->pools[i].holders = calloc(l->pools[i].capacity, sizeof(uint64_t));
        if (!l->pools[i].holders) {
            zd_leases_free(&l);
            return NULL;
        }
    }
    return l;
}

void zd_leases_free(zd_leases **lp) {
    if (!lp || !*lp)
        return;
    for (size_t i = 0; i < (*lp)->n; i++)
        free((*lp)->pools[i].holders);
    free((*lp)->pools);
    free(*lp);
    *lp = NULL;
}

static pool *pool_of(const zd_leases *l, int32_t index) {
    size_t i = (size_t)(index + 1);
    return index >= ZD_LEASE_SEQUENTIAL && i < l->n ? &l->pools[i] : NULL;
}

bool zd_lease_available(const zd_leases *l, int32_t index) {
    const pool *p = pool_of(l, index);
    return p && p->in_use < p->capacity;
}

uint64_t zd_lease_acquire(zd_leases *l, int32_t index) {
    pool *p = pool_of(l, index);
    if (!p || p->in_use == p->capacity)
        return 0;
    uint64_t token = (++l->counter << POOL_BITS) | (uint64_t)(index + 1);
    for (uint32_t u = 0; u < p->capacity; u++)
        if (p->holders[u] == 0) {
            p->holders[u] = token;
            p->in_use++;
            return token;
        }
    return 0; /* unreachable: in_use < capacity means a free unit */
}

/* Returns the holder slot of token, or NULL. */
static uint64_t *find(const zd_leases *l, uint64_t token) {
    if (token == 0)
        return NULL;
    size_t i = (size_t)(token & ((1u << POOL_BITS) - 1));
    if (i >= l->n)
        return NULL;
    pool *p = &l->pools[i];
    for (uint32_t u = 0; u < p->capacity; u++)
        if (p->holders[u] == token)
            return &p->holders[u];
    return NULL;
}

bool zd_lease_release(zd_leases *l, uint64_t token) {
    uint64_t *slot = find(l, token);
    if (!slot)
        return false;
    *slot = 0;
    l->pools[token & ((1u << POOL_BITS) - 1)].in_use--;
    return true;
}

bool zd_lease_held(const zd_leases *l, uint64_t token) {
    return find(l, token) != NULL;
}

uint32_t zd_lease_in_use(const zd_leases *l, int32_t index) {
    const pool *p = pool_of(l, index);
    return p ? p->in_use : 0;
}
