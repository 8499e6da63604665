/* Definition hashes: one SHA-256 per node over everything that decides what the node computes,
 * so `zdag run --resume` can tell "this node already ran exactly like this" (ninja's command-line
 * check, extended down the graph).
 *
 * Covered, in this order, each field tagged and length-prefixed so that no two different
 * definitions serialise to the same bytes:
 *   - a format tag ("zdag-defhash-1"), the node's name (commands see it as ZDAG_NODE);
 *   - kind, then the shell string, or argc and each argv entry, or the function name;
 *   - `args` (packed msgpack; absent args hash as the msgpack nil they stand for);
 *   - the graph-wide `env` then the node's `env`, in order (a later duplicate wins at run time,
 *     so order matters);
 *   - `workdir` (absent and "" differ);
 *   - `version` when the node has one (as written: "2" and 2 are one version);
 *   - for a function node, given a zd_defhash_code, the identity of its code (common/codeid.h):
 *     the program's executable for a function the program registered (looked up first at run
 *     time), else the identities of the plugins, in order, up to the first that exports it
 *     (every plugin's when none visibly does);
 *   - for each dependency in the node's `deps` order: its name (commands see ZDAG_DEP_<NAME>,
 *     functions look results up by name) and its own definition hash, so a change anywhere
 *     upstream changes every descendant's hash.
 *
 * Not covered, on purpose: priority, sequential, pool, cpus, resources, retries, timeout,
 * estimate, tags. They decide when and where a node runs, not what it computes, so changing them
 * does not invalidate a result. Also not covered (as in ninja): the contents of files a command
 * reads (say `version` to re-run it), the shared libraries a plugin or program loads, the
 * environment zdag itself inherits. */
#ifndef ZD_DEFHASH_H
#define ZD_DEFHASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "graph.h"

#define ZD_DEFHASH_SIZE 32

/* What the code of function nodes is (all borrowed). */
typedef struct zd_defhash_code {
    const uint8_t *program;        /* identity of the program's executable (32 bytes),
                                      or NULL when unknown */
    const char *const *registered; /* names of the functions the program registered */
    size_t n_registered;           /* entries in registered */
    const uint8_t *plugins;        /* per plugin of the graph, in order, 32 bytes: its
                                      identity (zd_codeid_file()) */
    size_t n_plugins;              /* entries in plugins */
    /* How many plugins, from the first, may decide what function `fn` is: up to the first that
     * exports it (an earlier one might still supply it through a library it loads); NULL, or
     * n_plugins, when that cannot be told. */
    size_t (*plugins_for)(void *ctx, const char *fn);
    void *ctx; /* passed to plugins_for */
} zd_defhash_code;

/* Computes every node's definition hash into out[i] for node index i (out has
 * zd_graph_size(g) entries), walking the graph in topological order, with the identity of
 * function nodes' code from code (NULL: function nodes are hashed by name only). No allocation.
 * Returns 0, or ZDAG_EINVAL when the graph is not finished (zd_graph_finish()). */
int zd_defhash_compute_code(const zd_graph *g, const zd_defhash_code *code,
                            uint8_t (*out)[ZD_DEFHASH_SIZE]) __attribute__((warn_unused_result));

/* zd_defhash_compute_code(g, NULL, out). */
int zd_defhash_compute(const zd_graph *g, uint8_t (*out)[ZD_DEFHASH_SIZE])
    __attribute__((warn_unused_result));

/* The definition hash of instance `name` of a run-time fan-out (README "Fan-out at run time")
 * whose template hashes as tmpl, made for `item`: its settings are the template's with the item
 * and its index (in its name) substituted, so these three decide it. */
void zd_defhash_instance(const uint8_t tmpl[ZD_DEFHASH_SIZE], const char *name, const char *item,
                         uint8_t out[ZD_DEFHASH_SIZE]);

/* Writes h as 64 lowercase hex digits and a NUL into hex. */
void zd_defhash_hex(const uint8_t h[ZD_DEFHASH_SIZE], char hex[2 * ZD_DEFHASH_SIZE + 1]);

/* SHA-256, streaming: libsodium's (already a dependency of libzmq). */
typedef struct zd_sha256 {
    crypto_hash_sha256_state state; /* libsodium's hashing state */
} zd_sha256;

/* Starts a new hash. */
void zd_sha256_init(zd_sha256 *s);

/* Adds len bytes (data may be NULL when len is 0). */
void zd_sha256_update(zd_sha256 *s, const void *data, size_t len);

/* Finishes the hash into digest; s must be initialised again before reuse. */
void zd_sha256_final(zd_sha256 *s, uint8_t digest[32]);

#endif
