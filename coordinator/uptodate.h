/* Files that are up to date (make's rule, ninja's strictness): which nodes `zdag run` need not
 * run because the outputs they declare are fresh. */
#ifndef ZD_UPTODATE_H
#define ZD_UPTODATE_H

#include <stdbool.h>

#include "graph.h"

/* Fills fresh[i] for each node of the finished graph g: true when the node declares outputs,
 * cached[i] holds (its latest journal record succeeded with its current definition hash, on the
 * inputs it has now: zd_resume_plan()), forced[i] does not (forced may be NULL), every output
 * exists, none is older than any of its inputs (a pattern: every file it matches; a missing
 * input: not fresh) or than any output of its dependencies, and every dependency is fresh too
 * (one that runs again makes new outputs). Paths are read as this process sees them. Returns 0,
 * ZDAG_EINVAL when g is not finished, or ZDAG_ENOMEM. */
int zd_uptodate_plan(const zd_graph *g, const bool *cached, const bool *forced, bool *fresh)
    __attribute__((warn_unused_result));

#endif
