/* libzdag's public API: building a DAG in code, running it, reading the results. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoworkers_setup.h"
#include "coord.h"
#include "curve.h"
#include "diag.h"
#include "graph.h"
#include "runner.h"
#include "store.h"
#include "strmap.h"
#include "worker_main.h"
#include "wire.h"
#include "zdag.h"

#define ARGS_MAX_DEPTH 64 /* nesting accepted in args */
#define NAME_MAX_LEN 255  /* bytes in zdag_options.name */

/* The smallest zdag_options a program can pass: the first layout with a size field (0.2.0,
 * up to `name`). Fields added later go after `name`; a program compiled before them passes a
 * smaller size, and they keep their defaults. */
#define OPTIONS_MIN_SIZE (offsetof(zdag_options, name) + sizeof(const char *))

struct zdag_dag {
    zd_graph *g;      /* the nodes */
    zd_fn_entry *fns; /* registered functions (names owned) */
    size_t n_fns;     /* entries in fns */
    char error[1024]; /* details of the last error */
};

typedef struct node_end {
    zdag_node_status status; /* how it ended */
    char *error;             /* owned, or NULL */
    unsigned attempts;       /* attempts made */
    const char *mapped;      /* a stored result: the mapping of its store file, or NULL */
    size_t value_at;         /* a result kept inline: where it starts in the result's values */
    size_t value_len;        /* bytes in the result */
    bool has_value;          /* there is a result (inline, or mapped) */
    bool is_msgpack;         /* the result is a packed msgpack value */
} node_end;

struct zdag_result {
    char *names;     /* every node's name, each NUL-terminated, in node order (owned) */
    size_t *name_at; /* per node, where its name starts in names (owned) */
    char *values;    /* every result kept inline, one after another (owned) */
    node_end *nodes; /* per node */
    size_t n;        /* entries in nodes */
    int exit_code;   /* as `zdag run` would exit */
    pthread_mutex_t index_lock;
    _Atomic(zd_strmap *) index; /* name -> index + 1, made by the first lookup by name (owned) */
};

static int fail(zdag_dag *dag, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(zdag_dag *dag, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dag->error, sizeof dag->error, fmt, ap);
    va_end(ap);
    return rc;
}

static bool valid_name(const char *s) {
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

zdag_dag *zdag_dag_new(void) {
    zdag_dag *dag = calloc(1, sizeof *dag);
    if (dag && !(dag->g = zd_graph_new())) {
        free(dag);
        return NULL;
    }
    return dag;
}

void zdag_dag_free(zdag_dag **dagp) {
    if (!dagp || !*dagp)
        return;
    zdag_dag *dag = *dagp;
    zd_graph_free(&dag->g);
    for (size_t i = 0; i < dag->n_fns; i++)
        free((char *)dag->fns[i].name);
    free(dag->fns);
    free(dag);
    *dagp = NULL;
}

const char *zdag_dag_error(const zdag_dag *dag) {
    return dag ? dag->error : "";
}

int zdag_dag_register(zdag_dag *dag, const char *name, zdag_fn fn) {
    if (!dag || !name || !*name || !fn)
        return ZDAG_EINVAL;
    for (size_t i = 0; i < dag->n_fns; i++)
        if (strcmp(dag->fns[i].name, name) == 0)
            return fail(dag, ZDAG_EEXIST, "a function named \"%s\" is registered already", name);
    zd_fn_entry *fns = realloc(dag->fns, (dag->n_fns + 1) * sizeof *fns);
    if (!fns)
        return ZDAG_ENOMEM;
    dag->fns = fns;
    char *copy = strdup(name);
    if (!copy)
        return ZDAG_ENOMEM;
    fns[dag->n_fns++] = (zd_fn_entry){copy, fn};
    return 0;
}

int zdag_dag_add_plugin(zdag_dag *dag, const char *path) {
    if (!dag || !path || !*path)
        return ZDAG_EINVAL;
    zd_graph_settings *gs = zd_graph_settings_of(dag->g);
    char **v = realloc(gs->plugins, (gs->n_plugins + 1) * sizeof *v);
    if (!v)
        return ZDAG_ENOMEM;
    gs->plugins = v;
    if (!(v[gs->n_plugins] = strdup(path)))
        return ZDAG_ENOMEM;
    gs->n_plugins++;
    return 0;
}

/* Adds a node with a checked name; returns it through *out. */
static int add_node(zdag_dag *dag, const char *name, zd_node **out) {
    if (!dag)
        return ZDAG_EINVAL;
    if (!valid_name(name))
        return fail(dag, ZDAG_EINVAL, "\"%s\" is not a valid node name", name ? name : "(null)");
    uint32_t index;
    int rc = zd_graph_add_node(dag->g, name, &index);
    if (rc == ZDAG_EEXIST)
        return fail(dag, rc, "a node named \"%s\" exists already", name);
    if (rc < 0)
        return rc;
    *out = zd_graph_node(dag->g, index);
    return 0;
}

int zdag_dag_add_fn(zdag_dag *dag, const char *node, const char *fn_name) {
    zd_node *n = NULL;
    if (!fn_name || !*fn_name)
        return ZDAG_EINVAL;
    int rc = add_node(dag, node, &n);
    if (rc < 0)
        return rc;
    n->kind = ZD_NODE_FN;
    return (n->fn = strdup(fn_name)) ? 0 : ZDAG_ENOMEM;
}

int zdag_dag_add_cmd(zdag_dag *dag, const char *node, const char *command) {
    zd_node *n = NULL;
    if (!command)
        return ZDAG_EINVAL;
    int rc = add_node(dag, node, &n);
    if (rc < 0)
        return rc;
    n->kind = ZD_NODE_SHELL;
    return (n->shell = strdup(command)) ? 0 : ZDAG_ENOMEM;
}

int zdag_dag_add_argv(zdag_dag *dag, const char *node, const char *const *argv) {
    zd_node *n = NULL;
    if (!argv || !argv[0])
        return ZDAG_EINVAL;
    int rc = add_node(dag, node, &n);
    if (rc < 0)
        return rc;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    n->kind = ZD_NODE_ARGV;
    if (!(n->argv = calloc(argc + 1, sizeof *n->argv)))
        return ZDAG_ENOMEM;
    n->argc = argc;
    for (size_t i = 0; i < argc; i++)
        if (!(n->argv[i] = strdup(argv[i])))
            return ZDAG_ENOMEM;
    return 0;
}

int zdag_dag_add_pool(zdag_dag *dag, const char *pool, int capacity) {
    if (!dag || !valid_name(pool) || capacity < 1)
        return ZDAG_EINVAL;
    int rc = zd_graph_add_pool(dag->g, pool, capacity, NULL);
    return rc == ZDAG_EEXIST ? fail(dag, rc, "a pool named \"%s\" exists already", pool) : rc;
}

/* The node named `name`, or NULL (and the error set). */
static zd_node *find(zdag_dag *dag, const char *name) {
    if (!dag)
        return NULL;
    if (!name) {
        fail(dag, ZDAG_EINVAL, "a node name is required (got NULL)");
        return NULL;
    }
    int64_t i = zd_graph_find(dag->g, name);
    if (i < 0) {
        fail(dag, ZDAG_ENOENT, "no node named \"%s\"", name ? name : "(null)");
        return NULL;
    }
    return zd_graph_node(dag->g, (uint32_t)i);
}

#define FIND_OR_FAIL(n, dag, name)                                                                 \
    zd_node *n = find(dag, name);                                                                  \
    if (!n)                                                                                        \
        return dag && name ? ZDAG_ENOENT : ZDAG_EINVAL;

int zdag_node_add_dep(zdag_dag *dag, const char *node, const char *dep) {
    FIND_OR_FAIL(n, dag, node);
    FIND_OR_FAIL(d, dag, dep);
    (void)n;
    (void)d;
    int rc = zd_graph_add_dep(dag->g, (uint32_t)zd_graph_find(dag->g, node),
                              (uint32_t)zd_graph_find(dag->g, dep));
    if (rc == ZDAG_EINVAL)
        return fail(dag, rc, "node \"%s\" cannot depend on itself", node);
    return rc == ZDAG_EEXIST ? 0 : rc; /* the same dependency twice is one dependency */
}

int zdag_node_set_priority(zdag_dag *dag, const char *node, int64_t priority) {
    FIND_OR_FAIL(n, dag, node);
    n->priority = priority;
    return 0;
}

int zdag_node_set_sequential(zdag_dag *dag, const char *node, bool sequential) {
    FIND_OR_FAIL(n, dag, node);
    n->sequential = sequential;
    return 0;
}

int zdag_node_set_pool(zdag_dag *dag, const char *node, const char *pool) {
    FIND_OR_FAIL(n, dag, node);
    if (!pool)
        return fail(dag, ZDAG_EINVAL, "a pool name is required (got NULL)");
    int32_t p = zd_graph_find_pool(dag->g, pool);
    if (p < 0)
        return fail(dag, ZDAG_ENOENT, "no pool named \"%s\"", pool ? pool : "(null)");
    n->pool = p;
    return 0;
}

int zdag_node_set_cpus(zdag_dag *dag, const char *node, double cpus) {
    FIND_OR_FAIL(n, dag, node);
    if (!(cpus >= 0))
        return fail(dag, ZDAG_EINVAL, "cpus must be a number >= 0");
    n->cpus = cpus;
    return 0;
}

int zdag_node_set_resource(zdag_dag *dag, const char *node, const char *name, double amount) {
    FIND_OR_FAIL(n, dag, node);
    if (!name || !*name || !(amount >= 0))
        return fail(dag, ZDAG_EINVAL, "a resource needs a name and an amount >= 0");
    for (size_t i = 0; i < n->n_resources; i++)
        if (strcmp(n->resources[i].name, name) == 0) {
            n->resources[i].amount = amount;
            return 0;
        }
    zd_amount *r = realloc(n->resources, (n->n_resources + 1) * sizeof *r);
    if (!r)
        return ZDAG_ENOMEM;
    n->resources = r;
    if (!(r[n->n_resources].name = strdup(name)))
        return ZDAG_ENOMEM;
    r[n->n_resources++].amount = amount;
    return 0;
}

int zdag_node_set_retries(zdag_dag *dag, const char *node, int retries) {
    FIND_OR_FAIL(n, dag, node);
    if (retries < 0)
        return fail(dag, ZDAG_EINVAL, "retries must be >= 0");
    n->retries = retries;
    return 0;
}

int zdag_node_set_timeout(zdag_dag *dag, const char *node, double seconds) {
    FIND_OR_FAIL(n, dag, node);
    if (!(seconds > 0))
        return fail(dag, ZDAG_EINVAL, "a timeout must be above 0 seconds");
    n->timeout = seconds;
    return 0;
}

int zdag_node_set_estimate(zdag_dag *dag, const char *node, double seconds) {
    FIND_OR_FAIL(n, dag, node);
    if (!(seconds >= 0))
        return fail(dag, ZDAG_EINVAL, "an estimate must be >= 0 seconds");
    n->estimate = seconds;
    return 0;
}

int zdag_node_set_env(zdag_dag *dag, const char *node, const char *key, const char *value) {
    FIND_OR_FAIL(n, dag, node);
    if (!key || !*key || strchr(key, '=') || !value)
        return fail(dag, ZDAG_EINVAL, "an environment variable needs a name without '='");
    zd_kv *kv = realloc(n->env, (n->n_env + 1) * sizeof *kv);
    if (!kv)
        return ZDAG_ENOMEM;
    n->env = kv;
    kv[n->n_env].key = strdup(key);
    kv[n->n_env].value = strdup(value);
    n->n_env++;
    return kv[n->n_env - 1].key && kv[n->n_env - 1].value ? 0 : ZDAG_ENOMEM;
}

int zdag_node_set_version(zdag_dag *dag, const char *node, const char *version) {
    FIND_OR_FAIL(n, dag, node);
    char *copy = NULL;
    if (version && !(copy = strdup(version)))
        return ZDAG_ENOMEM;
    free(n->version);
    n->version = copy;
    return 0;
}

int zdag_node_set_args(zdag_dag *dag, const char *node, const void *msgpack, size_t len) {
    FIND_OR_FAIL(n, dag, node);
    if (!msgpack || !zd_wire_well_formed(msgpack, len, ARGS_MAX_DEPTH))
        return fail(dag, ZDAG_EINVAL, "args must be exactly one packed msgpack value");
    char *copy = malloc(len);
    if (!copy)
        return ZDAG_ENOMEM;
    memcpy(copy, msgpack, len);
    free(n->args);
    n->args = copy;
    n->args_len = len;
    return 0;
}

void zdag_options_init_size(zdag_options *opts, size_t size) {
    if (!opts || size < sizeof opts->size)
        return;
    memset(opts, 0, size);
    opts->size = size;
}

/* Copies the caller's options into *out (this library's layout), defaults beyond in->size. */
static int take_options(zdag_dag *dag, const zdag_options *in, zdag_options *out) {
    zdag_options_init(out);
    if (!in)
        return 0;
    if (in->size < OPTIONS_MIN_SIZE)
        return fail(dag, ZDAG_EINVAL,
                    "zdag_options.size is %zu: set the options up with zdag_options_init()",
                    in->size);
    /* A newer program's fields that this library does not know of must be left unset. */
    for (size_t i = sizeof *out; i < in->size; i++)
        if (((const unsigned char *)in)[i] != 0)
            return fail(dag, ZDAG_EUNSUPPORTED,
                        "zdag_options sets a field unknown to libzdag %s (byte %zu of %zu)",
                        ZDAG_VERSION_STRING, i, in->size);
    memcpy(out, in, in->size < sizeof *out ? in->size : sizeof *out);
    out->size = sizeof *out;
    return 0;
}

/* The run's identity: opts->name, or this program's executable name. Returns 0 or fails. */
static int run_identity(zdag_dag *dag, const zdag_options *opts, char *out, size_t size) {
    const char *name = opts->name;
    char exe[PATH_MAX];
    if (name) {
        if (!*name || strlen(name) > NAME_MAX_LEN || strchr(name, '/'))
            return fail(dag, ZDAG_EINVAL,
                        "zdag_options.name must be 1 to %d bytes without '/' (got \"%s\")",
                        NAME_MAX_LEN, name);
    } else {
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len > 0) {
            exe[len] = '\0';
            /* A replaced executable reads "/path/prog (deleted)": the name is still "prog". */
            char *deleted = strstr(exe, " (deleted)");
            if (deleted && deleted[10] == '\0')
                *deleted = '\0';
            name = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
        } else {
            name = program_invocation_short_name;
        }
        if (!name || !*name)
            return fail(dag, ZDAG_EINVAL, "cannot tell this program's name: set zdag_options.name");
    }
    snprintf(out, size, "program:%.*s", NAME_MAX_LEN, name);
    return 0;
}

/* Finishes the graph and checks what only a whole DAG can show. */
static int check_dag(zdag_dag *dag) {
    uint32_t *cycle = NULL;
    size_t len = 0;
    int rc = zd_graph_finish(dag->g, &cycle, &len);
    if (rc == ZDAG_ECYCLE) {
        /* Start the path at the node declared first, as `zdag check` does. */
        size_t first = 0;
        for (size_t i = 1; i + 1 < len; i++)
            if (cycle[i] < cycle[first])
                first = i;
        size_t at = (size_t)snprintf(dag->error, sizeof dag->error, "cycle:");
        for (size_t k = 0; k < len && at < sizeof dag->error; k++) {
            uint32_t node = cycle[(first + k) % (len - 1)];
            at += (size_t)snprintf(dag->error + at, sizeof dag->error - at, "%s %s", k ? " ->" : "",
                                   zd_graph_node(dag->g, node)->name);
        }
        free(cycle);
        return rc;
    }
    if (rc < 0)
        return rc;
    bool plugins = zd_graph_settings_of(dag->g)->n_plugins > 0;
    for (uint32_t i = 0; i < zd_graph_size(dag->g); i++) {
        const zd_node *n = zd_graph_node(dag->g, i);
        bool known = n->kind != ZD_NODE_FN || plugins;
        for (size_t f = 0; !known && f < dag->n_fns; f++)
            known = strcmp(dag->fns[f].name, n->fn) == 0;
        if (!known)
            return fail(dag, ZDAG_ENOENT, "node \"%s\" calls \"%s\", which is not registered",
                        n->name, n->fn);
    }
    return 0;
}

static zdag_node_status status_of(zd_node_state s) {
    switch (s) {
    case ZD_NS_SUCCEEDED:
        return ZDAG_NODE_SUCCEEDED;
    case ZD_NS_FAILED:
        return ZDAG_NODE_FAILED;
    case ZD_NS_CACHED:
        return ZDAG_NODE_CACHED;
    case ZD_NS_EXCLUDED:
        return ZDAG_NODE_EXCLUDED;
    case ZD_NS_SKIPPED:
    case ZD_NS_WAITING: /* a finished run leaves none waiting, ready or running: */
    case ZD_NS_READY:   /* should one be, it did not run */
    case ZD_NS_RUNNING:
        break;
    }
    return ZDAG_NODE_SKIPPED;
}

const char *zdag_node_status_name(zdag_node_status status) {
    switch (status) {
    case ZDAG_NODE_SUCCEEDED:
        return zd_node_state_name(ZD_NS_SUCCEEDED);
    case ZDAG_NODE_FAILED:
        return zd_node_state_name(ZD_NS_FAILED);
    case ZDAG_NODE_SKIPPED:
        return zd_node_state_name(ZD_NS_SKIPPED);
    case ZDAG_NODE_CACHED:
        return zd_node_state_name(ZD_NS_CACHED);
    case ZDAG_NODE_EXCLUDED:
        return zd_node_state_name(ZD_NS_EXCLUDED);
    case ZDAG_NODE_UNKNOWN:
        break;
    }
    return "unknown";
}

/* Copies every node's outcome out of the coordinator before it is freed: the results kept
 * inline go into one buffer (`values`), a stored one is mapped. */
static void keep_outcomes(void *ctx, const zd_coord *c) {
    zdag_result *res = ctx;
    size_t used = 0, size = 0;
    for (uint32_t i = 0; i < res->n; i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        node_end *e = &res->nodes[i];
        e->status = status_of(o.state);
        e->attempts = o.attempts;
        e->error = o.error ? strdup(o.error) : NULL;
        e->is_msgpack = o.output_is_msgpack;
        if (o.output_hash) {
            /* A stored result is mapped from the store, whole, however large. */
            e->mapped = zd_store_map(zd_coord_store_dir(c), o.output_hash, o.output_size);
            e->value_len = e->mapped ? (size_t)o.output_size : 0;
            e->has_value = e->mapped != NULL;
            continue;
        }
        if (!o.output)
            continue;
        if (used + o.output_len + 1 > size) {
            size_t want = size ? size : 4096;
            while (want < used + o.output_len + 1)
                want *= 2;
            char *grown = realloc(res->values, want);
            if (!grown)
                continue; /* this value is missing (out of memory) */
            res->values = grown;
            size = want;
        }
        memcpy(res->values + used, o.output, o.output_len);
        res->values[used + o.output_len] = '\0';
        e->value_at = used;
        e->value_len = o.output_len;
        e->has_value = true;
        used += o.output_len + 1;
    }
    zd_run_summary s;
    zd_coord_summary(c, &s);
    res->exit_code = s.exit_code;
}

static zdag_result *new_result(const zd_graph *g) {
    zdag_result *res = calloc(1, sizeof *res);
    if (!res)
        return NULL;
    res->n = zd_graph_size(g);
    pthread_mutex_init(&res->index_lock, NULL);
    atomic_init(&res->index, NULL);
    size_t bytes = 0;
    for (uint32_t i = 0; i < res->n; i++)
        bytes += strlen(zd_graph_node(g, i)->name) + 1;
    res->nodes = calloc(res->n ? res->n : 1, sizeof *res->nodes);
    res->name_at = malloc((res->n ? res->n : 1) * sizeof *res->name_at);
    res->names = malloc(bytes ? bytes : 1);
    if (!res->nodes || !res->name_at || !res->names) {
        zdag_result_free(&res);
        return NULL;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < res->n; i++) {
        const char *name = zd_graph_node(g, i)->name;
        size_t len = strlen(name) + 1;
        memcpy(res->names + at, name, len);
        res->name_at[i] = at;
        at += len;
    }
    return res;
}

/* The keys a listening run needs (opts->listen set): none for ipc:// or with insecure, else
 * the coordinator's key pair and the authorized workers' keys. Fills o's listen fields (the
 * keys in keys, the set in *authorized: caller frees). Returns 0 or fails with the reason. */
static int take_listen(zdag_dag *dag, const zdag_options *opts, zd_run_opts *o,
                       char keys[2][ZD_CURVE_Z85_LEN + 1], zd_keyset **authorized) {
    o->listen = opts->listen;
    o->insecure = opts->insecure;
    bool tcp = strncmp(opts->listen, "tcp://", 6) == 0;
    if (!tcp || opts->insecure) {
        if (tcp)
            zd_logf(&o->log, ZDAG_LOG_WARNING,
                    "insecure: workers on %s are neither encrypted nor authenticated; anyone "
                    "who reaches the port can run this program's functions",
                    opts->listen);
        return 0;
    }
    /* Automatic workers bring their own keys: a pair and a set are made when not given. */
    if (!opts->slurm && (!opts->curve_secret || !opts->authorized_keys))
        return fail(dag, ZDAG_EINVAL,
                    "listen %s needs curve_secret and authorized_keys (see zdag keygen), or "
                    "insecure",
                    opts->listen);
    zd_diags d;
    zd_diags_init(&d);
    int rc =
        opts->curve_secret ? zd_curve_load_secret(opts->curve_secret, keys[0], keys[1], &d) : 0;
    if (rc == 0 && opts->authorized_keys &&
        !(*authorized = zd_keyset_load(opts->authorized_keys, &d)))
        rc = ZDAG_EINVAL;
    if (rc < 0)
        fail(dag, ZDAG_EINVAL, "%s", d.n ? d.lines[0] : "cannot load the CurveZMQ keys");
    zd_diags_clear(&d);
    o->curve_public = opts->curve_secret ? keys[0] : NULL;
    o->curve_secret = opts->curve_secret ? keys[1] : NULL;
    o->authorized = *authorized;
    return rc < 0 ? ZDAG_EINVAL : 0;
}

static int make_state_dir(zdag_dag *dag, const zd_run_opts *o) {
    if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST)
        return fail(dag, ZDAG_ESTATE, "cannot create %s: %s", o->state_dir, strerror(errno));
    return 0;
}

/* A mistake in the options of automatic workers: said in the log and by zdag_dag_error(). */
static int fail_logged(zdag_dag *dag, const zd_log *log, int rc, const char *why) {
    zd_logf(log, ZDAG_LOG_ERROR, "%s", why);
    return fail(dag, rc, "%s", why);
}

/* opts->slurm's options checked into aw. */
static int check_slurm(zdag_dag *dag, const zdag_options *opts, const zd_log *log,
                       zd_autow_setup *aw) {
    char why[512];
    if (opts->slurm_max_jobs < 0 || opts->slurm_max_jobs > 100000)
        snprintf(why, sizeof why, "slurm_max_jobs is %d: it takes 1 to 100000 (0 = 4)",
                 opts->slurm_max_jobs);
    else if (!(opts->slurm_idle >= 0) || opts->slurm_idle > 1e7 ||
             (opts->slurm_idle > 0 && opts->slurm_idle < 0.1))
        snprintf(why, sizeof why, "slurm_idle is %g: it takes seconds from 0.1 (0 = 60)",
                 opts->slurm_idle);
    else if (opts->slurm_worker && !opts->slurm_worker[0])
        snprintf(why, sizeof why, "slurm_worker is an empty command (NULL = zdag worker)");
    else if (zd_autow_setup_check(aw, opts->slurm, opts->slurm_max_jobs, opts->listen, why,
                                  sizeof why) == 0)
        return 0;
    return fail_logged(dag, log, ZDAG_EINVAL, why);
}

/* The run's automatic workers made (its directory, keys, job script's settings) into aw, and
 * given to o. */
static int prepare_slurm(zdag_dag *dag, const zdag_options *opts, zd_run_opts *o,
                         zd_keyset **authorized, zd_autow_setup *aw) {
    zd_autow_run r = {.state_dir = o->state_dir,
                      .listen = opts->listen,
                      .secure = strncmp(opts->listen, "tcp://", 6) == 0 && !opts->insecure,
                      .coord_public = o->curve_public,
                      .keys = authorized,
                      .idle_s = opts->slurm_idle,
                      .worker_argv = opts->slurm_worker};
    char why[512];
    if (make_state_dir(dag, o) < 0)
        return ZDAG_ESTATE;
    int rc = zd_autow_setup_prepare(aw, &r, why, sizeof why);
    if (rc < 0)
        return fail_logged(dag, &o->log, rc, why);
    if (r.secure) {
        if (!o->curve_public) { /* the run's own pair */
            o->curve_public = aw->pub;
            o->curve_secret = aw->sec;
        }
        o->authorized = *authorized;
    }
    o->auto_prov = &aw->prov;
    o->auto_slurm = &aw->cmds;
    return 0;
}

/* Runs the checked DAG with o (filled from opts) and hands back the result. */
static int run_checked(zdag_dag *dag, zd_run_opts *o, zdag_result **result) {
    if (make_state_dir(dag, o) < 0)
        return ZDAG_ESTATE;
    zdag_result *res = new_result(dag->g);
    if (!res)
        return ZDAG_ENOMEM;
    o->finished_ctx = res;
    res->exit_code = -1;
    zd_run_failure failure = {0};
    o->failure = &failure;
    (void)zd_runner_run(o, dag->g);
    if (res->exit_code < 0) {
        /* The coordinator never ran: the runner says why. */
        zdag_result_free(&res);
        return fail(dag, failure.code < 0 ? failure.code : ZDAG_ESTATE, "%s",
                    failure.why[0] ? failure.why : "the run could not start");
    }
    *result = res;
    return 0;
}

int zdag_run(zdag_dag *dag, const zdag_options *caller_opts, zdag_result **result) {
    zdag_options taken;
    const zdag_options *opts = &taken;
    char identity[NAME_MAX_LEN + 16];
    if (!dag || !result)
        return ZDAG_EINVAL;
    *result = NULL;
    dag->error[0] = '\0';
    int rc = take_options(dag, caller_opts, &taken);
    if (rc == 0)
        rc = run_identity(dag, opts, identity, sizeof identity);
    if (rc < 0)
        return rc;
    zd_run_opts o = {.pipeline = identity + strlen("program:"),
                     .jobs = opts->jobs,
                     .local_workers = opts->local_workers,
                     .cpus = opts->cpus,
                     .keep_going = opts->keep_going,
                     .state_dir = opts->state_dir ? opts->state_dir : ".zdag",
                     .report_path = opts->report_path,
                     .trace_path = opts->trace_path,
                     .quiet = opts->quiet,
                     .fns = dag->fns,
                     .n_fns = dag->n_fns,
                     .max_result = opts->max_result,
                     .finished = keep_outcomes,
                     .resume = opts->resume,
                     .pipeline_id = identity,
                     .log = {opts->log, opts->log_ctx}};
    if (opts->priority && zd_prio_mode_parse(opts->priority, &o.prio) < 0)
        return fail(dag, ZDAG_EINVAL, "unknown priority mode \"%s\"", opts->priority);
    zd_autow_setup aw = {0};
    char keys[2][ZD_CURVE_Z85_LEN + 1];
    zd_keyset *authorized = NULL;
    if (opts->slurm)
        rc = check_slurm(dag, opts, &o.log, &aw);
    if (rc == 0 && opts->local_workers < 0 && !opts->listen)
        rc = fail(dag, ZDAG_EINVAL, "local_workers < 0 (none) needs listen (remote workers)");
    if (rc == 0)
        rc = check_dag(dag);
    if (rc == 0 && opts->listen)
        rc = take_listen(dag, opts, &o, keys, &authorized);
    if (rc == 0 && opts->slurm)
        rc = prepare_slurm(dag, opts, &o, &authorized, &aw);
    if (rc == 0)
        rc = run_checked(dag, &o, result);
    zd_autow_setup_clear(&aw);
    zd_keyset_free(&authorized);
    return rc;
}
/* The map of names to nodes, made on the first lookup by name (a run whose results are read
 * by index, or not at all, never pays for it); NULL when out of memory. Thread-safe. */
static zd_strmap *name_index(const zdag_result *res) {
    zdag_result *r = (zdag_result *)res; /* the index is a cache: the result does not change */
    zd_strmap *m = atomic_load_explicit(&r->index, memory_order_acquire);
    if (m)
        return m;
    pthread_mutex_lock(&r->index_lock);
    m = atomic_load_explicit(&r->index, memory_order_relaxed);
    if (!m && (m = zd_strmap_new())) {
        for (size_t i = 0; m && i < r->n; i++) {
            const char *name = r->names + r->name_at[i];
            if (zd_strmap_put(m, name, strlen(name), (void *)(uintptr_t)(i + 1), NULL) < 0)
                zd_strmap_free(&m);
        }
        atomic_store_explicit(&r->index, m, memory_order_release);
    }
    pthread_mutex_unlock(&r->index_lock);
    return m;
}

/* The bytes of a node's result (it has one). */
static const char *value_of(const zdag_result *res, const node_end *e) {
    return e->mapped ? e->mapped : res->values + e->value_at;
}

static const node_end *lookup(const zdag_result *res, const char *node) {
    zd_strmap *m = res && node ? name_index(res) : NULL;
    uintptr_t i = m ? (uintptr_t)zd_strmap_get(m, node, strlen(node)) : 0;
    return i ? &res->nodes[i - 1] : NULL;
}

int zdag_result_exit_code(const zdag_result *result) {
    return result ? result->exit_code : -1;
}

zdag_node_status zdag_result_status(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->status : ZDAG_NODE_UNKNOWN;
}

size_t zdag_result_count(const zdag_result *result) {
    return result ? result->n : 0;
}

const char *zdag_result_node(const zdag_result *result, size_t i) {
    return result && i < result->n ? result->names + result->name_at[i] : NULL;
}

const char *zdag_result_error(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->error : NULL;
}

unsigned zdag_result_attempts(const zdag_result *result, const char *node) {
    const node_end *e = lookup(result, node);
    return e ? e->attempts : 0;
}

int zdag_result_value(const zdag_result *result, const char *node, const char **data, size_t *len,
                      bool *is_msgpack) {
    const node_end *e = lookup(result, node);
    if (!e || !e->has_value || !data || !len)
        return ZDAG_ENOENT;
    *data = value_of(result, e);
    *len = e->value_len;
    if (is_msgpack)
        *is_msgpack = e->is_msgpack;
    return 0;
}

int zdag_result_object(const zdag_result *result, const char *node, msgpack_zone *zone,
                       msgpack_object *obj) {
    const node_end *e = lookup(result, node);
    if (!e || !e->has_value || !zone || !obj)
        return ZDAG_ENOENT;
    if (!e->is_msgpack) {
        obj->type = MSGPACK_OBJECT_STR;
        obj->via.str.ptr = value_of(result, e);
        obj->via.str.size = (uint32_t)e->value_len;
        return 0;
    }
    size_t off = 0;
    return msgpack_unpack(value_of(result, e), e->value_len, &off, zone, obj) ==
                   MSGPACK_UNPACK_SUCCESS
               ? 0
               : ZDAG_EPROTO;
}

void zdag_result_free(zdag_result **resp) {
    if (!resp || !*resp)
        return;
    zdag_result *res = *resp;
    for (size_t i = 0; res->nodes && i < res->n; i++) {
        free(res->nodes[i].error);
        if (res->nodes[i].mapped)
            zd_store_unmap(res->nodes[i].mapped, res->nodes[i].value_len);
    }
    free(res->nodes);
    free(res->values);
    free(res->names);
    free(res->name_at);
    zd_strmap *m = atomic_load(&res->index);
    zd_strmap_free(&m);
    pthread_mutex_destroy(&res->index_lock);
    free(res);
    *resp = NULL;
}

int zdag_worker_run(zdag_dag *dag, const zdag_worker_options *opts) {
    return zd_worker_run(opts, dag ? dag->fns : NULL, dag ? dag->n_fns : 0);
}
