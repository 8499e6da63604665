/* The host agent: one DEALER to the coordinator, a signalfd for SIGCHLD/SIGINT/SIGTERM, and a
 * set of executors that connect to the coordinator themselves. */
#include "agent.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "wire.h"
#include "xset.h"

#define LOST_AFTER_BEATS 5   /* silent heartbeat intervals before the coordinator is lost */
#define JOIN_WAIT_S 5.0      /* how long one attempt to join waits for WELCOME */
#define RECONNECT_MAX_S 30.0 /* longest back-off between attempts to join */
#define GIVE_UP_S 60.0       /* without --forever: stop trying to join after this long */
#define MAX_EARLY_DEATHS 3   /* an executor slot dying this often before work is retired */

typedef enum session_end { END_BYE, END_LOST, END_SIGNAL, END_ERROR } session_end;

typedef struct agent {
    const zd_agent_cfg *cfg;            /* borrowed */
    int sfd;                            /* signalfd */
    int signal;                         /* the signal that stopped us, or 0 */
    char scratch[256];                  /* private directory of the executors' scratch files */
    void *ctx;                          /* ZeroMQ context of the current session */
    void *sock;                         /* DEALER to the coordinator */
    zd_wire_buf *out;                   /* encoder */
    zd_wire_decoder *dec;               /* decoder */
    uint32_t id;                        /* agent id from WELCOME */
    double beat_s;                      /* heartbeat interval */
    double last_heard;                  /* when the coordinator last spoke */
    char *plugins[ZD_WIRE_MAX_PLUGINS]; /* from WELCOME, owned */
    uint32_t n_plugins;                 /* entries in plugins */
    zd_fn_table fns;                    /* the program's functions and the plugins */
    zd_xset *xs;                        /* the executors of the current session */
    int *early_deaths;                  /* per slot */
    bool joined;                        /* the current session got a WELCOME */
} agent;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_out(agent *a) {
    return zmq_send(a->sock, zd_wire_buf_data(a->out), zd_wire_buf_size(a->out), ZMQ_DONTWAIT) < 0
               ? ZDAG_EZMQ
               : 0;
}

/* Reads pending signals: SIGCHLD is handled by the caller; returns true on SIGINT/SIGTERM. */
static bool read_signals(agent *a, bool *child) {
    struct signalfd_siginfo si;
    *child = false;
    while (read(a->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            *child = true;
        else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
            a->signal = (int)si.ssi_signo;
    }
    return a->signal != 0;
}

static void close_session(agent *a) {
    if (a->sock)
        zmq_close(a->sock);
    if (a->ctx)
        zmq_ctx_term(a->ctx);
    a->sock = a->ctx = NULL;
    for (uint32_t i = 0; i < a->n_plugins; i++)
        free(a->plugins[i]);
    a->n_plugins = 0;
}

/* Connects and sends JOIN. */
static int open_session(agent *a) {
    const zd_agent_cfg *cfg = a->cfg;
    a->ctx = zmq_ctx_new();
    a->sock = a->ctx ? zmq_socket(a->ctx, ZMQ_DEALER) : NULL;
    int linger = 200, reconnect_ms = 100;
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    if (!a->sock || zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(a->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_setsockopt(a->sock, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms) < 0)
        return ZDAG_EZMQ;
    if (cfg->curve_public &&
        zd_curve_client(a->sock, cfg->curve_public, cfg->curve_secret, cfg->curve_server) < 0)
        return ZDAG_EZMQ;
    if (zmq_connect(a->sock, cfg->connect) < 0) {
        fprintf(stderr, "zdag worker: cannot connect to %s: %s\n", cfg->connect,
                zmq_strerror(errno));
        return ZDAG_EZMQ;
    }
    zd_msg_join j = {.version = ZD_WIRE_VERSION,
                     .host = {cfg->host_id, strlen(cfg->host_id)},
                     .slots = cfg->slots,
                     .cpus = cfg->cpus,
                     .n_res = (uint32_t)cfg->n_res,
                     .pid = getpid()};
    for (size_t i = 0; i < cfg->n_res && i < ZD_WIRE_MAX_RESOURCES; i++) {
        j.res_names[i] = (zd_bytes){cfg->res[i].name, strlen(cfg->res[i].name)};
        j.res_amounts[i] = cfg->res[i].amount;
    }
    int rc = zd_wire_encode_join(a->out, &j);
    return rc < 0 ? rc : send_out(a);
}

/* Receives one message if one is waiting (or arrives within timeout_ms); returns its type, 0
 * for none, -1 for a malformed one (dropped and logged). */
static int receive(agent *a, int timeout_ms, zd_msg *m, zmq_msg_t *msg, bool *child) {
    zmq_pollitem_t items[2] = {{a->sock, 0, ZMQ_POLLIN, 0}, {NULL, a->sfd, ZMQ_POLLIN, 0}};
    *child = false;
    if (zmq_poll(items, 2, timeout_ms) < 0)
        return 0;
    if ((items[1].revents & ZMQ_POLLIN) && read_signals(a, child))
        return 0;
    if (!(items[0].revents & ZMQ_POLLIN) || zmq_msg_recv(msg, a->sock, ZMQ_DONTWAIT) < 0)
        return 0;
    if (zd_wire_decode(a->dec, zmq_msg_data(msg), zmq_msg_size(msg), m) < 0) {
        fprintf(stderr, "zdag worker: dropped a malformed message: %s\n",
                zd_wire_decoder_error(a->dec));
        return -1;
    }
    return (int)m->type;
}

/* Waits for WELCOME; keeps its agent id, heartbeat and plugins. */
static bool await_welcome(agent *a) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    double until = mono() + JOIN_WAIT_S;
    bool ok = false, child;
    while (!ok && !a->signal && mono() < until) {
        zd_msg m;
        if (receive(a, 100, &m, &msg, &child) != ZD_MSG_WELCOME)
            continue;
        a->id = m.u.welcome.agent;
        a->beat_s = m.u.welcome.heartbeat_ms / 1000.0;
        for (uint32_t i = 0; i < m.u.welcome.n_plugins; i++)
            if ((a->plugins[a->n_plugins] = zd_bytes_dup(m.u.welcome.plugins[i])))
                a->n_plugins++;
        ok = true;
    }
    zmq_msg_close(&msg);
    return ok;
}

/* Forks the session's executors, which connect to the coordinator as this agent's. */
static int start_executors(agent *a) {
    const zd_agent_cfg *cfg = a->cfg;
    a->fns = (zd_fn_table){
        .entries = cfg->fns, .n = cfg->n_fns, .plugins = a->plugins, .n_plugins = a->n_plugins};
    zd_executor_cfg base = {.endpoint = cfg->connect,
                            .host_id = cfg->host_id,
                            .fns = &a->fns,
                            .agent = a->id,
                            .curve_public = cfg->curve_public,
                            .curve_secret = cfg->curve_secret,
                            .curve_server = cfg->curve_server};
    if (!(a->xs = zd_xset_new(cfg->slots, &base, a->scratch)))
        return ZDAG_ENOMEM;
    for (uint32_t s = 0; s < cfg->slots; s++) {
        a->early_deaths[s] = 0;
        if (zd_xset_spawn(a->xs, s, NULL) < 0)
            return ZDAG_ESYS;
    }
    return 0;
}

/* An executor died: its command is killed, the coordinator told, the slot refilled. */
static void executor_died(agent *a, uint32_t slot, int status) {
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    zd_msg_lost l = {.agent = a->id, .slot = slot, .how = {how, strlen(how)}};
    if (zd_wire_encode_lost(a->out, &l) == 0)
        send_out(a);
    if (++a->early_deaths[slot] > MAX_EARLY_DEATHS * 10) {
        fprintf(stderr, "zdag worker: executor %u keeps dying (%s); not restarting it\n", slot,
                how);
        return;
    }
    if (zd_xset_spawn(a->xs, slot, NULL) < 0)
        fprintf(stderr, "zdag worker: cannot fork an executor: %s\n", strerror(errno));
}

/* Serves one joined session until BYE, silence or a signal. */
static session_end serve(agent *a) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    a->last_heard = mono();
    double next_beat = mono();
    session_end end = END_ERROR;
    for (;;) {
        double now = mono();
        if (now >= next_beat) {
            if (zd_wire_encode_beat(a->out, 1) == 0)
                send_out(a);
            next_beat = now + a->beat_s;
        }
        if (now - a->last_heard > LOST_AFTER_BEATS * a->beat_s) {
            fprintf(stderr, "zdag worker: the coordinator is silent for %.1f s: lost\n",
                    now - a->last_heard);
            end = END_LOST;
            break;
        }
        zd_msg m;
        bool child;
        int type = receive(a, (int)((next_beat - now) * 1000) + 1, &m, &msg, &child);
        if (a->signal) {
            end = END_SIGNAL;
            break;
        }
        if (child) {
            uint32_t slot;
            int status;
            while (zd_xset_reap(a->xs, &slot, &status))
                executor_died(a, slot, status);
        }
        if (type > 0)
            a->last_heard = mono();
        if (type == ZD_MSG_BYE) {
            end = END_BYE;
            break;
        }
    }
    zmq_msg_close(&msg);
    return end;
}

/* One session: join, run executors, serve, stop them. */
static session_end session(agent *a) {
    session_end end = END_ERROR;
    if (open_session(a) < 0 || !await_welcome(a)) {
        end = a->signal ? END_SIGNAL : END_LOST;
        goto out_close;
    }
    fprintf(stderr, "zdag worker: joined %s as worker %u (%u slots)\n", a->cfg->connect, a->id,
            a->cfg->slots);
    a->joined = true;
    if (start_executors(a) < 0) {
        fprintf(stderr, "zdag worker: cannot start executors: %s\n", strerror(errno));
        goto out_stop;
    }
    end = serve(a);
out_stop:
    /* Executors kill their commands' groups on SIGTERM: no orphaned work survives. */
    if (a->xs)
        zd_xset_stop(a->xs, SIGTERM, 2.0);
    zd_xset_free(&a->xs);
out_close:
    close_session(a);
    return end;
}

int zd_agent_run(const zd_agent_cfg *cfg) {
    agent a = {.cfg = cfg, .sfd = -1};
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    a.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    a.out = zd_wire_buf_new();
    a.dec = zd_wire_decoder_new();
    a.early_deaths = calloc(cfg->slots ? cfg->slots : 1, sizeof *a.early_deaths);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || access(tmp, W_OK) != 0 || strlen(tmp) > 200)
        tmp = "/tmp";
    zd_runtime_sweep(tmp); /* what agents killed with -9 left behind */
    snprintf(a.scratch, sizeof a.scratch, "%s/zdag-%d-XXXXXX", tmp, (int)getpid());
    int status = 3;
    if (a.sfd < 0 || !a.out || !a.dec || !a.early_deaths || !mkdtemp(a.scratch)) {
        fprintf(stderr, "zdag worker: cannot start: %s\n", strerror(errno));
        goto out_free;
    }
    double backoff = 0.5, first_try = mono();
    for (;;) {
        a.joined = false;
        session_end end = session(&a);
        if (a.joined)
            first_try = mono(); /* the give-up clock counts from the last time we were in */
        if (end == END_SIGNAL) {
            status = 128 + a.signal;
            break;
        }
        if (end == END_BYE && !cfg->forever) {
            status = 0;
            break;
        }
        if (end == END_BYE) {
            backoff = 0.5;
            first_try = mono();
            continue; /* wait for the next run */
        }
        if (!cfg->forever && mono() - first_try > GIVE_UP_S) {
            fprintf(stderr, "zdag worker: cannot reach a coordinator at %s\n", cfg->connect);
            status = 3;
            break;
        }
        /* Lost or not reached: try again after a growing pause (reading signals meanwhile). */
        struct pollfd pfd = {a.sfd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(backoff * 1000)) > 0) {
            bool child;
            if (read_signals(&a, &child)) {
                status = 128 + a.signal;
                break;
            }
        }
        backoff = backoff * 2 > RECONNECT_MAX_S ? RECONNECT_MAX_S : backoff * 2;
    }
out_free:
    if (a.scratch[0] && !strstr(a.scratch, "XXXXXX"))
        zd_rmtree(a.scratch);
    free(a.early_deaths);
    zd_wire_buf_free(&a.out);
    zd_wire_decoder_free(&a.dec);
    if (a.sfd >= 0)
        close(a.sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return status;
}
