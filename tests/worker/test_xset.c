/* Executor sets: an executor forked before its coordinator listens waits at its gate, and
 * connects (its HELLO arrives) only once the gate is closed. */
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

static void test_gated_executor_connects_once_the_gate_closes(void **state) {
    (void)state;
    char root[] = "/tmp/zdag-test-xset-XXXXXX";
    assert_non_null(mkdtemp(root));
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/coord", root);
    /* Forked before this process has a thread, as the runner does: a fork just after
     * zmq_socket() started libzmq's threads can leave the child unable to start its own (under
     * ASan about one fork in ten hangs in pthread_create: the thread registry's lock is copied
     * held), and it would never reach its gate. */
    zd_executor_cfg base = {.endpoint = endpoint, .host_id = "test"};
    zd_xset *xs = zd_xset_new(1, &base, root);
    assert_non_null(xs);
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    pid_t pid = 0;
    assert_int_equal(zd_xset_spawn_gated(xs, 0, gate[0], &pid), 0);
    close(gate[0]);

    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_bind(router, endpoint), 0);

    /* The executor comes up and blocks on its gate (moved to descriptor 3 in the child)... */
    for (int i = 0; i < 6000 && !reading(pid, 3); i++)
        usleep(5000);
    assert_true(reading(pid, 3));
    /* ... before zmq_connect(): nothing has reached the socket, bound by now. */
    zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 0), 0);

    close(gate[1]);
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
    zd_xset_free(&xs);
    zmq_close(router);
    zmq_ctx_term(ctx);
    zd_rmtree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gated_executor_connects_once_the_gate_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
