/* Per-host CPU and resource accounting in thousandths. */
#include "capacity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const zd_graph *g; /* borrowed */
    char **names;      /* resource kind names (borrowed from the graph's nodes) */
    size_t n_kinds;    /* 1 (CPU) + resource kinds */
    demand *demands;   /* per node */
    uint32_t *kinds;   /* all nodes' (kind, amount) pairs: kinds */
    int64_t *amounts;  /* ... and amounts, in thousandths */
    host *hosts;       /* hosts added */
    uint32_t n_hosts;  /* entries in hosts */
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

/* Interns resource names and lays out every node's demand; resource lists are short and the
 * kinds few, so the name lookups stay linear in kinds. */
static int build(zd_capacity *c) {
    size_t n = zd_graph_size(c->g), resources = 0;
    for (uint32_t i = 0; i < n; i++)
        resources += zd_graph_node(c->g, i)->n_resources;
    size_t pairs = n + resources;
    c->names = calloc(resources + 1, sizeof *c->names);
    c->demands = calloc(n ? n : 1, sizeof *c->demands);
    c->kinds = calloc(pairs + 1, sizeof *c->kinds);
    c->amounts = calloc(pairs + 1, sizeof *c->amounts);
    if (!c->names || !c->demands || !c->kinds || !c->amounts)
        return ZDAG_ENOMEM;
    c->n_kinds = 1;
    c->names[0] = "cpus";
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zd_node *node = zd_graph_node(c->g, i);
        demand *d = &c->demands[i];
        d->first = at;
        if (milli(node->cpus) > 0) {
            c->kinds[at] = 0;
            c->amounts[at++] = milli(node->cpus);
            d->mask |= 1;
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
            d->mask |= 1ull << (k < 63 ? k : 63);
        }
        d->n = at - d->first;
    }
    return 0;
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
    const demand *d = &c->demands[node];
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
    const demand *d = &c->demands[node];
    for (uint32_t i = d->first; i < d->first + d->n; i++)
        c->hosts[h].used[c->kinds[i]] += c->amounts[i];
}

void zd_capacity_give(zd_capacity *c, uint32_t h, uint32_t node) {
    const demand *d = &c->demands[node];
    for (uint32_t i = d->first; i < d->first + d->n; i++)
        c->hosts[h].used[c->kinds[i]] -= c->amounts[i];
}

uint64_t zd_capacity_mask(const zd_capacity *c, uint32_t node) {
    return c->demands[node].mask;
}

void zd_capacity_explain(const zd_capacity *c, uint32_t node, char *buf, size_t size) {
    const demand *d = &c->demands[node];
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
