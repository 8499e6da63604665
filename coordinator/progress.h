/* The one-line progress display of `zdag run` (on a terminal, or forced with --progress).
 *
 * The line:
 *
 *   [ 42/100] 3 running, 1 failed, 12.3 s elapsed, ETA 8 s
 *
 * `done` is right-aligned to the width of `total`. Elapsed time has one decimal. The ETA is
 * "?" until a node has finished (and "0 s" once nothing remains), else
 *
 *   ceil(median duration of the finished nodes x (total - done) / max(running, 1))
 *
 * seconds: the nodes left, each taking the typical (median: robust to one slow outlier)
 * duration, spread over the parallelism the run shows right now. Shown as "N s" under a
 * minute, "MmSSs" under an hour ("2m05s"), then "HhMMm" ("1h02m").
 *
 * On a terminal (tty) each draw is "\r" + line + "\033[K" (clear to end of line), at most
 * every 100 ms, and zd_progress_finish() ends the line with "\n" so that what follows starts on
 * a clean line. Elsewhere (a log file, a pipe) each draw is the plain line + "\n", at most once
 * per second, so a log is not flooded. Every draw is flushed.
 *
 * Times are seconds since the run started on the coordinator's monotonic clock. Counts are
 * those of the whole run: `done` counts every node that reached its end (succeeded, failed,
 * skipped, cached), `failed` is the failed ones among them, `running` the attempts in flight.
 *
 * When a write to the stream fails (EPIPE from a reader that went away, ENOSPC, anything), the
 * display stops drawing for the rest of the run, silently: the run goes on and ends with its
 * normal status. The caller ignores SIGPIPE (the CLI does) so that the write returns EPIPE. */
#ifndef ZD_PROGRESS_H
#define ZD_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct zd_progress zd_progress;

/* Creates a display of a run of `total` nodes writing to `out` (borrowed; must outlive the
 * display), in terminal mode when `tty`. Draws nothing yet. Returns NULL when out of memory.
 * Free with zd_progress_free(). */
zd_progress *zd_progress_new(FILE *out, bool tty, uint32_t total);

#define ZD_PROGRESS_NAMES_MAX 64 /* bytes of running nodes' names the line shows */

/* On a terminal the line names what runs (as ninja shows the command running): names, when
 * few nodes run ("" or NULL: none). Shown from the next draw on. */
void zd_progress_set_running(zd_progress *p, const char *names);

/* The run has `total` nodes now (instances of run-time fan-outs were added). */
void zd_progress_set_total(zd_progress *p, uint32_t total);

/* Frees the display (it writes nothing); sets *p to NULL. Accepts NULL and *p == NULL. */
void zd_progress_free(zd_progress **p);

/* Adds the duration of a node that finished (call it once per node, e.g. with its last
 * attempt's duration) to the median the ETA uses. O(log n): a running median over two heaps.
 * A negative or NaN duration counts as 0. When out of memory the sample is dropped (the ETA
 * uses the others). */
void zd_progress_node_done(zd_progress *p, double duration_s);

/* Seconds left, as the line shows them: ceil(median x (total - done) / max(running, 1)); 0 when
 * nothing is left, NAN when no node finished yet. */
double zd_progress_eta(const zd_progress *p, uint32_t done, uint32_t running);

/* Returns the median of the durations given so far, or NAN before the first. */
double zd_progress_median(const zd_progress *p);

/* Redraws the line with these counts at now_s, unless the last draw was less than 100 ms
 * (tty) or 1 s (not a tty) ago; the first call always draws. Cheap when it does not draw: call
 * it on every loop turn. Does nothing after zd_progress_finish(). */
void zd_progress_update(zd_progress *p, double now_s, uint32_t done, uint32_t running,
                        uint32_t failed);

/* On a tty, erases the drawn line ("\r\033[K") so that a message printed next starts on a
 * clean line; the next zd_progress_update() draws again, whatever the time. Elsewhere, and
 * before the first draw, it does nothing. */
void zd_progress_clear(zd_progress *p);

/* True once a write to the stream failed: nothing more is drawn. */
bool zd_progress_broken(const zd_progress *p);

/* Draws the final line, whatever the time since the last draw, and on a tty ends it with "\n".
 * Not on a tty, the line is left out when it is exactly the last one printed. Later calls of
 * zd_progress_update() and zd_progress_finish() do nothing. */
void zd_progress_finish(zd_progress *p, double now_s, uint32_t done, uint32_t running,
                        uint32_t failed);

#endif
