/* Per-host CPU and resource accounting in thousandths. */
#include "capacity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

typedef struct host {
    char *name;     /* owned */
    int64_t *total; /* per kind: kind 0 = CPU units, 1 + k = resource k */
    int64_t *used;  /* per kind, taken by running nodes */
} host;

typedef struct demand {
    uint32_t first; /* index of the node's first (kind, amount) in c->kinds/c->amounts */
    uint32_t n;     /* pairs */
    uint64_t mask;  /* kinds taken, see zd_capacity_mask() */
} demand;

struct zd_capacity {
    const zd_graph *g;   /* borrowed */
    char **names;        /* resource kind names (borrowed from the graph's nodes) */
    size_t n_kinds;      /* 1 (CPU) + resource kinds */
    demand *demands;     /* the distinct demands (most nodes take the same: 1 CPU unit) */
    uint32_t *demand_of; /* per node: its entry in demands */
    uint32_t *kinds;     /* the distinct demands' (kind, amount) pairs: kinds */
    int64_t *amounts;    /* ... and amounts, in thousandths */
    host *hosts;         /* hosts added */
    uint32_t n_hosts;    /* entries in hosts */
};

static int64_t milli(double v) {
    return (int64_t)llround(v * 1000.0);
}

static int64_t kind_of(const zd_capacity *c, const char *name) {
    for (size_t k = 1; k < c->n_kinds; k++)
        if (strcmp(c->names[k], name) == 0)
            return (int64_t)k;
    return -1;
}

/* Lays out node's (kind, amount) pairs at c->kinds/c->amounts + at, interning resource names
 * (resource lists are short and the kinds few, so the lookups stay linear in kinds), and its
 * demand's kinds as bits in *mask. Returns the number of pairs. */
static uint32_t lay_out(zd_capacity *c, const zd_node *node, uint32_t at, uint64_t *mask) {
    uint32_t first = at;
    *mask = 0;
    if (milli(node->cpus) > 0) {
        c->kinds[at] = 0;
        c->amounts[at++] = milli(node->cpus);
        *mask |= 1;
    }
    for (size_t r = 0; r < node->n_resources; r++) {
        if (milli(node->resources[r].amount) <= 0)
            continue;
        int64_t k = kind_of(c, node->resources[r].name);
        if (k < 0) {
            k = (int64_t)c->n_kinds;
            c->names[c->n_kinds++] = node->resources[r].name;
        }
        c->kinds[at] = (uint32_t)k;
        c->amounts[at++] = milli(node->resources[r].amount);
        *mask |= 1ull << (k < 63 ? k : 63);
    }
    return at - first;
}

/* Lays out every node's demand, each distinct one once: a node's pairs are laid out after the
 * last distinct demand and kept only when no earlier demand has the same pairs. */
static int build(zd_capacity *c) {
    size_t n = zd_graph_size(c->g), resources = 0, most = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t r = zd_graph_node(c->g, i)->n_resources;
        resources += r;
        most = r > most ? r : most;
    }
    size_t pairs = n + resources, key_size = (1 + most) * (sizeof(uint32_t) + sizeof(int64_t));
    c->names = calloc(resources + 1, sizeof *c->names);
    c->demands = calloc(n ? n : 1, sizeof *c->demands);
    c->demand_of = calloc(n ? n : 1, sizeof *c->demand_of);
    c->kinds = calloc(pairs + 1, sizeof *c->kinds);
    c->amounts = calloc(pairs + 1, sizeof *c->amounts);
    unsigned char *key = malloc(key_size);
    zd_strmap *seen = zd_strmap_new(); /* a demand's pairs as bytes -> its index + 1 */
    int rc = ZDAG_ENOMEM;
    if (!c->names || !c->demands || !c->demand_of || !c->kinds || !c->amounts || !key || !seen)
        goto out_free;
    c->n_kinds = 1;
    c->names[0] = "cpus";
    uint32_t at = 0, distinct = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t mask;
        uint32_t count = lay_out(c, zd_graph_node(c->g, i), at, &mask);
        size_t len = 0;
        for (uint32_t p = at; p < at + count; p++) {
            memcpy(key + len, &c->kinds[p], sizeof c->kinds[p]);
            memcpy(key + len + sizeof c->kinds[p], &c->amounts[p], sizeof c->amounts[p]);
            len += sizeof c->kinds[p] + sizeof c->amounts[p];
        }
        uintptr_t known = (uintptr_t)zd_strmap_get(seen, (const char *)key, len);
        if (known) {
            c->demand_of[i] = (uint32_t)(known - 1);
            continue;
        }
        c->demands[distinct] = (demand){.first = at, .n = count, .mask = mask};
        c->demand_of[i] = distinct++;
        at += count;
        if (zd_strmap_put(seen, (const char *)key, len, (void *)(uintptr_t)distinct, NULL) < 0)
            goto out_free;
    }
    rc = 0;
    /* Only what the distinct demands use is kept (the rest was never touched). */
    demand *demands = realloc(c->demands, (distinct ? distinct : 1) * sizeof *demands);
    uint32_t *kinds = realloc(c->kinds, (at ? at : 1) * sizeof *kinds);
    int64_t *amounts = realloc(c->amounts, (at ? at : 1) * sizeof *amounts);
    c->demands = demands ? demands : c->demands;
    c->kinds = kinds ? kinds : c->kinds;
    c->amounts = amounts ? amounts : c->amounts;
out_free:
    zd_strmap_free(&seen);
    free(key);
    return rc;
}

zd_capacity *zd_capacity_new(const zd_graph *g) {
    zd_capacity *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = g;
    if (build(c) < 0)
        zd_capacity_free(&c);
    return c;
}

void zd_capacity_free(zd_capacity **cp) {
    if (!cp || !*cp)
        return;
    zd_capacity *c = *cp;
    for (uint32_t h = 0; h < c->n_hosts; h++) {
        free(c->hosts[h].name);
        free(c->hosts[h].total);
        free(c->hosts[h].used);
    }
    free(c->hosts);
    free(c->names);
    free(c->demands);
    free(c->demand_of);
    free(c->kinds);
    free(c->amounts);
    free(c);
    *cp = NULL;
}

int zd_capacity_add_host(zd_capacity *c, const char *name, double cpus, const zd_amount *res,
                         size_t n_res, uint32_t *index) {
    host *hosts = realloc(c->hosts, (c->n_hosts + 1) * sizeof *hosts);
    if (!hosts)
        return ZDAG_ENOMEM;
    c->hosts = hosts;
    host *h = &hosts[c->n_hosts];
    h->name = strdup(name);
    h->total = calloc(c->n_kinds, sizeof *h->total);
    h->used = calloc(c->n_kinds, sizeof *h->used);
    if (!h->name || !h->total || !h->used) {
        free(h->name);
        free(h->total);
        free(h->used);
        return ZDAG_ENOMEM;
    }
    h->total[0] = milli(cpus);
    for (size_t r = 0; r < n_res; r++) {
        int64_t k = kind_of(c, res[r].name);
        if (k > 0)
            h->total[k] = milli(res[r].amount);
    }
    *index = c->n_hosts++;
    return 0;
}

uint32_t zd_capacity_hosts(const zd_capacity *c) {
    return c->n_hosts;
}

const char *zd_capacity_host_name(const zd_capacity *c, uint32_t h) {
    return h < c->n_hosts ? c->hosts[h].name : NULL;
}

static bool fits(const zd_capacity *c, uint32_t h, uint32_t node, bool with_used) {
    const demand *d = &c->demands[c->demand_of[node]];
    const host *hs = &c->hosts[h];
    for (uint32_t i = d->first; i < d->first + d->n; i++) {
        int64_t used = with_used ? hs->used[c->kinds[i]] : 0;
        if (used + c->amounts[i] > hs->total[c->kinds[i]])
            return false;
    }
    return true;
}

bool zd_capacity_fits(const zd_capacity *c, uint32_t h, uint32_t node) {
    return fits(c, h, node, true);
}

bool zd_capacity_fits_total(const zd_capacity *c, uint32_t h, uint32_t node) {
    return fits(c, h, node, false);
}

void zd_capacity_take(zd_capacity *c, uint32_t h, uint32_t node) {
    const demand *d = &c->demands[c->demand_of[node]];
    for (uint32_t i = d->first; i < d->first + d->n; i++)
        c->hosts[h].used[c->kinds[i]] += c->amounts[i];
}

void zd_capacity_give(zd_capacity *c, uint32_t h, uint32_t node) {
    const demand *d = &c->demands[c->demand_of[node]];
    for (uint32_t i = d->first; i < d->first + d->n; i++)
        c->hosts[h].used[c->kinds[i]] -= c->amounts[i];
}

int zd_capacity_add_like(zd_capacity *c, uint32_t first, uint32_t count, uint32_t like) {
    size_t n = (size_t)first + count;
    uint32_t *v = realloc(c->demand_of, (n ? n : 1) * sizeof *v);
    if (!v)
        return ZDAG_ENOMEM;
    c->demand_of = v;
    for (size_t i = first; i < n; i++)
        v[i] = v[like];
    return 0;
}

void zd_capacity_cpu_units(const zd_capacity *c, uint32_t index, double *used, double *total) {
    const host *h = &c->hosts[index];
    *used = (double)h->used[0] / 1000.0;
    *total = (double)h->total[0] / 1000.0;
}

uint64_t zd_capacity_mask(const zd_capacity *c, uint32_t node) {
    return c->demands[c->demand_of[node]].mask;
}

void zd_capacity_explain(const zd_capacity *c, uint32_t node, char *buf, size_t size) {
    const demand *d = &c->demands[c->demand_of[node]];
    snprintf(buf, size, "does not fit on any host");
    for (uint32_t i = d->first; i < d->first + d->n; i++) {
        int64_t best = 0;
        for (uint32_t h = 0; h < c->n_hosts; h++)
            if (c->hosts[h].total[c->kinds[i]] > best)
                best = c->hosts[h].total[c->kinds[i]];
        if (c->amounts[i] > best) {
            snprintf(buf, size, "needs %g %s; the most any host offers is %g",
                     (double)c->amounts[i] / 1000.0, c->names[c->kinds[i]], (double)best / 1000.0);
            return;
        }
    }
}
