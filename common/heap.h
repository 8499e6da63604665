/* A binary min-heap of (key, a, b) entries: the one heap of zdag's shared mechanisms. The
 * coordinator's timers are entries keyed by their due time; `a` and `b` are the caller's. */
#ifndef ZD_HEAP_H
#define ZD_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zd_heap_entry {
    double key; /* smallest first; ties in no particular order */
    uint64_t a; /* the caller's */
    uint64_t b; /* the caller's */
} zd_heap_entry;

typedef struct zd_heap {
    zd_heap_entry *v; /* owned; v[0] is the smallest */
    size_t n;         /* entries */
    size_t cap;       /* allocated entries */
} zd_heap;

/* An empty heap (no allocation). */
#define ZD_HEAP_INIT                                                                               \
    { NULL, 0, 0 }

/* Adds an entry. Returns 0 or ZDAG_ENOMEM. */
int zd_heap_push(zd_heap *h, zd_heap_entry e) __attribute__((warn_unused_result));

/* The smallest entry (borrowed until the next change), or NULL when empty. */
const zd_heap_entry *zd_heap_top(const zd_heap *h);

/* Removes the smallest entry into *out (may be NULL); false when empty. */
bool zd_heap_pop(zd_heap *h, zd_heap_entry *out);

/* Frees the entries; the heap is empty and reusable. */
void zd_heap_clear(zd_heap *h);

#endif
