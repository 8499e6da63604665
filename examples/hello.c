/* hello.c: the smallest libzdag program. Two functions run in parallel in separate executor
 * processes; a third adds their results.
 *   cc hello.c $(pkg-config --cflags --libs zdag) -o hello && ./hello
 * `./hello worker --connect tcp://HOST:PORT --insecure` serves the same functions to a remote
 * coordinator (`zdag run pipe.yaml -w 0 --listen ...` with `fn: answer` nodes); the program
 * reads its own command line and hands the options to zdag_worker_run(). */
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

int main(int argc, char **argv) {
    zdag_dag *dag = zdag_dag_new();
    zdag_result *res = NULL;
    if (zdag_dag_register(dag, "answer", answer) || zdag_dag_register(dag, "add", add))
        return 1;
    if (argc > 1 && strcmp(argv[1], "worker") == 0) {
        int status = serve(dag, argc - 1, argv + 1);
        zdag_dag_free(&dag);
        return status;
    }
    /* The library prints nothing itself: send its messages to stderr as `zdag run` does. */
    zdag_options opts;
    zdag_options_init(&opts);
    opts.log = zdag_log_stderr;
    if (zdag_dag_add_fn(dag, "left", "answer") || zdag_dag_add_fn(dag, "right", "answer") ||
        zdag_dag_add_fn(dag, "sum", "add") || zdag_node_add_dep(dag, "sum", "left") ||
        zdag_node_add_dep(dag, "sum", "right") || zdag_run(dag, &opts, &res)) {
        fprintf(stderr, "hello: %s\n", zdag_dag_error(dag));
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
