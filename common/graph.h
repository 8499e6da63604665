/* The DAG: nodes with their run settings, dependency edges, pools, topological order.
 *
 * Both the pipeline loader and the C API build a zd_graph; the coordinator runs one. Nodes are
 * addressed by index (declaration order), which is also the scheduler's tie-breaker. */
#ifndef ZD_GRAPH_H
#define ZD_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zdag.h"

typedef struct zd_kv {
    char *key;   /* owned */
    char *value; /* owned */
} zd_kv;

typedef struct zd_amount {
    char *name;    /* owned resource name, e.g. "gpu" */
    double amount; /* units taken while the node runs, >= 0 */
} zd_amount;

typedef enum zd_node_kind {
    ZD_NODE_SHELL = 0, /* `cmd` as a string, run by /bin/sh -c */
    ZD_NODE_ARGV = 1,  /* `cmd` as a list, exec'd directly */
    ZD_NODE_FN = 2,    /* `fn`: a registered or plugin function */
} zd_node_kind;

/* The files a node declares (`inputs`, `outputs`, `keep`): what decides whether it is up to
 * date, what it must create, and what is removed when it fails. */
typedef struct zd_node_files {
    char **inputs;      /* owned paths (absolute when loaded from a file); may be globs */
    char **outputs;     /* owned paths (absolute when loaded from a file) */
    uint32_t n_inputs;  /* entries in inputs */
    uint32_t n_outputs; /* entries in outputs */
    bool keep;          /* a failed node's outputs are kept (default: removed) */
    int line, col;      /* where `outputs` is written (1-based), 0 when not */
} zd_node_files;

typedef struct zd_node {
    const char *name;     /* unique in the graph; held by the graph's name map (not the node) */
    int line, col;        /* where the node is declared (1-based); 0 when built in code */
    zd_node_kind kind;    /* what `shell`/`argv`/`fn` holds */
    int16_t pool;         /* index into zd_graph.pools, or -1 */
    bool sequential;      /* runs alone */
    bool deps_ascending;  /* deps were added in increasing order (zd_graph_add_dep() then needs
                             no scan for a larger one) */
    char *shell;          /* ZD_NODE_SHELL: the command string; else NULL */
    char **argv;          /* ZD_NODE_ARGV: NULL-terminated, owned; else NULL */
    char *fn;             /* ZD_NODE_FN: function name; else NULL */
    char *args;           /* `args` packed as one msgpack value; NULL = nil */
    uint32_t argc;        /* entries in argv before the NULL */
    uint32_t args_len;    /* bytes in args */
    uint32_t *deps;       /* indices of the nodes this one depends on (held by the graph: one
                             array for all nodes once finished) */
    uint32_t *children;   /* indices of the nodes depending on this one (zd_graph_finish; held
                             by the graph, one array for all nodes) */
    uint32_t n_deps;      /* entries in deps */
    uint32_t n_children;  /* entries in children */
    int64_t priority;     /* user priority; higher runs first */
    double cpus;          /* CPU units taken on its host, >= 0 */
    zd_amount *resources; /* other units taken on its host, owned */
    zd_kv *env;           /* extra environment for cmd, owned */
    uint32_t n_resources; /* entries in resources */
    uint32_t n_env;       /* entries in env */
    int retries;          /* extra attempts after a failure */
    uint32_t n_tags;      /* entries in tags */
    double timeout;       /* seconds per attempt; 0 = none */
    uint64_t max_result;  /* largest result, bytes; 0 = the graph's (or the default) */
    char *workdir;        /* directory a cmd runs in, or NULL */
    double estimate;      /* expected duration in seconds */
    char **tags;          /* owned tag strings */
    char *version;        /* `version` as written (owned), or NULL: part of the definition hash */
    zd_node_files *files; /* owned; NULL when the node declares no inputs, outputs or keep */
} zd_node;

typedef struct zd_pool {
    const char *name; /* held by the graph's pool map */
    int capacity;     /* units, 1 to ZD_POOL_MAX_CAPACITY */
} zd_pool;

typedef struct zd_graph zd_graph;

/* Creates an empty graph. Returns NULL when out of memory. Free with zd_graph_free(). */
zd_graph *zd_graph_new(void);

/* Frees the graph and everything it owns; sets *g to NULL. Accepts NULL and *g == NULL. */
void zd_graph_free(zd_graph **g);

/* Adds a node named `name` (copied into the graph's name map) with the default settings (cpus 1,
 * estimate 1, no pool, kind ZD_NODE_SHELL with no command yet). Stores its index in *index. Returns
 * ZDAG_EEXIST when the name is taken, ZDAG_ENOMEM. Invalidates zd_node pointers. */
int zd_graph_add_node(zd_graph *g, const char *name, uint32_t *index)
    __attribute__((warn_unused_result));

/* Returns the node at index (borrowed; valid until the next zd_graph_add_node, and through
 * zd_graph_add_instances()), or NULL. */
zd_node *zd_graph_node(const zd_graph *g, uint32_t index);

/* Returns the number of nodes, the instances added at run time included. */
size_t zd_graph_size(const zd_graph *g);

/* Returns the number of nodes before any zd_graph_add_instances(): the pipeline's own. */
size_t zd_graph_static_size(const zd_graph *g);

/* Returns the index of the node named `name`, or -1. O(1) on average. */
int64_t zd_graph_find(const zd_graph *g, const char *name);

/* Records that `node` depends on `dep`. Returns ZDAG_EEXIST when already recorded,
 * ZDAG_EINVAL for a bad index or a self-dependency, ZDAG_ENOMEM. */
int zd_graph_add_dep(zd_graph *g, uint32_t node, uint32_t dep) __attribute__((warn_unused_result));

#define ZD_POOL_MAX_CAPACITY 1000000 /* units of one pool, at most */
#define ZD_GRAPH_MAX_POOLS INT16_MAX /* pools of one graph, at most (zd_node.pool) */

/* Adds a pool (name copied). Returns ZDAG_EEXIST, ZDAG_EINVAL (capacity < 1 or above
 * ZD_POOL_MAX_CAPACITY, or ZD_GRAPH_MAX_POOLS pools already), ZDAG_ENOMEM. */
int zd_graph_add_pool(zd_graph *g, const char *name, int capacity, int32_t *index)
    __attribute__((warn_unused_result));

/* Returns the pool index for name, or -1. */
int32_t zd_graph_find_pool(const zd_graph *g, const char *name);

/* Returns the pool at index (borrowed), or NULL. */
const zd_pool *zd_graph_pool(const zd_graph *g, int32_t index);

/* Returns the number of pools. */
size_t zd_graph_pool_count(const zd_graph *g);

/* Completes the graph after all nodes and deps are added: fills every node's children and the
 * topological order. On a cycle returns ZDAG_ECYCLE and, when cycle is not NULL, stores in
 * *cycle (caller frees) the node indices of one cycle in dependency order, first node repeated
 * at the end (a -> b means b depends on a), and its length in *cycle_len.
 * Returns ZDAG_ENOMEM. */
int zd_graph_finish(zd_graph *g, uint32_t **cycle, size_t *cycle_len)
    __attribute__((warn_unused_result));

/* Returns the topological order (borrowed, zd_graph_static_size() entries, every node after all
 * its deps, ties in declaration order; instances added at run time are not in it), or NULL
 * before a successful zd_graph_finish(). */
const uint32_t *zd_graph_topo(const zd_graph *g);

/* ---- Fan-out at run time (`foreach: {result_lines: SOURCE}`) ------------------------------
 * A template node stands for instances known only once its dependency SOURCE succeeded. Until
 * then it waits like any node; the run then adds its instances (zd_graph_add_instances()): each
 * depends on the template's deps and has the template as its one child, so the template ends
 * once they all did, as a join, and its dependents see every instance (zd_graph_inputs_next()).
 * The template itself never runs. */

/* Marks node tmpl (before zd_graph_finish()) as a run-time fan-out over the result of its dep
 * source (a dep already). Its instances depend on its other deps, and on source only when
 * source_is_input (the pipeline lists it in `deps`): an instance is given its item, not the whole
 * listing, unless it asks. Returns 0, ZDAG_EINVAL (bad index, not a dep, marked already, or
 * instances added), ZDAG_ENOMEM. */
int zd_graph_set_runtime_fan(zd_graph *g, uint32_t tmpl, uint32_t source, bool source_is_input)
    __attribute__((warn_unused_result));

/* Number of templates in the graph. */
size_t zd_graph_runtime_fans(const zd_graph *g);

/* The source of template node, or -1 when node is not a template. O(log templates). */
int64_t zd_graph_fan_source(const zd_graph *g, uint32_t node);

/* For a template whose instances were added: the first one's index and their count, and true;
 * false otherwise. */
bool zd_graph_fan_instances(const zd_graph *g, uint32_t node, uint32_t *first, uint32_t *count);

/* Adds the count instances of template tmpl (the graph finished, tmpl not expanded yet): node
 * i takes protos[i]'s settings (moved: protos[i] is left initialised) and the name names[i]
 * (copied), depends on tmpl's deps (see zd_graph_set_runtime_fan()) and has tmpl as its child.
 * They take the indices from zd_graph_size() on (stored in *first, may be NULL); no node moves,
 * so zd_node pointers stay valid. On failure nothing is added and protos keep their settings.
 * Returns 0, ZDAG_EEXIST (a name is taken), ZDAG_EINVAL, ZDAG_ENOMEM. */
int zd_graph_add_instances(zd_graph *g, uint32_t tmpl, zd_node *protos, char *const *names,
                           uint32_t count, uint32_t *first) __attribute__((warn_unused_result));

/* A walk over a node's inputs: its deps in order, each expanded template replaced by its
 * instances in index order. */
typedef struct zd_graph_inputs {
    const uint32_t *deps;    /* the node's deps (borrowed) */
    uint32_t n_deps, at;     /* entries in deps, and the next one */
    uint32_t inst, inst_end; /* instances of the template being walked */
} zd_graph_inputs;
void zd_graph_inputs_begin(const zd_graph *g, uint32_t node, zd_graph_inputs *it);
bool zd_graph_inputs_next(const zd_graph *g, zd_graph_inputs *it, uint32_t *dep);

/* The number of a node's inputs (as zd_graph_inputs_next() walks them). */
size_t zd_graph_input_count(const zd_graph *g, uint32_t node);

/* Graph-wide settings from the pipeline file. */
typedef struct zd_graph_settings {
    char *path;          /* owned pipeline file path, or NULL when built in code */
    char *base_dir;      /* owned directory its relative paths resolve from, or NULL */
    int max_concurrency; /* 0 = unset */
    uint64_t max_result; /* largest result of a node without its own, bytes; 0 = unset */
    zd_kv *env;          /* owned; environment for every cmd node */
    size_t n_env;        /* entries in env */
    char **plugins;      /* owned plugin paths */
    size_t n_plugins;    /* entries in plugins */
} zd_graph_settings;

/* Returns the graph-wide settings (borrowed, writable by the loader). */
zd_graph_settings *zd_graph_settings_of(zd_graph *g);

/* Frees what one node owns (not the node itself, nor its name and children, which are the
 * graph's); used by loaders for templates. */
void zd_node_clear(zd_node *n);

/* Deep-copies src's settings (not name, deps, children, line/col) into dst, which must be
 * cleared or fresh. Returns ZDAG_ENOMEM. */
int zd_node_copy_settings(zd_node *dst, const zd_node *src) __attribute__((warn_unused_result));

/* Initialises a node with the default settings (no allocation). */
void zd_node_init(zd_node *n);

#endif
