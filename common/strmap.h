/* A map from byte strings to pointers: the one string map of zdag's shared mechanisms. Open
 * addressing with linear probing (FNV-1a), at most half full; keys are copied in, values are the
 * caller's. No removal: rebuild a map to shrink it. */
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

/* Keys in the map. */
size_t zd_strmap_count(const zd_strmap *m);

#endif
