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
    int err = try_threads(zd_rlimit_threads_needed(n_local_executors, listening));
    if (err != 0) {
        snprintf(why, size, "cannot create a thread: %s%s", strerror(err),
                 err == EAGAIN ? " (ulimit -u?)" : "");
        zd_logf(log, ZDAG_LOG_ERROR, "%s", why);
        return ZDAG_ESYS;
    }
    return 0;
}
