/* test_code_identity.py's libzdag program: one function node, "work", whose result is VARIANT
 * (set when compiling), run with --resume. Prints "NODE STATUS RESULT" for every node.
 *
 *   code_prog [-n NAME] [-v VERSION]    (zdag_options.name, zdag_node_set_version()) */
#include <stdio.h>
#include <string.h>
#include <zdag.h>

#ifndef VARIANT
#define VARIANT 1
#endif

static int work(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_int(out, VARIANT);
}

int main(int argc, char **argv) {
    const char *name = NULL, *version = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
            name = argv[i + 1];
        else if (i + 1 < argc && strcmp(argv[i], "-v") == 0)
            version = argv[i + 1];
        else
            return 2;
    }
    zdag_dag *dag = zdag_dag_new();
    zdag_result *res = NULL;
    zdag_options opts;
    zdag_options_init(&opts);
    opts.resume = true;
    opts.name = name;
    opts.local_workers = 1;
    opts.quiet = true;
    opts.log = zdag_log_stderr;
    if (!dag || zdag_dag_register(dag, "work", work) || zdag_dag_add_fn(dag, "work", "work") ||
        (version && zdag_node_set_version(dag, "work", version)) || zdag_run(dag, &opts, &res)) {
        fprintf(stderr, "code_prog: %s\n", zdag_dag_error(dag));
        return 1;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 64);
    for (size_t i = 0; i < zdag_result_count(res); i++) {
        const char *node = zdag_result_node(res, i);
        msgpack_object obj;
        long long value = -1;
        if (zdag_result_object(res, node, &zone, &obj) == 0)
            value = (long long)obj.via.i64;
        printf("%s %s %lld\n", node, zdag_node_status_name(zdag_result_status(res, node)), value);
    }
    int status = zdag_result_exit_code(res);
    msgpack_zone_destroy(&zone);
    zdag_result_free(&res);
    zdag_dag_free(&dag);
    return status;
}
