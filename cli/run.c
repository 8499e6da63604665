/* zdag run: options, pipeline, state directory, then the local runner. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "graph.h"
#include "pipeline.h"
#include "runner.h"

typedef struct run_args {
    const char *file;      /* pipeline file */
    zd_run_opts opts;      /* what the runner needs */
    const char *state_dir; /* --state-dir, or NULL for the default */
    const char *listen;    /* --listen (not available yet) */
    const char *trace;     /* --trace (not available yet) */
    bool resume;           /* --resume (not available yet) */
    int n_targets;         /* --target count (not available yet) */
    int n_excludes;        /* --exclude count (not available yet) */
} run_args;

enum {
    OPT_CPUS = 256,
    OPT_LISTEN,
    OPT_CURVE_SECRET,
    OPT_AUTHORIZED_KEYS,
    OPT_INSECURE,
    OPT_PRIORITY,
    OPT_RESUME,
    OPT_STATE_DIR,
    OPT_TARGET,
    OPT_EXCLUDE,
    OPT_REPORT,
    OPT_TRACE,
    OPT_RESULTS,
    OPT_PROGRESS,
    OPT_HEARTBEAT,
};

static const struct option long_opts[] = {
    {"jobs", required_argument, NULL, 'j'},
    {"local-workers", required_argument, NULL, 'w'},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"curve-secret", required_argument, NULL, OPT_CURVE_SECRET},
    {"authorized-keys", required_argument, NULL, OPT_AUTHORIZED_KEYS},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"keep-going", no_argument, NULL, 'k'},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"target", required_argument, NULL, OPT_TARGET},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"report", required_argument, NULL, OPT_REPORT},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"results", required_argument, NULL, OPT_RESULTS},
    {"quiet", no_argument, NULL, 'q'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {NULL, 0, NULL, 0},
};

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

static bool not_yet(const char *opt) {
    fprintf(stderr, "zdag: %s is not available in this version yet\n", opt);
    return false;
}

static bool parse_args(int argc, char **argv, run_args *a) {
    int c, unused;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "j:w:kq", long_opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (!parse_int("--jobs", optarg, 1, 1000000, &a->opts.jobs))
                return false;
            break;
        case 'w':
            if (!parse_int("--local-workers", optarg, 0, 4096, &a->opts.local_workers))
                return false;
            if (a->opts.local_workers == 0)
                return not_yet("--local-workers 0 (remote workers only)");
            break;
        case 'k':
            a->opts.keep_going = true;
            break;
        case 'q':
            a->opts.quiet = true;
            break;
        case OPT_PRIORITY:
            if (zd_prio_mode_parse(optarg, &a->opts.prio) < 0) {
                fprintf(stderr, "zdag: --priority is critical-path, compound or user, not \"%s\"\n",
                        optarg);
                return false;
            }
            break;
        case OPT_STATE_DIR:
            a->state_dir = optarg;
            break;
        case OPT_REPORT:
            a->opts.report_path = optarg;
            break;
        case OPT_RESULTS:
            a->opts.results_path = optarg;
            break;
        case OPT_PROGRESS:
            break; /* no progress display yet: nothing to force */
        case OPT_HEARTBEAT:
            if (!parse_int("--heartbeat", optarg, 1, 3600, &unused))
                return false;
            break;
        case OPT_CPUS:
            return not_yet("--cpus");
        case OPT_LISTEN:
            return not_yet("--listen");
        case OPT_CURVE_SECRET:
            return not_yet("--curve-secret");
        case OPT_AUTHORIZED_KEYS:
            return not_yet("--authorized-keys");
        case OPT_INSECURE:
            return not_yet("--insecure");
        case OPT_RESUME:
            return not_yet("--resume");
        case OPT_TARGET:
            return not_yet("--target");
        case OPT_EXCLUDE:
            return not_yet("--exclude");
        case OPT_TRACE:
            return not_yet("--trace");
        default:
            return false; /* getopt printed the problem */
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: zdag run FILE [options] (see zdag run --help)\n");
        return false;
    }
    a->file = argv[optind];
    return true;
}

/* The state directory: --state-dir, or .zdag/ beside the pipeline file; created if needed. */
static int prepare_state_dir(const run_args *a, char *out, size_t size) {
    if (a->state_dir) {
        snprintf(out, size, "%s", a->state_dir);
    } else {
        char *copy = strdup(a->file);
        if (!copy)
            return -1;
        snprintf(out, size, "%s/.zdag", dirname(copy));
        free(copy);
    }
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "zdag: cannot create the state directory %s: %s\n", out, strerror(errno));
        return -1;
    }
    if (access(out, W_OK | X_OK) != 0) {
        fprintf(stderr, "zdag: cannot write to the state directory %s: %s\n", out, strerror(errno));
        return -1;
    }
    return 0;
}

/* Function nodes need the C library's registry or plugins, which this version cannot run. */
static bool refuse_fn_nodes(const zd_graph *g) {
    bool ok = true;
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        const zd_node *n = zd_graph_node(g, i);
        if (n->kind == ZD_NODE_FN) {
            fprintf(stderr,
                    "%s:%d:%d: error: node \"%s\" is a function node (fn: %s); this "
                    "version runs cmd nodes only\n",
                    zd_graph_settings_of((zd_graph *)g)->path, n->line, n->col, n->name, n->fn);
            ok = false;
        }
    }
    return ok;
}

int zd_cli_run(int argc, char **argv) {
    run_args a = {0};
    a.opts.prio = ZD_PRIO_CRITICAL_PATH;
    if (!parse_args(argc, argv, &a))
        return ZD_EXIT_USAGE;
    zd_diags diags;
    zd_diags_init(&diags);
    zd_graph *g = NULL;
    int rc = zd_pipeline_load(a.file, &g, &diags);
    zd_diags_print(&diags, stderr);
    zd_diags_clear(&diags);
    if (rc < 0)
        return ZD_EXIT_USAGE;
    int status = ZD_EXIT_USAGE;
    char state_dir[PATH_MAX];
    if (!refuse_fn_nodes(g))
        goto out_free;
    status = ZD_EXIT_CANNOT_RUN;
    if (prepare_state_dir(&a, state_dir, sizeof state_dir) < 0)
        goto out_free;
    a.opts.pipeline = a.file;
    a.opts.state_dir = state_dir;
    if (a.opts.jobs == 0)
        a.opts.jobs = zd_graph_settings_of(g)->max_concurrency;
    status = zd_runner_run(&a.opts, g);
out_free:
    zd_graph_free(&g);
    return status;
}
