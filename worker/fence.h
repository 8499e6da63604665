/* The agent's lease on its attempts, kept from the coordinator's heartbeat acknowledgements.
 * The agent's BEATs carry seq = 1, 2, 3...; the coordinator answers with the highest seq it has
 * received. The lease ends T_fence after the send time of the last acknowledged beat (before
 * any ack: T_fence after WELCOME). Pure arithmetic: every call takes `now` (CLOCK_BOOTTIME
 * nanoseconds, which counts time spent stopped or suspended), so a fake clock tests it. */
#ifndef ZD_FENCE_H
#define ZD_FENCE_H

#include <stdbool.h>
#include <stdint.h>

#define ZD_FENCE_RING 64 /* beats whose send time is remembered; older acks are ignored */

typedef struct zd_fence {
    uint64_t seq[ZD_FENCE_RING];    /* seq of each remembered beat (index seq % ring), 0 unused */
    int64_t sent_ns[ZD_FENCE_RING]; /* and its send time */
    uint64_t last_sent;             /* highest seq sent, 0 before the first */
    uint64_t acked;                 /* highest seq acknowledged, 0 before the first */
    int64_t fence_ns;               /* T_fence */
    int64_t until_ns;               /* the lease ends at this time */
} zd_fence;

/* Starts a lease at WELCOME: it ends fence_ns after now. */
void zd_fence_init(zd_fence *f, int64_t fence_ns, int64_t now);

/* Records a beat sent at now; returns the seq to put in it (1, 2, 3...). */
uint64_t zd_fence_sent(zd_fence *f, int64_t now);

/* The coordinator acknowledged seq: the lease moves to send_time(seq) + T_fence. Returns true
 * when the ack was taken; false (and nothing changes) for seq 0, a seq never sent, one no newer
 * than the last ack, or one too old to be remembered. */
bool zd_fence_ack(zd_fence *f, uint64_t seq);

/* Whether the lease has ended at now (now >= its end). */
bool zd_fence_expired(const zd_fence *f, int64_t now);

/* When the lease ends (CLOCK_BOOTTIME ns). */
int64_t zd_fence_until(const zd_fence *f);

/* The current CLOCK_BOOTTIME time in ns: what the callers pass as now. */
int64_t zd_boottime_ns(void);

#endif
