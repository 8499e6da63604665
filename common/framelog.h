/* A framed, checksummed append-only log: the file layer under the run journal, knowing nothing
 * of what its records mean.
 *
 * File format (integers little-endian): a sequence of frames
 *
 *   frame := [u32 length][u32 crc32 of payload][payload: `length` bytes]
 *
 * with 0 < length <= max_record. The crc32 is the IEEE/zlib one (reflected polynomial
 * 0xEDB88320).
 *
 * Crash safety. A log is created whole: zd_framelog_create() writes PATH.tmp, and
 * zd_framelog_install() fsyncs it, renames it over PATH and fsyncs the directory, so PATH is
 * always either the old file or the new one, never neither and never half of one. After that a
 * log is only appended to. A crash can leave a torn last frame: a short frame header, a short
 * payload, a bad checksum on the final frame, or zero bytes (file systems that extend the size
 * before the data). zd_framelog_read() stops before such a tail and says where the whole frames
 * end; zd_framelog_open() truncates the tail away before anything is appended. A bad frame
 * followed by a valid one is not a crash artefact but corruption: an error naming the byte
 * offset. (A frame torn by a crash whose own payload happens to contain a whole valid frame is
 * reported the same way.)
 *
 * Durability. zd_framelog_append() only buffers; zd_framelog_sync() writes and fdatasync()s, in
 * one group for everything appended since the last sync. A failed write is rolled back (the file
 * keeps ending with a whole frame) and the frames stay pending; a failed fdatasync() leaves the
 * log unusable, since the kernel may have dropped the dirty pages.
 *
 * Off the caller's thread. zd_framelog_sync_async() hands what is buffered to a writer thread of
 * the log's own (started at its first call) and returns at once: appends go on into a new buffer
 * meanwhile, and are written after those being synced, in the order appended. A frame is
 * durable, and zd_framelog_pending() stops counting it, only once the writer's fdatasync() of it
 * has returned; zd_framelog_sync() waits for exactly that, for every frame appended before it was
 * called. The writer only writes and syncs the file; everything else (appending, the index a
 * caller keeps) stays on the caller's thread, which must be one thread at a time.
 *
 * Reading is bounded: a frame over max_record is refused before anything is allocated for it,
 * and the file is read in large chunks, not a system call per frame. Frames the reader does not
 * want (zd_framelog_cfg.wanted) are skipped without a checksum, except the last: a reader that
 * skips frames should rewrite the log without them, as the journal's compaction does. */
#ifndef ZD_FRAMELOG_H
#define ZD_FRAMELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZD_FRAMELOG_FRAME_HEADER 8 /* bytes before each payload */

/* CRC-32 (IEEE, as zlib's crc32()): pass 0 to start, the previous value to continue. */
uint32_t zd_framelog_crc32(uint32_t crc, const void *buf, size_t len);

typedef struct zd_framelog_cfg {
    uint32_t max_record; /* payload bytes per frame, at most; > 0 */
    /* Optional: whether a payload starting with these n (>= 2) bytes could be one of the log's
     * frames. Narrows the search for valid frames after a bad one (torn tail or corruption);
     * NULL counts every frame with a plausible length. */
    bool (*plausible)(const uint8_t *head, size_t n);
    /* Optional: whether the reader wants the frame with this payload (its checksum not yet
     * verified). A frame it does not want is skipped without computing its checksum, unless it
     * is the file's last (where a torn tail shows). NULL: every frame is wanted. */
    bool (*wanted)(void *ctx, const char *payload, uint32_t len);
    /* Optional: makes the file's data durable, as fdatasync(fd) (NULL: fdatasync itself);
     * returns 0 or -1 with errno set. Tests put a slow or failing one here. Called by the
     * writer thread once zd_framelog_sync_async() has been used, with datasync_ctx. */
    int (*datasync)(void *ctx, int fd);
    void *datasync_ctx; /* passed to datasync */
} zd_framelog_cfg;

/* What went wrong while reading, when zd_framelog_read() itself failed. */
typedef struct zd_framelog_fault {
    uint64_t offset; /* byte offset of the bad frame (or of the failed read) */
    int err;         /* errno of a failed read, else 0 */
    char why[160];   /* what is wrong with the frame at offset; "" when the visitor failed */
} zd_framelog_fault;

/* Called for each whole frame, in file order. payload is borrowed until the call returns.
 * Returns 0 to go on, or a negative error that stops the read and is returned by it. */
typedef int (*zd_framelog_visit_fn)(void *ctx, const char *payload, uint32_t len, uint64_t off);

/* Reads the frames of the file open at fd (from offset 0, up to its size now), handing each
 * wanted one to visit (ctx is passed to cfg->wanted as well). *valid_end receives where the whole
 * frames end and *size the file size: a torn tail is [*valid_end, *size). Returns 0; ZDAG_ESTATE
 * when the frame at offset 0 is bad or a bad frame is followed by a valid one (f says where and
 * why); ZDAG_EIO (f->err set) when reading failed; ZDAG_ENOMEM; or the visitor's error (f->why then
 * ""). */
int zd_framelog_read(int fd, const zd_framelog_cfg *cfg, zd_framelog_visit_fn visit, void *ctx,
                     uint64_t *valid_end, uint64_t *size, zd_framelog_fault *f)
    __attribute__((warn_unused_result));

/* A log open for appending. */
typedef struct zd_framelog zd_framelog;

/* Opens the log at path for appending after its first valid_end bytes (from
 * zd_framelog_read()), truncating anything beyond them (a torn tail) durably first. On success
 * *out is the caller's (close with zd_framelog_close()). Returns 0, ZDAG_ESTATE (err says why)
 * or ZDAG_ENOMEM. */
int zd_framelog_open(const char *path, uint64_t valid_end, const zd_framelog_cfg *cfg,
                     zd_framelog **out, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* Starts a new log that will replace path: an empty PATH.tmp (mode `mode`, whatever stood there
 * before is removed), filled with zd_framelog_append()/zd_framelog_sync() and put in place with
 * zd_framelog_install(). Until then path is untouched. Returns as zd_framelog_open(). */
int zd_framelog_create(const char *path, mode_t mode, const zd_framelog_cfg *cfg, zd_framelog **out,
                       char *err, size_t err_size) __attribute__((warn_unused_result));

/* Syncs a created log, renames PATH.tmp over PATH and fsyncs the directory. Afterwards fl
 * appends to PATH. Returns 0, or ZDAG_ESTATE with zd_framelog_error() set: PATH.tmp is then
 * removed and path is as it was, unless only the directory's fsync failed (the new file is in
 * place, but fl is broken: a crash could still bring the old file back). */
int zd_framelog_install(zd_framelog *fl) __attribute__((warn_unused_result));

/* Buffers a frame of len payload bytes (copied). *off (may be NULL) receives the byte offset
 * the frame will have in the file. Not durable until zd_framelog_sync() returns 0. A created,
 * not yet installed log writes (without syncing) whenever a megabyte is buffered. Returns 0,
 * ZDAG_EINVAL (len 0), ZDAG_ETOOBIG (over max_record), ZDAG_ESTATE (that write failed) or
 * ZDAG_ENOMEM; zd_framelog_error() says which. */
int zd_framelog_append(zd_framelog *fl, const void *payload, size_t len, uint64_t *off)
    __attribute__((warn_unused_result));

/* Writes everything buffered and fdatasync()s: afterwards every appended frame is durable.
 * Returns 0 (also when nothing was pending) or ZDAG_ESTATE with zd_framelog_error() set. */
int zd_framelog_sync(zd_framelog *fl) __attribute__((warn_unused_result));

/* As zd_framelog_sync(), without waiting: asks the log's writer thread (started now if need
 * be) to write and fdatasync everything appended so far, and returns. Returns 0, or ZDAG_ESTATE
 * with zd_framelog_error() set when an earlier write or sync of the writer failed since the last
 * call that said so (a failed write: its frames are pending again, before those appended since;
 * a failed fdatasync: the log is broken). A created, not yet installed log, or one whose thread
 * cannot be started, syncs at once instead, as zd_framelog_sync(). */
int zd_framelog_sync_async(zd_framelog *fl) __attribute__((warn_unused_result));

/* Reads len bytes at offset off of the log's file (durable or written part). Returns 0 or
 * ZDAG_EIO. */
int zd_framelog_pread(const zd_framelog *fl, void *buf, size_t len, uint64_t off)
    __attribute__((warn_unused_result));

/* Frames appended but not yet durable. */
size_t zd_framelog_pending(const zd_framelog *fl);

/* Bytes in the file after the last complete write (buffered frames not counted). */
uint64_t zd_framelog_size(const zd_framelog *fl);

/* Group commit: milliseconds until a sync is due when pending frames may wait at most
 * window_ms after the oldest was appended; 0 when due now, -1 when nothing waits for one (none
 * pending, or all of them being synced by the writer thread). */
int64_t zd_framelog_sync_due_ms(const zd_framelog *fl, int64_t window_ms);

/* Whether an fdatasync() failed: nothing more can be promised. */
bool zd_framelog_broken(const zd_framelog *fl);

/* Why the last append, sync or install failed (borrowed; "" when none). */
const char *zd_framelog_error(const zd_framelog *fl);

/* Syncs what is pending (best effort: call zd_framelog_sync() first to see errors), closes the
 * file and frees fl; a created log never installed is removed. Sets *fl to NULL; accepts NULL. */
void zd_framelog_close(zd_framelog **fl);

#endif
