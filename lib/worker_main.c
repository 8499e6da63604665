/* Worker options: checked, keys loaded, then the host agent. */
#include "worker_main.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "curve.h"
#include "diag.h"

typedef struct worker_state {
    zdag_worker_options o;                  /* the options, defaults past the caller's size */
    zd_agent_cfg cfg;                       /* what the agent gets */
    zd_amount res[ZD_WIRE_MAX_RESOURCES];   /* the resources (names copied into names) */
    char names[ZD_WIRE_MAX_RESOURCES][128]; /* resource names */
    char host[256];                         /* default host id */
    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1], server[ZD_CURVE_Z85_LEN + 1];
    zd_log log; /* opts' sink */
} worker_state;

void zdag_worker_options_init(zdag_worker_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->cpus = -1;
}

/* Checks the numbers and copies them into the agent's configuration. */
static bool check_options(worker_state *w) {
    const zdag_worker_options *o = &w->o;
    if (!o->connect || !o->connect[0]) {
        zd_logf(&w->log, ZDAG_LOG_ERROR, "a worker needs the coordinator's endpoint (--connect)");
        return false;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->slots > 4096) {
        zd_logf(&w->log, ZDAG_LOG_ERROR, "--slots takes a whole number from 1 to 4096");
        return false;
    }
    w->cfg.slots = o->slots ? o->slots : (uint32_t)(cores > 0 ? cores : 1);
    w->cfg.cpus = o->cpus >= 0 ? o->cpus : (double)(cores > 0 ? cores : 1);
    if (o->n_resources > ZD_WIRE_MAX_RESOURCES) {
        zd_logf(&w->log, ZDAG_LOG_ERROR, "at most %d resources", ZD_WIRE_MAX_RESOURCES);
        return false;
    }
    for (size_t i = 0; i < o->n_resources; i++) {
        if (!o->resource_names[i] || !o->resource_names[i][0] || !(o->resource_amounts[i] >= 0)) {
            zd_logf(&w->log, ZDAG_LOG_ERROR, "resource %zu needs a name and an amount >= 0", i);
            return false;
        }
        snprintf(w->names[i], sizeof w->names[i], "%s", o->resource_names[i]);
        w->res[i] = (zd_amount){w->names[i], o->resource_amounts[i]};
    }
    w->cfg.res = w->res;
    w->cfg.n_res = o->n_resources;
    w->cfg.connect = o->connect;
    w->cfg.forever = o->forever;
    w->cfg.metrics_addr = o->metrics;
    w->cfg.host_id = o->host_id;
    if (!(o->idle_exit >= 0) || o->idle_exit > 1e9) {
        zd_logf(&w->log, ZDAG_LOG_ERROR, "--idle-exit takes seconds >= 0");
        return false;
    }
    w->cfg.idle_exit_s = o->idle_exit;
    if (o->allocation && strlen(o->allocation) > ZD_WIRE_MAX_ALLOCATION) {
        zd_logf(&w->log, ZDAG_LOG_ERROR, "--allocation takes at most %d bytes",
                ZD_WIRE_MAX_ALLOCATION);
        return false;
    }
    w->cfg.allocation = o->allocation && o->allocation[0] ? o->allocation : NULL;
    if (!w->cfg.host_id) {
        if (gethostname(w->host, sizeof w->host - 1) < 0)
            snprintf(w->host, sizeof w->host, "localhost");
        w->cfg.host_id = w->host;
    }
    return true;
}

/* Loads the key pair and the coordinator's key, or accepts --insecure (loudly). */
static bool load_keys(worker_state *w) {
    const zdag_worker_options *o = &w->o;
    bool tcp = strncmp(o->connect, "tcp://", 6) == 0;
    if (o->insecure) {
        if (tcp)
            zd_logf(&w->log, ZDAG_LOG_WARNING,
                    "WARNING: --insecure: this connection is neither encrypted nor "
                    "authenticated");
        return true;
    }
    if (!o->curve_secret || !o->coordinator_key) {
        if (!tcp)
            return true;
        zd_logf(&w->log, ZDAG_LOG_ERROR,
                "a tcp connection needs --curve-secret and --coordinator-key (see zdag "
                "keygen), or --insecure");
        return false;
    }
    zd_diags d;
    zd_diags_init(&d);
    bool ok = zd_curve_load_secret(o->curve_secret, w->pub, w->sec, &d) == 0 &&
              zd_curve_load_public(o->coordinator_key, w->server, &d) == 0;
    for (size_t i = 0; i < d.n; i++)
        zd_logf(&w->log, ZDAG_LOG_ERROR, "%s", d.lines[i]);
    zd_diags_clear(&d);
    if (ok) {
        w->cfg.curve_public = w->pub;
        w->cfg.curve_secret = w->sec;
        w->cfg.curve_server = w->server;
        w->cfg.secret_file = o->curve_secret;
        w->cfg.server_key_file = o->coordinator_key;
    }
    return ok;
}

int zd_worker_run(const zdag_worker_options *opts, const zd_fn_entry *fns, size_t n_fns) {
    if (!opts)
        return 2;
    worker_state *w = calloc(1, sizeof *w);
    if (!w)
        return 3;
    zdag_worker_options_init(&w->o);
    size_t given = opts->size < sizeof w->o ? opts->size : sizeof w->o;
    memcpy(&w->o, opts, given);
    w->o.size = sizeof w->o;
    w->log = (zd_log){w->o.log, w->o.log_ctx};
    w->cfg.fns = fns;
    w->cfg.n_fns = n_fns;
    w->cfg.log = w->log;
    int status = 2;
    if (given >= offsetof(zdag_worker_options, connect) + sizeof opts->connect &&
        check_options(w) && load_keys(w))
        status = zd_agent_run(&w->cfg);
    free(w);
    return status;
}

/* The number in environment variable name into *out; false when set and not a number. */
static bool env_number(const char *name, double *out) {
    const char *v = getenv(name);
    if (!v || !v[0])
        return true;
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !(d >= 0))
        return false;
    *out = d;
    return true;
}

int zdag_worker_options_from_env(zdag_worker_options *opts) {
    const char *connect = getenv("ZDAG_WORKER_CONNECT");
    if (!opts || !connect || !connect[0])
        return opts ? 0 : ZDAG_EINVAL;
    double slots = opts->slots, cpus = opts->cpus, idle = opts->idle_exit;
    if (!env_number("ZDAG_WORKER_SLOTS", &slots) || slots > 4096 || slots != (unsigned)slots ||
        !env_number("ZDAG_WORKER_CPUS", &cpus) || !env_number("ZDAG_WORKER_IDLE_EXIT", &idle))
        return ZDAG_EINVAL;
    opts->connect = connect;
    opts->slots = (unsigned)slots;
    opts->cpus = cpus;
    opts->idle_exit = idle;
    const char *v;
    if ((v = getenv("ZDAG_WORKER_CURVE_SECRET")) && v[0])
        opts->curve_secret = v;
    if ((v = getenv("ZDAG_WORKER_COORDINATOR_KEY")) && v[0])
        opts->coordinator_key = v;
    if ((v = getenv("ZDAG_WORKER_INSECURE")) && strcmp(v, "1") == 0)
        opts->insecure = true;
    if ((v = getenv("ZDAG_WORKER_HOST_ID")) && v[0])
        opts->host_id = v;
    if ((v = getenv("ZDAG_WORKER_ALLOCATION")) && v[0])
        opts->allocation = v;
    return 1;
}
