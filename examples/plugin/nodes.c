/* An example plugin: functions that `fn:` nodes of a pipeline file can call.
 *
 * Build: part of the zdag build (target zdag_example_plugin), or by hand:
 *   cc -shared -fPIC nodes.c $(pkg-config --cflags zdag) -o libnodes.so
 * Each executor loads the plugin once, on its first `fn` node, and keeps it: set-up work done
 * in a function (or a constructor) is paid once per executor, not once per node. */
#include <stdio.h>
#include <string.h>
#include <zdag.h>

/* Finds key in a msgpack map, or NULL. */
static const msgpack_object *lookup(const msgpack_object *map, const char *key) {
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0)
            return &kv->val;
    }
    return NULL;
}

/* args {from: A, to: B}: returns the list [A, A+1, ..., B]. */
int range(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *from = lookup(zdag_call_args(call), "from");
    const msgpack_object *to = lookup(zdag_call_args(call), "to");
    if (!from || !to || from->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        to->type != MSGPACK_OBJECT_POSITIVE_INTEGER || to->via.u64 < from->via.u64 ||
        to->via.u64 - from->via.u64 > 1000000) {
        zdag_call_fail(call, "range needs args {from: A, to: B} with 0 <= A <= B");
        return 1;
    }
    msgpack_pack_array(out, (size_t)(to->via.u64 - from->via.u64 + 1));
    for (uint64_t v = from->via.u64; v <= to->via.u64; v++)
        msgpack_pack_uint64(out, v);
    return 0;
}

/* Sums the list produced by the dependency named in args {of: NAME}. */
int sum(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *of = lookup(zdag_call_args(call), "of");
    char name[128];
    if (!of || of->type != MSGPACK_OBJECT_STR || of->via.str.size >= sizeof name) {
        zdag_call_fail(call, "sum needs args {of: DEP}");
        return 1;
    }
    snprintf(name, sizeof name, "%.*s", (int)of->via.str.size, of->via.str.ptr);
    const msgpack_object *list = zdag_call_dep(call, name);
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        zdag_call_fail(call, "dependency \"%s\" did not return a list", name);
        return 1;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < list->via.array.size; i++)
        total += list->via.array.ptr[i].via.u64;
    return msgpack_pack_uint64(out, total);
}

/* Returns a map describing the sums it depends on: {"evens": N, "odds": M, "total": N+M}. */
int summary(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *evens = zdag_call_dep(call, "sum_evens");
    const msgpack_object *odds = zdag_call_dep(call, "sum_odds");
    if (!evens || !odds) {
        zdag_call_fail(call, "summary needs sum_evens and sum_odds");
        return 1;
    }
    msgpack_pack_map(out, 3);
    msgpack_pack_str_with_body(out, "evens", 5);
    msgpack_pack_uint64(out, evens->via.u64);
    msgpack_pack_str_with_body(out, "odds", 4);
    msgpack_pack_uint64(out, odds->via.u64);
    msgpack_pack_str_with_body(out, "total", 5);
    return msgpack_pack_uint64(out, evens->via.u64 + odds->via.u64);
}

/* Returns how many times this executor has called it (1, 2, ...): the plugin stays loaded in
 * an executor from one node to the next, so its static state survives. */
int calls(zdag_call *call, msgpack_packer *out) {
    static uint64_t count;
    (void)call;
    return msgpack_pack_uint64(out, ++count);
}

/* Reads a command's stdout, which reaches a function as a msgpack string, and returns its
 * length. */
int length(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *text = zdag_call_dep(call, "text");
    if (!text || text->type != MSGPACK_OBJECT_STR) {
        zdag_call_fail(call, "length needs a dependency named text");
        return 1;
    }
    return msgpack_pack_uint32(out, text->via.str.size);
}
