/* The graph in Graphviz DOT, for `zdag graph`. */
#ifndef ZD_DOT_H
#define ZD_DOT_H

#include <stdio.h>

#include "graph.h"

/* Writes g to out as `digraph zdag { ... }`: one statement per node in declaration order,
 * labelled with its name and its marks, one per line: "priority: N" when N != 0, "sequential",
 * "pool: NAME", "cpus: N" when N != 1. Sequential nodes are drawn as bold octagons, the others
 * as rounded boxes. Then one edge DEP -> NODE per dependency, by node in declaration order and
 * by dep in the order listed. Names are quoted and escaped.
 *
 * The instances NAME[0..N) of a node with foreach (common/foreach.h) are drawn as one box NAME
 * labelled "N instances" (its marks those of NAME[0]), with one edge per pair of boxes, unless
 * flags has ZD_DOT_EXPAND: then every instance is a node of its own.
 *
 * Returns 0, ZDAG_EINVAL when out or g is NULL, ZDAG_ENOMEM, ZDAG_EIO when writing fails. */
int zd_dot_write(FILE *out, const zd_graph *g, unsigned flags) __attribute__((warn_unused_result));

#define ZD_DOT_EXPAND 1u /* draw every instance of a fanned node */

#endif
