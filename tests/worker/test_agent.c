/* The agent against a scripted coordinator (a ROUTER socket in this process, the agent forked):
 * executors carry the agent's secret, a CANCEL stops only the attempt it names, the lease ends
 * T_fence after the last acknowledged beat and stops the attempt, a function past its timeout is
 * reported as timed out, and BYE EVICTED ends the agent with status 3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "executor.h"
#include "wire.h"

#define HB_MS 100
#define FENCE_MS 1000      /* T_fence where the test is about fencing */
#define NO_FENCE_MS 600000 /* ... and where it is not: the lease cannot end in the test */
#define LOADED_MS 2000     /* how late a loaded machine may be on top of a deadline */
#define SECRET 0x5ec7e7c0ffee0001ull
#define TOKEN 0x7a5c0ffee0000001ull

typedef struct coord {
    void *ctx, *sock;   /* the ROUTER the agent and its executor connect to */
    char endpoint[128]; /* ipc path */
    pid_t agent;        /* the forked agent */
    zd_wire_buf *out;
    zd_wire_decoder *dec;
    unsigned char agent_rid[256], exec_rid[256];
    size_t agent_rid_len, exec_rid_len;
    bool ack;      /* answer the agent's BEATs with their seq */
    uint64_t seen; /* the highest seq received */
    char lost[256];
} coord;

static int slow_fn(zdag_call *call, msgpack_packer *out) {
    (void)call;
    sleep(30);
    return msgpack_pack_nil(out);
}

static const zd_fn_entry fns[] = {{"slow", slow_fn}};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_to(coord *c, const unsigned char *rid, size_t len) {
    assert_true(zmq_send(c->sock, rid, len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(c->sock, zd_wire_buf_data(c->out), zd_wire_buf_size(c->out), 0) >= 0);
}

/* Receives messages for up to ms, answering BEATs (when acking); returns the type of the first
 * message that is not a BEAT (its content in *m and the last-frame buffer), or 0. */
static int next(coord *c, int ms, zd_msg *m, zmq_msg_t *frame) {
    int64_t until = now_ms() + ms;
    for (;;) {
        int64_t left = until - now_ms();
        if (left <= 0)
            return 0;
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        unsigned char rid[256];
        int n = zmq_recv(c->sock, rid, sizeof rid, 0);
        assert_true(n > 0 && n <= (int)sizeof rid);
        zmq_msg_close(frame);
        zmq_msg_init(frame);
        assert_true(zmq_msg_recv(frame, c->sock, 0) >= 0);
        assert_int_equal(zd_wire_decode(c->dec, zmq_msg_data(frame), zmq_msg_size(frame), m), 0);
        if (m->type == ZD_MSG_BEAT) {
            if (m->u.beat.seq > c->seen)
                c->seen = m->u.beat.seq;
            if (c->ack) {
                assert_int_equal(zd_wire_encode_beat(c->out, c->seen), 0);
                send_to(c, rid, (size_t)n);
            }
            continue;
        }
        if (m->type == ZD_MSG_JOIN) {
            memcpy(c->agent_rid, rid, (size_t)n);
            c->agent_rid_len = (size_t)n;
        } else if (m->type == ZD_MSG_HELLO) {
            memcpy(c->exec_rid, rid, (size_t)n);
            c->exec_rid_len = (size_t)n;
        } else if (m->type == ZD_MSG_LOST) {
            snprintf(c->lost, sizeof c->lost, "%.*s", (int)m->u.lost.how.len, m->u.lost.how.ptr);
        }
        return (int)m->type;
    }
}

/* Forks the agent, welcomes it and waits for its executor's HELLO. */
static void start(coord *c, bool ack, uint32_t fence_ms) {
    memset(c, 0, sizeof *c);
    c->ack = ack;
    snprintf(c->endpoint, sizeof c->endpoint, "ipc:///tmp/zdag-test-agent-%d.sock", (int)getpid());
    c->agent = fork();
    assert_true(c->agent >= 0);
    if (c->agent == 0) {
        zd_agent_cfg cfg = {.connect = c->endpoint,
                            .host_id = "testhost",
                            .slots = 1,
                            .cpus = 1,
                            .fns = fns,
                            .n_fns = 1,
                            .log = {zdag_log_stderr, NULL}};
        _exit(zd_agent_run(&cfg));
    }
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(c->sock, c->endpoint), 0);
    c->out = zd_wire_buf_new();
    c->dec = zd_wire_decoder_new();
    zd_msg m;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    assert_int_equal(next(c, 5000, &m, &frame), ZD_MSG_JOIN);
    zd_msg_welcome w = {.agent = 1,
                        .run_id = {"run", 3},
                        .heartbeat_ms = HB_MS,
                        .secret = SECRET,
                        .fence_ms = fence_ms};
    assert_int_equal(zd_wire_encode_welcome(c->out, &w), 0);
    send_to(c, c->agent_rid, c->agent_rid_len);
    assert_int_equal(next(c, 5000, &m, &frame), ZD_MSG_HELLO);
    assert_int_equal(m.u.hello.agent, 1);
    assert_int_equal(m.u.hello.slot, 0);
    assert_true(m.u.hello.secret == SECRET);
    zmq_msg_close(&frame);
}

static void send_task(coord *c, uint32_t kind, const char *cmd, uint64_t timeout_ms) {
    zd_msg_task t = {.node = 0,
                     .token = TOKEN,
                     .attempt = 1,
                     .name = {"n", 1},
                     .run_id = {"run", 3},
                     .kind = kind,
                     .cmd = {cmd, strlen(cmd)},
                     .timeout_ms = timeout_ms,
                     .max_result = 1 << 20};
    assert_int_equal(zd_wire_encode_task(c->out, &t), 0);
    send_to(c, c->exec_rid, c->exec_rid_len);
}

static void send_cancel(coord *c, uint64_t token) {
    zd_msg_cancel k = {.slot = 0, .token = token, .why = {"a test", 6}};
    assert_int_equal(zd_wire_encode_cancel(c->out, &k), 0);
    send_to(c, c->agent_rid, c->agent_rid_len);
}

/* Says BYE with reason and returns the agent's exit status. */
static int finish(coord *c, zd_bye_reason reason) {
    assert_int_equal(zd_wire_encode_bye(c->out, reason), 0);
    send_to(c, c->agent_rid, c->agent_rid_len);
    int status = -1;
    int64_t until = now_ms() + 10000;
    while (waitpid(c->agent, &status, WNOHANG) == 0 && now_ms() < until)
        usleep(10000);
    if (now_ms() >= until) {
        kill(c->agent, SIGKILL);
        waitpid(c->agent, &status, 0);
    }
    zmq_close(c->sock);
    zmq_ctx_term(c->ctx);
    zd_wire_buf_free(&c->out);
    zd_wire_decoder_free(&c->dec);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Waits for a LOST report (answering beats meanwhile); returns how long it took, ms. */
static int64_t await_lost(coord *c, int ms) {
    int64_t t0 = now_ms();
    zd_msg m;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    int type;
    while ((type = next(c, (int)(t0 + ms - now_ms()), &m, &frame)) != 0 && type != ZD_MSG_LOST)
        ;
    zmq_msg_close(&frame);
    assert_int_equal(type, ZD_MSG_LOST);
    return now_ms() - t0;
}

static void test_cancel_stops_only_the_attempt_it_names(void **state) {
    (void)state;
    coord c;
    start(&c, true, NO_FENCE_MS);
    send_task(&c, ZD_NODE_SHELL, "sleep 30", 0);
    zd_msg m;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    assert_int_equal(next(&c, 300, &m, &frame), 0); /* it runs, the lease holds */
    send_cancel(&c, TOKEN + 1);                     /* a stale attempt: ignored */
    assert_int_equal(next(&c, 300, &m, &frame), 0);
    zmq_msg_close(&frame);
    send_cancel(&c, TOKEN);
    assert_true(await_lost(&c, 3000) < 3000);
    assert_string_equal(c.lost, "cancelled: a test");
    assert_int_equal(finish(&c, ZD_BYE_DONE), 0);
}

static void test_without_acks_the_lease_ends_and_the_attempt_stops(void **state) {
    (void)state;
    coord c;
    start(&c, false, FENCE_MS); /* beats are received but never acknowledged */
    send_task(&c, ZD_NODE_SHELL, "sleep 30", 0);
    int64_t took = await_lost(&c, FENCE_MS + 3 * LOADED_MS);
    assert_true(took < FENCE_MS + LOADED_MS);
    assert_string_equal(c.lost, "fenced: no word from the coordinator for 1 s");
    assert_true(c.seen >= 1);
    /* acks again: the agent goes on (it would end the session after 4 T_fence of silence) */
    c.ack = true;
    zd_msg m;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    while (next(&c, 4 * FENCE_MS + 300, &m, &frame) != 0)
        ; /* its replaced executor's HELLO, if not seen yet */
    zmq_msg_close(&frame);
    int status;
    assert_int_equal(waitpid(c.agent, &status, WNOHANG), 0);
    assert_int_equal(finish(&c, ZD_BYE_EVICTED), 3);
}

/* Whether pid runs (a zombie does not). */
static bool running(pid_t pid) {
    char path[64], stat[256] = {0};
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(stat, sizeof stat, f) != NULL;
    fclose(f);
    const char *end = strrchr(stat, ')');
    return ok && end && end[1] == ' ' && end[2] != 'Z';
}

static void test_a_stopped_agent_cannot_keep_its_nodes_alive(void **state) {
    (void)state;
    coord c;
    start(&c, true, FENCE_MS);
    char pidfile[64], cmd[512];
    snprintf(pidfile, sizeof pidfile, "/tmp/zdag-test-agent-%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s.tmp; mv %s.tmp %s; wait", pidfile, pidfile,
             pidfile);
    send_task(&c, ZD_NODE_SHELL, cmd, 0);
    pid_t pid = 0;
    for (int i = 0; i < 500 && pid <= 0; i++) {
        FILE *f = fopen(pidfile, "r");
        if (!f || fscanf(f, "%d", &pid) != 1)
            usleep(10000);
        if (f)
            fclose(f);
    }
    unlink(pidfile);
    assert_true(pid > 0 && running(pid));
    /* the agent stops: its executor's watchdog must end the command at the lease's end */
    kill(c.agent, SIGSTOP);
    int64_t t0 = now_ms();
    while (running(pid) && now_ms() - t0 < FENCE_MS + 3 * LOADED_MS)
        usleep(5000);
    int64_t took = now_ms() - t0;
    assert_false(running(pid));
    assert_true(took <= FENCE_MS + LOADED_MS); /* the last ack came before the stop */
    kill(c.agent, SIGCONT);
    /* on waking, the agent reports the attempt it no longer runs */
    await_lost(&c, 3 * LOADED_MS);
    assert_string_equal(c.lost, "fenced: no word from the coordinator for 1 s");
    assert_int_equal(finish(&c, ZD_BYE_DONE), 0);
}

static void test_a_function_past_its_timeout_is_reported_timed_out(void **state) {
    (void)state;
    coord c;
    start(&c, true, NO_FENCE_MS);
    send_task(&c, ZD_NODE_FN, "slow", 200);
    int64_t took = await_lost(&c, 3 * LOADED_MS);
    assert_true(took >= 150 && took < 200 + LOADED_MS);
    assert_string_equal(c.lost, "timed out after 0.2 s");
    assert_int_equal(finish(&c, ZD_BYE_DONE), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_stops_only_the_attempt_it_names),
        cmocka_unit_test(test_without_acks_the_lease_ends_and_the_attempt_stops),
        cmocka_unit_test(test_a_stopped_agent_cannot_keep_its_nodes_alive),
        cmocka_unit_test(test_a_function_past_its_timeout_is_reported_timed_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
