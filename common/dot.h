/* The graph in Graphviz DOT, for `zdag graph`. */
#ifndef ZD_DOT_H
#define ZD_DOT_H

#include <stdio.h>

#include "graph.h"

/* Writes g to out as `digraph zdag { ... }`: one statement per node in declaration order,
 * labelled with its name and its marks, one per line: "priority: N" when N != 0, "sequential",
 * "pool: NAME", "cpus: N" when N != 1. Sequential nodes are drawn as bold octagons, the others
 * as rounded boxes. Then one edge DEP -> NODE per dependency, by node in declaration order and
 * by dep in the order listed. Names are quoted and escaped. Returns 0, ZDAG_EINVAL when out or g
 * is NULL, ZDAG_EIO when writing fails. */
int zd_dot_write(FILE *out, const zd_graph *g) __attribute__((warn_unused_result));

#endif
