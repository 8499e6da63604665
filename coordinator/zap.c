/* The ZAP handler thread: answers libzmq's authentication requests (RFC 27). */
#include "zap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_MAX_FRAMES 16 /* a request has 6 frames plus the mechanism's credentials */
#define ZAP_ADDR_MAX 64   /* longest peer address kept for the log (IPv6 fits) */
#define ZAP_RECENT 32     /* refusals remembered to keep repeats out of the log */

/* A refusal logged recently: repeats of it stay out of the log for ZD_ZAP_LOG_QUIET_S. */
typedef struct recent_refusal {
    uint8_t key[ZD_CURVE_KEY_BYTES]; /* the client's key (zero for other mechanisms) */
    char address[ZAP_ADDR_MAX];      /* the peer's address */
    char why[16];                    /* the kind of refusal: mechanism or "domain" */
    double logged_at;                /* monotonic seconds of the last log line; 0 = unused */
    unsigned held;                   /* repeats kept out of the log since that line */
} recent_refusal;

struct zd_zap {
    void *rep;                         /* REP socket on ZD_ZAP_ENDPOINT; the thread's own */
    const zd_keyset *keys;             /* authorized keys (borrowed), or NULL */
    bool allow_null;                   /* admit the NULL mechanism */
    const zd_log *log;                 /* refusal log (borrowed), or NULL */
    int stop_pipe[2];                  /* writing a byte to [1] stops the thread */
    pthread_t thread;                  /* the handler thread */
    atomic_uint_fast64_t admitted;     /* handshakes answered 200 */
    atomic_uint_fast64_t refused;      /* handshakes answered 400 or 500 */
    recent_refusal recent[ZAP_RECENT]; /* thread-owned: the log's memory of repeats */
};

/* One request: the frames, received in full. */
typedef struct zap_request {
    zmq_msg_t frames[ZAP_MAX_FRAMES]; /* initialised up to n */
    size_t n;                         /* frames kept */
    bool truncated;                   /* more frames came than fit */
} zap_request;

/* An answer: status code, text and user id. */
typedef struct zap_answer {
    const char *code; /* "200", "400" or "500" */
    const char *text; /* status text */
    const char *user; /* user id ("" for none) */
} zap_answer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool frame_is(zmq_msg_t *m, const char *s) {
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Copies a frame as a printable string (other bytes become '?'). */
static void frame_text(zmq_msg_t *m, char *out, size_t cap) {
    size_t n = zmq_msg_size(m) < cap - 1 ? zmq_msg_size(m) : cap - 1;
    const unsigned char *p = zmq_msg_data(m);
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[n] = '\0';
}

/* True when this refusal should be logged now: the same kind of refusal of the same key from
 * the same address was not logged within the quiet time. *held gets the repeats kept out of
 * the log since its last line (to say with this one). */
static bool should_log(zd_zap *z, const char *why, const uint8_t key[ZD_CURVE_KEY_BYTES],
                       const char *address, unsigned *held) {
    double now = now_s();
    recent_refusal *slot = &z->recent[0];
    for (size_t i = 0; i < ZAP_RECENT; i++) {
        recent_refusal *r = &z->recent[i];
        if (r->logged_at > 0 && memcmp(r->key, key, ZD_CURVE_KEY_BYTES) == 0 &&
            strcmp(r->address, address) == 0 && strcmp(r->why, why) == 0) {
            if (now - r->logged_at < ZD_ZAP_LOG_QUIET_S) {
                r->held++;
                return false;
            }
            slot = r;
            break;
        }
        if (r->logged_at < slot->logged_at)
            slot = r; /* the oldest (or an unused) entry is replaced */
    }
    *held = slot->logged_at > 0 && memcmp(slot->key, key, ZD_CURVE_KEY_BYTES) == 0 &&
                    strcmp(slot->address, address) == 0 && strcmp(slot->why, why) == 0
                ? slot->held
                : 0;
    slot->held = 0;
    memcpy(slot->key, key, ZD_CURVE_KEY_BYTES);
    snprintf(slot->address, sizeof slot->address, "%s", address);
    snprintf(slot->why, sizeof slot->why, "%s", why);
    slot->logged_at = now;
    return true;
}

/* " (N more times since)" for held repeats, or "". */
static const char *repeats(char *buf, size_t size, unsigned held) {
    if (held)
        snprintf(buf, size, " (%u more since)", held);
    else
        buf[0] = '\0';
    return buf;
}

/* Decides on a well-formed request: frames are version, request id, domain, address, routing
 * id, mechanism, credentials. */
static zap_answer decide(zd_zap *z, zap_request *req) {
    static const uint8_t no_key[ZD_CURVE_KEY_BYTES];
    char address[ZAP_ADDR_MAX], mechanism[16], again[48] = "";
    unsigned held = 0;
    frame_text(&req->frames[3], address, sizeof address);
    frame_text(&req->frames[5], mechanism, sizeof mechanism);
    if (!frame_is(&req->frames[2], ZD_CURVE_ZAP_DOMAIN)) {
        if (should_log(z, "domain", no_key, address, &held))
            zd_logf(z->log, ZDAG_LOG_WARNING,
                    "refused a connection of an unknown ZAP domain from %s%s", address,
                    repeats(again, sizeof again, held));
        return (zap_answer){"400", "unknown domain", ""};
    }
    if (strcmp(mechanism, "CURVE") == 0 && req->n == 7 &&
        zmq_msg_size(&req->frames[6]) == ZD_CURVE_KEY_BYTES) {
        const uint8_t *key = zmq_msg_data(&req->frames[6]);
        const char *name = NULL;
        if (zd_keyset_has(z->keys, key, &name))
            return (zap_answer){"200", "OK", name};
        if (should_log(z, mechanism, key, address, &held)) {
            char z85[ZD_CURVE_Z85_LEN + 1];
            zmq_z85_encode(z85, key, ZD_CURVE_KEY_BYTES);
            zd_logf(z->log, ZDAG_LOG_WARNING,
                    "refused a worker with an unknown key (Z85 %s) from %s: its .pub file is "
                    "not in --authorized-keys%s",
                    z85, address, repeats(again, sizeof again, held));
        }
        return (zap_answer){"400", "unknown key", ""};
    }
    if (strcmp(mechanism, "NULL") == 0 && req->n == 6) {
        if (z->allow_null)
            return (zap_answer){"200", "OK", ""};
        if (should_log(z, mechanism, no_key, address, &held))
            zd_logf(z->log, ZDAG_LOG_WARNING,
                    "refused a worker without CurveZMQ from %s (give it "
                    "--curve-secret and --coordinator-key)%s",
                    address, repeats(again, sizeof again, held));
        return (zap_answer){"400", "CURVE required", ""};
    }
    if (should_log(z, mechanism, no_key, address, &held))
        zd_logf(z->log, ZDAG_LOG_WARNING, "refused a worker using the %s mechanism from %s%s",
                mechanism, address, repeats(again, sizeof again, held));
    return (zap_answer){"400", "mechanism not allowed", ""};
}

/* Sends one frame; more: another follows. */
static int send_frame(void *sock, const void *data, size_t len, bool more) {
    return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Receives a whole request into req (frames past ZAP_MAX_FRAMES are read and dropped). */
static int recv_request(void *sock, zap_request *req) {
    req->n = 0;
    req->truncated = false;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        bool more = zmq_msg_more(&m);
        if (req->n < ZAP_MAX_FRAMES) {
            zmq_msg_move(&req->frames[req->n++], &m);
        } else {
            req->truncated = true;
        }
        zmq_msg_close(&m);
        if (!more)
            return 0;
    }
}

/* Answers one request. Returns -1 when the socket failed (the context is ending). */
static int serve_one(zd_zap *z) {
    zap_request req;
    for (size_t i = 0; i < ZAP_MAX_FRAMES; i++)
        zmq_msg_init(&req.frames[i]);
    int rc = recv_request(z->rep, &req);
    if (rc == 0) {
        zap_answer a;
        /* REP must answer every request, even one it cannot make sense of. */
        if (req.n < 6 || req.truncated || !frame_is(&req.frames[0], "1.0"))
            a = (zap_answer){"500", "malformed ZAP request", ""};
        else
            a = decide(z, &req);
        if (strcmp(a.code, "200") == 0)
            atomic_fetch_add(&z->admitted, 1);
        else
            atomic_fetch_add(&z->refused, 1);
        const void *id = req.n > 1 ? zmq_msg_data(&req.frames[1]) : "";
        size_t id_len = req.n > 1 ? zmq_msg_size(&req.frames[1]) : 0;
        if (send_frame(z->rep, "1.0", 3, true) < 0 || send_frame(z->rep, id, id_len, true) < 0 ||
            send_frame(z->rep, a.code, 3, true) < 0 ||
            send_frame(z->rep, a.text, strlen(a.text), true) < 0 ||
            send_frame(z->rep, a.user, strlen(a.user), true) < 0 ||
            send_frame(z->rep, "", 0, false) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < ZAP_MAX_FRAMES; i++)
        zmq_msg_close(&req.frames[i]);
    return rc;
}

static void *zap_thread(void *arg) {
    zd_zap *z = arg;
    zmq_pollitem_t items[2] = {{z->rep, 0, ZMQ_POLLIN, 0}, {NULL, z->stop_pipe[0], ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break; /* ETERM: the context is ending */
        }
        if (items[1].revents)
            break;
        if ((items[0].revents & ZMQ_POLLIN) && serve_one(z) < 0 && zmq_errno() == ETERM)
            break;
    }
    /* Unbinding an inproc endpoint takes effect at once, whereas zmq_close() releases it
     * later in libzmq's reaper thread: without it, a handler started right after
     * zd_zap_stop() could find the endpoint still taken. */
    zmq_unbind(z->rep, ZD_ZAP_ENDPOINT);
    zmq_close(z->rep);
    z->rep = NULL;
    return NULL;
}

int zd_zap_start(void *zmq_ctx, const zd_keyset *keys, const zd_zap_opts *opts, zd_zap **out) {
    *out = NULL;
    zd_zap *z = calloc(1, sizeof *z);
    if (!z)
        return ZDAG_ENOMEM;
    int rc = ZDAG_EZMQ;
    z->keys = keys;
    z->allow_null = opts && opts->allow_null;
    z->log = opts ? opts->log : NULL;
    atomic_init(&z->admitted, 0);
    atomic_init(&z->refused, 0);
    if (pipe2(z->stop_pipe, O_CLOEXEC) != 0) {
        rc = ZDAG_ESYS;
        goto out_free;
    }
    z->rep = zmq_socket(zmq_ctx, ZMQ_REP);
    if (!z->rep)
        goto out_close_pipe;
    int linger = 0;
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    /* Bound here, not in the thread, so that no handshake can slip in before the handler is
     * there: a socket may move to another thread after a full memory barrier, and
     * pthread_create is one. */
    if (zmq_bind(z->rep, ZD_ZAP_ENDPOINT) != 0) {
        rc = zmq_errno() == EADDRINUSE ? ZDAG_EEXIST : ZDAG_EZMQ;
        goto out_close_sock;
    }
    /* The thread inherits a full signal mask: signals stay with the thread that reads them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&z->thread, NULL, zap_thread, z);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rc = ZDAG_ESYS;
        goto out_close_sock;
    }
    *out = z;
    return 0;
out_close_sock:
    zmq_close(z->rep);
out_close_pipe:
    close(z->stop_pipe[0]);
    close(z->stop_pipe[1]);
out_free:
    free(z);
    return rc;
}

void zd_zap_stop(zd_zap **zp) {
    if (!zp || !*zp)
        return;
    zd_zap *z = *zp;
    ssize_t w;
    do
        w = write(z->stop_pipe[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(z->thread, NULL);
    close(z->stop_pipe[0]);
    close(z->stop_pipe[1]);
    free(z);
    *zp = NULL;
}

void zd_zap_counts(const zd_zap *z, uint64_t *admitted, uint64_t *refused) {
    /* The counters are only read; atomic_load wants a non-const object in C11. */
    zd_zap *m = (zd_zap *)z;
    if (admitted)
        *admitted = z ? atomic_load(&m->admitted) : 0;
    if (refused)
        *refused = z ? atomic_load(&m->refused) : 0;
}
