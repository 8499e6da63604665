/* Preparing a run's automatic workers (autoworkers_setup.h). */
#include "autoworkers_setup.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "xset.h"
#include "zdag.h"

static int failf(char *why, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *why, size_t size, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return rc;
}

/* The first diagnostic of d as why (without its "zdag: error: " prefix), d cleared. */
static int fail_diags(zd_diags *d, char *why, size_t size, int rc, const char *fallback) {
    const char *line = d->n ? d->lines[0] : fallback;
    const char *prefix = "zdag: error: ";
    snprintf(why, size, "%s", strncmp(line, prefix, strlen(prefix)) ? line : line + strlen(prefix));
    zd_diags_clear(d);
    return rc;
}

int zd_autow_setup_check(zd_autow_setup *s, const char *options, int max_jobs, const char *listen,
                         char *why, size_t size) {
    if (!listen)
        return failf(why, size, ZDAG_EINVAL,
                     "slurm (automatic workers) needs listen (e.g. tcp://0.0.0.0:7700): the "
                     "worker jobs connect back to it");
    char w[256];
    int rc = zd_slurm_split(options, &s->words, &s->n_words, w, sizeof w);
    if (rc < 0)
        return failf(why, size, rc, "%s: %s", w, options);
    double cpus, mem;
    if (!zd_slurm_size((const char *const *)s->words, s->n_words, &cpus, &mem, s->size_text,
                       sizeof s->size_text, w, sizeof w))
        return failf(why, size, ZDAG_EINVAL, "%s", w);
    s->prov =
        (zd_prov_cfg){.max_jobs = (uint32_t)(max_jobs > 0 ? max_jobs : ZD_AUTOW_DEFAULT_MAX_JOBS),
                      .cpus = cpus,
                      .mem_mb = mem,
                      .size_text = s->size_text[0] ? s->size_text : NULL};
    return 0;
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

/* The endpoint workers connect to: listen's, with a wildcard host (0.0.0.0, *, [::]) replaced
 * by this host's name. */
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
static int write_pub(const char *path, const char *pub, char *why, size_t size) {
    FILE *f = fopen(path, "wx");
    bool ok = f && fprintf(f, "%s\n", pub) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    return ok ? 0 : failf(why, size, ZDAG_ESYS, "cannot write %s: %s", path, strerror(errno));
}

/* A key pair DIR/NAME.key, .pub made with zdag keygen's code. */
static int keygen(const char *dir, const char *name, char *why, size_t size) {
    char base[PATH_MAX + 64];
    snprintf(base, sizeof base, "%s/%s", dir, name);
    zd_diags d;
    zd_diags_init(&d);
    if (zd_curve_keygen(base, &d) < 0)
        return fail_diags(&d, why, size, ZDAG_ESYS, "cannot make a key pair");
    zd_diags_clear(&d);
    return 0;
}

/* The run's keys in s->dir; the workers' public key admitted into *r->keys. */
static int make_keys(zd_autow_setup *s, const zd_autow_run *r, char *why, size_t size) {
    char path[PATH_MAX + 64], pub[ZD_CURVE_Z85_LEN + 1];
    int rc = keygen(s->dir, "worker", why, size);
    zd_diags d;
    zd_diags_init(&d);
    if (rc == 0 && !r->coord_public) { /* the coordinator's own pair, for this run */
        snprintf(path, sizeof path, "%s/coord.key", s->dir);
        if ((rc = keygen(s->dir, "coord", why, size)) == 0 &&
            zd_curve_load_secret(path, s->pub, s->sec, &d) < 0)
            rc = fail_diags(&d, why, size, ZDAG_EINVAL, "cannot load the run's key pair");
    } else if (rc == 0) {
        rc = write_pub(s->coord_pub, r->coord_public, why, size);
    }
    snprintf(path, sizeof path, "%s/worker.pub", s->dir);
    if (rc == 0 && zd_curve_load_public(path, pub, &d) < 0)
        rc = fail_diags(&d, why, size, ZDAG_EINVAL, "cannot load the workers' key");
    if (rc == 0 && !*r->keys && !(*r->keys = zd_keyset_new()))
        rc = failf(why, size, ZDAG_ENOMEM, "out of memory");
    if (rc == 0 && zd_keyset_add(*r->keys, pub, "slurm worker (this run)") < 0)
        rc = failf(why, size, ZDAG_ENOMEM, "out of memory");
    zd_diags_clear(&d);
    return rc;
}

/* Is path an executable file? */
static bool executable(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static const char in_this_library = 0; /* an address of this library, for dladdr() */

bool zd_autow_find_zdag(char *out, size_t size) {
    Dl_info info;
    char self[PATH_MAX], path[PATH_MAX + 16], found[PATH_MAX];
    if (dladdr(&in_this_library, &info) && info.dli_fname && realpath(info.dli_fname, self)) {
        char *slash = strrchr(self, '/');
        *slash = '\0';
        const char *tries[] = {"%s/zdag", "%s/../bin/zdag"};
        for (size_t i = 0; i < 2; i++) {
            snprintf(path, sizeof path, tries[i], self);
            if (executable(path) && realpath(path, found)) {
                snprintf(out, size, "%s", found);
                return true;
            }
        }
    }
    const char *env = getenv("PATH");
    for (const char *p = env ? env : ""; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(path, sizeof path, "%.*s/zdag", (int)len, len ? p : ".");
        if (executable(path) && realpath(path, found)) {
            snprintf(out, size, "%s", found);
            return true;
        }
        p += len + (p[len] == ':');
    }
    return false;
}

/* The run's directory STATE_DIR/slurm-PID and the jobs' output directory. */
static int make_dirs(zd_autow_setup *s, const char *state_dir, char *why, size_t size) {
    sweep(state_dir);
    snprintf(s->dir, sizeof s->dir, "%s/slurm-%d", state_dir, (int)getpid());
    zd_rmtree(s->dir); /* (a pid of a run long gone, used again) */
    if (mkdir(s->dir, 0700) < 0) {
        s->dir[0] = '\0';
        return failf(why, size, ZDAG_ESYS, "cannot create %s/slurm-%d: %s", state_dir,
                     (int)getpid(), strerror(errno));
    }
    snprintf(s->worker_key, sizeof s->worker_key, "%s/worker.key", s->dir);
    snprintf(s->coord_pub, sizeof s->coord_pub, "%s/coord.pub", s->dir);
    snprintf(s->output, sizeof s->output, "%s/logs", state_dir);
    if (mkdir(s->output, 0700) < 0 && errno != EEXIST)
        return failf(why, size, ZDAG_ESYS, "cannot create %s: %s", s->output, strerror(errno));
    snprintf(s->output, sizeof s->output, "%s/logs/slurm-%%j.out", state_dir);
    return 0;
}

int zd_autow_setup_prepare(zd_autow_setup *s, const zd_autow_run *r, char *why, size_t size) {
    int rc = make_dirs(s, r->state_dir, why, size);
    if (rc == 0 && r->secure)
        rc = make_keys(s, r, why, size);
    if (rc < 0)
        return rc;
    worker_endpoint(r->listen, s->connect, sizeof s->connect);
    if (r->zdag)
        snprintf(s->exe, sizeof s->exe, "%s", r->zdag);
    else if (!r->worker_argv && !zd_autow_find_zdag(s->exe, sizeof s->exe))
        return failf(why, size, ZDAG_ENOENT,
                     "slurm: no zdag executable found for the workers (next to libzdag, in its "
                     "../bin, or on PATH): install zdag, or set slurm_worker");
    s->cmds = (zd_slurm_cfg){.words = (const char *const *)s->words,
                             .n_words = s->n_words,
                             .dir = s->dir,
                             .output = s->output,
                             .zdag = s->exe[0] ? s->exe : NULL,
                             .worker_argv = r->worker_argv,
                             .connect = s->connect,
                             .worker_key = r->secure ? s->worker_key : NULL,
                             .coordinator_key = r->secure ? s->coord_pub : NULL,
                             .idle_s = r->idle_s > 0 ? r->idle_s : ZD_AUTOW_DEFAULT_IDLE_S};
    return 0;
}

void zd_autow_setup_clear(zd_autow_setup *s) {
    if (s->dir[0])
        zd_rmtree(s->dir);
    zd_slurm_words_free(&s->words);
    memset(s, 0, sizeof *s);
}
