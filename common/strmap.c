/* The string map: a probed table of small slots over a dense entry array, keys in blocks. */
#include "strmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zdag.h"

#define BLOCK_BYTES (64u << 10) /* a block of packed keys */
#define OWN_BLOCK (8u << 10)    /* a key of this many bytes or more gets a block of its own */

typedef struct slot {
    uint32_t at;   /* entry index + 1; 0 = empty */
    uint32_t hash; /* the key's hash, folded to 32 bits: most mismatches end here */
} slot;

typedef struct entry {
    const char *key; /* NUL-terminated copy in a block, its length (uint32_t) just before it */
    void *value;     /* the caller's */
} entry;

#define LEN_BYTES sizeof(uint32_t) /* a key's length, in front of its copy */

static size_t key_len(const char *copy) {
    uint32_t len;
    memcpy(&len, copy - LEN_BYTES, sizeof len);
    return len;
}

struct zd_strmap {
    slot *slots;        /* cap slots */
    size_t cap;         /* a power of two, or 0 before the first put */
    entry *entries;     /* in order of insertion */
    size_t n;           /* keys (entries in use) */
    size_t cap_entries; /* allocated entries */
    char **blocks;      /* owned key blocks; the last one is being filled */
    size_t n_blocks;    /* blocks in use */
    size_t cap_blocks;  /* allocated block pointers */
    size_t used;        /* bytes used in the last block when it is a shared one */
    size_t room;        /* bytes left in the last block when it is a shared one, else 0 */
};

static uint32_t hash_of(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

zd_strmap *zd_strmap_new(void) {
    return calloc(1, sizeof(zd_strmap));
}

void zd_strmap_free(zd_strmap **mp) {
    if (!mp || !*mp)
        return;
    zd_strmap *m = *mp;
    for (size_t i = 0; i < m->n_blocks; i++)
        free(m->blocks[i]);
    free(m->blocks);
    free(m->entries);
    free(m->slots);
    free(m);
    *mp = NULL;
}

/* The slot holding key, or the empty one where it would go (cap > 0). */
static slot *find(const zd_strmap *m, const char *key, size_t len, uint32_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &m->slots[i];
        if (!s->at)
            return s;
        if (s->hash == h) {
            const entry *e = &m->entries[s->at - 1];
            if (key_len(e->key) == len && memcmp(e->key, key, len) == 0)
                return s;
        }
    }
}

void *zd_strmap_get(const zd_strmap *m, const char *key, size_t len) {
    if (m->cap == 0)
        return NULL;
    slot *s = find(m, key, len, hash_of(key, len));
    return s->at ? m->entries[s->at - 1].value : NULL;
}

static int grow_slots(zd_strmap *m) {
    size_t cap = m->cap ? 2 * m->cap : 16;
    slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ZDAG_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].at)
            continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].at)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* arr (of *cap elements of size bytes) doubled, or grown to `first` when empty: the new array
 * (*cap updated), or NULL when out of memory (arr is then unchanged). */
static void *grow_array(void *arr, size_t *cap, size_t size, size_t first) {
    size_t more = *cap ? 2 * *cap : first;
    void *v = realloc(arr, more * size);
    if (v)
        *cap = more;
    return v;
}

static bool add_block(zd_strmap *m, size_t size, bool shared) {
    if (m->n_blocks == m->cap_blocks) {
        char **blocks = grow_array(m->blocks, &m->cap_blocks, sizeof *blocks, 8);
        if (!blocks)
            return false;
        m->blocks = blocks;
    }
    char *b = malloc(size);
    if (!b)
        return false;
    if (shared) {
        m->blocks[m->n_blocks++] = b;
        m->used = 0;
        m->room = size;
    } else if (m->room) {
        /* Keeps the shared block last, where the next short key goes. */
        m->blocks[m->n_blocks] = m->blocks[m->n_blocks - 1];
        m->blocks[m->n_blocks++ - 1] = b;
    } else {
        m->blocks[m->n_blocks++] = b;
    }
    return true;
}

/* A NUL-terminated copy of key[0..len) in a block, after its length, or NULL when out of
 * memory. */
static char *copy_key(zd_strmap *m, const char *key, size_t len) {
    size_t size = LEN_BYTES + len + 1;
    char *copy;
    if (size >= OWN_BLOCK) {
        if (!add_block(m, size, false))
            return NULL;
        copy = m->blocks[m->room ? m->n_blocks - 2 : m->n_blocks - 1];
    } else {
        if (m->room < size && !add_block(m, BLOCK_BYTES, true))
            return NULL;
        copy = m->blocks[m->n_blocks - 1] + m->used;
        m->used += size;
        m->room -= size;
    }
    uint32_t len32 = (uint32_t)len;
    memcpy(copy, &len32, sizeof len32);
    copy += LEN_BYTES;
    if (len)
        memcpy(copy, key, len);
    copy[len] = '\0';
    return copy;
}

/* Puts key: a new entry, or with replace the existing one's value. */
static int insert(zd_strmap *m, const char *key, size_t len, void *value, const char **stored,
                  bool replace) {
    uint32_t h = hash_of(key, len);
    if (m->cap) {
        slot *s = find(m, key, len, h);
        if (s->at) {
            entry *e = &m->entries[s->at - 1];
            if (replace)
                e->value = value;
            if (stored)
                *stored = e->key;
            return replace ? 0 : ZDAG_EEXIST;
        }
    }
    if (m->n >= UINT32_MAX - 1 || len >= UINT32_MAX - LEN_BYTES - 1)
        return ZDAG_ENOMEM;
    if (2 * (m->n + 1) > m->cap && grow_slots(m) < 0)
        return ZDAG_ENOMEM;
    if (m->n == m->cap_entries) {
        entry *entries = grow_array(m->entries, &m->cap_entries, sizeof *entries, 16);
        if (!entries)
            return ZDAG_ENOMEM;
        m->entries = entries;
    }
    char *copy = copy_key(m, key, len);
    if (!copy)
        return ZDAG_ENOMEM;
    slot *s = find(m, key, len, h);
    m->entries[m->n] = (entry){copy, value};
    *s = (slot){(uint32_t)(m->n + 1), h};
    m->n++;
    if (stored)
        *stored = copy;
    return 0;
}

int zd_strmap_put(zd_strmap *m, const char *key, size_t len, void *value, const char **stored) {
    return insert(m, key, len, value, stored, true);
}

int zd_strmap_add(zd_strmap *m, const char *key, size_t len, void *value, const char **stored) {
    return insert(m, key, len, value, stored, false);
}

size_t zd_strmap_count(const zd_strmap *m) {
    return m->n;
}
