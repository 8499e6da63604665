/* zdag map: GNU parallel's one-liner (COMMAND ::: ARG...) as a graph of independent nodes, run
 * by zdag run's machinery; each job's output printed whole as it ends, a joblog, parallel's
 * exit status. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "coord.h"
#include "runargs.h"
#include "store.h"

#define MAP_EXIT_OTHER 255      /* GNU parallel's "other error" */
#define MAP_EXIT_MAX_FAILED 101 /* more failed jobs than 100 */

/* The arguments, one job each. */
typedef struct arg_list {
    char **v;   /* owned strings */
    size_t n;   /* entries */
    size_t cap; /* allocated entries */
} arg_list;

/* What the run's `ended` hook needs. */
typedef struct map_run {
    const arg_list *args; /* job i (0-based) has args->v[i] */
    char **commands;      /* job i's command line (owned) */
    bool keep_order;      /* --keep-order */
    FILE *joblog;         /* --joblog, or NULL */
    struct timespec t0;   /* wall clock when the run was started, for the joblog */
    char **held;          /* --keep-order: output of jobs that ended before an earlier one */
    size_t *held_len;     /* bytes in held[i] */
    bool *ended;          /* per job: it has ended */
    size_t next;          /* --keep-order: the first job not printed yet */
    size_t failed;        /* jobs failed */
} map_run;

static bool push_arg(arg_list *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strndup(s, len)))
        return false;
    l->n++;
    return true;
}

/* Appends every line of f (a trailing '\r' kept, as GNU parallel does; empty lines too). */
static bool read_lines(FILE *f, arg_list *l) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        ok = push_arg(l, line, (size_t)n);
    }
    free(line);
    return ok && !ferror(f);
}

/* A growable string. */
typedef struct text {
    char *s;
    size_t n, cap;
    bool oom;
} text;

static void put(text *t, const char *s, size_t len) {
    if (t->oom)
        return;
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->n + len + 1)
            cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, len);
    t->n += len;
    t->s[t->n] = '\0';
}

/* Appends s[0..len) quoted for /bin/sh when it holds anything but safe characters. */
static void put_quoted(text *t, const char *s, size_t len) {
    bool safe = len > 0;
    for (size_t i = 0; i < len && safe; i++)
        safe = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+,:=@%-",
                      s[i]) != NULL &&
               s[i] != '\0';
    if (safe) {
        put(t, s, len);
        return;
    }
    put(t, "'", 1);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\'')
            put(t, "'\\''", 4);
        else
            put(t, s + i, 1);
    put(t, "'", 1);
}

/* The parts of an argument GNU parallel's replacement strings name. */
static void put_replacement(text *t, const char *which, const char *arg, size_t seq) {
    size_t len = strlen(arg);
    const char *slash = strrchr(arg, '/');
    const char *base = slash ? slash + 1 : arg;
    const char *dot = strrchr(base, '.'); /* the extension: from the last dot of the base name
                                             (".hidden" is all extension, as in parallel) */
    size_t base_len = strlen(base);
    if (strcmp(which, "{}") == 0)
        put_quoted(t, arg, len);
    else if (strcmp(which, "{.}") == 0)
        put_quoted(t, arg, dot ? (size_t)(dot - arg) : len);
    else if (strcmp(which, "{/}") == 0)
        put_quoted(t, base, base_len);
    else if (strcmp(which, "{//}") == 0)
        put_quoted(t, slash ? arg : ".", slash ? (size_t)(slash - arg) : 1);
    else if (strcmp(which, "{/.}") == 0)
        put_quoted(t, base, dot ? (size_t)(dot - base) : base_len);
    else { /* {#} */
        char num[32];
        put(t, num, (size_t)snprintf(num, sizeof num, "%zu", seq));
    }
}

/* COMMAND with each replacement string of job seq (1-based) filled in; without any, the
 * argument appended. NULL when out of memory. */
static char *command_for(const char *command, const char *arg, size_t seq) {
    static const char *const names[] = {"{//}", "{/.}", "{}", "{.}", "{/}", "{#}"};
    text t = {0};
    bool replaced = false;
    for (const char *p = command; *p;) {
        const char *name = NULL;
        for (size_t i = 0; *p == '{' && !name && i < sizeof names / sizeof names[0]; i++)
            if (strncmp(p, names[i], strlen(names[i])) == 0)
                name = names[i];
        if (name) {
            put_replacement(&t, name, arg, seq);
            p += strlen(name);
            replaced = true;
        } else
            put(&t, p++, 1);
    }
    if (!replaced) {
        put(&t, " ", 1);
        put_quoted(&t, arg, strlen(arg));
    }
    if (t.oom) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

/* What every job gets: --retries, --timeout. */
typedef struct job_settings {
    int retries;    /* extra attempts */
    double timeout; /* seconds per attempt; 0 = none */
} job_settings;

/* One graph node per argument, named job1, job2, ... in argument order. */
static int make_graph(const arg_list *args, char **commands, const job_settings *js,
                      zd_graph **out) {
    zd_graph *g = zd_graph_new();
    int rc = g ? 0 : ZDAG_ENOMEM;
    for (size_t i = 0; rc == 0 && i < args->n; i++) {
        char name[32];
        uint32_t index;
        snprintf(name, sizeof name, "job%zu", i + 1);
        if ((rc = zd_graph_add_node(g, name, &index)) < 0)
            break;
        zd_node *n = zd_graph_node(g, index);
        n->retries = js->retries;
        n->timeout = js->timeout;
        if (!(n->shell = strdup(commands[i])))
            rc = ZDAG_ENOMEM;
    }
    if (rc == 0)
        rc = zd_graph_finish(g, NULL, NULL);
    if (rc < 0)
        zd_graph_free(&g);
    *out = g;
    return rc;
}

/* Writes a job's output to stdout whole (a reader that went away is not an error here). */
static void print_output(const char *data, size_t len) {
    if (len) {
        fwrite(data, 1, len, stdout);
        fflush(stdout);
    }
}

/* GNU parallel's joblog line: Seq Host Starttime JobRuntime Send Receive Exitval Signal
 * Command, tab-separated. */
static void write_joblog(map_run *m, size_t i, const zd_node_outcome *o) {
    double t0 = (double)m->t0.tv_sec + (double)m->t0.tv_nsec / 1e9;
    double start = o->start_s >= 0 ? t0 + o->start_s : t0;
    double runtime = o->start_s >= 0 && o->end_s >= o->start_s ? o->end_s - o->start_s : 0;
    int exitval = o->has_exit_code ? o->exit_code : (o->state == ZD_NS_SUCCEEDED ? 0 : -1);
    int signal = 0;
    /* A command killed by a signal: worker/proc.c's exit code is 128 + the signal and its
     * error says so; parallel's joblog gives exit value 0 and the signal then. */
    if (o->error && sscanf(o->error, "killed by signal %d", &signal) == 1)
        exitval = 0;
    fprintf(m->joblog, "%zu\t%s\t%.3f\t%.3f\t0\t%llu\t%d\t%d\t%s\n", i + 1, o->host ? o->host : ":",
            start, runtime, (unsigned long long)(o->state == ZD_NS_SUCCEEDED ? o->output_size : 0),
            exitval, signal, m->commands[i]);
    fflush(m->joblog);
}

/* Prints job i's held output (if any) and lets it go. */
static void flush_held(map_run *m, size_t i) {
    print_output(m->held[i], m->held_len[i]);
    free(m->held[i]);
    m->held[i] = NULL;
    m->held_len[i] = 0;
}

/* The run's `ended` hook: prints the job's output (now, or in argument order) and logs it. */
static void job_ended(void *ctx, const zd_coord *c, uint32_t index) {
    map_run *m = ctx;
    zd_node_outcome o;
    zd_coord_outcome(c, index, &o);
    bool ok = o.state == ZD_NS_SUCCEEDED;
    m->failed += !ok;
    const char *data = o.output;
    size_t len = o.output_len;
    const char *mapped = NULL;
    if (ok && o.output_hash && o.output_size > 0 &&
        (mapped = zd_store_map(zd_coord_store_dir(c), o.output_hash, o.output_size))) {
        data = mapped;
        len = (size_t)o.output_size;
    }
    if (!ok)
        len = 0;
    if (m->joblog)
        write_joblog(m, index, &o);
    m->ended[index] = true;
    if (!m->keep_order || index == m->next)
        print_output(data, len);
    else if (len && (m->held[index] = malloc(len))) {
        memcpy(m->held[index], data, len);
        m->held_len[index] = len;
    } else if (len)
        print_output(data, len); /* out of memory: out of order rather than lost */
    while (m->keep_order && m->next < m->args->n && m->ended[m->next])
        flush_held(m, m->next++);
    if (mapped)
        zd_store_unmap(mapped, o.output_size);
}

/* Where the options before COMMAND end: the first word that is not an option or an option's
 * argument ("--" ends them too, and is skipped). */
static int options_end(const zd_cli_command *cmd, int argc, char **argv, int *command_at) {
    int i = 1;
    while (i < argc) {
        const char *w = argv[i];
        if (strcmp(w, "--") == 0) {
            *command_at = i + 1;
            return i;
        }
        if (w[0] != '-' || w[1] == '\0')
            break;
        const zd_cli_option *o = NULL;
        bool inline_value = false;
        for (size_t k = 0; k < cmd->n_opts && !o; k++) {
            const zd_cli_option *r = &cmd->opts[k];
            size_t n = strlen(r->name);
            if (w[1] == '-' && strncmp(w + 2, r->name, n) == 0 && (!w[2 + n] || w[2 + n] == '='))
                o = r, inline_value = w[2 + n] == '=';
            else if (w[1] != '-' && r->short_name == w[1])
                o = r, inline_value = w[2] != '\0';
        }
        i += o && o->arg && !inline_value ? 2 : 1;
    }
    *command_at = i < argc ? i : argc;
    return *command_at;
}

static void free_args(arg_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The arguments after COMMAND: `::: ARG...`, `:::: FILE...`, or stdin's lines. */
static bool collect_args(int argc, char **argv, int sep, arg_list *args) {
    if (sep == argc)
        return read_lines(stdin, args) || (fprintf(stderr, "zdag map: cannot read stdin\n"), false);
    bool files = strcmp(argv[sep], "::::") == 0;
    for (int i = sep + 1; i < argc; i++) {
        if (strcmp(argv[i], ":::") == 0 || strcmp(argv[i], "::::") == 0) {
            fprintf(stderr, "zdag map: one argument source only (a second %s at word %d)\n",
                    argv[i], i + 1);
            return false;
        }
        if (!files) {
            if (!push_arg(args, argv[i], strlen(argv[i]))) {
                fprintf(stderr, "zdag map: out of memory\n");
                return false;
            }
            continue;
        }
        FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (!f) {
            fprintf(stderr, "zdag map: cannot read %s: %s\n", argv[i], strerror(errno));
            return false;
        }
        bool ok = read_lines(f, args);
        if (f != stdin)
            fclose(f);
        if (!ok) {
            fprintf(stderr, "zdag map: cannot read %s\n", argv[i]);
            return false;
        }
    }
    return true;
}

/* The exit status of GNU parallel from zdag run's. */
static int map_status(int run_status, size_t failed) {
    if (run_status == ZD_EXIT_OK)
        return 0;
    if (run_status == ZD_EXIT_FAILED && failed > 0)
        return failed > 100 ? MAP_EXIT_MAX_FAILED : (int)failed;
    if (run_status == 130 || run_status == 143)
        return run_status;
    return MAP_EXIT_OTHER;
}

int zd_cli_map(int argc, char **argv) {
    const zd_cli_command *cmd = zd_cli_command_find("map");
    zd_run_args a;
    zd_run_args_init(&a);
    a.opts.keep_going = true; /* as GNU parallel: every job runs */
    map_run m = {0};
    arg_list args = {0};
    zd_graph *g = NULL;
    int status = MAP_EXIT_OTHER;
    const char *joblog = NULL;
    job_settings js = {0};

    int command_at;
    int opts_end = options_end(cmd, argc, argv, &command_at);
    bool started = false, bad;
    const char *optval;
    const zd_cli_option *o;
    while ((o = zd_cli_next(cmd, opts_end, argv, &started, &optval, &bad))) {
        if (o->id == ZD_OPT_HELP) {
            status = zd_cli_help("map");
            goto out;
        } else if (o->id == ZD_OPT_KEEP_ORDER)
            m.keep_order = true;
        else if (o->id == ZD_OPT_JOBLOG)
            joblog = optval;
        else if (o->id == ZD_OPT_RETRIES || o->id == ZD_OPT_TIMEOUT) {
            char *end = NULL;
            errno = 0;
            double v = strtod(optval, &end);
            bool whole = o->id == ZD_OPT_RETRIES;
            if (errno || end == optval || *end || v < 0 || (whole && (v != (int)v || v > 1000)) ||
                (!whole && (v <= 0 || v > 1e9))) {
                fprintf(stderr, "zdag map: --%s takes %s, not \"%s\"\n", o->name,
                        whole ? "a whole number from 0 to 1000" : "seconds above 0", optval);
                goto out;
            }
            if (whole)
                js.retries = (int)v;
            else
                js.timeout = v;
        } else if (!zd_run_args_option(&a, o, optval))
            goto out;
    }
    if (bad || zd_cli_operands() != opts_end || !zd_run_args_check(&a))
        goto out;
    int sep = command_at;
    while (sep < argc && strcmp(argv[sep], ":::") != 0 && strcmp(argv[sep], "::::") != 0)
        sep++;
    if (sep == command_at) {
        fprintf(stderr, "usage: zdag map [options] COMMAND ::: ARG... (see zdag map --help)\n");
        goto out;
    }
    text command = {0};
    for (int i = command_at; i < sep; i++) {
        if (i > command_at)
            put(&command, " ", 1);
        put(&command, argv[i], strlen(argv[i]));
    }
    if (command.oom || !collect_args(argc, argv, sep, &args)) {
        free(command.s);
        goto out;
    }
    m.args = &args;
    m.commands = calloc(args.n ? args.n : 1, sizeof *m.commands);
    m.held = calloc(args.n ? args.n : 1, sizeof *m.held);
    m.held_len = calloc(args.n ? args.n : 1, sizeof *m.held_len);
    m.ended = calloc(args.n ? args.n : 1, sizeof *m.ended);
    bool oom = !m.commands || !m.held || !m.held_len || !m.ended;
    for (size_t i = 0; !oom && i < args.n; i++)
        oom = !(m.commands[i] = command_for(command.s, args.v[i], i + 1));
    free(command.s);
    if (oom || make_graph(&args, m.commands, &js, &g) < 0) {
        fprintf(stderr, "zdag map: out of memory\n");
        goto out;
    }
    if (joblog && !(m.joblog = fopen(joblog, "w"))) {
        fprintf(stderr, "zdag map: cannot write --joblog %s: %s\n", joblog, strerror(errno));
        goto out;
    }
    if (m.joblog)
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
              m.joblog);
    /* As GNU parallel: nothing but the jobs' output on stdout unless --progress is asked for. */
    a.quiet |= !a.force_progress;
    a.opts.ended = job_ended;
    a.opts.ended_ctx = &m;
    clock_gettime(CLOCK_REALTIME, &m.t0);
    char cwd[PATH_MAX], id[PATH_MAX + 16];
    snprintf(id, sizeof id, "%s/zdag map", getcwd(cwd, sizeof cwd) ? cwd : ".");
    int run_status = zd_run_args_run(&a, g, "zdag map", id, ".zdag");
    status = map_status(run_status, m.failed);
    /* Jobs that never ended (interrupted, or restored by --resume) hold back nothing more. */
    for (size_t i = 0; m.keep_order && i < args.n; i++)
        flush_held(&m, i);
out:
    if (m.joblog && fclose(m.joblog) != 0) {
        fprintf(stderr, "zdag map: cannot write --joblog %s: %s\n", joblog, strerror(errno));
        status = MAP_EXIT_OTHER;
    }
    for (size_t i = 0; i < args.n; i++) {
        if (m.commands)
            free(m.commands[i]);
        if (m.held)
            free(m.held[i]);
    }
    free(m.commands);
    free(m.held);
    free(m.held_len);
    free(m.ended);
    free_args(&args);
    zd_graph_free(&g);
    zd_run_args_clear(&a);
    return status;
}
