/* The ZAP handler (ZeroMQ RFC 27): the gate that admits only authorized workers.
 *
 * A CURVE server socket proves its own key, but libzmq admits ANY client key unless a ZAP
 * handler answers on inproc://zeromq.zap.01 in the socket's context. This module is that
 * handler: a thread with a REP socket that answers each handshake of a socket whose ZAP domain
 * is ZD_CURVE_ZAP_DOMAIN ("zdag", set by zd_curve_server()):
 *
 *   CURVE  200 when the client's 32-byte public key is in the authorized set (the reply's
 *          user id is the key's file name, readable on each received message with
 *          zmq_msg_gets(msg, "User-Id")); else 400 "unknown key", logged.
 *   NULL   200 only when started with allow_null (`--insecure`); else 400, logged.
 *   other  400 (PLAIN, GSSAPI, ...), logged; so is a request for another ZAP domain.
 *
 * Refusals are logged (ZDAG_LOG_WARNING) as
 *   "refused a worker with an unknown key (Z85 KEY) from ADDRESS: its .pub file is not in
 *    --authorized-keys"
 * A refused worker retries its connection every 100 ms or so (a zdag worker gives up at once);
 * the same key from the same address is logged once, and again only after ZD_ZAP_LOG_QUIET_S
 * seconds, then ending " (N more since)" with the refusals held back (every refusal is
 * counted). */
#ifndef ZD_ZAP_H
#define ZD_ZAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "curve.h"
#include "log.h"
#include "zdag.h"

#define ZD_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* fixed by RFC 27 */
#define ZD_ZAP_LOG_QUIET_S 60 /* a repeated refusal is logged once per this many seconds */

typedef struct zd_zap zd_zap;

typedef struct zd_zap_opts {
    bool allow_null;   /* admit peers without CURVE (the NULL mechanism): `--insecure` only */
    const zd_log *log; /* where refusals are logged (borrowed; must outlive the handler);
                          NULL = nowhere. Called from the handler thread: the sink must be
                          thread-safe (zdag_log_stderr is) */
} zd_zap_opts;

/* Starts the handler in a new thread of zmq_ctx, serving ZD_ZAP_ENDPOINT. Call it before
 * binding any CURVE server socket of that context, and after forking (the forked child has
 * no handler thread). keys (borrowed; must outlive the handler; may be NULL to admit no
 * CURVE client) is read-only from the handler thread. opts may be NULL for the defaults
 * (refuse NULL, log nothing). The thread blocks every signal, so a signalfd of the calling
 * thread still sees them. Returns 0 and sets *out (stop it with zd_zap_stop()); ZDAG_EEXIST
 * when the context already has a ZAP handler; ZDAG_EZMQ, ZDAG_ESYS or ZDAG_ENOMEM. */
int zd_zap_start(void *zmq_ctx, const zd_keyset *keys, const zd_zap_opts *opts,
                 zd_zap **out) ZDAG_MUST_USE;

/* Stops the handler thread, joins it and frees everything; sets *z to NULL. Accepts NULL.
 * Call it before zmq_ctx_term() of the context (it also returns cleanly after). While it is
 * stopped, CURVE server sockets of the context admit every key again: close them first. */
void zd_zap_stop(zd_zap **z);

/* Handshakes admitted and refused so far (either may be NULL). Safe from any thread. */
void zd_zap_counts(const zd_zap *z, uint64_t *admitted, uint64_t *refused);

#endif
