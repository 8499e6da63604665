/* zdag: a distributed DAG executor.
 *
 * This is the only public header of libzdag. Every action returns 0 or a negative ZDAG_E...
 * code; zdag_strerror() names it.
 *
 * Threads. The library keeps no global mutable state, and no object locks itself:
 *   - zdag_strerror(), zdag_version(), zdag_version_string(), zdag_node_status_name() and
 *     zdag_log_stderr() may be called from any thread at any time;
 *   - a zdag_dag is used by one thread at a time (building it, zdag_run(), zdag_worker_run());
 *     different DAGs may be built on different threads at once;
 *   - a zdag_result is read-only: its accessors may run on several threads at once; only
 *     zdag_result_free() needs it to itself;
 *   - zdag_run() and zdag_worker_run() run at most once at a time in a process: they fork
 *     executors from the calling thread and read SIGCHLD, SIGINT and SIGTERM from a signalfd,
 *     so while they run every other thread must keep those signals blocked, and the log
 *     callback is called on the calling thread only;
 *   - zdag_call_*() are called by a function node's body, on the executor's one thread, with
 *     the call it was given. */
#ifndef ZDAG_H
#define ZDAG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZDAG_EXPORT __attribute__((visibility("default")))
#define ZDAG_MUST_USE __attribute__((warn_unused_result))
#else
#define ZDAG_EXPORT
#define ZDAG_MUST_USE
#endif

/* The version of this header. ZDAG_VERSION_HEX is 0xMMmmpp (major, minor, patch: one byte
 * each), so versions compare as numbers: #if ZDAG_VERSION_HEX >= 0x000200. */
#define ZDAG_VERSION_MAJOR 0
#define ZDAG_VERSION_MINOR 2
#define ZDAG_VERSION_PATCH 0
#define ZDAG_VERSION_STRING "0.2.0"
#define ZDAG_VERSION_HEX                                                                           \
    ((ZDAG_VERSION_MAJOR << 16) | (ZDAG_VERSION_MINOR << 8) | ZDAG_VERSION_PATCH)

/* The error table: one row per code, X(name, value, message). */
#define ZDAG_ERRORS(X)                                                                             \
    X(ZDAG_OK, 0, "success")                                                                       \
    X(ZDAG_EINVAL, -1, "invalid argument")                                                         \
    X(ZDAG_ENOMEM, -2, "out of memory")                                                            \
    X(ZDAG_EIO, -3, "input/output error")                                                          \
    X(ZDAG_EPROTO, -4, "malformed message")                                                        \
    X(ZDAG_ECYCLE, -5, "dependency cycle")                                                         \
    X(ZDAG_ENOENT, -6, "not found")                                                                \
    X(ZDAG_EEXIST, -7, "already exists")                                                           \
    X(ZDAG_EZMQ, -8, "messaging error")                                                            \
    X(ZDAG_ESYS, -9, "system call failed")                                                         \
    X(ZDAG_ETOOBIG, -10, "too large")                                                              \
    X(ZDAG_EPIPELINE, -11, "invalid pipeline")                                                     \
    X(ZDAG_ESTATE, -12, "state directory unusable")                                                \
    X(ZDAG_EUNSUPPORTED, -13, "not supported")                                                     \
    X(ZDAG_EINTR, -14, "interrupted")

enum zdag_error {
#define ZDAG_ERROR_ENUM(name, value, msg) name = value,
    ZDAG_ERRORS(ZDAG_ERROR_ENUM)
#undef ZDAG_ERROR_ENUM
};

/* Returns a static, human-readable message for an error code (never NULL). */
ZDAG_EXPORT const char *zdag_strerror(int code);

/* Returns the version of the library the program runs with, as ZDAG_VERSION_HEX (which is the
 * version of the header it was compiled with). */
ZDAG_EXPORT unsigned zdag_version(void);

/* Returns the library's version as a static string, e.g. "0.2.0". */
ZDAG_EXPORT const char *zdag_version_string(void);

/* ------------------------------------------------------------------------------------------
 * Function nodes.
 *
 * A function node runs a C function of this program (registered by name with
 * zdag_dag_register()) or of a plugin (a shared library exporting a zdag_fn under that name).
 * It runs in an executor process forked from the program, one node at a time, so a library
 * that is not thread-safe is never entered twice at once. It receives its `args` and the result
 * of each dependency as msgpack objects and returns one msgpack value.
 * ------------------------------------------------------------------------------------------ */

/* What a running function sees: its node, attempt, args and deps' results. Borrowed, valid
 * during the call only. */
typedef struct zdag_call zdag_call;

/* A function node's body. Packs exactly one value with `out` and returns 0; or calls
 * zdag_call_fail() and returns non-zero to fail the attempt (retried per `retries`). A crash
 * (e.g. SIGSEGV) kills only its executor: the node is run again on a new executor, and fails
 * with "executor died: signal 11" after 3 such losses. */
typedef int (*zdag_fn)(zdag_call *call, msgpack_packer *out);

/* The running node's name (borrowed). */
ZDAG_EXPORT const char *zdag_call_node(const zdag_call *call);

/* The attempt number, from 1. */
ZDAG_EXPORT unsigned zdag_call_attempt(const zdag_call *call);

/* The node's `args` (borrowed; a nil object when it has none). */
ZDAG_EXPORT const msgpack_object *zdag_call_args(const zdag_call *call);

/* The result of dependency `dep` (borrowed), or NULL when `dep` is not a dependency of this
 * node. A function dependency gives the value it returned; a command dependency its stdout as
 * a msgpack string. For a node NAME with foreach in the pipeline file, `dep` NAME gives the
 * array of the results of its instances NAME[N] that are dependencies, in index order (and
 * NAME[N] each one). */
ZDAG_EXPORT const msgpack_object *zdag_call_dep(const zdag_call *call, const char *dep);

/* Bytes of a node's error message kept (a failing call's, or a command's), the terminating NUL
 * included: a longer message is cut, ending with ZDAG_ERROR_CUT. */
#define ZDAG_ERROR_MAX 16384
#define ZDAG_ERROR_CUT " [cut at 16 KiB]"

/* Sets the error message of a failing call (printf-style; the last call wins; at most
 * ZDAG_ERROR_MAX bytes are kept). */
ZDAG_EXPORT void zdag_call_fail(zdag_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------------------------
 * Building a DAG.
 *
 * Nodes are named ([A-Za-z_][A-Za-z0-9_.-]*) and set up by name. Every call returns 0 or a
 * negative ZDAG_E... code; zdag_dag_error() then says more. Nothing here forks or touches
 * ZeroMQ: that happens in zdag_run().
 * ------------------------------------------------------------------------------------------ */

typedef struct zdag_dag zdag_dag;

/* Creates an empty DAG; NULL when out of memory. Free with zdag_dag_free(). */
ZDAG_EXPORT zdag_dag *zdag_dag_new(void);

/* Frees the DAG and everything it owns; sets *dag to NULL. Accepts NULL. */
ZDAG_EXPORT void zdag_dag_free(zdag_dag **dag);

/* Details of the last error (borrowed; "" when none), e.g. "cycle: a -> b -> a". */
ZDAG_EXPORT const char *zdag_dag_error(const zdag_dag *dag);

/* Registers function fn under `name` (copied). ZDAG_EEXIST when the name is taken. */
ZDAG_EXPORT int zdag_dag_register(zdag_dag *dag, const char *name, zdag_fn fn) ZDAG_MUST_USE;

/* Adds a shared library whose exported functions `fn` nodes may name (loaded once by each
 * executor that needs it, and kept). Registered functions are looked up first. */
ZDAG_EXPORT int zdag_dag_add_plugin(zdag_dag *dag, const char *path) ZDAG_MUST_USE;

/* Adds a node that calls the function named fn_name. ZDAG_EEXIST for a taken node name,
 * ZDAG_EINVAL for a bad name. */
ZDAG_EXPORT int zdag_dag_add_fn(zdag_dag *dag, const char *node, const char *fn_name) ZDAG_MUST_USE;

/* Adds a node that runs `command` with /bin/sh -c. */
ZDAG_EXPORT int zdag_dag_add_cmd(zdag_dag *dag, const char *node,
                                 const char *command) ZDAG_MUST_USE;

/* Adds a node that execs argv (NULL-terminated, copied) without a shell. */
ZDAG_EXPORT int zdag_dag_add_argv(zdag_dag *dag, const char *node,
                                  const char *const *argv) ZDAG_MUST_USE;

/* Declares a pool of `capacity` units (>= 1) that nodes may hold one unit of. */
ZDAG_EXPORT int zdag_dag_add_pool(zdag_dag *dag, const char *pool, int capacity) ZDAG_MUST_USE;

/* Node `node` runs only after `dep` succeeded. ZDAG_ENOENT for an unknown node. Cycles are
 * found by zdag_run(). */
ZDAG_EXPORT int zdag_node_add_dep(zdag_dag *dag, const char *node, const char *dep) ZDAG_MUST_USE;

/* Node settings, as the pipeline file's keys of the same names. */
ZDAG_EXPORT int zdag_node_set_priority(zdag_dag *dag, const char *node,
                                       int64_t priority) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_sequential(zdag_dag *dag, const char *node,
                                         bool sequential) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_pool(zdag_dag *dag, const char *node, const char *pool) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_cpus(zdag_dag *dag, const char *node, double cpus) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_resource(zdag_dag *dag, const char *node, const char *name,
                                       double amount) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_retries(zdag_dag *dag, const char *node, int retries) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_timeout(zdag_dag *dag, const char *node,
                                      double seconds) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_estimate(zdag_dag *dag, const char *node,
                                       double seconds) ZDAG_MUST_USE;
ZDAG_EXPORT int zdag_node_set_env(zdag_dag *dag, const char *node, const char *key,
                                  const char *value) ZDAG_MUST_USE;

/* Sets a node's `args`: one packed msgpack value (copied; checked to be exactly one value). */
ZDAG_EXPORT int zdag_node_set_args(zdag_dag *dag, const char *node, const void *msgpack,
                                   size_t len) ZDAG_MUST_USE;

/* Sets a node's `version` (copied; NULL removes it), as the pipeline key of that name: any
 * change of it makes --resume run the node (and its dependents) again. A function node's code
 * is part of its definition already (this program's executable for a registered function,
 * the plugin files otherwise); say a version for what zdag cannot see, such as the data files
 * a function reads. */
ZDAG_EXPORT int zdag_node_set_version(zdag_dag *dag, const char *node,
                                      const char *version) ZDAG_MUST_USE;

/* ------------------------------------------------------------------------------------------
 * Running.
 *
 * zdag_run() forks the executors from the calling process (so they run this program's own
 * registered functions; main() is not re-entered), then coordinates the run in the calling
 * thread. Before calling it: start no threads that the executors would need (a forked child has
 * only the calling thread), and hold no lock another thread might need. While it runs,
 * SIGCHLD, SIGINT and SIGTERM are blocked in the calling thread and read from a signalfd; the
 * previous mask is restored on return. SIGINT/SIGTERM interrupt the run (exit code 130/143).
 * ------------------------------------------------------------------------------------------ */

/* Where a run's messages go: the library never prints. level is one of ZDAG_LOG_*; message is
 * one line without its newline (borrowed for the call). Called from the thread that runs
 * zdag_run() (or zdag_worker_run()) only. */
typedef enum zdag_log_level {
    ZDAG_LOG_ERROR = 0,   /* the run or a node could not go on */
    ZDAG_LOG_WARNING = 1, /* something was refused, dropped or retried */
    ZDAG_LOG_INFO = 2,    /* workers joining, leaving; the run's summary */
} zdag_log_level;
typedef void (*zdag_log_fn)(void *ctx, zdag_log_level level, const char *message);

/* A ready sink that writes "zdag: MESSAGE\n" to stderr (ctx unused). */
ZDAG_EXPORT void zdag_log_stderr(void *ctx, zdag_log_level level, const char *message);

/* Run options. They grow at the end from one version to the next without breaking programs
 * compiled before: `size` says which fields the program knows of. Always initialise with
 * zdag_options_init(), then set fields; the library gives the fields beyond `size` their
 * defaults, and refuses (ZDAG_EUNSUPPORTED) a non-zero field it does not know of (a program
 * compiled with a newer header running on an older library). */
typedef struct zdag_options {
    size_t size;             /* the struct's size as compiled: set by zdag_options_init() */
    int jobs;                /* nodes at once at most; 0 = one per executor */
    int local_workers;       /* executors to fork; 0 = number of cores; < 0 = none (with
                                listen: remote workers only) */
    double cpus;             /* CPU units of this host; 0 = number of cores */
    const char *priority;    /* "critical-path" (NULL), "compound" or "user" */
    bool keep_going;         /* after a failure, run what does not depend on it */
    const char *state_dir;   /* logs go to STATE_DIR/logs; NULL = ".zdag" */
    const char *report_path; /* the JSON report, or NULL */
    const char *trace_path;  /* the Chrome trace, or NULL */
    bool quiet;              /* no summary line in the log */
    size_t max_result;       /* largest result of any node, bytes; 0 = 1 GiB */
    bool resume;             /* skip nodes that succeeded in an earlier run (same state_dir)
                                with an unchanged definition; their results are restored */
    zdag_log_fn log;         /* where the run's messages go (failures, the summary...);
                                NULL = nowhere. zdag_log_stderr prints them as `zdag run` does */
    void *log_ctx;           /* passed to log */
    const char *name;        /* the run's identity in state_dir: its journal, --resume and
                                duration history. NULL = this program's executable name
                                (e.g. "hello"). At most 255 bytes, no '/' */
    /* Since 0.2.0's first layout (a program compiled before them passes a smaller size): */
    const char *listen;          /* also accept remote workers here (`zdag run --listen`),
                                    e.g. "tcp://0.0.0.0:7700"; NULL = local executors only.
                                    local_workers < 0 then means remote workers only */
    const char *curve_secret;    /* with a tcp listen: the coordinator's key pair file (the
                                    NAME.key of `zdag keygen`) */
    const char *authorized_keys; /* with a tcp listen: a folder of the *.pub files of the
                                    workers admitted */
    bool insecure;               /* a tcp listen without CurveZMQ (warned in the log) */
    /* Since 0.2.0's Slurm workers (README "On Slurm"): */
    const char *slurm;  /* automatic workers: when ready nodes wait for hosts, Slurm jobs are
                           submitted (sbatch, these options: e.g. "-p debug -t 1:00:00"), each
                           running one worker that connects back to `listen` (needed). NULL =
                           none. With a tcp listen and not insecure, the run makes its own keys
                           (and its own coordinator pair unless curve_secret is set; then
                           authorized_keys is optional) in STATE_DIR/slurm-PID, removed at
                           the end; the jobs' output goes to STATE_DIR/logs/slurm-JOBID.out.
                           Queued jobs are cancelled at the end of the run */
    int slurm_max_jobs; /* worker jobs in flight at most; 0 = 4 */
    double slurm_idle;  /* a worker with no node to run for this many seconds leaves (its job
                           ends); 0 = 60 */
    const char *const *slurm_worker; /* the command each job runs as its worker (NULL-
                           terminated argv, borrowed for the call), started with the
                           ZDAG_WORKER_* variables set (see zdag_worker_options_from_env()).
                           A program whose fn nodes call its own registered functions gives
                           itself here, e.g. {"/path/to/prog", "--worker", NULL}, and serves
                           from main() with zdag_worker_options_from_env() + zdag_worker_run().
                           NULL = `zdag worker` of this installation (the zdag executable next to
                           libzdag, in its ../bin, or on PATH): plugins and commands only */
} zdag_options;

/* Fills the first `size` bytes of opts with the defaults (all zero) and sets opts->size.
 * Call zdag_options_init() instead, which passes the size the program was compiled with. */
ZDAG_EXPORT void zdag_options_init_size(zdag_options *opts, size_t size);

/* Fills opts with the defaults. */
static inline void zdag_options_init(zdag_options *opts) {
    zdag_options_init_size(opts, sizeof *opts);
}

typedef struct zdag_result zdag_result;

/* Runs the DAG (opts may be NULL for the defaults). Prints nothing: messages go to opts->log.
 * Returns 0 when the run took place, whatever its outcome; then *result (caller frees with
 * zdag_result_free()) tells how it and each node ended, and zdag_result_exit_code() gives the
 * status `zdag run` would exit with. Returns, when it could not start (zdag_dag_error() then
 * says why, and the report, if asked for, has "status": "error"): ZDAG_ECYCLE (the path),
 * ZDAG_ENOENT (a fn node names no registered function and there is no plugin to find it in),
 * ZDAG_EINVAL (also: a node needs more than this host offers; opts->size below any layout,
 * i.e. opts not set up with zdag_options_init(); a bad opts->name), ZDAG_EUNSUPPORTED (opts
 * sets a field this library does not know of), ZDAG_ESTATE (the state
 * directory), ZDAG_ESYS (too few descriptors or threads, a fork that failed) or ZDAG_ENOMEM. */
ZDAG_EXPORT int zdag_run(zdag_dag *dag, const zdag_options *opts,
                         zdag_result **result) ZDAG_MUST_USE;

/* The run's exit status as `zdag run` would exit: 0, 1 (a node failed), 2, 3, 130, 143. */
ZDAG_EXPORT int zdag_result_exit_code(const zdag_result *result);

/* How a node ended (the report's "status" of that node). */
typedef enum zdag_node_status {
    ZDAG_NODE_UNKNOWN = 0, /* no such node (never a real node's status) */
    ZDAG_NODE_SUCCEEDED,   /* ran, and its last attempt succeeded */
    ZDAG_NODE_FAILED,      /* ran, and its last attempt failed */
    ZDAG_NODE_SKIPPED,     /* did not run: a dependency failed, or the run stopped first */
    ZDAG_NODE_CACHED,      /* did not run: its result comes from an earlier run (resume) */
    ZDAG_NODE_EXCLUDED,    /* not part of this run */
} zdag_node_status;

/* The status's name as the report writes it ("succeeded", ...; "unknown"). Static. */
ZDAG_EXPORT const char *zdag_node_status_name(zdag_node_status status);

/* A node's final status; ZDAG_NODE_UNKNOWN for an unknown node (or NULL arguments). */
ZDAG_EXPORT zdag_node_status zdag_result_status(const zdag_result *result, const char *node);

/* The number of nodes in the result (every node of the DAG, in the order they were added). */
ZDAG_EXPORT size_t zdag_result_count(const zdag_result *result);

/* The name of node i (0 <= i < zdag_result_count()) (borrowed, valid until
 * zdag_result_free()), or NULL when i is out of range:
 *
 *   for (size_t i = 0; i < zdag_result_count(res); i++)
 *       printf("%s: %s\n", zdag_result_node(res, i),
 *              zdag_node_status_name(zdag_result_status(res, zdag_result_node(res, i))));
 */
ZDAG_EXPORT const char *zdag_result_node(const zdag_result *result, size_t i);

/* Why a node failed or was skipped (borrowed), or NULL. */
ZDAG_EXPORT const char *zdag_result_error(const zdag_result *result, const char *node);

/* Attempts a node made. */
ZDAG_EXPORT unsigned zdag_result_attempts(const zdag_result *result, const char *node);

/* A succeeded node's result (borrowed, valid until zdag_result_free()): a function's packed
 * msgpack value (*is_msgpack true), or a command's stdout (*is_msgpack false). is_msgpack may be
 * NULL. Returns 0, or ZDAG_ENOENT when the node is unknown or did not succeed. */
ZDAG_EXPORT int zdag_result_value(const zdag_result *result, const char *node, const char **data,
                                  size_t *len, bool *is_msgpack) ZDAG_MUST_USE;

/* A succeeded node's result unpacked into zone (caller-initialised; the object lives as long
 * as the zone and the result): a command's stdout as a string object. */
ZDAG_EXPORT int zdag_result_object(const zdag_result *result, const char *node, msgpack_zone *zone,
                                   msgpack_object *obj) ZDAG_MUST_USE;

/* Frees the result; sets *result to NULL. Accepts NULL. */
ZDAG_EXPORT void zdag_result_free(zdag_result **result);

/* ------------------------------------------------------------------------------------------
 * Serving a remote coordinator.
 *
 * The same program that built the DAG runs as a worker on another host, so `fn` nodes find the
 * same registered functions there. The program parses its own command line and fills the
 * options (the `zdag worker` command is this call with the options from its argv):
 *
 *   zdag_worker_options w;
 *   zdag_worker_options_init(&w);
 *   w.connect = "tcp://10.0.0.1:7700";
 *   w.curve_secret = "worker.key";           // or w.insecure = true
 *   w.coordinator_key = "coord.pub";
 *   w.log = zdag_log_stderr;
 *   return zdag_worker_run(dag, &w);         // the process's exit status
 * ------------------------------------------------------------------------------------------ */

typedef struct zdag_worker_options {
    size_t size;         /* sizeof (zdag_worker_options), set by the init function:
                            fields a caller built against an older header does not
                            have (past size) take their defaults */
    const char *connect; /* the coordinator's endpoint, e.g. tcp://10.0.0.1:7700 */
    unsigned slots;      /* nodes at once on this host (1..4096); 0 = number of cores */
    double cpus;         /* CPU units of this host (>= 0); < 0 = number of cores */
    const char *host_id; /* workers with the same id share the host's limits;
                            NULL = the hostname */
    const char *const *resource_names; /* other resources of this host, e.g. "gpu" */
    const double *resource_amounts;    /* their amounts (>= 0) */
    size_t n_resources;                /* entries in both (at most 16) */
    const char *curve_secret;    /* path of this worker's key pair (NAME.key of zdag keygen) */
    const char *coordinator_key; /* path of the coordinator's public key (its NAME.pub) */
    bool insecure;               /* plain tcp without CurveZMQ (loudly warned) */
    bool forever;                /* after a run, wait for the next one; retry every mistake */
    zdag_log_fn log;             /* where the worker's messages go; NULL = nowhere */
    void *log_ctx;               /* passed to log */
    const char *metrics;         /* serve Prometheus metrics at http://metrics/metrics
                                    ("HOST:PORT" or "PORT"); NULL = none */
    double idle_exit;            /* leave (exit 0) after this many seconds in which none of its
                                    executors ran a node; 0 = never */
    const char *allocation;      /* this worker's own share of its host (e.g. a Slurm job id):
                                    its limits are not shared with other workers of the same
                                    host_id; at most 127 bytes. NULL = none */
} zdag_worker_options;

/* Fills opts with the defaults (and its size). */
ZDAG_EXPORT void zdag_worker_options_init(zdag_worker_options *opts);

/* Fills opts (after zdag_worker_options_init()) from the environment a worker job of
 * zdag_options.slurm (or `zdag run --slurm`) is started with: ZDAG_WORKER_CONNECT (connect),
 * ZDAG_WORKER_CURVE_SECRET, ZDAG_WORKER_COORDINATOR_KEY, ZDAG_WORKER_INSECURE=1,
 * ZDAG_WORKER_SLOTS, ZDAG_WORKER_CPUS, ZDAG_WORKER_HOST_ID, ZDAG_WORKER_ALLOCATION and
 * ZDAG_WORKER_IDLE_EXIT (each optional but the first; the job also sets ZDAG_WORKER_MEM_MB, its
 * memory, which a program may offer as resource "mem_mb"). The strings point into the
 * environment (borrowed: do not change those variables while opts is used). Returns 1 when
 * ZDAG_WORKER_CONNECT is set (opts filled), 0 when it is not (opts unchanged: not started as a
 * worker), ZDAG_EINVAL when a number does not read. A program's main():
 *
 *   zdag_worker_options w;
 *   zdag_worker_options_init(&w);
 *   if (zdag_worker_options_from_env(&w) == 1) {
 *       w.log = zdag_log_stderr;
 *       return zdag_worker_run(dag, &w);
 *   }
 */
ZDAG_EXPORT int zdag_worker_options_from_env(zdag_worker_options *opts) ZDAG_MUST_USE;

/* Serves dag's registered functions (dag may be NULL: plugins only) to the coordinator at
 * opts->connect, in this process, until the run ends (or, with forever, until SIGINT or
 * SIGTERM). Every string is borrowed for the call. Reports through opts->log only. Returns
 * the exit status, as `zdag worker` exits: 0 (the run ended), 2 (invalid options or keys, or
 * a coordinator that cannot admit this worker as configured: it refused the key, it does not
 * hold the pinned key, CurveZMQ on one side only; each said within 5 s), 3 (the coordinator
 * could not be reached for 60 s, or was lost; or `metrics` cannot be listened on), 130/143
 * (interrupted). */
ZDAG_EXPORT int zdag_worker_run(zdag_dag *dag, const zdag_worker_options *opts) ZDAG_MUST_USE;

#ifdef __cplusplus
}
#endif
#endif
