/* What `zdag run` and `zdag map` share: the run options, and running a graph with them (the
 * state directory, --listen's keys, --target/--exclude, then the local runner). */
#ifndef ZD_CLI_RUNARGS_H
#define ZD_CLI_RUNARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "curve.h"
#include "graph.h"
#include "options.h"
#include "runner.h"

/* A growable list of names given with a repeatable option. */
typedef struct zd_name_list {
    const char **v; /* owned array of borrowed strings (argv) */
    size_t n;       /* entries in v */
    size_t cap;     /* allocated entries */
} zd_name_list;

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
} zd_run_args;

/* Sets the defaults (critical-path priority, messages to stderr). */
void zd_run_args_init(zd_run_args *a);

/* Applies one of `zdag run`'s options (its argument, borrowed from argv, in optval). Returns
 * false after printing why it is wrong; true, doing nothing, for an option run does not have. */
bool zd_run_args_option(zd_run_args *a, const zd_cli_option *o, const char *optval);

/* Checks the options together (prints why and returns false). */
bool zd_run_args_check(const zd_run_args *a);

/* Runs g (finished) as `zdag run` does: pipeline names the run in the report and (with
 * pipeline_id, e.g. its real path) in the journal; the state directory is --state-dir, else
 * default_state_dir (created if needed). Returns the exit status of SPEC section 1. */
int zd_run_args_run(zd_run_args *a, zd_graph *g, const char *pipeline, const char *pipeline_id,
                    const char *default_state_dir);

/* Frees what a holds. */
void zd_run_args_clear(zd_run_args *a);

#endif
