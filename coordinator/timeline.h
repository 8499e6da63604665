/* The HTML timeline of a run (README "Timeline"): one self-contained page, coordinator/
 * timeline.html (its script and style inline, built into the program by CMake), with a report's
 * JSON put in it. The page draws the report itself, in the browser. */
#ifndef ZD_TIMELINE_H
#define ZD_TIMELINE_H

#include <stddef.h>

#include "diag.h"

/* Writes the page showing the report `report` (len bytes of JSON, as zd_report_write() writes
 * it) to path, atomically (a temporary file renamed into place). The JSON goes in as it is but
 * for each '<', written "\u003c": JSON has a '<' only inside a string, where the escape means
 * the same, so no "</script>" or "<!--" in a name or an error can end the element it is in.
 * The report is not checked here (zd_timeline_check() does). Returns 0, ZDAG_EIO or
 * ZDAG_ENOMEM. */
int zd_timeline_write(const char *path, const char *report, size_t len)
    __attribute__((warn_unused_result));

/* Checks that text (len bytes, read from the file named file) is a report the page can draw:
 * JSON (a syntax error is told as FILE:LINE:COL), an object whose "nodes" is a list of objects,
 * each with a string "name", and where present a list of strings "deps" and a list "history"
 * of objects whose "start_s" and "end_s" are numbers or null. Adds the first problem to d and
 * returns ZDAG_EINVAL; returns 0, or ZDAG_ENOMEM. */
int zd_timeline_check(const char *text, size_t len, const char *file, zd_diags *d)
    __attribute__((warn_unused_result));

#endif
