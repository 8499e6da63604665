/* The core's one timer heap: retries, attempt deadlines, heartbeats, the journal window, the
 * progress tick and the first dispatch's muster are all entries (due, kind, id, gen) on
 * common/heap. A timer is never removed early: when it fires, its owner checks `gen` against
 * what it armed it for (e.g. the attempt token) and ignores a stale one. */
#ifndef ZD_TIMERS_H
#define ZD_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"

typedef enum zd_timer_kind {
    ZD_TIMER_RETRY,    /* id: node whose back-off ends; gen: its attempts count */
    ZD_TIMER_DEADLINE, /* id: node whose attempt's time is up; gen: the attempt token */
    ZD_TIMER_BEAT,     /* heartbeats to agents, and the check for silent ones */
    ZD_TIMER_SYNC,     /* the journal window elapsed */
    ZD_TIMER_DRAW,     /* the progress tick */
    ZD_TIMER_MUSTER,   /* stop waiting for every local executor before the first dispatch */
    ZD_TIMER_WAITING,  /* with --listen: say what the run waits for when nothing runs */
} zd_timer_kind;

typedef struct zd_timer {
    double due;         /* seconds since the run started */
    zd_timer_kind kind; /* what it is for */
    uint32_t id;        /* a node, or 0 */
    uint64_t gen;       /* what it was armed for (see zd_timer_kind) */
} zd_timer;

typedef struct zd_timers {
    zd_heap heap; /* entries: key due, a = kind << 32 | id, b = gen */
} zd_timers;

#define ZD_TIMERS_INIT                                                                             \
    { ZD_HEAP_INIT }

/* Arms a timer. Returns 0 or ZDAG_ENOMEM. */
int zd_timers_arm(zd_timers *t, double due, zd_timer_kind kind, uint32_t id, uint64_t gen)
    __attribute__((warn_unused_result));

/* Pops the earliest timer due at `now` into *out; false when none is due. */
bool zd_timers_due(zd_timers *t, double now, zd_timer *out);

/* When the earliest timer is due, or -1 when none is armed. */
double zd_timers_next(const zd_timers *t);

/* Frees every timer. */
void zd_timers_clear(zd_timers *t);

#endif
