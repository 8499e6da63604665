/* libzdag's zdag_result: each node's outcome copied out of the coordinator at the end of a
 * run (results kept inline in one buffer, or mapped from the store), and its accessors. */
#ifndef ZD_RESULT_H
#define ZD_RESULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "coord.h"
#include "graph.h"
#include "strmap.h"
#include "zdag.h"

typedef struct node_end {
    zdag_node_status status; /* how it ended */
    char *error;             /* owned, or NULL */
    unsigned attempts;       /* attempts made */
    const char *mapped;      /* a stored result: the mapping of its store file, or NULL */
    size_t value_at;         /* a result kept inline: where it starts in the result's values */
    size_t value_len;        /* bytes in the result */
    bool has_value;          /* there is a result (inline, or mapped) */
    bool is_msgpack;         /* the result is a packed msgpack value */
} node_end;

struct zdag_result {
    char *names;     /* every node's name, each NUL-terminated, in node order (owned) */
    size_t *name_at; /* per node, where its name starts in names (owned) */
    char *values;    /* every result kept inline, one after another (owned) */
    node_end *nodes; /* per node */
    size_t n;        /* entries in nodes */
    int exit_code;   /* as `zdag run` would exit */
    pthread_mutex_t index_lock;
    _Atomic(zd_strmap *) index; /* name -> index + 1, made by the first lookup by name (owned) */
};

/* A result for g's nodes, none ended yet (exit_code 0); NULL when out of memory. */
zdag_result *zd_result_new(const zd_graph *g);

/* zd_run_opts.finished for a zdag_result (ctx): copies every node's outcome and the exit code
 * out of the coordinator before it is freed. */
void zd_result_keep_outcomes(void *ctx, const zd_coord *c);

#endif
