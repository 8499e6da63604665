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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "peerwatch.h"
#include "fence.h"
#include "foreach.h"
#include "inbox.h"
#include "mpjson.h"
#include "proc.h"
#include "statedir.h"
#include "store.h"
#include "wire.h"
#include "zdag.h"

extern char **environ;

#define WATCH_TICK_NS 100000000ll      /* the watchdog looks at least this often (100 ms) */
#define LEASE_WAIT_NS 20000000ll       /* a task waiting for the lease looks this often (20 ms) */
#define MAX_TIMEOUT_MS 100000000000ull /* longer timeouts (3 years) are none */
#define CREDIT 33 /* tasks taken before a result: the running one and 32 sent ahead */
#define STOP_GRACE_NS                                                                              \
    300000000l /* a command killed from outside waits this long (0.3 s) for                        \
                  the signal that stops its whole job (stopped_with_its_job) */

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
    const zd_executor_cfg *cfg; /* borrowed configuration */
    void *ctx;                  /* ZeroMQ context */
    void *sock;                 /* DEALER connected to the coordinator */
    zd_wire_buf *out;           /* encoder for replies */
    zd_wire_decoder *dec;       /* decoder for tasks */
    zd_wire_decoder *dec2;      /* decoder for what comes during a task (ACK, DATA, BYE) */
    zmq_msg_t in;               /* ... and its frame (the task's frame stays intact) */
    zd_inbox *inbox;            /* tasks received and not started, in order */
    zd_wire_buf *aside;         /* encoder for DROPPED, beside a reply being built in out */
    uint64_t last_token;        /* the task run (or passed over) last: its token */
    bool last_ok;               /* ... it succeeded */
    char *last_name;            /* ... its node's name (owned) */
    uint32_t last_format;       /* ... its result: zd_format */
    uint64_t last_size;         /* ... bytes */
    bool last_stored;           /* ... in the store, named by last_hash */
    uint8_t last_hash[ZD_STORE_HASH];
    char *last_bytes;             /* ... else inline (owned, ZD_RESULT_INLINE_MAX bytes of room) */
    char cache_dir[4096];         /* this host's results: made here or fetched (remote) */
    zd_fn_caller *fns;            /* calls function nodes */
    zd_spawner *spawner;          /* starts commands (worker/spawn) */
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

static int write_file(const char *path, const char *p, size_t left) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    return close(fd);
}

/* Where the stored results this executor reads are: the coordinator's store (a local
 * executor) or this host's cache of the results it made or fetched. */
static const char *results_dir(const executor *x, const zd_msg_task *t, char *buf, size_t size) {
    if (t->store_dir.ptr) {
        snprintf(buf, size, "%.*s", (int)t->store_dir.len, t->store_dir.ptr);
        return buf;
    }
    return x->cache_dir;
}

/* Receives the next frame into x->in and decodes it; ZDAG_EINTR when it is BYE (the run is
 * over: the attempt cannot finish). */
static int sort_frame(executor *x, zmq_msg_t *frame);

/* Answers DROPPED for a task not started. */
static int send_dropped(executor *x, uint32_t node, uint64_t token) {
    zd_msg_dropped d = {.node = node, .token = token};
    if (zd_wire_encode_dropped(x->aside, &d) < 0)
        return ZDAG_ENOMEM;
    while (zmq_send(x->sock, zd_wire_buf_data(x->aside), zd_wire_buf_size(x->aside), 0) < 0)
        if (errno != EINTR)
            return ZDAG_EZMQ;
    return 0;
}

/* A DROP: the task leaves the inbox and DROPPED answers, unless it started already (its RESULT
 * answers then) or the DROP is malformed. */
static int drop_task(executor *x, const void *frame, size_t len) {
    zd_msg m;
    zd_msg_dropped d = {0};
    if (zd_wire_decode(x->dec2, frame, len, &m) < 0 || m.type != ZD_MSG_DROP ||
        !zd_inbox_drop(x->inbox, m.u.drop.token, &d.node))
        return 1;
    d.token = m.u.drop.token;
    int rc = send_dropped(x, d.node, d.token);
    return rc < 0 ? rc : 1;
}

/* A BATCH: its TASKs (each copied into a frame of its own) and DROPs, in order; anything else in
 * it is dropped with a warning. */
static int sort_batch(executor *x, zd_wire_batch_iter *it) {
    const void *one;
    size_t len;
    int got;
    while ((got = zd_wire_batch_next(it, &one, &len)) == 1) {
        uint32_t type = 0;
        uint64_t f1, f2;
        zmq_msg_t part;
        if (!zd_wire_peek(one, len, &type, &f1, &f2) ||
            (type != ZD_MSG_TASK && type != ZD_MSG_DROP)) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped a message of a batch",
                    x->cfg->slot);
            continue;
        }
        if (zmq_msg_init_size(&part, len) < 0)
            return ZDAG_ENOMEM;
        memcpy(zmq_msg_data(&part), one, len);
        int rc = sort_frame(x, &part);
        zmq_msg_close(&part);
        if (rc < 0)
            return rc;
    }
    if (got < 0)
        zd_logf(&x->cfg->log, ZDAG_LOG_WARNING,
                "executor %u: dropped the rest of a malformed batch", x->cfg->slot);
    return 1;
}

/* Keeps a frame that is the inbox's business: a TASK goes in (moved out of frame), a DROP takes
 * one out and answers DROPPED, a BATCH is sorted message by message. Returns 1 when it kept the
 * frame, 0 when the frame is the caller's (any other message), ZDAG_ENOMEM or ZDAG_EZMQ. */
static int sort_frame(executor *x, zmq_msg_t *frame) {
    uint32_t type = 0;
    uint64_t f1, f2;
    zd_wire_batch_iter it;
    if (zd_wire_batch_open(&it, zmq_msg_data(frame), zmq_msg_size(frame)))
        return sort_batch(x, &it);
    if (!zd_wire_peek(zmq_msg_data(frame), zmq_msg_size(frame), &type, &f1, &f2))
        return 0;
    if (type == ZD_MSG_TASK)
        return zd_inbox_push(x->inbox, frame, (uint32_t)f1, f2) < 0 ? ZDAG_ENOMEM : 1;
    if (type == ZD_MSG_DROP)
        return drop_task(x, zmq_msg_data(frame), zmq_msg_size(frame));
    return 0;
}

/* The next message during a task that is not the inbox's (an ACK, DATA or BYE). */
static int next_message(executor *x, zd_msg *m) {
    for (;;) {
        if (zmq_msg_recv(&x->in, x->sock, 0) < 0) {
            if (errno == EINTR)
                continue;
            return ZDAG_EZMQ;
        }
        int kept = sort_frame(x, &x->in);
        if (kept < 0)
            return kept;
        if (kept)
            continue;
        if (zd_wire_decode(x->dec2, zmq_msg_data(&x->in), zmq_msg_size(&x->in), m) < 0) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped a malformed message: %s",
                    x->cfg->slot, zd_wire_decoder_error(x->dec2));
            continue;
        }
        return m->type == ZD_MSG_BYE ? ZDAG_EINTR : 0;
    }
}

/* Fetches a stored dependency from the coordinator into this host's cache (unless it is there
 * already): FETCHes of ZD_WIRE_CHUNK bytes, at most ZD_WIRE_WINDOW of them unanswered, the
 * bytes hashed as they come and checked at the end. */
static int fetch_dep(executor *x, const zd_dep_result *d, char *why, size_t why_size) {
    /* A cached file is trusted only when its bytes still hash to the result's. */
    if (zd_store_verify(x->cache_dir, d->hash, d->size, true))
        return 0;
    zd_store_writer *w = zd_store_writer_new(x->cache_dir, d->size);
    if (!w)
        return ZDAG_ENOMEM;
    zd_store_writer_expect(w, d->hash, d->size); /* damaged bytes never get a name */
    int rc = 0;
    uint64_t asked = 0, got = 0;
    while (rc == 0 && got < d->size) {
        while (rc == 0 && asked < d->size && asked - got < ZD_WIRE_WINDOW) {
            zd_msg_fetch f = {.hash = d->hash, .offset = asked};
            if ((rc = zd_wire_encode_fetch(x->out, &f)) == 0)
                rc = send_frame(x);
            asked += ZD_WIRE_CHUNK;
        }
        zd_msg m;
        if (rc < 0 || (rc = next_message(x, &m)) < 0)
            break;
        if (m.type != ZD_MSG_DATA || memcmp(m.u.data.hash, d->hash, ZD_STORE_HASH) != 0 ||
            m.u.data.offset != got)
            continue; /* not the answer awaited: an old fetch's, or nothing of ours */
        uint64_t want = d->size - got < ZD_WIRE_CHUNK ? d->size - got : ZD_WIRE_CHUNK;
        if (!m.u.data.data.ptr || m.u.data.data.len != want) {
            snprintf(why, why_size, "the coordinator could not send the result of \"%.*s\"",
                     (int)d->name.len, d->name.ptr);
            rc = ZDAG_EIO;
            break;
        }
        if ((rc = zd_store_writer_write(w, m.u.data.data.ptr, m.u.data.data.len)) < 0)
            snprintf(why, why_size, "cannot keep the result of \"%.*s\": %s", (int)d->name.len,
                     d->name.ptr, strerror(zd_store_writer_errno(w)));
        got += m.u.data.data.len;
    }
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *inline_bytes;
    if (rc == 0 && (zd_store_writer_finish(w, &stored, hash, &size, &inline_bytes) < 0 || !stored ||
                    memcmp(hash, d->hash, ZD_STORE_HASH) != 0)) {
        snprintf(why, why_size, "the result of \"%.*s\" arrived damaged", (int)d->name.len,
                 d->name.ptr);
        rc = ZDAG_EIO;
    }
    zd_store_writer_free(&w);
    return rc;
}

/* Makes every stored dependency readable on this host (fetching those a remote executor lacks). */
static int get_deps(executor *x, const zd_msg_task *t, char *why, size_t why_size) {
    for (uint32_t i = 0; i < t->n_deps; i++) {
        int rc = 0;
        if (t->deps[i].hash && !t->store_dir.ptr)
            rc = fetch_dep(x, &t->deps[i], why, why_size);
        if (rc < 0) {
            if (!why[0])
                snprintf(why, why_size, "cannot fetch the result of \"%.*s\": %s",
                         (int)t->deps[i].name.len, t->deps[i].name.ptr, zdag_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Gives each dependency's result to the command as a file named by its ZDAG_DEP_ variable, in
 * the attempt's scratch directory: a stored result of a command is copied there (a reflink
 * where the file system can), a function's result is converted to JSON, an inline one is
 * written. The store's own files are never handed out. */
static bool put_deps(executor *x, const zd_msg_task *t, envv *env) {
    char dir[ZD_STORE_PATH];
    const char *rdir = results_dir(x, t, dir, sizeof dir);
    for (uint32_t i = 0; i < t->n_deps; i++) {
        const zd_dep_result *d = &t->deps[i];
        char path[ZD_STORE_PATH];
        snprintf(path, sizeof path, "%s/dep.%u", x->cfg->scratch_dir, i);
        if (d->hash && d->format == ZD_FORMAT_RAW) {
            /* A private copy: a command that edits or removes it leaves the store as it was. */
            if (zd_store_copy(rdir, d->hash, d->size, path) < 0)
                return false;
        } else {
            const char *p = d->data.ptr, *mapped = NULL;
            size_t left = d->data.len;
            if (d->hash && !(p = mapped = zd_store_map(rdir, d->hash, d->size)))
                return false;
            if (d->hash)
                left = (size_t)d->size;
            char *json = NULL;
            if (d->format == ZD_FORMAT_MSGPACK) {
                const char *why = NULL;
                json = zd_mpjson_to_text(p, left, &why);
                zd_store_unmap(mapped, d->size);
                mapped = NULL;
                if (!json)
                    return false;
                p = json;
                left = strlen(json);
            }
            int rc = write_file(path, p, left);
            free(json);
            zd_store_unmap(mapped, d->size);
            if (rc < 0)
                return false;
        }
        if (!env_put(env, dep_var(d->name, path), true))
            return false;
    }
    return true;
}

/* ZDAG_DEPS_<NAME> (issue 12): for the deps that are instances NAME[N] of a node with foreach,
 * one file per NAME listing the files of put_deps(), one a line, in index order. */
static bool put_fan_lists(executor *x, const zd_msg_task *t, envv *env) {
    zd_fan_ref *v = t->n_deps ? malloc(t->n_deps * sizeof *v) : NULL;
    if (!v)
        return t->n_deps == 0;
    for (uint32_t i = 0; i < t->n_deps; i++)
        v[i] = (zd_fan_ref){.name = t->deps[i].name.ptr, .len = t->deps[i].name.len, .pos = i};
    size_t n = zd_fan_sort_refs(v, t->n_deps);
    bool ok = true;
    for (size_t i = 0, end; ok && i < n; i = end) {
        char path[ZD_STORE_PATH], *text = NULL;
        size_t size = 0;
        snprintf(path, sizeof path, "%s/deps.%u", x->cfg->scratch_dir, v[i].pos);
        FILE *m = open_memstream(&text, &size);
        for (end = i; m && end < n && zd_fan_same_node(&v[i], &v[end]); end++)
            fprintf(m, "%s/dep.%u\n", x->cfg->scratch_dir, v[end].pos);
        ok = m && fclose(m) == 0 && write_file(path, text, size) == 0;
        free(text);
        char *one = ok ? dep_var((zd_bytes){.ptr = v[i].name, .len = v[i].base}, path) : NULL;
        char *var = NULL;
        ok = one && asprintf(&var, "ZDAG_DEPS_%s", one + strlen("ZDAG_DEP_")) >= 0 &&
             env_put(env, var, true);
        free(one);
    }
    free(v);
    return ok;
}

/* Where the attempt's log goes: the coordinator's file when it is on this host, else a
 * scratch file whose content travels back in the RESULT (the coordinator then writes it). The
 * file is made at the command's first output (worker/proc): a silent command costs no file. */
static void log_spec(executor *x, const zd_msg_task *t, zd_proc_spec *spec, char *path,
                     size_t path_size, char *header, size_t header_size) {
    bool shipped = !t->log_path.ptr;
    if (shipped)
        snprintf(path, path_size, "%s/attempt.log", x->cfg->scratch_dir);
    else
        snprintf(path, path_size, "%.*s", (int)t->log_path.len, t->log_path.ptr);
    spec->log_path = path;
    spec->log_append = t->attempt > 1 && !shipped;
    snprintf(header, header_size, "--- zdag: attempt %u ---\n", t->attempt);
    spec->log_header = spec->log_append ? header : NULL;
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

/* Runs one command task into the result writer w; fills *res. */
static void run_command(executor *x, const zd_msg_task *t, zd_store_writer *w,
                        zd_proc_result *res) {
    envv env = {0};
    char **argv = NULL;
    char *shell = NULL, *workdir = NULL;
    zd_proc_result_clear(res);
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
    ok = ok && put_fan_lists(x, t, &env);
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
    zd_proc_spec spec = {.shell = shell,
                         .argv = argv,
                         .envp = env.v,
                         .workdir = workdir,
                         .log_fd = -1,
                         .timeout_s = (double)t->timeout_ms / 1000.0,
                         .grace_s = 2,
                         .out = w,
                         .max_output = t->max_result,
                         .spawner = x->spawner};
    char log_path[4096], log_header[64];
    log_spec(x, t, &spec, log_path, sizeof log_path, log_header, sizeof log_header);
    if (zd_proc_run(&spec, res, &x->cell->pgid) < 0 && !res->error[0])
        snprintf(res->error, sizeof res->error, "cannot start the command");
out_free:
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
    free(shell);
    free(workdir);
    env_free(&env);
}

/* Runs a function task in this process, its packed result into w; fills res like a
 * command's. Stored dependencies are mapped for the call. */
static void run_function(executor *x, const zd_msg_task *t, zd_store_writer *w,
                         zd_proc_result *res) {
    zd_proc_result_clear(res);
    if (!x->fns) {
        snprintf(res->error, sizeof res->error, "this executor has no functions");
        return;
    }
    char dir[ZD_STORE_PATH];
    const char *rdir = results_dir(x, t, dir, sizeof dir);
    zd_msg_task call = *t;
    zd_dep_result *deps = calloc(t->n_deps ? t->n_deps : 1, sizeof *deps);
    if (!deps) {
        snprintf(res->error, sizeof res->error, "out of memory");
        return;
    }
    call.deps = deps;
    bool ok = true;
    for (uint32_t i = 0; i < t->n_deps; i++) {
        deps[i] = t->deps[i];
        if (!t->deps[i].hash)
            continue;
        const char *p = zd_store_map(rdir, t->deps[i].hash, t->deps[i].size);
        deps[i].hash = NULL;
        deps[i].data = (zd_bytes){p, (size_t)t->deps[i].size};
        if (!p) {
            snprintf(res->error, sizeof res->error, "cannot read the result of \"%.*s\": %s",
                     (int)t->deps[i].name.len, t->deps[i].name.ptr, strerror(errno));
            ok = false;
            break;
        }
    }
    char *out = NULL;
    size_t out_len = 0;
    if (ok && !zd_fn_call(x->fns, &call, &out, &out_len, res->error, sizeof res->error) &&
        !res->error[0])
        snprintf(res->error, sizeof res->error, "the function failed");
    int rc = ok && !res->error[0] ? zd_store_writer_write(w, out, out_len) : 0;
    if (rc < 0)
        snprintf(res->error, sizeof res->error, "cannot store the result: %s",
                 strerror(zd_store_writer_errno(w)));
    free(out);
    for (uint32_t i = 0; i < t->n_deps; i++)
        if (t->deps[i].hash)
            zd_store_unmap(deps[i].data.ptr, t->deps[i].size);
    free(deps);
}

#define UPLOAD_STALL_MS 60000 /* an upload fails after this long without a message */

/* Uploads a stored result (DIR/HEX of this host's cache) to the coordinator: CHUNKs of at most
 * ZD_WIRE_CHUNK bytes, at most ZD_WIRE_WINDOW bytes not yet ACKed. ZDAG_EIO when the
 * coordinator says nothing for UPLOAD_STALL_MS. */
static int upload(executor *x, const zd_msg_task *t, const uint8_t *hash, uint64_t size) {
    char path[ZD_STORE_PATH];
    if (!zd_store_path(x->cache_dir, hash, path, sizeof path))
        return ZDAG_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = fd >= 0 ? malloc(ZD_WIRE_CHUNK) : NULL;
    int rc = fd < 0 ? ZDAG_ESYS : buf ? 0 : ZDAG_ENOMEM;
    uint64_t sent = 0, acked = 0;
    while (rc == 0 && acked < size) {
        while (rc == 0 && sent < size && sent - acked < ZD_WIRE_WINDOW) {
            size_t want = size - sent < ZD_WIRE_CHUNK ? (size_t)(size - sent) : ZD_WIRE_CHUNK;
            ssize_t n = pread(fd, buf, want, (off_t)sent);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = ZDAG_ESYS;
                break;
            }
            zd_msg_chunk c = {
                .node = t->node, .token = t->token, .offset = sent, .data = {buf, (size_t)n}};
            if ((rc = zd_wire_encode_chunk(x->out, &c)) == 0)
                rc = send_frame(x);
            sent += (uint64_t)n;
        }
        /* The coordinator answers every chunk; one that goes silent fails the upload. */
        zmq_pollitem_t it = {.socket = x->sock, .events = ZMQ_POLLIN};
        int ready = rc < 0 ? 0 : zmq_poll(&it, 1, UPLOAD_STALL_MS);
        if (rc == 0 && ready == 0) {
            rc = ZDAG_EIO;
            break;
        }
        if (rc == 0 && ready < 0 && errno == EINTR)
            continue;
        if (rc == 0 && ready < 0)
            rc = ZDAG_EZMQ;
        zd_msg m;
        if (rc < 0 || (rc = next_message(x, &m)) < 0)
            break;
        if (m.type == ZD_MSG_ACK && m.u.ack.token == t->token && m.u.ack.offset > acked &&
            m.u.ack.offset <= sent)
            acked = m.u.ack.offset;
    }
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

_Static_assert(sizeof(double) == sizeof(uint64_t), "a cell keeps cpus as a double's bits");

/* Publishes the attempt (for the agent's CANCEL and timeout reports, and its --metrics) and
 * arms the watchdog. */
static void begin_attempt(executor *x, const zd_msg_task *t) {
    uint64_t timeout_ms = t->timeout_ms < MAX_TIMEOUT_MS ? t->timeout_ms : 0;
    uint64_t cpus_bits;
    memcpy(&cpus_bits, &t->cpus, sizeof cpus_bits);
    atomic_store(&x->cell->timeout_ms, timeout_ms);
    atomic_store(&x->cell->cpus_bits, cpus_bits);
    atomic_store(&x->cell->token, t->token);
    atomic_store(&x->cell->started, t->token);
    atomic_fetch_add(&x->cell->n_started, 1);
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

/* Ends the result in w: inline, or stored (and, from a remote executor, uploaded). Fills the
 * RESULT's output, size and hash (hash pointing at room of ZD_STORE_HASH bytes); an error
 * goes to res->error. Returns ZDAG_EINTR or ZDAG_EZMQ when the executor must stop. */
static int end_result(executor *x, const zd_msg_task *t, zd_store_writer *w, zd_proc_result *res,
                      zd_msg_result *r, uint8_t *hash) {
    bool stored = false;
    uint64_t size = 0;
    const char *inline_bytes = NULL;
    r->output = (zd_bytes){"", 0};
    r->size = 0;
    r->hash = NULL;
    if (res->error[0] || res->exit_code != 0)
        return 0;
    int rc = zd_store_writer_finish(w, &stored, hash, &size, &inline_bytes);
    if (rc == ZDAG_ETOOBIG) {
        char limit[32];
        zd_size_format(t->max_result, limit, sizeof limit);
        snprintf(res->error, sizeof res->error, "result is over max_result (%s)", limit);
        return 0;
    }
    if (rc < 0) {
        snprintf(res->error, sizeof res->error, "cannot store the result: %s",
                 strerror(zd_store_writer_errno(w)));
        return 0;
    }
    if (!stored) {
        r->output = (zd_bytes){inline_bytes, (size_t)size};
        r->size = size;
        return 0;
    }
    if (!t->store_dir.ptr && (rc = upload(x, t, hash, size)) < 0) {
        if (rc == ZDAG_EINTR || rc == ZDAG_EZMQ)
            return rc;
        if (rc == ZDAG_EIO)
            snprintf(res->error, sizeof res->error,
                     "cannot send the result: the coordinator stopped answering its chunks");
        else
            snprintf(res->error, sizeof res->error, "cannot send the result: %s",
                     zdag_strerror(rc));
        return 0;
    }
    r->output = (zd_bytes){NULL, 0};
    r->size = size;
    r->hash = hash;
    return 0;
}

/* Keeps what the next link of a chain needs of the task just run: its token, whether it
 * succeeded (r not NULL) and its result. */
static void remember(executor *x, const zd_msg_task *t, const zd_msg_result *r) {
    char *name = realloc(x->last_name, t->name.len + 1);
    x->last_token = t->token;
    x->last_ok = r && name && x->last_bytes && (r->hash || r->output.len <= ZD_RESULT_INLINE_MAX);
    if (!name)
        return;
    x->last_name = name;
    memcpy(name, t->name.ptr, t->name.len);
    name[t->name.len] = '\0';
    if (!x->last_ok)
        return;
    x->last_format = t->kind == 2 ? ZD_FORMAT_MSGPACK : ZD_FORMAT_RAW;
    x->last_size = r->size;
    x->last_stored = r->hash != NULL;
    if (r->hash)
        memcpy(x->last_hash, r->hash, ZD_STORE_HASH);
    else if (r->output.len)
        memcpy(x->last_bytes, r->output.ptr, r->output.len);
}

/* A chain link (t->after): it runs only after its parent, the task just before it, succeeded,
 * with the parent's result as that dependency; else it is passed over (DROPPED). Returns 1 when
 * it may run, 0 when passed over, or an error. */
static int link_ready(executor *x, zd_msg_task *t) {
    if (!t->after)
        return 1;
    if (t->after != x->last_token || !x->last_ok) {
        x->last_token = t->token;
        x->last_ok = false;
        return send_dropped(x, t->node, t->token);
    }
    for (uint32_t i = 0; i < t->n_deps; i++) {
        zd_dep_result *d = &t->deps[i];
        if (d->name.len != strlen(x->last_name) || memcmp(d->name.ptr, x->last_name, d->name.len))
            continue;
        d->format = x->last_format;
        d->size = x->last_size;
        d->hash = x->last_stored ? x->last_hash : NULL;
        d->data = x->last_stored ? (zd_bytes){NULL, 0} : (zd_bytes){x->last_bytes, x->last_size};
    }
    return 1;
}

/* A remote executor's command killed from outside by SIGTERM or SIGKILL (not its timeout) may
 * have died with its whole job (scancel, a Slurm time limit, a stopped worker host): the same
 * signal reaches this executor a moment later, and its SIGTERM handler ends it before the
 * RESULT goes, so that the attempt counts as lost with its worker rather than as the node
 * failing. Waits STOP_GRACE_NS for that; a node killed alone is reported as failed after it. */
static void stopped_with_its_job(const executor *x, const zd_proc_result *res) {
    if (!x->cfg->agent || res->timed_out || (res->signal != SIGTERM && res->signal != SIGKILL))
        return;
    struct timespec left = {0, STOP_GRACE_NS};
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static int handle_task(executor *x, const zd_msg_task *t) {
    await_lease(x);
    begin_attempt(x, t);
    zd_proc_result res;
    zd_proc_result_clear(&res);
    char dir[ZD_STORE_PATH];
    zd_store_writer *w = zd_store_writer_new(results_dir(x, t, dir, sizeof dir), t->max_result);
    int rc = w ? get_deps(x, t, res.error, sizeof res.error) : ZDAG_ENOMEM;
    if (rc == ZDAG_EINTR || rc == ZDAG_EZMQ) {
        zd_store_writer_free(&w);
        end_attempt(x);
        return rc;
    }
    if (!w)
        snprintf(res.error, sizeof res.error, "out of memory");
    else if (rc == 0 && t->kind == 2)
        run_function(x, t, w, &res);
    else if (rc == 0)
        run_command(x, t, w, &res);
    atomic_store(&x->deadline_ns, 0); /* it returned in time: its result goes */
    size_t log_len = 0;
    char *log = t->log_path.ptr || t->kind == 2 ? NULL : read_shipped_log(x, &log_len);
    zd_msg_result r = {.node = t->node, .log = {log, log_len}, .token = t->token};
    uint8_t hash[ZD_STORE_HASH];
    rc = w ? end_result(x, t, w, &res, &r, hash) : 0;
    bool ok = !res.error[0] && res.exit_code == 0;
    remember(x, t, ok && rc == 0 ? &r : NULL);
    r.ok = ok;
    r.exit_code = res.exit_code;
    r.signal = res.signal;
    r.error = ok ? (zd_bytes){NULL, 0} : (zd_bytes){res.error, strlen(res.error)};
    if (!ok) {
        r.output = (zd_bytes){"", 0};
        r.size = 0;
        r.hash = NULL;
    }
    if (rc == 0)
        rc = zd_wire_encode_result(x->out, &r);
    zd_store_writer_free(&w);
    free(log);
    if (rc == ZDAG_EINTR || rc == ZDAG_EZMQ) {
        end_attempt(x);
        return rc;
    }
    stopped_with_its_job(x, &res);
    /* A result of an attempt whose lease ended is not ours to give: another may run it. It goes
     * before the next task starts, so that a task that kills this process cannot take it along. */
    if (lease_expired(x, zd_boottime_ns()))
        fence(x);
    if (rc == 0) /* before it goes: once the run has it, its end may come before our count */
        atomic_fetch_add(ok ? &x->cell->n_succeeded : &x->cell->n_failed, 1);
    rc = rc < 0 ? rc : send_frame(x);
    end_attempt(x);
    return rc;
}

/* Takes every message waiting (waiting for one first when `wait`) into the inbox. Returns 0,
 * ZDAG_EINTR (BYE: the run is over) or an error. */
static int take_messages(executor *x, bool wait) {
    for (;;) {
        if (zmq_msg_recv(&x->in, x->sock, wait ? 0 : ZMQ_DONTWAIT) < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : ZDAG_EZMQ;
        }
        wait = false;
        int kept = sort_frame(x, &x->in);
        if (kept < 0)
            return kept;
        if (kept)
            continue;
        zd_msg m;
        if (zd_wire_decode(x->dec2, zmq_msg_data(&x->in), zmq_msg_size(&x->in), &m) < 0)
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped a malformed message: %s",
                    x->cfg->slot, zd_wire_decoder_error(x->dec2));
        else if (m.type == ZD_MSG_BYE)
            return ZDAG_EINTR;
        else
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped an unexpected message",
                    x->cfg->slot);
    }
}

/* Runs the tasks in the inbox one at a time, in order; each DROP or TASK that came meanwhile is
 * sorted in before the next starts. */
static int serve(executor *x) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = 0;
    for (;;) {
        if ((rc = take_messages(x, zd_inbox_count(x->inbox) == 0)) < 0) {
            if (rc == ZDAG_EINTR)
                rc = 0;
            break;
        }
        if (!zd_inbox_pop(x->inbox, &msg))
            continue;
        zd_msg m;
        if (zd_wire_decode(x->dec, zmq_msg_data(&msg), zmq_msg_size(&msg), &m) < 0) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped a malformed message: %s",
                    x->cfg->slot, zd_wire_decoder_error(x->dec));
            continue;
        }
        if (m.type != ZD_MSG_TASK) {
            zd_logf(&x->cfg->log, ZDAG_LOG_WARNING, "executor %u: dropped an unexpected message",
                    x->cfg->slot);
            continue;
        }
        if ((rc = link_ready(x, &m.u.task)) < 0)
            break;
        if (rc == 1 && (rc = handle_task(x, &m.u.task)) < 0) {
            if (rc == ZDAG_EINTR)
                rc = 0; /* BYE during the task: the run is over */
            break;
        }
    }
    zmq_msg_close(&msg);
    return rc;
}

/* Waits until the coordinator listens (the gate reads end-of-file: its writer closed it, or
 * died), when the executor was started before it bound its socket. */
static void await_gate(const zd_executor_cfg *cfg) {
    if (!cfg->gated)
        return;
    char byte;
    for (;;) {
        ssize_t n = read(cfg->gate_fd, &byte, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    close(cfg->gate_fd);
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
    /* The host's executors share their scratch directory's parent: results made or fetched
     * there are kept once for all of them. */
    snprintf(x.cache_dir, sizeof x.cache_dir, "%s/../results", cfg->scratch_dir);
    mkdir(x.cache_dir, 0700);
    zmq_msg_init(&x.in);

    int rc = ZDAG_ENOMEM;
    x.out = zd_wire_buf_new();
    x.dec = zd_wire_decoder_new();
    x.dec2 = zd_wire_decoder_new();
    x.inbox = zd_inbox_new();
    x.aside = zd_wire_buf_new();
    x.last_bytes = malloc(ZD_RESULT_INLINE_MAX + 1);
    x.ctx = zmq_ctx_new();
    if (cfg->fns && !(x.fns = zd_fn_caller_new(cfg->fns, cfg->max_result)))
        goto out_free;
    /* Functions and plugins may change signal dispositions: then they are read per command. */
    bool foreign = cfg->fns && (cfg->fns->n > 0 || cfg->fns->n_plugins > 0);
    if (!(x.spawner = zd_spawner_new(!foreign)))
        goto out_free;
    if (!x.out || !x.dec || !x.dec2 || !x.inbox || !x.aside || !x.ctx)
        goto out_free;
    zmq_ctx_set(x.ctx, ZMQ_IO_THREADS, 1);
    x.sock = zmq_socket(x.ctx, ZMQ_DEALER);
    int linger = 0;
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    /* A local executor waits at its gate until the coordinator has bound; a replacement or an
     * agent's may still connect early: retry every 10 ms, not libzmq's default 100 ms. */
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
        (await_gate(cfg), zmq_connect(x.sock, cfg->endpoint) < 0))
        goto out_free;
    zd_msg_hello hello = {.version = ZD_WIRE_VERSION,
                          .slot = cfg->slot,
                          .pid = getpid(),
                          .host = {cfg->host_id, strlen(cfg->host_id)},
                          .credit = CREDIT,
                          .agent = cfg->agent,
                          .secret = cfg->secret};
    if ((rc = zd_wire_encode_hello(x.out, &hello)) < 0 || (rc = send_frame(&x)) < 0)
        goto out_free;
    /* Started while the HELLO is on its way and the first task is not yet here: nothing runs
     * before serve(), so nothing needs watching before. */
    rc = ZDAG_ESYS;
    if (!start_watchdog(&x))
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
    zd_wire_decoder_free(&x.dec2);
    zd_inbox_free(&x.inbox);
    zd_wire_buf_free(&x.aside);
    free(x.last_name);
    free(x.last_bytes);
    zmq_msg_close(&x.in);
    zd_fn_caller_free(&x.fns);
    zd_spawner_free(&x.spawner);
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
    zd_executor_cfg own = *cfg;
    if (own.gated && own.gate_fd != 3 && (own.gate_fd = dup2(cfg->gate_fd, 3)) < 0)
        own.gated = false;
    close_range(own.gated ? 4 : 3, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    _exit(zd_executor_main(&own));
}
