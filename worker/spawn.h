/* Starting a command's process, cheaply and safely, from an executor that starts thousands:
 * clone(CLONE_VM | CLONE_VFORK) onto a stack of the spawner's own (as posix_spawn does; the
 * parent's page tables are not copied and the child never runs on the parent's stack), the
 * program's path resolved once per distinct name, /dev/null opened once, and in the child only
 * the signals whose disposition is not the default reset (not all 64).
 *
 * The child, before exec: dies with its parent (PDEATHSIG SIGKILL, and exits at once when the
 * parent is already gone), leads a process group of its own and publishes it in *pgid before
 * the program can start anything, resets the handled and ignored signals, unblocks every
 * signal, takes stdin from /dev/null, stdout from out_fd, stderr from err_fd (or /dev/null),
 * enters the work directory, then execs; on any failure it writes "zdag: ..." to its stderr and
 * exits 127. */
#ifndef ZD_SPAWN_H
#define ZD_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct zd_spawner zd_spawner;

/* A spawner for this process. stable_signals: the process's signal dispositions no longer
 * change (no code but zdag's runs in it), so they are read once, now; else before each spawn.
 * Returns NULL when out of memory (or descriptors). Free with zd_spawner_free(). */
zd_spawner *zd_spawner_new(bool stable_signals);

/* Frees the spawner; sets *s to NULL. Accepts NULL. */
void zd_spawner_free(zd_spawner **s);

/* What to start. */
typedef struct zd_spawn_spec {
    const char *shell;   /* run as /bin/sh -c shell, or NULL */
    char *const *argv;   /* else: argv[0] found as execvp() does (the executor's PATH) */
    char *const *envp;   /* the whole environment; NULL-terminated */
    const char *workdir; /* directory to run in, or NULL */
    int out_fd;          /* the child's stdout */
    int err_fd;          /* the child's stderr, or -1: /dev/null */
} zd_spawn_spec;

/* Starts the process; *pgid holds its process group (= its pid) before the program runs.
 * Returns its pid, or -1 with errno set (then *pgid is unchanged). Signals are blocked in the
 * calling thread while the child shares its memory. */
pid_t zd_spawn(zd_spawner *s, const zd_spawn_spec *spec, volatile sig_atomic_t *pgid);

/* Where a program named `name` (no '/') is found along PATH, as execvp() would find it: the
 * first regular, executable file in an absolute directory of PATH. Borrowed (valid until the
 * spawner is freed), remembered for the next calls; NULL when PATH holds a relative directory
 * before it (the answer would depend on the work directory) or it is not found (the child
 * then searches as execvp() does, and fails as it would). */
const char *zd_spawn_resolve(zd_spawner *s, const char *name);

#endif
