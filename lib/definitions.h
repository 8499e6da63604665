/* The definition hashes of a run (common/defhash.h) with the identity of the code its function
 * nodes call (common/codeid.h): this program's executable for the functions it registered, each
 * plugin file of the graph otherwise. Shared by `zdag run` and libzdag's zdag_run(), through
 * the runner. */
#ifndef ZD_DEFINITIONS_H
#define ZD_DEFINITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "defhash.h"
#include "fn.h"
#include "graph.h"
#include "log.h"

/* Computes every node's definition hash into out[i] (zd_graph_size(g) entries; g finished).
 * fns: the program's registered functions (borrowed; n_fns may be 0). A plugin that cannot be
 * read is identified by its path (its nodes fail when they load it anyway); an executable that
 * cannot be read is logged to log as a warning, and its functions are hashed without it.
 * Returns 0, ZDAG_EINVAL (graph not finished) or ZDAG_ENOMEM. */
int zd_definitions_hash(const zd_graph *g, const zd_fn_entry *fns, size_t n_fns, const zd_log *log,
                        uint8_t (*out)[ZD_DEFHASH_SIZE]) __attribute__((warn_unused_result));

#endif
