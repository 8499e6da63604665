/* libzdag's run results (result.h). */
#include "result.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include "store.h"

static zdag_node_status status_of(zd_node_state s) {
    switch (s) {
    case ZD_NS_SUCCEEDED:
        return ZDAG_NODE_SUCCEEDED;
    case ZD_NS_FAILED:
        return ZDAG_NODE_FAILED;
    case ZD_NS_CACHED:
        return ZDAG_NODE_CACHED;
    case ZD_NS_EXCLUDED:
        return ZDAG_NODE_EXCLUDED;
    case ZD_NS_SKIPPED:
    case ZD_NS_WAITING: /* a finished run leaves none waiting, ready or running: */
    case ZD_NS_READY:   /* should one be, it did not run */
    case ZD_NS_RUNNING:
        break;
    }
    return ZDAG_NODE_SKIPPED;
}

const char *zdag_node_status_name(zdag_node_status status) {
    switch (status) {
    case ZDAG_NODE_SUCCEEDED:
        return zd_node_state_name(ZD_NS_SUCCEEDED);
    case ZDAG_NODE_FAILED:
        return zd_node_state_name(ZD_NS_FAILED);
    case ZDAG_NODE_SKIPPED:
        return zd_node_state_name(ZD_NS_SKIPPED);
    case ZDAG_NODE_CACHED:
        return zd_node_state_name(ZD_NS_CACHED);
    case ZDAG_NODE_EXCLUDED:
        return zd_node_state_name(ZD_NS_EXCLUDED);
    case ZDAG_NODE_UNKNOWN:
        break;
    }
    return "unknown";
}

/* Copies every node's outcome out of the coordinator before it is freed: the results kept
 * inline go into one buffer (`values`), a stored one is mapped. */
void zd_result_keep_outcomes(void *ctx, const zd_coord *c) {
    zdag_result *res = ctx;
    size_t used = 0, size = 0;
    for (uint32_t i = 0; i < res->n; i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        node_end *e = &res->nodes[i];
        e->status = status_of(o.state);
        e->attempts = o.attempts;
        e->error = o.error ? strdup(o.error) : NULL;
        e->is_msgpack = o.output_is_msgpack;
        if (o.output_hash) {
            /* A stored result is mapped from the store, whole, however large. */
            e->mapped = zd_store_map(zd_coord_store_dir(c), o.output_hash, o.output_size);
            e->value_len = e->mapped ? (size_t)o.output_size : 0;
            e->has_value = e->mapped != NULL;
            continue;
        }
        if (!o.output)
            continue;
        if (used + o.output_len + 1 > size) {
            size_t want = size ? size : 4096;
            while (want < used + o.output_len + 1)
                want *= 2;
            char *grown = realloc(res->values, want);
            if (!grown)
                continue; /* this value is missing (out of memory) */
            res->values = grown;
            size = want;
        }
        memcpy(res->values + used, o.output, o.output_len);
        res->values[used + o.output_len] = '\0';
        e->value_at = used;
        e->value_len = o.output_len;
        e->has_value = true;
        used += o.output_len + 1;
    }
    zd_run_summary s;
    zd_coord_summary(c, &s);
    res->exit_code = s.exit_code;
}

zdag_result *zd_result_new(const zd_graph *g) {
    zdag_result *res = calloc(1, sizeof *res);
    if (!res)
        return NULL;
    res->n = zd_graph_size(g);
    pthread_mutex_init(&res->index_lock, NULL);
    atomic_init(&res->index, NULL);
    size_t bytes = 0;
    for (uint32_t i = 0; i < res->n; i++)
        bytes += strlen(zd_graph_node(g, i)->name) + 1;
    res->nodes = calloc(res->n ? res->n : 1, sizeof *res->nodes);
    res->name_at = malloc((res->n ? res->n : 1) * sizeof *res->name_at);
    res->names = malloc(bytes ? bytes : 1);
    if (!res->nodes || !res->name_at || !res->names) {
        zdag_result_free(&res);
        return NULL;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < res->n; i++) {
        const char *name = zd_graph_node(g, i)->name;
        size_t len = strlen(name) + 1;
        memcpy(res->names + at, name, len);
        res->name_at[i] = at;
        at += len;
    }
    return res;
}

/* The map of names to nodes, made on the first lookup by name (a run whose results are read
 * by index, or not at all, never pays for it); NULL when out of memory. Thread-safe. */
static zd_strmap *name_index(const zdag_result *res) {
    zdag_result *r = (zdag_result *)res; /* the index is a cache: the result does not change */
    zd_strmap *m = atomic_load_explicit(&r->index, memory_order_acquire);
    if (m)
        return m;
    pthread_mutex_lock(&r->index_lock);
    m = atomic_load_explicit(&r->index, memory_order_relaxed);
    if (!m && (m = zd_strmap_new())) {
        for (size_t i = 0; m && i < r->n; i++) {
            const char *name = r->names + r->name_at[i];
            if (zd_strmap_put(m, name, strlen(name), (void *)(uintptr_t)(i + 1), NULL) < 0)
                zd_strmap_free(&m);
        }
        atomic_store_explicit(&r->index, m, memory_order_release);
    }
    pthread_mutex_unlock(&r->index_lock);
    return m;
}

/* The bytes of a node's result (it has one). */
static const char *value_of(const zdag_result *res, const node_end *e) {
    return e->mapped ? e->mapped : res->values + e->value_at;
}

static const node_end *lookup(const zdag_result *res, const char *node) {
    zd_strmap *m = res && node ? name_index(res) : NULL;
    uintptr_t i = m ? (uintptr_t)zd_strmap_get(m, node, strlen(node)) : 0;
    return i ? &res->nodes[i - 1] : NULL;
}

int zdag_result_exit_code(const zdag_result *result) {
    return result ? result->exit_code : -1;
}

zdag_node_status zdag_result_status(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->status : ZDAG_NODE_UNKNOWN;
}

size_t zdag_result_count(const zdag_result *result) {
    return result ? result->n : 0;
}

const char *zdag_result_node(const zdag_result *result, size_t i) {
    return result && i < result->n ? result->names + result->name_at[i] : NULL;
}

const char *zdag_result_error(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->error : NULL;
}

unsigned zdag_result_attempts(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->attempts : 0;
}

int zdag_result_value(const zdag_result *result, const char *node, const char **data, size_t *len,
                      bool *is_msgpack) {
    const node_end *e = lookup(result, node);
    if (!e || !e->has_value || !data || !len)
        return ZDAG_ENOENT;
    *data = value_of(result, e);
    *len = e->value_len;
    if (is_msgpack)
        *is_msgpack = e->is_msgpack;
    return 0;
}

int zdag_result_object(const zdag_result *result, const char *node, msgpack_zone *zone,
                       msgpack_object *obj) {
    const node_end *e = lookup(result, node);
    if (!e || !e->has_value || !zone || !obj)
        return ZDAG_ENOENT;
    if (!e->is_msgpack) {
        obj->type = MSGPACK_OBJECT_STR;
        obj->via.str.ptr = value_of(result, e);
        obj->via.str.size = (uint32_t)e->value_len;
        return 0;
    }
    size_t off = 0;
    return msgpack_unpack(value_of(result, e), e->value_len, &off, zone, obj) ==
                   MSGPACK_UNPACK_SUCCESS
               ? 0
               : ZDAG_EPROTO;
}

void zdag_result_free(zdag_result **resp) {
    if (!resp || !*resp)
        return;
    zdag_result *res = *resp;
    for (size_t i = 0; res->nodes && i < res->n; i++) {
        free(res->nodes[i].error);
        if (res->nodes[i].mapped)
            zd_store_unmap(res->nodes[i].mapped, res->nodes[i].value_len);
    }
    free(res->nodes);
    free(res->values);
    free(res->names);
    free(res->name_at);
    zd_strmap *m = atomic_load(&res->index);
    zd_strmap_free(&m);
    pthread_mutex_destroy(&res->index_lock);
    free(res);
    *resp = NULL;
}
