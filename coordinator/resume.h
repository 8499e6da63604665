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
 * size and SHA-256 in STATE_DIR/results, and every dependency is cached too (a dependency that runs
 * again may produce another result). hashes come from zd_defhash_compute() and are only read
 * (not const: C11 cannot pass uint8_t (*)[32] as const uint8_t (*)[32] without a cast).
 * Returns 0, or ZDAG_EINVAL when g is not finished. */
int zd_resume_plan(const zd_journal *j, const zd_graph *g, uint8_t (*hashes)[ZD_DEFHASH_SIZE],
                   bool *cached) __attribute__((warn_unused_result));

#endif
