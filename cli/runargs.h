/* What `zdag run` and `zdag map` share: the run options, and running a graph with them (the
 * state directory, --listen's keys, --target/--exclude, then the local runner). */
#ifndef ZD_CLI_RUNARGS_H
#define ZD_CLI_RUNARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "curve.h"
#include "graph.h"
#include "options.h"
#include "provision.h"
#include "runner.h"
#include "autoworkers_setup.h"
#include "slurm.h"

/* A growable list of names given with a repeatable option. */
typedef struct zd_name_list {
    const char **v; /* owned array of borrowed strings (argv) */
    size_t n;       /* entries in v */
    size_t cap;     /* allocated entries */
} zd_name_list;

/* `zdag run --slurm`: automatic workers (cli/slurmargs.c; prepared by lib/autoworkers_setup.h). */
typedef struct zd_slurm_args {
    const char *options;  /* --slurm's text (argv) */
    int max_jobs;         /* --slurm-max-jobs; 0 = 4 */
    double idle_s;        /* --slurm-idle; 0 = 60 */
    zd_autow_setup setup; /* what the run makes for them, and the runner's configuration */
} zd_slurm_args;

typedef struct zd_run_args {
    zd_run_opts opts;        /* what the runner needs */
    const char *state_dir;   /* --state-dir, or NULL for the default */
    bool quiet;              /* -q */
    bool force_progress;     /* --progress */
    zd_name_list targets;    /* --target NODE|TAG */
    zd_name_list excludes;   /* --exclude NODE|TAG */
    bool force_all;          /* --force */
    zd_name_list forces;     /* --force=NODE|TAG */
    const char *secret_file; /* --curve-secret */
    const char *keys_dir;    /* --authorized-keys */
    char pub[41], sec[41];   /* the coordinator's key pair, loaded */
    zd_keyset *keys;         /* the workers admitted (owned) */
    zd_slurm_args *slurm;    /* --slurm and its settings (owned), or NULL */
} zd_run_args;

/* Sets the defaults (critical-path priority, messages to stderr). */
void zd_run_args_init(zd_run_args *a);

/* Applies one of `zdag run`'s options (its argument, borrowed from argv, in optval). Returns
 * false after printing why it is wrong; true, doing nothing, for an option run does not have. */
bool zd_run_args_option(zd_run_args *a, const zd_cli_option *o, const char *optval);

/* Checks the options together (prints why and returns false). */
bool zd_run_args_check(zd_run_args *a);

/* Runs g (finished) as `zdag run` does: pipeline names the run in the report and (with
 * pipeline_id, e.g. its real path) in the journal; the state directory is --state-dir, else
 * default_state_dir (created if needed). Returns the exit status of SPEC section 1. */
int zd_run_args_run(zd_run_args *a, zd_graph *g, const char *pipeline, const char *pipeline_id,
                    const char *default_state_dir);

/* Frees what a holds. */
void zd_run_args_clear(zd_run_args *a);

/* --slurm, --slurm-max-jobs, --slurm-idle into a (a->slurm made on first use). Returns false
 * after printing why. */
bool zd_slurm_args_option(zd_run_args *a, zd_opt_id id, const char *optval);

/* Checks them with the other options (--slurm needs --listen; its options split into words and
 * a size that is a number). Prints why and returns false. */
bool zd_slurm_args_check(zd_run_args *a);

/* Before the run, with the state directory ready: this run's own directory STATE_DIR/slurm-PID
 * (0700; those of runs no longer alive are removed), the workers' key pair in it and the
 * coordinator's public key (a pair made there too unless --curve-secret gave one), the workers'
 * key admitted, the endpoint workers connect to, and the runner's configuration. Prints why and
 * returns false (the run cannot start). */
bool zd_slurm_args_prepare(zd_run_args *a, const char *state_dir);

/* After the run: removes the run's directory (keys, job script) and frees a->slurm. */
void zd_slurm_args_clear(zd_run_args *a);

#endif
