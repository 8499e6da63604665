/* Static fan-out: `foreach` sources and placeholder substitution (see foreach.h). */
#include "foreach.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct zd_fan {
    size_t count;      /* instances */
    char **items;      /* count items (owned), or NULL for a matrix */
    size_t n_vars;     /* matrix variables; 0 for the other sources */
    char **var_names;  /* n_vars owned names, in file order */
    char ***var_vals;  /* n_vars owned arrays of values */
    size_t *var_lens;  /* values of each variable */
    size_t n_alloc;    /* entries allocated in items (while reading) */
    const char *base;  /* borrowed base directory while reading; NULL after */
    const char *owner; /* `foreach of node "a"` while reading */
    char *source;      /* {result_lines: NODE}: NODE (owned); the items come at run time */
    int source_line;   /* where NODE is written (1-based) */
    int source_col;
    bool given; /* a source key was read (valid or not) */
};

void zd_fan_free(zd_fan **pf) {
    if (!pf || !*pf)
        return;
    zd_fan *f = *pf;
    for (size_t i = 0; f->items && i < f->count; i++)
        free(f->items[i]);
    free(f->items);
    for (size_t v = 0; v < f->n_vars; v++) {
        for (size_t k = 0; k < f->var_lens[v]; k++)
            free(f->var_vals[v][k]);
        free(f->var_vals[v]);
        free(f->var_names[v]);
    }
    free(f->var_names);
    free(f->var_vals);
    free(f->var_lens);
    free(f->source);
    free(f);
    *pf = NULL;
}

size_t zd_fan_count(const zd_fan *f) {
    return f->count;
}

const char *zd_fan_source(const zd_fan *f, int *line, int *col) {
    if (f->source && line)
        *line = f->source_line;
    if (f->source && col)
        *col = f->source_col;
    return f->source;
}

const char *zd_fan_item(const zd_fan *f, size_t i) {
    return f->items && i < f->count ? f->items[i] : NULL;
}

int zd_fan_from_result(const char *bytes, size_t len, bool msgpack, zd_fan **out, char *why,
                       size_t size) {
    *out = NULL;
    int rc = ZDAG_EINVAL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (!msgpack) {
        rc = zd_fan_from_lines(bytes, len, out);
        goto out;
    }
    size_t off = 0;
    if (msgpack_unpack_next(&u, bytes, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        snprintf(why, size, "its source's result is not one msgpack value");
        goto out;
    }
    const msgpack_object *o = &u.data;
    if (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN) {
        rc = zd_fan_from_lines(o->via.str.ptr, o->via.str.size, out);
        goto out;
    }
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, size, "its source's result is neither text nor an array");
        goto out;
    }
    /* An array: one item per entry, a string or an integer. */
    zd_fan *f = calloc(1, sizeof *f);
    size_t n = o->via.array.size;
    rc = ZDAG_ENOMEM;
    if (n > ZD_FAN_MAX_INSTANCES) {
        rc = ZDAG_ETOOBIG;
    } else if (f && (f->items = calloc(n ? n : 1, sizeof *f->items))) {
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            const msgpack_object *e = &o->via.array.ptr[i];
            char *item = NULL;
            if (e->type == MSGPACK_OBJECT_STR)
                item = strndup(e->via.str.ptr, e->via.str.size);
            else if (e->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                rc = asprintf(&item, "%" PRIu64, e->via.u64) < 0 ? (item = NULL, 0) : 0;
            else if (e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                rc = asprintf(&item, "%" PRId64, e->via.i64) < 0 ? (item = NULL, 0) : 0;
            else {
                snprintf(why, size,
                         "entry %zu of its source's result is not a string or an integer", i);
                rc = ZDAG_EINVAL;
                break;
            }
            if (!item) {
                rc = ZDAG_ENOMEM;
                break;
            }
            f->items[f->count++] = item;
        }
    }
    if (rc == 0)
        *out = f;
    else
        zd_fan_free(&f);
out:
    if (rc == ZDAG_ETOOBIG)
        snprintf(why, size, "its source's result gives more than %u items", ZD_FAN_MAX_INSTANCES);
    msgpack_unpacked_destroy(&u);
    return rc;
}

int zd_fan_from_lines(const char *text, size_t len, zd_fan **out) {
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, stop = end;
        while (stop > i && text[stop - 1] == '\r')
            stop--;
        n += stop > i;
        i = end + 1;
    }
    if (n > ZD_FAN_MAX_INSTANCES)
        return ZDAG_ETOOBIG;
    zd_fan *f = calloc(1, sizeof *f);
    if (!f || !(f->items = calloc(n ? n : 1, sizeof *f->items))) {
        free(f);
        return ZDAG_ENOMEM;
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, stop = end;
        while (stop > i && text[stop - 1] == '\r')
            stop--;
        if (stop > i && !(f->items[f->count++] = strndup(text + i, stop - i))) {
            zd_fan_free(&f);
            return ZDAG_ENOMEM;
        }
        i = end + 1;
    }
    *out = f;
    return 0;
}

/* Appends an owned item; false when out of memory (reported; item freed). */
static bool add_item(zd_yaml *y, zd_fan *f, char *item) {
    char **more = item ? zd_yread_grow(y, f->items, &f->n_alloc, f->count, sizeof *f->items) : NULL;
    if (!more) {
        free(item);
        return false;
    }
    f->items = more;
    f->items[f->count++] = item;
    return true;
}

static bool too_many(zd_yaml *y, yaml_mark_t at, const zd_fan *f, size_t n) {
    if (n <= ZD_FAN_MAX_INSTANCES)
        return false;
    zd_yaml_error(y, at, "%s gives %zu instances, more than %u", f->owner, n, ZD_FAN_MAX_INSTANCES);
    return true;
}

static void read_list(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    zd_ytext *items;
    size_t n;
    if (!zd_yread_list(y, e, "a list of strings", true, &items, &n))
        return;
    bool ok = !too_many(y, at, f, n);
    for (size_t i = 0; ok && i < n; i++) {
        ok = add_item(y, f, items[i].text); /* takes the text, also when it fails */
        items[i].text = NULL;
    }
    zd_ytext_free(items, n);
}

static bool parse_int(const char *s, long long *out) {
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
}

static void read_range(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    static const char expect[] = "[FIRST, LAST]: two integers, FIRST <= LAST (both included)";
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    zd_ytext *v;
    size_t n;
    if (!zd_yread_list(y, e, expect, false, &v, &n))
        return;
    long long a, b;
    char subj[ZD_YREAD_SUBJECT];
    if (n != 2 || !parse_int(v[0].text, &a) || !parse_int(v[1].text, &b) || a > b)
        zd_yaml_error(y, at, "%s must be %s", zd_yread_subject(subj, sizeof subj, e), expect);
    else if (!too_many(y, at, f,
                       (uint64_t)(b - a) >= ZD_FAN_MAX_INSTANCES ? SIZE_MAX : (size_t)(b - a) + 1))
        for (long long k = a; k <= b; k++) {
            char num[24];
            snprintf(num, sizeof num, "%lld", k);
            if (!add_item(y, f, zd_yread_dup(y, num, strlen(num))))
                break;
        }
    zd_ytext_free(v, n);
}

/* base + "/" + path with glob(3)'s special characters of base escaped (escape) or not. */
static char *join(const char *base, const char *path, bool escape, size_t *prefix) {
    size_t blen = base && path[0] != '/' ? strlen(base) : 0;
    char *out = malloc(2 * blen + strlen(path) + 2), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < blen; i++) {
        if (escape && strchr("*?[]\\", base[i]))
            *p++ = '\\';
        *p++ = base[i];
    }
    if (blen)
        *p++ = '/';
    strcpy(p, path);
    *prefix = blen ? blen + 1 : 0;
    return out;
}

static void read_glob(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    char *pattern;
    if (!zd_yread_text(y, e, "a glob pattern", &pattern))
        return;
    size_t prefix = 0;
    char *full = join(f->base, pattern, true, &prefix);
    glob_t g = {0};
    int rc = full ? glob(full, 0, NULL, &g) : GLOB_NOSPACE;
    char shown[ZD_YREAD_SHOW];
    if (rc == GLOB_NOSPACE)
        zd_yaml_fail_nomem(y);
    else if (rc == GLOB_ABORTED)
        zd_yaml_error(y, at, "%s: cannot read a directory of glob %s", f->owner,
                      zd_yaml_quote(shown, sizeof shown, pattern, strlen(pattern)));
    else if (rc == 0 && !too_many(y, at, f, g.gl_pathc))
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *m = g.gl_pathv[i] + (strlen(g.gl_pathv[i]) >= prefix ? prefix : 0);
            if (!add_item(y, f, zd_yread_dup(y, m, strlen(m))))
                break;
        }
    if (rc == 0 || rc == GLOB_NOMATCH)
        globfree(&g);
    free(full);
    free(pattern);
}

/* Opens path for reading when it is a regular file of at most LINES_MAX_BYTES: never waits on a
 * FIFO, never reads a device forever. NULL with errno (EINVAL: not such a file). */
#define LINES_MAX_BYTES (64 << 20)
static FILE *open_lines(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > LINES_MAX_BYTES) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *in = fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "r");
    if (!in)
        close(fd);
    return in;
}

static void read_lines(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    char *name;
    if (!zd_yread_text(y, e, "a file name", &name))
        return;
    size_t prefix;
    char *path = join(f->base, name, false, &prefix);
    FILE *in = path ? open_lines(path) : NULL;
    char shown[ZD_YREAD_SHOW];
    if (!path) {
        zd_yaml_fail_nomem(y);
    } else if (!in) {
        zd_yaml_error(y, at, "%s: cannot read lines file %s: %s", f->owner,
                      zd_yaml_quote(shown, sizeof shown, name, strlen(name)),
                      errno == EINVAL ? "not a regular file of at most 64 MiB" : strerror(errno));
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, in)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (len == 0)
                continue;
            if (too_many(y, at, f, f->count + 1) ||
                !add_item(y, f, zd_yread_dup(y, line, (size_t)len)))
                break;
        }
        free(line);
        fclose(in);
    }
    free(path);
    free(name);
}

/* `[A-Za-z_][A-Za-z0-9_]*` */
static bool valid_var(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9'))
            return false;
    }
    return len > 0;
}

static void on_matrix_var(zd_yaml *y, const zd_yentry *e, void *ctx) {
    zd_fan *f = ctx;
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!valid_var(e->key, e->len) || (e->len == 4 && !memcmp(e->key, "item", 4)) ||
        (e->len == 5 && !memcmp(e->key, "index", 5))) {
        char shown[ZD_YREAD_SHOW];
        zd_yaml_error(y, e->mark,
                      "invalid variable %s in %s: names match [A-Za-z_][A-Za-z0-9_]*, other than "
                      "item and index",
                      zd_yaml_quote(shown, sizeof shown, e->key, e->len), e->owner);
        zd_yaml_skip(y);
        return;
    }
    zd_ytext *v;
    size_t n;
    if (!zd_yread_list(y, e, "a non-empty list of strings", true, &v, &n))
        return;
    char subj[ZD_YREAD_SUBJECT];
    size_t k = f->n_vars;
    char **names = n ? realloc(f->var_names, (k + 1) * sizeof *names) : NULL;
    if (names)
        f->var_names = names;
    char ***vals = names ? realloc(f->var_vals, (k + 1) * sizeof *vals) : NULL;
    if (vals)
        f->var_vals = vals;
    size_t *lens = vals ? realloc(f->var_lens, (k + 1) * sizeof *lens) : NULL;
    if (lens)
        f->var_lens = lens;
    char **copy = lens ? calloc(n, sizeof *copy) : NULL;
    char *name = copy ? zd_yread_dup(y, e->key, e->len) : NULL;
    if (n == 0) {
        zd_yaml_error(y, at, "%s must be a non-empty list of strings",
                      zd_yread_subject(subj, sizeof subj, e));
    } else if (!name) {
        free(copy);
        zd_yaml_fail_nomem(y);
    } else {
        for (size_t i = 0; i < n; i++) {
            copy[i] = v[i].text;
            v[i].text = NULL;
        }
        f->var_names[k] = name;
        f->var_vals[k] = copy;
        f->var_lens[k] = n;
        f->n_vars = k + 1;
    }
    zd_ytext_free(v, n);
}

static void read_matrix(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        zd_yread_bad_value(y, e, "a map of variable names to lists of values");
        return;
    }
    char owner[ZD_YREAD_OWNER];
    snprintf(owner, sizeof owner, "matrix of %s", f->owner);
    size_t errors = zd_yaml_error_count(y);
    if (!zd_yread_map(y, owner, true, on_matrix_var, f) || zd_yaml_error_count(y) != errors)
        return;
    size_t total = f->n_vars ? 1 : 0;
    for (size_t v = 0; v < f->n_vars && total <= ZD_FAN_MAX_INSTANCES; v++)
        total *= f->var_lens[v];
    if (f->n_vars == 0)
        zd_yaml_error(y, at, "the matrix of %s has no variables", f->owner);
    else if (!too_many(y, at, f, total))
        f->count = total;
}

/* {result_lines: NODE}: no items yet; NODE is resolved by the loader. */
static void read_result_lines(zd_yaml *y, const zd_yentry *e, zd_fan *f) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    (void)zd_yread_text(y, e, "a node name", &f->source); /* "" is refused there */
    f->source_line = (int)at.line + 1;
    f->source_col = (int)at.column + 1;
}

static void on_source(zd_yaml *y, const zd_yentry *e, void *ctx) {
    static const char *const names[] = {"list", "range", "glob", "lines", "matrix", "result_lines"};
    static void (*const readers[])(zd_yaml *, const zd_yentry *, zd_fan *) = {
        read_list, read_range, read_glob, read_lines, read_matrix, read_result_lines};
    zd_fan *f = ctx;
    int k = zd_yread_find_key(names, 6, e);
    if (k < 0 || f->given) {
        if (k < 0)
            zd_yread_unknown_key(y, e, names, 6);
        else
            zd_yaml_error(y, e->mark, "%s has more than one source", f->owner);
        zd_yaml_skip(y);
        return;
    }
    f->given = true;
    readers[k](y, e, f);
}

bool zd_fan_parse(zd_yaml *y, const zd_yentry *e, const char *base_dir, zd_fan **out) {
    *out = NULL;
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        zd_yread_bad_value(y, e,
                           "a map with one of list, range, glob, lines, matrix, result_lines");
        return false;
    }
    zd_fan *f = calloc(1, sizeof *f);
    if (!f) {
        zd_yaml_fail_nomem(y);
        zd_yaml_skip(y);
        return false;
    }
    char owner[ZD_YREAD_OWNER];
    snprintf(owner, sizeof owner, "foreach of %s", e->owner ? e->owner : "a node");
    f->base = base_dir;
    f->owner = owner;
    size_t errors = zd_yaml_error_count(y);
    bool read = zd_yread_map(y, owner, true, on_source, f);
    if (read && zd_yaml_error_count(y) == errors && !f->given)
        zd_yaml_error(y, at, "%s needs one of list, range, glob, lines, matrix, result_lines",
                      owner);
    f->base = f->owner = NULL;
    if (!read || zd_yaml_error_count(y) != errors || zd_yaml_failed(y)) {
        zd_fan_free(&f);
        return false;
    }
    *out = f;
    return true;
}

/* The value of placeholder name[0..len) for instance i, or NULL when unknown. num holds
 * {index}. */
static const char *lookup(const zd_fan *f, size_t i, const char *name, size_t len, char num[24]) {
    if (len == 5 && !memcmp(name, "index", 5)) {
        snprintf(num, 24, "%zu", i);
        return num;
    }
    if (len == 4 && !memcmp(name, "item", 4))
        return f->items ? f->items[i] : NULL;
    size_t rest = i;
    const char *found = NULL;
    for (size_t v = f->n_vars; v-- > 0;) {
        size_t digit = rest % f->var_lens[v];
        rest /= f->var_lens[v];
        if (strlen(f->var_names[v]) == len && !memcmp(f->var_names[v], name, len))
            found = f->var_vals[v][digit];
    }
    return found;
}

size_t zd_fan_instance_base(const char *name, size_t len, uint64_t *index) {
    if (len < 4 || name[len - 1] != ']')
        return 0;
    size_t i = len - 1;
    uint64_t n = 0, scale = 1;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9' && scale <= UINT64_MAX / 10) {
        n += (uint64_t)(name[i - 1] - '0') * scale;
        scale *= 10;
        i--;
    }
    if (i + 1 == len || i < 2 || name[i - 1] != '[')
        return 0;
    if (index)
        *index = n;
    return i - 1;
}

bool zd_fan_same_node(const zd_fan_ref *a, const zd_fan_ref *b) {
    return a->base == b->base && memcmp(a->name, b->name, a->base) == 0;
}

static int cmp_ref(const void *pa, const void *pb) {
    const zd_fan_ref *a = pa, *b = pb;
    int c = memcmp(a->name, b->name, a->base < b->base ? a->base : b->base);
    if (c == 0 && a->base != b->base)
        c = a->base < b->base ? -1 : 1;
    return c ? c : a->index < b->index ? -1 : a->index > b->index;
}

size_t zd_fan_sort_refs(zd_fan_ref *v, size_t n) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        zd_fan_ref r = v[i];
        if ((r.base = zd_fan_instance_base(r.name, r.len, &r.index)))
            v[kept++] = r;
    }
    if (kept > 1)
        qsort(v, kept, sizeof *v, cmp_ref);
    return kept;
}

bool zd_fan_templated(const char *text) {
    return strpbrk(text, "{}") != NULL;
}

/* Whether name[0..len) is a placeholder of f: index, item (not for a matrix), a variable. */
static bool known(const zd_fan *f, const char *name, size_t len) {
    if ((len == 5 && !memcmp(name, "index", 5)) || (len == 4 && !memcmp(name, "item", 4)))
        return len == 5 || f->n_vars == 0;
    for (size_t v = 0; v < f->n_vars; v++)
        if (strlen(f->var_names[v]) == len && !memcmp(f->var_names[v], name, len))
            return true;
    return false;
}

bool zd_fan_check(const zd_fan *f, const char *text, char *why, size_t size) {
    char shown[ZD_YREAD_SHOW];
    for (const char *p = text; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
            continue;
        }
        if (*p == '}') {
            snprintf(why, size, "a single '}' (write }} for a literal brace)");
            return false;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (!end) {
            snprintf(why, size, "an unclosed '{' (write {{ for a literal brace)");
            return false;
        }
        if (!known(f, p + 1, (size_t)(end - p - 1))) {
            snprintf(why, size,
                     "unknown placeholder %s (known: %s; write {{ and }} for literal braces)",
                     zd_yaml_quote(shown, sizeof shown, p, (size_t)(end - p + 1)),
                     f->n_vars ? "{index} and the matrix variables" : "{item} and {index}");
            return false;
        }
        p = end;
    }
    return true;
}

char *zd_fan_subst(const zd_fan *f, size_t i, const char *text) {
    char *out = NULL, num[24];
    size_t size = 0;
    FILE *m = open_memstream(&out, &size);
    if (!m)
        return NULL;
    for (const char *p = text; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            fputc(*p++, m);
            continue;
        }
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        const char *value = end ? lookup(f, i, p + 1, (size_t)(end - p - 1), num) : NULL;
        if (!value) {
            fputc(*p, m);
            continue;
        }
        fputs(value, m);
        p = end;
    }
    if (fclose(m) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Replaces *s by its substitution when it holds a brace. */
static int subst_in_place(const zd_fan *f, size_t i, char **s) {
    if (!*s || !zd_fan_templated(*s))
        return 0;
    char *done = zd_fan_subst(f, i, *s);
    if (!done)
        return ZDAG_ENOMEM;
    free(*s);
    *s = done;
    return 0;
}

/* Walks a msgpack object: checks (pk NULL) or repacks with substitution every string. */
static bool walk_args(const zd_fan *f, size_t i, const msgpack_object *o, msgpack_packer *pk,
                      char *why, size_t size) {
    switch (o->type) {
    case MSGPACK_OBJECT_STR: {
        char *text = strndup(o->via.str.ptr, o->via.str.size);
        if (!text)
            return false;
        bool ok = true;
        if (!pk) {
            char inner[256], shown[ZD_YREAD_SHOW];
            if (!(ok = zd_fan_check(f, text, inner, sizeof inner)))
                snprintf(why, size, "%s in string %s", inner,
                         zd_yaml_quote(shown, sizeof shown, text, strlen(text)));
        } else {
            char *done = zd_fan_subst(f, i, text);
            ok = done && msgpack_pack_str_with_body(pk, done, strlen(done)) == 0;
            free(done);
        }
        free(text);
        return ok;
    }
    case MSGPACK_OBJECT_ARRAY:
        if (pk && msgpack_pack_array(pk, o->via.array.size) != 0)
            return false;
        for (uint32_t k = 0; k < o->via.array.size; k++)
            if (!walk_args(f, i, &o->via.array.ptr[k], pk, why, size))
                return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        if (pk && msgpack_pack_map(pk, o->via.map.size) != 0)
            return false;
        for (uint32_t k = 0; k < o->via.map.size; k++)
            if (!walk_args(f, i, &o->via.map.ptr[k].key, pk, why, size) ||
                !walk_args(f, i, &o->via.map.ptr[k].val, pk, why, size))
                return false;
        return true;
    default:
        return !pk || msgpack_pack_object(pk, *o) == 0;
    }
}

bool zd_fan_check_args(const zd_fan *f, const char *args, size_t len, char *why, size_t size) {
    if (!args || (!memchr(args, '{', len) && !memchr(args, '}', len)))
        return true;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool ok = msgpack_unpack_next(&u, args, len, &off) == MSGPACK_UNPACK_SUCCESS;
    snprintf(why, size, "out of memory");
    ok = ok && walk_args(f, 0, &u.data, NULL, why, size);
    msgpack_unpacked_destroy(&u);
    return ok;
}

/* Repacks dst->args with instance i's substitution. */
static int subst_args(const zd_fan *f, size_t i, zd_node *dst) {
    if (!dst->args ||
        (!memchr(dst->args, '{', dst->args_len) && !memchr(dst->args, '}', dst->args_len)))
        return 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t off = 0;
    char why[8];
    int rc = msgpack_unpack_next(&u, dst->args, dst->args_len, &off) == MSGPACK_UNPACK_SUCCESS &&
                     walk_args(f, i, &u.data, &pk, why, sizeof why)
                 ? 0
                 : ZDAG_ENOMEM;
    msgpack_unpacked_destroy(&u);
    if (rc == 0) {
        free(dst->args);
        dst->args = sb.data; /* msgpack_sbuffer allocates with malloc */
        dst->args_len = (uint32_t)sb.size;
    } else {
        msgpack_sbuffer_destroy(&sb);
    }
    return rc;
}

int zd_fan_node(const zd_fan *f, size_t i, const zd_node *tmpl, zd_node *dst) {
    int rc = zd_node_copy_settings(dst, tmpl);
    if (rc < 0)
        return rc;
    rc = subst_in_place(f, i, &dst->shell);
    for (uint32_t k = 0; rc == 0 && k < dst->argc; k++)
        rc = subst_in_place(f, i, &dst->argv[k]);
    for (uint32_t k = 0; rc == 0 && k < dst->n_env; k++)
        rc = subst_in_place(f, i, &dst->env[k].value);
    for (uint32_t k = 0; rc == 0 && k < dst->n_tags; k++)
        rc = subst_in_place(f, i, &dst->tags[k]);
    if (rc == 0)
        rc = subst_in_place(f, i, &dst->workdir);
    for (uint32_t k = 0; rc == 0 && dst->files && k < dst->files->n_inputs; k++)
        rc = subst_in_place(f, i, &dst->files->inputs[k]);
    for (uint32_t k = 0; rc == 0 && dst->files && k < dst->files->n_outputs; k++)
        rc = subst_in_place(f, i, &dst->files->outputs[k]);
    if (rc == 0)
        rc = subst_args(f, i, dst);
    return rc;
}
