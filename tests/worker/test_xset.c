/* Executor sets: an executor forked before its coordinator listens waits at its gate, and
 * connects (its HELLO arrives) only once the gate is closed; the tally counts what the
 * executors started, how each attempt ended, and the one lost when its executor was killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "wire.h"
#include "xset.h"
#include "zdag.h"

/* Whether the main thread of pid is blocked in read(2) of descriptor fd (/proc/PID/syscall:
 * the syscall number, then its arguments in hex). */
static bool reading(pid_t pid, int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool yes = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    long nr = -1;
    unsigned long arg0 = 0;
    return yes && sscanf(line, "%ld 0x%lx", &nr, &arg0) == 2 && nr == 0 && arg0 == (unsigned)fd;
}

/* One executor slot, forked at its gate, and this test as its coordinator. */
typedef struct rig {
    char root[32];      /* the scratch root */
    char endpoint[128]; /* the router's, in root (borrowed by xs) */
    zd_xset *xs;        /* the set of one */
    int gate;           /* the gate's write end: closing it lets the executor connect */
    pid_t pid;          /* the executor */
    void *ctx, *router; /* the coordinator's side */
} rig;

static void rig_start(rig *r) {
    snprintf(r->root, sizeof r->root, "/tmp/zdag-test-xset-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    snprintf(r->endpoint, sizeof r->endpoint, "ipc://%s/coord", r->root);
    /* Forked before this process has a thread, as the runner does: a fork just after
     * zmq_socket() started libzmq's threads can leave the child unable to start its own (under
     * ASan about one fork in ten hangs in pthread_create: the thread registry's lock is copied
     * held), and it would never reach its gate. */
    zd_executor_cfg base = {.endpoint = r->endpoint, .host_id = "test"};
    r->xs = zd_xset_new(1, &base, r->root);
    assert_non_null(r->xs);
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    assert_int_equal(zd_xset_spawn_gated(r->xs, 0, gate[0], &r->pid), 0);
    close(gate[0]);
    r->gate = gate[1];
    r->ctx = zmq_ctx_new();
    r->router = zmq_socket(r->ctx, ZMQ_ROUTER);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(r->router, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_bind(r->router, r->endpoint), 0);
}

static void rig_stop(rig *r) {
    zd_xset_free(&r->xs);
    zmq_close(r->router);
    zmq_ctx_term(r->ctx);
    zd_rmtree(r->root);
}

static void test_gated_executor_connects_once_the_gate_closes(void **state) {
    (void)state;
    rig r;
    rig_start(&r);
    pid_t pid = r.pid;
    void *router = r.router;
    zd_xset *xs = r.xs;

    /* The executor comes up and blocks on its gate (moved to descriptor 3 in the child)... */
    for (int i = 0; i < 6000 && !reading(pid, 3); i++)
        usleep(5000);
    assert_true(reading(pid, 3));
    /* ... before zmq_connect(): nothing has reached the socket, bound by now. */
    zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 0), 0);

    close(r.gate);
    assert_int_equal(zmq_poll(&it, 1, 60000), 1);
    zmq_msg_t rid, frame;
    zmq_msg_init(&rid);
    zmq_msg_init(&frame);
    assert_true(zmq_msg_recv(&rid, router, 0) >= 0);
    assert_true(zmq_msg_recv(&frame, router, 0) >= 0);
    zd_wire_decoder *dec = zd_wire_decoder_new();
    zd_msg m;
    assert_int_equal(zd_wire_decode(dec, zmq_msg_data(&frame), zmq_msg_size(&frame), &m), 0);
    assert_int_equal(m.type, ZD_MSG_HELLO);
    assert_int_equal(m.u.hello.pid, pid);
    zd_wire_decoder_free(&dec);

    /* BYE: it leaves. */
    zd_wire_buf *out = zd_wire_buf_new();
    assert_int_equal(zd_wire_encode_bye(out, ZD_BYE_DONE), 0);
    assert_true(zmq_send(router, zmq_msg_data(&rid), zmq_msg_size(&rid), ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(router, zd_wire_buf_data(out), zd_wire_buf_size(out), 0) >= 0);
    zd_xset_stop(xs, 0, 30);
    assert_int_equal(zd_xset_pid(xs, 0), 0);
    zd_wire_buf_free(&out);
    zmq_msg_close(&rid);
    zmq_msg_close(&frame);
    rig_stop(&r);
}

/* This test, as the coordinator: sends a task to the executor of rid and waits for its
 * RESULT; returns its ok. */
static bool run_task(void *router, zmq_msg_t *rid, uint64_t token, const char *cmd, double cpus,
                     bool wait) {
    zd_msg_task t = {.node = 0,
                     .token = token,
                     .attempt = 1,
                     .name = {"n", 1},
                     .run_id = {"r", 1},
                     .kind = 0,
                     .cmd = {cmd, strlen(cmd)},
                     .max_result = 1024,
                     .cpus = cpus};
    zd_wire_buf *out = zd_wire_buf_new();
    assert_int_equal(zd_wire_encode_task(out, &t), 0);
    assert_true(zmq_send(router, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(router, zd_wire_buf_data(out), zd_wire_buf_size(out), 0) >= 0);
    zd_wire_buf_free(&out);
    if (!wait)
        return false;
    zmq_msg_t from, frame;
    zmq_msg_init(&from);
    zmq_msg_init(&frame);
    zd_wire_decoder *dec = zd_wire_decoder_new();
    zd_msg m = {0};
    assert_true(zmq_msg_recv(&from, router, 0) >= 0);
    assert_true(zmq_msg_recv(&frame, router, 0) >= 0);
    assert_int_equal(zd_wire_decode(dec, zmq_msg_data(&frame), zmq_msg_size(&frame), &m), 0);
    assert_int_equal(m.type, ZD_MSG_RESULT);
    assert_true(m.u.result.token == token);
    bool ok = m.u.result.ok;
    zd_wire_decoder_free(&dec);
    zmq_msg_close(&from);
    zmq_msg_close(&frame);
    return ok;
}

/* The tally once `check` holds (the executor clears its attempt just after its result). */
static zd_xset_tally tally_when(const zd_xset *xs, bool (*check)(const zd_xset_tally *)) {
    zd_xset_tally t;
    for (int i = 0; i < 6000; i++) {
        zd_xset_tally_get(xs, &t);
        if (check(&t))
            break;
        usleep(5000);
    }
    return t;
}

static bool idle(const zd_xset_tally *t) {
    return t->busy == 0;
}

static bool busy(const zd_xset_tally *t) {
    return t->busy == 1;
}

static void test_tally_counts_attempts_and_the_lost_one(void **state) {
    (void)state;
    rig r;
    rig_start(&r);
    void *router = r.router;
    zd_xset *xs = r.xs;
    close(r.gate);
    zmq_msg_t rid, hello;
    zmq_msg_init(&rid);
    zmq_msg_init(&hello);
    assert_true(zmq_msg_recv(&rid, router, 0) >= 0);
    assert_true(zmq_msg_recv(&hello, router, 0) >= 0);

    zd_xset_tally t = tally_when(xs, idle);
    assert_true(t.started == 0 && t.succeeded == 0 && t.failed == 0 && t.lost == 0);
    assert_true(run_task(router, &rid, 1, "true", 1.5, true));
    assert_false(run_task(router, &rid, 2, "false", 1.5, true));
    t = tally_when(xs, idle);
    assert_true(t.started == 2 && t.succeeded == 1 && t.failed == 1 && t.lost == 0);
    assert_true(t.cpus_used == 0);
    /* A long one, in use (its CPU units too) until its executor is killed: lost. */
    run_task(router, &rid, 3, "sleep 60", 0.5, false);
    t = tally_when(xs, busy);
    assert_int_equal(t.busy, 1);
    assert_true(t.cpus_used == 0.5);
    assert_true(t.started == 3 && t.lost == 0);
    zd_xset_kill(xs, 0);
    uint32_t slot;
    int status;
    for (int i = 0; i < 6000 && !zd_xset_reap(xs, &slot, &status, NULL); i++)
        usleep(5000);
    assert_int_equal(zd_xset_pid(xs, 0), 0);
    zd_xset_tally_get(xs, &t);
    assert_true(t.started == 3 && t.succeeded == 1 && t.failed == 1 && t.lost == 1);
    assert_true(t.busy == 0 && t.cpus_used == 0);
    zmq_msg_close(&rid);
    zmq_msg_close(&hello);
    rig_stop(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gated_executor_connects_once_the_gate_closes),
        cmocka_unit_test(test_tally_counts_attempts_and_the_lost_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
