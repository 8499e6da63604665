/* Executor sets: fork, reap, and clean up after killed executors. */
#include "xset.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Atomics in memory shared between processes must not hide a lock in one of them. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* The memory shared with the executors: one lease for all, one cell per slot. */
typedef struct shared_mem {
    _Atomic int64_t lease_until; /* the agent's lease end (CLOCK_BOOTTIME ns), 0 for none */
    zd_slot_cell cells[];        /* per slot */
} shared_mem;

struct zd_xset {
    zd_executor_cfg base; /* configuration shared by all slots */
    char *scratch_root;   /* owned */
    pid_t *pids;          /* per slot, 0 when none runs */
    uint64_t *lost;       /* per slot, attempts its reaped executors left without a result */
    shared_mem *shared;   /* mapped MAP_SHARED, inherited by the executors */
    size_t shared_size;   /* bytes mapped */
    uint32_t n;           /* slots */
};

zd_xset *zd_xset_new(uint32_t n, const zd_executor_cfg *base, const char *scratch_root) {
    zd_xset *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->base = *base;
    x->n = n;
    x->pids = calloc(n ? n : 1, sizeof *x->pids);
    x->lost = calloc(n ? n : 1, sizeof *x->lost);
    x->scratch_root = strdup(scratch_root);
    x->shared_size = sizeof(shared_mem) + (n ? n : 1) * sizeof(zd_slot_cell);
    void *shared =
        mmap(NULL, x->shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    x->shared = shared == MAP_FAILED ? NULL : shared; /* zero-filled */
    if (!x->pids || !x->lost || !x->scratch_root || !x->shared)
        zd_xset_free(&x);
    return x;
}

void zd_xset_free(zd_xset **xp) {
    if (!xp || !*xp)
        return;
    zd_xset *x = *xp;
    if (x->shared)
        munmap(x->shared, x->shared_size);
    free(x->pids);
    free(x->lost);
    free(x->scratch_root);
    free(x);
    *xp = NULL;
}

int zd_xset_spawn(zd_xset *x, uint32_t slot, pid_t *pid) {
    return zd_xset_spawn_gated(x, slot, -1, pid);
}

int zd_xset_spawn_gated(zd_xset *x, uint32_t slot, int gate_fd, pid_t *pid) {
    char scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/x%u", x->scratch_root, slot);
    zd_executor_cfg cfg = x->base;
    cfg.gated = gate_fd >= 0;
    cfg.gate_fd = gate_fd;
    cfg.slot = slot;
    cfg.scratch_dir = scratch;
    zd_slot_cell *cell = &x->shared->cells[slot];
    cfg.cell = cell;
    cfg.lease_until = &x->shared->lease_until;
    cell->pgid = 0;
    atomic_store(&cell->token, 0);
    atomic_store(&cell->timeout_ms, 0);
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
    zd_slot_cell *cell = &x->shared->cells[slot];
    pid_t pg = cell->pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    cell->pgid = 0;
}

void zd_xset_kill(zd_xset *x, uint32_t slot) {
    if (slot >= x->n || x->pids[slot] <= 0)
        return;
    /* The command's group first: its executor, once dead, could no longer tell us which. */
    pid_t pg = x->shared->cells[slot].pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    kill(x->pids[slot], SIGKILL);
}

uint64_t zd_xset_token(const zd_xset *x, uint32_t slot) {
    return slot < x->n ? atomic_load(&x->shared->cells[slot].token) : 0;
}

uint64_t zd_xset_timeout_ms(const zd_xset *x, uint32_t slot) {
    return slot < x->n ? atomic_load(&x->shared->cells[slot].timeout_ms) : 0;
}

void zd_xset_set_lease(zd_xset *x, int64_t until_ns) {
    atomic_store(&x->shared->lease_until, until_ns);
}

/* A reaped executor's attempt that counted no result is lost. One slot runs one attempt at a
 * time, so its started - succeeded - failed - lost is 1 while one is in it; the dead cannot
 * change their counts, so this is exact (a death right after a result was counted, before the
 * token was cleared, loses nothing). */
static void count_death(zd_xset *x, uint32_t s) {
    const zd_slot_cell *c = &x->shared->cells[s];
    uint64_t ended = atomic_load(&c->n_succeeded) + atomic_load(&c->n_failed) + x->lost[s];
    if (atomic_load(&c->n_started) > ended)
        x->lost[s]++;
}

bool zd_xset_reap(zd_xset *x, uint32_t *slot, int *status, pid_t *pid) {
    for (uint32_t s = 0; s < x->n; s++)
        if (x->pids[s] > 0 && waitpid(x->pids[s], status, WNOHANG) == x->pids[s]) {
            if (pid)
                *pid = x->pids[s];
            x->pids[s] = 0;
            zd_xset_orphans(x, s);
            count_death(x, s);
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
        while (zd_xset_reap(x, &slot, &status, NULL))
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
            count_death(x, s);
        }
}

void zd_xset_tally_get(const zd_xset *x, zd_xset_tally *t) {
    *t = (zd_xset_tally){0};
    for (uint32_t s = 0; s < x->n; s++) {
        const zd_slot_cell *cell = &x->shared->cells[s];
        t->started += atomic_load(&cell->n_started);
        t->succeeded += atomic_load(&cell->n_succeeded);
        t->failed += atomic_load(&cell->n_failed);
        t->lost += x->lost[s];
        if (x->pids[s] <= 0 || atomic_load(&cell->token) == 0)
            continue;
        uint64_t bits = atomic_load(&cell->cpus_bits);
        double cpus;
        memcpy(&cpus, &bits, sizeof cpus);
        t->busy++;
        t->cpus_used += cpus;
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

uint64_t zd_xset_started(const zd_xset *x, uint32_t slot) {
    return slot < x->n ? atomic_load(&x->shared->cells[slot].started) : 0;
}
