/* The ready queue as an implicit binary heap. */
#include "readyq.h"

#include <assert.h>
#include <stdlib.h>

struct zd_readyq {
    const zd_prio_key *keys; /* borrowed priority of every node */
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

zd_readyq *zd_readyq_new(const zd_prio_key *keys, size_t n_nodes) {
    zd_readyq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->heap = malloc((n_nodes ? n_nodes : 1) * sizeof *q->heap);
    if (!q->heap) {
        free(q);
        return NULL;
    }
    q->keys = keys;
    q->cap = n_nodes;
    return q;
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

void zd_readyq_push(zd_readyq *q, uint32_t node) {
    assert(q->size < q->cap);
    size_t i = q->size++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q, node, q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = node;
}

uint32_t zd_readyq_pop(zd_readyq *q) {
    assert(q->size > 0);
    uint32_t top = q->heap[0];
    uint32_t last = q->heap[--q->size];
    size_t i = 0, n = q->size;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && before(q, q->heap[child + 1], q->heap[child]))
            child++;
        if (!before(q, q->heap[child], last))
            break;
        q->heap[i] = q->heap[child];
        i = child;
    }
    if (n > 0)
        q->heap[i] = last;
    return top;
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
