/* The run report (SPEC section 5), written a value at a time (coordinator/jsonout.h), and the
 * results file, written with jansson. */
#ifndef ZD_REPORT_H
#define ZD_REPORT_H

#include "coord.h"
#include "graph.h"

/* Writes the report of a finished run to path (atomically: a temporary file renamed).
 * `pipeline` is the pipeline file as the user named it. error is NULL for a run that went to
 * its end (the report has no "error"), or why the run could not go on: the report's
 * "status" is then "error" and "error" says why. Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_report_write(const char *path, const char *pipeline, const zd_graph *g, const zd_coord *c,
                    const char *error) __attribute__((warn_unused_result));

/* Writes the report of a run that could not start, without a coordinator: "status": "error",
 * "exit_code": exit_code (3: the run could not start; 2: a node needs more than any host
 * offers, or the pipeline is invalid), "error": why, "started_at" now, "wall_s" 0, "jobs" 0, and
 * every node of g (which may be NULL: "nodes" is then []) "skipped" with `why` as its error
 * ("excluded" when active, which may be NULL = all, leaves it out), no attempt, no host, no times.
 * Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_report_write_error(const char *path, const char *pipeline, const zd_graph *g,
                          const bool *active, int exit_code, const char *why)
    __attribute__((warn_unused_result));

/* Write the timeline page (coordinator/timeline.h) of the report zd_report_write() and
 * zd_report_write_error() would write, to html_path (atomically). Return 0, ZDAG_EIO or
 * ZDAG_ENOMEM. */
int zd_report_write_html(const char *html_path, const char *pipeline, const zd_graph *g,
                         const zd_coord *c, const char *error) __attribute__((warn_unused_result));
int zd_report_write_error_html(const char *html_path, const char *pipeline, const zd_graph *g,
                               const bool *active, int exit_code, const char *why)
    __attribute__((warn_unused_result));

/* Writes a JSON object mapping each succeeded node to its result: a function's msgpack value
 * converted as zd_mpjson_to_json() documents; a command's stdout as a string when it is valid
 * UTF-8, else {"base64": "..."}. Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_results_write(const char *path, const zd_graph *g, const zd_coord *c)
    __attribute__((warn_unused_result));

#endif
