/* The executor loop: receive a TASK, run it, send its RESULT; a watchdog thread beside it
 * enforces the lease and function timeouts. */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "peerwatch.h"
#include "fence.h"
#include "mpjson.h"
#include "proc.h"
#include "wire.h"
#include "zdag.h"

extern char **environ;

#define WATCH_TICK_NS 100000000ll      /* the watchdog looks at least this often (100 ms) */
#define LEASE_WAIT_NS 20000000ll       /* a task waiting for the lease looks this often (20 ms) */
#define MAX_TIMEOUT_MS 100000000000ull /* longer timeouts (3 years) are none */

/* Where the running command's process group is kept, for the SIGTERM handler: the one global,
 * set once at start and read by the handler, as signal handlers allow nothing else. */
static volatile sig_atomic_t private_pgid;
static volatile sig_atomic_t *running_pgid = &private_pgid;

static void on_term(int sig) {
    pid_t pg = *running_pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    _exit(128 + sig);
}

typedef struct executor {
    const zd_executor_cfg *cfg;   /* borrowed configuration */
    void *ctx;                    /* ZeroMQ context */
    void *sock;                   /* DEALER connected to the coordinator */
    zd_wire_buf *out;             /* encoder for replies */
    zd_wire_decoder *dec;         /* decoder for tasks */
    zd_fn_caller *fns;            /* calls function nodes */
    zd_slot_cell own_cell;        /* the cell when the parent shares none */
    zd_slot_cell *cell;           /* the running attempt, published (cfg's or own_cell) */
    const _Atomic int64_t *lease; /* the agent's lease end, NULL: no lease (local executor) */
    _Atomic bool busy;            /* an attempt is under way (watched) */
    _Atomic int64_t deadline_ns;  /* a function's deadline (CLOCK_BOOTTIME), 0: none */
    pthread_t watchdog;           /* the watchdog thread */
    int watch_timer;              /* its timerfd on CLOCK_BOOTTIME */
    int watch_stop;               /* eventfd: written to stop it */
    bool watching;                /* it was started */
} executor;

static bool lease_expired(const executor *x, int64_t now) {
    return x->lease && now >= atomic_load(x->lease);
}

/* The lease ended during an attempt: nothing of it may go on, and no result may leave. */
static _Noreturn void fence(executor *x) {
    pid_t pg = x->cell->pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    _exit(ZD_EXIT_FENCED);
}

/* Sleeps until t on CLOCK_BOOTTIME (absolute), or until asked to stop: false then. */
static bool sleep_until(const executor *x, int64_t t) {
    struct itimerspec its = {.it_value = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000}};
    if (timerfd_settime(x->watch_timer, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return true; /* cannot happen with a valid time: look again at once */
    struct pollfd fds[2] = {{x->watch_timer, POLLIN, 0}, {x->watch_stop, POLLIN, 0}};
    while (poll(fds, 2, -1) < 0)
        ;
    uint64_t n;
    if (fds[0].revents & POLLIN)
        (void)!read(x->watch_timer, &n, sizeof n);
    return !(fds[1].revents & POLLIN);
}

/* The watchdog thread: while an attempt runs, fences when the lease ends and ends a function
 * past its deadline. Its clock counts time spent stopped, so on waking from a SIGSTOP (or a
 * suspend) the absolute sleep returns at once and the lease is checked before anything else
 * the attempt could do. It only makes system calls: no lock, no log. */
static void *watch(void *arg) {
    executor *x = arg;
    for (;;) {
        int64_t now = zd_boottime_ns(), wake = now + WATCH_TICK_NS;
        if (atomic_load(&x->busy)) {
            if (lease_expired(x, now))
                fence(x);
            int64_t deadline = atomic_load(&x->deadline_ns);
            if (deadline > 0 && now >= deadline)
                _exit(ZD_EXIT_TIMEOUT);
            if (deadline > 0 && deadline < wake)
                wake = deadline;
            if (x->lease && atomic_load(x->lease) < wake)
                wake = atomic_load(x->lease);
        }
        if (!sleep_until(x, wake))
            return NULL;
    }
}

/* Starts the watchdog with every signal blocked: the executor's handlers run in its main
 * thread. */
static bool start_watchdog(executor *x) {
    sigset_t all, old;
    x->watch_timer = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC);
    x->watch_stop = eventfd(0, EFD_CLOEXEC);
    int err = x->watch_timer < 0 || x->watch_stop < 0 ? errno : 0;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (!err)
        err = pthread_create(&x->watchdog, NULL, watch, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        if (x->watch_timer >= 0)
            close(x->watch_timer);
        if (x->watch_stop >= 0)
            close(x->watch_stop);
        zd_logf(&x->cfg->log, ZDAG_LOG_ERROR, "executor %u: cannot start its watchdog thread: %s",
                x->cfg->slot, strerror(err));
        return false;
    }
    x->watching = true;
    return true;
}

/* A task that arrives after the lease ended (the coordinator still speaks to this executor,
 * but not to its agent) waits for the lease to be renewed; if it never is, the agent stops
 * this executor. */
static void await_lease(executor *x) {
    if (!lease_expired(x, zd_boottime_ns()))
        return;
    zd_logf(&x->cfg->log, ZDAG_LOG_WARNING,
            "executor %u: this worker's lease has ended; the task waits for the coordinator",
            x->cfg->slot);
    struct timespec nap = {LEASE_WAIT_NS / 1000000000, LEASE_WAIT_NS % 1000000000};
    while (lease_expired(x, zd_boottime_ns()))
        clock_nanosleep(CLOCK_BOOTTIME, 0, &nap, NULL);
}

static int send_frame(executor *x) {
    while (zmq_send(x->sock, zd_wire_buf_data(x->out), zd_wire_buf_size(x->out), 0) < 0) {
        if (errno != EINTR)
            return ZDAG_EZMQ;
    }
    return 0;
}

/* Environment variable name for a dependency: ZDAG_DEP_ + upper-cased name, '.'/'-' as '_'. */
static char *dep_var(zd_bytes name, const char *path) {
    char *s = NULL;
    if (asprintf(&s, "ZDAG_DEP_%.*s=%s", (int)name.len, name.ptr, path) < 0)
        return NULL;
    for (char *p = s + 9; *p != '='; p++) {
        if (*p == '.' || *p == '-')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
    return s;
}

/* A growing NULL-terminated environment where a later KEY= replaces an earlier one. */
typedef struct envv {
    char **v;   /* entries, owned when owned[i] */
    bool *own;  /* whether v[i] is ours to free */
    size_t n;   /* entries */
    size_t cap; /* allocated entries (one more for the NULL) */
} envv;

static bool env_put(envv *e, char *entry, bool own) {
    if (!entry)
        return false;
    const char *eq = strchr(entry, '=');
    size_t klen = eq ? (size_t)(eq - entry) + 1 : strlen(entry);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], entry, klen) == 0) {
            if (e->own[i])
                free(e->v[i]);
            e->v[i] = entry;
            e->own[i] = own;
            return true;
        }
    if (e->n + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        char **v = realloc(e->v, cap * sizeof *v);
        if (v)
            e->v = v;
        bool *o = realloc(e->own, cap * sizeof *o);
        if (o)
            e->own = o;
        if (!v || !o) {
            if (own)
                free(entry);
            return false;
        }
        e->cap = cap;
    }
    e->v[e->n] = entry;
    e->own[e->n++] = own;
    e->v[e->n] = NULL;
    return true;
}

static void env_free(envv *e) {
    for (size_t i = 0; i < e->n; i++)
        if (e->own[i])
            free(e->v[i]);
    free(e->v);
    free(e->own);
}

static char *printf_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_dup(const char *fmt, ...) {
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Writes each dependency's result to a file and adds its ZDAG_DEP_ variable. */
static bool put_deps(executor *x, const zd_msg_task *t, envv *env) {
    for (uint32_t i = 0; i < t->n_deps; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/dep.%u", x->cfg->scratch_dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return false;
        /* A function's result reaches a command as JSON. */
        char *json = NULL;
        const char *p = t->deps[i].data.ptr;
        size_t left = t->deps[i].data.len;
        if (t->deps[i].format == ZD_FORMAT_MSGPACK) {
            const char *why = NULL;
            if (!(json = zd_mpjson_to_text(p, left, &why))) {
                close(fd);
                return false;
            }
            p = json;
            left = strlen(json);
        }
        while (left) {
            ssize_t n = write(fd, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                free(json);
                close(fd);
                return false;
            }
            p += n;
            left -= (size_t)n;
        }
        free(json);
        close(fd);
        if (!env_put(env, dep_var(t->deps[i].name, path), true))
            return false;
    }
    return true;
}

/* Opens the attempt's log: the coordinator's file when it is on this host, else a scratch file
 * whose content travels back in the RESULT (the coordinator then writes it). */
static int open_log(executor *x, const zd_msg_task *t) {
    char scratch[4096];
    char *path = t->log_path.ptr ? zd_bytes_dup(t->log_path) : NULL;
    bool shipped = !t->log_path.ptr;
    if (shipped)
        snprintf(scratch, sizeof scratch, "%s/attempt.log", x->cfg->scratch_dir);
    else if (!path)
        return -1;
    int flags =
        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (t->attempt == 1 || shipped ? O_TRUNC : 0);
    int fd = open(shipped ? scratch : path, flags, 0644);
    free(path);
    if (fd >= 0 && t->attempt > 1 && !shipped)
        dprintf(fd, "--- zdag: attempt %u ---\n", t->attempt);
    return fd;
}

/* Reads back a shipped log (the first ZD_SHIPPED_LOG_MAX bytes); NULL when there is none. */
static char *read_shipped_log(executor *x, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/attempt.log", x->cfg->scratch_dir);
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(ZD_SHIPPED_LOG_MAX);
    ssize_t n = buf ? read(fd, buf, ZD_SHIPPED_LOG_MAX) : -1;
    close(fd);
    unlink(path);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)n;
    return buf;
}

/* Runs one command task; fills *res (res->output owned by the caller afterwards). */
static void run_command(executor *x, const zd_msg_task *t, zd_proc_result *res) {
    envv env = {0};
    char **argv = NULL;
    char *shell = NULL, *workdir = NULL;
    int log_fd = -1;
    memset(res, 0, sizeof *res);
    bool ok = true;
    for (char **e = environ; ok && *e; e++)
        ok = env_put(&env, *e, false);
    for (uint32_t i = 0; ok && i < t->n_env; i++)
        ok = env_put(&env, zd_bytes_dup(t->env[i]), true);
    ok = ok && env_put(&env, printf_dup("ZDAG_NODE=%.*s", (int)t->name.len, t->name.ptr), true);
    ok = ok && env_put(&env, printf_dup("ZDAG_ATTEMPT=%u", t->attempt), true);
    ok = ok &&
         env_put(&env, printf_dup("ZDAG_RUN_ID=%.*s", (int)t->run_id.len, t->run_id.ptr), true);
    ok = ok && put_deps(x, t, &env);
    if (!ok) {
        snprintf(res->error, sizeof res->error, "cannot prepare the environment: %s",
                 strerror(errno));
        goto out_free;
    }
    if (t->kind == 1) {
        argv = calloc(t->argc + 1, sizeof *argv);
        for (uint32_t i = 0; argv && ok && i < t->argc; i++)
            ok = (argv[i] = zd_bytes_dup(t->argv[i])) != NULL;
        ok = ok && argv;
    } else {
        ok = (shell = zd_bytes_dup(t->cmd)) != NULL;
        /* Like make: a command without shell syntax is exec'd directly. */
        if (ok && (argv = zd_proc_simple_argv(shell)) != NULL) {
            free(shell);
            shell = NULL;
        }
    }
    workdir = zd_bytes_dup(t->workdir);
    if (!ok || (t->workdir.ptr && !workdir)) {
        snprintf(res->error, sizeof res->error, "out of memory");
        goto out_free;
    }
    log_fd = open_log(x, t);
    zd_proc_spec spec = {.shell = shell,
                         .argv = argv,
                         .envp = env.v,
                         .workdir = workdir,
                         .log_fd = log_fd,
                         .timeout_s = (double)t->timeout_ms / 1000.0,
                         .grace_s = 2};
    if (zd_proc_run(&spec, res, &x->cell->pgid) < 0 && !res->error[0])
        snprintf(res->error, sizeof res->error, "cannot start the command");
out_free:
    if (log_fd >= 0)
        close(log_fd);
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
    free(shell);
    free(workdir);
    env_free(&env);
}

/* Runs a function task in this process; fills res like a command's. */
static void run_function(executor *x, const zd_msg_task *t, zd_proc_result *res) {
    memset(res, 0, sizeof *res);
    if (!x->fns) {
        snprintf(res->error, sizeof res->error, "this executor has no functions");
        return;
    }
    if (!zd_fn_call(x->fns, t, &res->output, &res->output_len, res->error, sizeof res->error) &&
        !res->error[0])
        snprintf(res->error, sizeof res->error, "the function failed");
}

/* Publishes the attempt (for the agent's CANCEL and timeout reports) and arms the watchdog. */
static void begin_attempt(executor *x, const zd_msg_task *t) {
    uint64_t timeout_ms = t->timeout_ms < MAX_TIMEOUT_MS ? t->timeout_ms : 0;
    atomic_store(&x->cell->timeout_ms, timeout_ms);
    atomic_store(&x->cell->token, t->token);
    /* Commands have their timeout enforced by zd_proc_run(); functions run in this process. */
    int64_t deadline =
        t->kind == 2 && timeout_ms ? zd_boottime_ns() + (int64_t)timeout_ms * 1000000 : 0;
    atomic_store(&x->deadline_ns, deadline);
    atomic_store(&x->busy, true);
}

static void end_attempt(executor *x) {
    atomic_store(&x->busy, false);
    atomic_store(&x->deadline_ns, 0);
    atomic_store(&x->cell->token, 0);
    atomic_store(&x->cell->timeout_ms, 0);
}

static int handle_task(executor *x, const zd_msg_task *t) {
    await_lease(x);
    begin_attempt(x, t);
    zd_proc_result res;
    if (t->kind == 2)
        run_function(x, t, &res);
    else
        run_command(x, t, &res);
    atomic_store(&x->deadline_ns, 0); /* it returned in time: its result goes */
    bool ok = !res.error[0] && res.exit_code == 0;
    size_t log_len = 0;
    char *log = t->log_path.ptr || t->kind == 2 ? NULL : read_shipped_log(x, &log_len);
    zd_msg_result r = {.node = t->node,
                       .log = {log, log_len},
                       .token = t->token,
                       .ok = ok,
                       .exit_code = res.exit_code,
                       .signal = res.signal,
                       .error = ok ? (zd_bytes){NULL, 0} : (zd_bytes){res.error, strlen(res.error)},
                       .output = {res.output ? res.output : "", res.output_len}};
    int rc = zd_wire_encode_result(x->out, &r);
    free(res.output);
    free(log);
    /* A result of an attempt whose lease ended is not ours to give: another may run it. */
    if (lease_expired(x, zd_boottime_ns()))
        fence(x);
    rc = rc < 0 ? rc : send_frame(x);
    end_attempt(x);
    return rc;
}

static int serve(executor *x) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = 0;
    for (;;) {
        if (zmq_msg_recv(&msg, x->sock, 0) < 0) {
            if (errno == EINTR)
                continue;
            rc = ZDAG_EZMQ;
            break;
        }
        zd_msg m;
        if (zd_wire_decode(x->dec, zmq_msg_data(&msg), zmq_msg_size(&msg), &m) < 0) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped a malformed message: %s",
                    x->cfg->slot, zd_wire_decoder_error(x->dec));
            continue;
        }
        if (m.type == ZD_MSG_BYE)
            break;
        if (m.type != ZD_MSG_TASK) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped an unexpected message",
                    x->cfg->slot);
            continue;
        }
        if ((rc = handle_task(x, &m.u.task)) < 0)
            break;
    }
    zmq_msg_close(&msg);
    return rc;
}

int zd_executor_main(const zd_executor_cfg *cfg) {
    executor x = {.cfg = cfg, .lease = cfg->agent ? cfg->lease_until : NULL};
    x.cell = cfg->cell ? cfg->cell : &x.own_cell;
    running_pgid = &x.cell->pgid;
    *running_pgid = 0;
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN); /* Ctrl-C is the coordinator's to handle */
    signal(SIGPIPE, SIG_IGN);
    mkdir(cfg->scratch_dir, 0700);

    int rc = ZDAG_ENOMEM;
    x.out = zd_wire_buf_new();
    x.dec = zd_wire_decoder_new();
    x.ctx = zmq_ctx_new();
    if (cfg->fns && !(x.fns = zd_fn_caller_new(cfg->fns, cfg->max_result)))
        goto out_free;
    if (!x.out || !x.dec || !x.ctx)
        goto out_free;
    rc = ZDAG_ESYS;
    if (!start_watchdog(&x))
        goto out_free;
    zmq_ctx_set(x.ctx, ZMQ_IO_THREADS, 1);
    x.sock = zmq_socket(x.ctx, ZMQ_DEALER);
    int linger = 0;
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    /* Local executors start before the coordinator binds: retry the connection every 10 ms,
     * not libzmq's default 100 ms, which would delay every run's first node. */
    int reconnect_ms = 10, handshake_ms = ZD_PEERWATCH_HANDSHAKE_MS;
    rc = ZDAG_EZMQ;
    /* A handshake that stalls (a coordinator gone quiet mid-way) is dropped and retried, as
     * the agent's is, instead of hanging for libzmq's default 30 s. */
    if (!x.sock || zmq_setsockopt(x.sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(x.sock, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms) < 0 ||
        zmq_setsockopt(x.sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_setsockopt(x.sock, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms) < 0 ||
        (cfg->curve_public &&
         zd_curve_client(x.sock, cfg->curve_public, cfg->curve_secret, cfg->curve_server) < 0) ||
        zmq_connect(x.sock, cfg->endpoint) < 0)
        goto out_free;
    zd_msg_hello hello = {.version = ZD_WIRE_VERSION,
                          .slot = cfg->slot,
                          .pid = getpid(),
                          .host = {cfg->host_id, strlen(cfg->host_id)},
                          .credit = 1,
                          .agent = cfg->agent,
                          .secret = cfg->secret};
    if ((rc = zd_wire_encode_hello(x.out, &hello)) < 0 || (rc = send_frame(&x)) < 0)
        goto out_free;
    rc = serve(&x);
out_free:
    if (rc < 0)
        zd_logf(&cfg->log, ZDAG_LOG_ERROR, "executor %u: %s (%s)", cfg->slot, zdag_strerror(rc),
                zmq_strerror(errno));
    if (x.watching) {
        uint64_t one = 1;
        (void)!write(x.watch_stop, &one, sizeof one);
        pthread_join(x.watchdog, NULL);
        close(x.watch_timer);
        close(x.watch_stop);
    }
    running_pgid = &private_pgid; /* x.own_cell goes with this frame */
    if (x.sock) {
        /* Let the last result reach the coordinator before the socket closes. */
        zmq_close(x.sock);
    }
    if (x.ctx)
        zmq_ctx_term(x.ctx);
    zd_wire_buf_free(&x.out);
    zd_wire_decoder_free(&x.dec);
    zd_fn_caller_free(&x.fns);
    return rc < 0 ? 1 : 0;
}

int zd_executor_fork(const zd_executor_cfg *cfg, pid_t *pid) {
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0)
        return ZDAG_ESYS;
    if (p > 0) {
        *pid = p;
        return 0;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    close_range(3, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    _exit(zd_executor_main(cfg));
}
