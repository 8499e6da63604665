/* A map from byte strings to pointers: the one string map of zdag's shared mechanisms. Open
 * addressing with linear probing (FNV-1a), at most half full; keys are copied in, values are the
 * caller's. No removal: rebuild a map to shrink it.
 *
 * Built for a million keys: the probed table holds 8 bytes a slot (an entry number and 32 bits
 * of the hash, so a probe rarely leaves it), the entries are one dense array (key and value:
 * 16 bytes each), and the keys are packed, each after its length, in blocks that never move. A
 * key of 7 bytes costs about 16 + 12 + 2 * 8 (the table at most half full) = 44 bytes. */
#ifndef ZD_STRMAP_H
#define ZD_STRMAP_H

#include <stddef.h>

typedef struct zd_strmap zd_strmap;

/* An empty map, or NULL when out of memory. Free with zd_strmap_free(). */
zd_strmap *zd_strmap_new(void);

/* Frees the map and its keys (not the values); sets *m to NULL. Accepts NULL. */
void zd_strmap_free(zd_strmap **m);

/* The value of key (len bytes, need not be NUL-terminated), or NULL when absent. */
void *zd_strmap_get(const zd_strmap *m, const char *key, size_t len);

/* Sets key's value (a NULL value makes the key look absent to zd_strmap_get()). The key is
 * copied, NUL-terminated; *stored (may be NULL) receives the map's copy, valid until the map is
 * freed. Returns 0 or ZDAG_ENOMEM (the map is unchanged). */
int zd_strmap_put(zd_strmap *m, const char *key, size_t len, void *value, const char **stored)
    __attribute__((warn_unused_result));

/* Adds key with value when the map does not hold it (with any value, NULL included): like
 * zd_strmap_put(), in one lookup. Returns ZDAG_EEXIST when it does (nothing changes; *stored,
 * when not NULL, receives the map's copy of the key), 0, or ZDAG_ENOMEM. */
int zd_strmap_add(zd_strmap *m, const char *key, size_t len, void *value, const char **stored)
    __attribute__((warn_unused_result));

/* Keys in the map. */
size_t zd_strmap_count(const zd_strmap *m);

#endif
