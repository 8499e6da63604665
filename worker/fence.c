/* Lease arithmetic of the agent's fence. */
#include "fence.h"

#include <string.h>
#include <time.h>

void zd_fence_init(zd_fence *f, int64_t fence_ns, int64_t now) {
    memset(f, 0, sizeof *f);
    f->fence_ns = fence_ns;
    f->until_ns = now + fence_ns;
}

uint64_t zd_fence_sent(zd_fence *f, int64_t now) {
    uint64_t seq = ++f->last_sent;
    f->seq[seq % ZD_FENCE_RING] = seq;
    f->sent_ns[seq % ZD_FENCE_RING] = now;
    return seq;
}

bool zd_fence_ack(zd_fence *f, uint64_t seq) {
    if (seq == 0 || seq <= f->acked || seq > f->last_sent || f->seq[seq % ZD_FENCE_RING] != seq)
        return false;
    f->acked = seq;
    int64_t until = f->sent_ns[seq % ZD_FENCE_RING] + f->fence_ns;
    /* Send times only grow, but a lease never moves back whatever the clock did. */
    if (until > f->until_ns)
        f->until_ns = until;
    return true;
}

bool zd_fence_expired(const zd_fence *f, int64_t now) {
    return now >= f->until_ns;
}

int64_t zd_fence_until(const zd_fence *f) {
    return f->until_ns;
}

int64_t zd_boottime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
