/* Worker options: --connect, --slots, --cpus, --resource, --host-id, keys, --forever. */
#include "worker_main.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "curve.h"
#include "diag.h"
#include "zdag.h"

const char zd_worker_help[] =
    "usage: zdag worker --connect ENDPOINT [options]\n"
    "\n"
    "  --connect ENDPOINT       the coordinator, e.g. tcp://10.0.0.1:7700\n"
    "  --slots N                nodes at once on this host (default: cores)\n"
    "  --cpus N                 CPU units of this host (default: cores)\n"
    "  --resource NAME=N        another resource of this host, e.g. gpu=1 (repeatable)\n"
    "  --host-id NAME           workers with the same id share the host's limits\n"
    "                           (default: the hostname)\n"
    "  --curve-secret FILE      this worker's key pair (from zdag keygen)\n"
    "  --coordinator-key FILE   the coordinator's public key (NAME.pub)\n"
    "  --insecure               plain tcp: no encryption, no authentication\n"
    "  --forever                after a run, wait for the next one (reconnecting)\n";

enum {
    OPT_CONNECT = 256,
    OPT_SLOTS,
    OPT_CPUS,
    OPT_RESOURCE,
    OPT_HOST_ID,
    OPT_SECRET,
    OPT_SERVER,
    OPT_INSECURE,
    OPT_FOREVER
};

static const struct option long_opts[] = {
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"slots", required_argument, NULL, OPT_SLOTS},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"resource", required_argument, NULL, OPT_RESOURCE},
    {"host-id", required_argument, NULL, OPT_HOST_ID},
    {"curve-secret", required_argument, NULL, OPT_SECRET},
    {"coordinator-key", required_argument, NULL, OPT_SERVER},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"forever", no_argument, NULL, OPT_FOREVER},
    {NULL, 0, NULL, 0},
};

typedef struct worker_args {
    zd_agent_cfg cfg;                       /* what the agent gets */
    zd_amount res[ZD_WIRE_MAX_RESOURCES];   /* --resource, names borrowed from argv */
    char names[ZD_WIRE_MAX_RESOURCES][128]; /* resource names, split from NAME=N */
    const char *secret_file, *server_file;  /* key files */
    bool insecure;                          /* --insecure */
    char host[256];                         /* default host id */
    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1], server[ZD_CURVE_Z85_LEN + 1];
    const zd_log *log; /* where messages go (borrowed) */
} worker_args;

static bool number(const zd_log *log, const char *opt, const char *text, double min, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min) || v > 1e12) {
        zd_logf(log, ZDAG_LOG_ERROR, "%s takes a number >= %g, not \"%s\"", opt, min, text);
        return false;
    }
    *out = v;
    return true;
}

static bool add_resource(worker_args *w, const char *text) {
    const char *eq = strchr(text, '=');
    size_t i = w->cfg.n_res;
    if (!eq || eq == text || (size_t)(eq - text) >= sizeof w->names[0] ||
        i >= ZD_WIRE_MAX_RESOURCES) {
        zd_logf(w->log, ZDAG_LOG_ERROR, "--resource takes NAME=N, not \"%s\"", text);
        return false;
    }
    snprintf(w->names[i], sizeof w->names[i], "%.*s", (int)(eq - text), text);
    w->res[i].name = w->names[i];
    if (!number(w->log, "--resource", eq + 1, 0, &w->res[i].amount))
        return false;
    w->cfg.n_res++;
    return true;
}

static bool parse(int argc, char **argv, worker_args *w) {
    double slots = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONNECT:
            w->cfg.connect = optarg;
            break;
        case OPT_SLOTS:
            if (!number(w->log, "--slots", optarg, 1, &slots) || slots > 4096 ||
                slots != (int)slots) {
                zd_logf(w->log, ZDAG_LOG_ERROR, "--slots takes a whole number from 1 to 4096");
                return false;
            }
            w->cfg.slots = (uint32_t)slots;
            break;
        case OPT_CPUS:
            if (!number(w->log, "--cpus", optarg, 0, &w->cfg.cpus))
                return false;
            break;
        case OPT_RESOURCE:
            if (!add_resource(w, optarg))
                return false;
            break;
        case OPT_HOST_ID:
            w->cfg.host_id = optarg;
            break;
        case OPT_SECRET:
            w->secret_file = optarg;
            break;
        case OPT_SERVER:
            w->server_file = optarg;
            break;
        case OPT_INSECURE:
            w->insecure = true;
            break;
        case OPT_FOREVER:
            w->cfg.forever = true;
            break;
        default:
            return false;
        }
    }
    if (optind != argc || !w->cfg.connect) {
        zd_logf(w->log, ZDAG_LOG_ERROR, "%.*s", (int)strlen(zd_worker_help) - 1, zd_worker_help);
        return false;
    }
    return true;
}

/* Loads the key pair and the coordinator's key, or accepts --insecure (loudly). */
static bool keys(worker_args *w) {
    bool tcp = strncmp(w->cfg.connect, "tcp://", 6) == 0;
    if (w->insecure) {
        if (tcp)
            zd_logf(w->log, ZDAG_LOG_WARNING,
                    "WARNING: --insecure: this connection is neither encrypted nor "
                    "authenticated");
        return true;
    }
    if (!w->secret_file || !w->server_file) {
        if (!tcp)
            return true;
        zd_logf(w->log, ZDAG_LOG_ERROR,
                "a tcp connection needs --curve-secret and --coordinator-key (see zdag "
                "keygen), or --insecure");
        return false;
    }
    zd_diags d;
    zd_diags_init(&d);
    bool ok = zd_curve_load_secret(w->secret_file, w->pub, w->sec, &d) == 0 &&
              zd_curve_load_public(w->server_file, w->server, &d) == 0;
    for (size_t i = 0; i < d.n; i++)
        zd_logf(w->log, ZDAG_LOG_ERROR, "%s", d.lines[i]);
    zd_diags_clear(&d);
    if (ok) {
        w->cfg.curve_public = w->pub;
        w->cfg.curve_secret = w->sec;
        w->cfg.curve_server = w->server;
        w->cfg.secret_file = w->secret_file;
        w->cfg.server_key_file = w->server_file;
    }
    return ok;
}

int zd_worker_main(int argc, char **argv, const zd_fn_entry *fns, size_t n_fns, const zd_log *log) {
    worker_args *w = calloc(1, sizeof *w);
    if (!w)
        return 3;
    w->log = log;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    w->cfg.slots = (uint32_t)(cores > 0 ? cores : 1);
    w->cfg.cpus = (double)w->cfg.slots;
    w->cfg.res = w->res;
    w->cfg.fns = fns;
    w->cfg.n_fns = n_fns;
    w->cfg.log = *log;
    int status = 2;
    if (parse(argc, argv, w) && keys(w)) {
        if (!w->cfg.host_id) {
            if (gethostname(w->host, sizeof w->host - 1) < 0)
                snprintf(w->host, sizeof w->host, "localhost");
            w->cfg.host_id = w->host;
        }
        status = zd_agent_run(&w->cfg);
    }
    free(w);
    return status;
}
