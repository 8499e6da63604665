/* zdag_test_impostor: an authorized worker key used to impersonate another agent's executors,
 * for tests/integration/test_impostor.py.
 *
 *   zdag_test_impostor ENDPOINT KEY_FILE COORDINATOR_PUB AGENT SLOTS SECONDS
 *
 * It holds a key the coordinator admits (KEY_FILE, from `zdag keygen`, its .pub authorized), but
 * it never JOINs: it opens one CurveZMQ DEALER per slot of the victim agent AGENT (agent ids are
 * sequential: the first worker to join is 1), waits until every handshake succeeded and prints
 * "ready", then, every millisecond for 5 s (then every 50 ms), sends on each socket a HELLO
 * naming (AGENT, slot) and the host "victim", its secret alternately 0 and random, racing the
 * victim's real executors for slots that are still starting. Every 200 ms each socket also sends
 * RESULTs guessing tokens (1..16) for nodes 0..9. Nothing it sends says "impostor": only its key
 * (the ZAP User-Id, its .pub file's name) can.
 * Whenever a socket receives a TASK it answers at once with a forged successful RESULT whose
 * output is "FORGED" (and stops saying HELLO: it holds the slot). It runs SECONDS seconds or
 * until SIGTERM/SIGINT, printing one line per event ("task: slot S node N token T", "bye",
 * "refused"...). Encoded with zdag's own encoders (common/wire.h, common/curve.h), so that the
 * frames are exactly what a real executor sends. Exits 0, or 1 when it could not connect. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "diag.h"
#include "wire.h"

#define MAX_SLOTS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t random64(void) {
    uint64_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        ;
    return v ? v : 1;
}

/* Sends the encoded frame without blocking: a full queue just drops it (the impostor floods). */
static void send_frame(void *s, const zd_wire_buf *b) {
    (void)zmq_send(s, zd_wire_buf_data(b), zd_wire_buf_size(b), ZMQ_DONTWAIT);
}

/* Waits until the monitor of every socket reported a successful handshake. */
static int await_handshakes(void **mon, int n, double timeout_s) {
    int done = 0;
    char ok[MAX_SLOTS] = {0};
    double deadline = now_s() + timeout_s;
    while (done < n) {
        if (stop || now_s() > deadline)
            return -1;
        for (int i = 0; i < n; i++) {
            if (ok[i])
                continue;
            zmq_msg_t ev;
            zmq_msg_init(&ev);
            if (zmq_msg_recv(&ev, mon[i], ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&ev);
                continue;
            }
            uint16_t event = 0;
            if (zmq_msg_size(&ev) >= 2)
                memcpy(&event, zmq_msg_data(&ev), sizeof event);
            zmq_msg_close(&ev);
            zmq_msg_t addr; /* the second frame: the endpoint */
            zmq_msg_init(&addr);
            (void)zmq_msg_recv(&addr, mon[i], 0);
            zmq_msg_close(&addr);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                ok[i] = 1;
                done++;
            } else if (event &
                       (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
                fprintf(stderr, "impostor: handshake of socket %d failed (event 0x%x)\n", i, event);
            }
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: zdag_test_impostor ENDPOINT KEY_FILE COORDINATOR_PUB AGENT SLOTS "
                        "SECONDS\n");
        return 2;
    }
    const char *endpoint = argv[1];
    uint32_t agent = (uint32_t)strtoul(argv[4], NULL, 10);
    int slots = atoi(argv[5]);
    double seconds = atof(argv[6]);
    if (slots < 1 || slots > MAX_SLOTS || agent == 0) {
        fprintf(stderr, "impostor: bad AGENT or SLOTS\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1], server[ZD_CURVE_Z85_LEN + 1];
    zd_diags d;
    zd_diags_init(&d);
    if (zd_curve_load_secret(argv[2], pub, sec, &d) < 0 ||
        zd_curve_load_public(argv[3], server, &d) < 0) {
        zd_diags_print(&d, stderr);
        zd_diags_clear(&d);
        return 1;
    }
    zd_diags_clear(&d);

    void *ctx = zmq_ctx_new();
    void *sock[MAX_SLOTS], *mon[MAX_SLOTS];
    for (int i = 0; i < slots; i++) {
        char mon_ep[64];
        snprintf(mon_ep, sizeof mon_ep, "inproc://impostor-monitor-%d", i);
        int linger = 0;
        sock[i] = zmq_socket(ctx, ZMQ_DEALER);
        if (!sock[i] || zmq_setsockopt(sock[i], ZMQ_LINGER, &linger, sizeof linger) < 0 ||
            zd_curve_client(sock[i], pub, sec, server) < 0 ||
            zmq_socket_monitor(sock[i], mon_ep, ZMQ_EVENT_ALL) < 0) {
            fprintf(stderr, "impostor: cannot set up socket %d: %s\n", i, zmq_strerror(errno));
            return 1;
        }
        mon[i] = zmq_socket(ctx, ZMQ_PAIR);
        if (!mon[i] || zmq_connect(mon[i], mon_ep) < 0 || zmq_connect(sock[i], endpoint) < 0) {
            fprintf(stderr, "impostor: cannot connect to %s: %s\n", endpoint, zmq_strerror(errno));
            return 1;
        }
    }
    if (await_handshakes(mon, slots, 20.0) < 0) {
        fprintf(stderr, "impostor: the CurveZMQ handshakes did not succeed\n");
        return 1;
    }
    printf("ready\n");

    zd_wire_buf *out = zd_wire_buf_new();
    zd_wire_decoder *dec = zd_wire_decoder_new();
    if (!out || !dec)
        return 1;
    char holds[MAX_SLOTS] = {0};
    unsigned long hellos = 0, guesses = 0, tasks = 0;
    double start = now_s(), end = start + seconds, next_guess = start, next_hello = start;
    zmq_pollitem_t items[MAX_SLOTS];
    for (int i = 0; i < slots; i++)
        items[i] = (zmq_pollitem_t){.socket = sock[i], .events = ZMQ_POLLIN};
    while (!stop && now_s() < end) {
        bool due = now_s() >= next_hello;
        for (int i = 0; i < slots && due; i++) {
            if (holds[i])
                continue;
            zd_msg_hello h = {.version = ZD_WIRE_VERSION,
                              .slot = (uint32_t)i,
                              .pid = (int64_t)getpid(),
                              .host = {"victim", 6},
                              .credit = 1,
                              .agent = agent,
                              .secret = (hellos & 1) ? random64() : 0};
            if (zd_wire_encode_hello(out, &h) == 0)
                send_frame(sock[i], out);
            hellos++;
        }
        if (due)
            next_hello = now_s() + (now_s() - start < 5.0 ? 0.001 : 0.05);
        if (now_s() >= next_guess) {
            for (int i = 0; i < slots; i++)
                for (uint32_t node = 0; node < 10; node++)
                    for (uint64_t token = 1; token <= 16; token++) {
                        zd_msg_result r = {.node = node,
                                           .token = token,
                                           .ok = true,
                                           .output = {"FORGED", 6},
                                           .size = 6};
                        if (zd_wire_encode_result(out, &r) == 0)
                            send_frame(sock[i], out);
                        guesses++;
                    }
            next_guess = now_s() + 0.2;
        }
        if (zmq_poll(items, slots, 1) <= 0)
            continue;
        for (int i = 0; i < slots; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            while (zmq_msg_recv(&msg, sock[i], ZMQ_DONTWAIT) >= 0) {
                zd_msg m;
                if (zd_wire_decode(dec, zmq_msg_data(&msg), zmq_msg_size(&msg), &m) < 0) {
                    printf("malformed: slot %d\n", i);
                    continue;
                }
                if (m.type == ZD_MSG_TASK) {
                    holds[i] = 1;
                    tasks++;
                    printf("task: slot %d node %u token %llu name %.*s\n", i, m.u.task.node,
                           (unsigned long long)m.u.task.token, (int)m.u.task.name.len,
                           m.u.task.name.ptr);
                    zd_msg_result r = {.node = m.u.task.node,
                                       .token = m.u.task.token,
                                       .ok = true,
                                       .output = {"FORGED", 6},
                                       .size = 6};
                    if (zd_wire_encode_result(out, &r) == 0)
                        send_frame(sock[i], out);
                } else if (m.type == ZD_MSG_BYE) {
                    printf("bye: slot %d reason %u\n", i, m.u.bye.reason);
                } else {
                    printf("message: slot %d type %d\n", i, (int)m.type);
                }
            }
            zmq_msg_close(&msg);
        }
    }
    printf("done: %lu hellos, %lu guessed results, %lu tasks forged\n", hellos, guesses, tasks);
    zd_wire_buf_free(&out);
    zd_wire_decoder_free(&dec);
    for (int i = 0; i < slots; i++) {
        zmq_close(mon[i]);
        zmq_close(sock[i]);
    }
    zmq_ctx_term(ctx);
    return 0;
}
