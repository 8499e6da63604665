/* The ZAP handler with real CURVE sockets over tcp://127.0.0.1 in one process: an authorized
 * worker gets through, an unknown key and a wrong server key never do, and the protocol
 * answers of RFC 27 to hand-made requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "curve.h"
#include "zap.h"

#define ARRIVE_MS 5000 /* an admitted message arrives well within this */
#define NEVER_MS 500   /* after that, a refused one has had ample time to show up */

typedef struct keypair {
    char pub[41]; /* Z85 public key */
    char sec[41]; /* Z85 secret key */
} keypair;

/* One test's world: a context, the server's keys, the authorized workers, the log. */
typedef struct world {
    void *ctx;       /* the ZeroMQ context */
    keypair server;  /* the coordinator's pair */
    keypair good;    /* an authorized worker */
    keypair bad;     /* a worker nobody authorized */
    zd_keyset *keys; /* holds good.pub as "good.pub" */
    FILE *log;       /* the handler's refusal log */
    zd_log sink;     /* the handler's sink, writing to log */
    zd_zap *zap;     /* the handler, once started */
} world;

static keypair new_pair(void) {
    keypair k;
    assert_int_equal(zmq_curve_keypair(k.pub, k.sec), 0);
    return k;
}

static int setup(void **state) {
    world *w = calloc(1, sizeof *w);
    w->ctx = zmq_ctx_new();
    w->server = new_pair();
    w->good = new_pair();
    w->bad = new_pair();
    w->keys = zd_keyset_new();
    w->log = tmpfile();
    if (!w->ctx || !w->keys || !w->log || zd_keyset_add(w->keys, w->good.pub, "good.pub") != 0)
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world *w = *state;
    zd_zap_stop(&w->zap);
    zmq_ctx_term(w->ctx);
    zd_keyset_free(&w->keys);
    fclose(w->log);
    free(w);
    return 0;
}

/* The CLI's sink, into the test's file: "zdag: MESSAGE\n". */
static void to_file(void *ctx, zdag_log_level level, const char *message) {
    (void)level;
    fprintf(ctx, "zdag: %s\n", message);
}

static void start_zap(world *w, bool allow_null) {
    w->sink = (zd_log){to_file, w->log};
    zd_zap_opts opts = {.allow_null = allow_null, .log = &w->sink};
    assert_int_equal(zd_zap_start(w->ctx, w->keys, &opts, &w->zap), 0);
    assert_non_null(w->zap);
}

static void *new_socket(world *w, int type) {
    void *s = zmq_socket(w->ctx, type);
    assert_non_null(s);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), 0);
    return s;
}

/* A ROUTER bound to an ephemeral port; curve: as a CURVE server, else NULL with `domain`. */
static void *new_server(world *w, bool curve, const char *domain, char *endpoint, size_t cap) {
    void *s = new_socket(w, ZMQ_ROUTER);
    if (curve)
        assert_int_equal(zd_curve_server(s, w->server.sec), 0);
    else if (domain)
        assert_int_equal(zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)), 0);
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &cap), 0);
    return s;
}

/* A DEALER connected to endpoint; with a key pair, as a CURVE client pinning server_pub. */
static void *new_client(world *w, const keypair *k, const char *server_pub, const char *endpoint) {
    void *s = new_socket(w, ZMQ_DEALER);
    if (k)
        assert_int_equal(zd_curve_client(s, k->pub, k->sec, server_pub), 0);
    assert_int_equal(zmq_connect(s, endpoint), 0);
    return s;
}

static void send_str(void *s, const char *text) {
    assert_int_equal(zmq_send(s, text, strlen(text), 0), (int)strlen(text));
}

/* Waits up to ms for a message on a ROUTER; returns false on timeout. Stores the payload in
 * text and, when user is not NULL, the message's "User-Id" property. */
static bool router_recv(void *router, int ms, char *text, size_t cap, char *user, size_t ucap) {
    zmq_pollitem_t item = {router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, ms) <= 0)
        return false;
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&id, router, 0) >= 0);
    assert_true(zmq_msg_more(&id));
    assert_true(zmq_msg_recv(&body, router, 0) >= 0);
    size_t n = zmq_msg_size(&body) < cap - 1 ? zmq_msg_size(&body) : cap - 1;
    memcpy(text, zmq_msg_data(&body), n);
    text[n] = '\0';
    if (user) {
        const char *u = zmq_msg_gets(&body, "User-Id");
        snprintf(user, ucap, "%s", u ? u : "");
    }
    /* Answer the sender: echo the body back to its routing id. */
    assert_true(zmq_msg_send(&id, router, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(router, "back", 4, 0) == 4);
    zmq_msg_close(&body);
    return true;
}

static uint64_t refused_after_wait(world *w, uint64_t at_least) {
    uint64_t refused = 0;
    for (int i = 0; i < ARRIVE_MS / 10; i++) {
        zd_zap_counts(w->zap, NULL, &refused);
        if (refused >= at_least)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return refused;
}

/* The whole log, read after the handler stopped. */
static char *log_text(world *w) {
    static char buf[8192];
    fflush(w->log);
    rewind(w->log);
    size_t n = fread(buf, 1, sizeof buf - 1, w->log);
    buf[n] = '\0';
    return buf;
}

static int count_of(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_authorized_worker_round_trip(void **state) {
    world *w = *state;
    start_zap(w, false);
    char ep[256], text[64], user[64];
    void *server = new_server(w, true, NULL, ep, sizeof ep);
    void *client = new_client(w, &w->good, w->server.pub, ep);
    send_str(client, "hello");
    assert_true(router_recv(server, ARRIVE_MS, text, sizeof text, user, sizeof user));
    assert_string_equal(text, "hello");
    assert_string_equal(user, "good.pub"); /* the ZAP user id names the key's file */
    zmq_pollitem_t item = {client, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, ARRIVE_MS), 1);
    assert_int_equal(zmq_recv(client, text, sizeof text, 0), 4);
    assert_memory_equal(text, "back", 4);
    uint64_t admitted, refused;
    zd_zap_counts(w->zap, &admitted, &refused);
    assert_int_equal(admitted, 1);
    assert_int_equal(refused, 0);
    zmq_close(client);
    zmq_close(server);
}

static void test_unknown_key_never_gets_through(void **state) {
    world *w = *state;
    start_zap(w, false);
    char ep[256], text[64];
    void *server = new_server(w, true, NULL, ep, sizeof ep);
    /* The refused worker connects and sends first; only the authorized one arrives. */
    void *intruder = new_client(w, &w->bad, w->server.pub, ep);
    send_str(intruder, "intruder");
    assert_true(refused_after_wait(w, 1) >= 1);
    void *client = new_client(w, &w->good, w->server.pub, ep);
    send_str(client, "worker");
    assert_true(router_recv(server, ARRIVE_MS, text, sizeof text, NULL, 0));
    assert_string_equal(text, "worker");
    assert_false(router_recv(server, NEVER_MS, text, sizeof text, NULL, 0));
    uint64_t admitted, refused;
    zd_zap_counts(w->zap, &admitted, &refused);
    assert_int_equal(admitted, 1);
    assert_true(refused >= 1);
    zmq_close(intruder);
    zmq_close(client);
    zmq_close(server);
    zd_zap_stop(&w->zap);
    assert_null(w->zap);
    /* Logged with the key and address, once however often the intruder retried. */
    char line[256];
    snprintf(line, sizeof line,
             "zdag: refused a worker with an unknown key (Z85 %s) from 127.0.0.1: its .pub file "
             "is not in --authorized-keys\n",
             w->bad.pub);
    const char *log = log_text(w);
    assert_int_equal(count_of(log, line), 1);
    assert_int_equal(count_of(log, "refused"), 1);
}

static void test_wrong_server_key_never_connects(void **state) {
    world *w = *state;
    start_zap(w, false);
    char ep[256], text[64];
    void *server = new_server(w, true, NULL, ep, sizeof ep);
    /* An authorized worker that pins another coordinator's key. */
    keypair impostor = new_pair();
    void *misled = new_client(w, &w->good, impostor.pub, ep);
    send_str(misled, "misled");
    void *client = new_client(w, &w->good, w->server.pub, ep);
    send_str(client, "worker");
    assert_true(router_recv(server, ARRIVE_MS, text, sizeof text, NULL, 0));
    assert_string_equal(text, "worker");
    assert_false(router_recv(server, NEVER_MS, text, sizeof text, NULL, 0));
    /* The handshake fails before the server asks the ZAP handler: one admission only. */
    uint64_t admitted;
    zd_zap_counts(w->zap, &admitted, NULL);
    assert_int_equal(admitted, 1);
    zmq_close(misled);
    zmq_close(client);
    zmq_close(server);
}

static void test_null_mechanism_needs_allow_null(void **state) {
    world *w = *state;
    char ep[256], text[64];
    for (int allow = 0; allow <= 1; allow++) {
        start_zap(w, allow);
        /* A server without CURVE but in the zdag domain: as a tcp listener with --insecure. */
        void *server = new_server(w, false, ZD_CURVE_ZAP_DOMAIN, ep, sizeof ep);
        void *client = new_client(w, NULL, NULL, ep);
        send_str(client, "plain");
        if (allow) {
            assert_true(router_recv(server, ARRIVE_MS, text, sizeof text, NULL, 0));
            assert_string_equal(text, "plain");
        } else {
            assert_true(refused_after_wait(w, 1) >= 1);
            assert_false(router_recv(server, NEVER_MS, text, sizeof text, NULL, 0));
        }
        zmq_close(client);
        zmq_close(server);
        zd_zap_stop(&w->zap);
    }
    assert_int_equal(count_of(log_text(w), "zdag: refused a worker without CurveZMQ from "
                                           "127.0.0.1"),
                     1);
}

static void test_sockets_without_domain_unaffected(void **state) {
    world *w = *state;
    start_zap(w, false);
    /* A plain socket with no ZAP domain (like the local executors' ipc socket) is not gated. */
    char ep[256], text[64];
    void *server = new_server(w, false, NULL, ep, sizeof ep);
    void *client = new_client(w, NULL, NULL, ep);
    send_str(client, "local");
    assert_true(router_recv(server, ARRIVE_MS, text, sizeof text, NULL, 0));
    assert_string_equal(text, "local");
    zmq_close(client);
    zmq_close(server);
}

static void test_without_handler_fails_closed(void **state) {
    world *w = *state;
    /* libzmq admits every key when no ZAP handler answers, unless it knows
     * ZMQ_ZAP_ENFORCE_DOMAIN (93, a DRAFT option that zd_curve_server() sets when it can). */
    void *probe = new_socket(w, ZMQ_ROUTER);
    int one = 1;
    bool enforced = zmq_setsockopt(probe, 93, &one, sizeof one) == 0;
    zmq_close(probe);
    if (!enforced)
        skip();
    char ep[256], text[64];
    void *server = new_server(w, true, NULL, ep, sizeof ep);
    void *client = new_client(w, &w->good, w->server.pub, ep);
    send_str(client, "unchecked");
    assert_false(router_recv(server, NEVER_MS, text, sizeof text, NULL, 0));
    zmq_close(client);
    zmq_close(server);
}

static void test_restart_at_once(void **state) {
    world *w = *state;
    /* A coordinator may stop its handler and start another in the same context. */
    for (int i = 0; i < 200; i++) {
        start_zap(w, false);
        zd_zap_stop(&w->zap);
        assert_null(w->zap);
    }
}

/* Sends a ZAP request of n frames on a REQ socket and reads the 6-frame reply. */
static void zap_exchange(void *req, const char *const *frames, const size_t *lens, size_t n,
                         char reply[6][64]) {
    for (size_t i = 0; i < n; i++)
        assert_int_equal(zmq_send(req, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0),
                         (int)lens[i]);
    for (int i = 0; i < 6; i++) {
        int r = zmq_recv(req, reply[i], 63, 0);
        assert_true(r >= 0);
        reply[i][r] = '\0';
        int more = 0;
        size_t sz = sizeof more;
        zmq_getsockopt(req, ZMQ_RCVMORE, &more, &sz);
        assert_int_equal(more, i < 5);
    }
}

static void test_protocol_answers(void **state) {
    world *w = *state;
    start_zap(w, false);
    zd_zap *second = NULL;
    assert_int_equal(zd_zap_start(w->ctx, w->keys, NULL, &second), ZDAG_EEXIST);
    assert_null(second);
    void *req = new_socket(w, ZMQ_REQ);
    assert_int_equal(zmq_connect(req, ZD_ZAP_ENDPOINT), 0);
    uint8_t good[32], bad[32];
    assert_true(zd_curve_z85_valid(w->good.pub, good));
    assert_true(zd_curve_z85_valid(w->bad.pub, bad));
    char reply[6][64];
    const char *f[] = {"1.0", "id7", "zdag", "10.0.0.9", "", "CURVE", (const char *)good};
    size_t l[] = {3, 3, 4, 8, 0, 5, 32};
    zap_exchange(req, f, l, 7, reply);
    assert_string_equal(reply[0], "1.0");
    assert_string_equal(reply[1], "id7");
    assert_string_equal(reply[2], "200");
    assert_string_equal(reply[4], "good.pub");
    f[6] = (const char *)bad;
    zap_exchange(req, f, l, 7, reply);
    assert_string_equal(reply[2], "400");
    assert_string_equal(reply[3], "unknown key");
    f[6] = (const char *)good;
    f[2] = "other";
    l[2] = 5;
    zap_exchange(req, f, l, 7, reply);
    assert_string_equal(reply[2], "400");
    f[2] = "zdag";
    l[2] = 4;
    const char *plain[] = {"1.0", "id8", "zdag", "10.0.0.9", "", "PLAIN", "user", "password"};
    size_t pl[] = {3, 3, 4, 8, 0, 5, 4, 8};
    zap_exchange(req, plain, pl, 8, reply);
    assert_string_equal(reply[1], "id8");
    assert_string_equal(reply[2], "400");
    f[0] = "2.0";
    zap_exchange(req, f, l, 7, reply);
    assert_string_equal(reply[2], "500");
    assert_string_equal(reply[1], "id7");
    zap_exchange(req, f, l, 2, reply);
    assert_string_equal(reply[2], "500");
    uint64_t admitted, refused;
    zd_zap_counts(w->zap, &admitted, &refused);
    assert_int_equal(admitted, 1);
    assert_int_equal(refused, 5);
    zmq_close(req);
    zd_zap_stop(&w->zap);
    const char *log = log_text(w);
    assert_non_null(strstr(log, "from 10.0.0.9"));
    assert_non_null(strstr(log, "using the PLAIN mechanism"));
    zd_zap_stop(&w->zap); /* accepts NULL */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_authorized_worker_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_never_gets_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_server_key_never_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_mechanism_needs_allow_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sockets_without_domain_unaffected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_handler_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
