/* Running one command: its own process group, stdin from /dev/null, stdout streamed into a
 * result writer (common/store: hashed as it comes, kept in memory only up to 4 KiB, else in a
 * file) and copied to the log, stderr to the log, an optional timeout that kills the whole
 * group. A command whose stdout passes the writer's limit is killed (its group) and fails:
 * the result is never cut silently. */
#ifndef ZD_PROC_H
#define ZD_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "spawn.h"
#include "store.h"
#include "zdag.h"

typedef struct zd_proc_spec {
    const char *shell;      /* run as /bin/sh -c shell, or NULL */
    char *const *argv;      /* exec'd as execvp() would when shell is NULL; NULL-terminated */
    char *const *envp;      /* the whole environment; NULL-terminated */
    const char *workdir;    /* directory to run in, or NULL */
    int log_fd;             /* receives stdout and stderr; -1 for none, or: */
    const char *log_path;   /* (log_fd -1) the log file, made at the command's first output byte
                               (a command that says nothing leaves none), or NULL */
    bool log_append;        /* add to log_path (a retry); else an old file there is removed first */
    const char *log_header; /* written to log_path first when it is made, or NULL */
    double timeout_s;       /* kill the group after this many seconds; 0 = none */
    double grace_s;         /* SIGTERM to SIGKILL delay on timeout */
    zd_store_writer *out;   /* receives stdout (borrowed); its limit is the node's max_result */
    uint64_t max_output;    /* that limit, for the message */
    zd_spawner *spawner;    /* starts the process (borrowed), or NULL: one made for this call */
} zd_proc_spec;

typedef struct zd_proc_result {
    int exit_code;              /* exit status, or 128 + signal */
    int signal;                 /* signal that ended the process, or 0 */
    bool timed_out;             /* killed by the timeout */
    bool over_limit;            /* killed: its stdout passed max_output */
    int output_errno;           /* stdout could not be stored (errno), or 0 */
    char error[ZDAG_ERROR_MAX]; /* why it failed, "" when it exited 0 (the last field) */
} zd_proc_result;

/* Empties r: every field zero and error "", without writing the rest of error's
 * ZDAG_ERROR_MAX bytes (done for every attempt). */
static inline void zd_proc_result_clear(zd_proc_result *r) {
    memset(r, 0, offsetof(zd_proc_result, error));
    r->error[0] = '\0';
}

/* Splits a shell command into words when the shell would add nothing: no quoting, expansion,
 * redirection, globbing, control operators, comments or assignments, and a first word that is
 * not a shell builtin or keyword (cd, exit, export, ...). This is make's fast path: the
 * command is then exec'd directly, one process less. Returns a NULL-terminated argv (caller
 * frees it and each entry), or NULL when the shell is needed (or out of memory). */
char **zd_proc_simple_argv(const char *cmd);

/* Runs the command to completion. While it runs, *pgid holds its process group id (so that a
 * signal handler can kill the group), and 0 afterwards. Returns 0 when the command ran (see
 * result->exit_code), or ZDAG_ESYS / ZDAG_ENOMEM when it could not be started, with a reason
 * in result->error. The caller finishes spec->out. */
int zd_proc_run(const zd_proc_spec *spec, zd_proc_result *result, volatile sig_atomic_t *pgid)
    __attribute__((warn_unused_result));

#endif
