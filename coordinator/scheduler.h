/* Node states and the ready queue of one run: which nodes may start, in which order, and what
 * a success or a failure releases or skips. Limits (jobs, hosts, leases) are the caller's:
 * the scheduler only hands out the best ready node. */
#ifndef ZD_SCHEDULER_H
#define ZD_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"
#include "readyq.h"

typedef enum zd_node_state {
    ZD_NS_WAITING = 0, /* some dep has not succeeded yet */
    ZD_NS_READY,       /* in the ready queue */
    ZD_NS_RUNNING,     /* handed out, no outcome yet */
    ZD_NS_SUCCEEDED,
    ZD_NS_FAILED,
    ZD_NS_SKIPPED,  /* a dep failed, or the run stopped first */
    ZD_NS_CACHED,   /* taken from an earlier run */
    ZD_NS_EXCLUDED, /* not part of this run */
} zd_node_state;

/* Returns the report name of a state ("succeeded", ...); "waiting"/"ready"/"running" too. */
const char *zd_node_state_name(zd_node_state s);

typedef struct zd_sched zd_sched;

/* Creates the scheduler of a run over the finished graph g (borrowed) with priorities keys
 * (borrowed; both must outlive it). Nodes with active[i] false are EXCLUDED (NULL: all run).
 * With keep_going, a failure skips only its descendants; without, it stops the run.
 * Nodes without deps are ready at once. Ready nodes wait in one queue per class:
 * class_of[i] < n_classes (class_of NULL: one class). Returns NULL when out of memory. */
zd_sched *zd_sched_new_classes(const zd_graph *g, const zd_prio_key *keys, const bool *active,
                               bool keep_going, const uint32_t *class_of, uint32_t n_classes);

/* zd_sched_new_classes() with one class. */
zd_sched *zd_sched_new(const zd_graph *g, const zd_prio_key *keys, const bool *active,
                       bool keep_going);

/* True when node a goes before node b in priority order. */
bool zd_sched_before(const zd_sched *s, uint32_t a, uint32_t b);

/* Number of classes, and whether a class has a ready node (false once stopped). */
uint32_t zd_sched_classes(const zd_sched *s);
bool zd_sched_class_ready(const zd_sched *s, uint32_t cls);

/* The best ready node of a class, and taking it (marks it RUNNING); the class must have one. */
uint32_t zd_sched_class_peek(const zd_sched *s, uint32_t cls);
uint32_t zd_sched_class_pop(zd_sched *s, uint32_t cls);

/* Calls fn(ctx, node) whenever a node enters a ready queue from now on: released by its deps,
 * requeued (fn may be NULL). */
void zd_sched_on_ready(zd_sched *s, void (*fn)(void *ctx, uint32_t node), void *ctx);

/* Calls fn(ctx, tmpl) when the deps of a template (a run-time fan-out, common/graph.h) are all
 * done: it stays WAITING until its instances are added to the graph and zd_sched_fan_out() is
 * called, or zd_sched_fan_failed(). fn must not change the graph. */
void zd_sched_on_fan(zd_sched *s, void (*fn)(void *ctx, uint32_t node), void *ctx);

/* The priorities moved (grown for a graph that grew): use keys from now on. */
void zd_sched_set_keys(zd_sched *s, const zd_prio_key *keys);

/* The instances of tmpl (told to on_fan) were added to the graph: they take the template's class,
 * are all ready, and the template ends once they all did (SUCCEEDED, or CACHED when each was
 * CACHED; at once with none). The keys (zd_sched_set_keys()) must cover them. Returns 0,
 * ZDAG_EINVAL (not such a template) or ZDAG_ENOMEM (the caller fails the template). */
int zd_sched_fan_out(zd_sched *s, uint32_t tmpl) __attribute__((warn_unused_result));

/* A template told to on_fan could not get its instances: it failed (as zd_sched_failed()). */
void zd_sched_fan_failed(zd_sched *s, uint32_t tmpl);

/* Frees the scheduler; sets *s to NULL. Accepts NULL. */
void zd_sched_free(zd_sched **s);

/* Marks a waiting node as CACHED (succeeded earlier); its dependents are released as if it
 * had just succeeded. Call before the first zd_sched_pop(). */
void zd_sched_cached(zd_sched *s, uint32_t node);

/* True when a node is ready and the run has not been stopped. */
bool zd_sched_has_ready(const zd_sched *s);

/* Returns the best ready node of all classes without taking it; zd_sched_has_ready() must be
 * true. O(classes). */
uint32_t zd_sched_peek(const zd_sched *s);

/* Takes the best ready node and marks it RUNNING; zd_sched_has_ready() must be true. */
uint32_t zd_sched_pop(zd_sched *s);

/* Puts a RUNNING node back in the ready queue (a retry, or its executor was lost). */
void zd_sched_requeue(zd_sched *s, uint32_t node);

/* Records that a RUNNING node succeeded; dependents whose deps all succeeded become ready. */
void zd_sched_succeeded(zd_sched *s, uint32_t node);

/* Records that a RUNNING node failed for good: skips its descendants (keep-going) or stops
 * the run (fail-fast). */
void zd_sched_failed(zd_sched *s, uint32_t node);

/* Records that a RUNNING node was stopped before it could end (interrupt): SKIPPED. */
void zd_sched_abandon(zd_sched *s, uint32_t node);

/* Stops the run: no node is handed out any more (fail-fast, interrupt). */
void zd_sched_stop(zd_sched *s);

/* True once stopped. */
bool zd_sched_stopped(const zd_sched *s);

/* True when no node is running and none can start: every node finished, or stopped. */
bool zd_sched_finished(const zd_sched *s);

/* Marks every node that did not finish as SKIPPED; call once the run is over. */
void zd_sched_close(zd_sched *s);

/* The state of a node. */
zd_node_state zd_sched_state(const zd_sched *s, uint32_t node);

/* Deps of a node that have not succeeded yet. */
uint32_t zd_sched_pending(const zd_sched *s, uint32_t node);

/* Takes a WAITING node whose last pending dep is still running (a chain link sent with its
 * parent): RUNNING, not in any ready queue; the parent's success no longer makes it ready. */
void zd_sched_claim(zd_sched *s, uint32_t node);

/* Gives back a claimed (or any RUNNING) node that did not start: READY when all its deps have
 * succeeded by now, else WAITING again. */
void zd_sched_unclaim(zd_sched *s, uint32_t node);

/* For a SKIPPED node: the failed node that caused it, or -1 (the run stopped first). */
int64_t zd_sched_skip_cause(const zd_sched *s, uint32_t node);

/* Counts of nodes in a state. */
uint32_t zd_sched_count(const zd_sched *s, zd_node_state state);

#endif
