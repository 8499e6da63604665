/* The Tawazi example of the seed article ("Directed Acyclic Graph (DAG) Scheduler library",
 * Mindee, 2022), written against libzdag.
 *
 *   len_data           IO-bound: "fetches distant data" (sleeps 1 s); priority 10, cpus 0
 *   execution_result   CPU-bound: the article's summation loop; cpus 1
 *   execution_result2  the same function again; cpus 1
 *   final              depends on the three; combines their results into a string
 *
 * The DAG runs twice on 3 forked executors: with jobs = 2 (the article's max_concurrency = 2)
 * and jobs = 3. Each run writes a report; this program reads every node's start_s/end_s from
 * it and says whether the two CPU-bound nodes overlapped.
 *
 * Unlike the article's Python threads, each node runs in its own executor process, so with
 * jobs = 3 the two summations really run in parallel when the host has 2 cores or more.
 *
 * Usage: zdag_seed [ITERATIONS]   (the summation loop's length; default 450000000) */
/* POSIX.1-2008 with XSI: clock_gettime(), nanosleep(), mkdtemp(), nftw() under -std=c11. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zdag.h>

#define DEFAULT_ITERATIONS 450000000ull /* about 0.85 s per summation on a 2020s x86 core */
#define FETCHED_BYTES 1256              /* what the pretend fetch returns */

/* A stand-in for the article's fetch_distant_data(): waits on "the network" for 1 s. */
static int fetch_distant_data(zdag_call *call, msgpack_packer *out) {
    struct timespec one_second = {.tv_sec = 1};
    (void)call;
    while (nanosleep(&one_second, &one_second) != 0)
        ;
    return msgpack_pack_int64(out, FETCHED_BYTES);
}

/* The article's python_calculation_exec_node(), loop for loop; its args is the loop's length.
 * As in Python, the sum is 1 at the end: the cost is in testing `sum % 3` each time round. */
static int python_calculation(zdag_call *call, msgpack_packer *out) {
    const msgpack_object *args = zdag_call_args(call);
    if (args->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        zdag_call_fail(call, "args must be the number of iterations");
        return 1;
    }
    int64_t sum = 0;
    for (uint64_t i = 0; i < args->via.u64; i++) {
        if (sum % 3 == 0) {
            sum += (int64_t)i;
            sum += 1;
        }
        /* Keeps the compiler from seeing that sum stops changing and dropping the loop. */
        __asm__ volatile("" : "+r"(sum));
    }
    return msgpack_pack_int64(out, sum);
}

/* Reads an integer result of dependency dep into *v; false (and the call failed) otherwise. */
static bool int_dep(zdag_call *call, const char *dep, int64_t *v) {
    const msgpack_object *o = zdag_call_dep(call, dep);
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    zdag_call_fail(call, "dependency \"%s\" did not return an integer", dep);
    return false;
}

/* The article's final(): "len_data + execution_result + execution_result2 = total". */
static int final(zdag_call *call, msgpack_packer *out) {
    int64_t len_data, r1, r2;
    if (!int_dep(call, "len_data", &len_data) || !int_dep(call, "execution_result", &r1) ||
        !int_dep(call, "execution_result2", &r2))
        return 1;
    char text[128];
    int n = snprintf(text, sizeof text, "%lld + %lld + %lld = %lld", (long long)len_data,
                     (long long)r1, (long long)r2, (long long)(len_data + r1 + r2));
    return msgpack_pack_str_with_body(out, text, (size_t)n);
}

/* Builds the article's DAG; NULL (with a message on stderr) on error. */
static zdag_dag *build_dag(uint64_t iterations) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    zdag_dag *dag = zdag_dag_new();
    int rc = ZDAG_ENOMEM;
    if (!dag || msgpack_pack_uint64(&pk, iterations) != 0)
        goto out_fail;
    if ((rc = zdag_dag_register(dag, "fetch_distant_data", fetch_distant_data)) < 0 ||
        (rc = zdag_dag_register(dag, "python_calculation", python_calculation)) < 0 ||
        (rc = zdag_dag_register(dag, "final", final)) < 0 ||
        (rc = zdag_dag_add_fn(dag, "len_data", "fetch_distant_data")) < 0 ||
        (rc = zdag_node_set_priority(dag, "len_data", 10)) < 0 ||
        (rc = zdag_node_set_cpus(dag, "len_data", 0)) < 0)
        goto out_fail;
    static const char *const cpu_nodes[] = {"execution_result", "execution_result2"};
    for (size_t i = 0; i < 2; i++)
        if ((rc = zdag_dag_add_fn(dag, cpu_nodes[i], "python_calculation")) < 0 ||
            (rc = zdag_node_set_cpus(dag, cpu_nodes[i], 1)) < 0 ||
            (rc = zdag_node_set_args(dag, cpu_nodes[i], sb.data, sb.size)) < 0)
            goto out_fail;
    if ((rc = zdag_dag_add_fn(dag, "final", "final")) < 0 ||
        (rc = zdag_node_add_dep(dag, "final", "len_data")) < 0 ||
        (rc = zdag_node_add_dep(dag, "final", "execution_result")) < 0 ||
        (rc = zdag_node_add_dep(dag, "final", "execution_result2")) < 0)
        goto out_fail;
    msgpack_sbuffer_destroy(&sb);
    return dag;
out_fail:
    fprintf(stderr, "zdag_seed: %s: %s\n", zdag_strerror(rc), zdag_dag_error(dag));
    msgpack_sbuffer_destroy(&sb);
    zdag_dag_free(&dag);
    return NULL;
}

/* Reads a whole file into a NUL-terminated buffer (caller frees), or NULL. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            char *bigger = realloc(buf, cap = 2 * cap + 4096 + 1);
            if (!bigger) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = bigger;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Reads a number key of the report object that spans [from, to); false when absent. */
static bool number_in(const char *from, const char *to, const char *key, double *v) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(from, quoted);
    if (!at || at >= to)
        return false;
    at += strlen(quoted);
    while (*at == ' ' || *at == ':')
        at++;
    char *end;
    *v = strtod(at, &end);
    return end != at;
}

/* Finds node's start_s and end_s in the report text. A minimal reader, not a JSON parser: it
 * relies on the report's shape (SPEC section 5), where a node is a flat object whose strings
 * hold no braces when it succeeded. A real program would use a JSON library. */
static bool node_times(const char *report, const char *node, double *start, double *end) {
    char name[128];
    snprintf(name, sizeof name, "\"%s\"", node);
    for (const char *at = strstr(report, "\"name\""); at; at = strstr(at + 1, "\"name\"")) {
        const char *value = at + strlen("\"name\"");
        while (*value == ' ' || *value == ':')
            value++;
        if (strncmp(value, name, strlen(name)) != 0)
            continue;
        const char *close = strchr(value, '}');
        return close && number_in(value, close, "start_s", start) &&
               number_in(value, close, "end_s", end);
    }
    return false;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Prints what the report says of each node, and whether the two summations overlapped.
 * Returns 0, or 1 when the report cannot be read. */
static int print_report(const char *path, bool *overlap) {
    static const char *const nodes[] = {"len_data", "execution_result", "execution_result2",
                                        "final"};
    double start[4], end[4];
    char *report = slurp(path);
    if (!report) {
        fprintf(stderr, "zdag_seed: cannot read the report %s\n", path);
        return 1;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!node_times(report, nodes[i], &start[i], &end[i])) {
            fprintf(stderr, "zdag_seed: no start_s/end_s for \"%s\" in %s\n", nodes[i], path);
            free(report);
            return 1;
        }
        printf("  %-18s %5.2f s -> %5.2f s  (%.2f s)\n", nodes[i], start[i], end[i],
               end[i] - start[i]);
    }
    free(report);
    *overlap = start[1] < end[2] && start[2] < end[1];
    return 0;
}

/* Runs the DAG with `jobs` at once on 3 executors and prints how it went. Returns 0 or 1. */
static int run_once(uint64_t iterations, int jobs, const char *state_dir, double *wall) {
    char report[4200];
    snprintf(report, sizeof report, "%s/report-j%d.json", state_dir, jobs);
    zdag_dag *dag = build_dag(iterations);
    if (!dag)
        return 1;
    zdag_options opts;
    zdag_options_init(&opts);
    opts.jobs = jobs;
    opts.local_workers = 3;
    opts.state_dir = state_dir;
    opts.report_path = report;
    opts.quiet = true;
    opts.log = zdag_log_stderr; /* failures still show (the library prints nothing itself) */

    printf("jobs = %d (3 executors):\n", jobs);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    zdag_result *result = NULL;
    int rc = zdag_run(dag, &opts, &result);
    *wall = seconds_since(&t0);
    if (rc < 0) {
        fprintf(stderr, "zdag_seed: cannot run: %s: %s\n", zdag_strerror(rc), zdag_dag_error(dag));
        zdag_dag_free(&dag);
        return 1;
    }
    int status = 1;
    msgpack_zone zone;
    msgpack_object text;
    msgpack_zone_init(&zone, 256);
    if (zdag_result_exit_code(result) != 0 ||
        zdag_result_object(result, "final", &zone, &text) != 0 || text.type != MSGPACK_OBJECT_STR) {
        const char *why = zdag_result_error(result, "final");
        fprintf(stderr, "zdag_seed: the run failed (exit %d)%s%s\n", zdag_result_exit_code(result),
                why ? ": " : "", why ? why : "");
        goto out_free;
    }
    bool overlap = false;
    if (print_report(report, &overlap) != 0)
        goto out_free;
    printf("  final: \"%.*s\"\n", (int)text.via.str.size, text.via.str.ptr);
    printf("  DAG ran in %.2f s\n", *wall);
    printf("  the two CPU-bound nodes %s\n",
           overlap ? "ran in parallel (they overlap)" : "did not overlap (one after the other)");
    status = 0;
out_free:
    msgpack_zone_destroy(&zone);
    zdag_result_free(&result);
    zdag_dag_free(&dag);
    return status;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path); /* best effort: keep removing the rest */
    return 0;
}

int main(int argc, char **argv) {
    uint64_t iterations = DEFAULT_ITERATIONS;
    if (argc > 2 || (argc == 2 && (iterations = strtoull(argv[1], NULL, 10)) == 0)) {
        fprintf(stderr, "usage: %s [ITERATIONS]\n", argv[0]);
        return 2;
    }
    char state_dir[] = "/tmp/zdag-seed-XXXXXX";
    if (!mkdtemp(state_dir)) {
        perror("zdag_seed: mkdtemp");
        return 1;
    }
    double wall2 = 0, wall3 = 0;
    int status = run_once(iterations, 2, state_dir, &wall2);
    if (status == 0)
        status = run_once(iterations, 3, state_dir, &wall3);
    if (status == 0)
        printf("jobs = 2: %.2f s, jobs = 3: %.2f s\n", wall2, wall3);
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
