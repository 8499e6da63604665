/* Admission: counts a listener's connections from its monitor and refuses the excess. */
#include "admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

#define ADDR_MAX 64  /* an IPv6 address in text fits */
#define PEERS_MAX 64 /* peer addresses whose refusals are remembered for the rate limit */
#define ENDPOINT_MAX 256
#define HOLD_S 1.0 /* how long a failure waits for its peer's next, more telling ones */

#define MONITORED                                                                                  \
    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED |    \
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* A connection libzmq accepted, by its descriptor. */
typedef struct conn {
    bool open;           /* accepted and not yet disconnected */
    bool refused;        /* we shut it down: its handshake failure is ours, not the peer's */
    char addr[ADDR_MAX]; /* the peer's IP address */
} conn;

/* A peer address that failed a handshake: its log line's rate limit. */
typedef struct peer {
    char addr[ADDR_MAX]; /* "" = unused */
    unsigned long failures;
    int rank;           /* what its failures say (telling()): one line per address and rank */
    zd_log_limit limit; /* one line per ZD_ADMISSION_LOG_QUIET_S */
} peer;

struct zd_admission {
    void *sock;                       /* the monitored listener (borrowed) */
    void *pair;                       /* our end of its monitor */
    const zd_log *log;                /* where lines go (borrowed), or NULL */
    char endpoint[ENDPOINT_MAX];      /* the resolved endpoint, for the log */
    int port;                         /* its TCP port: an accepted descriptor's local port */
    unsigned max_open;                /* refuse at this many open connections */
    unsigned open;                    /* connections open */
    bool refusing;                    /* open reached max_open, not yet below max_open / 2 */
    int failed_kind;                  /* the last HANDSHAKE_FAILED_* not yet matched, or 0 */
    uint32_t failed_value;            /* its value (the protocol error) */
    bool curve;                       /* the listener is a CurveZMQ server */
    unsigned held_n;                  /* failures held back, waiting for a telling one */
    char held_addr[ADDR_MAX];         /* their peer's address, "?" while unknown */
    int held_kind;                    /* the most telling one's HANDSHAKE_FAILED_* */
    uint32_t held_value;              /* and its value */
    double held_since;                /* when the first came */
    double last_auth_s;               /* when ZAP last refused a key; < 0 = never */
    conn *conns;                      /* indexed by descriptor */
    size_t n_conns;                   /* entries allocated in conns */
    peer peers[PEERS_MAX];            /* refusal rate limits per address */
    size_t next_peer;                 /* the entry a new address replaces (round robin) */
    zd_log_limit accept_failed;       /* rate limit of "cannot accept" lines */
    unsigned long refused;            /* connections shut down at accept */
    unsigned long handshake_failures; /* handshakes that failed (ours excluded) */
};

static void flush_held(zd_admission *adm, double now);

int zd_admission_harden(void *sock) {
    int ivl = ZD_ADMISSION_HANDSHAKE_MS;
    return zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl) == 0 ? 0 : ZDAG_EZMQ;
}

/* The port of a tcp endpoint ("tcp://1.2.3.4:5555", "tcp://[::1]:5555"), or -1. */
static int endpoint_port(const char *endpoint) {
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) != 0 || !colon)
        return -1;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    return end && *end == '\0' && port > 0 && port < 65536 ? (int)port : -1;
}

int zd_admission_new(void *zmq_ctx, void *sock, const char *endpoint, unsigned max_open,
                     const zd_log *log, zd_admission **out) {
    if (!zmq_ctx || !sock || !endpoint || max_open < 2 || !out)
        return ZDAG_EINVAL;
    zd_admission *adm = calloc(1, sizeof *adm);
    if (!adm)
        return ZDAG_ENOMEM;
    adm->sock = sock;
    adm->log = log;
    adm->max_open = max_open;
    adm->accept_failed = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    adm->last_auth_s = -1;
    size_t len = sizeof adm->endpoint;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, adm->endpoint, &len) < 0 || !adm->endpoint[0])
        snprintf(adm->endpoint, sizeof adm->endpoint, "%s", endpoint);
    adm->port = endpoint_port(adm->endpoint);
    char inproc[64];
    snprintf(inproc, sizeof inproc, "inproc://zdag-admission-%p", (void *)adm);
    int linger = 0;
    if (zmq_socket_monitor(sock, inproc, MONITORED) < 0)
        goto out_free;
    if (!(adm->pair = zmq_socket(zmq_ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(adm->pair, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(adm->pair, inproc) < 0)
        goto out_stop;
    *out = adm;
    return 0;
out_stop:
    zmq_socket_monitor(sock, NULL, 0);
    if (adm->pair)
        zmq_close(adm->pair);
out_free:
    free(adm);
    return ZDAG_EZMQ;
}

void zd_admission_free(zd_admission **adm) {
    if (!adm || !*adm)
        return;
    flush_held(*adm, (*adm)->held_since + HOLD_S);
    zmq_socket_monitor((*adm)->sock, NULL, 0);
    zmq_close((*adm)->pair);
    free((*adm)->conns);
    free(*adm);
    *adm = NULL;
}

void zd_admission_set_curve(zd_admission *adm, bool curve) {
    adm->curve = curve;
}

void *zd_admission_socket(const zd_admission *adm) {
    return adm->pair;
}

unsigned zd_admission_open(const zd_admission *adm) {
    return adm->open;
}

bool zd_admission_refusing(const zd_admission *adm) {
    return adm->refusing;
}

void zd_admission_counts(const zd_admission *adm, unsigned long *refused,
                         unsigned long *handshake_failures) {
    if (refused)
        *refused = adm->refused;
    if (handshake_failures)
        *handshake_failures = adm->handshake_failures;
}

/* The entry of descriptor fd (grown as needed), or NULL when out of memory. */
static conn *conn_at(zd_admission *adm, int fd) {
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= adm->n_conns) {
        size_t n = adm->n_conns ? adm->n_conns : 64;
        while (n <= (size_t)fd)
            n *= 2;
        conn *c = realloc(adm->conns, n * sizeof *c);
        if (!c)
            return NULL;
        memset(c + adm->n_conns, 0, (n - adm->n_conns) * sizeof *c);
        adm->conns = c;
        adm->n_conns = n;
    }
    return &adm->conns[fd];
}

/* The peer's IP address of a TCP descriptor whose local port is ours, into addr; false when
 * fd is no longer such a connection (closed, or reused for something else). */
static bool peer_of(const zd_admission *adm, int fd, char *addr, size_t size) {
    struct sockaddr_storage local, remote;
    socklen_t llen = sizeof local, rlen = sizeof remote;
    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
        getpeername(fd, (struct sockaddr *)&remote, &rlen) < 0)
        return false;
    int port = -1;
    const void *ip = NULL;
    if (local.ss_family == AF_INET && remote.ss_family == AF_INET) {
        port = ntohs(((struct sockaddr_in *)&local)->sin_port);
        ip = &((struct sockaddr_in *)&remote)->sin_addr;
    } else if (local.ss_family == AF_INET6 && remote.ss_family == AF_INET6) {
        port = ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
        ip = &((struct sockaddr_in6 *)&remote)->sin6_addr;
    }
    if (!ip || (adm->port > 0 && port != adm->port))
        return false;
    return inet_ntop(remote.ss_family, ip, addr, (socklen_t)size) != NULL;
}

static void on_accepted(zd_admission *adm, int fd) {
    conn *c = conn_at(adm, fd);
    char addr[ADDR_MAX] = "?";
    bool live = peer_of(adm, fd, addr, sizeof addr);
    adm->open++;
    if (c) {
        c->open = true;
        c->refused = false;
        snprintf(c->addr, sizeof c->addr, "%s", addr);
    }
    if (!adm->refusing && adm->open >= adm->max_open) {
        adm->refusing = true;
        zd_logf(adm->log, ZDAG_LOG_WARNING,
                "%u connections open on %s: not accepting more until some close", adm->open,
                adm->endpoint);
    }
    /* The connection that reached the bound is kept; those after it are shut down. */
    if (adm->refusing && adm->open > adm->max_open && live && shutdown(fd, SHUT_RDWR) == 0) {
        adm->refused++;
        if (c)
            c->refused = true;
    }
}

/* How much a failure says: a cryptographic error (the peer sealed its HELLO to another key) is
 * the whole story even when a mechanism mismatch follows (a zdag worker's plain probe); a
 * mismatch says more than another protocol error, which says more than none. */
static int telling(int kind, uint32_t value) {
    if (kind != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return 0;
    return value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC        ? 3
           : value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? 2
                                                                 : 1;
}

/* What a failed handshake says about the peer, for the log. */
static const char *failure_reason(const zd_admission *adm, int kind, uint32_t value) {
    if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return adm->curve ? "it speaks no CurveZMQ (a worker with --insecure?)"
                          : "it uses CurveZMQ, but this coordinator runs with --insecure";
    if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        return "its CurveZMQ handshake is not sealed to this coordinator's key (its "
               "--coordinator-key is another key)";
    if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return "it does not speak ZMTP as zdag does";
    return "no handshake (a plain TCP peer, or one that hung up)";
}

/* Logs a peer whose handshake failed: the first time at once, then once per
 * ZD_ADMISSION_LOG_QUIET_S per address, with the number of failures held back, whatever their
 * kind: both ends of a mechanism mismatch race to hang up, so one peer's retries fail now as
 * a mismatch, now without detail (and a zdag worker's plain probe follows its failed CurveZMQ
 * handshake). A key that ZAP refused is logged by the ZAP handler (with the key), not here. A
 * connection that closed before its address could be read ("?") is counted with the peer
 * that failed last, since a retrying peer is the usual cause. */
/* Writes the line of peer p (its limit allowing), with held failures counted in. */
static void log_peer(zd_admission *adm, peer *p, int kind, uint32_t value, unsigned held,
                     double now) {
    unsigned suppressed = 0;
    if (!zd_log_limit_ok(&p->limit, now, ZD_ADMISSION_LOG_QUIET_S, &suppressed)) {
        p->limit.suppressed += held;
        return;
    }
    suppressed += held;
    const char *why = failure_reason(adm, kind, value);
    if (suppressed)
        zd_logf(adm->log, ZDAG_LOG_WARNING, "refused a peer at %s: %s (%u more since)", p->addr,
                why, suppressed);
    else
        zd_logf(adm->log, ZDAG_LOG_WARNING, "refused a peer at %s: %s", p->addr, why);
}

static peer *peer_entry(zd_admission *adm, const char *addr, int rank) {
    for (size_t i = 0; i < PEERS_MAX; i++)
        if (adm->peers[i].addr[0] && adm->peers[i].rank == rank &&
            strcmp(adm->peers[i].addr, addr) == 0)
            return &adm->peers[i];
    peer *p = &adm->peers[adm->next_peer];
    adm->next_peer = (adm->next_peer + 1) % PEERS_MAX;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->rank = rank;
    p->failures = 0;
    p->limit = (zd_log_limit)ZD_LOG_LIMIT_INIT;
    return p;
}

/* Logs the failures held back, with their peer (or "?"). */
static void flush_held(zd_admission *adm, double now) {
    if (adm->held_n == 0)
        return;
    peer *p = peer_entry(adm, adm->held_addr, telling(adm->held_kind, adm->held_value));
    p->failures += adm->held_n;
    log_peer(adm, p, adm->held_kind, adm->held_value, adm->held_n - 1, now);
    adm->held_n = 0;
}

static void log_refusal(zd_admission *adm, const char *addr, int kind, uint32_t value, double now) {
    if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        /* The ZAP handler logged it (with the key): the peer's line is said for a while. */
        adm->last_auth_s = now;
        if (adm->held_n && (strcmp(adm->held_addr, "?") == 0 || strcmp(adm->held_addr, addr) == 0 ||
                            strcmp(addr, "?") == 0))
            adm->held_n = 0; /* that worker's earlier attempts: ZAP's line says it all */
        return;
    }
    bool vague = kind == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, unknown = strcmp(addr, "?") == 0;
    /* A refused worker's next connections, cut as it gives up or retries: ZAP said it all
     * (with the key; a peer of unknown address cannot be told from it). */
    if ((vague || unknown) && adm->last_auth_s >= 0 && now - adm->last_auth_s < HOLD_S)
        return;
    if (!unknown) {
        /* Said a moment ago (in these words, or any for a failure without detail): counted
         * for its next line. */
        int rank = telling(kind, value);
        for (size_t i = 0; i < PEERS_MAX; i++) {
            peer *p = &adm->peers[i];
            if (p->addr[0] && strcmp(p->addr, addr) == 0 && (vague || p->rank == rank) &&
                p->limit.last_s >= 0 && now - p->limit.last_s < ZD_ADMISSION_LOG_QUIET_S) {
                p->failures++;
                p->limit.suppressed++;
                return;
            }
        }
    }
    if (unknown && !adm->held_n) {
        peer *recent = NULL;
        for (size_t i = 0; i < PEERS_MAX; i++)
            if (adm->peers[i].addr[0] && adm->peers[i].limit.last_s >= 0 &&
                now - adm->peers[i].limit.last_s < ZD_ADMISSION_LOG_QUIET_S &&
                (!recent || adm->peers[i].limit.last_s > recent->limit.last_s))
                recent = &adm->peers[i];
        if (recent) { /* the retrying peer logged a moment ago */
            recent->failures++;
            recent->limit.suppressed++;
            return;
        }
    }
    if (adm->held_n && !unknown && strcmp(adm->held_addr, "?") != 0 &&
        strcmp(adm->held_addr, addr) != 0)
        flush_held(adm, now); /* another peer's */
    /* Held for a moment: the same peer's next failures may tell more (see the header). */
    if (adm->held_n++ == 0) {
        snprintf(adm->held_addr, sizeof adm->held_addr, "%s", addr);
        adm->held_kind = kind;
        adm->held_value = value;
        adm->held_since = now;
        return;
    }
    if (!unknown)
        snprintf(adm->held_addr, sizeof adm->held_addr, "%s", addr);
    if (telling(kind, value) > telling(adm->held_kind, adm->held_value)) {
        adm->held_kind = kind;
        adm->held_value = value;
    }
}

bool zd_admission_holding(const zd_admission *adm) {
    return adm && adm->held_n > 0;
}

void zd_admission_tick(zd_admission *adm, double now) {
    if (adm && adm->held_n && now - adm->held_since >= HOLD_S)
        flush_held(adm, now);
}

static void on_disconnected(zd_admission *adm, int fd, double now) {
    conn *c = fd >= 0 && (size_t)fd < adm->n_conns ? &adm->conns[fd] : NULL;
    if (c && !c->open)
        c = NULL; /* not one we saw accepted (the monitor started late) */
    if (adm->open > 0)
        adm->open--;
    /* libzmq reports a failed handshake just before closing that connection. */
    if (adm->failed_kind && !(c && c->refused)) {
        adm->handshake_failures++;
        log_refusal(adm, c ? c->addr : "?", adm->failed_kind, adm->failed_value, now);
    }
    adm->failed_kind = 0;
    if (c)
        c->open = false;
    if (adm->refusing && adm->open < adm->max_open / 2) {
        adm->refusing = false;
        zd_logf(adm->log, ZDAG_LOG_INFO, "%u connections open on %s: accepting again", adm->open,
                adm->endpoint);
    }
}

static void on_event(zd_admission *adm, uint16_t event, uint32_t value, double now) {
    switch (event) {
    case ZMQ_EVENT_ACCEPTED:
        on_accepted(adm, (int)value);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        on_disconnected(adm, (int)value, now);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        adm->failed_kind = event;
        adm->failed_value = value;
        break;
    case ZMQ_EVENT_ACCEPT_FAILED: {
        unsigned suppressed = 0;
        if (zd_log_limit_ok(&adm->accept_failed, now, ZD_ADMISSION_LOG_QUIET_S, &suppressed))
            zd_logf(adm->log, ZDAG_LOG_WARNING, "cannot accept a connection on %s: %s",
                    adm->endpoint, strerror((int)value));
        break;
    }
    default: /* HANDSHAKE_SUCCEEDED, CLOSED (the listener itself): nothing to count */
        break;
    }
}

int zd_admission_read(zd_admission *adm, double now) {
    int n = 0;
    for (;;) {
        zmq_msg_t head, addr;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, adm->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            return errno == EAGAIN ? n : ZDAG_EZMQ;
        }
        /* Frame 1: event (uint16) and value (uint32), native order; frame 2: the endpoint. */
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&head) >= 6) {
            memcpy(&event, zmq_msg_data(&head), sizeof event);
            memcpy(&value, (const char *)zmq_msg_data(&head) + 2, sizeof value);
        }
        bool more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) {
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&addr, adm->pair, 0) < 0) {
                zmq_msg_close(&addr);
                return ZDAG_EZMQ;
            }
            more = zmq_msg_more(&addr);
            zmq_msg_close(&addr);
        }
        on_event(adm, event, value, now);
        n++;
    }
}
