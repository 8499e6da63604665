/* Placement decisions over per-class ready queues. */
#include "place.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

typedef struct class_info {
    uint64_t mask;    /* kinds of units its nodes take (zd_capacity_mask) */
    int32_t pool;     /* pool its nodes hold, or -1 */
    bool sequential;  /* its nodes are sequential */
    uint64_t blocked; /* == round: held back in this round */
} class_info;

struct zd_place {
    const zd_graph *g;                            /* borrowed */
    zd_sched *sched;                              /* borrowed */
    zd_capacity *cap;                             /* borrowed */
    zd_leases *leases;                            /* borrowed */
    class_info *classes;                          /* per class */
    uint32_t n_classes;                           /* entries in classes */
    int jobs;                                     /* -j */
    uint32_t running;                             /* grants not released */
    uint64_t round;                               /* current round, from 1 */
    int64_t seq_waiting;                          /* sequential node waiting to run alone, or -1 */
    uint32_t (*prefer)(void *ctx, uint32_t node); /* a node's preferred host, or NULL */
    void *prefer_ctx;                             /* passed to prefer */
    bool seq_fresh;                               /* the wait began in the last call */
};

/* What puts nodes in one class, as the bytes of a string map's key. */
typedef struct signature {
    unsigned char bytes[sizeof(uint64_t) + sizeof(int32_t) + 1]; /* mask, pool, sequential */
} signature;

static signature signature_of(uint64_t mask, int32_t pool, bool seq) {
    signature s;
    memcpy(s.bytes, &mask, sizeof mask);
    memcpy(s.bytes + sizeof mask, &pool, sizeof pool);
    s.bytes[sizeof mask + sizeof pool] = seq;
    return s;
}

int zd_place_classes(const zd_graph *g, const zd_capacity *cap, uint32_t *class_of,
                     uint32_t *n_classes) {
    size_t n = zd_graph_size(g);
    zd_strmap *classes_of = zd_strmap_new(); /* signature -> class + 1 */
    if (!classes_of)
        return ZDAG_ENOMEM;
    uint32_t classes = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const zd_node *node = zd_graph_node(g, i);
        signature sig = signature_of(zd_capacity_mask(cap, i), node->pool, node->sequential);
        uintptr_t known =
            (uintptr_t)zd_strmap_get(classes_of, (const char *)sig.bytes, sizeof sig.bytes);
        if (known) {
            class_of[i] = (uint32_t)(known - 1);
            continue;
        }
        class_of[i] = classes++;
        rc = zd_strmap_put(classes_of, (const char *)sig.bytes, sizeof sig.bytes,
                           (void *)(uintptr_t)classes, NULL);
    }
    zd_strmap_free(&classes_of);
    *n_classes = classes ? classes : 1;
    return rc;
}

zd_place *zd_place_new(const zd_graph *g, zd_sched *sched, zd_capacity *cap, zd_leases *leases,
                       int jobs, const uint32_t *class_of, uint32_t n_classes) {
    zd_place *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->classes = calloc(n_classes ? n_classes : 1, sizeof *p->classes);
    if (!p->classes) {
        free(p);
        return NULL;
    }
    *p = (zd_place){.g = g,
                    .sched = sched,
                    .cap = cap,
                    .leases = leases,
                    .classes = p->classes,
                    .n_classes = n_classes,
                    .jobs = jobs > 0 ? jobs : 1,
                    .round = 1,
                    .seq_waiting = -1};
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        class_info *c = &p->classes[class_of[i]];
        const zd_node *node = zd_graph_node(g, i);
        c->mask = zd_capacity_mask(cap, i);
        c->pool = node->pool;
        c->sequential = node->sequential;
    }
    return p;
}

void zd_place_free(zd_place **pp) {
    if (!pp || !*pp)
        return;
    free((*pp)->classes);
    free(*pp);
    *pp = NULL;
}

void zd_place_round(zd_place *p) {
    p->round++;
}

/* The unblocked class whose best ready node has the highest priority, or UINT32_MAX. */
static uint32_t best_class(const zd_place *p) {
    uint32_t best = UINT32_MAX, best_node = 0;
    for (uint32_t c = 0; c < p->n_classes; c++) {
        if (p->classes[c].blocked == p->round || !zd_sched_class_ready(p->sched, c))
            continue;
        uint32_t node = zd_sched_class_peek(p->sched, c);
        if (best == UINT32_MAX || zd_sched_before(p->sched, node, best_node)) {
            best = c;
            best_node = node;
        }
    }
    return best;
}

/* Holds back, for this round, every class that takes units of `mask` or holds `pool`. */
static void block(zd_place *p, uint64_t mask, int32_t pool) {
    for (uint32_t c = 0; c < p->n_classes; c++)
        if ((p->classes[c].mask & mask) || (pool >= 0 && p->classes[c].pool == pool))
            p->classes[c].blocked = p->round;
}

void zd_place_set_prefer(zd_place *p, uint32_t (*fn)(void *ctx, uint32_t node), void *ctx) {
    p->prefer = fn;
    p->prefer_ctx = ctx;
}

/* The node's preferred host when it has an idle executor and room, else the first host that
 * has, or UINT32_MAX. */
static uint32_t find_host(const zd_place *p, const uint32_t *idle, const uint32_t *idle_io,
                          uint32_t node) {
    bool cpu = zd_graph_node(p->g, node)->cpus > 0;
#define USABLE(h) (idle[h] > (cpu && idle_io ? idle_io[h] : 0))
    uint32_t want = p->prefer ? p->prefer(p->prefer_ctx, node) : UINT32_MAX;
    if (want < zd_capacity_hosts(p->cap) && USABLE(want) && zd_capacity_fits(p->cap, want, node))
        return want;
    for (uint32_t h = 0; h < zd_capacity_hosts(p->cap); h++)
        if (USABLE(h) && zd_capacity_fits(p->cap, h, node))
            return h;
#undef USABLE
    return UINT32_MAX;
}

bool zd_place_next(zd_place *p, const uint32_t *idle, zd_grant *grant) {
    return zd_place_next_io(p, idle, NULL, grant);
}

bool zd_place_next_io(zd_place *p, const uint32_t *idle, const uint32_t *idle_io, zd_grant *grant) {
    p->seq_fresh = false;
    if ((int)p->running >= p->jobs || zd_lease_in_use(p->leases, ZD_LEASE_SEQUENTIAL) > 0)
        return false;
    for (;;) {
        uint32_t cls = best_class(p);
        if (cls == UINT32_MAX)
            return false;
        uint32_t node = zd_sched_class_peek(p->sched, cls);
        const zd_node *n = zd_graph_node(p->g, node);
        if (n->sequential && p->running > 0) {
            /* It is the best ready node: nothing of lower priority may start before it. */
            p->seq_fresh = p->seq_waiting != (int64_t)node;
            p->seq_waiting = node;
            return false;
        }
        if (n->pool >= 0 && !zd_lease_available(p->leases, n->pool)) {
            block(p, 0, n->pool);
            continue;
        }
        uint32_t host = find_host(p, idle, idle_io, node);
        if (host == UINT32_MAX) {
            uint64_t mask = p->classes[cls].mask;
            block(p, mask, -1);
            p->classes[cls].blocked = p->round; /* even when it takes no units */
            if (mask == 0)
                return false; /* it needs only a slot, and none is idle */
            continue;
        }
        (void)zd_sched_class_pop(p->sched, cls);
        zd_capacity_take(p->cap, host, node);
        *grant = (zd_grant){.node = node, .host = host};
        if (n->sequential)
            grant->seq_token = zd_lease_acquire(p->leases, ZD_LEASE_SEQUENTIAL);
        if (n->pool >= 0)
            grant->pool_token = zd_lease_acquire(p->leases, n->pool);
        if (p->seq_waiting == (int64_t)node)
            p->seq_waiting = -1;
        p->running++;
        return true;
    }
}

bool zd_place_release(zd_place *p, const zd_grant *grant) {
    bool fresh = true;
    zd_capacity_give(p->cap, grant->host, grant->node);
    if (grant->seq_token)
        fresh &= zd_lease_release(p->leases, grant->seq_token);
    if (grant->pool_token)
        fresh &= zd_lease_release(p->leases, grant->pool_token);
    p->running--;
    return fresh;
}

uint32_t zd_place_running(const zd_place *p) {
    return p->running;
}

int64_t zd_place_seq_waiting(const zd_place *p, bool *fresh) {
    if (fresh)
        *fresh = p->seq_fresh;
    return p->seq_waiting;
}

bool zd_place_can_ever_run(const zd_place *p, uint32_t node) {
    for (uint32_t h = 0; h < zd_capacity_hosts(p->cap); h++)
        if (zd_capacity_fits_total(p->cap, h, node))
            return true;
    return false;
}
