/* The timeline page: its source with a report in it. */
#include "timeline.h"

#include <jansson.h>
#include <string.h>

#include "jsonout.h"
#include "zdag.h"

/* The page's source before and after the place of the report (made by cmake/embed_page.cmake
 * from coordinator/timeline.html). */
extern const char zd_timeline_head[], zd_timeline_tail[];
extern const size_t zd_timeline_head_len, zd_timeline_tail_len;

int zd_timeline_write(const char *path, const char *report, size_t len) {
    zd_jsonout w;
    int rc = zd_jsonout_open(&w, path);
    if (rc < 0)
        return rc;
    zd_jsonout_rawn(&w, zd_timeline_head, zd_timeline_head_len);
    for (const char *p = report, *end = report + len; p < end;) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        zd_jsonout_rawn(&w, p, (size_t)((lt ? lt : end) - p));
        if (!lt)
            break;
        zd_jsonout_rawn(&w, "\\u003c", 6);
        p = lt + 1;
    }
    zd_jsonout_rawn(&w, zd_timeline_tail, zd_timeline_tail_len);
    return zd_jsonout_commit(&w, path, false);
}

/* True when v is absent, null or a number. */
static bool number_or_null(const json_t *v) {
    return !v || json_is_null(v) || json_is_number(v);
}

/* Checks node k of "nodes" (see zd_timeline_check()); adds the problem to d. */
static bool node_ok(const json_t *node, size_t k, const char *file, zd_diags *d) {
    const json_t *name = json_object_get(node, "name");
    if (!json_is_object(node) || !json_is_string(name)) {
        zd_diags_add(d, file, 0, 0, "not a zdag report: nodes[%zu] has no \"name\"", k);
        return false;
    }
    const json_t *deps = json_object_get(node, "deps"), *v;
    size_t i;
    bool ok = !deps || json_is_array(deps);
    json_array_foreach(deps, i, v) ok = ok && json_is_string(v);
    if (!ok) {
        zd_diags_add(d, file, 0, 0, "node \"%s\": \"deps\" is not a list of names",
                     json_string_value(name));
        return false;
    }
    const json_t *history = json_object_get(node, "history");
    ok = !history || json_is_array(history);
    json_array_foreach(history, i, v) ok = ok && json_is_object(v) &&
                                           number_or_null(json_object_get(v, "start_s")) &&
                                           number_or_null(json_object_get(v, "end_s"));
    if (!ok)
        zd_diags_add(d, file, 0, 0,
                     "node \"%s\": \"history\" is not a list of attempts with start_s and end_s",
                     json_string_value(name));
    return ok;
}

int zd_timeline_check(const char *text, size_t len, const char *file, zd_diags *d) {
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return ZDAG_ENOMEM;
        zd_diags_add(d, file, err.line > 0 ? err.line : 1, err.column > 0 ? err.column : 1,
                     "not JSON: %s", err.text);
        return ZDAG_EINVAL;
    }
    const json_t *nodes = json_object_get(root, "nodes"), *node;
    size_t k;
    bool ok = json_is_array(nodes);
    if (!ok)
        zd_diags_add(d, file, 0, 0, "not a zdag report: it has no \"nodes\" list");
    json_array_foreach(nodes, k, node) if (ok) ok = node_ok(node, k, file, d);
    json_decref(root);
    return ok ? 0 : ZDAG_EINVAL;
}
