/* Process start for commands: clone onto the spawner's own stack, then exec. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strmap.h"

/* The child's stack: execvpe() copies argv onto it to run a script without #!. */
#define STACK_BYTES (256u << 10)
#define DEFAULT_PATH "/bin:/usr/bin" /* execvp()'s search path when PATH is unset */

struct zd_spawner {
    char *stack;       /* mapped for the child (a guard page at its low end), reused */
    int devnull;       /* /dev/null, read-only */
    bool stable;       /* dispositions are read once (zd_spawner_new()) */
    sigset_t changed;  /* signals whose disposition is not SIG_DFL */
    zd_strmap *paths;  /* program name -> its resolved path (in found) */
    char **found;      /* the resolved paths, owned */
    size_t n_found;    /* entries in found */
    size_t found_size; /* room in found */
};

/* The signals a child must reset: those handled (a handler would run in the child, in the
 * parent's memory) or ignored (exec would keep SIG_IGN for the program). */
static void read_dispositions(sigset_t *set) {
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &sa) == 0 &&
            sa.sa_handler != SIG_DFL)
            sigaddset(set, sig);
    }
}

zd_spawner *zd_spawner_new(bool stable_signals) {
    zd_spawner *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    void *stack = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    s->stack = stack == MAP_FAILED ? NULL : stack;
    s->paths = zd_strmap_new();
    s->stable = stable_signals;
    read_dispositions(&s->changed);
    if (s->devnull < 0 || !s->stack || !s->paths ||
        mprotect(s->stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE) < 0)
        zd_spawner_free(&s);
    return s;
}

void zd_spawner_free(zd_spawner **sp) {
    if (!sp || !*sp)
        return;
    zd_spawner *s = *sp;
    if (s->devnull >= 0)
        close(s->devnull);
    if (s->stack)
        munmap(s->stack, STACK_BYTES);
    zd_strmap_free(&s->paths);
    for (size_t i = 0; i < s->n_found; i++)
        free(s->found[i]);
    free(s->found);
    free(s);
    *sp = NULL;
}

/* Remembers path as name's; the stored copy, or NULL when out of memory. */
static const char *remember(zd_spawner *s, const char *name, const char *path) {
    if (s->n_found == s->found_size) {
        size_t size = s->found_size ? 2 * s->found_size : 8;
        char **found = realloc(s->found, size * sizeof *found);
        if (!found)
            return NULL;
        s->found = found;
        s->found_size = size;
    }
    char *copy = strdup(path);
    if (!copy || zd_strmap_put(s->paths, name, strlen(name), copy, NULL) < 0) {
        free(copy);
        return NULL;
    }
    return s->found[s->n_found++] = copy;
}

const char *zd_spawn_resolve(zd_spawner *s, const char *name) {
    size_t len = strlen(name);
    if (len == 0 || strchr(name, '/'))
        return NULL;
    const char *known = zd_strmap_get(s->paths, name, len);
    if (known)
        return known;
    const char *path = getenv("PATH");
    for (const char *p = path ? path : DEFAULT_PATH;;) {
        const char *end = strchrnul(p, ':');
        size_t dir_len = (size_t)(end - p);
        char file[PATH_MAX];
        /* An empty entry is the work directory, as is any relative one: it depends on the node. */
        if (dir_len == 0 || p[0] != '/' || dir_len + 1 + len + 1 > sizeof file)
            return NULL;
        memcpy(file, p, dir_len);
        file[dir_len] = '/';
        memcpy(file + dir_len + 1, name, len + 1);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
            return remember(s, name, file);
        if (!*end)
            return NULL;
        p = end + 1;
    }
}

typedef struct child_args {
    const zd_spawn_spec *spec;   /* what to run */
    const char *path;            /* argv[0] resolved, or NULL: searched */
    const sigset_t *reset;       /* signals to reset to SIG_DFL */
    int devnull;                 /* /dev/null */
    pid_t parent;                /* the spawning process */
    volatile sig_atomic_t *pgid; /* where the process group is published */
} child_args;

static _Noreturn void fail(const char *msg, size_t len) {
    (void)!write(2, msg, len);
    _exit(127);
}

/* The child: it shares the parent's memory (the parent waits until it execs or exits), so it
 * only makes system calls, on its own stack, and writes nothing but *pgid. */
static int child_main(void *arg) {
    const child_args *a = arg;
    const zd_spawn_spec *spec = a->spec;
    /* If the executor dies, so does the command (a lost executor must leave no work behind). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(127);
    setpgid(0, 0);
    /* Published before the command can start anything: an executor killed at any moment after
     * this leaves a group its reaper can kill. */
    *a->pgid = getpid();
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(a->reset, sig) == 1)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(a->devnull, 0) < 0 || dup2(spec->out_fd, 1) < 0 ||
        dup2(spec->err_fd >= 0 ? spec->err_fd : a->devnull, 2) < 0)
        _exit(127);
    if (spec->workdir && chdir(spec->workdir) < 0) {
        static const char msg[] = "zdag: cannot enter workdir\n";
        fail(msg, sizeof msg - 1);
    }
    if (spec->shell) {
        char *const argv[] = {"/bin/sh", "-c", (char *)spec->shell, NULL};
        execve("/bin/sh", argv, spec->envp);
    } else {
        if (a->path)
            execve(a->path, spec->argv, spec->envp);
        /* Not resolved, gone since, or a script without #!: execvpe() knows what to do. */
        execvpe(spec->argv[0], spec->argv, spec->envp);
    }
    static const char msg[] = "zdag: cannot execute the command\n";
    fail(msg, sizeof msg - 1);
}

pid_t zd_spawn(zd_spawner *s, const zd_spawn_spec *spec, volatile sig_atomic_t *pgid) {
    if (!s->stable)
        read_dispositions(&s->changed);
    child_args a = {.spec = spec,
                    .reset = &s->changed,
                    .devnull = s->devnull,
                    .parent = getpid(),
                    .pgid = pgid};
    if (!spec->shell && spec->argv[0])
        a.path = zd_spawn_resolve(s, spec->argv[0]);
    /* Signals stay blocked until the child has reset its handlers. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_main, s->stack + STACK_BYTES, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        errno = err;
        return -1;
    }
    /* Both sides set the group, so that a kill(-pid) right after cannot miss it. */
    setpgid(pid, pid);
    *pgid = pid;
    return pid;
}
