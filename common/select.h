/* Node selection for `zdag run --target` / `--exclude`: which nodes of a graph take part.
 *
 * A target keeps itself and its ancestors (everything it needs); an exclude drops itself and
 * its descendants (everything that needs it). Each name is a node name or a tag; the name of a
 * node with foreach stands for all its instances NAME[0], NAME[1], ..., and NAME[I] for one. */
#ifndef ZD_SELECT_H
#define ZD_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "graph.h"

/* Fills active[i] (caller-allocated, zd_graph_size(g) entries) for every node of the finished
 * graph g: true when the node takes part in the run.
 *
 * Each of targets[0..n_targets) and excludes[0..n_excludes) (borrowed) names a node or a tag;
 * a name that is both stands for the node and every node carrying the tag. With no targets
 * every node is selected, else the targets and their ancestors (transitively). Then the
 * excludes and their descendants are removed. So excluding a node also removes any target
 * that depends on it: the target cannot run without it, and "leave out the descendants" wins.
 * A name given twice, or given as a target and an exclude, is allowed.
 *
 * Runs in O(nodes + edges + tags + length of the names). Returns 0; ZDAG_EINVAL after
 * appending one message per unknown name to diags ("zdag: error: --target \"x\" names no
 * node or tag"; each unknown name once per option); ZDAG_ENOMEM. On error active is
 * unspecified. */
int zd_select(const zd_graph *g, const char *const *targets, size_t n_targets,
              const char *const *excludes, size_t n_excludes, bool *active, zd_diags *diags)
    __attribute__((warn_unused_result));

/* Fills named[i] (caller-allocated) with whether node i is one that names[0..n_names) stand
 * for, read as zd_select() reads them (a node, a fanned node's instances, a tag), without any
 * closure (--force). Returns 0; ZDAG_EINVAL after one message per unknown name, as zd_select()'s
 * with opt ("--force") in place of "--target"; ZDAG_ENOMEM. */
int zd_select_named(const zd_graph *g, const char *const *names, size_t n_names, const char *opt,
                    bool *named, zd_diags *diags) __attribute__((warn_unused_result));

#endif
