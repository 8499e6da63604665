/* libzdag's claim, shown: a function that is not thread-safe (it keeps its work in a static
 * buffer) runs correctly as 50 function nodes at 4 at once, because each executor is a process
 * of its own and runs one node at a time; the same body called from 4 threads at once is
 * corrupted.
 *
 * The zdag part runs first: zdag_run() forks executors from this process, which must then have
 * no other thread. The threads are joined before the test ends. They are C11 threads: the
 * include path of zdag_core has coordinator/sched.h, which hides the <sched.h> that
 * <pthread.h> needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "zdag.h"

#define N_CALLS 50  /* calls of the non-reentrant function, as nodes or from threads */
#define N_AT_ONCE 4 /* executors, and threads */
#define N_RUNS 3    /* zdag runs: isolation every time, not by luck */
#define ID_SIZE 16  /* room for an id such as "n49" */

/* The non-reentrant part: one buffer for every caller in the process, as a library with a
 * static scratch area has. Deliberately shared mutable state. */
static char scratch[ID_SIZE];

/* Byte loops, not memcpy/strcmp: ThreadSanitizer must not report the race this test is
 * about, so the accesses are kept out of its interceptors too. */
__attribute__((no_sanitize("thread"))) static void fill(const char *id) {
    size_t i = 0;
    for (; id[i] && i < ID_SIZE - 1; i++)
        scratch[i] = id[i];
    scratch[i] = '\0';
}

__attribute__((no_sanitize("thread"))) static bool holds(const char *id) {
    size_t i = 0;
    for (; id[i] && i < ID_SIZE - 1; i++)
        if (scratch[i] != id[i])
            return false;
    return scratch[i] == '\0';
}

/* The function body: write id to the buffer, let time pass (pause), check the buffer still
 * holds id. Returns false when another caller overwrote it meanwhile. */
static bool use_scratch(const char *id, void (*pause)(void *), void *ctx) {
    fill(id);
    pause(ctx);
    return holds(id);
}

static void sleep_10ms(void *ctx) {
    (void)ctx;
    struct timespec t = {.tv_nsec = 10 * 1000 * 1000};
    while (nanosleep(&t, &t) != 0)
        ;
}

/* The body as a zdag function: returns [node, pid of its executor], or fails on corruption. */
static int scratch_fn(zdag_call *call, msgpack_packer *out) {
    const char *node = zdag_call_node(call);
    if (!use_scratch(node, sleep_10ms, NULL)) {
        zdag_call_fail(call, "scratch buffer corrupted: holds \"%.*s\", not \"%s\"", ID_SIZE,
                       scratch, node);
        return 1;
    }
    msgpack_pack_array(out, 2);
    msgpack_pack_str_with_body(out, node, strlen(node));
    return msgpack_pack_int64(out, (int64_t)getpid());
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Reads the report: node i's start and end. Returns the number of nodes. */
static size_t read_times(const char *path, double *start, double *end) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("cannot read the report %s: %s", path, err.text);
    json_t *nodes = json_object_get(root, "nodes"), *node;
    size_t i;
    assert_true(json_is_array(nodes));
    assert_int_equal(json_array_size(nodes), N_CALLS);
    json_array_foreach(nodes, i, node) {
        start[i] = json_real_value(json_object_get(node, "start_s"));
        end[i] = json_real_value(json_object_get(node, "end_s"));
        assert_true(end[i] > start[i]);
    }
    json_decref(root);
    return i;
}

/* The most nodes the report shows running at one time. */
static int max_overlap(const double *start, const double *end, size_t n) {
    int most = 0;
    for (size_t i = 0; i < n; i++) {
        int running = 0; /* nodes running at the instant node i started */
        for (size_t j = 0; j < n; j++)
            running += start[j] <= start[i] && start[i] < end[j];
        most = running > most ? running : most;
    }
    return most;
}

/* (a) 50 nodes of the function, 4 at a time on 4 executors: none sees its buffer overwritten,
 * in any of several runs. The report shows they did run at the same time, on several pids. */
static void test_function_nodes_are_isolated(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-test-isolation-XXXXXX", report[64];
    assert_non_null(mkdtemp(dir));
    snprintf(report, sizeof report, "%s/report.json", dir);
    zdag_dag *dag = zdag_dag_new();
    assert_non_null(dag);
    assert_int_equal(zdag_dag_register(dag, "scratch", scratch_fn), 0);
    char name[ID_SIZE];
    for (int i = 0; i < N_CALLS; i++) {
        snprintf(name, sizeof name, "n%02d", i);
        assert_int_equal(zdag_dag_add_fn(dag, name, "scratch"), 0);
    }
    zdag_options o;
    zdag_options_init(&o);
    o.jobs = N_AT_ONCE;
    o.local_workers = N_AT_ONCE;
    o.state_dir = dir;
    o.report_path = report;
    o.quiet = true;

    for (int run = 0; run < N_RUNS; run++) {
        zdag_result *r = NULL;
        int rc = zdag_run(dag, &o, &r);
        if (rc != 0)
            fail_msg("zdag_run: %s: %s", zdag_strerror(rc), zdag_dag_error(dag));
        assert_int_equal(zdag_result_exit_code(r), 0);
        int64_t pids[N_CALLS];
        size_t n_pids = 0;
        for (int i = 0; i < N_CALLS; i++) {
            snprintf(name, sizeof name, "n%02d", i);
            const char *why = zdag_result_error(r, name);
            if (zdag_result_status(r, name) != ZDAG_NODE_SUCCEEDED)
                fail_msg("run %d: node %s: %s", run, name, why ? why : "no error");
            assert_int_equal(zdag_result_attempts(r, name), 1);
            msgpack_zone zone;
            msgpack_object obj;
            assert_true(msgpack_zone_init(&zone, 128));
            assert_int_equal(zdag_result_object(r, name, &zone, &obj), 0);
            assert_int_equal(obj.type, MSGPACK_OBJECT_ARRAY);
            assert_int_equal(obj.via.array.size, 2);
            const msgpack_object *id = &obj.via.array.ptr[0], *pid = &obj.via.array.ptr[1];
            assert_int_equal(id->type, MSGPACK_OBJECT_STR);
            assert_int_equal(id->via.str.size, strlen(name));
            assert_memory_equal(id->via.str.ptr, name, strlen(name));
            assert_int_equal(pid->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            assert_int_not_equal(pid->via.i64, (int64_t)getpid()); /* ran in an executor */
            size_t k = 0;
            while (k < n_pids && pids[k] != pid->via.i64)
                k++;
            if (k == n_pids)
                pids[n_pids++] = pid->via.i64;
            msgpack_zone_destroy(&zone);
        }
        zdag_result_free(&r);
        /* Isolation by processes, not by running one node at a time. */
        assert_in_range(n_pids, 2, N_AT_ONCE);
        double start[N_CALLS], end[N_CALLS];
        size_t n = read_times(report, start, end);
        assert_int_equal(n, N_CALLS);
        assert_in_range(max_overlap(start, end, n), 2, N_AT_ONCE);
    }
    zdag_dag_free(&dag);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A reusable barrier for `count` threads (C11 threads have none). */
typedef struct barrier {
    mtx_t lock;          /* guards the rest */
    cnd_t all_here;      /* broadcast when the last thread arrives */
    int count;           /* threads that meet */
    int waiting;         /* threads arrived in this generation */
    unsigned generation; /* bumped each time all have arrived */
} barrier;

static void barrier_wait(void *ctx) {
    barrier *b = ctx;
    mtx_lock(&b->lock);
    unsigned generation = b->generation;
    if (++b->waiting == b->count) {
        b->waiting = 0;
        b->generation++;
        cnd_broadcast(&b->all_here);
    } else {
        while (generation == b->generation)
            cnd_wait(&b->all_here, &b->lock);
    }
    mtx_unlock(&b->lock);
}

/* One thread's share of the calls, and what it saw. */
typedef struct worker {
    barrier *barrier; /* shared by the N_AT_ONCE threads */
    int first;        /* its first call; then every N_AT_ONCE-th */
    int corrupted;    /* calls that found another caller's id */
    int calls;        /* calls made */
} worker;

/* Round by round, so that the race is certain rather than likely: every thread with a call in
 * the round fills the buffer, all wait until all have, then each checks. A second wait keeps
 * the next round's fills after this round's checks. A thread without a call in the last round
 * still takes part in its waits. */
static int thread_main(void *arg) {
    worker *w = arg;
    char id[ID_SIZE];
    for (int round = 0; round * N_AT_ONCE < N_CALLS; round++) {
        int call = round * N_AT_ONCE + w->first;
        if (call < N_CALLS) {
            snprintf(id, sizeof id, "n%02d", call);
            w->calls++;
            w->corrupted += !use_scratch(id, barrier_wait, w->barrier);
        } else {
            barrier_wait(w->barrier);
        }
        barrier_wait(w->barrier);
    }
    return 0;
}

/* (b) The same body, 50 calls from 4 threads at once: the buffer is corrupted. In a round of k
 * callers at most one finds its own id: at least 50 - 13 rounds = 37 corruptions. */
static void test_threads_corrupt_the_buffer(void **state) {
    (void)state;
    barrier b = {.count = N_AT_ONCE};
    thrd_t threads[N_AT_ONCE];
    worker workers[N_AT_ONCE];
    assert_int_equal(mtx_init(&b.lock, mtx_plain), thrd_success);
    assert_int_equal(cnd_init(&b.all_here), thrd_success);
    for (int t = 0; t < N_AT_ONCE; t++) {
        workers[t] = (worker){.barrier = &b, .first = t};
        assert_int_equal(thrd_create(&threads[t], thread_main, &workers[t]), thrd_success);
    }
    int corrupted = 0, calls = 0;
    for (int t = 0; t < N_AT_ONCE; t++) {
        assert_int_equal(thrd_join(threads[t], NULL), thrd_success);
        corrupted += workers[t].corrupted;
        calls += workers[t].calls;
    }
    cnd_destroy(&b.all_here);
    mtx_destroy(&b.lock);
    assert_int_equal(calls, N_CALLS);
    int rounds = (N_CALLS + N_AT_ONCE - 1) / N_AT_ONCE;
    assert_in_range(corrupted, N_CALLS - rounds, N_CALLS);
}

int main(void) {
    /* In this order: no thread may exist while zdag_run() forks executors. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_function_nodes_are_isolated),
        cmocka_unit_test(test_threads_corrupt_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
