/* The pipeline file loader: YAML (or JSON) text -> a validated, finished zd_graph.
 *
 * The file format is SPEC section 2. Representation choices the rest of zdag relies on:
 * - `cmd` as a string -> ZD_NODE_SHELL with node->shell; as a list -> ZD_NODE_ARGV with
 *   node->argv (NULL-terminated). `fn` -> ZD_NODE_FN with node->fn. Scalars used as text (cmd,
 *   list entries, env values, ...) are kept exactly as written: `[sleep, 1]` gives "1",
 *   `cmd: true` runs the `true` command, `X: ~` in env gives "~".
 * - `args` -> node->args/args_len, one msgpack value (see zd_yaml_pack() for the mapping);
 *   NULL when absent or null.
 * - `env` (top level and per node) -> zd_kv arrays in file order, values as text.
 * - `defaults` fill every key a node does not set itself; a node's own value replaces the
 *   default whole (an `env` or `resources` map is not merged), and a node's own `cmd` or `fn`
 *   replaces a default `cmd` or `fn`.
 * - numbers given as integers or floats are accepted for number keys; quoted values are strings.
 * - YAML aliases are rejected (see yamlvalue.h); files above ZD_PIPELINE_MAX_BYTES are refused.
 *
 * Every error is reported, as "FILE:LINE:COL: error: MESSAGE", up to ZD_YAML_MAX_ERRORS. */
#ifndef ZD_PIPELINE_H
#define ZD_PIPELINE_H

#include <stddef.h>

#include "diag.h"
#include "graph.h"

#define ZD_PIPELINE_MAX_BYTES (64u << 20) /* larger pipeline files are refused */
#define ZD_PIPELINE_MAX_POOLS 1024        /* more pools than this are refused */

/* What zd_pipeline_load_file() and zd_pipeline_load_buffer_opts() check beyond the file. */
#define ZD_LOAD_PROBE_PLUGINS                                                                      \
    1u /* dlopen each plugin (RTLD_LAZY | RTLD_LOCAL, then closed): one                            \
          that cannot be found or loaded is an error at its entry */
#define ZD_LOAD_CHECK_FNS                                                                          \
    2u /* each fn node's function: without plugins an error (zdag run                              \
          refuses it unless remote workers serve it); with                                         \
          ZD_LOAD_PROBE_PLUGINS, one no plugin exports is an error */

typedef struct zd_load_opts {
    const char *base_dir; /* relative `plugins` and `workdir` paths resolve from this directory
                             (stored absolute in the graph); NULL: kept as written */
    unsigned flags;       /* ZD_LOAD_* */
} zd_load_opts;

/* Loads and validates the pipeline file at path. On success stores a finished graph
 * (zd_graph_finish done; settings.path = path as given) in *out and returns 0; the caller owns
 * it and frees it with zd_graph_free(). On an invalid pipeline returns ZDAG_EPIPELINE, stores
 * NULL and appends every error to diags. When the file cannot be read returns ZDAG_EIO with one
 * message "PATH: error: cannot read: REASON". Returns ZDAG_ENOMEM when out of memory. */
int zd_pipeline_load(const char *path, zd_graph **out, zd_diags *diags)
    __attribute__((warn_unused_result));

/* zd_pipeline_load() with the checks of flags (ZD_LOAD_*; zdag check uses
 * ZD_LOAD_PROBE_PLUGINS | ZD_LOAD_CHECK_FNS). Both read only a regular file: a FIFO, a device
 * or a directory is refused at once, never waited on ("PATH:1:1: error: cannot read a FIFO: a
 * pipeline must be a regular file"; ZDAG_EIO). Relative plugin and workdir paths in the file
 * resolve from the directory the file is in (its real path), so the graph holds absolute
 * paths and a pipeline means the same from any current directory. */
int zd_pipeline_load_file(const char *path, unsigned flags, zd_graph **out, zd_diags *diags)
    __attribute__((warn_unused_result));

/* path made absolute from base (when relative and base is not NULL), with "." components
 * dropped; ".." is kept (base is a real path, so it stays right across symlinks). Returns a new
 * string (caller frees), or NULL when out of memory. The loader resolves `workdir`, `inputs`,
 * `outputs` and plugins so; the run resolves an instance's workdir made at run time so, from
 * zd_graph_settings.base_dir. */
char *zd_pipeline_resolve_path(const char *base, const char *path);

/* Same from buf[0..len) (borrowed; need not be NUL-terminated). `name` is the FILE of messages
 * and is stored as settings.path. Paths are kept as written. */
int zd_pipeline_load_buffer(const char *name, const char *buf, size_t len, zd_graph **out,
                            zd_diags *diags) __attribute__((warn_unused_result));

/* Same with options (NULL: as zd_pipeline_load_buffer). */
int zd_pipeline_load_buffer_opts(const char *name, const char *buf, size_t len,
                                 const zd_load_opts *opts, zd_graph **out, zd_diags *diags)
    __attribute__((warn_unused_result));

#endif
