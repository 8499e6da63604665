/* Command execution with fork/exec, a stdout pipe and a pidfd, all watched by one poll(). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* The child side of vfork(): it shares the executor's memory until exec, so it only makes
 * system calls and writes nothing but its own stack and *pgid. */
static __attribute__((noinline)) void child(const zd_proc_spec *spec, int out_fd, pid_t parent,
                                            const sigset_t *mask, volatile sig_atomic_t *pgid) {
    /* If the executor dies, so does the command (a lost executor must leave no work behind). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    setpgid(0, 0);
    /* The group is published before the command can start anything: an executor killed at
     * any moment after this leaves a group its reaper can kill (the parent's own store, after
     * vfork returns, may come too late for a command that forks at once). */
    *pgid = getpid();
    /* Handlers are the executor's: reset them before signals can arrive again. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0)
        _exit(127);
    if (dup2(spec->log_fd >= 0 ? spec->log_fd : devnull, 2) < 0)
        _exit(127);
    if (spec->workdir && chdir(spec->workdir) < 0) {
        static const char msg[] = "zdag: cannot enter workdir\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    if (spec->shell) {
        char *const argv[] = {"/bin/sh", "-c", (char *)spec->shell, NULL};
        execve("/bin/sh", argv, spec->envp);
    } else {
        execvpe(spec->argv[0], spec->argv, spec->envp);
    }
    static const char msg[] = "zdag: cannot execute the command\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

/* Appends data to the log and to the result; false when the command must be stopped (its
 * result passed the limit or cannot be stored). */
static bool take_output(const zd_proc_spec *spec, zd_proc_result *r, const char *buf, size_t n) {
    if (spec->log_fd >= 0)
        (void)!write(spec->log_fd, buf, n);
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
    memset(r, 0, sizeof *r);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(r->error, sizeof r->error, "pipe: %s", strerror(errno));
        return ZDAG_ESYS;
    }
    /* vfork, as posix_spawn does: a fork would copy the executor's page tables for every
     * command, which halves spawn throughput; posix_spawn itself cannot set PDEATHSIG.
     * Signals stay blocked until the child has reset its handlers. */
    pid_t parent = getpid();
    sigset_t all, none, old;
    sigfillset(&all);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        child(spec, pipefd[1], parent, &none, pgid);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        snprintf(r->error, sizeof r->error, "vfork: %s", strerror(fork_errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return ZDAG_ESYS;
    }
    /* Both sides set the group, so that a kill(-pid) right after fork cannot miss it. */
    setpgid(pid, pid);
    *pgid = pid;
    close(pipefd[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    /* wake: when the loop must act without input: the timeout (SIGTERM), the grace period's
     * end (SIGKILL), or the end of draining stdout after the command exited. */
    double wake = spec->timeout_s > 0 ? now_s() + spec->timeout_s : 0;
    bool out_open = true, exited = false, term_sent = false, stopped = false;
    int status = 0;
    /* A larger pipe and reads: a big result costs fewer wake-ups (best effort). */
    fcntl(pipefd[0], F_SETPIPE_SZ, PIPE_BYTES);
    char buf[READ_BYTES];
    while (out_open || !exited) {
        struct pollfd fds[2] = {{pipefd[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
        int timeout_ms = -1;
        if (wake > 0) {
            double left = wake - now_s();
            timeout_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        }
        if (pidfd < 0 && (timeout_ms < 0 || timeout_ms > 10))
            timeout_ms = 10; /* no pidfd (old kernel): reap by polling */
        int n = out_open ? poll(fds, pidfd >= 0 ? 2 : 1, timeout_ms)
                         : poll(fds + 1, pidfd >= 0 ? 1 : 0, timeout_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = read(pipefd[0], buf, sizeof buf);
            if (got > 0 && !take_output(spec, r, buf, (size_t)got) && !stopped) {
                /* Never a cut result: the command goes, its output is drained to the log. */
                stopped = true;
                kill(-pid, SIGKILL);
            } else if (got <= 0 && (got == 0 || errno != EINTR)) {
                out_open = false;
            }
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
                out_open = false;
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
    describe_status(r, status, spec->timeout_s, spec->max_output);
    return 0;
}
