/* The run report (SPEC section 5) and the results file, written with jansson. */
#ifndef ZD_REPORT_H
#define ZD_REPORT_H

#include "coord.h"
#include "graph.h"

/* Writes the report of a finished run to path (atomically: a temporary file renamed).
 * `pipeline` is the pipeline file as the user named it. Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_report_write(const char *path, const char *pipeline, const zd_graph *g, const zd_coord *c)
    __attribute__((warn_unused_result));

/* Writes a JSON object mapping each succeeded node to its result: a function's msgpack value
 * converted as zd_mpjson_to_json() documents; a command's stdout as a string when it is valid
 * UTF-8, else {"base64": "..."}. Returns 0, ZDAG_EIO or ZDAG_ENOMEM. */
int zd_results_write(const char *path, const zd_graph *g, const zd_coord *c)
    __attribute__((warn_unused_result));

#endif
