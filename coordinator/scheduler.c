/* Node states and dependency counting over the ready queue. */
#include "scheduler.h"

#include <assert.h>
#include <stdlib.h>

struct zd_sched {
    const zd_graph *g;                          /* borrowed graph */
    const zd_prio_key *keys;                    /* borrowed priorities */
    zd_readyq **ready;                          /* ready nodes by priority, one queue per class */
    uint32_t n_classes;                         /* entries in ready */
    uint32_t *class_of;                         /* class per node (owned copy); NULL: all 0 */
    uint32_t *ready_pos;                        /* heap index of each ready node (owned) */
    uint8_t *state;                             /* zd_node_state per node */
    uint32_t *pending;                          /* deps not yet succeeded, per node */
    uint32_t *skip_cause;                       /* failed node behind each skip, or NO_CAUSE */
    uint32_t count[8];                          /* nodes per state */
    uint32_t *stack;                            /* scratch for skipping descendants */
    bool keep_going;                            /* a failure skips descendants only */
    bool has_fans;                              /* the graph has run-time fan-outs */
    size_t n;                                   /* nodes in the arrays (the graph may have
                                                   more when growing them failed) */
    bool stopped;                               /* no more nodes are handed out */
    void (*on_ready)(void *ctx, uint32_t node); /* told of each node entering a queue */
    void *on_ready_ctx;                         /* passed to on_ready */
    void (*on_fan)(void *ctx, uint32_t node);   /* told of each template whose deps are done */
    void *on_fan_ctx;                           /* passed to on_fan */
};

#define NO_CAUSE UINT32_MAX /* in skip_cause: not skipped for a failure */

/* The ready queue of node's class. */
static zd_readyq *queue_of(const zd_sched *s, uint32_t node) {
    return s->ready[s->class_of ? s->class_of[node] : 0];
}

const char *zd_node_state_name(zd_node_state s) {
    static const char *names[] = {"waiting", "ready",   "running", "succeeded",
                                  "failed",  "skipped", "cached",  "excluded"};
    return (unsigned)s < 8 ? names[s] : "unknown";
}

static void set_state(zd_sched *s, uint32_t node, zd_node_state st) {
    s->count[s->state[node]]--;
    s->state[node] = (uint8_t)st;
    s->count[st]++;
}

/* Allocates one ready queue per class, each sized for the nodes of its class. */
static bool make_queues(zd_sched *s, const uint32_t *class_of, uint32_t n_classes, size_t n) {
    s->n_classes = n_classes ? n_classes : 1;
    if (s->n_classes > 1)
        s->class_of = calloc(n ? n : 1, sizeof *s->class_of);
    s->ready = calloc(s->n_classes, sizeof *s->ready);
    s->ready_pos = malloc((n ? n : 1) * sizeof *s->ready_pos);
    for (size_t i = 0; s->ready_pos && i < n; i++)
        s->ready_pos[i] = ZD_READYQ_ABSENT;
    size_t *size = calloc(s->n_classes, sizeof *size);
    bool ok = (s->class_of || s->n_classes == 1) && s->ready && s->ready_pos && size;
    if (s->n_classes == 1)
        size[0] = n;
    for (size_t i = 0; ok && s->class_of && i < n; i++) {
        s->class_of[i] = class_of && class_of[i] < s->n_classes ? class_of[i] : 0;
        size[s->class_of[i]]++;
    }
    for (uint32_t c = 0; ok && c < s->n_classes; c++)
        ok = (s->ready[c] = zd_readyq_new_indexed(s->keys, size[c], s->ready_pos)) != NULL;
    free(size);
    return ok;
}

zd_sched *zd_sched_new(const zd_graph *g, const zd_prio_key *keys, const bool *active,
                       bool keep_going) {
    return zd_sched_new_classes(g, keys, active, keep_going, NULL, 1);
}

static void push_ready(zd_sched *s, uint32_t node) {
    zd_readyq_push(queue_of(s, node), node);
    if (s->on_ready)
        s->on_ready(s->on_ready_ctx, node);
}

void zd_sched_on_ready(zd_sched *s, void (*fn)(void *ctx, uint32_t node), void *ctx) {
    s->on_ready = fn;
    s->on_ready_ctx = ctx;
}

static void release_children(zd_sched *s, uint32_t node);
static void template_released(zd_sched *s, uint32_t node);

void zd_sched_on_fan(zd_sched *s, void (*fn)(void *ctx, uint32_t node), void *ctx) {
    s->on_fan = fn;
    s->on_fan_ctx = ctx;
}

/* Grows an array of `old` entries of `size` bytes to n; false when out of memory. */
static bool grow(void **v, size_t n, size_t size) {
    void *p = realloc(*v, (n ? n : 1) * size);
    if (p)
        *v = p;
    return p != NULL;
}

void zd_sched_set_keys(zd_sched *s, const zd_prio_key *keys) {
    s->keys = keys;
    for (uint32_t c = 0; c < s->n_classes; c++)
        zd_readyq_rebind(s->ready[c], keys, s->ready_pos);
}

int zd_sched_fan_out(zd_sched *s, uint32_t tmpl) {
    uint32_t first, count;
    if (!zd_graph_fan_instances(s->g, tmpl, &first, &count) || s->state[tmpl] != ZD_NS_WAITING ||
        s->pending[tmpl] != 0)
        return ZDAG_EINVAL;
    size_t n = (size_t)first + count;
    bool pos_ok = grow((void **)&s->ready_pos, n, sizeof *s->ready_pos);
    zd_sched_set_keys(s, s->keys); /* ready_pos may have moved */
    uint32_t cls = s->class_of ? s->class_of[tmpl] : 0;
    if (!pos_ok || !grow((void **)&s->state, n, sizeof *s->state) ||
        !grow((void **)&s->pending, n, sizeof *s->pending) ||
        !grow((void **)&s->skip_cause, n, sizeof *s->skip_cause) ||
        !grow((void **)&s->stack, n, sizeof *s->stack) ||
        (s->class_of && !grow((void **)&s->class_of, n, sizeof *s->class_of)) ||
        zd_readyq_reserve(s->ready[cls], count) < 0)
        return ZDAG_ENOMEM;
    /* From s->n: instances an earlier fan-out could not take (out of memory) are skipped. */
    for (size_t i = s->n; i < n; i++) {
        s->state[i] = i < first ? ZD_NS_SKIPPED : ZD_NS_WAITING;
        s->pending[i] = 0;
        s->skip_cause[i] = NO_CAUSE;
        s->ready_pos[i] = ZD_READYQ_ABSENT;
        if (s->class_of)
            s->class_of[i] = cls;
    }
    s->count[ZD_NS_SKIPPED] += (uint32_t)(first - s->n);
    s->count[ZD_NS_WAITING] += count;
    s->n = n;
    s->pending[tmpl] = count;
    /* Their deps (the template's) are all done: each is ready now. */
    for (uint32_t i = first; i < (uint32_t)n; i++) {
        set_state(s, i, ZD_NS_READY);
        push_ready(s, i);
    }
    if (count == 0)
        template_released(s, tmpl);
    return 0;
}

void zd_sched_fan_failed(zd_sched *s, uint32_t tmpl) {
    assert(s->state[tmpl] == ZD_NS_WAITING && s->pending[tmpl] == 0);
    set_state(s, tmpl, ZD_NS_RUNNING);
    zd_sched_failed(s, tmpl);
}

zd_sched *zd_sched_new_classes(const zd_graph *g, const zd_prio_key *keys, const bool *active,
                               bool keep_going, const uint32_t *class_of, uint32_t n_classes) {
    size_t n = zd_graph_size(g);
    zd_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->g = g;
    s->keys = keys;
    s->keep_going = keep_going;
    s->has_fans = zd_graph_runtime_fans(g) > 0;
    bool queues = make_queues(s, class_of, n_classes, n);
    s->state = calloc(n ? n : 1, sizeof *s->state);
    s->pending = calloc(n ? n : 1, sizeof *s->pending);
    s->skip_cause = malloc((n ? n : 1) * sizeof *s->skip_cause);
    s->stack = malloc((n ? n : 1) * sizeof *s->stack);
    if (!queues || !s->state || !s->pending || !s->skip_cause || !s->stack) {
        zd_sched_free(&s);
        return NULL;
    }
    s->count[ZD_NS_WAITING] = (uint32_t)n;
    s->n = n;
    for (uint32_t i = 0; i < n; i++) {
        s->skip_cause[i] = NO_CAUSE;
        if (active && !active[i])
            set_state(s, i, ZD_NS_EXCLUDED);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s->state[i] == ZD_NS_EXCLUDED)
            continue;
        const zd_node *node = zd_graph_node(g, i);
        /* An excluded dep never runs: callers exclude descendants of excluded nodes, and
         * targets keep their ancestors, so an active node's deps are active. */
        s->pending[i] = (uint32_t)node->n_deps;
        if (s->pending[i] == 0) {
            set_state(s, i, ZD_NS_READY);
            push_ready(s, i);
        }
    }
    return s;
}

void zd_sched_free(zd_sched **sp) {
    if (!sp || !*sp)
        return;
    zd_sched *s = *sp;
    for (uint32_t c = 0; s->ready && c < s->n_classes; c++)
        zd_readyq_free(&s->ready[c]);
    free(s->ready);
    free(s->class_of);
    free(s->ready_pos);
    free(s->state);
    free(s->pending);
    free(s->skip_cause);
    free(s->stack);
    free(s);
    *sp = NULL;
}

/* A template's last pending dep ended: before its instances exist it is told to on_fan (and
 * waits); after, it is over, CACHED when its deps and every instance were. */
static void template_released(zd_sched *s, uint32_t node) {
    uint32_t first, count;
    if (!zd_graph_fan_instances(s->g, node, &first, &count)) {
        if (s->on_fan)
            s->on_fan(s->on_fan_ctx, node);
        return;
    }
    const zd_node *t = zd_graph_node(s->g, node);
    bool cached = true; /* its deps were and its instances are taken from an earlier run */
    for (uint32_t i = 0; i < t->n_deps && cached; i++)
        cached = s->state[t->deps[i]] == ZD_NS_CACHED;
    for (uint32_t i = 0; i < count && cached; i++)
        cached = s->state[first + i] == ZD_NS_CACHED;
    set_state(s, node, cached ? ZD_NS_CACHED : ZD_NS_SUCCEEDED);
    release_children(s, node);
}

static void release_children(zd_sched *s, uint32_t node) {
    const zd_node *n = zd_graph_node(s->g, node);
    for (size_t c = 0; c < n->n_children; c++) {
        uint32_t child = n->children[c];
        if (s->state[child] == ZD_NS_WAITING && --s->pending[child] == 0) {
            if (s->has_fans && zd_graph_fan_source(s->g, child) >= 0) {
                template_released(s, child);
                continue;
            }
            set_state(s, child, ZD_NS_READY);
            push_ready(s, child);
        } else if (s->state[child] == ZD_NS_RUNNING && s->pending[child] > 0) {
            s->pending[child]--; /* claimed before this dep ended (zd_sched_claim) */
        }
    }
}

void zd_sched_cached(zd_sched *s, uint32_t node) {
    if (s->has_fans && zd_graph_fan_source(s->g, node) >= 0)
        return; /* a template ends with its instances */
    if (s->state[node] == ZD_NS_READY) {
        (void)zd_readyq_remove(queue_of(s, node), node);
    } else if (s->state[node] != ZD_NS_WAITING) {
        return;
    }
    set_state(s, node, ZD_NS_CACHED);
    release_children(s, node);
}

bool zd_sched_has_ready(const zd_sched *s) {
    return !s->stopped && s->count[ZD_NS_READY] > 0;
}

bool zd_sched_before(const zd_sched *s, uint32_t a, uint32_t b) {
    return zd_prio_before(s->keys, a, b);
}

uint32_t zd_sched_classes(const zd_sched *s) {
    return s->n_classes;
}

bool zd_sched_class_ready(const zd_sched *s, uint32_t cls) {
    return !s->stopped && zd_readyq_size(s->ready[cls]) > 0;
}

uint32_t zd_sched_class_peek(const zd_sched *s, uint32_t cls) {
    return zd_readyq_peek(s->ready[cls]);
}

uint32_t zd_sched_class_pop(zd_sched *s, uint32_t cls) {
    uint32_t node = zd_readyq_pop(s->ready[cls]);
    set_state(s, node, ZD_NS_RUNNING);
    return node;
}

/* The class holding the best ready node. */
static uint32_t best_class(const zd_sched *s) {
    uint32_t best = UINT32_MAX;
    for (uint32_t c = 0; c < s->n_classes; c++)
        if (zd_readyq_size(s->ready[c]) > 0 &&
            (best == UINT32_MAX ||
             zd_prio_before(s->keys, zd_readyq_peek(s->ready[c]), zd_readyq_peek(s->ready[best]))))
            best = c;
    return best;
}

uint32_t zd_sched_peek(const zd_sched *s) {
    return zd_readyq_peek(s->ready[best_class(s)]);
}

uint32_t zd_sched_pop(zd_sched *s) {
    return zd_sched_class_pop(s, best_class(s));
}

void zd_sched_requeue(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    set_state(s, node, ZD_NS_READY);
    push_ready(s, node);
}

void zd_sched_succeeded(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    set_state(s, node, ZD_NS_SUCCEEDED);
    release_children(s, node);
}

void zd_sched_failed(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    set_state(s, node, ZD_NS_FAILED);
    if (!s->keep_going) {
        s->stopped = true;
        return;
    }
    /* Skip every waiting descendant; none can be ready or running, as this dep never
     * succeeded. */
    size_t top = 0;
    s->stack[top++] = node;
    while (top) {
        const zd_node *n = zd_graph_node(s->g, s->stack[--top]);
        for (size_t c = 0; c < n->n_children; c++) {
            uint32_t child = n->children[c];
            if (s->state[child] == ZD_NS_WAITING) {
                set_state(s, child, ZD_NS_SKIPPED);
                s->skip_cause[child] = node;
                s->stack[top++] = child;
            }
        }
    }
}

void zd_sched_abandon(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    set_state(s, node, ZD_NS_SKIPPED);
}

void zd_sched_stop(zd_sched *s) {
    s->stopped = true;
}

bool zd_sched_stopped(const zd_sched *s) {
    return s->stopped;
}

bool zd_sched_finished(const zd_sched *s) {
    if (s->count[ZD_NS_RUNNING])
        return false;
    return s->stopped || (s->count[ZD_NS_READY] == 0 && s->count[ZD_NS_WAITING] == 0);
}

void zd_sched_close(zd_sched *s) {
    size_t n = s->n;
    for (uint32_t i = 0; i < n; i++) {
        zd_node_state st = (zd_node_state)s->state[i];
        if (st == ZD_NS_WAITING || st == ZD_NS_READY || st == ZD_NS_RUNNING)
            set_state(s, i, ZD_NS_SKIPPED);
    }
    for (uint32_t c = 0; c < s->n_classes; c++)
        while (zd_readyq_size(s->ready[c]))
            (void)zd_readyq_pop(s->ready[c]);
}

zd_node_state zd_sched_state(const zd_sched *s, uint32_t node) {
    return (zd_node_state)s->state[node];
}

int64_t zd_sched_skip_cause(const zd_sched *s, uint32_t node) {
    return s->skip_cause[node] == NO_CAUSE ? -1 : (int64_t)s->skip_cause[node];
}

uint32_t zd_sched_count(const zd_sched *s, zd_node_state state) {
    return (unsigned)state < 8 ? s->count[state] : 0;
}

uint32_t zd_sched_pending(const zd_sched *s, uint32_t node) {
    return s->pending[node];
}

void zd_sched_claim(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_WAITING && s->pending[node] == 1);
    set_state(s, node, ZD_NS_RUNNING);
}

void zd_sched_unclaim(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    if (s->pending[node] > 0) {
        set_state(s, node, ZD_NS_WAITING);
        return;
    }
    set_state(s, node, ZD_NS_READY);
    push_ready(s, node);
}
