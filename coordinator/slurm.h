/* Slurm's commands for automatic workers (`zdag run --slurm`): the provisioner's actions
 * (coordinator/provision.h) carried out with sbatch, squeue and scancel, each started with
 * posix_spawn (no shell), one at a time, in the background: the loop polls their output and
 * hands the answers back. Also the pure parts, tested on their own: splitting the --slurm
 * options into words, the job size they set, and reading sbatch's and squeue's output.
 *
 * The worker job is a batch script written into a private directory (cfg.dir, mode 0700):
 * one `zdag worker` that connects back to the run, named by the Slurm node (SLURMD_NODENAME)
 * with the job as its --allocation, offering the job's CPUs (SLURM_CPUS_ON_NODE) as slots and
 * CPU units and its memory (SLURM_MEM_PER_NODE, when asked for) as mem_mb, with --idle-exit.
 * The script exports the same settings as ZDAG_WORKER_CONNECT, ZDAG_WORKER_CURVE_SECRET and
 * ZDAG_WORKER_COORDINATOR_KEY (or ZDAG_WORKER_INSECURE=1), ZDAG_WORKER_SLOTS, ZDAG_WORKER_CPUS,
 * ZDAG_WORKER_HOST_ID, ZDAG_WORKER_ALLOCATION, ZDAG_WORKER_IDLE_EXIT (and ZDAG_WORKER_MEM_MB
 * when the job has memory), so that a program running itself as the worker
 * (cfg.worker_argv, e.g. a libzdag program with its own functions) finds them there.
 * It is submitted as `sbatch --parsable --job-name=zdag-worker --nodes=1 --ntasks=1
 * --output=OUTPUT [--cpus-per-task=N] [--mem=NM] OPTIONS... SCRIPT`: the options given with
 * --slurm come after zdag's, so they win. */
#ifndef ZD_SLURM_H
#define ZD_SLURM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "provision.h"

/* Splits text into words as a shell would, without expanding anything: blanks separate words,
 * '...' keeps everything, "..." keeps all but \" and \\, a backslash outside quotes keeps the
 * next character. Stores a NULL-terminated array of owned words in *out (free with
 * zd_slurm_words_free()) and their number in *n. Returns 0; ZDAG_EINVAL with why filled for an
 * unclosed quote or a trailing backslash; ZDAG_ENOMEM. */
int zd_slurm_split(const char *text, char ***out, size_t *n, char *why, size_t size)
    __attribute__((warn_unused_result));

/* Frees what zd_slurm_split() made; sets *words to NULL. Accepts NULL. */
void zd_slurm_words_free(char ***words);

/* The size sbatch options set for a one-task job: CPUs from -c N, -cN, --cpus-per-task=N or
 * --cpus-per-task N (0 when none), memory from --mem=SIZE or --mem SIZE (SIZE a number of MB,
 * or with a K, M, G or T suffix; 0 when none). *text gets how they said it ("-c 2 --mem=4G"),
 * for messages. Returns false with why filled for a value that is no number. */
bool zd_slurm_size(const char *const *words, size_t n, double *cpus, double *mem_mb, char *text,
                   size_t text_size, char *why, size_t why_size);

/* The job id in `sbatch --parsable` output ("1234" or "1234;cluster"), into id; false when the
 * output holds none. */
bool zd_slurm_parse_sbatch(const char *out, char *id, size_t size);

/* Reads `squeue -h -o '%i|%T|%r'` output (edited in place: the answers point into it) into at
 * most max answers; returns how many. Lines that are not three fields are skipped. */
size_t zd_slurm_parse_squeue(char *out, zd_prov_answer *a, size_t max);

typedef struct zd_slurm_cfg {
    const char *const *words;       /* the --slurm options, split (borrowed) */
    size_t n_words;                 /* entries in words */
    const char *dir;                /* a private directory (0700) for the job script */
    const char *output;             /* the jobs' --output (e.g. STATE_DIR/logs/slurm-%j.out) */
    const char *zdag;               /* the zdag executable the workers run (`zdag worker`) */
    const char *const *worker_argv; /* or, when set, the command each job runs as its worker
                                       (NULL-terminated; it reads the ZDAG_WORKER_* variables) */
    const char *connect;            /* the endpoint the workers connect to */
    const char *worker_key;         /* the workers' key pair (NAME.key), or NULL with insecure */
    const char *coordinator_key;    /* the coordinator's public key (NAME.pub), or NULL */
    double idle_s;                  /* the workers' --idle-exit */
    const char *sbatch;             /* the commands; NULL = "sbatch", "squeue", "scancel" on PATH */
    const char *squeue;
    const char *scancel;
    zd_log log; /* commands that cannot be started, timeouts */
} zd_slurm_cfg;

typedef struct zd_slurm zd_slurm;

/* Writes the worker job's script (see the top) for cfg to f. Returns 0, or ZDAG_EIO. */
int zd_slurm_write_script(const zd_slurm_cfg *cfg, FILE *f);

/* Writes the worker job's script into cfg->dir and returns the runner in *out (cfg copied,
 * strings borrowed). Returns 0, ZDAG_ESYS (the script cannot be written) or ZDAG_ENOMEM. */
int zd_slurm_new(const zd_slurm_cfg *cfg, zd_slurm **out) __attribute__((warn_unused_result));

/* Kills a command still running (and reaps it); frees; sets *s to NULL. Accepts NULL. */
void zd_slurm_free(zd_slurm **s);

/* Queues the provisioner's actions (SUBMIT, POLL, CANCEL; others are ignored) to be run one at
 * a time; starts the first when nothing runs (one that cannot be started is answered as failed
 * at `now`). CANCELs wait for zd_slurm_drain(). */
void zd_slurm_queue(zd_slurm *s, zd_prov *p, double now, const zd_prov_action *a, size_t n);

/* The descriptors of the command running (its stdout and stderr) to poll for input: stores at
 * most 2 in fds and returns how many (0 when none runs). */
int zd_slurm_fds(const zd_slurm *s, int fds[2]);

/* Milliseconds until the command running passes its time limit (60 s), or -1 when none runs. */
int zd_slurm_timeout_ms(const zd_slurm *s);

/* Reads what the command running wrote; once it has closed both, reaps it, gives its answer to
 * p (zd_prov_on_submitted(), zd_prov_on_states(), zd_prov_on_poll_failed()) and starts the next
 * one. A command past its time limit is killed and answered as failed. */
void zd_slurm_step(zd_slurm *s, zd_prov *p, double now);

/* At the end of the run (after zd_prov_finish()): lets the command running finish (its answer
 * given to p), then runs every CANCEL queued or asked for since (one scancel), each waiting at
 * most timeout_s; other queued commands are dropped. */
void zd_slurm_drain(zd_slurm *s, zd_prov *p, double now, double timeout_s);

#endif
