/* The string map: one array of slots, each a key copy, its length, its hash and the value. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zdag.h"

typedef struct slot {
    char *key;     /* owned copy, NUL-terminated; NULL = empty slot */
    size_t len;    /* bytes in key */
    uint64_t hash; /* of key */
    void *value;   /* the caller's */
} slot;

struct zd_strmap {
    slot *slots; /* cap slots */
    size_t cap;  /* a power of two, or 0 before the first put */
    size_t n;    /* keys */
};

static uint64_t hash_of(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

zd_strmap *zd_strmap_new(void) {
    return calloc(1, sizeof(zd_strmap));
}

void zd_strmap_free(zd_strmap **mp) {
    if (!mp || !*mp)
        return;
    zd_strmap *m = *mp;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
    *mp = NULL;
}

/* The slot holding key, or the empty one where it would go (cap > 0). */
static slot *find(const zd_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

void *zd_strmap_get(const zd_strmap *m, const char *key, size_t len) {
    if (m->cap == 0)
        return NULL;
    slot *s = find(m, key, len, hash_of(key, len));
    return s->key ? s->value : NULL;
}

static int grow(zd_strmap *m) {
    size_t cap = m->cap ? 2 * m->cap : 16;
    slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ZDAG_ENOMEM;
    zd_strmap bigger = {slots, cap, m->n};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *find(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
    free(m->slots);
    *m = bigger;
    return 0;
}

int zd_strmap_put(zd_strmap *m, const char *key, size_t len, void *value, const char **stored) {
    uint64_t h = hash_of(key, len);
    if (m->cap) {
        slot *s = find(m, key, len, h);
        if (s->key) {
            s->value = value;
            if (stored)
                *stored = s->key;
            return 0;
        }
    }
    if (2 * (m->n + 1) > m->cap && grow(m) < 0)
        return ZDAG_ENOMEM;
    char *copy = malloc(len + 1);
    if (!copy)
        return ZDAG_ENOMEM;
    if (len)
        memcpy(copy, key, len);
    copy[len] = '\0';
    slot *s = find(m, key, len, h);
    *s = (slot){copy, len, h, value};
    m->n++;
    if (stored)
        *stored = copy;
    return 0;
}

size_t zd_strmap_count(const zd_strmap *m) {
    return m->n;
}
