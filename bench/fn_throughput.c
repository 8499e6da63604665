/* Function-node throughput: N no-op function nodes, independent and chained, on W executors.
 * What it measures is zdag's own per-node cost (dispatch, messaging, result handling), with no
 * process spawned per node.
 *
 * Usage: zdag_bench_fn [N] [W]   (defaults 20000, 2): both shapes (chain of N/4), one table.
 *        zdag_bench_fn N W flat|chain [STATE_DIR]: one run of that shape, N nodes; prints
 *        `wall_s=S nodes=N` (S: the zdag_run() call, executor start-up included, building the
 *        DAG excluded), for bench/bench.py, which repeats and interleaves runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zdag.h>

static int noop(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_nil(out);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *state_dir = "/tmp/zdag-bench-fn";

/* Runs n no-op nodes (a chain when chained) on w executors; returns the seconds zdag_run()
 * took, or -1. */
static double run_wall(int n, int w, int chained) {
    zdag_dag *dag = zdag_dag_new();
    char name[32], prev[32];
    if (zdag_dag_register(dag, "noop", noop) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "n%d", i);
        if (zdag_dag_add_fn(dag, name, "noop") != 0 ||
            (chained && i > 0 && zdag_node_add_dep(dag, name, prev) != 0))
            return -1;
        snprintf(prev, sizeof prev, "%s", name);
    }
    zdag_options opts;
    zdag_options_init(&opts);
    opts.local_workers = w;
    opts.quiet = true;
    opts.state_dir = state_dir;
    zdag_result *res = NULL;
    double t0 = now();
    int rc = zdag_run(dag, &opts, &res);
    double wall = now() - t0;
    int ok = rc == 0 && zdag_result_exit_code(res) == 0;
    zdag_result_free(&res);
    zdag_dag_free(&dag);
    return ok ? wall : -1;
}

/* Nodes per second of one run, or -1. */
static double run(int n, int w, int chained) {
    double wall = run_wall(n, w, chained);
    return wall > 0 ? n / wall : -1;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000, w = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 1 || w < 1)
        return 2;
    if (argc > 3) {
        int chained = strcmp(argv[3], "chain") == 0;
        if (!chained && strcmp(argv[3], "flat") != 0)
            return 2;
        if (argc > 4)
            state_dir = argv[4];
        double wall = run_wall(n, w, chained);
        if (wall < 0)
            return 1;
        printf("wall_s=%.6f nodes=%d\n", wall, n);
        return 0;
    }
    double flat = run(n, w, 0), chain = run(n / 4, w, 1);
    printf("| shape | nodes | executors | nodes/s (whole run, start-up included) |\n");
    printf("| --- | ---: | ---: | ---: |\n");
    printf("| independent no-op functions | %d | %d | %.0f |\n", n, w, flat);
    printf("| chained no-op functions | %d | %d | %.0f |\n", n / 4, w, chain);
    return flat > 0 && chain > 0 ? 0 : 1;
}
