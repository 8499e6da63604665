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

#include "agentstats.h"
#include "curve.h"
#include "fence.h"
#include "metrics.h"
#include "peerwatch.h"
#include "wire.h"
#include "xset.h"

#define SILENT_FENCES 3      /* after fencing, T_fence intervals before the session ends */
#define JOIN_WAIT_S 5.0      /* how long one attempt to join waits for WELCOME */
#define RECONNECT_MAX_S 30.0 /* longest back-off between attempts to join */
#define GIVE_UP_S 60.0       /* without --forever: stop trying to join after this long */
#define MAX_EARLY_DEATHS 3   /* an executor slot dying this often before work is retired */
#define PROBE_MS 1000        /* how long a plain handshake probe may take */
#define PROBLEM_QUIET_S 60.0 /* a retrying worker repeats the same reason once per this long */
#define METRICS_EVERY_S 0.5  /* the --metrics snapshot is this fresh at least */

typedef enum session_end {
    END_BYE,
    END_EVICTED,
    END_LOST,
    END_REFUSED, /* the coordinator cannot admit this worker as configured (a->problem) */
    END_SIGNAL,
    END_ERROR
} session_end;

#define WHY_MAX 160 /* bytes of a LOST report's reason */

typedef struct agent {
    const zd_agent_cfg *cfg;            /* borrowed */
    int sfd;                            /* signalfd */
    int signal;                         /* the signal that stopped us, or 0 */
    char scratch[256];                  /* private directory of the executors' scratch files */
    void *ctx;                          /* ZeroMQ context of the current session */
    void *sock;                         /* DEALER to the coordinator */
    zd_wire_buf *out;                   /* encoder */
    zd_wire_decoder *dec;               /* decoder */
    const zd_log *log;                  /* cfg's sink */
    uint32_t id;                        /* agent id from WELCOME */
    uint64_t secret;                    /* from WELCOME, for the executors' HELLO */
    int64_t beat_ns;                    /* heartbeat interval */
    int64_t last_heard;                 /* when the coordinator last spoke (CLOCK_BOOTTIME) */
    zd_fence fence;                     /* the lease, from acknowledged beats */
    bool fenced;                        /* the lease ended; nothing runs until it is renewed */
    char *plugins[ZD_WIRE_MAX_PLUGINS]; /* from WELCOME, owned */
    uint32_t n_plugins;                 /* entries in plugins */
    zd_fn_table fns;                    /* the program's functions and the plugins */
    zd_xset *xs;                        /* the executors of the current session */
    int *early_deaths;                  /* per slot */
    char (*killed_why)[WHY_MAX];        /* per slot: why we killed its executor, "" if not */
    bool joined;                        /* the current session got a WELCOME */
    int64_t idle_since;                 /* since when no executor ran a node (idle_exit_s) */
    bool asked;                         /* a LEAVE was sent since an executor last ran a node */
    bool left;                          /* ... and answered with BYE: the agent ends */
    zd_peerwatch *watch;                /* the connection's monitor, in a session */
    zd_peer_state problem;              /* why the last attempt to join failed */
    uint32_t problem_value;             /* its event's value (ZAP status, errno...) */
    zd_peer_state logged;               /* the problem last logged */
    double logged_at;                   /* when (mono) */
    unsigned repeats;                   /* attempts failing the same way since */
    zd_metrics *metrics;                /* the --metrics server, or NULL */
    double metrics_at;                  /* when its snapshot was last published (mono) */
    bool serving;                       /* between WELCOME and the session's end */
    zd_xset_tally done;                 /* what the executors of ended sessions did */
    uint64_t runs_joined;               /* WELCOMEs */
} agent;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Publishes the --metrics snapshot when the last is older than METRICS_EVERY_S (or `now`). */
static void publish_metrics(agent *a, bool now) {
    if (!a->metrics || (!now && mono() - a->metrics_at < METRICS_EVERY_S))
        return;
    a->metrics_at = mono();
    const zd_agent_cfg *cfg = a->cfg;
    zd_xset_tally t = {0};
    if (a->xs)
        zd_xset_tally_get(a->xs, &t);
    zd_agentstats s = {.host_id = cfg->host_id,
                       .connect = cfg->connect,
                       .slots = cfg->slots,
                       .busy = t.busy,
                       .cpus = cfg->cpus,
                       .cpus_used = t.cpus_used,
                       .started = a->done.started + t.started,
                       .succeeded = a->done.succeeded + t.succeeded,
                       .failed = a->done.failed + t.failed,
                       .lost = a->done.lost + t.lost,
                       .runs_joined = a->runs_joined,
                       .connected = a->serving && !a->fenced,
                       .heard_s =
                           a->last_heard ? (double)(zd_boottime_ns() - a->last_heard) / 1e9 : -1};
    char *text = NULL;
    size_t len = 0;
    if (zd_agentstats_text(&s, &text, &len) == 0)
        zd_metrics_publish(a->metrics, text, len);
    free(text);
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
    zd_peerwatch_free(&a->watch);
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
    if (zd_peerwatch_new(a->ctx, a->sock, cfg->curve_public != NULL, &a->watch) < 0)
        return ZDAG_EZMQ;
    if (zmq_connect(a->sock, cfg->connect) < 0) {
        /* (Checked here, on the connection itself: a throwaway socket to try the endpoint on
         * would reach the coordinator, which would log a peer that hung up.) */
        zd_logf(a->log, ZDAG_LOG_ERROR,
                "--connect %s: not an endpoint to connect to (%s); e.g. tcp://10.0.0.1:7700",
                cfg->connect, zmq_strerror(errno));
        return ZDAG_EINVAL; /* the endpoint itself is wrong: retrying cannot help */
    }
    zd_msg_join j = {
        .version = ZD_WIRE_VERSION,
        .host = {cfg->host_id, strlen(cfg->host_id)},
        .slots = cfg->slots,
        .cpus = cfg->cpus,
        .n_res = (uint32_t)cfg->n_res,
        .pid = getpid(),
        .allocation = {cfg->allocation, cfg->allocation ? strlen(cfg->allocation) : 0}};
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
        zd_logf(a->log, ZDAG_LOG_WARNING, "dropped a malformed message: %s",
                zd_wire_decoder_error(a->dec));
        return -1;
    }
    return (int)m->type;
}

static bool problem_is_fatal(zd_peer_state s);
static void log_problem(agent *a, bool fatal);

/* True when the watch's problem ends this attempt now: only a mistake that retrying cannot
 * cure does. A refused connect or a broken one is libzmq's to retry (every 100 ms) while we
 * wait for WELCOME: it is said at once, and the wait goes on. A hang-up during the handshake
 * is taken for a wrong coordinator key (or mechanism) only when it repeats: one alone can also
 * be a coordinator shedding connections or ending, or whatever held the port a moment. Refused
 * connects before it are no repeat (a worker started before its coordinator has those). */
static bool problem_settled(const agent *a, zd_peer_state s) {
    if (!problem_is_fatal(s))
        return false;
    if (s == ZD_PEER_SERVER_KEY || s == ZD_PEER_HUNG_UP)
        return zd_peerwatch_hangups(a->watch) >= 2;
    return true;
}

/* Waits for WELCOME; keeps its agent id, heartbeat, secret and plugins, and starts the lease:
 * T_fence from now. Stops early when the connection's monitor says why it cannot work
 * (a->problem). */
static bool await_welcome(agent *a) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    double until = mono() + JOIN_WAIT_S;
    bool ok = false, child, said = false;
    a->problem = ZD_PEER_PENDING;
    a->problem_value = 0;
    while (!ok && !a->signal && mono() < until) {
        publish_metrics(a, false);
        zmq_pollitem_t items[3] = {{a->sock, 0, ZMQ_POLLIN, 0},
                                   {NULL, a->sfd, ZMQ_POLLIN, 0},
                                   {zd_peerwatch_socket(a->watch), 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 3, 100) < 0 && errno != EINTR)
            break;
        if ((items[1].revents & ZMQ_POLLIN) && read_signals(a, &child))
            break;
        uint32_t value;
        zd_peer_state s = zd_peerwatch_read(a->watch, &value);
        if (s != ZD_PEER_PENDING) {
            a->problem = s;
            a->problem_value = value;
        }
        if (problem_settled(a, s)) {
            if (s == ZD_PEER_SERVER_KEY &&
                zd_peerwatch_plain_answers(a->ctx, a->cfg->connect, PROBE_MS))
                a->problem = ZD_PEER_MECHANISM;
            break;
        }
        if ((s == ZD_PEER_NOBODY || s == ZD_PEER_DROPPED) && !said) {
            log_problem(a, false); /* within the 5 s, once per attempt: the wait goes on */
            said = true;
        }
        zd_msg m;
        if (!(items[0].revents & ZMQ_POLLIN) || receive(a, 0, &m, &msg, &child) != ZD_MSG_WELCOME)
            continue;
        int64_t now = zd_boottime_ns();
        uint32_t hb_ms = m.u.welcome.heartbeat_ms ? m.u.welcome.heartbeat_ms : 1000;
        uint32_t fence_ms = m.u.welcome.fence_ms ? m.u.welcome.fence_ms : 3 * hb_ms;
        a->id = m.u.welcome.agent;
        a->secret = m.u.welcome.secret;
        a->beat_ns = (int64_t)hb_ms * 1000000;
        a->last_heard = now;
        a->fenced = false;
        zd_fence_init(&a->fence, (int64_t)fence_ms * 1000000, now);
        for (uint32_t i = 0; i < m.u.welcome.n_plugins; i++)
            if ((a->plugins[a->n_plugins] = zd_bytes_dup(m.u.welcome.plugins[i])))
                a->n_plugins++;
        ok = true;
    }
    zmq_msg_close(&msg);
    return ok;
}

/* True for the problems that retrying cannot cure: the worker's options or keys do not match
 * the coordinator's. */
static bool problem_is_fatal(zd_peer_state s) {
    return s == ZD_PEER_KEY_REFUSED || s == ZD_PEER_SERVER_KEY || s == ZD_PEER_MECHANISM ||
           s == ZD_PEER_PROTOCOL || s == ZD_PEER_HUNG_UP;
}

/* Says why the last attempt to join failed, in words a person can act on. */
static void describe_problem(const agent *a, char *out, size_t size) {
    const zd_agent_cfg *cfg = a->cfg;
    const char *ep = cfg->connect;
    switch (a->problem) {
    case ZD_PEER_KEY_REFUSED:
        snprintf(out, size,
                 "the coordinator at %s refused this worker's key (ZAP status 400): add its "
                 "public key %s (the .pub file beside %s) to the coordinator's "
                 "--authorized-keys directory",
                 ep, cfg->curve_public ? cfg->curve_public : "?",
                 cfg->secret_file ? cfg->secret_file : "the --curve-secret file");
        break;
    case ZD_PEER_AUTH_FAILED:
        snprintf(out, size,
                 "the coordinator at %s could not check this worker's key (ZAP status %u)", ep,
                 a->problem_value);
        break;
    case ZD_PEER_SERVER_KEY:
        snprintf(out, size,
                 "the coordinator at %s does not hold the key pinned by --coordinator-key %s "
                 "(it hung up on the CurveZMQ handshake): give the .pub file of the "
                 "coordinator's --curve-secret",
                 ep, cfg->server_key_file ? cfg->server_key_file : "");
        break;
    case ZD_PEER_MECHANISM:
        if (cfg->curve_public)
            snprintf(out, size,
                     "the coordinator at %s speaks no CurveZMQ (it runs with --insecure), but "
                     "this worker uses keys: use --insecure on both sides or on neither",
                     ep);
        else
            snprintf(out, size,
                     "the coordinator at %s requires CurveZMQ, but this worker runs with "
                     "--insecure: give it --curve-secret and --coordinator-key",
                     ep);
        break;
    case ZD_PEER_PROTOCOL:
        snprintf(out, size,
                 "the peer at %s does not speak zdag's protocol (ZMTP error 0x%x): is it the "
                 "coordinator's --listen endpoint?",
                 ep, a->problem_value);
        break;
    case ZD_PEER_HUNG_UP:
        snprintf(out, size,
                 "the coordinator at %s hangs up on this worker's plain handshake: it requires "
                 "CurveZMQ (give this worker --curve-secret and --coordinator-key instead of "
                 "--insecure), or it is no zdag coordinator",
                 ep);
        break;
    case ZD_PEER_DROPPED:
        snprintf(out, size, "the connection to %s broke during the handshake (%s)", ep,
                 a->problem_value ? strerror((int)a->problem_value) : "closed");
        break;
    case ZD_PEER_NOBODY:
        snprintf(out, size, "nothing listens at %s (connection refused)", ep);
        break;
    case ZD_PEER_UP:
        snprintf(out, size,
                 "the coordinator at %s accepted the connection but did not answer "
                 "within %g s",
                 ep, JOIN_WAIT_S);
        break;
    case ZD_PEER_DISCONNECTED:
        snprintf(out, size, "the coordinator at %s closed the connection", ep);
        break;
    default:
        snprintf(out, size, "no answer from %s within %g s", ep, JOIN_WAIT_S);
        break;
    }
}

/* Logs why joining failed: at once the first time, then (a retrying worker) only when the
 * reason changes or once a minute, with the number of attempts that failed the same way. */
static void log_problem(agent *a, bool fatal) {
    char why[512];
    describe_problem(a, why, sizeof why);
    double now = mono();
    if (!fatal && a->problem == a->logged && now - a->logged_at < PROBLEM_QUIET_S) {
        a->repeats++;
        return;
    }
    if (fatal)
        zd_logf(a->log, ZDAG_LOG_ERROR, "%s", why);
    else if (a->problem == a->logged && a->repeats)
        zd_logf(a->log, ZDAG_LOG_WARNING, "%s; retrying (%u more attempts failed so)", why,
                a->repeats);
    else
        zd_logf(a->log, ZDAG_LOG_WARNING, "%s; retrying%s", why,
                a->cfg->forever ? "" : " for up to 60 s");
    a->logged = a->problem;
    a->logged_at = now;
    a->repeats = 0;
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
                            .secret = a->secret,
                            .log = cfg->log,
                            .curve_public = cfg->curve_public,
                            .curve_secret = cfg->curve_secret,
                            .curve_server = cfg->curve_server};
    if (!(a->xs = zd_xset_new(cfg->slots, &base, a->scratch)))
        return ZDAG_ENOMEM;
    zd_xset_set_lease(a->xs, zd_fence_until(&a->fence));
    for (uint32_t s = 0; s < cfg->slots; s++) {
        a->early_deaths[s] = 0;
        a->killed_why[s][0] = '\0';
        if (zd_xset_spawn(a->xs, s, NULL) < 0)
            return ZDAG_ESYS;
    }
    return 0;
}

static double fence_s(const agent *a) {
    return (double)a->fence.fence_ns / 1e9;
}

/* Why an executor died, as its LOST report says it. */
static void describe_death(agent *a, uint32_t slot, int status, char *how, size_t size,
                           bool *explained) {
    /* An attempt was running: its executor exiting with one of these codes stopped it. */
    bool attempt = zd_xset_token(a->xs, slot) != 0;
    *explained = true;
    if (a->killed_why[slot][0]) {
        snprintf(how, size, "%s", a->killed_why[slot]);
    } else if (attempt && WIFEXITED(status) && WEXITSTATUS(status) == ZD_EXIT_TIMEOUT) {
        uint64_t ms = zd_xset_timeout_ms(a->xs, slot);
        if (ms)
            snprintf(how, size, "timed out after %g s", (double)ms / 1000.0);
        else
            snprintf(how, size, "timed out");
    } else if (attempt && WIFEXITED(status) && WEXITSTATUS(status) == ZD_EXIT_FENCED) {
        snprintf(how, size, "fenced: no word from the coordinator for %g s", fence_s(a));
    } else {
        *explained = false;
        if (WIFSIGNALED(status))
            snprintf(how, size, "signal %d", WTERMSIG(status));
        else
            snprintf(how, size, "exit status %d", WEXITSTATUS(status));
    }
    a->killed_why[slot][0] = '\0';
}

/* An executor died: its command is killed, the coordinator told (the report waits in the
 * socket while the coordinator cannot be reached), the slot refilled. */
static void executor_died(agent *a, uint32_t slot, int status, pid_t pid) {
    char how[WHY_MAX];
    bool explained;
    describe_death(a, slot, status, how, sizeof how, &explained);
    zd_msg_lost l = {.agent = a->id,
                     .slot = slot,
                     .how = {how, strlen(how)},
                     .pid = pid,
                     .started = zd_xset_started(a->xs, slot)};
    if (zd_wire_encode_lost(a->out, &l) == 0)
        send_out(a);
    /* Deaths we caused or an attempt chose (fence, cancel, timeout) say nothing of the slot. */
    if (!explained && ++a->early_deaths[slot] > MAX_EARLY_DEATHS * 10) {
        zd_logf(a->log, ZDAG_LOG_ERROR, "executor %u keeps dying (%s); not restarting it", slot,
                how);
        return;
    }
    if (zd_xset_spawn(a->xs, slot, NULL) < 0)
        zd_logf(a->log, ZDAG_LOG_ERROR, "cannot fork an executor: %s", strerror(errno));
}

/* The lease ended: every attempt of this host stops now (its executor and its command's
 * group; the executors' own watchdogs do the same at the same instant). */
static void fence_all(agent *a, int64_t now) {
    a->fenced = true;
    double silent = (double)(now - (zd_fence_until(&a->fence) - a->fence.fence_ns)) / 1e9;
    for (uint32_t s = 0; s < a->cfg->slots; s++)
        if (zd_xset_pid(a->xs, s) > 0 && zd_xset_token(a->xs, s) != 0) {
            snprintf(a->killed_why[s], WHY_MAX, "fenced: no word from the coordinator for %g s",
                     fence_s(a));
            zd_xset_kill(a->xs, s);
        }
    zd_logf(a->log, ZDAG_LOG_WARNING,
            "no word from the coordinator for %.1f s (T_fence %g s): stopped every node this "
            "host ran",
            silent, fence_s(a));
}

/* Checks the lease before anything else is done: fences when it ended. Returns false when
 * the coordinator has been silent so long past the fence that the session is over. */
static bool check_lease(agent *a) {
    int64_t now = zd_boottime_ns();
    if (!zd_fence_expired(&a->fence, now))
        return true;
    if (!a->fenced)
        fence_all(a, now);
    if (now < zd_fence_until(&a->fence) + SILENT_FENCES * a->fence.fence_ns)
        return true;
    zd_logf(a->log, ZDAG_LOG_WARNING, "the coordinator is silent for %.1f s: lost",
            (double)(now - a->last_heard) / 1e9);
    return false;
}

/* The coordinator's BEAT acknowledges our beat seq: the lease may move on. */
static void on_ack(agent *a, uint64_t seq) {
    if (!zd_fence_ack(&a->fence, seq))
        return;
    zd_xset_set_lease(a->xs, zd_fence_until(&a->fence));
    if (a->fenced && !zd_fence_expired(&a->fence, zd_boottime_ns())) {
        a->fenced = false;
        zd_logf(a->log, ZDAG_LOG_INFO, "the coordinator answers again: taking work again");
    }
}

/* CANCEL: stop the attempt `token` on executor `slot`, if it still runs there; the LOST
 * report follows when the executor is reaped. */
static void on_cancel(agent *a, const zd_msg_cancel *c) {
    uint64_t running = c->slot < a->cfg->slots ? zd_xset_token(a->xs, c->slot) : 0;
    if (running == 0 || running != c->token || zd_xset_pid(a->xs, c->slot) <= 0) {
        zd_logf(a->log, ZDAG_LOG_INFO,
                "ignored a CANCEL of attempt %016llx on executor %u: it does not run there",
                (unsigned long long)c->token, c->slot);
        return;
    }
    snprintf(a->killed_why[c->slot], WHY_MAX, "cancelled: %.*s", (int)c->why.len,
             c->why.ptr ? c->why.ptr : "");
    zd_logf(a->log, ZDAG_LOG_INFO, "executor %u: %s", c->slot, a->killed_why[c->slot]);
    zd_xset_kill(a->xs, c->slot);
}

/* --idle-exit: when no executor has run a node for idle_exit_s, asks the coordinator to let
 * it go (LEAVE). The coordinator answers BYE only when it has given none of them work (it may
 * have sent a task that has not started yet), so nothing is lost; otherwise the wait starts
 * again. Returns the next time to look (CLOCK_BOOTTIME ns), or INT64_MAX. */
static int64_t check_idle(agent *a, int64_t now) {
    if (a->cfg->idle_exit_s <= 0)
        return INT64_MAX;
    for (uint32_t s = 0; s < a->cfg->slots; s++)
        if (zd_xset_token(a->xs, s) != 0) {
            a->idle_since = now;
            a->asked = false;
        }
    int64_t due = a->idle_since + (int64_t)(a->cfg->idle_exit_s * 1e9);
    if (now < due)
        return due;
    zd_logf(a->log, ZDAG_LOG_INFO, "idle for %g s: asking the coordinator to leave",
            a->cfg->idle_exit_s);
    if (zd_wire_encode_leave(a->out, ZD_LEAVE_IDLE) == 0 && send_out(a) == 0)
        a->asked = true;
    a->idle_since = now;
    return now + (int64_t)(a->cfg->idle_exit_s * 1e9);
}

/* Serves one joined session until BYE, long silence or a signal. */
static session_end serve(agent *a) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int64_t next_beat = zd_boottime_ns();
    session_end end = END_ERROR;
    a->idle_since = next_beat;
    a->asked = false;
    for (;;) {
        /* The lease first: after a stop (CLOCK_BOOTTIME counted it) nothing else may run. */
        if (!check_lease(a)) {
            end = END_LOST;
            break;
        }
        int64_t now = zd_boottime_ns();
        if (now >= next_beat) {
            if (zd_wire_encode_beat(a->out, zd_fence_sent(&a->fence, now)) == 0)
                send_out(a);
            next_beat = now + a->beat_ns;
        }
        int64_t wake = next_beat, until = zd_fence_until(&a->fence), idle = check_idle(a, now);
        if (a->fenced)
            until += SILENT_FENCES * a->fence.fence_ns;
        if (until < wake)
            wake = until;
        if (idle < wake)
            wake = idle;
        int timeout_ms = wake > now ? (int)((wake - now) / 1000000) + 1 : 0;
        if (a->metrics && timeout_ms > 1000 * METRICS_EVERY_S)
            timeout_ms = (int)(1000 * METRICS_EVERY_S); /* the snapshot stays fresh */
        zd_msg m;
        bool child;
        int type = receive(a, timeout_ms, &m, &msg, &child);
        if (a->signal) {
            end = END_SIGNAL;
            break;
        }
        if (!check_lease(a)) {
            end = END_LOST;
            break;
        }
        if (child) {
            uint32_t slot;
            int status;
            pid_t pid;
            while (zd_xset_reap(a->xs, &slot, &status, &pid))
                executor_died(a, slot, status, pid);
        }
        if (type > 0)
            a->last_heard = zd_boottime_ns();
        if (type == ZD_MSG_BEAT) {
            on_ack(a, m.u.beat.seq);
        } else if (type == ZD_MSG_CANCEL) {
            on_cancel(a, &m.u.cancel);
        } else if (type == ZD_MSG_BYE) {
            end = m.u.bye.reason == ZD_BYE_EVICTED ? END_EVICTED : END_BYE;
            /* An idle agent that asked to leave is let go with BYE DONE (the run may go on). */
            a->left = end == END_BYE && a->asked;
            break;
        }
        publish_metrics(a, false);
    }
    zmq_msg_close(&msg);
    return end;
}

/* One session: join, run executors, serve, stop them. */
static session_end session(agent *a) {
    session_end end = END_ERROR;
    int rc = open_session(a);
    if (rc == ZDAG_EINVAL) {
        end = END_ERROR;
        goto out_close;
    }
    if (rc < 0 || !await_welcome(a)) {
        end = a->signal ? END_SIGNAL : END_LOST;
        if (end == END_LOST) {
            /* (A hang-up that did not repeat is not final either: the next attempt may join.) */
            bool fatal = rc == 0 && problem_settled(a, a->problem);
            if (fatal)
                end = END_REFUSED;
            log_problem(a, fatal && !a->cfg->forever);
        }
        goto out_close;
    }
    a->logged = ZD_PEER_PENDING;
    zd_logf(a->log, ZDAG_LOG_INFO, "joined %s as worker %u (%u slots)", a->cfg->connect, a->id,
            a->cfg->slots);
    a->joined = true;
    a->serving = true;
    a->runs_joined++;
    publish_metrics(a, true);
    /* Word at once, before forking (which can take long on a loaded host): the coordinator
     * counts T_lost from our last message, and the JOIN is all it has so far. */
    if (zd_wire_encode_beat(a->out, zd_fence_sent(&a->fence, zd_boottime_ns())) == 0)
        send_out(a);
    if (start_executors(a) < 0) {
        zd_logf(a->log, ZDAG_LOG_ERROR, "cannot start executors: %s", strerror(errno));
        goto out_stop;
    }
    end = serve(a);
    if (end == END_EVICTED)
        zd_logf(a->log, ZDAG_LOG_WARNING,
                "the coordinator declared this worker lost (silent too "
                "long); its nodes run elsewhere");
out_stop:
    /* Executors kill their commands' groups on SIGTERM: no orphaned work survives. */
    if (a->xs) {
        zd_xset_stop(a->xs, SIGTERM, 2.0);
        zd_xset_tally t;
        zd_xset_tally_get(a->xs, &t);
        a->done.started += t.started;
        a->done.succeeded += t.succeeded;
        a->done.failed += t.failed;
        a->done.lost += t.lost;
    }
    /* Stopped by a signal (scancel, a Slurm time limit, Ctrl-C): every attempt is over now, so
     * the coordinator may run them elsewhere at once rather than after T_lost. (The socket's
     * linger lets this go out as the session closes.) */
    if (end == END_SIGNAL && zd_wire_encode_leave(a->out, ZD_LEAVE_STOPPED) == 0)
        send_out(a);
    zd_xset_free(&a->xs);
    a->serving = false;
    publish_metrics(a, true);
out_close:
    close_session(a);
    return end;
}

/* Sleeps `seconds` (the snapshot kept fresh meanwhile); returns true when SIGINT or SIGTERM
 * came. */
static bool pause_for(agent *a, double seconds) {
    double until = mono() + seconds;
    for (double left = seconds; left > 0; left = until - mono()) {
        publish_metrics(a, false);
        double step = a->metrics && left > METRICS_EVERY_S ? METRICS_EVERY_S : left;
        struct pollfd pfd = {a->sfd, POLLIN, 0};
        bool child;
        if (poll(&pfd, 1, (int)(step * 1000) + 1) > 0 && read_signals(a, &child))
            return true;
    }
    return false;
}

/* Starts the --metrics server (its thread inherits the blocked signals). Returns 0, or the exit
 * status: 2 for an address that is invalid, 3 for one that cannot be listened on. */
static int start_metrics(agent *a) {
    char why[512];
    int rc = zd_metrics_start(a->cfg->metrics_addr, &a->metrics, why, sizeof why);
    if (rc < 0) {
        zd_logf(a->log, ZDAG_LOG_ERROR, "%s", why);
        return rc == ZDAG_EINVAL ? 2 : 3;
    }
    publish_metrics(a, true);
    return 0;
}

int zd_agent_run(const zd_agent_cfg *cfg) {
    agent a = {.cfg = cfg, .log = &cfg->log, .sfd = -1};
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
    a.killed_why = calloc(cfg->slots ? cfg->slots : 1, sizeof *a.killed_why);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || access(tmp, W_OK) != 0 || strlen(tmp) > 200)
        tmp = "/tmp";
    zd_runtime_sweep(tmp); /* what agents killed with -9 left behind */
    snprintf(a.scratch, sizeof a.scratch, "%s/zdag-%d-XXXXXX", tmp, (int)getpid());
    int status = 3;
    if (a.sfd < 0 || !a.out || !a.dec || !a.early_deaths || !a.killed_why || !mkdtemp(a.scratch)) {
        zd_logf(a.log, ZDAG_LOG_ERROR, "cannot start: %s", strerror(errno));
        goto out_free;
    }
    int failed = cfg->metrics_addr ? start_metrics(&a) : 0;
    if (failed) {
        status = failed;
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
        if (end == END_BYE && (!cfg->forever || a.left)) {
            if (a.left)
                zd_logf(a.log, ZDAG_LOG_INFO, "left the run: idle for %g s", cfg->idle_exit_s);
            status = 0;
            break;
        }
        if (end == END_EVICTED && !cfg->forever) {
            status = 3;
            break;
        }
        if (end == END_ERROR && !a.joined) {
            status = 2;
            break;
        }
        if (end == END_REFUSED && !cfg->forever) {
            status = 2;
            break;
        }
        if (end == END_BYE || end == END_EVICTED) {
            backoff = 0.5;
            first_try = mono();
            continue; /* wait for the next run */
        }
        if (!cfg->forever && mono() - first_try > GIVE_UP_S) {
            char why[512];
            describe_problem(&a, why, sizeof why);
            zd_logf(a.log, ZDAG_LOG_ERROR, "cannot reach a coordinator at %s for %g s: %s",
                    cfg->connect, GIVE_UP_S, why);
            status = 3;
            break;
        }
        /* Lost or not reached: try again after a growing pause (reading signals meanwhile). */
        if (pause_for(&a, backoff)) {
            status = 128 + a.signal;
            break;
        }
        backoff = backoff * 2 > RECONNECT_MAX_S ? RECONNECT_MAX_S : backoff * 2;
    }
out_free:
    zd_metrics_stop(&a.metrics);
    if (a.scratch[0] && !strstr(a.scratch, "XXXXXX"))
        zd_rmtree(a.scratch);
    free(a.early_deaths);
    free(a.killed_why);
    zd_wire_buf_free(&a.out);
    zd_wire_decoder_free(&a.dec);
    if (a.sfd >= 0)
        close(a.sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return status;
}
