/* The pipeline file loader: the SPEC section 2 schema read over YAML events into a zd_graph, then
 * the checks that need the whole file (defaults, pools, deps, cycles).
 *
 * Every value is checked as it is read and every problem reported; a bad value is skipped and
 * reading goes on, so one run shows all the errors of a file. What depends on something that may
 * come later in the file (defaults, pool names, dep names) is kept by name with its position
 * and resolved at the end. */
#include "pipeline.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foreach.h"
#include "store.h"
#include "strmap.h"
#include "yamlread.h"

enum node_key {
    KEY_CMD,
    KEY_FN,
    KEY_ARGS,
    KEY_DEPS,
    KEY_PRIORITY,
    KEY_SEQUENTIAL,
    KEY_POOL,
    KEY_CPUS,
    KEY_RESOURCES,
    KEY_RETRIES,
    KEY_TIMEOUT,
    KEY_ENV,
    KEY_WORKDIR,
    KEY_ESTIMATE,
    KEY_TAGS,
    KEY_MAX_RESULT,
    KEY_VERSION,
    KEY_INPUTS,
    KEY_OUTPUTS,
    KEY_KEEP,
    KEY_FOREACH,
    KEY_COUNT
};

enum top_key {
    TOP_NODES,
    TOP_MAX_CONCURRENCY,
    TOP_DEFAULTS,
    TOP_ENV,
    TOP_POOLS,
    TOP_PLUGINS,
    TOP_MAX_RESULT
};

#define BIT(k) (1u << (k))
#define COMMAND_BITS (BIT(KEY_CMD) | BIT(KEY_FN))
#define FILE_BITS (BIT(KEY_INPUTS) | BIT(KEY_OUTPUTS) | BIT(KEY_KEEP)) /* never in defaults */

/* What the loader keeps beside a node (or the defaults) until the graph is complete. */
typedef struct node_info {
    uint32_t set;      /* BIT(key) for each key written in the node, valid or not, and BAD_BODY */
    uint32_t n_deps;   /* entries in deps */
    zd_ytext *deps;    /* deps by name, resolved once all nodes are known */
    zd_ytext *pool;    /* the pool named (owned), resolved once all pools are known; or NULL */
    int fn_line;       /* where the `fn` value is (1-based), 0 if none */
    int fn_col;        /* its column */
    zd_fan *fan;       /* `foreach` (owned) of a node not yet expanded; NULL otherwise */
    uint32_t fan_id;   /* an instance: 1 + its entry in loader.fans; 0 for other nodes */
    uint32_t instance; /* an instance: its index */
    bool borrowed;     /* deps and pool are the template's (in loader.fans), not owned */
    bool workdir_raw;  /* workdir is as written, resolved once substituted per instance */
} node_info;

#define BAD_BODY                                                                                   \
    (1u << 31) /* in node_info.set: the node was not a map, its settings are not                   \
                  checked further */

/* Names declared with an error (a pool with a bad capacity, a node with an invalid name): what
 * refers to them is not reported again, so that one mistake gives one message. */
typedef struct name_set {
    char **v;      /* owned names; sorted once reading is over */
    size_t n, cap; /* used and allocated */
} name_set;

/* A node with `foreach`, expanded into instances first .. first + count - 1. */
typedef struct fan_rec {
    const char *name; /* the node's name (held by fan_names) */
    uint32_t first;   /* index of its first instance */
    uint32_t count;   /* instances */
    zd_node tmpl;     /* the settings as written, placeholders unsubstituted */
    node_info info;   /* owned; its deps and pool are shared by the instances */
} fan_rec;

typedef struct loader {
    zd_yaml *y;              /* the event cursor; every error goes through it */
    zd_graph *g;             /* the graph being filled */
    node_info *info;         /* one per graph node, same index */
    size_t n_info, cap_info; /* entries used and allocated in info */
    zd_node defaults;        /* the `defaults` settings */
    node_info defaults_info; /* which keys `defaults` gives, and its pool name */
    bool too_many_pools;     /* ZD_PIPELINE_MAX_POOLS was reported */
    size_t n_entries;        /* entries met in `nodes`, valid or not */
    name_set bad_pools;      /* pools declared with an error */
    name_set bad_nodes;      /* nodes declared with an invalid name */
    msgpack_sbuffer scratch; /* reused to pack each `args` value */
    const char *base_dir;    /* relative paths resolve from here; NULL: kept as written */
    unsigned flags;          /* ZD_LOAD_* */
    zd_ytext *plugins;       /* `plugins` as written, with positions */
    size_t n_plugins;        /* entries in plugins */
    bool recording;          /* reading a node: strings with braces are kept in tmpl */
    zd_ytext *tmpl;          /* the node's strings that hold a brace, to check for foreach */
    size_t n_tmpl, cap_tmpl; /* used and allocated in tmpl */
    zd_ytext workdir;        /* the node's workdir as written (text NULL if none) */
    int args_line, args_col; /* where the node's args value is */
    size_t n_fanned;         /* nodes with a valid foreach */
    fan_rec *fans;           /* after expansion: one per node with foreach, in file order */
    size_t n_fans;           /* entries in fans */
    zd_strmap *fan_names;    /* fanned node name -> (void *)(uintptr_t)(1 + entry in fans) */
} loader;

/* The node (or defaults) whose keys are being read. */
typedef struct node_ctx {
    loader *L;         /* the load */
    zd_node *n;        /* settings being filled */
    node_info *info;   /* what is kept beside them */
    const char *owner; /* `node "a"` or `defaults` */
} node_ctx;

static void name_set_add(loader *L, name_set *set, const char *name, size_t len) {
    char **more = zd_yread_grow(L->y, set->v, &set->cap, set->n, sizeof *set->v);
    if (!more)
        return;
    set->v = more;
    if ((set->v[set->n] = zd_yread_dup(L->y, name, len)))
        set->n++;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool name_set_has(const name_set *set, const char *name) {
    return set->n && bsearch(&name, set->v, set->n, sizeof *set->v, cmp_str);
}

static void name_set_free(name_set *set) {
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof *set);
}

static void free_info(node_info *info) {
    if (!info->borrowed) {
        zd_ytext_free(info->pool, info->pool ? 1 : 0);
        zd_ytext_free(info->deps, info->n_deps);
        zd_fan_free(&info->fan);
    }
    memset(info, 0, sizeof *info);
}

/* While a node is read: keeps a copy of text, at line:col, when it holds a brace, for the
 * placeholder check of a node with foreach (which may come after the text in the node). */
static void remember(loader *L, const char *text, int line, int col) {
    if (!L || !L->recording || !text || !zd_fan_templated(text))
        return;
    zd_ytext *more = zd_yread_grow(L->y, L->tmpl, &L->cap_tmpl, L->n_tmpl, sizeof *L->tmpl);
    if (!more)
        return;
    L->tmpl = more;
    L->tmpl[L->n_tmpl] =
        (zd_ytext){.text = zd_yread_dup(L->y, text, strlen(text)), .line = line, .col = col};
    L->n_tmpl += L->tmpl[L->n_tmpl].text != NULL;
}

/* The name of a node in messages: `node "a"`. */
static const char *node_owner(char *buf, size_t size, const char *name, size_t len) {
    /* Every node has an owner, most never appear in a message: a short name of plain
     * characters, which zd_yaml_quote() leaves as it is, is copied without formatting. */
    bool plain = len <= 64 && len + 8 <= size;
    for (size_t i = 0; plain && i < len; i++)
        plain = name[i] >= 0x20 && name[i] < 0x7F && name[i] != '"' && name[i] != '\\';
    if (plain) {
        memcpy(buf, "node \"", 6);
        memcpy(buf + 6, name, len);
        memcpy(buf + 6 + len, "\"", 2);
        return buf;
    }
    char shown[ZD_YREAD_SHOW];
    snprintf(buf, size, "node %s", zd_yaml_quote(shown, sizeof shown, name, len));
    return buf;
}

typedef struct kv_list {
    zd_kv *kv;     /* entries read so far */
    size_t n, cap; /* used and allocated */
    loader *L;     /* a node's env: the load, to remember values with braces; else NULL */
} kv_list;

static void on_env_entry(zd_yaml *y, const zd_yentry *e, void *ctx) {
    kv_list *list = ctx;
    zd_kv *more;
    char *value;
    if (!zd_yread_name_key(y, e, "environment variable", true))
        return;
    if (!zd_yaml_at(y, YAML_SCALAR_EVENT)) {
        zd_yread_bad_value(y, e, "a string");
        return;
    }
    /* Values are kept as written, also the empty one: `X:` gives "" and `X: ~` gives "~". */
    const yaml_event_t *ev = zd_yaml_event(y);
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
        zd_yread_bad_value(y, e, "a string without NUL bytes");
        return;
    }
    if (!(more = zd_yread_grow(y, list->kv, &list->cap, list->n, sizeof *list->kv)))
        return;
    list->kv = more;
    if (!(value = zd_yread_dup(y, ev->data.scalar.value, ev->data.scalar.length)))
        return;
    if (!(list->kv[list->n].key = zd_yread_dup(y, e->key, e->len))) {
        free(value);
        return;
    }
    list->kv[list->n++].value = value;
    remember(list->L, value, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1);
}

/* Reads an `env` map into *out and *n_out; `env_owner` names it in messages. */
static void read_env(zd_yaml *y, const zd_yentry *e, const char *env_owner, loader *L, zd_kv **out,
                     size_t *n_out) {
    if (!zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        zd_yread_bad_value(y, e, "a map of variable names to values");
        return;
    }
    kv_list list = {.L = L};
    zd_yread_map(y, env_owner, true, on_env_entry, &list);
    *out = list.kv;
    *n_out = list.n;
}

typedef struct amount_list {
    zd_amount *items; /* entries read so far */
    size_t n, cap;    /* used and allocated */
} amount_list;

static void on_resource(zd_yaml *y, const zd_yentry *e, void *ctx) {
    amount_list *list = ctx;
    zd_amount *more;
    double amount;
    if (!zd_yread_name_key(y, e, "resource", false) || !zd_yread_number(y, e, 0, true, &amount) ||
        !(more = zd_yread_grow(y, list->items, &list->cap, list->n, sizeof *list->items)))
        return;
    list->items = more;
    list->items[list->n].amount = amount;
    list->items[list->n].name = zd_yread_dup(y, e->key, e->len);
    list->n += list->items[list->n].name != NULL;
}

static void parse_cmd(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    static const char expect[] = "a string or a non-empty list of strings";
    zd_node *n = c->n;
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!zd_yaml_at(y, YAML_SEQUENCE_START_EVENT)) {
        if (zd_yread_text(y, e, expect, &n->shell)) {
            n->kind = ZD_NODE_SHELL;
            remember(c->L, n->shell, (int)at.line + 1, (int)at.column + 1);
        }
        return;
    }
    yaml_mark_t start = zd_yaml_event(y)->start_mark;
    zd_ytext *items;
    size_t count;
    /* Arguments may be empty (`[printf, '']`), the program name may not. */
    if (!zd_yread_list(y, e, expect, true, &items, &count))
        return;
    char subj[ZD_YREAD_SUBJECT];
    if (count == 0)
        zd_yaml_error(y, start, "%s must be %s", zd_yread_subject(subj, sizeof subj, e), expect);
    else if (items[0].text[0] == '\0')
        zd_yaml_error_at(y, items[0].line, items[0].col,
                         "the program name (the first entry of %s) must not be empty",
                         zd_yread_subject(subj, sizeof subj, e));
    if (!(n->argv = calloc(count + 1, sizeof *n->argv))) {
        zd_ytext_free(items, count);
        zd_yaml_fail_nomem(y);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        n->argv[i] = items[i].text;
        remember(c->L, items[i].text, items[i].line, items[i].col);
    }
    free(items);
    n->argc = count;
    n->kind = ZD_NODE_ARGV;
}

static void parse_fn(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (zd_yread_text(y, e, "a function name", &c->n->fn)) {
        c->n->kind = ZD_NODE_FN;
        c->info->fn_line = (int)at.line + 1;
        c->info->fn_col = (int)at.column + 1;
    }
}

char *zd_pipeline_resolve_path(const char *base, const char *path) {
    if (!base || path[0] == '/')
        return strdup(path);
    size_t blen = strlen(base), plen = strlen(path);
    char *out = malloc(blen + plen + 2);
    if (!out)
        return NULL;
    memcpy(out, base, blen);
    size_t n = blen;
    while (n > 1 && out[n - 1] == '/')
        n--;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (n == 0 || out[n - 1] != '/')
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len + (end != NULL);
    }
    out[n] = '\0';
    return out;
}

static char *resolve_path(zd_yaml *y, const char *base, const char *path) {
    char *out = zd_pipeline_resolve_path(base, path);
    if (!out)
        zd_yaml_fail_nomem(y);
    return out;
}

static void parse_args(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    (void)e;
    msgpack_sbuffer *buf = &c->L->scratch;
    c->L->args_line = (int)zd_yaml_event(y)->start_mark.line + 1;
    c->L->args_col = (int)zd_yaml_event(y)->start_mark.column + 1;
    char where[ZD_YREAD_OWNER + 16];
    snprintf(where, sizeof where, "in args of %s", c->owner);
    msgpack_sbuffer_clear(buf);
    if (zd_yaml_pack(y, buf, where) < 0)
        return;
    if (buf->size == 1 && (unsigned char)buf->data[0] == 0xC0)
        return; /* nil is stored as NULL */
    if ((c->n->args = zd_yread_dup(y, buf->data, buf->size)))
        c->n->args_len = buf->size;
}

static void parse_deps(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    size_t n_deps = 0;
    zd_yread_list(y, e, "a list of node names", false, &c->info->deps, &n_deps);
    c->info->n_deps = (uint32_t)n_deps;
}

static void parse_priority(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_yread_int(y, e, INT64_MIN, INT64_MAX, &c->n->priority);
}

static void parse_sequential(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_yread_bool(y, e, &c->n->sequential);
}

static void parse_pool(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    yaml_mark_t where = zd_yaml_event(y)->start_mark;
    char *text;
    if (!zd_yread_text(y, e, "a pool name", &text))
        return;
    if (!(c->info->pool = malloc(sizeof *c->info->pool))) {
        free(text);
        zd_yaml_fail_nomem(y);
        return;
    }
    *c->info->pool =
        (zd_ytext){.text = text, .line = (int)where.line + 1, .col = (int)where.column + 1};
}

static void parse_cpus(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_yread_number(y, e, 0, true, &c->n->cpus);
}

static void parse_resources(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    if (!zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        zd_yread_bad_value(y, e, "a map of resource names to numbers");
        return;
    }
    char owner[ZD_YREAD_OWNER];
    snprintf(owner, sizeof owner, "resources of %s", c->owner);
    amount_list list = {0};
    zd_yread_map(y, owner, true, on_resource, &list);
    c->n->resources = list.items;
    c->n->n_resources = list.n;
}

static void parse_retries(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    int64_t v;
    if (zd_yread_int(y, e, 0, INT_MAX, &v))
        c->n->retries = (int)v;
}

static void parse_timeout(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_yread_number(y, e, 0, false, &c->n->timeout);
}

static void parse_env(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    char owner[ZD_YREAD_OWNER];
    snprintf(owner, sizeof owner, "env of %s", c->owner);
    size_t n_env = 0;
    read_env(y, e, owner, c->L, &c->n->env, &n_env);
    c->n->n_env = (uint32_t)n_env;
}

static void parse_workdir(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    char *dir;
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!zd_yread_text(y, e, "a directory path", &dir))
        return;
    c->n->workdir = resolve_path(y, c->L->base_dir, dir);
    if (c->L->recording) { /* kept for foreach: resolved once substituted */
        remember(c->L, dir, (int)at.line + 1, (int)at.column + 1);
        c->L->workdir =
            (zd_ytext){.text = dir, .line = (int)at.line + 1, .col = (int)at.column + 1};
        return;
    }
    free(dir);
}

static void parse_estimate(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_yread_number(y, e, 0, true, &c->n->estimate);
}

/* A size: 512, "64MiB", "1 GiB" (common/store's zd_size_parse()). */
static bool read_size(zd_yaml *y, const zd_yentry *e, uint64_t *out) {
    static const char expect[] =
        "a size in bytes from 1 to 1 TiB, such as 512, \"64MiB\" or \"1GiB\"";
    zd_yaml_scalar s;
    if (!zd_yaml_at(y, YAML_SCALAR_EVENT)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    if (!zd_yaml_resolve(y, &s))
        return false;
    if ((s.type != ZD_YAML_INT && s.type != ZD_YAML_STR) || strlen(s.text) != s.len ||
        !zd_size_parse(s.text, out)) {
        zd_yread_bad_value(y, e, expect);
        return false;
    }
    return true;
}

static void parse_max_result(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    read_size(y, e, &c->n->max_result);
}

static void parse_tags(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_ytext *items;
    size_t n_tags = 0;
    if (!zd_yread_list(y, e, "a list of non-empty strings", false, &items, &n_tags))
        return;
    if (!(c->n->tags = calloc(n_tags + 1, sizeof *c->n->tags))) {
        zd_ytext_free(items, n_tags);
        zd_yaml_fail_nomem(y);
        return;
    }
    for (size_t i = 0; i < n_tags; i++) {
        c->n->tags[i] = items[i].text;
        remember(c->L, items[i].text, items[i].line, items[i].col);
    }
    free(items);
    c->n->n_tags = (uint32_t)n_tags;
}

static void parse_foreach(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_fan_parse(y, e, c->L->base_dir, &c->info->fan);
}

/* `version`: a string or a number, kept as written ("2" and 2 are the same version). */
static void parse_version(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    static const char expect[] = "a string or a number";
    zd_yaml_scalar s;
    if (zd_yaml_at(y, YAML_SCALAR_EVENT)) {
        if (!zd_yaml_resolve(y, &s))
            return;
        if (s.type == ZD_YAML_BOOL || s.type == ZD_YAML_NULL) {
            zd_yread_bad_value(y, e, expect);
            return;
        }
    }
    zd_yread_text(y, e, expect, &c->n->version);
}

/* n's files, made on first use (NULL, reported, when out of memory). */
static zd_node_files *files_of(zd_yaml *y, zd_node *n) {
    if (!n->files && !(n->files = calloc(1, sizeof *n->files)))
        zd_yaml_fail_nomem(y);
    return n->files;
}

/* A list of paths, each made absolute from the pipeline's directory. Patterns (*, ?, [) are
 * refused where they are not allowed (outputs: each must name the one file it creates). */
static void read_paths(zd_yaml *y, const zd_yentry *e, node_ctx *c, bool patterns, char ***out,
                       uint32_t *n_out) {
    zd_ytext *v = NULL;
    size_t n = 0;
    if (!zd_yread_list(y, e, "a list of paths", false, &v, &n))
        return;
    char **paths = calloc(n + 1, sizeof *paths);
    if (!paths)
        zd_yaml_fail_nomem(y);
    for (size_t i = 0; paths && i < n; i++) {
        if (!patterns && strpbrk(v[i].text, "*?[")) {
            char shown[ZD_YREAD_SHOW];
            zd_yaml_error_at(
                y, v[i].line, v[i].col, "output %s of %s is a pattern: an output names one file",
                zd_yaml_quote(shown, sizeof shown, v[i].text, strlen(v[i].text)), c->owner);
        }
        paths[i] = resolve_path(y, c->L->base_dir, v[i].text);
        remember(c->L, v[i].text, v[i].line, v[i].col);
    }
    zd_ytext_free(v, n);
    if (paths) {
        *out = paths;
        *n_out = (uint32_t)n;
    }
}

static void parse_inputs(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_node_files *f = files_of(y, c->n);
    if (f)
        read_paths(y, e, c, true, &f->inputs, &f->n_inputs);
    else
        zd_yaml_skip(y);
}

static void parse_outputs(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_node_files *f = files_of(y, c->n);
    if (!f) {
        zd_yaml_skip(y);
        return;
    }
    f->line = (int)e->mark.line + 1;
    f->col = (int)e->mark.column + 1;
    read_paths(y, e, c, false, &f->outputs, &f->n_outputs);
}

static void parse_keep(zd_yaml *y, const zd_yentry *e, node_ctx *c) {
    zd_node_files *f = files_of(y, c->n);
    if (f)
        zd_yread_bool(y, e, &f->keep);
    else
        zd_yaml_skip(y);
}

static const char *const node_key_names[KEY_COUNT] = {
    [KEY_CMD] = "cmd",
    [KEY_FN] = "fn",
    [KEY_ARGS] = "args",
    [KEY_DEPS] = "deps",
    [KEY_PRIORITY] = "priority",
    [KEY_SEQUENTIAL] = "sequential",
    [KEY_POOL] = "pool",
    [KEY_CPUS] = "cpus",
    [KEY_RESOURCES] = "resources",
    [KEY_RETRIES] = "retries",
    [KEY_TIMEOUT] = "timeout",
    [KEY_ENV] = "env",
    [KEY_WORKDIR] = "workdir",
    [KEY_ESTIMATE] = "estimate",
    [KEY_TAGS] = "tags",
    [KEY_MAX_RESULT] = "max_result",
    [KEY_VERSION] = "version",
    [KEY_INPUTS] = "inputs",
    [KEY_OUTPUTS] = "outputs",
    [KEY_KEEP] = "keep",
    [KEY_FOREACH] = "foreach",
};

typedef void (*key_parser)(zd_yaml *y, const zd_yentry *e, node_ctx *c);

static const key_parser node_key_parsers[KEY_COUNT] = {
    [KEY_CMD] = parse_cmd,
    [KEY_FN] = parse_fn,
    [KEY_ARGS] = parse_args,
    [KEY_DEPS] = parse_deps,
    [KEY_PRIORITY] = parse_priority,
    [KEY_SEQUENTIAL] = parse_sequential,
    [KEY_POOL] = parse_pool,
    [KEY_CPUS] = parse_cpus,
    [KEY_RESOURCES] = parse_resources,
    [KEY_RETRIES] = parse_retries,
    [KEY_TIMEOUT] = parse_timeout,
    [KEY_ENV] = parse_env,
    [KEY_WORKDIR] = parse_workdir,
    [KEY_ESTIMATE] = parse_estimate,
    [KEY_TAGS] = parse_tags,
    [KEY_MAX_RESULT] = parse_max_result,
    [KEY_VERSION] = parse_version,
    [KEY_INPUTS] = parse_inputs,
    [KEY_OUTPUTS] = parse_outputs,
    [KEY_KEEP] = parse_keep,
    [KEY_FOREACH] = parse_foreach,
};

/* One key of a node or of `defaults`. */
static void on_node_key(zd_yaml *y, const zd_yentry *e, void *ctx) {
    node_ctx *c = ctx;
    int k = zd_yread_find_key(node_key_names, KEY_COUNT, e);
    if (k < 0 || (c->info->set & BIT(k))) {
        if (k < 0)
            zd_yread_unknown_key(y, e, node_key_names, KEY_COUNT);
        else
            zd_yread_key_error(y, e, "duplicate");
        zd_yaml_skip(y);
        return;
    }
    c->info->set |= BIT(k);
    if ((k == KEY_DEPS || k == KEY_FOREACH || (BIT(k) & FILE_BITS)) &&
        c->info == &c->L->defaults_info) {
        zd_yaml_error(y, e->mark, "\"%s\" cannot be set in defaults", node_key_names[k]);
        zd_yaml_skip(y);
        return;
    }
    node_key_parsers[k](y, e, c);
}

/* `[A-Za-z_][A-Za-z0-9_.-]*` */
static bool valid_node_name(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        bool other = (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
        if (!alpha && (i == 0 || !other))
            return false;
    }
    return len > 0;
}

/* Puts e's key in the graph as a node with defaults, to be filled once its body is read: one
 * lookup of the name, which also finds a duplicate (reported). Returns its index, or -1 when
 * the name is taken or memory ran out. */
static int64_t reserve_node(loader *L, const zd_yentry *e, const char *owner) {
    node_info *more = zd_yread_grow(L->y, L->info, &L->cap_info, L->n_info, sizeof *L->info);
    if (!more)
        return -1;
    L->info = more;
    uint32_t index;
    int rc = zd_graph_add_node(L->g, e->key, &index);
    if (rc == ZDAG_EEXIST) {
        const zd_node *f = zd_graph_node(L->g, (uint32_t)zd_graph_find(L->g, e->key));
        zd_yaml_error(L->y, e->mark, "duplicate %s (first declared at %d:%d)", owner, f->line,
                      f->col);
        return -1;
    }
    if (rc < 0) {
        zd_yaml_fail_nomem(L->y);
        return -1;
    }
    zd_node *slot = zd_graph_node(L->g, index);
    slot->line = (int)e->mark.line + 1;
    slot->col = (int)e->mark.column + 1;
    L->info[L->n_info++] = (node_info){0};
    return index;
}

/* For a node with foreach: every placeholder its strings hold must be known (reported where the
 * string is); its workdir is kept as written, to be resolved per instance. */
static void check_template(loader *L, zd_node *n, node_info *info) {
    char why[ZD_YREAD_OWNER + ZD_YREAD_SHOW];
    bool ok = true;
    for (size_t i = 0; i < L->n_tmpl; i++)
        if (!zd_fan_check(info->fan, L->tmpl[i].text, why, sizeof why)) {
            zd_yaml_error_at(L->y, L->tmpl[i].line, L->tmpl[i].col, "%s", why);
            ok = false;
        }
    if (n->args && !zd_fan_check_args(info->fan, n->args, n->args_len, why, sizeof why)) {
        zd_yaml_error_at(L->y, L->args_line, L->args_col, "in args: %s", why);
        ok = false;
    }
    L->n_fanned++;
    if (!ok)
        return;
    if (L->workdir.text) {
        free(n->workdir);
        n->workdir = L->workdir.text;
        L->workdir.text = NULL;
        info->workdir_raw = true;
    }
}

/* One entry of `nodes`. A node whose name is invalid or taken is still read, for its errors. */
static void on_node(zd_yaml *y, const zd_yentry *e, void *ctx) {
    loader *L = ctx;
    char owner[ZD_YREAD_OWNER];
    L->n_entries++;
    node_owner(owner, sizeof owner, e->key, e->len);
    bool valid = valid_node_name(e->key, e->len);
    if (!valid) {
        zd_yaml_error(y, e->mark, "invalid %s: names match [A-Za-z_][A-Za-z0-9_.-]*", owner);
        name_set_add(L, &L->bad_nodes, e->key, e->len);
    }
    int64_t index = valid ? reserve_node(L, e, owner) : -1;
    zd_node n;
    node_info info = {0};
    zd_node_init(&n);
    if (zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        node_ctx c = {.L = L, .n = &n, .info = &info, .owner = owner};
        L->recording = true;
        zd_yread_map(y, owner, false, on_node_key, &c);
        L->recording = false;
        if (info.fan)
            check_template(L, &n, &info);
        zd_ytext_free(L->tmpl, L->n_tmpl);
        L->tmpl = NULL;
        L->n_tmpl = L->cap_tmpl = 0;
        free(L->workdir.text);
        L->workdir.text = NULL;
    } else {
        if (!zd_yaml_at(y, YAML_ALIAS_EVENT))
            zd_yaml_error(y, zd_yaml_event(y)->start_mark, "%s must be a map of settings", owner);
        zd_yaml_skip(y);
        info.set |= BAD_BODY;
    }
    if (index < 0) {
        zd_node_clear(&n);
        free_info(&info);
        return;
    }
    zd_node *slot = zd_graph_node(L->g, (uint32_t)index);
    n.name = slot->name;
    n.line = slot->line;
    n.col = slot->col;
    *slot = n;
    L->info[index] = info;
}

static void on_pool(zd_yaml *y, const zd_yentry *e, void *ctx) {
    loader *L = ctx;
    int64_t capacity;
    if (!zd_yread_name_key(y, e, "pool", false))
        return;
    yaml_mark_t at = zd_yaml_event(y)->start_mark;
    if (!zd_yread_int(y, e, 1, INT64_MAX, &capacity)) {
        name_set_add(L, &L->bad_pools, e->key, e->len);
        return;
    }
    if (capacity > ZD_POOL_MAX_CAPACITY) {
        char subj[ZD_YREAD_SUBJECT];
        zd_yaml_error(y, at, "%s must be at most %d (units of a pool)",
                      zd_yread_subject(subj, sizeof subj, e), ZD_POOL_MAX_CAPACITY);
        name_set_add(L, &L->bad_pools, e->key, e->len);
    } else if (zd_graph_pool_count(L->g) >= ZD_PIPELINE_MAX_POOLS) {
        if (!L->too_many_pools)
            zd_yaml_error(y, e->mark, "more than %d pools", ZD_PIPELINE_MAX_POOLS);
        L->too_many_pools = true;
        name_set_add(L, &L->bad_pools, e->key, e->len);
    } else if (zd_graph_add_pool(L->g, e->key, (int)capacity, NULL) < 0) {
        zd_yaml_fail_nomem(y); /* not EEXIST: zd_yread_map rejected duplicates */
    }
}

typedef struct top_ctx {
    loader *L;     /* the load */
    uint32_t seen; /* BIT(top_key) of the keys met */
} top_ctx;

static void on_top(zd_yaml *y, const zd_yentry *e, void *ctx) {
    static const char *const names[] = {
        [TOP_NODES] = "nodes",          [TOP_MAX_CONCURRENCY] = "max_concurrency",
        [TOP_DEFAULTS] = "defaults",    [TOP_ENV] = "env",
        [TOP_POOLS] = "pools",          [TOP_PLUGINS] = "plugins",
        [TOP_MAX_RESULT] = "max_result"};
    static const size_t n_names = sizeof names / sizeof names[0];
    top_ctx *t = ctx;
    loader *L = t->L;
    zd_graph_settings *settings = zd_graph_settings_of(L->g);
    int k = zd_yread_find_key(names, n_names, e);
    if (k < 0 || (t->seen & BIT(k))) {
        if (k < 0)
            zd_yread_unknown_key(y, e, names, n_names);
        else
            zd_yread_key_error(y, e, "duplicate");
        zd_yaml_skip(y);
        return;
    }
    t->seen |= BIT(k);
    int64_t v;
    node_ctx defaults = {.L = L, .n = &L->defaults, .info = &L->defaults_info, .owner = "defaults"};
    bool is_map = zd_yaml_at(y, YAML_MAPPING_START_EVENT);
    switch ((enum top_key)k) {
    case TOP_NODES: {
        yaml_mark_t at = zd_yaml_event(y)->start_mark;
        zd_yaml_scalar null;
        if (is_map) {
            if (zd_yread_map(y, "nodes", false, on_node, L) && L->n_entries == 0)
                zd_yaml_error(y, at, "\"nodes\" is empty: a pipeline needs at least one node");
        } else if (zd_yaml_at(y, YAML_SCALAR_EVENT) && zd_yaml_resolve(y, &null) &&
                   null.type == ZD_YAML_NULL) {
            zd_yaml_error(y, e->mark, "\"nodes\" is empty: a pipeline needs at least one node");
        } else {
            zd_yread_bad_value(y, e, "a map of node names to settings");
        }
        break;
    }
    case TOP_MAX_CONCURRENCY:
        if (zd_yread_int(y, e, 1, INT_MAX, &v))
            settings->max_concurrency = (int)v;
        break;
    case TOP_MAX_RESULT:
        read_size(y, e, &settings->max_result);
        break;
    case TOP_DEFAULTS:
        if (is_map)
            zd_yread_map(y, "defaults", false, on_node_key, &defaults);
        else
            zd_yread_bad_value(y, e, "a map of node settings");
        break;
    case TOP_ENV:
        read_env(y, e, "env", NULL, &settings->env, &settings->n_env);
        break;
    case TOP_POOLS:
        if (is_map)
            zd_yread_map(y, "pools", true, on_pool, L);
        else
            zd_yread_bad_value(y, e, "a map of pool names to capacities");
        break;
    case TOP_PLUGINS:
        if (zd_yread_list(y, e, "a list of plugin paths", false, &L->plugins, &L->n_plugins) &&
            !(settings->plugins = calloc(L->n_plugins + 1, sizeof *settings->plugins))) {
            zd_yaml_fail_nomem(y);
            break;
        }
        for (size_t i = 0; i < L->n_plugins; i++)
            if ((settings->plugins[i] = resolve_path(y, L->base_dir, L->plugins[i].text)))
                settings->n_plugins = i + 1;
            else
                break;
        break;
    }
}

/* Reads the stream: exactly one document whose root is a map with `nodes`. */
static void parse_stream(loader *L) {
    zd_yaml *y = L->y;
    if (!zd_yaml_next(y) || !zd_yaml_next(y)) /* the stream start, then a document or the end */
        return;
    if (zd_yaml_at(y, YAML_STREAM_END_EVENT)) {
        zd_yaml_error_at(y, 1, 1, "missing required key \"nodes\" (the file is empty)");
        return;
    }
    if (!zd_yaml_next(y))
        return;
    yaml_mark_t root = zd_yaml_event(y)->start_mark;
    top_ctx top = {.L = L, .seen = 0};
    if (zd_yaml_at(y, YAML_MAPPING_START_EVENT)) {
        if (!zd_yread_map(y, NULL, false, on_top, &top))
            return;
    } else if (!zd_yaml_at(y, YAML_SCALAR_EVENT) || zd_yaml_event(y)->data.scalar.length > 0) {
        zd_yaml_error(y, root, "the pipeline must be a map with a \"nodes\" key");
        top.seen = BIT(TOP_NODES);
        if (!zd_yaml_skip(y))
            return;
    }
    if (!(top.seen & BIT(TOP_NODES)))
        zd_yaml_error(y, root, "missing required key \"nodes\"");
    if (!zd_yaml_next(y) || !zd_yaml_next(y)) /* the document end, then the stream end */
        return;
    if (zd_yaml_at(y, YAML_DOCUMENT_START_EVENT))
        zd_yaml_error(y, zd_yaml_event(y)->start_mark,
                      "a pipeline file holds one YAML document only");
}

/* Swaps between a and b the settings that node key k gives. cmd and fn are one group, swapped
 * for KEY_CMD, so that a node's own cmd or fn replaces both of the defaults. */
static void swap_key(zd_node *a, zd_node *b, int k) {
#define SWAP(field)                                                                                \
    do {                                                                                           \
        unsigned char tmp_[sizeof a->field];                                                       \
        memcpy(tmp_, &a->field, sizeof tmp_);                                                      \
        memcpy(&a->field, &b->field, sizeof tmp_);                                                 \
        memcpy(&b->field, tmp_, sizeof tmp_);                                                      \
    } while (0)
    switch ((enum node_key)k) {
    case KEY_CMD:
        SWAP(kind);
        SWAP(shell);
        SWAP(argv);
        SWAP(argc);
        SWAP(fn);
        break;
    case KEY_ARGS:
        SWAP(args);
        SWAP(args_len);
        break;
    case KEY_PRIORITY:
        SWAP(priority);
        break;
    case KEY_SEQUENTIAL:
        SWAP(sequential);
        break;
    case KEY_POOL:
        SWAP(pool);
        break;
    case KEY_CPUS:
        SWAP(cpus);
        break;
    case KEY_RESOURCES:
        SWAP(resources);
        SWAP(n_resources);
        break;
    case KEY_RETRIES:
        SWAP(retries);
        break;
    case KEY_TIMEOUT:
        SWAP(timeout);
        break;
    case KEY_ENV:
        SWAP(env);
        SWAP(n_env);
        break;
    case KEY_WORKDIR:
        SWAP(workdir);
        break;
    case KEY_ESTIMATE:
        SWAP(estimate);
        break;
    case KEY_TAGS:
        SWAP(tags);
        SWAP(n_tags);
        break;
    case KEY_VERSION:
        SWAP(version);
        break;
    case KEY_MAX_RESULT:
        SWAP(max_result);
        break;
    case KEY_FN:      /* swapped with KEY_CMD */
    case KEY_DEPS:    /* not a setting */
    case KEY_FOREACH: /* expanded before defaults apply */
    case KEY_INPUTS:  /* never in defaults */
    case KEY_OUTPUTS:
    case KEY_KEEP:
    case KEY_COUNT:
        break;
    }
#undef SWAP
}

/* Gives n the defaults for every key it does not set itself. */
static void apply_defaults(loader *L, zd_node *n, const node_info *info) {
    zd_node merged;
    zd_node_init(&merged);
    if (zd_node_copy_settings(&merged, &L->defaults) < 0) {
        zd_node_clear(&merged);
        zd_yaml_fail_nomem(L->y);
        return;
    }
    uint32_t own = info->set & COMMAND_BITS ? info->set | COMMAND_BITS : info->set;
    for (int k = 0; k < KEY_COUNT; k++)
        if (own & BIT(k))
            swap_key(&merged, n, k); /* merged takes the node's own values... */
    for (int k = 0; k < KEY_COUNT; k++)
        swap_key(&merged, n, k); /* ...then n takes all of merged */
    zd_node_clear(&merged);      /* frees the defaults that n overrode */
}

static void resolve_pool(loader *L, zd_node *n, const zd_ytext *pool, const char *owner,
                         bool report) {
    if (!pool)
        return;
    n->pool = zd_graph_find_pool(L->g, pool->text);
    if (n->pool < 0 && report && !name_set_has(&L->bad_pools, pool->text)) {
        char name[ZD_YREAD_SHOW];
        zd_yaml_error_at(L->y, pool->line, pool->col, "undeclared pool %s in %s",
                         zd_yaml_quote(name, sizeof name, pool->text, strlen(pool->text)), owner);
    }
}

/* Exactly one of cmd/fn, written in the node or else in defaults (judged by the keys written:
 * an invalid value was reported already). */
static void check_command(loader *L, const zd_node *n, const node_info *info, const char *owner) {
    if (info->set & BAD_BODY)
        return;
    uint32_t given = (info->set & COMMAND_BITS) ? info->set : L->defaults_info.set;
    if ((given & COMMAND_BITS) == COMMAND_BITS)
        zd_yaml_error_at(L->y, n->line, n->col, "%s has both \"cmd\" and \"fn\"", owner);
    else if (!(given & COMMAND_BITS))
        zd_yaml_error_at(L->y, n->line, n->col, "%s has neither \"cmd\" nor \"fn\"", owner);
}

/* The node named closest to an unknown dep, or NULL. */
static const char *closest_node(const loader *L, const char *name) {
    const char *best = NULL;
    size_t best_d = 3, d, len = strlen(name);
    for (uint32_t i = 0; i < L->n_info && best_d > 1; i++) {
        const char *cand = zd_graph_node(L->g, i)->name;
        if (zd_yread_close(name, len, cand, &d) && d < best_d) {
            best = cand;
            best_d = d;
        }
    }
    return best;
}

static void unknown_dep(loader *L, const zd_ytext *ref, const char *owner, const char *how) {
    char dep[ZD_YREAD_SHOW], near[ZD_YREAD_SHOW];
    zd_yaml_quote(dep, sizeof dep, ref->text, strlen(ref->text));
    const char *best = closest_node(L, ref->text);
    if (best)
        zd_yaml_error_at(L->y, ref->line, ref->col, "%s %s unknown node %s; did you mean %s?",
                         owner, how, dep, zd_yaml_quote(near, sizeof near, best, strlen(best)));
    else
        zd_yaml_error_at(L->y, ref->line, ref->col, "%s %s unknown node %s", owner, how, dep);
}

/* A dep's result reaches a command as $ZDAG_DEP_<NAME>: the name upper-cased, '.' and '-' as
 * '_' (worker/executor.c). Two deps of one node whose names map to one variable would hide a
 * result. */
typedef struct dep_var {
    char *var;           /* owned: the variable's name after ZDAG_DEP_ */
    const zd_ytext *ref; /* the dep as written */
} dep_var;

static int cmp_dep_var(const void *pa, const void *pb) {
    const dep_var *a = pa, *b = pb;
    int c = strcmp(a->var, b->var);
    if (c)
        return c;
    return a->ref->line != b->ref->line
               ? (a->ref->line < b->ref->line ? -1 : 1)
               : (a->ref->col < b->ref->col ? -1 : a->ref->col > b->ref->col);
}

static void check_dep_vars(loader *L, const node_info *info, const char *owner) {
    if (info->n_deps < 2)
        return;
    dep_var *v = calloc(info->n_deps, sizeof *v);
    size_t n = 0;
    if (!v) {
        zd_yaml_fail_nomem(L->y);
        return;
    }
    for (size_t d = 0; d < info->n_deps; d++) {
        const zd_ytext *ref = &info->deps[d];
        if (zd_graph_find(L->g, ref->text) < 0)
            continue; /* reported already */
        if (!(v[n].var = strdup(ref->text))) {
            zd_yaml_fail_nomem(L->y);
            break;
        }
        for (char *p = v[n].var; *p; p++)
            *p = *p == '.' || *p == '-'   ? '_'
                 : *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A')
                                          : *p;
        v[n++].ref = ref;
    }
    qsort(v, n, sizeof *v, cmp_dep_var);
    for (size_t i = 1; i < n; i++) {
        const zd_ytext *first = v[i - 1].ref, *second = v[i].ref;
        if (strcmp(v[i - 1].var, v[i].var) != 0 || strcmp(first->text, second->text) == 0)
            continue; /* different variables, or one dep listed twice (reported) */
        char a[ZD_YREAD_SHOW], b[ZD_YREAD_SHOW];
        zd_yaml_error_at(L->y, second->line, second->col,
                         "deps %s (at %d:%d) and %s of %s are both passed as $ZDAG_DEP_%s; "
                         "rename one of the nodes",
                         zd_yaml_quote(a, sizeof a, first->text, strlen(first->text)), first->line,
                         first->col, zd_yaml_quote(b, sizeof b, second->text, strlen(second->text)),
                         owner, v[i].var);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].var);
    free(v);
}

/* The fanned node named name[0..len), or NULL. */
static const fan_rec *find_fan(const loader *L, const char *name, size_t len) {
    void *v = L->fan_names ? zd_strmap_get(L->fan_names, name, len) : NULL;
    return v ? &L->fans[(uintptr_t)v - 1] : NULL;
}

/* Adds the dep of index on target, reporting a self-dependency or a repeat when report. */
static void add_dep(loader *L, uint32_t index, uint32_t target, const zd_ytext *ref,
                    const char *owner, bool report) {
    int rc = target == index ? ZDAG_EINVAL : zd_graph_add_dep(L->g, index, target);
    char dep[ZD_YREAD_SHOW];
    if (rc == ZDAG_ENOMEM)
        zd_yaml_fail_nomem(L->y);
    else if (rc == ZDAG_EINVAL && report)
        zd_yaml_error_at(L->y, ref->line, ref->col, "%s depends on itself", owner);
    else if (rc == ZDAG_EEXIST && report)
        zd_yaml_error_at(L->y, ref->line, ref->col, "%s lists dependency %s twice", owner,
                         zd_yaml_quote(dep, sizeof dep, ref->text, strlen(ref->text)));
}

/* A dep written `X[I]` or `X[{index}]`: one instance of the fanned node X. */
static void resolve_instance_dep(loader *L, uint32_t index, const node_info *info,
                                 const zd_ytext *ref, const char *owner, bool report) {
    const char *text = ref->text, *open = strchr(text, '[');
    size_t len = strlen(text);
    const fan_rec *x = find_fan(L, text, (size_t)(open - text));
    const char *inner = open + 1;
    size_t inner_len = len - (size_t)(inner - text) - 1;
    char shown[ZD_YREAD_SHOW], base[ZD_YREAD_SHOW];
    zd_yaml_quote(shown, sizeof shown, text, len);
    zd_yaml_quote(base, sizeof base, text, (size_t)(open - text));
    if (!x) {
        char *b = strndup(text, (size_t)(open - text));
        int64_t t = b ? zd_graph_find(L->g, b) : -1;
        free(b);
        bool later = t >= 0 && L->info[t].fan;
        if (report && later)
            zd_yaml_error_at(L->y, ref->line, ref->col,
                             "%s depends on %s, but %s fans out at run time (result_lines): "
                             "depend on %s, all its instances",
                             owner, shown, base, base);
        else if (report)
            zd_yaml_error_at(L->y, ref->line, ref->col,
                             "%s depends on %s, but no node %s has foreach", owner, shown, base);
        return;
    }
    if (inner_len == 7 && !memcmp(inner, "{index}", 7)) {
        const fan_rec *self = info->fan_id ? &L->fans[info->fan_id - 1] : NULL;
        if (!self && info->fan) {
            if (report)
                zd_yaml_error_at(L->y, ref->line, ref->col,
                                 "%s depends on %s, but a node that fans out at run time "
                                 "(result_lines) has no {index} before it runs",
                                 owner, shown);
        } else if (!self) {
            if (report)
                zd_yaml_error_at(L->y, ref->line, ref->col,
                                 "%s depends on %s, but {index} is only known in a node "
                                 "with foreach",
                                 owner, shown);
        } else if (self->count != x->count) {
            if (report)
                zd_yaml_error_at(L->y, ref->line, ref->col,
                                 "%s depends on %s item by item, but it has %u instances and "
                                 "%s has %u",
                                 owner, shown, self->count, base, x->count);
        } else {
            add_dep(L, index, x->first + info->instance, ref, owner, report);
        }
        return;
    }
    char *end;
    errno = 0;
    unsigned long long k = inner_len && inner[0] >= '0' && inner[0] <= '9'
                               ? strtoull(inner, &end, 10)
                               : (end = (char *)inner, 0);
    if (end != inner + inner_len || errno) {
        if (report)
            zd_yaml_error_at(L->y, ref->line, ref->col,
                             "%s depends on %s: an instance is NAME[NUMBER] or NAME[{index}]",
                             owner, shown);
    } else if (k >= x->count) {
        if (report)
            zd_yaml_error_at(L->y, ref->line, ref->col,
                             "%s depends on %s, but %s has %u instances (from [0])", owner, shown,
                             base, x->count);
    } else {
        add_dep(L, index, x->first + (uint32_t)k, ref, owner, report);
    }
}

/* Resolves the deps of node index: a node by name, every instance of a fanned node by its name,
 * or one instance (resolve_instance_dep()). */
static void resolve_deps(loader *L, uint32_t index, const node_info *info, const char *owner,
                         bool report) {
    for (size_t d = 0; d < info->n_deps && !zd_yaml_failed(L->y); d++) {
        const zd_ytext *ref = &info->deps[d];
        size_t len = strlen(ref->text);
        int64_t target = zd_graph_find(L->g, ref->text);
        const fan_rec *x = target < 0 ? find_fan(L, ref->text, len) : NULL;
        if (target >= 0) {
            add_dep(L, index, (uint32_t)target, ref, owner, report);
        } else if (x) {
            for (uint32_t k = 0; k < x->count && !zd_yaml_failed(L->y); k++)
                add_dep(L, index, x->first + k, ref, owner, report && k == 0);
        } else if (len > 2 && ref->text[len - 1] == ']' && strchr(ref->text, '[') &&
                   strchr(ref->text, '[') != ref->text) {
            resolve_instance_dep(L, index, info, ref, owner, report);
        } else if (report && !name_set_has(&L->bad_nodes, ref->text)) {
            unknown_dep(L, ref, owner, "depends on");
        }
    }
}

/* A node with `foreach: {result_lines: SOURCE}`: SOURCE must be one node with a result (not a
 * fanned node nor another such template); it becomes a dep when not one already. */
static void resolve_source(loader *L, uint32_t index, const node_info *info, const char *owner) {
    int line, col;
    const char *src = zd_fan_source(info->fan, &line, &col);
    char shown[ZD_YREAD_SHOW];
    zd_yaml_quote(shown, sizeof shown, src, strlen(src));
    int64_t s = zd_graph_find(L->g, src);
    if (s < 0 && find_fan(L, src, strlen(src))) {
        zd_yaml_error_at(L->y, line, col,
                         "%s takes result_lines from %s, which has foreach: name one of its "
                         "instances, %s[N]",
                         owner, shown, src);
        return;
    }
    if (s < 0) {
        if (!name_set_has(&L->bad_nodes, src)) {
            zd_ytext ref = {.text = (char *)src, .line = line, .col = col};
            unknown_dep(L, &ref, owner, "takes result_lines from");
        }
        return;
    }
    if ((uint32_t)s == index || L->info[s].fan) {
        zd_yaml_error_at(L->y, line, col,
                         (uint32_t)s == index
                             ? "%s takes result_lines from itself"
                             : "%s takes result_lines from %s, which fans out at run time and "
                               "has no result of its own",
                         owner, shown);
        return;
    }
    const zd_node *n = zd_graph_node(L->g, index);
    bool listed = false;
    for (uint32_t d = 0; d < n->n_deps && !listed; d++)
        listed = n->deps[d] == (uint32_t)s;
    int rc = listed ? 0 : zd_graph_add_dep(L->g, index, (uint32_t)s);
    if (rc == 0)
        rc = zd_graph_set_runtime_fan(L->g, index, (uint32_t)s, listed);
    if (rc < 0)
        zd_yaml_fail_nomem(L->y);
}

/* Moves node src of the old graph into a new node of L->g named name. */
static int move_node(loader *L, zd_node *src, const char *name, uint32_t *index) {
    int rc = zd_graph_add_node(L->g, name, index);
    if (rc < 0)
        return rc;
    zd_node *slot = zd_graph_node(L->g, *index);
    const char *new_name = slot->name, *old_name = src->name;
    *slot = *src;
    slot->name = new_name;
    zd_node_init(src);
    src->name = old_name;
    return 0;
}

/* Instance k of fan entry fi into L->g, at index. */
static int add_instance(loader *L, uint32_t fi, uint32_t k, node_info *info_out) {
    fan_rec *fr = &L->fans[fi];
    const node_info *t = &fr->info;
    char *name = malloc(strlen(fr->name) + 24);
    if (!name)
        return ZDAG_ENOMEM;
    sprintf(name, "%s[%u]", fr->name, k);
    zd_node n;
    zd_node_init(&n);
    int rc = zd_fan_node(t->fan, k, &fr->tmpl, &n);
    if (rc == 0 && t->workdir_raw) {
        char *dir = resolve_path(L->y, L->base_dir, n.workdir);
        free(n.workdir);
        n.workdir = dir;
        rc = dir ? 0 : ZDAG_ENOMEM;
    }
    n.line = fr->tmpl.line;
    n.col = fr->tmpl.col;
    uint32_t index;
    if (rc == 0)
        rc = move_node(L, &n, name, &index);
    free(name);
    zd_node_clear(&n);
    *info_out = (node_info){.set = t->set,
                            .n_deps = t->n_deps,
                            .deps = t->deps,
                            .pool = t->pool,
                            .fn_line = t->fn_line,
                            .fn_col = t->fn_col,
                            .fan_id = fi + 1,
                            .instance = k,
                            .borrowed = true};
    return rc;
}

/* Rebuilds the graph with each node that has foreach replaced, in its place, by its instances
 * NAME[0] .. NAME[N-1]; the templates go to L->fans. Runs before any dep is added. */
static void expand_fans(loader *L) {
    zd_graph *old = L->g;
    node_info *old_info = L->info;
    size_t n_old = L->n_info, total = 0;
    for (size_t i = 0; i < n_old; i++)
        total += old_info[i].fan && !zd_fan_source(old_info[i].fan, NULL, NULL)
                     ? zd_fan_count(old_info[i].fan)
                     : 1;
    L->g = zd_graph_new();
    L->fans = calloc(L->n_fanned, sizeof *L->fans);
    L->info = calloc(total ? total : 1, sizeof *L->info);
    L->fan_names = zd_strmap_new();
    L->n_info = L->cap_info = 0;
    int rc = L->g && L->fans && L->info && L->fan_names ? 0 : ZDAG_ENOMEM;
    if (rc == 0) {
        zd_graph_settings tmp = *zd_graph_settings_of(old);
        *zd_graph_settings_of(old) = *zd_graph_settings_of(L->g);
        *zd_graph_settings_of(L->g) = tmp;
        L->cap_info = total ? total : 1;
    }
    for (size_t p = 0; rc == 0 && p < zd_graph_pool_count(old); p++) {
        const zd_pool *pool = zd_graph_pool(old, (int32_t)p);
        rc = zd_graph_add_pool(L->g, pool->name, pool->capacity, NULL);
    }
    for (uint32_t i = 0; rc == 0 && i < n_old; i++) {
        zd_node *o = zd_graph_node(old, i);
        uint32_t index;
        if (!old_info[i].fan || zd_fan_source(old_info[i].fan, NULL, NULL)) {
            /* A run-time fan-out stays one node, the template its instances are made from. */
            if ((rc = move_node(L, o, o->name, &index)) == 0) {
                L->info[L->n_info++] = old_info[i];
                memset(&old_info[i], 0, sizeof old_info[i]);
            }
            continue;
        }
        uint32_t fi = (uint32_t)L->n_fans++;
        fan_rec *fr = &L->fans[fi];
        fr->tmpl = *o;
        zd_node_init(o);
        o->name = fr->tmpl.name;
        fr->info = old_info[i];
        memset(&old_info[i], 0, sizeof old_info[i]);
        fr->first = (uint32_t)L->n_info;
        fr->count = (uint32_t)zd_fan_count(fr->info.fan);
        rc = zd_strmap_put(L->fan_names, o->name, strlen(o->name), (void *)(uintptr_t)(fi + 1),
                           &fr->name);
        fr->tmpl.name = fr->name;
        for (uint32_t k = 0; rc == 0 && k < fr->count; k++)
            if ((rc = add_instance(L, fi, k, &L->info[L->n_info])) == 0)
                L->n_info++;
    }
    for (size_t i = 0; i < n_old; i++)
        free_info(&old_info[i]);
    free(old_info);
    zd_graph_free(&old);
    if (rc < 0)
        zd_yaml_fail_nomem(L->y);
}

/* Reports the cycle zd_graph_finish found (len entries, the first repeated at the end), from its
 * node declared first, so that the message does not depend on where the search began. */
static void report_cycle(loader *L, const uint32_t *cycle, size_t len) {
    size_t n = len - 1, first = 0;
    for (size_t i = 1; i < n; i++)
        if (cycle[i] < cycle[first])
            first = i;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        zd_yaml_fail_nomem(L->y);
        return;
    }
    for (size_t i = 0; i <= n; i++)
        fprintf(f, "%s%s", i ? " -> " : "", zd_graph_node(L->g, cycle[(first + i) % n])->name);
    if (fclose(f) != 0) {
        free(text);
        zd_yaml_fail_nomem(L->y);
        return;
    }
    const zd_node *start = zd_graph_node(L->g, cycle[first]);
    zd_yaml_error_at(L->y, start->line, start->col, "cycle: %s", text);
    free(text);
}

/* The checks that need the whole file, then the graph's own completion. */
/* Files that link nodes: an output declared twice is an error (at the second `outputs`), and a
 * node whose input is another node's output depends on it. Values are index + 1 (NULL absent). */
static void link_files(loader *L) {
    zd_strmap *producer = zd_strmap_new();
    if (!producer) {
        zd_yaml_fail_nomem(L->y);
        return;
    }
    size_t n = zd_graph_size(L->g);
    for (uint32_t i = 0; i < n; i++) {
        const zd_node *node = zd_graph_node(L->g, i);
        for (uint32_t k = 0; node->files && k < node->files->n_outputs; k++) {
            const char *path = node->files->outputs[k];
            int rc = zd_strmap_add(producer, path, strlen(path), (void *)(uintptr_t)(i + 1), NULL);
            if (rc == ZDAG_ENOMEM)
                zd_yaml_fail_nomem(L->y);
            if (rc != ZDAG_EEXIST)
                continue;
            uint32_t first = (uint32_t)(uintptr_t)zd_strmap_get(producer, path, strlen(path)) - 1;
            char shown[ZD_YREAD_SHOW];
            zd_yaml_error_at(L->y, node->files->line, node->files->col,
                             "output %s of node \"%s\" is an output of node \"%s\" too",
                             zd_yaml_quote(shown, sizeof shown, path, strlen(path)), node->name,
                             zd_graph_node(L->g, first)->name);
        }
    }
    for (uint32_t i = 0; i < n && !zd_yaml_failed(L->y); i++) {
        const zd_node_files *f = zd_graph_node(L->g, i)->files;
        for (uint32_t k = 0; f && k < f->n_inputs; k++) {
            uintptr_t from = (uintptr_t)zd_strmap_get(producer, f->inputs[k], strlen(f->inputs[k]));
            int rc = from && from - 1 != i ? zd_graph_add_dep(L->g, i, (uint32_t)(from - 1)) : 0;
            if (rc == ZDAG_ENOMEM)
                zd_yaml_fail_nomem(L->y);
        }
    }
    zd_strmap_free(&producer);
}

static void resolve_graph(loader *L) {
    /* qsort() of an empty set would be given NULL: undefined, even for 0 entries. */
    if (L->bad_pools.n > 1)
        qsort(L->bad_pools.v, L->bad_pools.n, sizeof *L->bad_pools.v, cmp_str);
    if (L->bad_nodes.n > 1)
        qsort(L->bad_nodes.v, L->bad_nodes.n, sizeof *L->bad_nodes.v, cmp_str);
    resolve_pool(L, &L->defaults, L->defaults_info.pool, "defaults", true);
    for (uint32_t i = 0; i < L->n_info && !zd_yaml_failed(L->y); i++) {
        zd_node *n = zd_graph_node(L->g, i);
        const node_info *info = &L->info[i];
        /* Instances share their template's settings: its mistakes are reported once, with the
         * first instance, and named after the node as written. */
        bool report = info->instance == 0;
        const char *name = info->fan_id ? L->fans[info->fan_id - 1].name : n->name;
        char owner[ZD_YREAD_OWNER];
        node_owner(owner, sizeof owner, name, strlen(name));
        resolve_pool(L, n, info->pool, owner, report);
        if (L->defaults_info.set)
            apply_defaults(L, n, info);
        if (report)
            check_command(L, n, info, owner);
        resolve_deps(L, i, info, owner, report);
        if (info->fan)
            resolve_source(L, i, info, owner);
        if (report)
            check_dep_vars(L, info, owner);
    }
    if (!zd_yaml_failed(L->y))
        link_files(L);
    if (zd_yaml_failed(L->y))
        return;
    uint32_t *cycle = NULL;
    size_t len = 0;
    int rc = zd_graph_finish(L->g, &cycle, &len);
    if (rc == ZDAG_ECYCLE && cycle)
        report_cycle(L, cycle, len);
    else if (rc < 0)
        zd_yaml_fail_nomem(L->y);
    free(cycle);
}

/* Whether one of the plugins opened exports fn. */
static bool exported(void *const *handles, size_t opened, const char *fn) {
    for (size_t h = 0; h < opened; h++) {
        dlerror();
        if (dlsym(handles[h], fn))
            return true;
    }
    return false;
}

/* With ZD_LOAD_PROBE_PLUGINS: opens each plugin as zdag run would (but lazily: nothing of it
 * is called) and, with ZD_LOAD_CHECK_FNS, finds each fn node's function in one of them.
 * Without plugins, ZD_LOAD_CHECK_FNS reports every fn node. */
static void probe_plugins(loader *L) {
    zd_graph_settings *gs = zd_graph_settings_of(L->g);
    void **handles = calloc(gs->n_plugins + 1, sizeof *handles);
    size_t opened = 0;
    if (!handles) {
        zd_yaml_fail_nomem(L->y);
        return;
    }
    bool all_open = true;
    const char *last_found = NULL; /* the function name found last */
    for (size_t i = 0; i < gs->n_plugins && (L->flags & ZD_LOAD_PROBE_PLUGINS); i++) {
        dlerror();
        if ((handles[opened] = dlopen(gs->plugins[i], RTLD_LAZY | RTLD_LOCAL))) {
            opened++;
            continue;
        }
        const char *why = dlerror();
        char shown[ZD_YREAD_SHOW];
        zd_yaml_error_at(L->y, L->plugins[i].line, L->plugins[i].col, "cannot load plugin %s: %s",
                         zd_yaml_quote(shown, sizeof shown, gs->plugins[i], strlen(gs->plugins[i])),
                         why ? why : "unknown error");
        all_open = false;
    }
    for (uint32_t i = 0; i < L->n_info && (L->flags & ZD_LOAD_CHECK_FNS); i++) {
        const zd_node *n = zd_graph_node(L->g, i);
        const node_info *info = &L->info[i];
        if (n->kind != ZD_NODE_FN || !n->fn || info->instance > 0)
            continue; /* an instance calls its first instance's function */
        int line = info->fn_line ? info->fn_line : L->defaults_info.fn_line;
        int col = info->fn_line ? info->fn_col : L->defaults_info.fn_col;
        if (line == 0) {
            line = n->line;
            col = n->col;
        }
        bool listed = gs->n_plugins > 0;
        if (listed && (!all_open || !(L->flags & ZD_LOAD_PROBE_PLUGINS)))
            continue; /* a plugin that did not open was reported; it may hold the function */
        /* Nodes often call one function: the last name looked up is remembered. */
        if (listed && (!last_found || strcmp(last_found, n->fn) != 0)) {
            if (!exported(handles, opened, n->fn))
                listed = false;
            else
                last_found = n->fn;
        }
        if (listed)
            continue; /* found */
        char owner[ZD_YREAD_OWNER], fn[ZD_YREAD_SHOW];
        const char *name = info->fan_id ? L->fans[info->fan_id - 1].name : n->name;
        node_owner(owner, sizeof owner, name, strlen(name));
        zd_yaml_quote(fn, sizeof fn, n->fn, strlen(n->fn));
        if (gs->n_plugins == 0)
            zd_yaml_error_at(
                L->y, line, col,
                "%s calls function %s, but the pipeline lists no plugins to find it "
                "in (zdag run needs them, unless it runs with -w 0 --listen and remote "
                "workers that serve the function: then check with --remote)",
                owner, fn);
        else
            zd_yaml_error_at(L->y, line, col, "%s calls function %s, which no plugin exports",
                             owner, fn);
    }
    for (size_t h = 0; h < opened; h++)
        dlclose(handles[h]);
    free(handles);
}

static void loader_free(loader *L) {
    zd_ytext_free(L->plugins, L->n_plugins);
    for (size_t i = 0; i < L->n_info; i++)
        free_info(&L->info[i]);
    free(L->info);
    zd_node_clear(&L->defaults);
    free_info(&L->defaults_info);
    name_set_free(&L->bad_pools);
    name_set_free(&L->bad_nodes);
    for (size_t i = 0; i < L->n_fans; i++) {
        zd_node_clear(&L->fans[i].tmpl);
        free_info(&L->fans[i].info);
    }
    free(L->fans);
    zd_strmap_free(&L->fan_names);
    zd_ytext_free(L->tmpl, L->n_tmpl);
    free(L->workdir.text);
    msgpack_sbuffer_destroy(&L->scratch);
    zd_yaml_close(&L->y);
    zd_graph_free(&L->g);
}

int zd_pipeline_load_buffer(const char *name, const char *buf, size_t len, zd_graph **out,
                            zd_diags *diags) {
    return zd_pipeline_load_buffer_opts(name, buf, len, NULL, out, diags);
}

/* zd_pipeline_load_buffer_opts(); with owned (the caller's buf, as *owned), frees the text as
 * soon as it is parsed, before the checks of the whole graph, so it is not held at the peak. */
static int load(const char *name, const char *buf, size_t len, const zd_load_opts *opts,
                char **owned, zd_graph **out, zd_diags *diags);

int zd_pipeline_load_buffer_opts(const char *name, const char *buf, size_t len,
                                 const zd_load_opts *opts, zd_graph **out, zd_diags *diags) {
    return load(name, buf, len, opts, NULL, out, diags);
}

static int load(const char *name, const char *buf, size_t len, const zd_load_opts *opts,
                char **owned, zd_graph **out, zd_diags *diags) {
    if (!name || (!buf && len) || !out || !diags)
        return ZDAG_EINVAL;
    *out = NULL;
    if (len > ZD_PIPELINE_MAX_BYTES) {
        zd_diags_add(diags, name, 0, 0, "the file is larger than %u MiB",
                     ZD_PIPELINE_MAX_BYTES >> 20);
        return ZDAG_EPIPELINE;
    }
    loader L = {0};
    if (opts) {
        L.base_dir = opts->base_dir;
        L.flags = opts->flags;
    }
    zd_node_init(&L.defaults);
    msgpack_sbuffer_init(&L.scratch);
    L.g = zd_graph_new();
    L.y = zd_yaml_open(name, buf ? buf : "", len, diags);
    if (L.g)
        zd_graph_settings_of(L.g)->path = strdup(name);
    if (L.g && L.base_dir)
        zd_graph_settings_of(L.g)->base_dir = strdup(L.base_dir);
    if (!L.g || !L.y || !zd_graph_settings_of(L.g)->path ||
        (L.base_dir && !zd_graph_settings_of(L.g)->base_dir)) {
        zd_diags_add(diags, name, 0, 0, "out of memory");
        loader_free(&L);
        return ZDAG_ENOMEM;
    }
    parse_stream(&L);
    if (owned) {
        zd_yaml_end_input(L.y);
        free(*owned);
        *owned = NULL;
    }
    if (!zd_yaml_failed(L.y) && L.n_fanned)
        expand_fans(&L);
    if (!zd_yaml_failed(L.y))
        resolve_graph(&L);
    if (!zd_yaml_failed(L.y) && (L.flags & (ZD_LOAD_PROBE_PLUGINS | ZD_LOAD_CHECK_FNS)))
        probe_plugins(&L);
    int rc = 0;
    if (zd_yaml_nomem(L.y))
        rc = ZDAG_ENOMEM;
    else if (zd_yaml_error_count(L.y) > 0)
        rc = ZDAG_EPIPELINE;
    if (rc == 0) {
        *out = L.g;
        L.g = NULL;
    }
    loader_free(&L);
    return rc;
}

static const char *file_kind(mode_t mode) {
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

/* Reads at most ZD_PIPELINE_MAX_BYTES + 1 bytes: enough to tell that a file is too large. Only
 * a regular file is read: the open does not block (O_NONBLOCK: a FIFO without a writer would
 * wait forever), and anything else is refused, at 1:1 like every error about the file's text. */
static int read_file(const char *path, char **out, size_t *len_out, zd_diags *diags) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        zd_diags_add(diags, path, 0, 0, "cannot read: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return ZDAG_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        zd_diags_add(diags, path, 1, 1, "cannot read %s: a pipeline must be a regular file",
                     file_kind(st.st_mode));
        close(fd);
        return ZDAG_EIO;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        zd_diags_add(diags, path, 0, 0, "cannot read: %s", strerror(errno));
        close(fd);
        return ZDAG_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    /* Sized by the file (one byte more, to see the end), so that a big pipeline is held once,
     * not in a buffer grown by doubling; a file that grows meanwhile still reads to its end. */
    size_t first = st.st_size > 0 && (uint64_t)st.st_size <= ZD_PIPELINE_MAX_BYTES
                       ? (size_t)st.st_size + 1
                       : 1 << 16;
    while (!feof(f) && !ferror(f) && len <= ZD_PIPELINE_MAX_BYTES) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : first;
            char *more = realloc(buf, ncap);
            if (!more) {
                zd_diags_add(diags, path, 0, 0, "out of memory");
                rc = ZDAG_ENOMEM;
                break;
            }
            buf = more;
            cap = ncap;
        }
        len += fread(buf + len, 1, cap - len, f);
    }
    if (rc == 0 && ferror(f)) {
        zd_diags_add(diags, path, 0, 0, "cannot read: %s", strerror(errno));
        rc = ZDAG_EIO;
    }
    fclose(f);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len_out = len;
    return 0;
}

int zd_pipeline_load(const char *path, zd_graph **out, zd_diags *diags) {
    return zd_pipeline_load_file(path, 0, out, diags);
}

int zd_pipeline_load_file(const char *path, unsigned flags, zd_graph **out, zd_diags *diags) {
    if (!path || !out || !diags)
        return ZDAG_EINVAL;
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, diags);
    if (rc < 0)
        return rc;
    /* The directory the file is in, as a real path: relative paths in the file resolve from it. */
    char *copy = strdup(path), *base = copy ? realpath(dirname(copy), NULL) : NULL;
    if (!copy) {
        zd_diags_add(diags, path, 0, 0, "out of memory");
        free(buf);
        return ZDAG_ENOMEM;
    }
    if (!base) {
        zd_diags_add(diags, path, 0, 0, "cannot find the file's directory: %s", strerror(errno));
        rc = ZDAG_EIO;
    } else {
        zd_load_opts opts = {.base_dir = base, .flags = flags};
        rc = load(path, buf, len, &opts, &buf, out, diags);
    }
    free(base);
    free(copy);
    free(buf);
    return rc;
}
