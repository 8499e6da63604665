/* Executor slots and the idle stacks of hosts. */
#include "slots.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    zd_slot_state state;           /* see zd_slot_state */
    zd_sock_id sock;               /* the socket its executor speaks on */
    unsigned char rid[ZD_MAX_RID]; /* routing id of its executor */
    size_t rid_len;                /* bytes in rid; 0 before HELLO */
    int64_t node;                  /* the node it runs, or -1 */
    uint32_t host;                 /* host index */
    uint32_t agent;                /* agent id, 0 for the coordinator's own executors */
    uint32_t early_deaths;         /* deaths in a row before HELLO */
    int64_t pid;                   /* its executor's pid (from HELLO), 0 before */
    bool io_only;                  /* serves only nodes that take no CPU unit */
    uint8_t credit;                /* tasks its executor takes before a result (1..) */
    uint8_t q_head, q_n;           /* the ring of tasks sent ahead: first entry, entries */
    uint32_t queue[ZD_SLOT_QUEUE]; /* ... its nodes */
} slot;

typedef struct host_idle {
    uint32_t *v;  /* stack of idle slots */
    uint32_t n;   /* entries */
    uint32_t cap; /* room */
} host_idle;

struct zd_slots {
    slot *v;           /* every slot */
    uint32_t n;        /* slots */
    host_idle *hosts;  /* per host */
    uint32_t *idle;    /* per host: hosts[h].n, as placement reads it */
    uint32_t *idle_io; /* per host: how many of those are IO-only */
    uint32_t n_hosts;  /* entries in hosts and idle */
};

zd_slots *zd_slots_new(uint32_t n_local, uint32_t n_started) {
    zd_slots *s = calloc(1, sizeof *s);
    if (!s || zd_slots_add_host(s, 0) < 0 || (n_local && zd_slots_add(s, 0, n_local, 0) < 0)) {
        zd_slots_free(&s);
        return NULL;
    }
    for (uint32_t i = n_started; i < n_local; i++) {
        s->v[i].state = ZD_SLOT_DORMANT;
        s->v[i].io_only = true;
    }
    return s;
}

void zd_slots_wake(zd_slots *s, uint32_t i) {
    if (s->v[i].state == ZD_SLOT_DORMANT)
        s->v[i].state = ZD_SLOT_STARTING;
}

void zd_slots_free(zd_slots **sp) {
    if (!sp || !*sp)
        return;
    zd_slots *s = *sp;
    for (uint32_t h = 0; h < s->n_hosts; h++)
        free(s->hosts[h].v);
    free(s->hosts);
    free(s->idle);
    free(s->idle_io);
    free(s->v);
    free(s);
    *sp = NULL;
}

int zd_slots_add_host(zd_slots *s, uint32_t host) {
    if (host < s->n_hosts)
        return 0;
    host_idle *hosts = realloc(s->hosts, (host + 1) * sizeof *hosts);
    if (hosts)
        s->hosts = hosts;
    uint32_t *idle = realloc(s->idle, (host + 1) * sizeof *idle);
    if (idle)
        s->idle = idle;
    uint32_t *idle_io = realloc(s->idle_io, (host + 1) * sizeof *idle_io);
    if (idle_io)
        s->idle_io = idle_io;
    if (!hosts || !idle || !idle_io)
        return ZDAG_ENOMEM;
    for (uint32_t h = s->n_hosts; h <= host; h++) {
        s->hosts[h] = (host_idle){0};
        s->idle[h] = 0;
        s->idle_io[h] = 0;
    }
    s->n_hosts = host + 1;
    return 0;
}

int64_t zd_slots_add(zd_slots *s, uint32_t host, uint32_t n, uint32_t agent) {
    if (host >= s->n_hosts)
        return -1;
    host_idle *h = &s->hosts[host];
    slot *v = realloc(s->v, ((size_t)s->n + n) * sizeof *v);
    if (!v)
        return -1;
    s->v = v;
    uint32_t *stack = realloc(h->v, ((size_t)h->cap + n) * sizeof *stack);
    if (!stack)
        return -1;
    h->v = stack;
    h->cap += n;
    uint32_t first = s->n;
    for (uint32_t i = 0; i < n; i++)
        s->v[first + i] = (slot){
            .state = ZD_SLOT_STARTING, .node = -1, .host = host, .agent = agent, .credit = 1};
    s->n += n;
    return first;
}

uint32_t zd_slots_count(const zd_slots *s) {
    return s->n;
}

zd_slot_state zd_slots_state(const zd_slots *s, uint32_t i) {
    return s->v[i].state;
}

uint32_t zd_slots_host(const zd_slots *s, uint32_t i) {
    return s->v[i].host;
}

uint32_t zd_slots_agent(const zd_slots *s, uint32_t i) {
    return s->v[i].agent;
}

int64_t zd_slots_node(const zd_slots *s, uint32_t i) {
    return s->v[i].node;
}

static void push_idle(zd_slots *s, uint32_t i) {
    slot *x = &s->v[i];
    host_idle *h = &s->hosts[x->host];
    x->state = ZD_SLOT_IDLE;
    x->node = -1;
    h->v[h->n++] = i;
    s->idle[x->host] = h->n;
    s->idle_io[x->host] += x->io_only;
}

static void remove_idle(zd_slots *s, uint32_t i) {
    host_idle *h = &s->hosts[s->v[i].host];
    for (uint32_t k = 0; k < h->n; k++)
        if (h->v[k] == i) {
            h->v[k] = h->v[--h->n];
            s->idle_io[s->v[i].host] -= s->v[i].io_only;
            break;
        }
    s->idle[s->v[i].host] = h->n;
}

void zd_slots_ready(zd_slots *s, uint32_t i, const zd_peer *peer, int64_t pid) {
    slot *x = &s->v[i];
    x->pid = pid;
    x->sock = peer->sock;
    x->rid_len = peer->rid_len < sizeof x->rid ? peer->rid_len : sizeof x->rid;
    memcpy(x->rid, peer->rid, x->rid_len);
    x->early_deaths = 0;
    x->credit = 1;
    x->q_n = 0;
    x->q_head = 0;
    push_idle(s, i);
}

bool zd_slots_is_peer(const zd_slots *s, uint32_t i, const zd_peer *peer) {
    const slot *x = &s->v[i];
    return x->rid_len > 0 && x->sock == peer->sock && x->rid_len == peer->rid_len &&
           memcmp(x->rid, peer->rid, x->rid_len) == 0;
}

bool zd_slots_peer(const zd_slots *s, uint32_t i, zd_sock_id *sock, const unsigned char **rid,
                   size_t *rid_len) {
    const slot *x = &s->v[i];
    if (!x->rid_len || x->state == ZD_SLOT_DEAD || x->state == ZD_SLOT_STARTING)
        return false;
    *sock = x->sock;
    *rid = x->rid;
    *rid_len = x->rid_len;
    return true;
}

uint32_t zd_slots_take(zd_slots *s, uint32_t host, uint32_t node, bool io) {
    host_idle *h = &s->hosts[host];
    /* The most recently idle slot of the kind wanted (an IO-only one for an IO node when
     * there is one, so regular slots stay free for CPU-bound nodes). */
    bool want_io = io && s->idle_io[host] > 0;
    uint32_t k = h->n;
    while (k > 0 && s->v[h->v[k - 1]].io_only != want_io)
        k--;
    uint32_t i = h->v[k - 1];
    h->v[k - 1] = h->v[--h->n];
    s->idle[host] = h->n;
    s->idle_io[host] -= s->v[i].io_only;
    s->v[i].state = ZD_SLOT_BUSY;
    s->v[i].node = node;
    s->v[i].q_n = 0;
    s->v[i].q_head = 0;
    return i;
}

int64_t zd_slots_next(zd_slots *s, uint32_t i) {
    slot *x = &s->v[i];
    if (x->state != ZD_SLOT_BUSY)
        return -1;
    if (x->q_n == 0) {
        push_idle(s, i);
        return -1;
    }
    x->node = x->queue[x->q_head];
    x->q_head = (uint8_t)((x->q_head + 1) % ZD_SLOT_QUEUE);
    x->q_n--;
    return x->node;
}

void zd_slots_set_credit(zd_slots *s, uint32_t i, uint32_t credit) {
    s->v[i].credit = (uint8_t)(credit < 1                   ? 1
                               : credit > ZD_SLOT_QUEUE + 1 ? ZD_SLOT_QUEUE + 1
                                                            : credit);
}

uint32_t zd_slots_room(const zd_slots *s, uint32_t i) {
    const slot *x = &s->v[i];
    uint32_t ahead = x->credit > 1 ? x->credit - 1u : 0;
    return x->state == ZD_SLOT_BUSY && x->q_n < ahead ? ahead - x->q_n : 0;
}

void zd_slots_push(zd_slots *s, uint32_t i, uint32_t node) {
    slot *x = &s->v[i];
    x->queue[(x->q_head + x->q_n) % ZD_SLOT_QUEUE] = node;
    x->q_n++;
}

uint32_t zd_slots_queued(const zd_slots *s, uint32_t i) {
    return s->v[i].q_n;
}

uint32_t zd_slots_queued_at(const zd_slots *s, uint32_t i, uint32_t k) {
    const slot *x = &s->v[i];
    return x->queue[(x->q_head + k) % ZD_SLOT_QUEUE];
}

bool zd_slots_unqueue(zd_slots *s, uint32_t i, uint32_t node) {
    slot *x = &s->v[i];
    for (uint32_t k = 0; k < x->q_n; k++) {
        if (x->queue[(x->q_head + k) % ZD_SLOT_QUEUE] != node)
            continue;
        for (; k + 1 < x->q_n; k++)
            x->queue[(x->q_head + k) % ZD_SLOT_QUEUE] =
                x->queue[(x->q_head + k + 1) % ZD_SLOT_QUEUE];
        x->q_n--;
        return true;
    }
    return false;
}

int64_t zd_slots_gone(zd_slots *s, uint32_t i, bool replaced, uint32_t *ahead, uint32_t *n_ahead) {
    slot *x = &s->v[i];
    int64_t node = x->state == ZD_SLOT_BUSY ? x->node : -1;
    if (n_ahead)
        *n_ahead = 0;
    for (uint32_t k = 0; k < x->q_n && ahead && n_ahead; k++)
        ahead[(*n_ahead)++] = x->queue[(x->q_head + k) % ZD_SLOT_QUEUE];
    x->q_n = 0;
    x->q_head = 0;
    if (x->state == ZD_SLOT_IDLE)
        remove_idle(s, i);
    if (x->state == ZD_SLOT_STARTING)
        x->early_deaths++;
    x->state = replaced ? ZD_SLOT_STARTING : ZD_SLOT_DEAD;
    x->node = -1;
    x->rid_len = 0;
    x->pid = 0;
    return node;
}

int64_t zd_slots_pid(const zd_slots *s, uint32_t i) {
    return s->v[i].pid;
}

const uint32_t *zd_slots_idle(const zd_slots *s) {
    return s->idle;
}

const uint32_t *zd_slots_idle_io(const zd_slots *s) {
    return s->idle_io;
}

uint32_t zd_slots_early_deaths(const zd_slots *s, uint32_t i) {
    return s->v[i].early_deaths;
}
