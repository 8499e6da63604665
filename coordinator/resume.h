/* Resume planning: which nodes of a pipeline `zdag run --resume` may skip, from the journal. */
#ifndef ZD_RESUME_H
#define ZD_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "defhash.h"
#include "graph.h"
#include "journal.h"

/* Fills cached[i] for each node of the finished graph g: true when its latest record succeeded
 * with hashes[i] as definition hash, its result (when in the store) is a file of the recorded
 * size and SHA-256 in STATE_DIR/results, every dependency is cached too (a dependency that runs
 * again may produce another result), and its inputs hash is that of its dependencies' cached
 * records (zd_inputs, coordinator/jrecord.h: it ran on the results they have now, not on those of
 * an earlier record). A record without an inputs hash (formats 1 and 2) is cached only when the
 * node has no dependencies. hashes come from zd_defhash_compute() and are only read
 * (not const: C11 cannot pass uint8_t (*)[32] as const uint8_t (*)[32] without a cast).
 * Returns 0, ZDAG_EINVAL when g is not finished, or ZDAG_ENOMEM. */
int zd_resume_plan(const zd_journal *j, const zd_graph *g, uint8_t (*hashes)[ZD_DEFHASH_SIZE],
                   bool *cached) __attribute__((warn_unused_result));

#endif
