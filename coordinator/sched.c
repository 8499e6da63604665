/* Node states and dependency counting over the ready queue. */
#include "sched.h"

#include <assert.h>
#include <stdlib.h>

struct zd_sched {
    const zd_graph *g;   /* borrowed graph */
    zd_readyq *ready;    /* ready nodes by priority */
    uint8_t *state;      /* zd_node_state per node */
    uint32_t *pending;   /* deps not yet succeeded, per node */
    int64_t *skip_cause; /* failed node behind each skip, or -1 */
    uint32_t count[8];   /* nodes per state */
    uint32_t *stack;     /* scratch for skipping descendants */
    bool keep_going;     /* a failure skips descendants only */
    bool stopped;        /* no more nodes are handed out */
};

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

zd_sched *zd_sched_new(const zd_graph *g, const zd_prio_key *keys, const bool *active,
                       bool keep_going) {
    size_t n = zd_graph_size(g);
    zd_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->g = g;
    s->keep_going = keep_going;
    s->ready = zd_readyq_new(keys, n);
    s->state = calloc(n ? n : 1, sizeof *s->state);
    s->pending = calloc(n ? n : 1, sizeof *s->pending);
    s->skip_cause = malloc((n ? n : 1) * sizeof *s->skip_cause);
    s->stack = malloc((n ? n : 1) * sizeof *s->stack);
    if (!s->ready || !s->state || !s->pending || !s->skip_cause || !s->stack) {
        zd_sched_free(&s);
        return NULL;
    }
    s->count[ZD_NS_WAITING] = (uint32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        s->skip_cause[i] = -1;
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
            zd_readyq_push(s->ready, i);
        }
    }
    return s;
}

void zd_sched_free(zd_sched **sp) {
    if (!sp || !*sp)
        return;
    zd_sched *s = *sp;
    zd_readyq_free(&s->ready);
    free(s->state);
    free(s->pending);
    free(s->skip_cause);
    free(s->stack);
    free(s);
    *sp = NULL;
}

static void release_children(zd_sched *s, uint32_t node) {
    const zd_node *n = zd_graph_node(s->g, node);
    for (size_t c = 0; c < n->n_children; c++) {
        uint32_t child = n->children[c];
        if (s->state[child] == ZD_NS_WAITING && --s->pending[child] == 0) {
            set_state(s, child, ZD_NS_READY);
            zd_readyq_push(s->ready, child);
        }
    }
}

void zd_sched_cached(zd_sched *s, uint32_t node) {
    if (s->state[node] == ZD_NS_READY) {
        /* Rebuild the queue without it: rare, only before the run starts. */
        zd_readyq *q = s->ready;
        size_t k = zd_readyq_size(q);
        for (size_t i = 0; i < k; i++)
            s->stack[i] = zd_readyq_pop(q);
        for (size_t i = 0; i < k; i++)
            if (s->stack[i] != node)
                zd_readyq_push(q, s->stack[i]);
    } else if (s->state[node] != ZD_NS_WAITING) {
        return;
    }
    set_state(s, node, ZD_NS_CACHED);
    release_children(s, node);
}

bool zd_sched_has_ready(const zd_sched *s) {
    return !s->stopped && zd_readyq_size(s->ready) > 0;
}

uint32_t zd_sched_peek(const zd_sched *s) {
    return zd_readyq_peek(s->ready);
}

uint32_t zd_sched_pop(zd_sched *s) {
    uint32_t node = zd_readyq_pop(s->ready);
    set_state(s, node, ZD_NS_RUNNING);
    return node;
}

void zd_sched_requeue(zd_sched *s, uint32_t node) {
    assert(s->state[node] == ZD_NS_RUNNING);
    set_state(s, node, ZD_NS_READY);
    zd_readyq_push(s->ready, node);
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
    size_t n = zd_graph_size(s->g);
    for (uint32_t i = 0; i < n; i++) {
        zd_node_state st = (zd_node_state)s->state[i];
        if (st == ZD_NS_WAITING || st == ZD_NS_READY || st == ZD_NS_RUNNING)
            set_state(s, i, ZD_NS_SKIPPED);
    }
    while (zd_readyq_size(s->ready))
        (void)zd_readyq_pop(s->ready);
}

zd_node_state zd_sched_state(const zd_sched *s, uint32_t node) {
    return (zd_node_state)s->state[node];
}

int64_t zd_sched_skip_cause(const zd_sched *s, uint32_t node) {
    return s->skip_cause[node];
}

uint32_t zd_sched_count(const zd_sched *s, zd_node_state state) {
    return (unsigned)state < 8 ? s->count[state] : 0;
}
