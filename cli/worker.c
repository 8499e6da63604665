/* zdag worker: the host agent, without functions of its own (plugins only). The options come
 * from the option table; the run is libzdag's (zd_worker_run()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "wire.h"
#include "worker_main.h"

/* The options of one `zdag worker`, with room for the strings they point to. */
typedef struct worker_args {
    zdag_worker_options o;                        /* what the run gets */
    char names[ZD_WIRE_MAX_RESOURCES][128];       /* resource names, split from NAME=N */
    const char *name_ptrs[ZD_WIRE_MAX_RESOURCES]; /* o.resource_names */
    double amounts[ZD_WIRE_MAX_RESOURCES];        /* o.resource_amounts */
} worker_args;

static bool number(const char *opt, const char *text, double min, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min) || v > 1e12) {
        fprintf(stderr, "zdag worker: %s takes a number >= %g, not \"%s\"\n", opt, min, text);
        return false;
    }
    *out = v;
    return true;
}

static bool add_resource(worker_args *w, const char *text) {
    const char *eq = strchr(text, '=');
    size_t i = w->o.n_resources;
    if (!eq || eq == text || (size_t)(eq - text) >= sizeof w->names[0] ||
        i >= ZD_WIRE_MAX_RESOURCES) {
        fprintf(stderr, "zdag worker: --resource takes NAME=N, not \"%s\"\n", text);
        return false;
    }
    snprintf(w->names[i], sizeof w->names[i], "%.*s", (int)(eq - text), text);
    w->name_ptrs[i] = w->names[i];
    if (!number("--resource", eq + 1, 0, &w->amounts[i]))
        return false;
    w->o.n_resources++;
    return true;
}

static bool parse(int argc, char **argv, worker_args *w) {
    const zd_cli_command *cmd = zd_cli_command_find("worker");
    const zd_cli_option *o;
    const char *val;
    bool started = false, bad;
    double slots;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &val, &bad))) {
        switch (o->id) {
        case ZD_OPT_CONNECT:
            w->o.connect = val;
            break;
        case ZD_OPT_SLOTS:
            if (!number("--slots", val, 1, &slots) || slots > 4096 || slots != (int)slots) {
                fprintf(stderr, "zdag worker: --slots takes a whole number from 1 to 4096\n");
                return false;
            }
            w->o.slots = (unsigned)slots;
            break;
        case ZD_OPT_CPUS:
            if (!number("--cpus", val, 0, &w->o.cpus))
                return false;
            break;
        case ZD_OPT_RESOURCE:
            if (!add_resource(w, val))
                return false;
            break;
        case ZD_OPT_HOST_ID:
            w->o.host_id = val;
            break;
        case ZD_OPT_CURVE_SECRET:
            w->o.curve_secret = val;
            break;
        case ZD_OPT_COORDINATOR_KEY:
            w->o.coordinator_key = val;
            break;
        case ZD_OPT_INSECURE:
            w->o.insecure = true;
            break;
        case ZD_OPT_FOREVER:
            w->o.forever = true;
            break;
        case ZD_OPT_METRICS:
            w->o.metrics = val;
            break;
        case ZD_OPT_IDLE_EXIT:
            if (!number("--idle-exit", val, 0.01, &w->o.idle_exit))
                return false;
            break;
        case ZD_OPT_ALLOCATION:
            w->o.allocation = val;
            break;
        default: /* --help: main() answered it */
            break;
        }
    }
    if (bad)
        return false;
    if (zd_cli_operands() != argc || !w->o.connect) {
        fprintf(stderr, "usage: zdag worker --connect ENDPOINT [options] (see zdag worker "
                        "--help)\n");
        return false;
    }
    return true; /* an endpoint libzmq cannot parse: the agent's zmq_connect says so (exit 2) */
}

int zd_cli_worker(int argc, char **argv) {
    worker_args w;
    memset(&w, 0, sizeof w);
    zdag_worker_options_init(&w.o);
    w.o.resource_names = w.name_ptrs;
    w.o.resource_amounts = w.amounts;
    w.o.log = zd_log_worker_stderr;
    if (!parse(argc, argv, &w))
        return ZD_EXIT_USAGE;
    return zd_worker_run(&w.o, NULL, 0);
}
