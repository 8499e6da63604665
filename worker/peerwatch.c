/* The watch on a worker's connection: the socket monitor's events, named. */
#include "peerwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define WATCHED                                                                                    \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |                    \
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

struct zd_peerwatch {
    void *sock;            /* the watched socket (borrowed) */
    void *pair;            /* our end of its monitor */
    bool curve;            /* sock is a CurveZMQ client */
    bool up;               /* a handshake succeeded and its connection is open */
    zd_peer_state problem; /* the last problem not yet taken, or PENDING */
    uint32_t value;        /* its event's value */
    unsigned hangups;      /* handshakes hung up on: the states SERVER_KEY and HUNG_UP */
    bool debug;            /* ZDAG_DEBUG_MONITOR set: every event to stderr */
};

int zd_peerwatch_new(void *zmq_ctx, void *sock, bool curve, zd_peerwatch **out) {
    *out = NULL;
    zd_peerwatch *w = calloc(1, sizeof *w);
    if (!w)
        return ZDAG_ENOMEM;
    w->sock = sock;
    w->curve = curve;
    w->debug = getenv("ZDAG_DEBUG_MONITOR") != NULL;
    int ivl = ZD_PEERWATCH_HANDSHAKE_MS, linger = 0;
    char inproc[64];
    snprintf(inproc, sizeof inproc, "inproc://zdag-peerwatch-%p", (void *)w);
    if (zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl) < 0 ||
        zmq_socket_monitor(sock, inproc, WATCHED) < 0)
        goto out_free;
    if (!(w->pair = zmq_socket(zmq_ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(w->pair, inproc) < 0)
        goto out_stop;
    *out = w;
    return 0;
out_stop:
    zmq_socket_monitor(sock, NULL, 0);
    if (w->pair)
        zmq_close(w->pair);
out_free:
    free(w);
    return ZDAG_EZMQ;
}

void zd_peerwatch_free(zd_peerwatch **w) {
    if (!w || !*w)
        return;
    zmq_socket_monitor((*w)->sock, NULL, 0);
    zmq_close((*w)->pair);
    free(*w);
    *w = NULL;
}

void *zd_peerwatch_socket(const zd_peerwatch *w) {
    return w->pair;
}

/* True for the problems a later, vaguer failure must not hide. */
static bool telling(zd_peer_state s) {
    return s == ZD_PEER_KEY_REFUSED || s == ZD_PEER_AUTH_FAILED || s == ZD_PEER_MECHANISM ||
           s == ZD_PEER_PROTOCOL;
}

static void set_problem(zd_peerwatch *w, zd_peer_state s, uint32_t value) {
    if (s == ZD_PEER_SERVER_KEY || s == ZD_PEER_HUNG_UP)
        w->hangups++;
    if (telling(w->problem) && !telling(s))
        return; /* e.g. the hang-up of libzmq's retry after a ZAP refusal */
    w->problem = s;
    w->value = value;
}

static void on_event(zd_peerwatch *w, uint16_t event, uint32_t value) {
    if (w->debug)
        fprintf(stderr, "zdag monitor: event 0x%x value 0x%x\n", event, value);
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        w->up = true;
        if (!telling(w->problem))
            w->problem = ZD_PEER_PENDING; /* a refused connect or a drop before: over now */
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        /* A retry after a handshake failure says nothing new: keep the telling problem. */
        if (w->problem == ZD_PEER_PENDING || w->problem == ZD_PEER_NOBODY)
            set_problem(w, ZD_PEER_NOBODY, value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        set_problem(w, value == 400 ? ZD_PEER_KEY_REFUSED : ZD_PEER_AUTH_FAILED, value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        set_problem(w,
                    value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? ZD_PEER_MECHANISM
                    : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && w->curve
                        ? ZD_PEER_SERVER_KEY
                        : ZD_PEER_PROTOCOL,
                    value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        set_problem(w,
                    value != EPIPE ? ZD_PEER_DROPPED
                    : w->curve     ? ZD_PEER_SERVER_KEY
                                   : ZD_PEER_HUNG_UP,
                    value);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (w->up) {
            w->up = false;
            if (w->problem == ZD_PEER_PENDING)
                set_problem(w, ZD_PEER_DISCONNECTED, value);
        }
        break;
    default: /* CONNECTED: the handshake decides */
        break;
    }
}

zd_peer_state zd_peerwatch_read(zd_peerwatch *w, uint32_t *value) {
    for (;;) {
        zmq_msg_t head;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, w->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            break;
        }
        /* Frame 1: event (uint16) and value (uint32), native order; frame 2: the endpoint. */
        uint16_t event = 0;
        uint32_t v = 0;
        if (zmq_msg_size(&head) >= 6) {
            memcpy(&event, zmq_msg_data(&head), sizeof event);
            memcpy(&v, (const char *)zmq_msg_data(&head) + 2, sizeof v);
        }
        bool more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            more = zmq_msg_recv(&rest, w->pair, 0) >= 0 && zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        on_event(w, event, v);
    }
    if (value)
        *value = w->value;
    if (w->problem != ZD_PEER_PENDING)
        return w->problem;
    return w->up ? ZD_PEER_UP : ZD_PEER_PENDING;
}

void zd_peerwatch_take(zd_peerwatch *w) {
    w->problem = ZD_PEER_PENDING;
    w->value = 0;
}

unsigned zd_peerwatch_hangups(const zd_peerwatch *w) {
    return w->hangups;
}

bool zd_peerwatch_plain_answers(void *zmq_ctx, const char *endpoint, int timeout_ms) {
    void *probe = zmq_socket(zmq_ctx, ZMQ_DEALER);
    zd_peerwatch *w = NULL;
    bool up = false;
    int linger = 0;
    if (!probe || zmq_setsockopt(probe, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zd_peerwatch_new(zmq_ctx, probe, false, &w) < 0 || zmq_connect(probe, endpoint) < 0)
        goto out_close;
    for (int waited = 0; waited < timeout_ms && !up; waited += 20) {
        zmq_pollitem_t item = {w->pair, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) < 0 && errno != EINTR)
            break;
        zd_peer_state s = zd_peerwatch_read(w, NULL);
        up = s == ZD_PEER_UP;
        if (s != ZD_PEER_PENDING && s != ZD_PEER_UP && s != ZD_PEER_NOBODY)
            break; /* it hung up on a plain handshake too */
    }
out_close:
    zd_peerwatch_free(&w);
    if (probe)
        zmq_close(probe);
    return up;
}
