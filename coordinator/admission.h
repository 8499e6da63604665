/* Admission: bounds the connections open on a listening ZeroMQ socket, so that a flood of
 * plain TCP connections (no handshake, no key) cannot use up the coordinator's descriptors.
 *
 * It reads the socket's monitor (zmq_socket_monitor on an inproc endpoint, a PAIR socket the
 * caller polls) and keeps count:
 *
 *   ACCEPTED(fd)           a connection is open (its peer's address is read from fd at once)
 *   HANDSHAKE_SUCCEEDED    it authenticated (CurveZMQ and ZAP accepted it)
 *   HANDSHAKE_FAILED_*     it did not: libzmq closes it; the next DISCONNECTED is that one
 *   DISCONNECTED(fd)       it closed
 *
 * When the connections open reach max_open, it stops accepting and logs once
 *   "N connections open on ENDPOINT: not accepting more until some close"
 * and accepts again (logged at INFO) when they drop below max_open / 2. Handshake failures
 * are counted per peer address (IP) and logged, the first within a second (see below) and
 * then at most once per ZD_ADMISSION_LOG_QUIET_S per address and kind of failure (with the
 * count held back since; a failure without detail counts with any line of its address), as
 *   "refused a peer at ADDR: it speaks no CurveZMQ (a worker with --insecure?)"
 *   "refused a peer at ADDR: it uses CurveZMQ, but this coordinator runs with --insecure"
 *                                   (ZMTP mechanism mismatch; the first with a CurveZMQ listener)
 *   "refused a peer at ADDR: its CurveZMQ handshake is not sealed to this coordinator's key
 *    (its --coordinator-key is another key)"            (ZMTP cryptographic error)
 *   "refused a peer at ADDR: it does not speak ZMTP as zdag does"   (other protocol errors)
 *   "refused a peer at ADDR: no handshake (a plain TCP peer, or one that hung up)"
 * A key that ZAP refused is logged by the ZAP handler with the key (zap.h), not here. libzmq
 * reports the event after the fact, so a retrying peer's connection may be closed before its
 * address is read ("?"), and both ends of a handshake race to hang up, so one failure alone
 * may say little. Every failure is therefore held for a second (zd_admission_tick()): the same
 * peer's next ones (it retries every 100 ms) may tell its address or say more, and they are
 * logged as one line in the most telling words (a cryptographic error over a mechanism
 * mismatch, which a zdag worker's plain probe causes after one, over any other protocol
 * error, over none). A failure without detail, or of unknown address, within a second of a
 * ZAP refusal is taken for the refused worker's next connection (cut as it gives up): counted,
 * not logged. Both ends of a mechanism mismatch race to hang up, so a plain peer's failures may
 * all read "no handshake".
 *
 * How "not accepting" is done. zmq_unbind() of the endpoint would stop the listener, but it
 * also closes every connection accepted through it (measured on libzmq 4.3.4: raw TCP peers
 * and authenticated DEALERs alike are dropped, with no DISCONNECTED event), so every remote
 * worker would lose its connection each time the bound is reached. Instead the listener stays
 * bound and each connection accepted while refusing is shut down (shutdown(2) on the
 * descriptor of its ACCEPTED event, after checking that it is still a TCP connection on the
 * listening port from the same peer): libzmq sees an ordinary peer disconnect and closes it.
 * Authenticated connections are never touched. While refusing, a descriptor is held for a
 * moment per refused connection only.
 *
 * Descriptors of events are libzmq's: the event is read after the fact, so a descriptor may
 * have been closed and reused; the checks above make a mistaken shutdown of anything but
 * another fresh connection to the listening port impossible.
 *
 * Call sequence (the coordinator's poll loop):
 *
 *   zd_admission_harden(sock);                         // before zmq_bind: ZMQ_HANDSHAKE_IVL
 *   zmq_bind(sock, "tcp://...");
 *   zd_admission *adm;
 *   zd_admission_new(zctx, sock, listen_endpoint, max_open, &log, &adm);
 *   items[k] = (zmq_pollitem_t){zd_admission_socket(adm), 0, ZMQ_POLLIN, 0};
 *   loop: zmq_poll(items, ...); if (items[k].revents & ZMQ_POLLIN)
 *             zd_admission_read(adm, now_s);         // never blocks; reads all pending events
 *   zd_admission_free(&adm);                           // before zmq_close(sock)
 *
 * A good max_open is what RLIMIT_NOFILE leaves once the run's own descriptors are counted:
 * zd_rlimit_spare_fds() (common/rlimits.h), e.g. half of it. All calls from one thread. */
#ifndef ZD_ADMISSION_H
#define ZD_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "zdag.h"

#define ZD_ADMISSION_HANDSHAKE_MS 5000 /* ZMQ_HANDSHAKE_IVL set by zd_admission_harden() */
#define ZD_ADMISSION_LOG_QUIET_S 60    /* one refusal line per peer address per this long */

typedef struct zd_admission zd_admission;

/* Sets ZMQ_HANDSHAKE_IVL (ZD_ADMISSION_HANDSHAKE_MS) on sock, so that a connection that never
 * completes its handshake is closed by libzmq. Call it before zmq_bind(). Returns 0 or
 * ZDAG_EZMQ. */
int zd_admission_harden(void *sock) ZDAG_MUST_USE;

/* Starts monitoring sock (a bound tcp listener of zmq_ctx; borrowed, must outlive the
 * admission) for connections: at most max_open (>= 2) open at once. endpoint is what sock was
 * bound to (for the log; the resolved ZMQ_LAST_ENDPOINT is used when sock has one). log is
 * borrowed (may be NULL: silent) and must outlive the admission. Returns 0 and sets *out (free
 * with zd_admission_free()), ZDAG_EINVAL, ZDAG_EZMQ or ZDAG_ENOMEM. */
int zd_admission_new(void *zmq_ctx, void *sock, const char *endpoint, unsigned max_open,
                     const zd_log *log, zd_admission **out) ZDAG_MUST_USE;

/* Logs the failures still held, stops the monitor and frees everything; sets *adm to NULL.
 * Accepts NULL. Call it before closing the monitored socket. */
void zd_admission_free(zd_admission **adm);

/* Says whether the listener is a CurveZMQ server (default: not), for the log's words. */
void zd_admission_set_curve(zd_admission *adm, bool curve);

/* The monitor's PAIR socket, for the caller's zmq_poll (ZMQ_POLLIN). Borrowed. */
void *zd_admission_socket(const zd_admission *adm);

/* Processes every monitor event waiting, without blocking; now is the caller's clock in
 * seconds (for the log's rate limit). Returns the number of events read, or ZDAG_EZMQ. */
int zd_admission_read(zd_admission *adm, double now);

/* Logs the failures held back (see above) once they waited a second. Call it on every loop
 * turn; zd_admission_free() logs what is still held. */
void zd_admission_tick(zd_admission *adm, double now);

/* True while failures are held: the caller's poll should wake within HOLD (250 ms will do) to
 * call zd_admission_tick(). */
bool zd_admission_holding(const zd_admission *adm);

/* Connections open now, as the events counted them. */
unsigned zd_admission_open(const zd_admission *adm);

/* True while new connections are refused (open reached max_open and has not yet dropped
 * below max_open / 2). */
bool zd_admission_refusing(const zd_admission *adm);

/* Connections refused so far (shut down at accept), and handshakes that failed. Either
 * pointer may be NULL. */
void zd_admission_counts(const zd_admission *adm, unsigned long *refused,
                         unsigned long *handshake_failures);

#endif
