/* zdag run --slurm: the options of automatic workers; what the run makes for them before it
 * starts is lib/autoworkers_setup.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runargs.h"

static zd_slurm_args *slurm_of(zd_run_args *a) {
    if (!a->slurm && !(a->slurm = calloc(1, sizeof *a->slurm)))
        fprintf(stderr, "zdag: out of memory\n");
    return a->slurm;
}

bool zd_slurm_args_option(zd_run_args *a, zd_opt_id id, const char *optval) {
    zd_slurm_args *s = slurm_of(a);
    if (!s)
        return false;
    char *end = NULL;
    errno = 0;
    if (id == ZD_OPT_SLURM) {
        s->options = optval;
    } else if (id == ZD_OPT_SLURM_MAX_JOBS) {
        long v = strtol(optval, &end, 10);
        if (errno || end == optval || *end || v < 1 || v > 100000) {
            fprintf(stderr,
                    "zdag: --slurm-max-jobs takes a whole number from 1 to 100000, not "
                    "\"%s\"\n",
                    optval);
            return false;
        }
        s->max_jobs = (int)v;
    } else if (id == ZD_OPT_SLURM_IDLE) {
        double v = strtod(optval, &end);
        if (errno || end == optval || *end || !(v >= 0.1) || v > 1e7) {
            fprintf(stderr, "zdag: --slurm-idle takes seconds from 0.1, not \"%s\"\n", optval);
            return false;
        }
        s->idle_s = v;
    }
    return true;
}

bool zd_slurm_args_check(zd_run_args *a) {
    zd_slurm_args *s = a->slurm;
    if (!s)
        return true;
    if (!s->options) {
        fprintf(stderr, "zdag: --slurm-max-jobs and --slurm-idle go with --slurm\n");
        return false;
    }
    if (!a->opts.listen) {
        fprintf(stderr, "zdag: --slurm needs --listen (e.g. --listen tcp://0.0.0.0:7700): the "
                        "worker jobs connect back to it\n");
        return false;
    }
    char why[512];
    if (zd_autow_setup_check(&s->setup, s->options, s->max_jobs, a->opts.listen, why, sizeof why) <
        0) {
        fprintf(stderr, "zdag: %s\n", why);
        return false;
    }
    return true;
}

bool zd_slurm_args_prepare(zd_run_args *a, const char *state_dir) {
    zd_slurm_args *s = a->slurm;
    if (!s || !s->options)
        return true;
    char exe[4096], why[512];
    if (!realpath("/proc/self/exe", exe)) {
        fprintf(stderr, "zdag: cannot find this zdag executable: %s\n", strerror(errno));
        return false;
    }
    zd_autow_run r = {.state_dir = state_dir,
                      .listen = a->opts.listen,
                      .secure = !a->opts.insecure,
                      .coord_public = a->secret_file ? a->pub : NULL,
                      .keys = &a->keys,
                      .idle_s = s->idle_s,
                      .zdag = exe};
    if (zd_autow_setup_prepare(&s->setup, &r, why, sizeof why) < 0) {
        fprintf(stderr, "zdag: %s\n", why);
        return false;
    }
    if (r.secure) {
        if (!a->secret_file) { /* the run's own pair */
            a->opts.curve_public = s->setup.pub;
            a->opts.curve_secret = s->setup.sec;
        }
        a->opts.authorized = a->keys;
    }
    a->opts.auto_prov = &s->setup.prov;
    a->opts.auto_slurm = &s->setup.cmds;
    return true;
}

void zd_slurm_args_clear(zd_run_args *a) {
    zd_slurm_args *s = a->slurm;
    if (!s)
        return;
    zd_autow_setup_clear(&s->setup);
    free(s);
    a->slurm = NULL;
    a->opts.auto_prov = NULL;
    a->opts.auto_slurm = NULL;
}
