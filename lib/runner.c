/* Local wiring: a private runtime directory, forked executors, the coordinator. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "defhash.h"
#include "definitions.h"
#include "diag.h"
#include "executor.h"
#include "journal.h"
#include "resume.h"
#include "statedir.h"
#include "store.h"
#include "uptodate.h"
#include "xset.h"
#include "report.h"
#include "rlimits.h"

typedef struct local_host {
    zd_fn_table fns;    /* functions and plugins the executors may call */
    char dir[256];      /* private runtime directory (mode 0700) */
    char endpoint[300]; /* ipc:// endpoint inside dir */
    char host_id[64];   /* this host's name */
    zd_xset *xs;        /* the local executors */
    pid_t *pids;        /* their pids at start, for the coordinator */
    uint32_t n;         /* slots */
    int gate[2];        /* the first executors connect once gate[1] is closed, or -1 */
} local_host;

/* Closes the gate's write end: the coordinator listens (see zd_executor_cfg.gated). */
static void open_gate(local_host *h) {
    if (h->gate[1] >= 0)
        close(h->gate[1]);
    h->gate[1] = -1;
}

static int spawn_executor(void *ctx, uint32_t slot, pid_t *pid) {
    return zd_xset_spawn(((local_host *)ctx)->xs, slot, pid);
}

/* A killed executor cannot kill its command: do it for it, group and all. */
static uint64_t executor_reaped(void *ctx, uint32_t slot) {
    zd_xset_orphans(((local_host *)ctx)->xs, slot);
    return zd_xset_started(((local_host *)ctx)->xs, slot);
}

/* The most nodes of g (active ones) that can ever run at once, an upper bound: no two nodes of
 * one dependency path run together, so at most all nodes off the longest path plus one of it
 * (n - L + 1, L the longest path's nodes), and never more than the nodes taking part. */
static uint32_t width_bound(const zd_graph *g, const bool *active) {
    size_t n = zd_graph_size(g), taking_part = 0;
    for (size_t i = 0; i < n && zd_graph_runtime_fans(g); i++)
        if ((!active || active[i]) && zd_graph_fan_source(g, (uint32_t)i) >= 0)
            return UINT32_MAX; /* its instances are known only during the run */
    const uint32_t *topo = zd_graph_topo(g);
    uint32_t *depth = calloc(n ? n : 1, sizeof *depth);
    if (!topo || !depth) {
        free(depth);
        return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    }
    uint32_t longest = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t i = topo[k];
        const zd_node *node = zd_graph_node(g, i);
        uint32_t d = 0;
        for (size_t e = 0; e < node->n_deps; e++)
            if (depth[node->deps[e]] > d)
                d = depth[node->deps[e]];
        depth[i] = d + 1;
        if (depth[i] > longest)
            longest = depth[i];
        taking_part += !active || active[i];
    }
    free(depth);
    size_t bound = n - longest + 1;
    if (taking_part < bound)
        bound = taking_part;
    return bound > UINT32_MAX ? UINT32_MAX : (uint32_t)bound;
}

/* Creates a directory only this user can enter, for the ipc socket and scratch files. */
static int make_runtime_dir(local_host *h) {
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || access(base, W_OK) != 0)
        base = getenv("TMPDIR");
    if (!base || access(base, W_OK) != 0)
        base = "/tmp";
    /* ipc paths are limited to ~107 bytes: fall back to /tmp for long base paths. */
    if (strlen(base) > 60)
        base = "/tmp";
    zd_runtime_sweep(base);
    snprintf(h->dir, sizeof h->dir, "%s/zdag-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(h->dir))
        return ZDAG_ESYS;
    snprintf(h->endpoint, sizeof h->endpoint, "ipc://%s/coord", h->dir);
    return 0;
}

static void make_run_id(char *out, size_t size) {
    unsigned char raw[8] = {0};
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        uint64_t v = (uint64_t)getpid() ^ (uint64_t)time(NULL) << 20;
        memcpy(raw, &v, sizeof raw);
    }
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < size; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static void log_summary(const zd_log *log, const zd_graph *g, const zd_coord *c) {
    uint32_t counts[8] = {0};
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        zd_node_outcome o;
        zd_coord_outcome(c, i, &o);
        counts[o.state]++;
        if (o.state == ZD_NS_FAILED)
            zd_logf(log, ZDAG_LOG_ERROR, "node \"%s\" failed: %s", zd_graph_node(g, i)->name,
                    o.error ? o.error : "unknown error");
    }
    zd_run_summary s;
    zd_coord_summary(c, &s);
    char cached[32] = "", excluded[32] = "";
    if (counts[ZD_NS_CACHED])
        snprintf(cached, sizeof cached, ", %u cached", counts[ZD_NS_CACHED]);
    if (counts[ZD_NS_EXCLUDED])
        snprintf(excluded, sizeof excluded, ", %u excluded", counts[ZD_NS_EXCLUDED]);
    zd_logf(log, ZDAG_LOG_INFO, "%s: %u succeeded, %u failed, %u skipped%s%s in %.3f s", s.status,
            counts[ZD_NS_SUCCEEDED], counts[ZD_NS_FAILED], counts[ZD_NS_SKIPPED], cached, excluded,
            s.wall_s);
}

static void log_diags(const zd_log *log, const zd_diags *d) {
    for (size_t i = 0; i < d->n; i++)
        zd_logf(log, ZDAG_LOG_ERROR, "%s", d->lines[i]);
}

/* A run that cannot start: logs why (unless logged: its details went out already), writes the
 * report saying so, fills o->failure. Returns the exit status. */
static int cannot_start(const zd_run_opts *o, const zd_graph *g, int code, int status, bool logged,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int cannot_start(const zd_run_opts *o, const zd_graph *g, int code, int status, bool logged,
                        const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!logged)
        zd_logf(&o->log, ZDAG_LOG_ERROR, "%s", why);
    if (o->report_path &&
        zd_report_write_error(o->report_path, o->pipeline, g, o->active, status, why) < 0)
        zd_logf(&o->log, ZDAG_LOG_ERROR, "cannot write the report %s: %s", o->report_path,
                strerror(errno));
    if (o->html_path &&
        zd_report_write_error_html(o->html_path, o->pipeline, g, o->active, status, why) < 0)
        zd_logf(&o->log, ZDAG_LOG_ERROR, "cannot write the HTML timeline %s: %s", o->html_path,
                strerror(errno));
    if (o->failure) {
        o->failure->code = code;
        snprintf(o->failure->why, sizeof o->failure->why, "%s", why);
    }
    return status;
}

/* Blocks the signals the coordinator reads from its signalfd. Blocked before the ZeroMQ
 * context exists, so that its I/O threads inherit the mask and never take them. */
static int block_signals(sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

typedef struct journal_run {
    zd_journal *journal;   /* STATE_DIR/journal, locked */
    uint8_t (*hashes)[32]; /* per node: definition hash */
    bool *cached;          /* per node: unchanged and succeeded before */
    bool *fresh;           /* per node: its declared outputs are up to date */
    bool *skip;            /* per node: not run (cached with --resume, or fresh) */
    bool any_skip;         /* some skip[i] is true (else the coordinator needs no cached
                              results: a run of 1M nodes keeps its memory) */
    double *durations;     /* per node: median recorded duration, 0 = none */
} journal_run;

/* Opens (and locks) the journal, hashes every node's definition, reads the duration history,
 * and with --resume decides which nodes are cached. Logs the problem, writes it to why and
 * returns < 0 when the state directory cannot be used. */
static int open_journal(const zd_run_opts *o, const zd_graph *g, journal_run *jr, char *why,
                        size_t size) {
    size_t n = zd_graph_size(g);
    zd_diags d;
    zd_diags_init(&d);
    int rc = zd_journal_open(o->state_dir, o->pipeline_id ? o->pipeline_id : o->pipeline, g,
                             &jr->journal, &d);
    log_diags(&o->log, &d);
    snprintf(why, size, "%s", d.n ? d.lines[0] : "the state directory is unusable");
    zd_diags_clear(&d);
    if (rc < 0)
        return rc;
    snprintf(why, size, "out of memory");
    jr->hashes = calloc(n ? n : 1, sizeof *jr->hashes);
    jr->cached = calloc(n ? n : 1, sizeof *jr->cached);
    jr->durations = calloc(n ? n : 1, sizeof *jr->durations);
    jr->fresh = calloc(n ? n : 1, sizeof *jr->fresh);
    jr->skip = calloc(n ? n : 1, sizeof *jr->skip);
    if (!jr->hashes || !jr->cached || !jr->durations || !jr->fresh || !jr->skip ||
        zd_definitions_hash(g, o->fns, o->n_fns, &o->log, jr->hashes) < 0 ||
        zd_resume_plan(jr->journal, g, jr->hashes, jr->cached) < 0 ||
        zd_uptodate_plan(g, jr->cached, o->forced, jr->fresh) < 0)
        return ZDAG_ENOMEM;
    jr->any_skip = false;
    for (uint32_t i = 0; i < n; i++)
        jr->any_skip |= jr->skip[i] = jr->fresh[i] || (o->resume && jr->cached[i]);
    for (uint32_t i = 0; i < n; i++)
        jr->durations[i] = zd_journal_median_duration(jr->journal, zd_graph_node(g, i)->name);
    return 0;
}

/* Writes the report and results, prints the summary, hands the outcomes to the caller. */
static int finish(const zd_run_opts *o, const zd_graph *g, zd_coord *c, int status) {
    zd_run_summary sum;
    zd_coord_summary(c, &sum);
    if (o->report_path && zd_report_write(o->report_path, o->pipeline, g, c, sum.error) < 0) {
        zd_logf(&o->log, ZDAG_LOG_ERROR, "cannot write the report %s: %s", o->report_path,
                strerror(errno));
        status = status ? status : 3;
    }
    if (o->html_path && zd_report_write_html(o->html_path, o->pipeline, g, c, sum.error) < 0) {
        zd_logf(&o->log, ZDAG_LOG_ERROR, "cannot write the HTML timeline %s: %s", o->html_path,
                strerror(errno));
        status = status ? status : 3;
    }
    if (o->results_path && zd_results_write(o->results_path, g, c) < 0) {
        zd_logf(&o->log, ZDAG_LOG_ERROR, "cannot write the results %s: %s", o->results_path,
                strerror(errno));
        status = status ? status : 3;
    }
    if (!o->quiet)
        log_summary(&o->log, g, c);
    if (o->finished)
        o->finished(o->finished_ctx, c);
    return status;
}

/* Checks one output path (see zd_runner_check_outputs()). */
static int check_output(const char *what, const char *path, char *why, size_t size) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(why, size, "cannot write the %s %s: it is a directory", what, path);
        return ZDAG_EINVAL;
    }
    char *copy = strdup(path);
    if (!copy) {
        snprintf(why, size, "out of memory");
        return ZDAG_ENOMEM;
    }
    const char *dir = dirname(copy);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.zdag-probe.XXXXXX", dir);
    int fd = mkstemp(probe);
    int rc = 0;
    if (fd < 0) {
        snprintf(why, size, "cannot write the %s %s: its directory %s: %s", what, path, dir,
                 strerror(errno));
        rc = ZDAG_EINVAL;
    } else {
        close(fd);
        unlink(probe);
    }
    free(copy);
    return rc;
}

int zd_runner_check_outputs(const zd_run_opts *o, char *why, size_t size) {
    int rc = 0;
    if (o->report_path && (rc = check_output("report", o->report_path, why, size)) < 0)
        return rc;
    if (o->html_path && (rc = check_output("HTML timeline", o->html_path, why, size)) < 0)
        return rc;
    if (o->trace_path && (rc = check_output("trace", o->trace_path, why, size)) < 0)
        return rc;
    if (o->results_path && (rc = check_output("results", o->results_path, why, size)) < 0)
        return rc;
    return 0;
}

int zd_runner_run(const zd_run_opts *o, zd_graph *g) {
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    local_host h = {.fns = {.entries = o->fns,
                            .n = o->n_fns,
                            .plugins = gs->plugins,
                            .n_plugins = gs->n_plugins},
                    .gate = {-1, -1}};
    zd_coord *c = NULL;
    zd_coord_local *local = NULL; /* the executors' endpoint, bound early */
    journal_run jr = {0};
    int status = 3, sfd = -1;
    sigset_t old_mask;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    h.n = (uint32_t)(o->local_workers > 0 ? o->local_workers : o->local_workers < 0 ? 0 : cores);
    /* No more executors than could ever be busy at once: -j, and the pipeline's width. */
    uint32_t width = width_bound(g, o->active);
    if (o->jobs > 0 && (uint32_t)o->jobs < width)
        width = (uint32_t)o->jobs;
    if (h.n > width)
        h.n = width > 0 ? width : 1;
    /* IO-bound nodes are not held by the executors forked for the cores: more are started on
     * demand (none without local executors). */
    long io = o->io_slots > 0 ? o->io_slots : o->io_slots < 0 ? 0 : ZD_IO_SLOTS_PER_CORE * cores;
    uint32_t n_io = h.n == 0 ? 0 : (uint32_t)(io > ZD_IO_SLOTS_MAX ? ZD_IO_SLOTS_MAX : io);
    double cpus = o->cpus > 0 ? o->cpus : (double)cores;
    if (gethostname(h.host_id, sizeof h.host_id) < 0)
        snprintf(h.host_id, sizeof h.host_id, "localhost");
    h.host_id[sizeof h.host_id - 1] = '\0';
    char why[512];
    if (zd_runner_check_outputs(o, why, sizeof why) < 0) {
        /* Not a run: nothing started. The report still says why, when it can be written. */
        zd_run_opts unreported = *o;
        char scratch[8];
        if (o->report_path && check_output("report", o->report_path, scratch, sizeof scratch) < 0)
            unreported.report_path = NULL;
        if (o->html_path &&
            check_output("HTML timeline", o->html_path, scratch, sizeof scratch) < 0)
            unreported.html_path = NULL;
        return cannot_start(&unreported, g, ZDAG_EINVAL, 2, false, "%s", why);
    }
    /* With --listen, bigger hosts may still join: a node too big for this one waits. */
    int misfits = o->listen ? 0 : zd_coord_check_fit(g, o->active, h.host_id, cpus, &o->log);
    if (misfits != 0)
        return misfits > 0 ? cannot_start(o, g, ZDAG_EINVAL, 2, true,
                                          "a node needs more than this host offers")
                           : cannot_start(o, g, ZDAG_ENOMEM, 3, false, "out of memory");
    char log_dir[4096], store_dir[4096], status_path[4096], run_id[17] = {0};
    snprintf(log_dir, sizeof log_dir, "%s/logs", o->state_dir);
    snprintf(store_dir, sizeof store_dir, "%s/" ZD_STATE_RESULTS, o->state_dir);
    snprintf(status_path, sizeof status_path, "%s/" ZD_STATE_STATUS, o->state_dir);
    /* The state directory and its logs/ are 0700 (older versions made them 0755). */
    zd_diags sd;
    zd_diags_init(&sd);
    if (zd_statedir_prepare(o->state_dir, &sd) < 0) {
        const char *line = sd.n ? sd.lines[0] : "the state directory is unusable";
        const char *prefix = "zdag: error: "; /* the diagnostic's; the log sink adds its own */
        snprintf(why, sizeof why, "%s",
                 strncmp(line, prefix, strlen(prefix)) ? line : line + strlen(prefix));
        zd_diags_clear(&sd);
        return cannot_start(o, g, ZDAG_ESTATE, 3, false, "%s", why);
    }
    zd_diags_clear(&sd);
    /* Before anything is forked or opened: a missing descriptor or thread is a message now,
     * not a libzmq abort later. */
    zd_rlimit_raise_nofile();
    if (zd_rlimit_check_run(h.n, o->listen != NULL, NULL, why, sizeof why) < 0)
        return cannot_start(o, g, ZDAG_ESYS, 3, false, "%s", why);
    make_run_id(run_id, sizeof run_id);
    if (make_runtime_dir(&h) < 0)
        return cannot_start(o, g, ZDAG_ESYS, 3, false, "cannot create a runtime directory: %s",
                            strerror(errno));
    zd_executor_cfg base = {.endpoint = h.endpoint,
                            .host_id = h.host_id,
                            .fns = &h.fns,
                            .max_result = o->max_result,
                            .log = o->log};
    if (!(h.xs = zd_xset_new(h.n + n_io, &base, h.dir)) ||
        !(h.pids = calloc(h.n + n_io ? h.n + n_io : 1, sizeof *h.pids))) {
        status = cannot_start(o, g, ZDAG_ENOMEM, 3, false, "out of memory");
        goto out_rmdir;
    }
    if ((sfd = block_signals(&old_mask)) < 0) {
        status =
            cannot_start(o, g, ZDAG_ESYS, 3, false, "cannot watch signals: %s", strerror(errno));
        goto out_rmdir;
    }
    /* The executors come up while the coordinator gets ready, and connect once it listens. */
    if (h.n > 0 && pipe2(h.gate, O_CLOEXEC) < 0) {
        status =
            cannot_start(o, g, ZDAG_ESYS, 3, false, "cannot create a pipe: %s", strerror(errno));
        goto out_kill;
    }
    for (uint32_t s = 0; s < h.n; s++)
        if (zd_xset_spawn_gated(h.xs, s, h.gate[0], &h.pids[s]) < 0) {
            status = cannot_start(o, g, ZDAG_ESYS, 3, false, "cannot fork an executor: %s",
                                  strerror(errno));
            goto out_kill;
        }
    if (h.gate[0] >= 0)
        close(h.gate[0]);
    h.gate[0] = -1;
    /* Bound before the journal is opened: the executors connect meanwhile. A failure is the
     * coordinator's to report (it tries again). */
    if (h.n + n_io > 0 && zd_coord_local_bind(h.endpoint, &o->log, &local) < 0)
        local = NULL;
    open_gate(&h);
    /* The journal's lock is taken after the executors are forked, so that none holds it. */
    if (open_journal(o, g, &jr, why, sizeof why) < 0) {
        status = cannot_start(o, g, ZDAG_ESTATE, 3, true, "%s", why);
        goto out_kill;
    }
    /* Under the lock: another run's temporary files are not ours to remove. */
    if (zd_store_prepare(store_dir) < 0) {
        status = cannot_start(o, g, ZDAG_ESTATE, 3, true, "cannot create %s: %s", store_dir,
                              strerror(errno));
        goto out_kill;
    }
    zd_coord_cfg cfg = {.core = {.n_local = h.n + n_io,
                                 .n_started = h.n,
                                 .jobs = o->jobs,
                                 .prio = o->prio,
                                 .keep_going = o->keep_going,
                                 .active = o->active,
                                 .log_dir = log_dir,
                                 .run_id = run_id,
                                 .host_id = h.host_id,
                                 .local_cpus = cpus,
                                 .heartbeat_s = o->heartbeat_ms > 0 ? o->heartbeat_ms / 1000.0 : 0,
                                 .durations = jr.durations,
                                 .store_dir = store_dir,
                                 .max_result = o->max_result,
                                 .log = o->log},
                        .endpoint = h.endpoint,
                        .local = local,
                        .local_pids = h.pids,
                        .spawn = spawn_executor,
                        .reaped = executor_reaped,
                        .spawn_ctx = &h,
                        .signal_fd = sfd,
                        .trace_path = o->trace_path,
                        .metrics_addr = o->metrics_addr,
                        .progress = o->progress,
                        .progress_tty = o->progress_tty,
                        .listen = o->listen,
                        .curve_public = o->curve_public,
                        .curve_secret = o->curve_secret,
                        .authorized = o->authorized,
                        .insecure = o->insecure,
                        .journal = jr.journal,
                        .store_dir = store_dir,
                        .defhash = jr.hashes,
                        .cached = jr.any_skip ? jr.skip : NULL,
                        .up_to_date = jr.fresh,
                        .resume = o->resume,
                        .status_path = status_path,
                        .pipeline = o->pipeline,
                        .ended = o->ended,
                        .ended_ctx = o->ended_ctx,
                        .auto_prov = o->auto_prov,
                        .auto_slurm = o->auto_slurm};
    int crc = zd_coord_new(&cfg, g, &c);
    if (crc == 0)
        local = NULL; /* the coordinator's now */
    if (crc < 0) {
        /* Anything but memory (an old result that cannot move into the store) was logged. */
        status = cannot_start(o, g, crc, 3, crc != ZDAG_ENOMEM, "cannot start the coordinator: %s",
                              zdag_strerror(crc));
        goto out_kill;
    }
    status = finish(o, g, c, zd_coord_run(c));
    zd_coord_free(&c);
out_kill:
    zd_coord_local_free(&local);
    open_gate(&h);
    if (h.gate[0] >= 0)
        close(h.gate[0]);
    zd_xset_stop(h.xs, SIGKILL, 0); /* normally all gone already */
    zd_journal_close(&jr.journal);
    free(jr.hashes);
    free(jr.cached);
    free(jr.fresh);
    free(jr.skip);
    free(jr.durations);
    /* A signal still pending belongs to the run (a second Ctrl-C, one during the report): it
     * must not kill the process now that the mask is restored, before it returns its status. */
    struct signalfd_siginfo si;
    while (sfd >= 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
    close(sfd);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
out_rmdir:
    zd_xset_free(&h.xs);
    free(h.pids);
    zd_rmtree(h.dir);
    /* Also what killed agents and coordinators left beside ours during the run. */
    char *parent = strdup(h.dir);
    char *slash = parent ? strrchr(parent, '/') : NULL;
    if (slash) {
        *slash = '\0';
        zd_runtime_sweep(parent);
    }
    free(parent);
    return status;
}
