/* Descriptor and thread limits, checked before a run. */
#include "rlimits.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel refuses a soft limit above fs.nr_open even when the hard limit is infinite. */
static rlim_t nr_open(void) {
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long v = 0;
    if (f) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v ? (rlim_t)v : 1048576;
}

rlim_t zd_rlimit_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > nr_open())
        want = nr_open();
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit up = {.rlim_cur = want, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = want;
    }
    return rl.rlim_cur;
}

size_t zd_rlimit_fds_needed(unsigned n_local_executors, bool listening) {
    return ZD_RLIMIT_FD_BASE + (listening ? ZD_RLIMIT_FD_LISTEN : 0) +
           (size_t)ZD_RLIMIT_FD_PER_EXECUTOR * n_local_executors + ZD_RLIMIT_FD_RESERVE;
}

unsigned zd_rlimit_threads_needed(unsigned n_local_executors, bool listening) {
    return ZD_RLIMIT_THREADS_BASE + (listening ? 1 : 0) +
           ZD_RLIMIT_TASKS_PER_EXECUTOR * n_local_executors;
}

/* Descriptors open now (counted in /proc/self/fd, less the directory's own), or 3 when that
 * cannot be read. */
static size_t open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 3;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* Descriptors needed: the run's, plus those open now beyond stdin, stdout and stderr (which
 * the base count includes). */
static size_t fds_needed_now(unsigned n_local_executors, bool listening) {
    size_t open_now = open_fds();
    return zd_rlimit_fds_needed(n_local_executors, listening) + (open_now > 3 ? open_now - 3 : 0);
}

size_t zd_rlimit_spare_fds(unsigned n_local_executors, bool listening) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    size_t need = fds_needed_now(n_local_executors, listening);
    if (rl.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX / 2;
    return rl.rlim_cur > (rlim_t)need ? (size_t)(rl.rlim_cur - need) : 0;
}

/* The test threads wait until every one exists, so that they are all alive at once, as the
 * run's threads will be. */
typedef struct gate {
    pthread_mutex_t mu; /* guards open */
    pthread_cond_t cv;  /* signalled when open becomes true */
    bool open;          /* the threads may return */
} gate;

static void *wait_at_gate(void *arg) {
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Creates n threads, all alive at once, and joins them. Returns 0 or the error of the first
 * pthread_create() that failed. */
static int try_threads(unsigned n) {
    gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .open = false};
    pthread_t t[8];
    unsigned made = 0;
    int err = 0;
    if (n > sizeof t / sizeof t[0])
        n = sizeof t / sizeof t[0];
    while (made < n && (err = pthread_create(&t[made], NULL, wait_at_gate, &g)) == 0)
        made++;
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    for (unsigned i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    return made == n ? 0 : err;
}

/* Reads one unsigned number from the start of a small file; false when it cannot. */
static bool read_ulong(const char *path, unsigned long *out) {
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fscanf(f, "%lu", out) == 1;
    fclose(f);
    return ok;
}

/* Whether some pids.max from dir/path up to (not including) dir holds a limit. */
static bool pids_max_on_path(const char *dir, const char *path) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s%s", dir, path) >= (int)sizeof p)
        return true; /* cannot look: assume a limit */
    size_t root = strlen(dir);
    for (;;) {
        size_t len = strlen(p);
        while (len > root && p[len - 1] == '/')
            p[--len] = '\0';
        if (len <= root)
            return false;
        char file[4200];
        snprintf(file, sizeof file, "%s/pids.max", p);
        FILE *f = fopen(file, "re");
        if (f) {
            char v[32] = "";
            bool limited = !fgets(v, sizeof v, f) || strncmp(v, "max", 3) != 0;
            fclose(f);
            if (limited)
                return true;
        }
        char *slash = strrchr(p + root, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
}

/* Whether this process's cgroups (v2, and v1's pids hierarchy) bound its pids; true when
 * /proc/self/cgroup cannot be read. */
static bool pids_limited(void) {
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return true;
    char line[4096];
    bool limited = false;
    while (!limited && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *path = c2 + 1;
        if (controllers[0] == '\0')
            limited = pids_max_on_path("/sys/fs/cgroup", path);
        else if (strcmp(controllers, "pids") == 0)
            limited = pids_max_on_path("/sys/fs/cgroup/pids", path);
    }
    fclose(f);
    return limited;
}

void zd_rlimit_task_limits_read(zd_task_limits *out) {
    memset(out, 0, sizeof *out);
    struct rlimit np, as, data;
    unsigned long overcommit = 0;
    FILE *f = fopen("/proc/loadavg", "re");
    bool tasks = false;
    if (f) {
        unsigned long running;
        tasks = fscanf(f, "%*s %*s %*s %lu/%lu", &running, &out->tasks) == 2;
        fclose(f);
    }
    if (!tasks || getrlimit(RLIMIT_NPROC, &np) < 0 || getrlimit(RLIMIT_AS, &as) < 0 ||
        getrlimit(RLIMIT_DATA, &data) < 0 ||
        !read_ulong("/proc/sys/kernel/threads-max", &out->threads_max) ||
        !read_ulong("/proc/sys/vm/overcommit_memory", &overcommit))
        return;
    out->nproc = np.rlim_cur;
    out->memory_limited =
        as.rlim_cur != RLIM_INFINITY || data.rlim_cur != RLIM_INFINITY || overcommit == 2;
    out->pids_limited = pids_limited();
    out->known = true;
}

bool zd_rlimit_tasks_certain(const zd_task_limits *l, unsigned need) {
    /* Slack for tasks other users start meanwhile. */
    unsigned long after = l->tasks + need + 64;
    return l->known && !l->pids_limited && !l->memory_limited && after < l->threads_max &&
           (l->nproc == RLIM_INFINITY || (rlim_t)after < l->nproc);
}

int zd_rlimit_check_run(unsigned n_local_executors, bool listening, const zd_log *log, char *why,
                        size_t size) {
    char local[160];
    if (!why || size == 0) {
        why = local;
        size = sizeof local;
    }
    why[0] = '\0';
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t need = fds_needed_now(n_local_executors, listening);
        if ((rlim_t)need > rl.rlim_cur) {
            snprintf(why, size,
                     "too few file descriptors: ulimit -n is %lu, this run needs at "
                     "least %zu",
                     (unsigned long)rl.rlim_cur, need);
            zd_logf(log, ZDAG_LOG_ERROR, "%s", why);
            return ZDAG_ESYS;
        }
    }
    unsigned need = zd_rlimit_threads_needed(n_local_executors, listening);
    zd_task_limits limits;
    zd_rlimit_task_limits_read(&limits);
    int err = zd_rlimit_tasks_certain(&limits, need) ? 0 : try_threads(need);
    if (err != 0) {
        snprintf(why, size, "cannot create a thread: %s%s", strerror(err),
                 err == EAGAIN ? " (ulimit -u?)" : "");
        zd_logf(log, ZDAG_LOG_ERROR, "%s", why);
        return ZDAG_ESYS;
    }
    return 0;
}
