/* Tests of coordinator/admission.c with real sockets: a ROUTER on tcp://127.0.0.1:*, a flood
 * of raw TCP connections past max_open (the excess is shut down, the bound logged once, an
 * authenticated DEALER kept), then the flood closed (accepting again), and the refused peers'
 * log lines rate limited per address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "admission.h"

#define MAX_OPEN 20
#define FLOOD (MAX_OPEN + 10)

typedef struct lines {
    char v[64][256]; /* messages logged */
    size_t n;
} lines;

static void keep(void *ctx, zdag_log_level level, const char *message) {
    (void)level;
    lines *l = ctx;
    if (l->n < 64)
        snprintf(l->v[l->n++], sizeof l->v[0], "%s", message);
}

static size_t count_prefix(const lines *l, const char *prefix) {
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strncmp(l->v[i], prefix, strlen(prefix)) == 0;
    return n;
}

typedef struct world {
    void *ctx, *router, *dealer;
    char endpoint[256];
    int port;
    lines log;
    zd_log sink;
    zd_admission *adm;
} world;

static int setup(void **state) {
    world *w = calloc(1, sizeof *w);
    w->ctx = zmq_ctx_new();
    w->router = zmq_socket(w->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(w->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zd_admission_harden(w->router), 0);
    int ivl = 0;
    size_t len = sizeof ivl;
    assert_int_equal(zmq_getsockopt(w->router, ZMQ_HANDSHAKE_IVL, &ivl, &len), 0);
    assert_int_equal(ivl, ZD_ADMISSION_HANDSHAKE_MS);
    assert_int_equal(zmq_bind(w->router, "tcp://127.0.0.1:*"), 0);
    len = sizeof w->endpoint;
    assert_int_equal(zmq_getsockopt(w->router, ZMQ_LAST_ENDPOINT, w->endpoint, &len), 0);
    w->port = atoi(strrchr(w->endpoint, ':') + 1);
    w->sink = (zd_log){keep, &w->log};
    assert_int_equal(
        zd_admission_new(w->ctx, w->router, "tcp://127.0.0.1:*", MAX_OPEN, &w->sink, &w->adm), 0);
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world *w = *state;
    zd_admission_free(&w->adm);
    zd_admission_free(&w->adm); /* NULL is fine */
    if (w->dealer)
        zmq_close(w->dealer);
    zmq_close(w->router);
    zmq_ctx_term(w->ctx);
    free(w);
    return 0;
}

/* Polls the monitor and reads its events until done(w) or 5 s pass. */
static bool pump_until(world *w, bool (*done)(world *w)) {
    for (int i = 0; i < 500 && !done(w); i++) {
        zmq_pollitem_t it = {zd_admission_socket(w->adm), 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 10);
        assert_true(zd_admission_read(w->adm, i * 0.01) >= 0);
    }
    return done(w);
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* How many of fds[0..n) their peer closes (EOF after libzmq's greeting, or a reset) within
 * 500 ms: well within the handshake interval, after which libzmq closes them all. */
static int closed_by_peer(const int *fds, int n) {
    struct pollfd p[FLOOD + 1];
    bool closed[FLOOD + 1] = {false};
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){fds[i], POLLIN, 0};
    for (int round = 0; round < 25; round++) {
        if (poll(p, (nfds_t)n, 20) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            char buf[128];
            if (!closed[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) <= 0) {
                closed[i] = true;
                p[i].fd = -1;
            }
        }
    }
    int shut = 0;
    for (int i = 0; i < n; i++)
        shut += closed[i];
    return shut;
}

static bool all_flood_seen(world *w) {
    unsigned long refused = 0;
    zd_admission_counts(w->adm, &refused, NULL);
    return refused == FLOOD - MAX_OPEN + 1 && zd_admission_open(w->adm) == MAX_OPEN;
}

static bool nothing_open(world *w) {
    return zd_admission_open(w->adm) == 0;
}

static bool one_open(world *w) {
    return zd_admission_open(w->adm) == 1;
}

static void test_flood_is_bounded_and_recovers(void **state) {
    world *w = *state;
    /* An authenticated peer first (the NULL mechanism: no ZAP handler here). */
    void *dealer = w->dealer = zmq_socket(w->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(dealer, w->endpoint), 0);
    assert_int_equal(zmq_send(dealer, "hi", 2, 0), 2);
    char buf[16];
    assert_true(zmq_recv(w->router, buf, sizeof buf, 0) > 0); /* routing id */
    assert_int_equal(zmq_recv(w->router, buf, sizeof buf, 0), 2);
    assert_true(pump_until(w, one_open));
    assert_false(zd_admission_refusing(w->adm));

    int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        fds[i] = raw_connect(w->port);
    /* 1 + FLOOD accepted: the one that reached MAX_OPEN is kept, every later one shut down. */
    assert_true(pump_until(w, all_flood_seen));
    assert_true(zd_admission_refusing(w->adm));
    char want[600];
    snprintf(want, sizeof want, "%d connections open on %s: not accepting more until some close",
             MAX_OPEN, w->endpoint);
    assert_int_equal(count_prefix(&w->log, want), 1);
    assert_int_equal(w->log.n, 1);
    assert_int_equal(closed_by_peer(fds, FLOOD), FLOOD - MAX_OPEN + 1);

    /* The authenticated peer is still served. */
    assert_int_equal(zmq_send(dealer, "again", 5, 0), 5);
    assert_true(zmq_recv(w->router, buf, sizeof buf, 0) > 0);
    assert_int_equal(zmq_recv(w->router, buf, sizeof buf, 0), 5);

    /* The flood goes away: below MAX_OPEN / 2 it accepts again. */
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    zmq_close(dealer);
    w->dealer = NULL;
    assert_true(pump_until(w, nothing_open));
    assert_false(zd_admission_refusing(w->adm));
    assert_int_equal(count_prefix(&w->log, "9 connections open on "), 1);
    /* The peers that went away in the middle of their handshake: one line for the address,
     * once the failures without detail have waited for a telling one. */
    zd_admission_tick(w->adm, 1e9);
    assert_int_equal(count_prefix(&w->log, "refused a peer at 127.0.0.1: no handshake"), 1);
    unsigned long failures = 0;
    zd_admission_counts(w->adm, NULL, &failures);
    assert_int_equal(failures, MAX_OPEN - 1);

    int fd = raw_connect(w->port);
    assert_true(pump_until(w, one_open));
    assert_int_equal(closed_by_peer(&fd, 1), 0);
    close(fd);
    assert_true(pump_until(w, nothing_open));
}

static void test_bad_arguments(void **state) {
    world *w = *state;
    zd_admission *a = NULL;
    assert_int_equal(zd_admission_new(w->ctx, w->router, "x", 1, NULL, &a), ZDAG_EINVAL);
    assert_int_equal(zd_admission_new(NULL, w->router, "x", 10, NULL, &a), ZDAG_EINVAL);
    assert_null(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flood_is_bounded_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
