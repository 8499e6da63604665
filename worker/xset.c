/* Executor sets: fork, reap, and clean up after killed executors. */
#include "xset.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct zd_xset {
    zd_executor_cfg base;         /* configuration shared by all slots */
    char *scratch_root;           /* owned */
    pid_t *pids;                  /* per slot, 0 when none runs */
    volatile sig_atomic_t *pgids; /* per slot, shared with the executors */
    uint32_t n;                   /* slots */
};

zd_xset *zd_xset_new(uint32_t n, const zd_executor_cfg *base, const char *scratch_root) {
    zd_xset *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->base = *base;
    x->n = n;
    x->pids = calloc(n ? n : 1, sizeof *x->pids);
    x->scratch_root = strdup(scratch_root);
    void *shared = mmap(NULL, (n ? n : 1) * sizeof *x->pgids, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    x->pgids = shared == MAP_FAILED ? NULL : shared;
    if (!x->pids || !x->scratch_root || !x->pgids)
        zd_xset_free(&x);
    return x;
}

void zd_xset_free(zd_xset **xp) {
    if (!xp || !*xp)
        return;
    zd_xset *x = *xp;
    if (x->pgids)
        munmap((void *)x->pgids, (x->n ? x->n : 1) * sizeof *x->pgids);
    free(x->pids);
    free(x->scratch_root);
    free(x);
    *xp = NULL;
}

int zd_xset_spawn(zd_xset *x, uint32_t slot, pid_t *pid) {
    char scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/x%u", x->scratch_root, slot);
    zd_executor_cfg cfg = x->base;
    cfg.slot = slot;
    cfg.scratch_dir = scratch;
    cfg.pgid = &x->pgids[slot];
    x->pgids[slot] = 0;
    int rc = zd_executor_fork(&cfg, &x->pids[slot]);
    if (rc == 0 && pid)
        *pid = x->pids[slot];
    return rc;
}

pid_t zd_xset_pid(const zd_xset *x, uint32_t slot) {
    return slot < x->n ? x->pids[slot] : 0;
}

void zd_xset_orphans(zd_xset *x, uint32_t slot) {
    if (slot >= x->n)
        return;
    pid_t pg = x->pgids[slot];
    if (pg > 0)
        kill(-pg, SIGKILL);
    x->pgids[slot] = 0;
}

bool zd_xset_reap(zd_xset *x, uint32_t *slot, int *status) {
    for (uint32_t s = 0; s < x->n; s++)
        if (x->pids[s] > 0 && waitpid(x->pids[s], status, WNOHANG) == x->pids[s]) {
            x->pids[s] = 0;
            zd_xset_orphans(x, s);
            *slot = s;
            return true;
        }
    return false;
}

void zd_xset_stop(zd_xset *x, int sig, double grace_s) {
    for (uint32_t s = 0; s < x->n; s++)
        if (x->pids[s] > 0)
            kill(x->pids[s], sig);
    struct timespec t0, now, nap = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        uint32_t slot;
        int status;
        while (zd_xset_reap(x, &slot, &status))
            ;
        bool left = false;
        for (uint32_t s = 0; s < x->n; s++)
            left |= x->pids[s] > 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (!left)
            return;
        if (spent >= grace_s)
            break;
        nanosleep(&nap, NULL);
    }
    for (uint32_t s = 0; s < x->n; s++)
        if (x->pids[s] > 0) {
            kill(x->pids[s], SIGKILL);
            waitpid(x->pids[s], NULL, 0);
            x->pids[s] = 0;
            zd_xset_orphans(x, s);
        }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path); /* best effort: keep removing the rest */
    return 0;
}

void zd_rmtree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void zd_runtime_sweep(const char *base) {
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = 0, used = 0;
        if (sscanf(e->d_name, "zdag-%d-%n", &pid, &used) != 1 || used == 0 || pid <= 0 ||
            (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid())
            zd_rmtree(path);
    }
    closedir(d);
}
