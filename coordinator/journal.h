/* The run journal: every node's latest outcome in STATE_DIR/NAME.journal (NAME: the pipeline
 * file's name, common/statedir.h), read back by `zdag run --resume` and for duration history.
 *
 * Parts: the file is a framed log (common/framelog.h: frames, checksums, torn tails, group
 * commit, atomic replacement); its records are those of coordinator/jrecord.h; the directory,
 * its lock and permissions are common/statedir.h; which nodes a resumed run skips is
 * coordinator/resume.h. This module keeps the index (one entry per node, in the string map of
 * common/strmap.h), the duration history, and compacts the file.
 *
 * Crash safety and durability are the framed log's: the file never exists without a valid
 * header; a torn tail is ignored when loading and truncated away by zd_journal_open(); a bad
 * record followed by a valid one is corruption, an error naming the byte offset. A record counts
 * only once zd_journal_sync() has returned (or the writer thread of zd_journal_sync_async() has
 * synced it): after a crash before it, the node simply runs again (and the resume plan re-runs
 * its dependents too).
 *
 * Reading is bounded: records over ZD_JOURNAL_MAX_RECORD are refused before anything is
 * allocated for them, every payload passes zd_wire_well_formed() (depth <= ZD_JOURNAL_MAX_DEPTH)
 * before msgpack_unpack(), and every field is checked for type and range. A record with a valid
 * checksum but the wrong content is an error naming its offset, never skipped.
 *
 * Compaction. Only a node's latest record is live; each NODE_DONE carries the node's last
 * ZD_JOURNAL_HISTORY - 1 earlier succeeded durations, so the latest record alone keeps the
 * duration history. When the file holds more than half again its live bytes and is over
 * ZD_JOURNAL_COMPACT_FLOOR bytes, it is rewritten with the live records only (written to
 * NAME.journal.tmp, fsynced, renamed over the journal, directory fsynced: a crash at any point
 * leaves the old journal or the new one), at open (before anything is appended) and at close
 * (after the last sync). Opened for a pipeline graph, records of nodes that are no longer in it
 * are not live: they are skipped unread (not even checksummed, except the file's last record)
 * and the file is compacted at once, so that no unchecked record stays behind. Compaction, and
 * every zd_journal_close() of a writable journal, removes the files in STATE_DIR/results/ that
 * no live record of any journal in the directory references, and the tmp.* files there. So the file
 * stays within about 1.5x the live records of one run, and opening costs what the current
 * pipeline's records cost, however many runs came before.
 *
 * Versions. Journals of format versions 1 (zdag 0.1) and 2 are read and rewritten in the current
 * version (3) at open. */
#ifndef ZD_JOURNAL_H
#define ZD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defhash.h"
#include "diag.h"
#include "graph.h"
#include "jrecord.h"

#define ZD_JOURNAL_COMPACT_FLOOR (32u << 10) /* smaller journals are never compacted */

typedef struct zd_journal zd_journal;

/* Opens STATE_DIR/NAME.journal for a coordinator run of pipeline `pipeline_id` (e.g. the
 * pipeline's absolute path; at most 4096 bytes). Prepares STATE_DIR (zd_statedir_prepare()),
 * takes its lock, loads the journal (creating it with a header if absent or empty), truncates a
 * torn tail and compacts the file when due. g (may be NULL: every node) is the pipeline about
 * to run: records of nodes not in it are not loaded, and the file is compacted without them; g
 * (borrowed) must outlive the journal, whose index finds its nodes' entries by node index. On
 * success *out (caller closes with zd_journal_close()) holds the loaded records. On failure adds
 * a message to d and returns ZDAG_ESTATE (directory in use, cannot be written, journal corrupt,
 * of another pipeline, of an unsupported version), ZDAG_EINVAL or ZDAG_ENOMEM. */
int zd_journal_open(const char *state_dir, const char *pipeline_id, const zd_graph *g,
                    zd_journal **out, zd_diags *d) __attribute__((warn_unused_result));

/* Reads the journal file at `path` without locking or changing it (an inspection tool's view;
 * a tail being written at that moment looks torn and is skipped). pipeline_id NULL accepts any
 * pipeline. The result answers lookups only; appending to it fails with ZDAG_EINVAL. Errors as
 * zd_journal_open(), plus ZDAG_ENOENT when the file does not exist. */
int zd_journal_load(const char *path, const char *pipeline_id, zd_journal **out, zd_diags *d)
    __attribute__((warn_unused_result));

/* Syncs what is pending (best effort: call zd_journal_sync() first to see errors), compacts
 * the file when due (best effort: zd_journal_compact() says what failed), releases the lock,
 * frees everything; sets *j to NULL. Accepts NULL. */
void zd_journal_close(zd_journal **j);

/* The latest loaded record of node `name` (borrowed; valid until close), or NULL. Records
 * appended since the journal was opened are not visible here. */
const zd_journal_rec *zd_journal_find(const zd_journal *j, const char *name);

/* Nodes with a loaded record. */
size_t zd_journal_count(const zd_journal *j);

/* The median of the loaded durations of succeeded attempts of node `name` (its last
 * ZD_JOURNAL_HISTORY), or 0 when there are none. */
double zd_journal_median_duration(const zd_journal *j, const char *name);

/* Bytes of a torn tail ignored when loading (and truncated away by zd_journal_open()), or 0. */
uint64_t zd_journal_torn_bytes(const zd_journal *j);

/* Buffers a NODE_DONE record (copied) in memory. Not durable until zd_journal_sync() returns 0.
 * Returns 0, ZDAG_EINVAL (read-only journal; empty name or one over 1024 bytes, run_id over 256
 * bytes, duration_s or finished_at negative, non-finite or absurd), ZDAG_ETOOBIG (record over
 * ZD_JOURNAL_MAX_RECORD) or ZDAG_ENOMEM; zd_journal_error() then says which. */
int zd_journal_append(zd_journal *j, const zd_journal_rec *r) __attribute__((warn_unused_result));

/* As zd_journal_append(), for a record that restates node r->name's latest one (e.g. its result
 * moved into the store): the duration history is not extended by it. */
int zd_journal_restate(zd_journal *j, const zd_journal_rec *r) __attribute__((warn_unused_result));

/* Writes everything buffered and fdatasync()s the file: afterwards every appended record is
 * durable. Returns 0 (also when nothing was pending) or ZDAG_ESTATE with zd_journal_error() set.
 * A failed write is rolled back (the file stays valid) and the records stay pending; a failed
 * fdatasync() leaves the journal unusable, since the kernel may have dropped the dirty pages. */
int zd_journal_sync(zd_journal *j) __attribute__((warn_unused_result));

/* As zd_journal_sync(), off the caller's thread (common/framelog.h): asks the journal's writer
 * thread to write and fdatasync everything appended so far and returns at once; the records
 * are durable, and zd_journal_pending() stops counting them, when its fdatasync() has returned.
 * Appending goes on meanwhile. Returns 0, ZDAG_EINVAL (read-only) or ZDAG_ESTATE when an earlier
 * write or sync of the writer failed (zd_journal_error() says why; as zd_journal_sync(): a failed
 * write's records are pending again, a failed fdatasync() leaves the journal unusable). Call
 * zd_journal_sync() before anything relies on the records being durable. */
int zd_journal_sync_async(zd_journal *j) __attribute__((warn_unused_result));

/* Records appended but not yet durable. */
size_t zd_journal_pending(const zd_journal *j);

/* Group commit: milliseconds until a sync is due when pending records may wait at most
 * window_ms after the oldest was appended; 0 when due now, -1 when nothing is pending. Meant as
 * (part of) the coordinator's poll timeout; sync when it reaches 0 or when idle. */
int64_t zd_journal_sync_due_ms(const zd_journal *j, int64_t window_ms);

/* Why the last append or sync failed (borrowed; "" when none). */
const char *zd_journal_error(const zd_journal *j);

/* Rewrites the file with the live records only (see Compaction above), when due or when force
 * is set; needs everything appended to be synced. Returns 1 when it rewrote the file, 0 when
 * not due, ZDAG_EINVAL (read-only, records pending), ZDAG_ESTATE (zd_journal_error() says why;
 * the old file stays as it was) or ZDAG_ENOMEM. */
int zd_journal_compact(zd_journal *j, bool force) __attribute__((warn_unused_result));

/* The state directory (or, loaded read-only, the journal's directory); borrowed. */
const char *zd_journal_dir(const zd_journal *j);

/* Bytes in the journal file, and the bytes its live records (and header) take. */
uint64_t zd_journal_file_bytes(const zd_journal *j);
uint64_t zd_journal_live_bytes(const zd_journal *j);

/* The durations of node `name`'s last succeeded attempts (loaded, then appended), oldest first,
 * at most ZD_JOURNAL_HISTORY (borrowed; valid until the next append or close); *n receives how
 * many (0 and NULL for an unknown node). */
const double *zd_journal_history(const zd_journal *j, const char *name, size_t *n);

#endif
