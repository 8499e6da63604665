/* The DAG: node storage, a name index, dependency edges and topological order. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Instances added to a finished graph (zd_graph_add_instances()): one block per run-time
 * fan-out, so that no node moves. */
typedef struct ext_block {
    zd_node *nodes; /* count nodes, then the one child they share (uint32_t), in one allocation */
    uint32_t first; /* index of nodes[0] */
    uint32_t count; /* nodes in the block */
} ext_block;

/* A node whose instances come at run time (zd_graph_set_runtime_fan()). */
typedef struct runtime_fan {
    uint32_t tmpl;        /* the node */
    uint32_t source;      /* the dep whose result's lines are the items */
    bool source_is_input; /* the instances are given source's result too (listed in deps) */
    uint32_t first;       /* once expanded: the first instance */
    uint32_t count;       /* ... and how many */
    bool expanded;        /* zd_graph_add_instances() was called */
} runtime_fan;

struct zd_graph {
    zd_node *nodes;             /* declaration order */
    size_t n_nodes;             /* nodes in use in `nodes` */
    ext_block *ext;             /* instances added at run time, by index */
    size_t n_ext;               /* entries in ext */
    size_t n_ext_nodes;         /* nodes in them */
    runtime_fan *fans;          /* by template index */
    size_t n_fans;              /* entries in fans */
    size_t cap_nodes;           /* allocated nodes */
    zd_strmap *names;           /* node name -> node index + 1; holds the names */
    zd_strmap *pool_names;      /* pool name -> pool index + 1; holds the names */
    uint32_t *children;         /* every node's children, node by node (zd_graph_finish) */
    uint32_t *deps;             /* every node's deps, node by node, as of zd_graph_finish;
                                   a node given a dep since then has an array of its own */
    size_t n_packed;            /* entries in deps */
    zd_pool *pools;             /* declared pools */
    size_t n_pools;             /* pools in use */
    uint32_t *topo;             /* topological order after zd_graph_finish, or NULL */
    zd_graph_settings settings; /* graph-wide settings */
};

void zd_node_init(zd_node *n) {
    memset(n, 0, sizeof *n);
    n->pool = -1;
    n->cpus = 1;
    n->estimate = 1;
}

static void free_strv(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_kv(zd_kv *kv, size_t n) {
    for (size_t i = 0; kv && i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void zd_node_clear(zd_node *n) {
    free(n->shell);
    free_strv(n->argv, n->argc + 1);
    free(n->fn);
    free(n->args);
    free(n->deps);
    for (size_t i = 0; i < n->n_resources; i++)
        free(n->resources[i].name);
    free(n->resources);
    free_kv(n->env, n->n_env);
    free(n->workdir);
    free(n->version);
    free_strv(n->tags, n->n_tags);
    if (n->files) {
        free_strv(n->files->inputs, n->files->n_inputs);
        free_strv(n->files->outputs, n->files->n_outputs);
        free(n->files);
    }
    zd_node_init(n);
}

static char *dup_or_null(const char *s, bool *oom) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static char **dup_strv(char **v, size_t n, bool null_terminated, bool *oom) {
    if (!v)
        return NULL;
    char **d = calloc(n + 1, sizeof *d);
    if (!d) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = dup_or_null(v[i], oom);
    (void)null_terminated; /* the extra slot is always NULL */
    return d;
}

int zd_node_copy_settings(zd_node *dst, const zd_node *src) {
    bool oom = false;
    dst->kind = src->kind;
    dst->shell = dup_or_null(src->shell, &oom);
    dst->argc = src->argc;
    dst->argv = dup_strv(src->argv, src->argc, true, &oom);
    dst->fn = dup_or_null(src->fn, &oom);
    if (src->args) {
        dst->args = malloc(src->args_len);
        if (dst->args) {
            memcpy(dst->args, src->args, src->args_len);
            dst->args_len = src->args_len;
        } else {
            oom = true;
        }
    }
    dst->priority = src->priority;
    dst->sequential = src->sequential;
    dst->pool = src->pool;
    dst->cpus = src->cpus;
    if (src->n_resources) {
        dst->resources = calloc(src->n_resources, sizeof *dst->resources);
        if (dst->resources) {
            dst->n_resources = src->n_resources;
            for (size_t i = 0; i < src->n_resources; i++) {
                dst->resources[i].name = dup_or_null(src->resources[i].name, &oom);
                dst->resources[i].amount = src->resources[i].amount;
            }
        } else {
            oom = true;
        }
    }
    dst->retries = src->retries;
    dst->timeout = src->timeout;
    dst->max_result = src->max_result;
    if (src->n_env) {
        dst->env = calloc(src->n_env, sizeof *dst->env);
        if (dst->env) {
            dst->n_env = src->n_env;
            for (size_t i = 0; i < src->n_env; i++) {
                dst->env[i].key = dup_or_null(src->env[i].key, &oom);
                dst->env[i].value = dup_or_null(src->env[i].value, &oom);
            }
        } else {
            oom = true;
        }
    }
    dst->workdir = dup_or_null(src->workdir, &oom);
    dst->version = dup_or_null(src->version, &oom);
    dst->estimate = src->estimate;
    dst->n_tags = src->n_tags;
    dst->tags = dup_strv(src->tags, src->n_tags, false, &oom);
    if (src->files && (dst->files = calloc(1, sizeof *dst->files))) {
        *dst->files = *src->files;
        dst->files->inputs = dup_strv(src->files->inputs, src->files->n_inputs, false, &oom);
        dst->files->outputs = dup_strv(src->files->outputs, src->files->n_outputs, false, &oom);
    } else if (src->files)
        oom = true;
    return oom ? ZDAG_ENOMEM : 0;
}

zd_graph *zd_graph_new(void) {
    zd_graph *g = calloc(1, sizeof(zd_graph));
    if (g && (!(g->names = zd_strmap_new()) || !(g->pool_names = zd_strmap_new()))) {
        zd_strmap_free(&g->names);
        free(g);
        g = NULL;
    }
    return g;
}

/* Whether node n's deps lie in the graph's packed array (which the node does not own). */
static bool deps_packed(const zd_graph *g, const zd_node *n) {
    return n->deps && g->deps && n->deps >= g->deps && n->deps < g->deps + g->n_packed;
}

void zd_graph_free(zd_graph **gp) {
    if (!gp || !*gp)
        return;
    zd_graph *g = *gp;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (deps_packed(g, &g->nodes[i]))
            g->nodes[i].deps = NULL;
        zd_node_clear(&g->nodes[i]);
    }
    free(g->nodes);
    for (size_t b = 0; b < g->n_ext; b++) {
        for (uint32_t i = 0; i < g->ext[b].count; i++) {
            g->ext[b].nodes[i].deps = g->ext[b].nodes[i].children = NULL; /* not owned */
            zd_node_clear(&g->ext[b].nodes[i]);
        }
        free(g->ext[b].nodes);
    }
    free(g->ext);
    free(g->fans);
    zd_strmap_free(&g->names);
    free(g->children);
    free(g->deps);
    zd_strmap_free(&g->pool_names);
    free(g->pools);
    free(g->topo);
    free(g->settings.path);
    free(g->settings.base_dir);
    free_kv(g->settings.env, g->settings.n_env);
    free_strv(g->settings.plugins, g->settings.n_plugins);
    free(g);
    *gp = NULL;
}

int zd_graph_add_node(zd_graph *g, const char *name, uint32_t *index) {
    if (!g || !name || g->n_nodes >= UINT32_MAX - 1 || g->n_ext)
        return ZDAG_EINVAL;
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 16;
        zd_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes)
            return ZDAG_ENOMEM;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    const char *stored;
    int rc =
        zd_strmap_add(g->names, name, strlen(name), (void *)(uintptr_t)(g->n_nodes + 1), &stored);
    if (rc < 0)
        return rc;
    zd_node *n = &g->nodes[g->n_nodes];
    zd_node_init(n);
    n->name = stored;
    if (index)
        *index = (uint32_t)g->n_nodes;
    g->n_nodes++;
    free(g->topo);
    g->topo = NULL;
    return 0;
}

/* A node added at run time, or NULL. */
static zd_node *ext_node(const zd_graph *g, uint32_t index) {
    size_t lo = 0, hi = g->n_ext;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ext_block *b = &g->ext[mid];
        if (index < b->first)
            hi = mid;
        else if (index - b->first >= b->count)
            lo = mid + 1;
        else
            return &b->nodes[index - b->first];
    }
    return NULL;
}

zd_node *zd_graph_node(const zd_graph *g, uint32_t index) {
    if (g && index < g->n_nodes)
        return &g->nodes[index];
    return g && g->n_ext ? ext_node(g, index) : NULL;
}

size_t zd_graph_size(const zd_graph *g) {
    return g ? g->n_nodes + g->n_ext_nodes : 0;
}

size_t zd_graph_static_size(const zd_graph *g) {
    return g ? g->n_nodes : 0;
}

/* The run-time fan-out of template node, or NULL. */
static runtime_fan *fan_of(const zd_graph *g, uint32_t node) {
    size_t lo = 0, hi = g ? g->n_fans : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->fans[mid].tmpl == node)
            return &g->fans[mid];
        if (g->fans[mid].tmpl < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int zd_graph_set_runtime_fan(zd_graph *g, uint32_t tmpl, uint32_t source, bool source_is_input) {
    if (!g || tmpl >= g->n_nodes || source >= g->n_nodes || tmpl == source || g->n_ext ||
        fan_of(g, tmpl))
        return ZDAG_EINVAL;
    bool is_dep = false;
    for (uint32_t i = 0; i < g->nodes[tmpl].n_deps && !is_dep; i++)
        is_dep = g->nodes[tmpl].deps[i] == source;
    if (!is_dep)
        return ZDAG_EINVAL;
    runtime_fan *v = realloc(g->fans, (g->n_fans + 1) * sizeof *v);
    if (!v)
        return ZDAG_ENOMEM;
    g->fans = v;
    size_t at = g->n_fans;
    while (at > 0 && v[at - 1].tmpl > tmpl) {
        v[at] = v[at - 1];
        at--;
    }
    v[at] = (runtime_fan){.tmpl = tmpl, .source = source, .source_is_input = source_is_input};
    g->n_fans++;
    return 0;
}

size_t zd_graph_runtime_fans(const zd_graph *g) {
    return g ? g->n_fans : 0;
}

int64_t zd_graph_fan_source(const zd_graph *g, uint32_t node) {
    const runtime_fan *f = fan_of(g, node);
    return f ? (int64_t)f->source : -1;
}

bool zd_graph_fan_instances(const zd_graph *g, uint32_t node, uint32_t *first, uint32_t *count) {
    const runtime_fan *f = fan_of(g, node);
    if (!f || !f->expanded)
        return false;
    *first = f->first;
    *count = f->count;
    return true;
}

int zd_graph_add_instances(zd_graph *g, uint32_t tmpl, zd_node *protos, char *const *names,
                           uint32_t count, uint32_t *first) {
    runtime_fan *f = fan_of(g, tmpl);
    size_t n = zd_graph_size(g);
    if (!f || f->expanded || !g->topo || (count && (!protos || !names)) ||
        n + count >= UINT32_MAX - 1)
        return ZDAG_EINVAL;
    for (uint32_t i = 0; i < count; i++)
        if (zd_strmap_get(g->names, names[i], strlen(names[i])))
            return ZDAG_EEXIST;
    ext_block *blocks = realloc(g->ext, (g->n_ext + 1) * sizeof *blocks);
    if (!blocks)
        return ZDAG_ENOMEM;
    g->ext = blocks;
    ext_block *b = &blocks[g->n_ext];
    const zd_node *t = &g->nodes[tmpl];
    /* The child they share, then their deps: the template's, without a source not listed. */
    size_t bytes = (size_t)count * sizeof(zd_node) + (1 + (size_t)t->n_deps) * sizeof(uint32_t);
    if (!(b->nodes = malloc(bytes)))
        return ZDAG_ENOMEM;
    uint32_t *child = (uint32_t *)(void *)(b->nodes + count); /* zd_node is 8-byte aligned */
    *child = tmpl;
    uint32_t *deps = child + 1, n_deps = 0;
    for (uint32_t i = 0; i < t->n_deps; i++)
        if (f->source_is_input || t->deps[i] != f->source)
            deps[n_deps++] = t->deps[i];
    for (uint32_t i = 0; i < count; i++) {
        const char *stored;
        /* Absent (checked above) unless given twice in this call; a name a failed call left
         * looks absent too. */
        int rc = zd_strmap_get(g->names, names[i], strlen(names[i]))
                     ? ZDAG_EEXIST
                     : zd_strmap_put(g->names, names[i], strlen(names[i]),
                                     (void *)(uintptr_t)(n + i + 1), &stored);
        if (rc < 0) {
            for (uint32_t k = 0; k < i; k++) { /* the names taken look absent again */
                int gone = zd_strmap_put(g->names, b->nodes[k].name, strlen(b->nodes[k].name), NULL,
                                         NULL); /* the key is there: no allocation */
                (void)gone;
                protos[k] = b->nodes[k]; /* the caller's again */
                protos[k].name = NULL;
                protos[k].deps = protos[k].children = NULL;
                protos[k].n_deps = protos[k].n_children = 0;
            }
            free(b->nodes);
            return rc;
        }
        zd_node *d = &b->nodes[i];
        *d = protos[i];
        zd_node_init(&protos[i]);
        d->name = stored;
        d->deps = n_deps ? deps : NULL; /* all done by now; shared by the block */
        d->n_deps = n_deps;
        d->deps_ascending = t->deps_ascending;
        d->children = child;
        d->n_children = 1;
    }
    b->first = (uint32_t)n;
    b->count = count;
    g->n_ext++;
    g->n_ext_nodes += count;
    f->first = (uint32_t)n;
    f->count = count;
    f->expanded = true;
    if (first)
        *first = (uint32_t)n;
    return 0;
}

void zd_graph_inputs_begin(const zd_graph *g, uint32_t node, zd_graph_inputs *it) {
    const zd_node *n = zd_graph_node(g, node);
    *it = (zd_graph_inputs){.deps = n ? n->deps : NULL, .n_deps = n ? n->n_deps : 0};
}

bool zd_graph_inputs_next(const zd_graph *g, zd_graph_inputs *it, uint32_t *dep) {
    if (it->inst < it->inst_end) {
        *dep = it->inst++;
        return true;
    }
    while (it->at < it->n_deps) {
        uint32_t d = it->deps[it->at++];
        const runtime_fan *f = g->n_fans ? fan_of(g, d) : NULL;
        if (!f || !f->expanded) {
            *dep = d;
            return true;
        }
        it->inst = f->first;
        it->inst_end = f->first + f->count;
        if (it->inst < it->inst_end) {
            *dep = it->inst++;
            return true;
        }
    }
    return false;
}

size_t zd_graph_input_count(const zd_graph *g, uint32_t node) {
    const zd_node *n = zd_graph_node(g, node);
    size_t k = n ? n->n_deps : 0;
    for (size_t i = 0; g->n_fans && n && i < n->n_deps; i++) {
        const runtime_fan *f = fan_of(g, n->deps[i]);
        if (f && f->expanded)
            k = k - 1 + f->count;
    }
    return k;
}

int64_t zd_graph_find(const zd_graph *g, const char *name) {
    if (!g || !name)
        return -1;
    uintptr_t v = (uintptr_t)zd_strmap_get(g->names, name, strlen(name));
    return v ? (int64_t)(v - 1) : -1;
}

int zd_graph_add_dep(zd_graph *g, uint32_t node, uint32_t dep) {
    if (!g || node >= g->n_nodes || dep >= g->n_nodes || node == dep || g->n_ext)
        return ZDAG_EINVAL;
    zd_node *n = &g->nodes[node];
    /* A node given its deps in increasing order (a fan-in of 100,000 instances) is checked in
     * O(1) a dep; any other order scans. */
    bool larger = n->n_deps == 0 || (n->deps_ascending && dep > n->deps[n->n_deps - 1]);
    for (size_t i = 0; !larger && i < n->n_deps; i++)
        if (n->deps[i] == dep)
            return ZDAG_EEXIST;
    bool packed = deps_packed(g, n);
    uint32_t *deps = realloc(packed ? NULL : n->deps, (n->n_deps + 1) * sizeof *deps);
    if (!deps)
        return ZDAG_ENOMEM;
    if (packed)
        memcpy(deps, n->deps, n->n_deps * sizeof *deps);
    deps[n->n_deps++] = dep;
    n->deps = deps;
    n->deps_ascending = larger;
    free(g->topo);
    g->topo = NULL;
    return 0;
}

int zd_graph_add_pool(zd_graph *g, const char *name, int capacity, int32_t *index) {
    if (!g || !name || capacity < 1 || capacity > ZD_POOL_MAX_CAPACITY ||
        g->n_pools >= ZD_GRAPH_MAX_POOLS)
        return ZDAG_EINVAL;
    if (zd_graph_find_pool(g, name) >= 0)
        return ZDAG_EEXIST;
    zd_pool *pools = realloc(g->pools, (g->n_pools + 1) * sizeof *pools);
    if (!pools)
        return ZDAG_ENOMEM;
    g->pools = pools;
    const char *stored;
    if (zd_strmap_put(g->pool_names, name, strlen(name), (void *)(uintptr_t)(g->n_pools + 1),
                      &stored) < 0)
        return ZDAG_ENOMEM;
    pools[g->n_pools] = (zd_pool){.name = stored, .capacity = capacity};
    if (index)
        *index = (int32_t)g->n_pools;
    g->n_pools++;
    return 0;
}

int32_t zd_graph_find_pool(const zd_graph *g, const char *name) {
    if (!g || !name)
        return -1;
    uintptr_t v = (uintptr_t)zd_strmap_get(g->pool_names, name, strlen(name));
    return v ? (int32_t)(v - 1) : -1;
}

const zd_pool *zd_graph_pool(const zd_graph *g, int32_t index) {
    return g && index >= 0 && (size_t)index < g->n_pools ? &g->pools[index] : NULL;
}

size_t zd_graph_pool_count(const zd_graph *g) {
    return g ? g->n_pools : 0;
}

zd_graph_settings *zd_graph_settings_of(zd_graph *g) {
    return &g->settings;
}

const uint32_t *zd_graph_topo(const zd_graph *g) {
    return g ? g->topo : NULL;
}

/* Moves every node's deps into one array for all nodes (edges of them), node by node. */
static int pack_deps(zd_graph *g, size_t edges) {
    uint32_t *all = malloc((edges ? edges : 1) * sizeof *all);
    if (!all)
        return ZDAG_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        zd_node *n = &g->nodes[i];
        if (n->n_deps)
            memcpy(all + at, n->deps, n->n_deps * sizeof *all);
        if (!deps_packed(g, n))
            free(n->deps);
        n->deps = n->n_deps ? all + at : NULL;
        at += n->n_deps;
        n->children = NULL;
        n->n_children = 0;
    }
    free(g->deps);
    g->deps = all;
    g->n_packed = edges;
    return 0;
}

/* Fills every node's children, in declaration order, into one array for all nodes, from the
 * packed deps (n_deps[i] of node i, in order) without reading the nodes: the children of node
 * d are g->children[first[d] .. first[d + 1]) (first: n + 1 entries, filled here). */
static int fill_children(zd_graph *g, const uint32_t *n_deps, uint32_t *first) {
    size_t n = g->n_nodes, edges = g->n_packed;
    free(g->children);
    g->children = NULL;
    if (edges && !(g->children = malloc(edges * sizeof *g->children)))
        return ZDAG_ENOMEM;
    memset(first, 0, (n + 1) * sizeof *first);
    for (size_t e = 0; e < edges; e++)
        first[g->deps[e] + 1]++;
    for (size_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    /* Placed from the last node down, each at the end of what is left of its parent's range
     * (end[d], that is first[d + 1]): every range comes out in declaration order, and end[d]
     * ends at the start of d's range. */
    uint32_t *end = first + 1;
    size_t at = edges;
    for (size_t i = n; i-- > 0;)
        for (uint32_t k = n_deps[i]; k-- > 0;) {
            uint32_t d = g->deps[--at];
            g->children[--end[d]] = (uint32_t)i;
        }
    /* first[d + 1] is now the start of d's range: shift first down into place. */
    memmove(first, first + 1, n * sizeof *first);
    first[n] = (uint32_t)edges;
    for (size_t i = 0; i < n; i++) {
        g->nodes[i].n_children = first[i + 1] - first[i];
        g->nodes[i].children = g->nodes[i].n_children ? g->children + first[i] : NULL;
    }
    return 0;
}

/* Finds one cycle among the nodes Kahn's algorithm could not order (pending[i] > 0): walk deps
 * from such a node until a node repeats; every unordered node has an unordered dep. */
static int find_cycle(const zd_graph *g, const uint32_t *pending, uint32_t **cycle,
                      size_t *cycle_len) {
    size_t n = g->n_nodes;
    size_t *seen_at = malloc(n * sizeof *seen_at);
    uint32_t *path = malloc((n + 1) * sizeof *path);
    if (!seen_at || !path) {
        free(seen_at);
        free(path);
        return ZDAG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        seen_at[i] = SIZE_MAX;
    uint32_t cur = 0;
    while (pending[cur] == 0)
        cur++;
    size_t len = 0;
    while (seen_at[cur] == SIZE_MAX) {
        seen_at[cur] = len;
        path[len++] = cur;
        const zd_node *node = &g->nodes[cur];
        for (size_t d = 0; d < node->n_deps; d++)
            if (pending[node->deps[d]]) {
                cur = node->deps[d];
                break;
            }
    }
    /* path[seen_at[cur] .. len) walks deps backwards: reverse it into dependency order. */
    size_t start = seen_at[cur], clen = len - start;
    uint32_t *out = malloc((clen + 1) * sizeof *out);
    if (out) {
        for (size_t i = 0; i < clen; i++)
            out[i] = path[len - 1 - i];
        out[clen] = out[0];
        *cycle = out;
        *cycle_len = clen + 1;
    }
    free(seen_at);
    free(path);
    return out ? 0 : ZDAG_ENOMEM;
}

int zd_graph_finish(zd_graph *g, uint32_t **cycle, size_t *cycle_len) {
    if (!g || g->n_ext)
        return ZDAG_EINVAL;
    size_t n = g->n_nodes, edges = 0;
    free(g->topo);
    g->topo = NULL;
    int rc = ZDAG_ENOMEM;
    uint32_t *topo = malloc((n ? n : 1) * sizeof *topo);
    uint32_t *pending = malloc((n ? n : 1) * sizeof *pending);
    uint32_t *first = malloc((n + 1) * sizeof *first);
    if (!topo || !pending || !first)
        goto out_free;
    for (size_t i = 0; i < n; i++) {
        pending[i] = g->nodes[i].n_deps;
        edges += pending[i];
    }
    if (edges > UINT32_MAX || pack_deps(g, edges) < 0 || fill_children(g, pending, first) < 0)
        goto out_free;
    rc = 0;
    /* Kahn's algorithm with a FIFO seeded in declaration order, over the packed children. */
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (pending[i] == 0)
            topo[tail++] = (uint32_t)i;
    while (head < tail) {
        uint32_t node = topo[head++];
        for (uint32_t c = first[node]; c < first[node + 1]; c++)
            if (--pending[g->children[c]] == 0)
                topo[tail++] = g->children[c];
    }
    if (tail < n) {
        rc = ZDAG_ECYCLE;
        if (cycle && cycle_len && find_cycle(g, pending, cycle, cycle_len) < 0)
            rc = ZDAG_ENOMEM;
        goto out_free;
    }
    g->topo = topo;
    topo = NULL;
out_free:
    free(topo);
    free(pending);
    free(first);
    return rc;
}
