/* libzdag's public API: building a DAG in code and running it (its results: result.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
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
#include "result.h"
#include "runner.h"
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
    zdag_result *res = zd_result_new(dag->g);
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
                     .finished = zd_result_keep_outcomes,
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
int zdag_worker_run(zdag_dag *dag, const zdag_worker_options *opts) {
    return zd_worker_run(opts, dag ? dag->fns : NULL, dag ? dag->n_fns : 0);
}
