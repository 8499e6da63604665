/* Typed reading of YAML values with compiler-style messages. */
#include "yamlread.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zd_ytext_free(zd_ytext *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i].text);
    free(v);
}

char *zd_yread_dup(zd_yaml *y, const void *bytes, size_t len) {
    char *s = malloc(len + 1);
    if (!s) {
        zd_yaml_fail_nomem(y);
        return NULL;
    }
    memcpy(s, bytes, len);
    s[len] = '\0';
    return s;
}

void *zd_yread_grow(zd_yaml *y, void *arr, size_t *cap, size_t n, size_t size) {
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 4;
    void *p = realloc(arr, c * size);
    if (!p) {
        zd_yaml_fail_nomem(y);
        return NULL;
    }
    *cap = c;
    return p;
}

const char *zd_yread_subject(char *buf, size_t size, const zd_yentry *e) {
    char key[ZD_YREAD_SHOW];
    zd_yaml_quote(key, sizeof key, e->key, e->len);
    if (e->owner)
        snprintf(buf, size, "%s in %s", key, e->owner);
    else
        snprintf(buf, size, "%s", key);
    return buf;
}

void zd_yread_key_error(zd_yaml *y, const zd_yentry *e, const char *problem) {
    char key[ZD_YREAD_SHOW];
    zd_yaml_quote(key, sizeof key, e->key, e->len);
    if (e->owner)
        zd_yaml_error(y, e->mark, "%s key %s in %s", problem, key, e->owner);
    else
        zd_yaml_error(y, e->mark, "%s top-level key %s", problem, key);
}

size_t zd_yread_distance(const char *a, size_t na, const char *b, size_t nb, size_t limit) {
    enum { MAX = 64 };
    if (na > MAX || nb > MAX)
        return limit + 1;
    if ((na > nb ? na - nb : nb - na) > limit)
        return limit + 1;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb] > limit ? limit + 1 : d[na][nb];
}

bool zd_yread_close(const char *word, size_t len, const char *name, size_t *dist) {
    size_t nl = strlen(name), longer = len > nl ? len : nl;
    *dist = zd_yread_distance(word, len, name, nl, 2);
    return *dist > 0 && *dist <= 2 && *dist * 3 <= longer;
}

int zd_yread_suggest(const char *word, size_t len, const char *const *names, size_t n) {
    int best = -1;
    size_t best_d = SIZE_MAX, d;
    for (size_t i = 0; i < n; i++)
        if (zd_yread_close(word, len, names[i], &d) && d < best_d) {
            best = (int)i;
            best_d = d;
        }
    return best;
}

void zd_yread_unknown_key(zd_yaml *y, const zd_yentry *e, const char *const *names, size_t n) {
    int near = zd_yread_suggest(e->key, e->len, names, n);
    if (near < 0) {
        zd_yread_key_error(y, e, "unknown");
        return;
    }
    char key[ZD_YREAD_SHOW];
    zd_yaml_quote(key, sizeof key, e->key, e->len);
    if (e->owner)
        zd_yaml_error(y, e->mark, "unknown key %s in %s; did you mean \"%s\"?", key, e->owner,
                      names[near]);
    else
        zd_yaml_error(y, e->mark, "unknown top-level key %s; did you mean \"%s\"?", key,
                      names[near]);
}

void zd_yread_bad_value(zd_yaml *y, const zd_yentry *e, const char *expect) {
    char subj[ZD_YREAD_SUBJECT];
    if (!zd_yaml_at(y, YAML_ALIAS_EVENT))
        zd_yaml_error(y, zd_yaml_event(y)->start_mark, "%s must be %s",
                      zd_yread_subject(subj, sizeof subj, e), expect);
    zd_yaml_skip(y);
}

/* Checks the current scalar used as text: a C string cannot hold a NUL byte, and most keys want
 * a non-empty value. */
static bool text_ok(zd_yaml *y, const zd_yentry *e, bool allow_empty, const char *expect) {
    const yaml_event_t *ev = zd_yaml_event(y);
    if (!allow_empty && ev->data.scalar.length == 0) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
        char subj[ZD_YREAD_SUBJECT];
        zd_yaml_error(y, ev->start_mark, "%s must not contain a NUL byte",
                      zd_yread_subject(subj, sizeof subj, e));
        return false;
    }
    return true;
}

int zd_yread_find_key(const char *const *names, size_t n, const zd_yentry *e) {
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == e->len && memcmp(names[i], e->key, e->len) == 0)
            return (int)i;
    return -1;
}

/* Copies the key at the current event into e (and *key, owned), or reports a non-scalar key and
 * skips it. */
static void read_key(zd_yaml *y, zd_yentry *e, char **key) {
    const yaml_event_t *ev = zd_yaml_event(y);
    e->mark = ev->start_mark;
    if (ev->type == YAML_SCALAR_EVENT) {
        e->key = *key = zd_yaml_take_text(y, &e->len);
        return;
    }
    if (ev->type != YAML_ALIAS_EVENT) {
        if (e->owner)
            zd_yaml_error(y, ev->start_mark, "keys in %s must be strings", e->owner);
        else
            zd_yaml_error(y, ev->start_mark, "top-level keys must be strings");
    }
    zd_yaml_skip(y);
}

bool zd_yread_map(zd_yaml *y, const char *owner, bool check_dups, zd_yentry_fn fn, void *ctx) {
    uint64_t map = zd_yaml_map_id(y);
    for (;;) {
        if (!zd_yaml_next(y))
            return false;
        if (zd_yaml_at(y, YAML_MAPPING_END_EVENT))
            return true;
        zd_yentry e = {.owner = owner};
        char *key = NULL;
        read_key(y, &e, &key);
        bool dup = key && check_dups && zd_yaml_key_seen(y, map, key, e.len);
        if (dup)
            zd_yread_key_error(y, &e, "duplicate");
        if (!zd_yaml_failed(y) && zd_yaml_next(y)) {
            if (key && !dup)
                fn(y, &e, ctx);
            else
                zd_yaml_skip(y);
        }
        free(key);
        if (zd_yaml_failed(y))
            return false;
    }
}

/* Reads the current value as a resolved scalar. */
static bool read_scalar(zd_yaml *y, const zd_yentry *e, const char *expect, zd_yaml_scalar *s) {
    if (!zd_yaml_at(y, YAML_SCALAR_EVENT)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    return zd_yaml_resolve(y, s);
}

bool zd_yread_text(zd_yaml *y, const zd_yentry *e, const char *expect, char **out) {
    zd_yaml_scalar s;
    *out = NULL;
    if (!read_scalar(y, e, expect, &s))
        return false;
    if (s.type == ZD_YAML_NULL) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    if (!text_ok(y, e, false, expect))
        return false;
    size_t len;
    *out = zd_yaml_take_text(y, &len);
    return *out != NULL;
}

bool zd_yread_number(zd_yaml *y, const zd_yentry *e, double min, bool inclusive, double *out) {
    char expect[48];
    snprintf(expect, sizeof expect, "a number %s %g", inclusive ? ">=" : ">", min);
    zd_yaml_scalar s;
    if (!read_scalar(y, e, expect, &s))
        return false;
    if ((s.type != ZD_YAML_INT && s.type != ZD_YAML_FLOAT) || !isfinite(s.number) ||
        s.number < min || (!inclusive && s.number == min)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    *out = s.number;
    return true;
}

bool zd_yread_int(zd_yaml *y, const zd_yentry *e, int64_t min, int64_t max, int64_t *out) {
    char expect[48] = "an integer";
    if (min != INT64_MIN)
        snprintf(expect, sizeof expect, "an integer >= %lld", (long long)min);
    zd_yaml_scalar s;
    if (!read_scalar(y, e, expect, &s))
        return false;
    int64_t v = 0;
    bool fits = zd_yaml_scalar_int64(&s, &v);
    if (s.type != ZD_YAML_INT || (fits && v < min)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    if (!fits || v > max) {
        char subj[ZD_YREAD_SUBJECT];
        zd_yaml_error(y, zd_yaml_event(y)->start_mark, "%s is out of range",
                      zd_yread_subject(subj, sizeof subj, e));
        return false;
    }
    *out = v;
    return true;
}

bool zd_yread_bool(zd_yaml *y, const zd_yentry *e, bool *out) {
    zd_yaml_scalar s;
    if (!read_scalar(y, e, "true or false", &s))
        return false;
    if (s.type != ZD_YAML_BOOL) {
        zd_yread_bad_value(y, e, "true or false");
        return false;
    }
    *out = s.boolean;
    return true;
}

bool zd_yread_list(zd_yaml *y, const zd_yentry *e, const char *expect, bool allow_empty,
                   zd_ytext **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!zd_yaml_at(y, YAML_SEQUENCE_START_EVENT)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    zd_ytext *items = NULL, *more;
    size_t n = 0, cap = 0;
    bool ok = true;
    while (zd_yaml_next(y) && !zd_yaml_at(y, YAML_SEQUENCE_END_EVENT)) {
        const yaml_event_t *ev = zd_yaml_event(y);
        if (ev->type != YAML_SCALAR_EVENT) {
            zd_yread_bad_value(y, e, expect);
            ok = false;
        } else if (!text_ok(y, e, allow_empty, expect)) {
            ok = false;
        } else if ((more = zd_yread_grow(y, items, &cap, n, sizeof *items))) {
            items = more;
            items[n].line = (int)ev->start_mark.line + 1;
            items[n].col = (int)ev->start_mark.column + 1;
            items[n].text = zd_yread_dup(y, ev->data.scalar.value, ev->data.scalar.length);
            n += items[n].text != NULL;
        }
    }
    if (!ok || zd_yaml_failed(y)) {
        zd_ytext_free(items, n);
        return false;
    }
    *out = items;
    *n_out = n;
    return true;
}

bool zd_yread_strv(zd_yaml *y, const zd_yentry *e, const char *expect, bool allow_empty,
                   char ***out, size_t *n_out) {
    zd_ytext *items;
    size_t n;
    *out = NULL;
    *n_out = 0;
    if (!zd_yread_list(y, e, expect, allow_empty, &items, &n))
        return false;
    char **v = calloc(n + 1, sizeof *v);
    if (!v) {
        zd_ytext_free(items, n);
        zd_yaml_fail_nomem(y);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = items[i].text;
    free(items);
    *out = v;
    *n_out = n;
    return true;
}

bool zd_yread_name_key(zd_yaml *y, const zd_yentry *e, const char *what, bool no_equals) {
    if (e->len > 0 && !memchr(e->key, '\0', e->len) && !(no_equals && memchr(e->key, '=', e->len)))
        return true;
    char key[ZD_YREAD_SHOW];
    zd_yaml_error(y, e->mark, "invalid %s name %s in %s", what,
                  zd_yaml_quote(key, sizeof key, e->key, e->len),
                  e->owner ? e->owner : "the pipeline");
    zd_yaml_skip(y);
    return false;
}
