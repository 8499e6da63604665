/* The core's timers on the shared heap. */
#include "timers.h"

int zd_timers_arm(zd_timers *t, double due, zd_timer_kind kind, uint32_t id, uint64_t gen) {
    return zd_heap_push(&t->heap, (zd_heap_entry){due, (uint64_t)kind << 32 | id, gen});
}

bool zd_timers_due(zd_timers *t, double now, zd_timer *out) {
    const zd_heap_entry *top = zd_heap_top(&t->heap);
    if (!top || top->key > now)
        return false;
    zd_heap_entry e;
    zd_heap_pop(&t->heap, &e);
    *out = (zd_timer){e.key, (zd_timer_kind)(e.a >> 32), (uint32_t)e.a, e.b};
    return true;
}

double zd_timers_next(const zd_timers *t) {
    const zd_heap_entry *top = zd_heap_top(&t->heap);
    return top ? top->key : -1;
}

void zd_timers_clear(zd_timers *t) {
    zd_heap_clear(&t->heap);
}
