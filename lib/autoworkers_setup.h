/* What a run with automatic workers (`zdag run --slurm`, zdag_options.slurm) makes before it
 * starts: the --slurm options checked and split, this run's own directory STATE_DIR/slurm-PID
 * (0700; those of runs no longer alive are removed) with the workers' key pair and the
 * coordinator's public key (a pair made there too unless the run has one), the workers' key
 * admitted, the endpoint workers connect to, and the runner's configuration (zd_prov_cfg,
 * zd_slurm_cfg). Used by the CLI and by zdag_run(); prints nothing: each step fills `why`. */
#ifndef ZD_AUTOWORKERS_SETUP_H
#define ZD_AUTOWORKERS_SETUP_H

#include <stdbool.h>
#include <stddef.h>

#include "curve.h"
#include "provision.h"
#include "slurm.h"

#define ZD_AUTOW_DEFAULT_MAX_JOBS 4
#define ZD_AUTOW_DEFAULT_IDLE_S 60.0

typedef struct zd_autow_setup {
    char **words;          /* the options, split (owned) */
    size_t n_words;        /* entries in words */
    char size_text[128];   /* the size the options set, as they say it ("-c 2") */
    char dir[4096];        /* STATE_DIR/slurm-PID: this run's keys and job script (0700) */
    char worker_key[4200]; /* DIR/worker.key */
    char coord_pub[4200];  /* DIR/coord.pub */
    char output[4200];     /* STATE_DIR/logs/slurm-%j.out: the jobs' output */
    char connect[512];     /* the endpoint the workers connect to */
    char exe[4096];        /* the zdag executable the default workers run */
    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1]; /* the run's own pair, if made */
    zd_prov_cfg prov;                                          /* given to the runner */
    zd_slurm_cfg cmds;                                         /* ... */
} zd_autow_setup;

/* Checks the options with the run's: listen is needed (the jobs connect back to it); options
 * split into words, and a size that is a number. max_jobs 0 = ZD_AUTOW_DEFAULT_MAX_JOBS.
 * Returns 0, or ZDAG_EINVAL / ZDAG_ENOMEM with why filled. */
int zd_autow_setup_check(zd_autow_setup *s, const char *options, int max_jobs, const char *listen,
                         char *why, size_t size) __attribute__((warn_unused_result));

typedef struct zd_autow_run {
    const char *state_dir; /* existing: the run's directory goes in it, the jobs' output in logs/ */
    const char *listen;    /* the run's listen endpoint */
    bool secure;           /* CurveZMQ: the run's keys are made and the workers' admitted */
    const char *coord_public;       /* the coordinator's public key (Z85) when the run has a pair;
                                       NULL = a pair is made (s->pub, s->sec) */
    zd_keyset **keys;               /* secure: the workers admitted (made when *keys is NULL) */
    double idle_s;                  /* the workers' idle exit; 0 = ZD_AUTOW_DEFAULT_IDLE_S */
    const char *zdag;               /* the zdag executable for the default worker; NULL = found with
                                       zd_autow_find_zdag() */
    const char *const *worker_argv; /* the jobs' worker command (NULL = `zdag worker`; borrowed) */
} zd_autow_run;

/* Makes what the run needs (see the top) after zd_autow_setup_check(). Returns 0, or
 * ZDAG_ESYS / ZDAG_EINVAL / ZDAG_ENOMEM with why filled. */
int zd_autow_setup_prepare(zd_autow_setup *s, const zd_autow_run *r, char *why, size_t size)
    __attribute__((warn_unused_result));

/* The zdag executable of this installation, into out: `zdag` next to the library file that holds
 * this code or in its ../bin (a libzdag.so in PREFIX/lib), or the first on PATH. False when
 * none is found. */
bool zd_autow_find_zdag(char *out, size_t size);

/* Removes the run's directory (keys, job script) and frees what s holds; s is then empty. */
void zd_autow_setup_clear(zd_autow_setup *s);

#endif
