/* What `zdag status` shows of a running coordinator (README "zdag status"): one JSON document
 * built from the core's queries, served on the status socket by coord.c. */
#ifndef ZD_STATUS_H
#define ZD_STATUS_H

#include <stddef.h>

#include "core.h"
#include "graph.h"

#define ZD_STATUS_MAX_LISTED 1000 /* waiting nodes listed one by one, at most (all are counted) */
#define ZD_STATUS_READY_HEAD 20   /* best ready nodes listed */
#define ZD_STATUS_MAX_PATH 108    /* bytes of an ipc socket's path, its NUL included (sun_path) */

struct zd_prov;

/* The status of the run of g in c at `now` (seconds since the start), eta_s the seconds left
 * (NAN: unknown), pipeline its file: an object with "pipeline", "elapsed_s", "eta_s", "counts"
 * (nodes by state), "running" (name, host, executor, attempt, elapsed_s), "ready" (the head of
 * the ready queue, best first, each with "why"), "waiting" (every node not running and not
 * ended, up to ZD_STATUS_MAX_LISTED, each with its state and why it waits), "waiting_total",
 * "hosts" (name, slots, busy, cpus_used, cpus, heard_s or null for the local host, lost, and
 * "allocation" when its workers have one), and with automatic workers (prov, may be NULL)
 * "slurm": {"jobs": [id, state, cpus, mem_mb, host, why]}, a ready node's "why" then also
 * saying what they do for it. Stores the text in *out (caller frees) and its length in *len.
 * Returns 0 or ZDAG_ENOMEM. */
int zd_status_json(const zd_graph *g, const zd_core *c, const struct zd_prov *prov, double now,
                   double eta_s, const char *pipeline, char **out, size_t *len)
    __attribute__((warn_unused_result));

/* The same state as Prometheus text exposition (format 0.0.4): zdag_nodes{state} (gauge),
 * zdag_attempts_started_total, zdag_results_total, zdag_retries_total, zdag_hosts_lost_total
 * (counters), and per host zdag_host_executors, zdag_host_executors_busy, zdag_host_cpus,
 * zdag_host_cpus_used (gauges, label host). Stores the text in *out (caller frees) and its
 * length in *len. Returns 0 or ZDAG_ENOMEM. */
int zd_status_metrics(const zd_graph *g, const zd_core *c, double now, char **out, size_t *len)
    __attribute__((warn_unused_result));

#endif
