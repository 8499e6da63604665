/* hello.c: the smallest libzdag program. Two functions run in parallel in separate executor
 * processes; a third adds their results.
 *   cc hello.c $(pkg-config --cflags --libs zdag) -o hello && ./hello
 * `./hello worker --connect tcp://HOST:PORT --insecure` serves the same functions to a remote
 * coordinator (`zdag run pipe.yaml -w 0 --listen ...` with `fn: answer` nodes); the program
 * reads its own command line and hands the options to zdag_worker_run().
 * `./hello --slurm 'SBATCH OPTIONS' --listen tcp://0.0.0.0:PORT [--report FILE]` runs its
 * nodes on Slurm worker jobs only, each running this program again as a worker: started with
 * ZDAG_WORKER_CONNECT set, it serves (zdag_worker_options_from_env()). */
#define _XOPEN_SOURCE 700 /* realpath() */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdag.h>

static int answer(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_int(out, 21);
}

static int add(zdag_call *call, msgpack_packer *out) {
    return msgpack_pack_int64(out, zdag_call_dep(call, "left")->via.i64 +
                                       zdag_call_dep(call, "right")->via.i64);
}

/* ./hello worker --connect EP [--insecure | --curve-secret F --coordinator-key F]
 *               [--host-id NAME] [--slots N] [--forever] */
static int serve(zdag_dag *dag, int argc, char **argv) {
    zdag_worker_options w;
    zdag_worker_options_init(&w);
    w.log = zdag_log_stderr;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--insecure") == 0) {
            w.insecure = true;
            continue;
        }
        if (strcmp(opt, "--forever") == 0) {
            w.forever = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "hello: %s needs a value\n", opt);
            return 2;
        }
        i++;
        if (strcmp(opt, "--connect") == 0)
            w.connect = val;
        else if (strcmp(opt, "--curve-secret") == 0)
            w.curve_secret = val;
        else if (strcmp(opt, "--coordinator-key") == 0)
            w.coordinator_key = val;
        else if (strcmp(opt, "--host-id") == 0)
            w.host_id = val;
        else if (strcmp(opt, "--slots") == 0)
            w.slots = (unsigned)strtoul(val, NULL, 10);
        else {
            fprintf(stderr, "hello: unknown option %s\n", opt);
            return 2;
        }
    }
    return zdag_worker_run(dag, &w);
}

/* A Slurm worker job of this program's own run (ZDAG_WORKER_* set): serves; else -1. */
static int serve_from_env(zdag_dag *dag) {
    zdag_worker_options w;
    zdag_worker_options_init(&w);
    int rc = zdag_worker_options_from_env(&w);
    if (rc < 0)
        fprintf(stderr, "hello: a ZDAG_WORKER_* variable is not a number\n");
    if (rc != 1)
        return rc < 0 ? 2 : -1;
    w.log = zdag_log_stderr;
    return zdag_worker_run(dag, &w);
}

/* --slurm OPTS --listen EP --report FILE into opts; false for anything else. */
static bool run_options(int argc, char **argv, zdag_options *opts) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--slurm") == 0)
            opts->slurm = argv[i + 1];
        else if (strcmp(argv[i], "--listen") == 0)
            opts->listen = argv[i + 1];
        else if (strcmp(argv[i], "--report") == 0)
            opts->report_path = argv[i + 1];
        else
            return false;
    }
    return argc % 2 == 1;
}

int main(int argc, char **argv) {
    zdag_dag *dag = zdag_dag_new();
    zdag_result *res = NULL;
    if (zdag_dag_register(dag, "answer", answer) || zdag_dag_register(dag, "add", add))
        return 1;
    int served = argc > 1 && strcmp(argv[1], "worker") == 0 ? serve(dag, argc - 1, argv + 1)
                                                            : serve_from_env(dag);
    if (served >= 0) {
        zdag_dag_free(&dag);
        return served;
    }
    /* The library prints nothing itself: send its messages to stderr as `zdag run` does. */
    zdag_options opts;
    zdag_options_init(&opts);
    opts.log = zdag_log_stderr;
    char self[PATH_MAX];
    const char *worker[] = {self, NULL}; /* a Slurm job runs this program as its worker */
    if (!run_options(argc, argv, &opts) || !realpath("/proc/self/exe", self)) {
        fprintf(stderr, "usage: hello [--slurm OPTIONS --listen EP] [--report FILE]\n");
        zdag_dag_free(&dag);
        return 2;
    }
    if (opts.slurm) {
        opts.slurm_worker = worker;
        opts.local_workers = -1; /* every node on the Slurm workers */
    }
    if (zdag_dag_add_fn(dag, "left", "answer") || zdag_dag_add_fn(dag, "right", "answer") ||
        zdag_dag_add_fn(dag, "sum", "add") || zdag_node_add_dep(dag, "sum", "left") ||
        zdag_node_add_dep(dag, "sum", "right") || zdag_run(dag, &opts, &res)) {
        fprintf(stderr, "hello: %s\n", zdag_dag_error(dag));
        zdag_dag_free(&dag);
        return 1;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object sum;
    if (zdag_result_object(res, "sum", &zone, &sum) == 0)
        printf("sum = %lld\n", (long long)sum.via.i64);
    int status = zdag_result_exit_code(res);
    msgpack_zone_destroy(&zone);
    zdag_result_free(&res);
    zdag_dag_free(&dag);
    return status;
}
