/* zdag run: options, pipeline, state directory, then the local runner (the part `zdag map`
 * shares is runargs.h). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "curve.h"
#include "diag.h"
#include "graph.h"
#include "options.h"
#include "pipeline.h"
#include "report.h"
#include "runargs.h"
#include "runner.h"
#include "select.h"

/* Parses a whole number in [min, max]; prints the error and returns false otherwise. */
static bool parse_int(const char *opt, const char *text, long min, long max, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "zdag: %s takes a whole number from %ld to %ld, not \"%s\"\n", opt, min,
                max, text);
        return false;
    }
    *out = (int)v;
    return true;
}

/* Appends name (borrowed) to list; prints the error and returns false when out of memory. */
static bool push_name(zd_name_list *list, const char *name) {
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        const char **v = realloc(list->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "zdag: out of memory\n");
            return false;
        }
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = name;
    return true;
}

/* Parses a number > 0 (CPU units may be fractional). */
static bool parse_number(const char *opt, const char *text, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v > 0) || v > 1e6) {
        fprintf(stderr, "zdag: %s takes a number above 0, not \"%s\"\n", opt, text);
        return false;
    }
    *out = v;
    return true;
}

void zd_run_args_init(zd_run_args *a) {
    *a = (zd_run_args){0};
    a->opts.prio = ZD_PRIO_CRITICAL_PATH;
    a->opts.log = (zd_log){zdag_log_stderr, NULL}; /* the one place that prints */
}

bool zd_run_args_option(zd_run_args *a, const zd_cli_option *o, const char *optval) {
    switch (o->id) {
    case ZD_OPT_JOBS:
        if (!parse_int("--jobs", optval, 1, 1000000, &a->opts.jobs))
            return false;
        break;
    case ZD_OPT_LOCAL_WORKERS:
        if (!parse_int("--local-workers", optval, 0, 4096, &a->opts.local_workers))
            return false;
        if (a->opts.local_workers == 0)
            a->opts.local_workers = -1; /* remote workers only */
        break;
    case ZD_OPT_IO_SLOTS:
        if (!parse_int("--io-slots", optval, 0, ZD_IO_SLOTS_MAX, &a->opts.io_slots))
            return false;
        if (a->opts.io_slots == 0)
            a->opts.io_slots = -1; /* none */
        break;
    case ZD_OPT_KEEP_GOING:
        a->opts.keep_going = true;
        break;
    case ZD_OPT_QUIET:
        a->quiet = true;
        break;
    case ZD_OPT_PRIORITY:
        if (zd_prio_mode_parse(optval, &a->opts.prio) < 0) {
            fprintf(stderr, "zdag: --priority is critical-path, compound or user, not \"%s\"\n",
                    optval);
            return false;
        }
        break;
    case ZD_OPT_STATE_DIR:
        a->state_dir = optval;
        break;
    case ZD_OPT_REPORT:
        a->opts.report_path = optval;
        break;
    case ZD_OPT_HTML:
        a->opts.html_path = optval;
        break;
    case ZD_OPT_RESULTS:
        a->opts.results_path = optval;
        break;
    case ZD_OPT_PROGRESS:
        a->force_progress = true;
        break;
    case ZD_OPT_HEARTBEAT: {
        double seconds;
        if (!parse_number("--heartbeat", optval, &seconds) || seconds < 0.01 || seconds > 3600) {
            fprintf(stderr, "zdag: --heartbeat takes seconds from 0.01 to 3600\n");
            return false;
        }
        a->opts.heartbeat_ms = (int)(seconds * 1000);
        break;
    }
    case ZD_OPT_CPUS:
        if (!parse_number("--cpus", optval, &a->opts.cpus))
            return false;
        break;
    case ZD_OPT_LISTEN:
        a->opts.listen = optval;
        break;
    case ZD_OPT_CURVE_SECRET:
        a->secret_file = optval;
        break;
    case ZD_OPT_AUTHORIZED_KEYS:
        a->keys_dir = optval;
        break;
    case ZD_OPT_INSECURE:
        a->opts.insecure = true;
        break;
    case ZD_OPT_RESUME:
        a->opts.resume = true;
        break;
    case ZD_OPT_TARGET:
        if (!push_name(&a->targets, optval))
            return false;
        break;
    case ZD_OPT_EXCLUDE:
        if (!push_name(&a->excludes, optval))
            return false;
        break;
    case ZD_OPT_FORCE:
        if (!optval)
            a->force_all = true;
        else if (!push_name(&a->forces, optval))
            return false;
        break;
    case ZD_OPT_METRICS:
        a->opts.metrics_addr = optval;
        break;
    case ZD_OPT_TRACE:
        a->opts.trace_path = optval;
        break;
    case ZD_OPT_SLURM:
    case ZD_OPT_SLURM_MAX_JOBS:
    case ZD_OPT_SLURM_IDLE:
        return zd_slurm_args_option(a, o->id, optval);
    default: /* --help (main() answered it), or another command's option */
        break;
    }
    return true;
}

bool zd_run_args_check(zd_run_args *a) {
    if (a->opts.local_workers < 0 && !a->opts.listen) {
        fprintf(stderr, "zdag: --local-workers 0 leaves only remote workers: it needs --listen\n");
        return false;
    }
    return zd_slurm_args_check(a);
}

/* zdag run's command line: options, then FILE. */
static bool parse_args(int argc, char **argv, zd_run_args *a, const char **file) {
    const zd_cli_command *cmd = zd_cli_command_find("run");
    const zd_cli_option *o;
    const char *optval;
    bool started = false, bad;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &optval, &bad)))
        if (!zd_run_args_option(a, o, optval))
            return false;
    if (bad)
        return false;
    int first = zd_cli_operands();
    if (first != argc - 1) {
        fprintf(stderr, "usage: zdag run FILE [options] (see zdag run --help)\n");
        return false;
    }
    *file = argv[first];
    return zd_run_args_check(a);
}

/* The state directory: --state-dir, or default_dir; created if needed. Prints the problem
 * (also written to why) and returns -1 when it cannot be used. */
static int prepare_state_dir(const zd_run_args *a, const char *default_dir, char *out, size_t size,
                             char *why, size_t why_size) {
    snprintf(out, size, "%s", a->state_dir ? a->state_dir : default_dir);
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        snprintf(why, why_size, "cannot create the state directory %s: %s", out, strerror(errno));
    else if (access(out, W_OK | X_OK) != 0)
        snprintf(why, why_size, "cannot write to the state directory %s: %s", out, strerror(errno));
    else
        return 0;
    fprintf(stderr, "zdag: %s\n", why);
    return -1;
}

/* The --listen check never binds the endpoint itself. A socket listening there, however
 * briefly, takes the connection of a worker that tries at that moment and drops it as it
 * closes: a plain worker's JOIN is lost with it (it waits 5 s for a WELCOME), a keyed one is
 * hung up on (as by a coordinator with another key). So a tcp endpoint is tried with a port
 * the kernel picks (`*`: the address is what can be wrong; its port is checked here as a
 * number, where libzmq would take "70000" for 4464), and an ipc path is checked as text, its
 * directory being there. Whether the port or the path is free, the run's own bind says (exit
 * 3). Other transports are tried as given: zdag's workers connect over tcp or ipc.
 *
 * Returns why the endpoint is wrong as written, or NULL; sets probe to what to bind to see
 * whether libzmq can ("" for nothing). */
static const char *check_endpoint(const char *endpoint, char *probe, size_t size) {
    const char *colon = strrchr(endpoint, ':');
    probe[0] = '\0';
    if (strncmp(endpoint, "tcp://", 6) == 0 && colon > endpoint + 6) {
        const char *port = colon + 1;
        size_t digits = strspn(port, "0123456789");
        if (strcmp(port, "*") != 0 &&
            (digits == 0 || digits > 5 || port[digits] != '\0' || strtol(port, NULL, 10) > 65535))
            return "its port is not a number from 1 to 65535 (or *)";
        snprintf(probe, size, "%.*s:*", (int)(colon - endpoint), endpoint);
        return NULL;
    }
    if (strncmp(endpoint, "ipc://", 6) != 0) {
        snprintf(probe, size, "%s", endpoint);
        return NULL;
    }
    const char *path = endpoint + 6, *why = NULL;
    struct sockaddr_un un;
    struct stat st;
    char *dir = strdup(path);
    if (!*path || strcmp(path, "@") == 0)
        why = "no path";
    else if (strlen(path) >= sizeof un.sun_path)
        why = "the path is longer than an ipc socket's";
    else if (!dir)
        why = "out of memory";
    else if (path[0] != '@' && strcmp(path, "*") != 0 &&
             (stat(dirname(dir), &st) != 0 || !S_ISDIR(st.st_mode)))
        why = "its directory is not there";
    free(dir);
    return why;
}

/* Checks --listen before the run (see check_endpoint()): an endpoint that is wrong as written
 * is invalid usage, said before anything starts. A throwaway socket is closed (its context
 * terminated) before the run binds. */
static bool listen_endpoint_ok(const char *endpoint) {
    char probe[PATH_MAX + 64];
    const char *why = check_endpoint(endpoint, probe, sizeof probe);
    void *ctx = !why && probe[0] ? zmq_ctx_new() : NULL;
    void *s = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int linger = 0;
    if (!why && probe[0] && !(s && zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0))
        why = "cannot try it";
    else if (!why && probe[0] && zmq_bind(s, probe) != 0)
        why = zmq_errno() == EPROTONOSUPPORT ? "not a transport zdag can listen on"
                                             : zmq_strerror(zmq_errno());
    if (why)
        fprintf(stderr, "zdag: --listen %s: %s (e.g. tcp://0.0.0.0:7700 or ipc:///PATH)\n",
                endpoint, why);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return !why;
}

/* Security of --listen: CurveZMQ keys for tcp, or a loud --insecure. */
static bool prepare_listen(zd_run_args *a) {
    if (!a->opts.listen)
        return true;
    bool tcp = strncmp(a->opts.listen, "tcp://", 6) == 0;
    if (a->opts.insecure) {
        if (tcp)
            fprintf(stderr,
                    "zdag: WARNING: --insecure: workers on %s are neither encrypted nor "
                    "authenticated; anyone who reaches the port can run commands\n",
                    a->opts.listen);
        return true;
    }
    bool slurm = a->slurm && a->slurm->options; /* the run makes what is not given */
    if (!slurm && (!a->secret_file || !a->keys_dir)) {
        fprintf(stderr,
                "zdag: --listen %s needs --curve-secret FILE and --authorized-keys DIR "
                "(see zdag keygen), or --insecure\n",
                a->opts.listen);
        return false;
    }
    zd_diags d;
    zd_diags_init(&d);
    bool ok = (!a->secret_file || zd_curve_load_secret(a->secret_file, a->pub, a->sec, &d) == 0) &&
              (!a->keys_dir || (a->keys = zd_keyset_load(a->keys_dir, &d)) != NULL);
    if (!a->keys_dir) { /* --slurm: only its workers */
        zd_diags_print(&d, stderr);
        zd_diags_clear(&d);
        a->opts.curve_public = a->secret_file ? a->pub : NULL;
        a->opts.curve_secret = a->secret_file ? a->sec : NULL;
        return ok;
    }
    zd_diags_print(&d, stderr);
    zd_diags_clear(&d);
    if (ok && zd_keyset_size(a->keys) == 0)
        fprintf(stderr, "zdag: warning: %s holds no *.pub keys: no worker can join\n", a->keys_dir);
    a->opts.curve_public = a->pub;
    a->opts.curve_secret = a->sec;
    a->opts.authorized = a->keys;
    return ok;
}

/* `zdag run` has no functions of its own: a fn node needs a plugin to come from, or (with
 * remote workers only) workers that are programs serving their own functions. */
static bool fn_nodes_have_plugins(const zd_graph *g, const bool *active, const zd_run_opts *o) {
    bool ok = true;
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    if (o->listen && o->local_workers < 0)
        return true;
    for (uint32_t i = 0; gs->n_plugins == 0 && i < zd_graph_size(g); i++) {
        const zd_node *n = zd_graph_node(g, i);
        if (n->kind == ZD_NODE_FN && (!active || active[i])) {
            fprintf(stderr,
                    "%s:%d:%d: error: node \"%s\" calls function \"%s\", but the pipeline "
                    "lists no plugins to find it in (or run with -w 0 --listen and workers "
                    "that serve it)\n",
                    gs->path, n->line, n->col, n->name, n->fn);
            ok = false;
        }
    }
    return ok;
}

/* Applies --target/--exclude: stores a new mask in *active (caller frees), or leaves it NULL
 * when neither was given (every node runs). Prints the errors and returns false. */
static bool select_nodes(const zd_run_args *a, const zd_graph *g, bool **active) {
    *active = NULL;
    if (a->targets.n == 0 && a->excludes.n == 0)
        return true;
    size_t n = zd_graph_size(g);
    bool *mask = malloc((n ? n : 1) * sizeof *mask);
    if (!mask) {
        fprintf(stderr, "zdag: out of memory\n");
        return false;
    }
    zd_diags diags;
    zd_diags_init(&diags);
    int rc = zd_select(g, a->targets.v, a->targets.n, a->excludes.v, a->excludes.n, mask, &diags);
    zd_diags_print(&diags, stderr);
    zd_diags_clear(&diags);
    if (rc < 0) {
        if (rc == ZDAG_ENOMEM)
            fprintf(stderr, "zdag: out of memory\n");
        free(mask);
        return false;
    }
    *active = mask;
    return true;
}

/* --force: stores in *forced (caller frees) which nodes run even when up to date, NULL when
 * none. A name that is neither a node nor a tag is invalid usage (printed; false). */
static bool forced_nodes(const zd_run_args *a, const zd_graph *g, bool **forced) {
    *forced = NULL;
    if (!a->force_all && a->forces.n == 0)
        return true;
    size_t n = zd_graph_size(g);
    bool *mask = calloc(n ? n : 1, sizeof *mask);
    if (!mask) {
        fprintf(stderr, "zdag: out of memory\n");
        return false;
    }
    zd_diags diags;
    zd_diags_init(&diags);
    int rc =
        a->forces.n ? zd_select_named(g, a->forces.v, a->forces.n, "--force", mask, &diags) : 0;
    zd_diags_print(&diags, stderr);
    zd_diags_clear(&diags);
    if (rc == ZDAG_ENOMEM)
        fprintf(stderr, "zdag: out of memory\n");
    for (uint32_t i = 0; rc == 0 && a->force_all && i < n; i++)
        mask[i] = true;
    if (rc < 0) {
        free(mask);
        return false;
    }
    *forced = mask;
    return true;
}

int zd_run_args_run(zd_run_args *a, zd_graph *g, const char *pipeline, const char *pipeline_id,
                    const char *default_state_dir) {
    /* A reader of stdout that goes away (`zdag run --progress | head -c1`) must not kill the
     * run: writes fail with EPIPE instead, and the progress line stops drawing. Commands get
     * the default disposition back (worker/proc.c resets every signal before exec). */
    signal(SIGPIPE, SIG_IGN);
    int status = ZD_EXIT_USAGE;
    bool *active = NULL, *forced = NULL;
    char why[PATH_MAX + 256] = "the run could not start";
    bool ran = false;
    char state_dir[PATH_MAX];
    if (!select_nodes(a, g, &active) || !fn_nodes_have_plugins(g, active, &a->opts) ||
        !forced_nodes(a, g, &forced))
        goto out;
    a->opts.forced = forced;
    if (!prepare_listen(a))
        goto out;
    if (a->opts.listen && !listen_endpoint_ok(a->opts.listen)) {
        snprintf(why, sizeof why, "cannot listen on %s", a->opts.listen);
        goto out;
    }
    /* Before the first node: a mistake in an output path is said now, not after the run. */
    if (zd_runner_check_outputs(&a->opts, why, sizeof why) < 0) {
        fprintf(stderr, "zdag: %s\n", why);
        goto out;
    }
    status = ZD_EXIT_CANNOT_RUN;
    if (prepare_state_dir(a, default_state_dir, state_dir, sizeof state_dir, why, sizeof why) < 0)
        goto out;
    if (!zd_slurm_args_prepare(a, state_dir)) {
        snprintf(why, sizeof why, "automatic workers could not be prepared (--slurm)");
        goto out;
    }
    a->opts.pipeline = pipeline;
    a->opts.pipeline_id = pipeline_id;
    a->opts.state_dir = state_dir;
    a->opts.active = active;
    /* Progress goes to stdout: on a terminal by default, elsewhere only when asked for. */
    a->opts.progress_tty = isatty(STDOUT_FILENO);
    a->opts.progress = !a->quiet && (a->force_progress || a->opts.progress_tty);
    a->opts.quiet = a->quiet;
    if (a->opts.jobs == 0)
        a->opts.jobs = zd_graph_settings_of(g)->max_concurrency;
    status = zd_runner_run(&a->opts, g); /* writes the report on every path of its own */
    ran = true;
out:
    /* Every run that cannot start writes --report (and --html): here, those that never reached the
     * runner. Invalid usage or an invalid pipeline (exit 2) is not a run: no report. */
    if (!ran && status == ZD_EXIT_CANNOT_RUN && a->opts.report_path &&
        zd_report_write_error(a->opts.report_path, pipeline, g, active, status, why) < 0)
        fprintf(stderr, "zdag: cannot write the report %s: %s\n", a->opts.report_path,
                strerror(errno));
    if (!ran && status == ZD_EXIT_CANNOT_RUN && a->opts.html_path &&
        zd_report_write_error_html(a->opts.html_path, pipeline, g, active, status, why) < 0)
        fprintf(stderr, "zdag: cannot write the HTML timeline %s: %s\n", a->opts.html_path,
                strerror(errno));
    free(active);
    free(forced);
    a->opts.active = NULL;
    a->opts.forced = NULL;
    return status;
}

void zd_run_args_clear(zd_run_args *a) {
    zd_slurm_args_clear(a);
    zd_keyset_free(&a->keys);
    free(a->targets.v);
    free(a->excludes.v);
    free(a->forces.v);
    a->targets = a->excludes = a->forces = (zd_name_list){0};
}

int zd_cli_run(int argc, char **argv) {
    zd_run_args a;
    zd_run_args_init(&a);
    const char *file = NULL;
    zd_graph *g = NULL;
    int status = ZD_EXIT_USAGE;
    if (!parse_args(argc, argv, &a, &file))
        goto out;
    zd_diags diags;
    zd_diags_init(&diags);
    int rc = zd_pipeline_load(file, &g, &diags);
    zd_diags_print(&diags, stderr);
    zd_diags_clear(&diags);
    if (rc < 0)
        goto out;
    /* The state directory defaults to .zdag/ beside the pipeline file. */
    char *copy = strdup(file), *real = realpath(file, NULL);
    char state_dir[PATH_MAX];
    if (!copy) {
        fprintf(stderr, "zdag: out of memory\n");
        status = ZD_EXIT_CANNOT_RUN;
    } else {
        snprintf(state_dir, sizeof state_dir, "%s/.zdag", dirname(copy));
        status = zd_run_args_run(&a, g, file, real ? real : file, state_dir);
    }
    free(copy);
    free(real);
out:
    zd_run_args_clear(&a);
    zd_graph_free(&g);
    return status;
}
