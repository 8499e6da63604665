/* Lease table: per pool, the tokens of the units held, in a packed array. A token encodes its
 * pool in its low bits, so a release finds its pool in O(1) and scans only that pool's holders:
 * O(units in use), never O(capacity). Memory also grows with the units in use, not the
 * capacity, so a pool of 2^31 units costs nothing until its units are granted. */
#include "lease.h"

#include <stdlib.h>

#define POOL_BITS 11 /* 2^11 > ZD_LEASE_MAX_POOLS + 1 */

typedef struct pool {
    uint64_t *holders; /* tokens held, in_use of them (unordered) */
    uint32_t cap;      /* slots allocated in holders */
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
    if (p->in_use == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        if (cap > p->capacity || cap < p->cap)
            cap = p->capacity;
        uint64_t *more = realloc(p->holders, (size_t)cap * sizeof *more);
        if (!more)
            return 0; /* out of memory: no unit granted now */
        p->holders = more;
        p->cap = cap;
    }
    uint64_t token = (++l->counter << POOL_BITS) | (uint64_t)(index + 1);
    p->holders[p->in_use++] = token;
    return token;
}

/* Returns the pool of token and the position of token in its holders, or NULL. */
static pool *find(const zd_leases *l, uint64_t token, uint32_t *at) {
    if (token == 0)
        return NULL;
    size_t i = (size_t)(token & ((1u << POOL_BITS) - 1));
    if (i >= l->n)
        return NULL;
    pool *p = &l->pools[i];
    for (uint32_t u = 0; u < p->in_use; u++)
        if (p->holders[u] == token) {
            *at = u;
            return p;
        }
    return NULL;
}

bool zd_lease_release(zd_leases *l, uint64_t token) {
    uint32_t at;
    pool *p = find(l, token, &at);
    if (!p)
        return false;
    p->holders[at] = p->holders[--p->in_use]; /* order does not matter */
    return true;
}

bool zd_lease_held(const zd_leases *l, uint64_t token) {
    uint32_t at;
    return find(l, token, &at) != NULL;
}

uint32_t zd_lease_in_use(const zd_leases *l, int32_t index) {
    const pool *p = pool_of(l, index);
    return p ? p->in_use : 0;
}
