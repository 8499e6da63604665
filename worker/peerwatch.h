/* The watch on a worker's connection to its coordinator: reads the connecting socket's monitor
 * (zmq_socket_monitor, libzmq 4.3) and names what went wrong, so that a worker says within
 * seconds why it cannot join instead of retrying in silence.
 *
 * Events and what they mean on the connecting side (libzmq 4.3.4, as measured):
 *
 *   CONNECT_RETRIED          the TCP (or ipc) connect failed: nothing listens there
 *   HANDSHAKE_SUCCEEDED      the ZMTP handshake (and CurveZMQ, and the coordinator's ZAP
 *                            check of our key) passed: the coordinator is there
 *   HANDSHAKE_FAILED_AUTH    the coordinator's ZAP handler refused us; the value is its status
 *                            code: 400 = our public key is not in its --authorized-keys
 *   HANDSHAKE_FAILED_PROTOCOL with ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: one side speaks
 *                            CurveZMQ, the other not (--insecure on one side only); any other
 *                            protocol error: the peer does not speak ZMTP as zdag does
 *   HANDSHAKE_FAILED_NO_DETAIL the peer closed the connection during the handshake (value:
 *                            errno, EPIPE). As a CurveZMQ client this is what a coordinator
 *                            with another key does (it cannot open our HELLO, sealed to the
 *                            key we pinned, and hangs up), and also one without CurveZMQ (it
 *                            sees the mechanism mismatch first): zd_peerwatch_plain_answers()
 *                            tells them apart. Without CurveZMQ: a coordinator that requires
 *                            it (the mismatch again), or a peer that is no ZeroMQ socket, or
 *                            no handshake within ZMQ_HANDSHAKE_IVL.
 * Only EPIPE (the peer read our greeting or HELLO and closed) is taken for those mistakes; any
 * other errno (ECONNRESET, ETIMEDOUT, 0) is a connection that broke: ZD_PEER_DROPPED.
 * (Measured on 4.3.4: the connecting side never saw MECHANISM_MISMATCH itself, the listening
 * side always did; CONNECT_RETRIED's value is the reconnect interval in ms, not an errno.)
 *   DISCONNECTED             an established connection closed
 *
 * All calls from the thread that owns the watched socket. */
#ifndef ZD_PEERWATCH_H
#define ZD_PEERWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "zdag.h"

/* ZMQ_HANDSHAKE_IVL of a worker's sockets: a handshake that has not completed by then is
 * dropped (and reported as HANDSHAKE_FAILED_NO_DETAIL), well inside the 5 s a worker has to
 * say what is wrong. */
#define ZD_PEERWATCH_HANDSHAKE_MS 3000

/* What the events so far say, most telling last. */
typedef enum zd_peer_state {
    ZD_PEER_PENDING = 0,  /* nothing yet (connecting) */
    ZD_PEER_UP,           /* handshake succeeded */
    ZD_PEER_NOBODY,       /* connect refused: nothing listens at the endpoint */
    ZD_PEER_KEY_REFUSED,  /* the coordinator's ZAP refused our key (status 400) */
    ZD_PEER_AUTH_FAILED,  /* the coordinator's ZAP failed otherwise (300, 500) */
    ZD_PEER_SERVER_KEY,   /* CurveZMQ handshake closed by the peer: not the pinned key */
    ZD_PEER_MECHANISM,    /* one side uses CurveZMQ, the other not */
    ZD_PEER_PROTOCOL,     /* the peer does not speak ZMTP (a protocol error) */
    ZD_PEER_HUNG_UP,      /* without CurveZMQ: the peer closed during the handshake */
    ZD_PEER_DROPPED,      /* the connection broke otherwise (not EPIPE: a reset, a timeout,
                             a coordinator shedding connections): worth a retry */
    ZD_PEER_DISCONNECTED, /* an established connection closed */
} zd_peer_state;

typedef struct zd_peerwatch zd_peerwatch;

/* Sets ZMQ_HANDSHAKE_IVL on sock and starts its monitor (call both before zmq_connect()).
 * curve: sock is a CurveZMQ client (it changes what a hang-up means). Returns 0 and sets *out
 * (free with zd_peerwatch_free() before closing sock), or ZDAG_EZMQ / ZDAG_ENOMEM. */
int zd_peerwatch_new(void *zmq_ctx, void *sock, bool curve, zd_peerwatch **out) ZDAG_MUST_USE;

/* Stops the monitor and frees it; sets *w to NULL. Accepts NULL. */
void zd_peerwatch_free(zd_peerwatch **w);

/* The monitor's PAIR socket, for the caller's zmq_poll (ZMQ_POLLIN). Borrowed. */
void *zd_peerwatch_socket(const zd_peerwatch *w);

/* Reads every event waiting, without blocking, and returns the state they leave: the last
 * problem seen since the last zd_peerwatch_take() (a problem outranks UP and PENDING), else
 * UP once the handshake succeeded, else PENDING. *value (may be NULL) gets the event's value
 * (the ZAP status code, the protocol error, the errno of a failed connect). */
zd_peer_state zd_peerwatch_read(zd_peerwatch *w, uint32_t *value);

/* Forgets the problem read last (after the caller acted on it). */
void zd_peerwatch_take(zd_peerwatch *w);

/* True when a plain (NULL mechanism) ZMTP handshake with endpoint succeeds within timeout_ms:
 * told apart this way, a CurveZMQ client that was hung up on meets a coordinator without
 * CurveZMQ (--insecure), not one with another key (both look the same from the client's side:
 * HANDSHAKE_FAILED_NO_DETAIL). The probe sends nothing and closes at once. */
bool zd_peerwatch_plain_answers(void *zmq_ctx, const char *endpoint, int timeout_ms);

/* Handshakes so far that ended in ZD_PEER_SERVER_KEY or ZD_PEER_HUNG_UP (the peer hung up, or
 * the CurveZMQ handshake failed cryptographically). Refused connects and broken connections
 * are not counted: what they say is no more than "not there yet". */
unsigned zd_peerwatch_hangups(const zd_peerwatch *w);

#endif
