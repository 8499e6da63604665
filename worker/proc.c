/* Command execution: a spawned process (worker/spawn), a stdout pipe and a pidfd, all watched
 * by one poll(). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"
#include "statedir.h"
#include "zdag.h"

#define PIPE_BYTES (1 << 20)   /* stdout pipe size */
#define READ_BYTES (256 << 10) /* bytes read at a time (on the stack) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char **zd_proc_simple_argv(const char *cmd) {
    static const char *const shell_words[] = {
        ".",       ":",        "[",      "alias", "bg",   "break",    "case",   "cd",
        "command", "continue", "do",     "done",  "elif", "else",     "esac",   "eval",
        "exec",    "exit",     "export", "fc",    "fg",   "fi",       "for",    "getopts",
        "hash",    "if",       "jobs",   "local", "read", "readonly", "return", "set",
        "shift",   "then",     "times",  "trap",  "type", "ulimit",   "umask",  "unalias",
        "unset",   "until",    "wait",   "while", "{",    "}",        "!",      NULL};
    if (!cmd || strpbrk(cmd, "#;\"'`*?[]&|<>(){}$~\\\n\r=%^!") != NULL)
        return NULL;
    size_t words = 0;
    for (const char *p = cmd; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        words++;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    if (words == 0)
        return NULL;
    char **argv = calloc(words + 1, sizeof *argv);
    if (!argv)
        return NULL;
    size_t i = 0;
    for (const char *p = cmd; *p && i < words;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (!(argv[i++] = strndup(start, (size_t)(p - start)))) {
            for (size_t k = 0; k < i; k++)
                free(argv[k]);
            free(argv);
            return NULL;
        }
    }
    for (const char *const *w = shell_words; *w; w++)
        if (strcmp(argv[0], *w) == 0) {
            for (size_t k = 0; k < words; k++)
                free(argv[k]);
            free(argv);
            return NULL;
        }
    return argv;
}

/* The log a command writes: spec->log_fd, or spec->log_path opened at its first byte. */
typedef struct lazy_log {
    const zd_proc_spec *spec; /* log_fd, log_path, log_append, log_header */
    int fd;                   /* where bytes go, -1 until opened (or none) */
    bool tried;               /* log_path was opened, or could not be */
} lazy_log;

/* Appends bytes to the log, creating the file first when it is the first of them. */
static void log_write(lazy_log *l, const char *buf, size_t n) {
    const zd_proc_spec *spec = l->spec;
    if (l->fd < 0 && !l->tried && spec->log_path) {
        l->tried = true;
        l->fd = open(spec->log_path,
                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (spec->log_append ? 0 : O_TRUNC),
                     ZD_STATE_FILE_MODE);
        /* A log left by an older version may be 0644: logs can hold secrets. */
        if (l->fd >= 0)
            fchmod(l->fd, ZD_STATE_FILE_MODE);
        if (l->fd >= 0 && spec->log_header)
            (void)!write(l->fd, spec->log_header, strlen(spec->log_header));
    }
    if (l->fd >= 0)
        (void)!write(l->fd, buf, n);
}

/* Appends data to the log and to the result; false when the command must be stopped (its
 * result passed the limit or cannot be stored). */
static bool take_output(const zd_proc_spec *spec, lazy_log *log, zd_proc_result *r, const char *buf,
                        size_t n) {
    log_write(log, buf, n);
    if (r->over_limit || r->output_errno)
        return false;
    int rc = zd_store_writer_write(spec->out, buf, n);
    if (rc == ZDAG_ETOOBIG)
        r->over_limit = true;
    else if (rc < 0)
        r->output_errno = zd_store_writer_errno(spec->out) ? zd_store_writer_errno(spec->out) : EIO;
    return rc == 0;
}

static void describe_status(zd_proc_result *r, int status, double timeout_s, uint64_t max_output) {
    if (WIFEXITED(status)) {
        r->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r->signal = WTERMSIG(status);
        r->exit_code = 128 + r->signal;
    }
    if (r->over_limit) {
        char limit[32];
        zd_size_format(max_output, limit, sizeof limit);
        snprintf(r->error, sizeof r->error, "result is over max_result (%s)", limit);
    } else if (r->output_errno) {
        snprintf(r->error, sizeof r->error, "cannot store the result: %s",
                 strerror(r->output_errno));
    } else if (r->timed_out)
        snprintf(r->error, sizeof r->error, "timed out after %g s", timeout_s);
    else if (r->signal)
        snprintf(r->error, sizeof r->error, "killed by signal %d (%s)", r->signal,
                 strsignal(r->signal));
    else if (r->exit_code != 0)
        snprintf(r->error, sizeof r->error, "exited with status %d", r->exit_code);
}

int zd_proc_run(const zd_proc_spec *spec, zd_proc_result *r, volatile sig_atomic_t *pgid) {
    zd_proc_result_clear(r);
    zd_spawner *own = spec->spawner ? NULL : zd_spawner_new(false);
    zd_spawner *spawner = spec->spawner ? spec->spawner : own;
    if (!spawner) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return ZDAG_ENOMEM;
    }
    /* stderr: straight to spec->log_fd, else through a pipe when there is a lazy log. */
    bool lazy = spec->log_fd < 0 && spec->log_path;
    int pipefd[2], errfd[2] = {-1, -1};
    bool piped = pipe2(pipefd, O_CLOEXEC) == 0;
    if (!piped || (lazy && pipe2(errfd, O_CLOEXEC) < 0)) {
        snprintf(r->error, sizeof r->error, "pipe: %s", strerror(errno));
        if (piped) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        zd_spawner_free(&own);
        return ZDAG_ESYS;
    }
    /* The first attempt replaces the log: an old run's log must not pass for this one's. */
    if (lazy && !spec->log_append)
        unlink(spec->log_path);
    zd_spawn_spec ss = {.shell = spec->shell,
                        .argv = spec->argv,
                        .envp = spec->envp,
                        .workdir = spec->workdir,
                        .out_fd = pipefd[1],
                        .err_fd = lazy ? errfd[1] : spec->log_fd};
    pid_t pid = zd_spawn(spawner, &ss, pgid);
    int spawn_errno = errno;
    zd_spawner_free(&own);
    close(pipefd[1]);
    if (errfd[1] >= 0)
        close(errfd[1]);
    if (pid < 0) {
        snprintf(r->error, sizeof r->error, "cannot start the command: %s", strerror(spawn_errno));
        close(pipefd[0]);
        if (errfd[0] >= 0)
            close(errfd[0]);
        return ZDAG_ESYS;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    lazy_log log = {.spec = spec, .fd = spec->log_fd};

    /* wake: when the loop must act without input: the timeout (SIGTERM), the grace period's
     * end (SIGKILL), or the end of draining stdout after the command exited. */
    double wake = spec->timeout_s > 0 ? now_s() + spec->timeout_s : 0;
    bool out_open = true, err_open = errfd[0] >= 0, exited = false, term_sent = false,
         stopped = false;
    int status = 0;
    /* A larger pipe and reads: a big result costs fewer wake-ups (best effort). */
    fcntl(pipefd[0], F_SETPIPE_SZ, PIPE_BYTES);
    char buf[READ_BYTES];
    while (out_open || err_open || !exited) {
        struct pollfd fds[3];
        nfds_t nfds = 0;
        int at_out = -1, at_err = -1;
        if (out_open)
            at_out = (int)nfds, fds[nfds++] = (struct pollfd){pipefd[0], POLLIN, 0};
        if (err_open)
            at_err = (int)nfds, fds[nfds++] = (struct pollfd){errfd[0], POLLIN, 0};
        if (!exited && pidfd >= 0)
            fds[nfds++] = (struct pollfd){pidfd, POLLIN, 0};
        int timeout_ms = -1;
        if (wake > 0) {
            double left = wake - now_s();
            timeout_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        }
        if (!exited && pidfd < 0 && (timeout_ms < 0 || timeout_ms > 10))
            timeout_ms = 10; /* no pidfd (old kernel): reap by polling */
        int n = poll(fds, nfds, timeout_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (at_out >= 0 && (fds[at_out].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = read(pipefd[0], buf, sizeof buf);
            if (got > 0 && !take_output(spec, &log, r, buf, (size_t)got) && !stopped) {
                /* Never a cut result: the command goes, its output is drained to the log. */
                stopped = true;
                kill(-pid, SIGKILL);
            } else if (got <= 0 && (got == 0 || errno != EINTR)) {
                out_open = false;
            }
        }
        if (at_err >= 0 && (fds[at_err].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = read(errfd[0], buf, sizeof buf);
            if (got > 0)
                log_write(&log, buf, (size_t)got);
            else if (got == 0 || errno != EINTR)
                err_open = false;
        }
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            /* Nothing of the command may outlive it: its group goes too, and a writer that
             * escaped the group cannot hold stdout open for more than a second. */
            kill(-pid, SIGKILL);
            wake = now_s() + 1;
            continue;
        }
        if (wake > 0 && now_s() >= wake) {
            if (exited) {
                out_open = err_open = false;
            } else if (!term_sent) {
                r->timed_out = true;
                term_sent = true;
                kill(-pid, SIGTERM);
                wake = now_s() + (spec->grace_s > 0 ? spec->grace_s : 2);
            } else {
                kill(-pid, SIGKILL);
                wake = 0;
            }
        }
    }
    if (!exited) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    *pgid = 0;
    if (pidfd >= 0)
        close(pidfd);
    close(pipefd[0]);
    if (errfd[0] >= 0)
        close(errfd[0]);
    if (log.fd >= 0 && log.fd != spec->log_fd)
        close(log.fd);
    describe_status(r, status, spec->timeout_s, spec->max_output);
    return 0;
}
