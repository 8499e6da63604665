/* The binary min-heap. */
#include "heap.h"

#include <stdlib.h>

#include "zdag.h"

int zd_heap_push(zd_heap *h, zd_heap_entry e) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        zd_heap_entry *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return ZDAG_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent].key <= e.key)
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = e;
    return 0;
}

const zd_heap_entry *zd_heap_top(const zd_heap *h) {
    return h->n ? &h->v[0] : NULL;
}

bool zd_heap_pop(zd_heap *h, zd_heap_entry *out) {
    if (!h->n)
        return false;
    if (out)
        *out = h->v[0];
    zd_heap_entry last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1].key < h->v[child].key)
            child++;
        if (last.key <= h->v[child].key)
            break;
        h->v[i] = h->v[child];
        i = child;
    }
    if (h->n)
        h->v[i] = last;
    return true;
}

void zd_heap_clear(zd_heap *h) {
    free(h->v);
    *h = (zd_heap)ZD_HEAP_INIT;
}
