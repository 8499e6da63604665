/* The state directory (`--state-dir`, default .zdag/ beside the pipeline file): its layout, its
 * permissions and its lock.
 *
 *   STATE_DIR/            mode 0700: node logs and results may hold secrets
 *     lock                the pid of the coordinator holding the directory (0600)
 *     NAME.journal        the run journal of pipeline NAME (0600; coordinator/journal.h)
 *     NAME.journal.tmp    a journal being rewritten (compaction), garbage after a crash
 *     logs/NODE.log       each node's output (0700 directory, 0600 files)
 *     results/HASH        results by content hash, referenced by the journals (0444)
 *
 * Directories zdag creates get 0700; existing ones (from older versions, 0755) are tightened
 * when the directory is prepared. Files get 0600 (ZD_STATE_FILE_MODE); the result store's are
 * 0444 (common/store.h), private by the directory's mode. */
#ifndef ZD_STATEDIR_H
#define ZD_STATEDIR_H

#include <stddef.h>

#include "diag.h"

#define ZD_STATE_DIR_MODE 0700     /* the state directory and its subdirectories */
#define ZD_STATE_FILE_MODE 0600    /* every file in them: logs, journals, results, the lock */
#define ZD_STATE_LOGS "logs"       /* subdirectory of the node logs */
#define ZD_STATE_RESULTS "results" /* subdirectory of the result store */
#define ZD_STATE_STATUS "status"   /* the status socket of the run going on (ipc, 0600) */

/* Creates dir and dir/logs (mode 0700) when missing, and takes group and other permissions away
 * from existing ones (and from dir/results). Returns 0, or ZDAG_ESTATE with a message in d. */
int zd_statedir_prepare(const char *dir, zd_diags *d) __attribute__((warn_unused_result));

/* Writes dir's journal path for pipeline `pipeline_id` into out: STATE_DIR/NAME.journal, NAME
 * the pipeline id's last path component with anything but [A-Za-z0-9._-] replaced by '_'
 * ("pipeline" when empty), so pipelines sharing a directory keep separate journals. Returns 0,
 * or ZDAG_ESTATE when it does not fit. */
int zd_statedir_journal_path(const char *dir, const char *pipeline_id, char *out, size_t size)
    __attribute__((warn_unused_result));

/* The exclusive lock of a state directory. */
typedef struct zd_statedir_lock zd_statedir_lock;

/* Takes the exclusive flock() of dir/lock and writes our pid there; a second holder fails at
 * once with a message naming the holder's pid. The lock belongs to the open file description:
 * a process forked afterwards shares it (and keeps it after the parent dies), so fork first.
 * Returns 0 (*out the caller's), ZDAG_ESTATE (message in d) or ZDAG_ENOMEM. */
int zd_statedir_lock_take(const char *dir, zd_statedir_lock **out, zd_diags *d)
    __attribute__((warn_unused_result));

/* Clears the pid and releases the lock; sets *l to NULL. Accepts NULL. */
void zd_statedir_lock_release(zd_statedir_lock **l);

#endif
