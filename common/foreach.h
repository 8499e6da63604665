/* Static fan-out: a node's `foreach` source read into a list of instances, and the placeholders
 * (`{item}`, `{index}`, a matrix variable by name; `{{` and `}}` for literal braces) of its
 * settings substituted for one instance.
 *
 * Sources (README, pipeline section):
 * - {list: [A, B, ...]}       one instance per entry, item as written;
 * - {range: [FIRST, LAST]}    integers FIRST to LAST inclusive, item the number in decimal;
 * - {glob: "PATTERN"}         the paths glob(3) matches, sorted, relative to the base directory
 *                             as the pattern is written; no match is zero instances;
 * - {lines: FILE}             each non-empty line of FILE (a trailing "\r" dropped);
 * - {matrix: {VAR: [...]}}    the cartesian product, the first variable slowest; each instance
 *                             has the variables by name, and no {item};
 * - {result_lines: NODE}      at run time: each non-empty line of NODE's result. The source has
 *                             no items when parsed (zd_fan_source() names NODE); the run makes
 *                             one with zd_fan_from_lines() once NODE succeeded.
 * The loader (common/pipeline.c) turns the node into instances NAME[0], NAME[1], ...; this
 * module knows nothing of the graph beyond one node's settings. */
#ifndef ZD_FOREACH_H
#define ZD_FOREACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "yamlread.h"

#define ZD_FAN_MAX_INSTANCES (1u << 22) /* instances of one node, at most */

typedef struct zd_fan zd_fan;

/* Reads the value of entry e (`foreach`), whose first event is current, and consumes it.
 * Relative glob patterns and lines files are taken from base_dir (borrowed; NULL: the current
 * directory). On success stores the source in *out (caller frees with zd_fan_free()) and
 * returns true; on a bad value reports it, positioned, through y, stores NULL and returns
 * false. */
bool zd_fan_parse(zd_yaml *y, const zd_yentry *e, const char *base_dir, zd_fan **out);

/* Frees the source; sets *f to NULL. Accepts NULL and *f == NULL. */
void zd_fan_free(zd_fan **f);

/* Returns the number of instances (0 for a run-time source until its items are known). */
size_t zd_fan_count(const zd_fan *f);

/* For {result_lines: NODE}: NODE (borrowed), with where it is written in *line and *col (either
 * may be NULL); NULL for the other sources. */
const char *zd_fan_source(const zd_fan *f, int *line, int *col);

/* Item i (borrowed), or NULL for a matrix or i out of range. */
const char *zd_fan_item(const zd_fan *f, size_t i);

/* Makes a source of the non-empty lines of text[0..len) (a trailing "\r" dropped), as
 * {lines: FILE} reads a file: a run-time fan-out's items. Stores it in *out (caller frees).
 * Returns 0, ZDAG_ETOOBIG (more than ZD_FAN_MAX_INSTANCES lines) or ZDAG_ENOMEM. */
int zd_fan_from_lines(const char *text, size_t len, zd_fan **out)
    __attribute__((warn_unused_result));

/* The items of a run-time fan-out from its source's result bytes[0..len): the lines of a
 * command's result (zd_fan_from_lines()); for a function's (msgpack), the lines of a string, or
 * one item per entry of an array of strings and integers. Returns 0 (*out set; caller frees),
 * ZDAG_EINVAL or ZDAG_ETOOBIG with why[0..size) set, or ZDAG_ENOMEM. */
int zd_fan_from_result(const char *bytes, size_t len, bool msgpack, zd_fan **out, char *why,
                       size_t size) __attribute__((warn_unused_result));

/* Checks the placeholders of text against f's variables. Returns true when every one is
 * known and every brace is paired; else writes why into why[0..size) and returns false. */
bool zd_fan_check(const zd_fan *f, const char *text, char *why, size_t size);

/* Whether text holds a brace, so that it may change from one instance to the next. */
bool zd_fan_templated(const char *text);

/* Returns text with the placeholders of instance i substituted (caller frees), or NULL when out
 * of memory. text must have passed zd_fan_check(). */
char *zd_fan_subst(const zd_fan *f, size_t i, const char *text);

/* Fills dst (fresh or cleared) with tmpl's settings for instance i: cmd (string or list), env
 * values, string scalars inside args, workdir, tags, inputs and outputs substituted, the rest
 * copied. Returns 0
 * or ZDAG_ENOMEM (dst then holds what was copied; clear it). */
int zd_fan_node(const zd_fan *f, size_t i, const zd_node *tmpl, zd_node *dst)
    __attribute__((warn_unused_result));

/* Checks the string scalars inside the msgpack value args[0..len) as zd_fan_check() does.
 * Returns true when all pass; else writes why (naming the string) and returns false. */
bool zd_fan_check_args(const zd_fan *f, const char *args, size_t len, char *why, size_t size);

/* When name[0..len) is an instance's, NAME[N] with N decimal digits and NAME not empty, returns
 * the length of NAME and stores N in *index (may be NULL); else returns 0. */
size_t zd_fan_instance_base(const char *name, size_t len, uint64_t *index);

/* A dependency by name, for grouping the instances of fanned nodes (ZDAG_DEPS_*, and the array a
 * function receives). The caller sets name, len and pos. */
typedef struct zd_fan_ref {
    const char *name; /* borrowed, len bytes */
    size_t len;       /* bytes in name */
    size_t base;      /* set: the length of NAME */
    uint64_t index;   /* set: N */
    uint32_t pos;     /* the caller's: where the dep is in its list */
} zd_fan_ref;

/* Keeps the entries of v[0..n) that are instances NAME[N], sorted by NAME then N, at the front
 * of v, and returns how many there are; each run of one NAME is one fanned node's instances. */
size_t zd_fan_sort_refs(zd_fan_ref *v, size_t n);

/* Whether a and b (from zd_fan_sort_refs) are instances of one node. */
bool zd_fan_same_node(const zd_fan_ref *a, const zd_fan_ref *b);

#endif
