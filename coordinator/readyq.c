/* The ready queue as an implicit binary heap, optionally indexed for removal. */
#include "readyq.h"

#include <assert.h>
#include <stdlib.h>

#include "zdag.h"

struct zd_readyq {
    const zd_prio_key *keys; /* borrowed priority of every node */
    uint32_t *pos;           /* borrowed: pos[node] = its heap index, or ZD_READYQ_ABSENT;
                                NULL: not tracked (no zd_readyq_remove()) */
    uint32_t *heap;          /* heap[0] is the best node */
    size_t size;             /* nodes in the heap */
    size_t cap;              /* room in heap (the node count) */
    uint64_t comparisons;    /* key comparisons made, for tests */
};

bool zd_prio_before(const zd_prio_key *keys, uint32_t a, uint32_t b) {
    const zd_prio_key *ka = &keys[a], *kb = &keys[b];
    if (ka->major != kb->major)
        return ka->major > kb->major;
    if (ka->minor != kb->minor)
        return ka->minor > kb->minor;
    return a < b;
}

zd_readyq *zd_readyq_new_indexed(const zd_prio_key *keys, size_t n_nodes, uint32_t *pos) {
    zd_readyq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->heap = malloc((n_nodes ? n_nodes : 1) * sizeof *q->heap);
    if (!q->heap) {
        free(q);
        return NULL;
    }
    q->keys = keys;
    q->pos = pos;
    q->cap = n_nodes;
    return q;
}

int zd_readyq_reserve(zd_readyq *q, size_t extra) {
    uint32_t *heap = realloc(q->heap, (q->cap + extra ? q->cap + extra : 1) * sizeof *heap);
    if (!heap)
        return ZDAG_ENOMEM;
    q->heap = heap;
    q->cap += extra;
    return 0;
}

void zd_readyq_rebind(zd_readyq *q, const zd_prio_key *keys, uint32_t *pos) {
    q->keys = keys;
    if (q->pos)
        q->pos = pos;
}

zd_readyq *zd_readyq_new(const zd_prio_key *keys, size_t n_nodes) {
    return zd_readyq_new_indexed(keys, n_nodes, NULL);
}

void zd_readyq_free(zd_readyq **q) {
    if (!q || !*q)
        return;
    free((*q)->heap);
    free(*q);
    *q = NULL;
}

static bool before(zd_readyq *q, uint32_t a, uint32_t b) {
    q->comparisons++;
    return zd_prio_before(q->keys, a, b);
}

static void put(zd_readyq *q, size_t i, uint32_t node) {
    q->heap[i] = node;
    if (q->pos)
        q->pos[node] = (uint32_t)i;
}

/* Moves node up from hole i to its place. */
static void sift_up(zd_readyq *q, size_t i, uint32_t node) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q, node, q->heap[parent]))
            break;
        put(q, i, q->heap[parent]);
        i = parent;
    }
    put(q, i, node);
}

/* Moves node down from hole i to its place among the first q->size entries. */
static void sift_down(zd_readyq *q, size_t i, uint32_t node) {
    size_t n = q->size;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && before(q, q->heap[child + 1], q->heap[child]))
            child++;
        if (!before(q, q->heap[child], node))
            break;
        put(q, i, q->heap[child]);
        i = child;
    }
    put(q, i, node);
}

void zd_readyq_push(zd_readyq *q, uint32_t node) {
    assert(q->size < q->cap);
    sift_up(q, q->size++, node);
}

uint32_t zd_readyq_pop(zd_readyq *q) {
    assert(q->size > 0);
    uint32_t top = q->heap[0];
    uint32_t last = q->heap[--q->size];
    if (q->size > 0)
        sift_down(q, 0, last);
    if (q->pos)
        q->pos[top] = ZD_READYQ_ABSENT;
    return top;
}

bool zd_readyq_remove(zd_readyq *q, uint32_t node) {
    assert(q->pos);
    uint32_t i = q->pos[node];
    if (i == ZD_READYQ_ABSENT || i >= q->size || q->heap[i] != node)
        return false;
    q->pos[node] = ZD_READYQ_ABSENT;
    uint32_t last = q->heap[--q->size];
    if (i == q->size)
        return true;
    if (i > 0 && before(q, last, q->heap[(i - 1) / 2]))
        sift_up(q, i, last);
    else
        sift_down(q, i, last);
    return true;
}

uint32_t zd_readyq_peek(const zd_readyq *q) {
    assert(q->size > 0);
    return q->heap[0];
}

size_t zd_readyq_size(const zd_readyq *q) {
    return q->size;
}

uint64_t zd_readyq_comparisons(const zd_readyq *q) {
    return q->comparisons;
}
