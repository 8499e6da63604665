/* The run timeline for `zdag run --trace FILE`: a recorder of Chrome trace events, written as
 * JSON at the end of the run (open it in Perfetto or chrome://tracing).
 *
 * Recording is cheap: each call appends one small struct to a growable array and copies its
 * strings once into a string arena (no allocation per event once the arrays have grown). No
 * JSON exists until zd_trace_write(), which streams the events to the file one at a time
 * (coordinator/jsonout.h: jansson escapes only strings that are not plain ASCII). Strings that are
 * not valid UTF-8 are written with '?' for each byte >= 0x80.
 *
 * Tracks. Every host is a trace process (pid = the host's index, named after the host) and
 * every executor a thread of it (tid = the executor's slot, named "executor N"). The
 * coordinator has a track of its own: pass executor = -1 (the host is then ignored); it is
 * the process ZD_TRACE_COORD_PID, thread 0, both named "coordinator", and is named by its first
 * use. Host indices must stay below ZD_TRACE_COORD_PID.
 *
 * The file:
 *
 *   {"traceEvents": [
 *    {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "hostA"}},
 *    {"name": "thread_name", "ph": "M", "pid": 0, "tid": 3, "args": {"name": "executor 3"}},
 *    {"name": "fetch", "ph": "X", "pid": 0, "tid": 3, "ts": 1000, "dur": 1003000,
 *     "args": {"node": "fetch", "attempt": 1, "status": "succeeded", "exit_code": 0}},
 *    {"name": "lease: pool db", "ph": "i", "s": "t", "pid": 1000000, "tid": 0,
 *     "ts": 2000000, "args": {"detail": "report"}}
 *   ], "displayTimeUnit": "ms"}
 *
 * Metadata events come first (processes in the order they were first named, then threads in
 * the order they were first named, the coordinator's last), then the slices and instants in
 * the order they were recorded. ts and dur are whole microseconds since the run started; a
 * slice's dur is round(end) - round(start) so that slices never overlap by rounding. */
#ifndef ZD_TRACE_H
#define ZD_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* The trace pid of the coordinator's own track (far above any host index). */
#define ZD_TRACE_COORD_PID 1000000u

typedef struct zd_trace zd_trace;

/* Creates an empty trace. Returns NULL when out of memory. Free with zd_trace_free(). */
zd_trace *zd_trace_new(void);

/* Frees the trace and every string it copied; sets *t to NULL. Accepts NULL and *t == NULL. */
void zd_trace_free(zd_trace **t);

/* Names the track of executor slot `executor` (>= 0) on host `host` (its process is named
 * `host_name`, its thread "executor N"), or with executor = -1 the coordinator's track
 * (host and host_name are then ignored and may be 0/NULL). Naming a track twice is harmless;
 * naming a host again with another name renames it. host_name is copied. Linear in the number
 * of tracks: call it once per executor, not per event.
 * Returns 0, ZDAG_EINVAL (executor < -1, host >= ZD_TRACE_COORD_PID, host_name NULL) or
 * ZDAG_ENOMEM. */
int zd_trace_track(zd_trace *t, uint32_t host, const char *host_name, int32_t executor)
    __attribute__((warn_unused_result));

/* Records one attempt of a node as a complete event ("ph": "X") on the track of (host,
 * executor), from start_s to end_s (seconds since the run started). Its args are the node's
 * name, the attempt number (1-based), `status` (e.g. "succeeded", "failed", "lost"; NULL gives
 * JSON null) and the exit code (JSON null unless has_exit_code). Strings are copied.
 * Returns 0, ZDAG_EINVAL (name NULL, executor < -1, host >= ZD_TRACE_COORD_PID with
 * executor >= 0, a time negative or not finite, end_s < start_s) or ZDAG_ENOMEM. */
int zd_trace_slice(zd_trace *t, uint32_t host, int32_t executor, const char *name, double start_s,
                   double end_s, uint32_t attempt, const char *status, int exit_code,
                   bool has_exit_code) __attribute__((warn_unused_result));

/* Records an instant event ("ph": "i", thread scope) at at_s on the track of (host,
 * executor), e.g. name "lease: sequential" / "lease: pool db" for a lease grant, or
 * "sequential wait: NODE". `detail` (may be NULL: no args) becomes args {"detail": ...}.
 * Strings are copied. Returns 0, ZDAG_EINVAL (name NULL, executor < -1, host >=
 * ZD_TRACE_COORD_PID with executor >= 0, at_s negative or not finite) or ZDAG_ENOMEM. */
int zd_trace_instant(zd_trace *t, uint32_t host, int32_t executor, const char *name, double at_s,
                     const char *detail) __attribute__((warn_unused_result));

/* Returns the number of slices and instants recorded (metadata not counted). */
uint64_t zd_trace_count(const zd_trace *t);

/* Writes the trace to path atomically: into a new temporary file beside it ("PATH.tmp.PID"),
 * flushed to disk, then renamed over path, so a reader sees the old file or the whole new one.
 * The trace is left unchanged and may be written again. Returns 0, ZDAG_ENOMEM or ZDAG_EIO
 * (nothing is left behind but an untouched old file). */
int zd_trace_write(const zd_trace *t, const char *path) __attribute__((warn_unused_result));

#endif
