/* The process floor under zdag's command nodes on this machine: what starting a program and
 * waiting for it costs a C program that does nothing else, the way zdag's executors start
 * commands.
 *
 *   clone, one at a time:   clone(CLONE_VM | CLONE_VFORK) onto a stack of its own, execve,
 *                           waitpid; the next starts when the last one was reaped (a chain)
 *   posix_spawn, one at a time: the same through glibc's posix_spawn (which clones likewise)
 *   posix_spawn, two at a time: two always running, a new one as soon as one is reaped
 *                           (waitpid(-1)): -j 2 of independent commands
 *
 * Usage: spawn_floor [PROGRAM] [COUNT] [REPS]   (defaults /usr/bin/true, 2000, 5). Prints one
 * Markdown table with the min and median of REPS measurements of COUNT processes each. Built by
 * bench/run.sh with cc -O2 bench/spawn_floor.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_BYTES (64u << 10)

extern char **environ;

static const char *program = "/usr/bin/true";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "spawn_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int child(void *arg) {
    (void)arg;
    char *argv[] = {(char *)program, NULL};
    execve(program, argv, environ);
    _exit(127);
}

static char *stack;

static pid_t start_clone(void) {
    pid_t pid = clone(child, stack + STACK_BYTES, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    if (pid < 0)
        die("clone");
    return pid;
}

static pid_t start_spawn(void) {
    char *argv[] = {(char *)program, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, program, NULL, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        die("posix_spawn");
    }
    return pid;
}

static void reap(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "spawn_floor: %s failed\n", program);
        exit(1);
    }
}

/* Seconds for n processes, `width` running at a time. */
static double run(pid_t (*start)(void), int n, int width) {
    double t0 = now();
    int running = 0, started = 0;
    while (started < n || running > 0) {
        while (running < width && started < n) {
            start();
            started++;
            running++;
        }
        reap(-1);
        running--;
    }
    return now() - t0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void row(const char *label, pid_t (*start)(void), int n, int width, int reps) {
    double t[64];
    run(start, n / 10 > 0 ? n / 10 : 1, width); /* warm-up: page cache, the loader */
    for (int r = 0; r < reps; r++)
        t[r] = run(start, n, width);
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    double med = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
    printf("| %s | %d | %d | %.3f | %.3f | %.0f | %.1f |\n", label, n, reps, t[0], med, n / med,
           med / n * 1e6);
}

int main(int argc, char **argv) {
    if (argc > 1)
        program = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (n < 1 || reps < 1 || reps > 64) {
        fprintf(stderr, "usage: spawn_floor [PROGRAM] [COUNT] [REPS (1-64)]\n");
        return 2;
    }
    void *s = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (s == MAP_FAILED)
        die("mmap");
    stack = s;
    printf("| how | processes | runs | min s | median s | processes/s (median) | µs per process "
           "|\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    row("clone(CLONE_VM \\| CLONE_VFORK) + execve, one at a time", start_clone, n, 1, reps);
    row("posix_spawn, one at a time", start_spawn, n, 1, reps);
    row("clone(CLONE_VM \\| CLONE_VFORK) + execve, two at a time", start_clone, n, 2, reps);
    row("posix_spawn, two at a time", start_spawn, n, 2, reps);
    return 0;
}
