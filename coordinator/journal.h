/* The run journal: every node's final outcome, appended to STATE_DIR/NAME.journal (NAME: the
 * pipeline file's name), read back by
 * `zdag run --resume` and for duration history.
 *
 * File format (all integers little-endian):
 *
 *   record  := [u32 length][u32 crc32 of payload][payload: `length` bytes]
 *   payload := one msgpack array, first element the record type
 *   HEADER    [1, "zdag-journal", version, pipeline, created_at]        first record, only there
 *   NODE_DONE [2, name, defhash, status, result, result_is_msgpack, duration_s, attempts,
 *              run_id, finished_at, result_hash, result_size]
 *
 * with version a uint (ZD_JOURNAL_VERSION), pipeline a str (the pipeline's identity, e.g. its
 * absolute path), created_at and finished_at float64 Unix times, name a str, defhash a 32-byte
 * bin (zd_defhash_compute()), status 0 succeeded / 1 failed, result a bin, result_is_msgpack a
 * bool, duration_s a float64, attempts a uint, run_id a str, result_hash the 32-byte SHA-256 of
 * a result kept in STATE_DIR/results (common/store; `result` is then empty) or nil when the
 * result is inline, result_size its size (uint). Records of 10 fields (written before results
 * had a store) are read as inline. The crc32 is the IEEE/zlib one
 * (reflected polynomial 0xEDB88320).
 *
 * Crash safety. The file is created whole (header written to a temporary file, fsynced, renamed
 * in, directory fsynced), so it never exists without a valid header. After that it is only
 * appended to. A crash can leave a torn last record: a short frame header, a short payload, a
 * bad checksum on the final record, or zero bytes (file systems that extend the size before the
 * data). The reader ignores such a tail, and zd_journal_open() truncates it away before anything
 * is appended. A bad record followed by a valid one is not a crash artefact but corruption: an
 * error naming the byte offset. (A record torn by a crash whose own result bytes happen to
 * contain a whole journal record would be reported the same way; removing the journal recovers.)
 *
 * Durability. zd_journal_append() only buffers; zd_journal_sync() writes and fdatasync()s, in
 * one group for everything appended since the last sync. A record counts only once it is in the
 * file: after a crash before the sync, the node simply runs again. zd_journal_resume_plan()
 * caches a node only when its dependencies are cached too, so a dependency whose record was lost
 * makes its dependents run again as well.
 *
 * Reading is bounded: records over ZD_JOURNAL_MAX_RECORD are refused before anything is
 * allocated for them, every payload passes zd_wire_well_formed() (depth <= ZD_JOURNAL_MAX_DEPTH)
 * before msgpack_unpack(), and every field is checked for type and range. A record with a valid
 * checksum but the wrong content is an error naming its offset, never skipped.
 *
 * Growth. Every run appends one record per finished node, result included; nothing compacts the
 * file yet, and opening reads it whole (a few microseconds per small record).
 *
 * Locking. zd_journal_open() takes an exclusive flock() on STATE_DIR/lock and writes its pid
 * there; a second coordinator on the same directory fails at once, naming the holder's pid. The
 * lock belongs to the open file description: a process forked after zd_journal_open() shares it
 * (and keeps it after the parent dies), so fork executors before opening the journal. */
#ifndef ZD_JOURNAL_H
#define ZD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defhash.h"
#include "diag.h"
#include "graph.h"

#define ZD_JOURNAL_VERSION 1
#define ZD_JOURNAL_MAX_RECORD (80u << 20) /* payload bytes per record, at most */
#define ZD_JOURNAL_MAX_DEPTH 8            /* msgpack nesting allowed in a payload */

typedef enum zd_journal_status {
    ZD_JOURNAL_SUCCEEDED = 0,
    ZD_JOURNAL_FAILED = 1,
} zd_journal_status;

/* One NODE_DONE record. Records handed to zd_journal_append() are copied; records returned by
 * lookups are borrowed from the journal. */
typedef struct zd_journal_rec {
    const char *name;                 /* node name, NUL-terminated */
    uint8_t defhash[ZD_DEFHASH_SIZE]; /* the node's definition hash when it ran */
    zd_journal_status status;         /* how the node ended */
    const char *result;               /* result bytes (stdout, or one packed msgpack value) */
    size_t result_len;                /* bytes at result (result may be NULL when 0) */
    bool result_is_msgpack;           /* result is a packed msgpack value (a function's) */
    bool result_in_store;             /* the result is STATE_DIR/results/HEX(result_hash) */
    uint8_t result_hash[32];          /* its SHA-256, when result_in_store */
    uint64_t result_size;             /* its size, when result_in_store */
    double duration_s;                /* seconds the last attempt took, >= 0 */
    uint32_t attempts;                /* attempts made */
    const char *run_id;               /* the run that wrote the record ("" when unknown) */
    double finished_at;               /* Unix time the node ended, seconds */
} zd_journal_rec;

typedef struct zd_journal zd_journal;

/* Opens STATE_DIR/NAME.journal for a coordinator run of pipeline `pipeline_id` (e.g. the pipeline's
 * absolute path; at most 4096 bytes). Creates STATE_DIR if missing, takes the lock, loads the
 * journal (creating it with a header if absent or empty) and truncates a torn tail. On success
 * *out (caller closes with zd_journal_close()) holds the loaded records. On failure adds a
 * message to d and returns ZDAG_ESTATE (directory in use, cannot be written, journal corrupt,
 * of another pipeline, of an unsupported version), ZDAG_EINVAL or ZDAG_ENOMEM. */
int zd_journal_open(const char *state_dir, const char *pipeline_id, zd_journal **out, zd_diags *d)
    __attribute__((warn_unused_result));

/* Reads the journal file at `path` without locking or changing it (an inspection tool's view;
 * a tail being written at that moment looks torn and is skipped). pipeline_id NULL accepts any
 * pipeline. The result answers lookups only; appending to it fails with ZDAG_EINVAL. Errors as
 * zd_journal_open(), plus ZDAG_ENOENT when the file does not exist. */
int zd_journal_load(const char *path, const char *pipeline_id, zd_journal **out, zd_diags *d)
    __attribute__((warn_unused_result));

/* Syncs what is pending (best effort: call zd_journal_sync() first to see errors), releases the
 * lock, frees everything; sets *j to NULL. Accepts NULL. */
void zd_journal_close(zd_journal **j);

/* The latest loaded record of node `name` (borrowed; valid until close), or NULL. Records
 * appended since the journal was opened are not visible here. */
const zd_journal_rec *zd_journal_find(const zd_journal *j, const char *name);

/* Nodes with a loaded record. */
size_t zd_journal_count(const zd_journal *j);

/* The median of the loaded durations of succeeded attempts of node `name` (all runs), or 0 when
 * there are none. */
double zd_journal_median_duration(const zd_journal *j, const char *name);

/* Fills cached[i] for each node of the finished graph g: true when its latest record succeeded
 * with hashes[i] as definition hash, its result (when in the store) is a file of the recorded
 * size and SHA-256 in STATE_DIR/results, and every dependency is cached too (a dependency that runs
 * again may produce another result). hashes come from zd_defhash_compute() and are only read
 * (not const: C11 cannot pass uint8_t (*)[32] as const uint8_t (*)[32] without a cast).
 * Returns 0, or ZDAG_EINVAL when g is not finished. */
int zd_journal_resume_plan(const zd_journal *j, const zd_graph *g,
                           uint8_t (*hashes)[ZD_DEFHASH_SIZE], bool *cached)
    __attribute__((warn_unused_result));

/* Bytes of a torn tail ignored when loading (and truncated away by zd_journal_open()), or 0. */
uint64_t zd_journal_torn_bytes(const zd_journal *j);

/* Buffers a NODE_DONE record (copied) in memory. Not durable until zd_journal_sync() returns 0.
 * Returns 0, ZDAG_EINVAL (read-only journal; empty name or one over 1024 bytes, run_id over 256
 * bytes, duration_s or finished_at negative, non-finite or absurd), ZDAG_ETOOBIG (record over
 * ZD_JOURNAL_MAX_RECORD) or ZDAG_ENOMEM; zd_journal_error() then says which. */
int zd_journal_append(zd_journal *j, const zd_journal_rec *r) __attribute__((warn_unused_result));

/* Writes everything buffered and fdatasync()s the file: afterwards every appended record is
 * durable. Returns 0 (also when nothing was pending) or ZDAG_ESTATE with zd_journal_error() set.
 * A failed write is rolled back (the file stays valid) and the records stay pending; a failed
 * fdatasync() leaves the journal unusable, since the kernel may have dropped the dirty pages. */
int zd_journal_sync(zd_journal *j) __attribute__((warn_unused_result));

/* Records appended but not yet durable. */
size_t zd_journal_pending(const zd_journal *j);

/* Group commit: milliseconds until a sync is due when pending records may wait at most
 * window_ms after the oldest was appended; 0 when due now, -1 when nothing is pending. Meant as
 * (part of) the coordinator's poll timeout; sync when it reaches 0 or when idle. */
int64_t zd_journal_sync_due_ms(const zd_journal *j, int64_t window_ms);

/* Why the last append or sync failed (borrowed; "" when none). */
const char *zd_journal_error(const zd_journal *j);

/* CRC-32 (IEEE, as zlib's crc32()): pass 0 to start, the previous value to continue. */
uint32_t zd_journal_crc32(uint32_t crc, const void *buf, size_t len);

#endif
