/* Resource limits checked before a run starts, so that a missing descriptor or thread is a
 * clear message and exit 3 rather than a libzmq abort in the middle of the run.
 *
 * The descriptors a coordinator run needs, as zd_rlimit_check_run() counts them:
 *
 *   ZD_RLIMIT_FD_BASE       the ZeroMQ context (its I/O thread's epoll and mailbox eventfds,
 *                           the reaper's mailbox), the signalfd, the journal and its lock, the
 *                           ROUTER's ipc listener, the runtime directory, log files being
 *                           written, stdin/stdout/stderr: 24 in all
 *   + ZD_RLIMIT_FD_LISTEN   with --listen: the tcp listener, the ZAP handler's REP socket and
 *                           its pipe, the admission monitor's PAIR sockets: 8
 *   + ZD_RLIMIT_FD_PER_EXECUTOR x n_local_executors
 *                           each local executor's ipc connection (one descriptor at the
 *                           coordinator, and its mailbox) and the pidfd or pipe we keep on the
 *                           process: 3 each
 *   + ZD_RLIMIT_FD_RESERVE  kept free for replacement executors, the report and trace files
 *                           written at the end, and libzmq's own spares: 16
 *
 * The tasks a run needs (threads and processes alike count against RLIMIT_NPROC): libzmq's
 * I/O thread and reaper thread (2), the ZAP handler when listening (1), the journal's writer
 * (1), and per local executor its process, its own libzmq threads and its watchdog (4). */
#ifndef ZD_RLIMITS_H
#define ZD_RLIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "log.h"

#define ZD_RLIMIT_FD_BASE 24
#define ZD_RLIMIT_FD_LISTEN 8
#define ZD_RLIMIT_FD_PER_EXECUTOR 3
#define ZD_RLIMIT_FD_RESERVE 16
#define ZD_RLIMIT_THREADS_BASE 3 /* libzmq's I/O and reaper threads, the journal */
#define ZD_RLIMIT_TASKS_PER_EXECUTOR                                                               \
    4 /* a local executor: its process, its libzmq I/O and                                         \
         reaper threads, its watchdog (all count against                                           \
         RLIMIT_NPROC, as threads are tasks) */

/* Raises RLIMIT_NOFILE's soft limit to its hard limit (capped at what the kernel accepts,
 * /proc/sys/fs/nr_open). Returns the soft limit in force afterwards (unchanged when it could
 * not be raised), or RLIM_INFINITY when unlimited. */
rlim_t zd_rlimit_raise_nofile(void);

/* Descriptors a run with n_local_executors local executors needs (listening: with --listen),
 * by the arithmetic above. */
size_t zd_rlimit_fds_needed(unsigned n_local_executors, bool listening);

/* Tasks (threads and processes) a run needs besides the calling thread, by the arithmetic
 * above: the check creates that many threads at once, as processes and threads count alike
 * against RLIMIT_NPROC. */
unsigned zd_rlimit_threads_needed(unsigned n_local_executors, bool listening);

/* Descriptors RLIMIT_NOFILE leaves over once those open now and those the run needs are
 * counted (0 when none): the budget for remote connections (see coordinator/admission.h). */
size_t zd_rlimit_spare_fds(unsigned n_local_executors, bool listening);

/* What bounds the number of tasks (threads and processes) this process can start, as read
 * from the system by zd_rlimit_task_limits_read(). */
typedef struct zd_task_limits {
    bool known;                /* everything below could be read */
    unsigned long tasks;       /* tasks on the whole machine now (/proc/loadavg) */
    rlim_t nproc;              /* RLIMIT_NPROC's soft limit (RLIM_INFINITY: none) */
    unsigned long threads_max; /* kernel.threads-max */
    bool pids_limited;         /* a pids.max other than "max" on this process's cgroup path */
    bool memory_limited;       /* RLIMIT_AS or RLIMIT_DATA finite, or strict overcommit */
} zd_task_limits;

/* Reads the limits above (known false when any cannot be read). */
void zd_rlimit_task_limits_read(zd_task_limits *out);

/* Whether `need` more tasks are certain to be allowed under l: every task on the machine plus
 * need stays under RLIMIT_NPROC (which counts only this user's) and kernel.threads-max, no
 * cgroup bounds the pids, and a thread stack cannot fail for want of address space. When not
 * certain, zd_rlimit_check_run() tries the threads instead. */
bool zd_rlimit_tasks_certain(const zd_task_limits *l, unsigned need);

/* Checks, before a run starts, that enough descriptors remain free under RLIMIT_NOFILE (the
 * limit minus the descriptors already open) and that the run's threads can be created: when
 * the limits do not make that certain (zd_rlimit_tasks_certain()), it creates and joins that
 * many threads that do nothing (costly on a loaded machine: a millisecond or more). On failure
 * writes the reason to why (size bytes), e.g. "too few file descriptors: ulimit -n is 16, this run
 * needs at least 40" or "cannot create a thread: Resource temporarily unavailable (ulimit -u?)",
 * logs it as an error to log (may be NULL) and returns ZDAG_ESYS. Returns 0 when the run can start.
 */
int zd_rlimit_check_run(unsigned n_local_executors, bool listening, const zd_log *log, char *why,
                        size_t size) __attribute__((warn_unused_result));

#endif
