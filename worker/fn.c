/* Function calls: unpack args and deps, call, check the one packed value returned. */
#include "fn.h"

#include "store.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "foreach.h"

#define ARGS_MAX_DEPTH 64 /* nesting accepted in args and results */

struct zd_fn_caller {
    const zd_fn_table *table; /* borrowed */
    void **handles;           /* dlopen handle per plugin, NULL until opened */
    size_t max_result;        /* bytes */
    msgpack_zone zone;        /* unpacked args and deps of the current call */
};

typedef struct dep_view {
    char *name;         /* NUL-terminated copy */
    msgpack_object obj; /* its result */
} dep_view;

struct zdag_call {
    const char *node;           /* NUL-terminated node name */
    unsigned attempt;           /* from 1 */
    msgpack_object args;        /* nil when none */
    dep_view *deps;             /* the deps' results */
    size_t n_deps;              /* entries in deps */
    char error[ZDAG_ERROR_MAX]; /* set by zdag_call_fail() (the last field) */
};

const char *zdag_call_node(const zdag_call *call) {
    return call ? call->node : NULL;
}

unsigned zdag_call_attempt(const zdag_call *call) {
    return call ? call->attempt : 0;
}

const msgpack_object *zdag_call_args(const zdag_call *call) {
    return call ? &call->args : NULL;
}

const msgpack_object *zdag_call_dep(const zdag_call *call, const char *dep) {
    for (size_t i = 0; call && dep && i < call->n_deps; i++)
        if (strcmp(call->deps[i].name, dep) == 0)
            return &call->deps[i].obj;
    return NULL;
}

void zdag_call_fail(zdag_call *call, const char *fmt, ...) {
    if (!call || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(call->error, sizeof call->error, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof call->error) /* cut: say so (a UTF-8 character may be cut in two) */
        memcpy(call->error + sizeof call->error - sizeof ZDAG_ERROR_CUT, ZDAG_ERROR_CUT,
               sizeof ZDAG_ERROR_CUT);
}

zd_fn_caller *zd_fn_caller_new(const zd_fn_table *table, size_t max_result) {
    zd_fn_caller *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->table = table;
    c->max_result = max_result ? max_result : ZD_FN_DEFAULT_MAX_RESULT;
    c->handles = calloc(table->n_plugins ? table->n_plugins : 1, sizeof *c->handles);
    if (!c->handles || !msgpack_zone_init(&c->zone, 4096)) {
        free(c->handles);
        free(c);
        return NULL;
    }
    return c;
}

void zd_fn_caller_free(zd_fn_caller **cp) {
    if (!cp || !*cp)
        return;
    zd_fn_caller *c = *cp;
    for (size_t i = 0; i < c->table->n_plugins; i++)
        if (c->handles[i])
            dlclose(c->handles[i]);
    free(c->handles);
    msgpack_zone_destroy(&c->zone);
    free(c);
    *cp = NULL;
}

zdag_fn zd_fn_find(zd_fn_caller *c, const char *name, char *err, size_t err_size) {
    const zd_fn_table *t = c->table;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].name, name) == 0)
            return t->entries[i].fn;
    for (size_t i = 0; i < t->n_plugins; i++) {
        if (!c->handles[i]) {
            c->handles[i] = dlopen(t->plugins[i], RTLD_NOW | RTLD_LOCAL);
            if (!c->handles[i]) {
                snprintf(err, err_size, "cannot load plugin %s: %s", t->plugins[i], dlerror());
                return NULL;
            }
        }
        void *sym = dlsym(c->handles[i], name);
        if (sym) {
            zdag_fn fn;
            /* ISO C has no conversion from object to function pointer; POSIX guarantees it. */
            memcpy(&fn, &sym, sizeof fn);
            return fn;
        }
    }
    snprintf(err, err_size, "no function named \"%s\"%s", name,
             t->n_plugins ? " is registered or exported by a plugin" : " is registered");
    return NULL;
}

/* Unpacks one packed value into the zone; false when it is not exactly one value. */
static bool unpack(zd_fn_caller *c, zd_bytes b, msgpack_object *obj) {
    size_t off = 0;
    return zd_wire_well_formed(b.ptr, b.len, ARGS_MAX_DEPTH) &&
           msgpack_unpack(b.ptr, b.len, &off, &c->zone, obj) == MSGPACK_UNPACK_SUCCESS;
}

/* Fills call's args and deps from the task; false with a reason in err. */
static bool prepare(zd_fn_caller *c, const zd_msg_task *t, zdag_call *call, char *err,
                    size_t err_size) {
    call->args.type = MSGPACK_OBJECT_NIL;
    if (t->args.ptr && !unpack(c, t->args, &call->args)) {
        snprintf(err, err_size, "its args are not one msgpack value");
        return false;
    }
    for (uint32_t i = 0; i < t->n_deps; i++) {
        dep_view *d = &call->deps[i];
        const zd_dep_result *r = &t->deps[i];
        if (!(d->name = zd_bytes_dup(r->name))) {
            snprintf(err, err_size, "out of memory");
            return false;
        }
        call->n_deps = i + 1;
        if (r->format == ZD_FORMAT_MSGPACK) {
            if (!unpack(c, r->data, &d->obj)) {
                snprintf(err, err_size, "the result of \"%s\" is not one msgpack value", d->name);
                return false;
            }
        } else {
            d->obj.type = MSGPACK_OBJECT_STR;
            d->obj.via.str.ptr = r->data.ptr;
            d->obj.via.str.size = (uint32_t)r->data.len;
        }
    }
    return true;
}

/* A fanned dependency (issue 12): after the deps themselves, one view NAME per node with foreach
 * whose instances NAME[N] are deps, holding the array of their results in index order. */
static bool add_fan_arrays(zd_fn_caller *c, zdag_call *call, char *err, size_t err_size) {
    size_t n_deps = call->n_deps;
    zd_fan_ref *v = n_deps ? malloc(n_deps * sizeof *v) : NULL;
    bool ok = n_deps == 0 || v;
    for (size_t i = 0; v && i < n_deps; i++)
        v[i] = (zd_fan_ref){
            .name = call->deps[i].name, .len = strlen(call->deps[i].name), .pos = (uint32_t)i};
    size_t n = v ? zd_fan_sort_refs(v, n_deps) : 0;
    for (size_t i = 0, end; ok && i < n; i = end) {
        for (end = i; end < n && zd_fan_same_node(&v[i], &v[end]); end++)
            ;
        msgpack_object *items = msgpack_zone_malloc(&c->zone, (end - i) * sizeof *items);
        char *name = items ? strndup(v[i].name, v[i].base) : NULL;
        if (!(ok = name != NULL))
            break;
        for (size_t k = i; k < end; k++)
            items[k - i] = call->deps[v[k].pos].obj;
        dep_view *d = &call->deps[call->n_deps++];
        d->name = name;
        d->obj.type = MSGPACK_OBJECT_ARRAY;
        d->obj.via.array.size = (uint32_t)(end - i);
        d->obj.via.array.ptr = items;
    }
    free(v);
    if (!ok)
        snprintf(err, err_size, "out of memory");
    return ok;
}

/* Checks what the function packed: exactly one value, within the size limit. */
static bool check_result(uint64_t limit, const msgpack_sbuffer *sb, char *err, size_t err_size) {
    if (sb->size == 0) {
        snprintf(err, err_size, "the function returned no value");
        return false;
    }
    if (sb->size > limit) {
        char shown[32];
        zd_size_format(limit, shown, sizeof shown);
        snprintf(err, err_size, "result is over max_result (%s)", shown);
        return false;
    }
    if (!zd_wire_well_formed(sb->data, sb->size, ARGS_MAX_DEPTH)) {
        snprintf(err, err_size, "the function did not pack exactly one msgpack value");
        return false;
    }
    return true;
}

bool zd_fn_call(zd_fn_caller *c, const zd_msg_task *t, char **out, size_t *out_len, char *err,
                size_t err_size) {
    bool ok = false;
    *out = NULL;
    *out_len = 0;
    char *fn_name = zd_bytes_dup(t->cmd), *node = zd_bytes_dup(t->name);
    zdag_call call;
    memset(&call, 0, offsetof(zdag_call, error)); /* not error's ZDAG_ERROR_MAX bytes */
    call.error[0] = '\0';
    call.node = node;
    call.attempt = t->attempt;
    call.deps = calloc(t->n_deps ? 2 * (size_t)t->n_deps : 1, sizeof *call.deps); /* fan views */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (!fn_name || !node || !call.deps) {
        snprintf(err, err_size, "out of memory");
        goto out_free;
    }
    zdag_fn fn = zd_fn_find(c, fn_name, err, err_size);
    if (!fn || !prepare(c, t, &call, err, err_size) || !add_fan_arrays(c, &call, err, err_size))
        goto out_free;
    if (fn(&call, &pk) != 0) {
        snprintf(err, err_size, "%s", call.error[0] ? call.error : "the function failed");
        goto out_free;
    }
    uint64_t limit = t->max_result ? t->max_result : c->max_result;
    if (!check_result(limit, &sb, err, err_size))
        goto out_free;
    *out_len = sb.size;
    *out = msgpack_sbuffer_release(&sb);
    ok = true;
out_free:
    msgpack_sbuffer_destroy(&sb);
    for (size_t i = 0; i < call.n_deps; i++)
        free(call.deps[i].name);
    free(call.deps);
    free(fn_name);
    free(node);
    msgpack_zone_clear(&c->zone);
    return ok;
}
