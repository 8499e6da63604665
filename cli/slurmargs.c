/* zdag run --slurm: the options of automatic workers, and what a run makes for them before it
 * starts (its own keys, the endpoint its workers connect to). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curve.h"
#include "diag.h"
#include "runargs.h"
#include "xset.h"

#define DEFAULT_MAX_JOBS 4
#define DEFAULT_IDLE_S 60.0

static zd_slurm_args *slurm_of(zd_run_args *a) {
    if (!a->slurm && !(a->slurm = calloc(1, sizeof *a->slurm)))
        fprintf(stderr, "zdag: out of memory\n");
    return a->slurm;
}

bool zd_slurm_args_option(zd_run_args *a, zd_opt_id id, const char *optval) {
    zd_slurm_args *s = slurm_of(a);
    if (!s)
        return false;
    char *end = NULL;
    errno = 0;
    if (id == ZD_OPT_SLURM) {
        s->options = optval;
    } else if (id == ZD_OPT_SLURM_MAX_JOBS) {
        long v = strtol(optval, &end, 10);
        if (errno || end == optval || *end || v < 1 || v > 100000) {
            fprintf(stderr,
                    "zdag: --slurm-max-jobs takes a whole number from 1 to 100000, not "
                    "\"%s\"\n",
                    optval);
            return false;
        }
        s->max_jobs = (int)v;
    } else if (id == ZD_OPT_SLURM_IDLE) {
        double v = strtod(optval, &end);
        if (errno || end == optval || *end || !(v >= 0.1) || v > 1e7) {
            fprintf(stderr, "zdag: --slurm-idle takes seconds from 0.1, not \"%s\"\n", optval);
            return false;
        }
        s->idle_s = v;
    }
    return true;
}

bool zd_slurm_args_check(zd_run_args *a) {
    zd_slurm_args *s = a->slurm;
    if (!s)
        return true;
    if (!s->options) {
        fprintf(stderr, "zdag: --slurm-max-jobs and --slurm-idle go with --slurm\n");
        return false;
    }
    if (!a->opts.listen) {
        fprintf(stderr, "zdag: --slurm needs --listen (e.g. --listen tcp://0.0.0.0:7700): the "
                        "worker jobs connect back to it\n");
        return false;
    }
    char why[256];
    if (zd_slurm_split(s->options, &s->words, &s->n_words, why, sizeof why) < 0) {
        fprintf(stderr, "zdag: %s: %s\n", why, s->options);
        return false;
    }
    double cpus, mem;
    if (!zd_slurm_size((const char *const *)s->words, s->n_words, &cpus, &mem, s->size_text,
                       sizeof s->size_text, why, sizeof why)) {
        fprintf(stderr, "zdag: %s\n", why);
        return false;
    }
    s->prov = (zd_prov_cfg){.max_jobs = (uint32_t)(s->max_jobs ? s->max_jobs : DEFAULT_MAX_JOBS),
                            .cpus = cpus,
                            .mem_mb = mem,
                            .size_text = s->size_text[0] ? s->size_text : NULL};
    return true;
}

/* Removes the directories STATE_DIR/slurm-PID of runs no longer alive. */
static void sweep(const char *state_dir) {
    DIR *d = opendir(state_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end = NULL;
        if (strncmp(e->d_name, "slurm-", 6) != 0)
            continue;
        long pid = strtol(e->d_name + 6, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", state_dir, e->d_name);
        zd_rmtree(path);
    }
    if (d)
        closedir(d);
}

/* The endpoint workers connect to: --listen's, with a wildcard host (0.0.0.0, *, [::])
 * replaced by this host's name. */
static void worker_endpoint(const char *listen, char *out, size_t size) {
    const char *host = strstr(listen, "://");
    host = host ? host + 3 : listen;
    const char *colon = strrchr(host, ':');
    size_t hl = colon ? (size_t)(colon - host) : strlen(host);
    bool wild = strncmp(listen, "tcp://", 6) == 0 &&
                ((hl == 7 && strncmp(host, "0.0.0.0", 7) == 0) || (hl == 1 && host[0] == '*') ||
                 (hl == 4 && strncmp(host, "[::]", 4) == 0));
    char name[256] = "localhost";
    if (wild && gethostname(name, sizeof name - 1) == 0 && colon)
        snprintf(out, size, "tcp://%s%s", name, colon);
    else
        snprintf(out, size, "%s", listen);
}

/* Writes the coordinator's public key as a NAME.pub file. */
static bool write_pub(const char *path, const char *pub) {
    FILE *f = fopen(path, "wx");
    bool ok = f && fprintf(f, "%s\n", pub) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "zdag: cannot write %s: %s\n", path, strerror(errno));
    return ok;
}

/* A key pair DIR/NAME.key, .pub made with zdag keygen's code; prints why it cannot be. */
static bool keygen(const char *dir, const char *name) {
    char base[PATH_MAX + 64];
    snprintf(base, sizeof base, "%s/%s", dir, name);
    zd_diags d;
    zd_diags_init(&d);
    bool ok = zd_curve_keygen(base, &d) == 0;
    zd_diags_print(&d, stderr);
    zd_diags_clear(&d);
    return ok;
}

/* The run's keys in s->dir; the workers' public key admitted. */
static bool make_keys(zd_run_args *a, zd_slurm_args *s) {
    if (!keygen(s->dir, "worker"))
        return false;
    if (!a->secret_file) { /* the coordinator's own pair, for this run */
        char path[PATH_MAX + 64];
        if (!keygen(s->dir, "coord"))
            return false;
        snprintf(path, sizeof path, "%s/coord.key", s->dir);
        zd_diags d;
        zd_diags_init(&d);
        bool ok = zd_curve_load_secret(path, a->pub, a->sec, &d) == 0;
        zd_diags_print(&d, stderr);
        zd_diags_clear(&d);
        if (!ok)
            return false;
        a->opts.curve_public = a->pub;
        a->opts.curve_secret = a->sec;
    } else if (!write_pub(s->coord_pub, a->pub)) {
        return false;
    }
    char pub[ZD_CURVE_Z85_LEN + 1], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/worker.pub", s->dir);
    zd_diags d;
    zd_diags_init(&d);
    bool ok = zd_curve_load_public(path, pub, &d) == 0;
    zd_diags_print(&d, stderr);
    zd_diags_clear(&d);
    if (ok && !a->keys && !(a->keys = zd_keyset_new()))
        ok = false;
    if (ok && zd_keyset_add(a->keys, pub, "slurm worker (this run)") < 0)
        ok = false;
    a->opts.authorized = a->keys;
    return ok;
}

bool zd_slurm_args_prepare(zd_run_args *a, const char *state_dir) {
    zd_slurm_args *s = a->slurm;
    if (!s || !s->options)
        return true;
    sweep(state_dir);
    snprintf(s->dir, sizeof s->dir, "%s/slurm-%d", state_dir, (int)getpid());
    zd_rmtree(s->dir); /* (a pid of a run long gone, used again) */
    if (mkdir(s->dir, 0700) < 0) {
        fprintf(stderr, "zdag: cannot create %s: %s\n", s->dir, strerror(errno));
        s->dir[0] = '\0';
        return false;
    }
    snprintf(s->worker_key, sizeof s->worker_key, "%s/worker.key", s->dir);
    snprintf(s->coord_pub, sizeof s->coord_pub, "%s/coord.pub", s->dir);
    snprintf(s->output, sizeof s->output, "%s/logs", state_dir);
    if (mkdir(s->output, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "zdag: cannot create %s: %s\n", s->output, strerror(errno));
        return false;
    }
    snprintf(s->output, sizeof s->output, "%s/logs/slurm-%%j.out", state_dir);
    if (!a->opts.insecure && !make_keys(a, s))
        return false;
    worker_endpoint(a->opts.listen, s->connect, sizeof s->connect);
    if (!realpath("/proc/self/exe", s->exe)) {
        fprintf(stderr, "zdag: cannot find this zdag executable: %s\n", strerror(errno));
        return false;
    }
    s->cmds = (zd_slurm_cfg){.words = (const char *const *)s->words,
                             .n_words = s->n_words,
                             .dir = s->dir,
                             .output = s->output,
                             .zdag = s->exe,
                             .connect = s->connect,
                             .worker_key = a->opts.insecure ? NULL : s->worker_key,
                             .coordinator_key = a->opts.insecure ? NULL : s->coord_pub,
                             .idle_s = s->idle_s > 0 ? s->idle_s : DEFAULT_IDLE_S};
    a->opts.auto_prov = &s->prov;
    a->opts.auto_slurm = &s->cmds;
    return true;
}

void zd_slurm_args_clear(zd_run_args *a) {
    zd_slurm_args *s = a->slurm;
    if (!s)
        return;
    if (s->dir[0])
        zd_rmtree(s->dir);
    zd_slurm_words_free(&s->words);
    free(s);
    a->slurm = NULL;
    a->opts.auto_prov = NULL;
    a->opts.auto_slurm = NULL;
}
