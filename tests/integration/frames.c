/* zdag_test_frames: hostile traffic for a running coordinator's --listen endpoint, for
 * tests/integration/test_hostile.py.
 *
 *   zdag_test_frames tcp://HOST:PORT ATTACK...
 *
 * Each ATTACK connects its own socket(s) and prints one line per thing it did ("NAME: ...").
 * ZeroMQ attacks use DEALER sockets, as agents and executors do; tcp-* attacks use a plain TCP
 * socket. Frames are built byte by byte here (not with zdag's encoder) so that they can be
 * wrong in every way. Exits 0 when every attack could be carried out and the coordinator
 * reacted as a peer sees it should (answered, or closed the connection); 1 otherwise. Whether
 * the coordinator logged and survived is for the test to check.
 *
 *   garbage       frames that are not msgpack, or not a message
 *   truncated     a valid RESULT frame cut at several lengths
 *   huge-count    containers declaring 4 G elements in 5 bytes, a 4 GiB bin, deep nesting
 *   big           one 32 MiB frame whose bin32 header claims 4 GiB (the 256 MiB ZMQ_MAXMSGSIZE
 *                 itself is tested by tcp-oversize without sending that much)
 *   multi         messages of two and three frames, and an empty frame
 *   wrong-type    TASK, WELCOME and BYE, which only the coordinator sends, and an unknown type
 *   results       RESULTs with unknown nodes and stale or guessed tokens
 *   join          JOINs with absurd values (accepted: 4096 slots, 64 resources, ...; refused:
 *                 out of range, wrong protocol, twice from one socket), BEAT and LOST from
 *                 strangers
 *   hello         HELLOs claiming slots that are not theirs; then a fake agent's executor that
 *                 takes a task and goes silent, a RESULT for it from another socket, and after
 *                 the agent is declared lost (--heartbeat 0.2: 1 s), the late RESULT
 *   fetch-flood   a fake agent (resource r0) whose executor takes a task and sends 600 FETCHes
 *                 at offset 0 for the dependency whose hex hash is in $FRAMES_HASH, reading
 *                 nothing; then the agent must still get the coordinator's BEATs
 *   upload        a fake agent's executor that takes a task, sends a CHUNK out of order (it
 *                 must be answered), then a 5000-byte result whose RESULT announces another
 *                 hash (the coordinator must not keep it)
 *   tcp-garbage   HTTP and random bytes instead of a ZMTP greeting
 *   tcp-short     half a ZMTP greeting, then silence, then close
 *   tcp-oversize  a ZMTP 3.0 handshake, a 7-byte frame (logged as malformed: the handshake
 *                 worked), then a frame header announcing 300 MiB: the coordinator must close
 *                 the connection long before 256 MiB arrive */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WIRE_VERSION 7 /* ZD_WIRE_VERSION of common/wire.h, which this file encodes by hand */

/* The coordinator under attack. */
typedef struct target {
    const char *endpoint; /* tcp://HOST:PORT */
    void *zctx;           /* ZeroMQ context of every DEALER */
    int failures;         /* attacks that could not be carried out as planned */
} target;

/* ---- A byte buffer and a msgpack writer that does what it is told --------------------------- */

typedef struct buf {
    unsigned char *p; /* bytes */
    size_t n, cap;    /* used, allocated */
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("frames: realloc");
            exit(1);
        }
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_byte(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_be(buf *b, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        put_byte(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void mp_array(buf *b, uint32_t n) {
    if (n < 16)
        put_byte(b, 0x90 | n);
    else
        put_byte(b, 0xdd), put_be(b, n, 4);
}

static void mp_uint(buf *b, uint64_t v) {
    if (v < 128)
        put_byte(b, (unsigned)v);
    else
        put_byte(b, 0xcf), put_be(b, v, 8);
}

static void mp_neg(buf *b, int64_t v) {
    put_byte(b, 0xd3);
    put_be(b, (uint64_t)v, 8);
}

static void mp_str(buf *b, const char *s, size_t n) {
    put_byte(b, 0xdb);
    put_be(b, n, 4);
    put(b, s, n);
}

static void mp_bin(buf *b, const char *s, size_t n) {
    put_byte(b, 0xc6);
    put_be(b, n, 4);
    put(b, s, n);
}

static void mp_double(buf *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_byte(b, 0xcb);
    put_be(b, bits, 8);
}

static void mp_nil(buf *b) {
    put_byte(b, 0xc0);
}

static void mp_bool(buf *b, bool v) {
    put_byte(b, v ? 0xc3 : 0xc2);
}

/* RESULT [3, node, token, ok, exit_code, signal, error, output, log, size, hash] */
static void result_frame(buf *b, uint64_t node, uint64_t token, const char *output) {
    b->n = 0;
    mp_array(b, 11);
    mp_uint(b, 3);
    mp_uint(b, node);
    mp_uint(b, token);
    mp_bool(b, true);
    mp_uint(b, 0);
    mp_uint(b, 0);
    mp_nil(b);
    mp_bin(b, output, strlen(output));
    mp_nil(b);
    mp_uint(b, strlen(output));
    mp_nil(b);
}

/* JOIN [5, version, host, slots, cpus, resources, pid, ""]: n_res resources named r0, r1, ... */
static void join_frame(buf *b, uint64_t version, const char *host, size_t host_len, uint64_t slots,
                       double cpus, uint32_t n_res, double amount, int64_t pid) {
    b->n = 0;
    mp_array(b, 8);
    mp_uint(b, 5);
    mp_uint(b, version);
    mp_str(b, host, host_len);
    mp_uint(b, slots);
    mp_double(b, cpus);
    mp_array(b, n_res);
    for (uint32_t i = 0; i < n_res; i++) {
        char name[16];
        int len = snprintf(name, sizeof name, "r%u", i);
        mp_array(b, 2);
        mp_str(b, name, (size_t)len);
        mp_double(b, amount);
    }
    if (pid < 0)
        mp_neg(b, pid);
    else
        mp_uint(b, (uint64_t)pid);
    mp_str(b, "", 0); /* allocation: none */
}

/* HELLO [1, version, slot, pid, host, credit, agent, secret] */
static void hello_secret_frame(buf *b, uint64_t slot, uint64_t agent, uint64_t credit,
                               uint64_t secret) {
    b->n = 0;
    mp_array(b, 8);
    mp_uint(b, 1);
    mp_uint(b, WIRE_VERSION);
    mp_uint(b, slot);
    mp_uint(b, (uint64_t)getpid());
    mp_str(b, "fakehost", 8);
    mp_uint(b, credit);
    mp_uint(b, agent);
    mp_uint(b, secret);
}

/* A HELLO that guesses the secret (0). */
static void hello_frame(buf *b, uint64_t slot, uint64_t agent, uint64_t credit) {
    hello_secret_frame(b, slot, agent, credit, 0);
}

/* Reads a msgpack unsigned integer at p[*off] (fixint or uint 8..64); false when it is none. */
static bool read_uint(const unsigned char *p, size_t n, size_t *off, uint64_t *v) {
    if (*off >= n)
        return false;
    unsigned char t = p[(*off)++];
    int bytes = t <= 0x7f ? 0 : t >= 0xcc && t <= 0xcf ? 1 << (t - 0xcc) : -1;
    if (bytes < 0 || n - *off < (size_t)bytes)
        return false;
    *v = bytes ? 0 : t;
    for (int i = 0; i < bytes; i++)
        *v = (*v << 8) | p[(*off)++];
    return true;
}

/* Skips a msgpack string (fixstr, str8, str16) at p[*off]; false when it is none. */
static bool skip_str(const unsigned char *p, size_t n, size_t *off) {
    if (*off >= n)
        return false;
    unsigned char t = p[(*off)++];
    size_t len;
    if ((t & 0xe0) == 0xa0)
        len = t & 0x1f;
    else if (t == 0xd9 && *off < n)
        len = p[(*off)++];
    else if (t == 0xda && *off + 1 < n)
        len = (size_t)p[*off] << 8 | p[*off + 1], *off += 2;
    else
        return false;
    if (n - *off < len)
        return false;
    *off += len;
    return true;
}

/* Reads WELCOME [6, agent, run_id, heartbeat_ms, plugins, secret, fence_ms]: id and secret. */
static bool read_welcome(const unsigned char *p, size_t n, uint64_t *id, uint64_t *secret) {
    size_t off = 2;
    uint64_t hb;
    if (n < 3 || p[0] != 0x97 || p[1] != 6 || !read_uint(p, n, &off, id) || !skip_str(p, n, &off) ||
        !read_uint(p, n, &off, &hb) || off >= n || (p[off] & 0xf0) != 0x90)
        return false;
    unsigned plugins = p[off++] & 0x0f;
    for (unsigned i = 0; i < plugins; i++)
        if (!skip_str(p, n, &off))
            return false;
    return read_uint(p, n, &off, secret);
}

/* ---- ZeroMQ ---------------------------------------------------------------------------------- */

static void *dealer(target *t) {
    void *s = zmq_socket(t->zctx, ZMQ_DEALER);
    int linger = 3000, timeout = 10000;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        zmq_connect(s, t->endpoint) < 0) {
        fprintf(stderr, "frames: cannot connect to %s: %s\n", t->endpoint, zmq_strerror(errno));
        exit(1);
    }
    return s;
}

/* Sends n frames as one message. A DEALER queues what it cannot send yet: a failure here is
 * the helper's own problem. */
static void send_parts(void *s, int n, const void *const *data, const size_t *len) {
    for (int i = 0; i < n; i++)
        if (zmq_send(s, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            fprintf(stderr, "frames: send failed: %s\n", zmq_strerror(errno));
            exit(1);
        }
}

static void send_one(void *s, const void *data, size_t len) {
    send_parts(s, 1, &data, &len);
}

/* Sends a string literal (which may hold NULs) as one frame. */
#define SEND_LIT(s, lit) send_one((s), (lit), sizeof(lit) - 1)

static void send_buf(void *s, const buf *b) {
    send_one(s, b->p, b->n);
}

/* Receives one frame into b; false after the socket's receive timeout. */
static bool recv_buf(void *s, buf *b) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        return false;
    }
    b->n = 0;
    put(b, zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    return true;
}

/* Sleeps s seconds. */
static void pause_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- ZeroMQ attacks -------------------------------------------------------------------------- */

static void attack_garbage(target *t) {
    void *s = dealer(t);
    SEND_LIT(s, "\xc1");                 /* the one never-used type byte */
    SEND_LIT(s, "hello, coordinator");   /* a fixint, then trailing bytes */
    SEND_LIT(s, "\x93\x01\x02");         /* an array missing its last element */
    SEND_LIT(s, "\xd4\x01\x02");         /* fixext 1 */
    SEND_LIT(s, "\x91\xc7\x01\x05\x00"); /* ext 8 inside an array */
    SEND_LIT(s, "\x81\x01\x02");         /* a map, not an array */
    SEND_LIT(s, "\x90");                 /* an empty array: no type */
    SEND_LIT(s, "\x91\xa1x");            /* a string as the type */
    unsigned char noise[64];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 37 + 11);
    send_one(s, noise, sizeof noise);
    zmq_close(s);
    printf("garbage: 9 frames sent\n");
}

static void attack_truncated(target *t) {
    void *s = dealer(t);
    buf b = {0};
    result_frame(&b, 0, 1, "a result that will be cut short");
    size_t cuts[] = {1, 2, 5, b.n / 2, b.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        send_one(s, b.p, cuts[i]);
    buf extra = {0};
    put(&extra, b.p, b.n);
    put_byte(&extra, 0xc0); /* a whole frame and one byte more */
    send_buf(s, &extra);
    free(b.p);
    free(extra.p);
    zmq_close(s);
    printf("truncated: 6 frames sent\n");
}

static void attack_huge_count(target *t) {
    void *s = dealer(t);
    SEND_LIT(s, "\xdd\xff\xff\xff\xff");         /* array32 of 4 G elements */
    SEND_LIT(s, "\xdf\xff\xff\xff\xff");         /* map32 of 4 G pairs */
    SEND_LIT(s, "\xc6\xff\xff\xff\xff");         /* bin32 of 4 GiB */
    SEND_LIT(s, "\xdb\xff\xff\xff\xff");         /* str32 of 4 GiB */
    SEND_LIT(s, "\x92\x03\xdd\xff\xff\xff\xff"); /* inside a message */
    buf deep = {0};
    for (int i = 0; i < 100000; i++)
        put_byte(&deep, 0x91);
    put_byte(&deep, 0xc0);
    send_buf(s, &deep);
    free(deep.p);
    zmq_close(s);
    printf("huge-count: 6 frames sent (4 G counts in 5 bytes, 100000 levels deep)\n");
}

static void attack_big(target *t) {
    void *s = dealer(t);
    size_t n = 32u << 20;
    unsigned char *p = calloc(1, n);
    if (!p) {
        perror("frames: calloc");
        exit(1);
    }
    memcpy(p, "\x93\x03\xc6\xff\xff\xff\xff", 7); /* [3, bin of 4 GiB ... */
    send_one(s, p, n);
    free(p);
    zmq_close(s);
    printf("big: one frame of %zu bytes sent\n", n);
}

static void attack_multi(target *t) {
    void *s = dealer(t);
    const void *parts[3] = {"\x92\x07\x01", "\x92\x07\x01", "garbage"}; /* BEAT, BEAT, garbage */
    size_t lens[3] = {3, 3, 7};
    send_parts(s, 2, parts, lens);
    send_parts(s, 3, parts, lens);
    SEND_LIT(s, "");
    zmq_close(s);
    printf("multi: a 2-frame and a 3-frame message, an empty frame sent\n");
}

static void attack_wrong_type(target *t) {
    void *s = dealer(t);
    buf b = {0};
    mp_array(&b, 18); /* TASK */
    mp_uint(&b, 2);
    mp_uint(&b, 0);
    mp_uint(&b, 1);
    mp_uint(&b, 1);
    mp_str(&b, "n", 1);
    mp_str(&b, "r", 1);
    mp_uint(&b, 0);
    mp_str(&b, "rm -rf /", 8);
    mp_nil(&b);
    mp_array(&b, 0);
    mp_nil(&b);
    mp_uint(&b, 0);
    mp_nil(&b);
    mp_array(&b, 0);
    mp_uint(&b, 1024); /* max_result */
    mp_nil(&b);        /* store_dir */
    mp_uint(&b, 0);    /* after */
    mp_double(&b, 1);  /* cpus */
    send_buf(s, &b);
    b.n = 0;
    mp_array(&b, 7); /* WELCOME */
    mp_uint(&b, 6);
    mp_uint(&b, 1);
    mp_str(&b, "r", 1);
    mp_uint(&b, 1000);
    mp_array(&b, 0);
    mp_uint(&b, 12345);
    mp_uint(&b, 3000);
    send_buf(s, &b);
    SEND_LIT(s, "\x92\x04\x00");                             /* BYE */
    SEND_LIT(s, "\x92\xcc\xff\xc0");                         /* type 255 */
    SEND_LIT(s, "\x91\xcf\x00\x00\x00\x00\x00\x00\x00\x03"); /* RESULT, no fields */
    free(b.p);
    zmq_close(s);
    printf("wrong-type: TASK, WELCOME, BYE, type 255, a bare RESULT sent\n");
}

static void attack_results(target *t) {
    void *s = dealer(t);
    buf b = {0};
    int sent = 0;
    for (uint64_t node = 0; node < 24; node++)
        for (uint64_t token = 0; token < 40; token++) {
            result_frame(&b, node, token, "FORGED");
            send_buf(s, &b), sent++;
        }
    result_frame(&b, UINT32_MAX, 1, "FORGED");
    send_buf(s, &b), sent++;
    result_frame(&b, 0, UINT64_MAX, "FORGED");
    send_buf(s, &b), sent++;
    free(b.p);
    zmq_close(s);
    printf("results: %d forged RESULTs sent (nodes 0-23 x tokens 0-39, node 2^32-1, token "
           "2^64-1)\n",
           sent);
}

/* CHUNKs of results nobody asked for (guessed tokens) and a FETCH of a result not needed. */
static void attack_chunks(target *t) {
    void *s = dealer(t);
    buf b = {0};
    int sent = 0;
    for (uint64_t token = 1; token <= 40; token++) {
        b.n = 0;
        mp_array(&b, 5); /* CHUNK [10, node, token, offset, bytes] */
        mp_uint(&b, 10);
        mp_uint(&b, token % 24);
        mp_uint(&b, token);
        mp_uint(&b, 0);
        mp_bin(&b, "FORGED", 6);
        send_buf(s, &b), sent++;
    }
    char hash[32] = {0};
    b.n = 0;
    mp_array(&b, 3); /* FETCH [12, hash, offset] */
    mp_uint(&b, 12);
    mp_bin(&b, hash, sizeof hash);
    mp_uint(&b, 0);
    send_buf(s, &b), sent++;
    free(b.p);
    zmq_close(s);
    printf("chunks: %d forged CHUNKs and FETCHes sent\n", sent);
}

static void attack_join(target *t) {
    buf b = {0};
    char host[256];
    memset(host, 'h', sizeof host);
    /* Absurd but within the protocol: accepted, then lost for never beating. */
    void *s = dealer(t);
    join_frame(&b, WIRE_VERSION, host, 255, 4096, 1e9, 64, 1e15, INT32_MAX);
    send_buf(s, &b);
    bool welcomed = recv_buf(s, &b) && b.n > 1 && b.p[1] == 6;
    SEND_LIT(s, "\x92\x07\x01"); /* one BEAT, from an agent it knows */
    join_frame(&b, WIRE_VERSION, host, 255, 4096, 1e9, 64, 1e15, INT32_MAX);
    send_buf(s, &b); /* joined twice from one socket: refused */
    zmq_close(s);
    printf("join: absurd JOIN (4096 slots, 1e9 cpus, 64 resources of 1e15) %s\n",
           welcomed ? "welcomed" : "NOT welcomed");
    if (!welcomed)
        t->failures++;

    /* Under the coordinator's own host id: a separate host of that name. */
    char local[256] = "localhost";
    gethostname(local, sizeof local - 1);
    s = dealer(t);
    join_frame(&b, WIRE_VERSION, local, strlen(local), 1, 1, 0, 0, 1);
    send_buf(s, &b);
    zmq_close(s);

    /* Out of range or wrong: each from its own socket. */
    struct {
        uint64_t version, slots;
        size_t host_len;
        double cpus;
        uint32_t n_res;
        double amount;
        int64_t pid;
    } bad[] = {
        {2, 0, 4, 1, 0, 0, 1},   {2, 4097, 4, 1, 0, 0, 1},     {2, 1ull << 40, 4, 1, 0, 0, 1},
        {2, 1, 0, 1, 0, 0, 1},   {2, 1, 256, 1, 0, 0, 1},      {2, 1, 4, -1, 0, 0, 1},
        {2, 1, 4, NAN, 0, 0, 1}, {2, 1, 4, INFINITY, 0, 0, 1}, {2, 1, 4, 1e300, 0, 0, 1},
        {2, 1, 4, 1, 65, 1, 1},  {2, 1, 4, 1, 1, -5, 1},       {2, 1, 4, 1, 1, NAN, 1},
        {2, 1, 4, 1, 0, 0, -1},  {99, 1, 4, 1, 0, 0, 1},       {0, 1, 4, 1, 0, 0, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = dealer(t);
        join_frame(&b, bad[i].version, host, bad[i].host_len, bad[i].slots, bad[i].cpus,
                   bad[i].n_res, bad[i].amount, bad[i].pid);
        send_buf(s, &b);
        zmq_close(s);
    }
    /* A BEAT and LOSTs from sockets that never joined. */
    s = dealer(t);
    SEND_LIT(s, "\x92\x07\x01");
    SEND_LIT(s, "\x96\x08\x01\x00\xa8signal 9\x00\x00");
    SEND_LIT(s, "\x96\x08\xce\xff\xff\xff\xff\xce\xff\xff\xff\xff\xa1x\x00\x01");
    zmq_close(s);
    free(b.p);
    printf("join: %zu bad JOINs, a JOIN as the local host, stray BEAT and LOSTs sent\n",
           sizeof bad / sizeof bad[0]);
}

/* Waits for the WELCOME that answers a JOIN on `agent`: true with the agent's id and secret;
 * false (a failure counted) with what came instead, so that a failure says what happened. */
static bool await_welcome(target *t, void *agent, const char *name, buf *b, uint64_t *id,
                          uint64_t *secret) {
    if (recv_buf(agent, b) && read_welcome(b->p, b->n, id, secret))
        return true;
    int err = errno;
    if (b->n == 0)
        printf("%s: the fake agent was NOT welcomed: no answer (%s)\n", name, zmq_strerror(err));
    else
        printf("%s: the fake agent was NOT welcomed: got %zu bytes, type byte 0x%02x\n", name, b->n,
               b->n > 1 ? b->p[1] : 0);
    t->failures++;
    return false;
}

static void attack_hello(target *t) {
    buf b = {0};
    void *s = dealer(t);
    /* No agent behind these. */
    hello_frame(&b, 0, 0, 1); /* a local executor's slot, from the network */
    send_buf(s, &b);
    hello_frame(&b, 0, 999, 1);
    send_buf(s, &b);
    hello_frame(&b, 0, UINT32_MAX, 1);
    send_buf(s, &b);
    hello_frame(&b, 0, 1, 0); /* credit 0 */
    send_buf(s, &b);
    zmq_close(s);

    /* A fake agent with two slots, then HELLOs around them. */
    void *agent = dealer(t);
    join_frame(&b, WIRE_VERSION, "fakeagent", 9, 2, 4, 0, 0, 4242);
    send_buf(agent, &b);
    uint64_t id = 0, secret = 0;
    size_t off = 2;
    b.n = 0;
    if (!await_welcome(t, agent, "hello", &b, &id, &secret)) {
        zmq_close(agent);
        free(b.p);
        return;
    }
    s = dealer(t);
    hello_frame(&b, 2, id, 1); /* past its slots */
    send_buf(s, &b);
    hello_frame(&b, UINT32_MAX, id, 1);
    send_buf(s, &b);
    zmq_close(s);

    /* Slot 0 with a guessed secret: refused. */
    s = dealer(t);
    hello_frame(&b, 0, id, 1);
    send_buf(s, &b);
    zmq_close(s);

    /* Slot 0 for real, with the agent's secret: the coordinator gives it a task, which it
     * keeps. */
    void *ex = dealer(t);
    hello_secret_frame(&b, 0, id, 1, secret);
    send_buf(ex, &b);
    uint64_t node = 0, token = 0;
    /* TASK has 18 fields: an array16 header (0xdc 0x00 0x12), then its type 2. */
    off = 4;
    bool tasked = recv_buf(ex, &b) && b.n > 4 && b.p[0] == 0xdc && b.p[3] == 2 &&
                  read_uint(b.p, b.n, &off, &node) && read_uint(b.p, b.n, &off, &token);
    printf("hello: fake agent %llu, executor slot 0 %s", (unsigned long long)id,
           tasked ? "got a task" : "got NO task");
    if (!tasked) {
        printf("\n");
        t->failures++;
    } else {
        printf(" (node %llu, token %llu)\n", (unsigned long long)node, (unsigned long long)token);
        /* Slot 0 again from another socket while taken: refused. */
        s = dealer(t);
        hello_frame(&b, 0, id, 1);
        send_buf(s, &b);
        /* The right token from the wrong socket. */
        result_frame(&b, node, token, "FORGED");
        send_buf(s, &b);
        zmq_close(s);
        /* Silence: the agent never beats, so it is lost; then the late result is stale. */
        pause_s(2.5);
        result_frame(&b, node, token, "FORGED");
        send_buf(ex, &b);
        printf("hello: held the task 2.5 s, then sent its result late\n");
    }
    zmq_close(ex);
    zmq_close(agent);
    free(b.p);
}

/* A fake agent with one slot and resource r0 (amount 1), and its executor once the coordinator
 * has given it a task. False (a failure counted) when any of that does not happen. */
static bool fake_executor(target *t, const char *name, void **agent, void **ex, uint64_t *node,
                          uint64_t *token) {
    buf b = {0};
    *agent = dealer(t);
    join_frame(&b, WIRE_VERSION, "fakeagent", 9, 1, 1, 1, 1, 4243);
    send_buf(*agent, &b);
    uint64_t id = 0, secret = 0;
    b.n = 0;
    if (!await_welcome(t, *agent, name, &b, &id, &secret)) {
        free(b.p);
        return false;
    }
    *ex = dealer(t);
    hello_secret_frame(&b, 0, id, 1, secret);
    send_buf(*ex, &b);
    size_t off = 4;
    bool tasked = recv_buf(*ex, &b) && b.n > 4 && b.p[0] == 0xdc && b.p[3] == 2 &&
                  read_uint(b.p, b.n, &off, node) && read_uint(b.p, b.n, &off, token);
    printf("%s: executor %s\n", name, tasked ? "got a task" : "got NO task");
    if (!tasked)
        t->failures++;
    free(b.p);
    return tasked;
}

/* Waits up to timeout_s for a frame on s that starts with the array header and type given. */
static bool await_frame(void *s, unsigned char header, unsigned char type, double timeout_s,
                        buf *b) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double left =
            timeout_s - ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (left <= 0 || zmq_poll(&it, 1, (long)(left * 1000) + 1) <= 0)
            return false;
        if (recv_buf(s, b) && b->n >= 2 && b->p[0] == header && b->p[1] == type)
            return true;
    }
}

static void attack_fetch_flood(target *t) {
    const char *hex = getenv("FRAMES_HASH");
    unsigned char hash[32];
    for (int i = 0; hex && strlen(hex) == 64 && i < 32; i++)
        sscanf(hex + 2 * i, "%2hhx", &hash[i]);
    if (!hex || strlen(hex) != 64) {
        printf("fetch-flood: FRAMES_HASH is not a hex SHA-256\n");
        t->failures++;
        return;
    }
    void *agent = NULL, *ex = NULL;
    uint64_t node, token;
    if (fake_executor(t, "fetch-flood", &agent, &ex, &node, &token)) {
        buf b = {0};
        mp_array(&b, 3); /* FETCH [12, hash, offset] */
        mp_uint(&b, 12);
        mp_bin(&b, (const char *)hash, sizeof hash);
        mp_uint(&b, 0);
        for (int i = 0; i < 600; i++)
            send_buf(ex, &b);
        printf("fetch-flood: 600 FETCHes sent, none read\n");
        /* The coordinator's heartbeat goes on: BEATs reach the agent, which answers them. */
        int beats = 0;
        for (uint64_t seq = 1; seq <= 3; seq++) {
            b.n = 0;
            mp_array(&b, 2);
            mp_uint(&b, 7);
            mp_uint(&b, seq);
            send_buf(agent, &b);
            beats += await_frame(agent, 0x92, 7, 5.0, &b);
        }
        printf("fetch-flood: the agent got %d of 3 BEATs after the flood\n", beats);
        if (beats < 3)
            t->failures++;
        free(b.p);
    }
    if (ex)
        zmq_close(ex);
    if (agent)
        zmq_close(agent);
}

static void attack_upload(target *t) {
    void *agent = NULL, *ex = NULL;
    uint64_t node, token;
    if (fake_executor(t, "upload", &agent, &ex, &node, &token)) {
        buf b = {0};
        static char data[5000];
        memset(data, 'u', sizeof data);
        /* CHUNK [10, node, token, offset, bytes] out of order: there is no upload yet. */
        mp_array(&b, 5);
        mp_uint(&b, 10);
        mp_uint(&b, node);
        mp_uint(&b, token);
        mp_uint(&b, 100);
        mp_bin(&b, data, 10);
        send_buf(ex, &b);
        bool acked = await_frame(ex, 0x93, 11, 5.0, &b);
        printf("upload: a chunk out of order %s\n", acked ? "was answered" : "was NOT answered");
        if (!acked)
            t->failures++;
        b.n = 0;
        mp_array(&b, 5);
        mp_uint(&b, 10);
        mp_uint(&b, node);
        mp_uint(&b, token);
        mp_uint(&b, 0);
        mp_bin(&b, data, sizeof data);
        send_buf(ex, &b);
        acked = await_frame(ex, 0x93, 11, 5.0, &b);
        printf("upload: the result's chunk %s\n", acked ? "was answered" : "was NOT answered");
        if (!acked)
            t->failures++;
        /* RESULT [3, node, token, ok, exit_code, signal, error, output, log, size, hash] with a
         * hash that is not the bytes': zeros. */
        char zero[32] = {0};
        b.n = 0;
        mp_array(&b, 11);
        mp_uint(&b, 3);
        mp_uint(&b, node);
        mp_uint(&b, token);
        mp_bool(&b, true);
        mp_uint(&b, 0);
        mp_uint(&b, 0);
        mp_nil(&b);
        mp_nil(&b);
        mp_nil(&b);
        mp_uint(&b, sizeof data);
        mp_bin(&b, zero, sizeof zero);
        send_buf(ex, &b);
        printf("upload: RESULT sent with a wrong hash\n");
        pause_s(0.5); /* lets the RESULT leave before the sockets close */
        free(b.p);
    }
    if (ex)
        zmq_close(ex);
    if (agent)
        zmq_close(agent);
}

/* ---- Raw TCP --------------------------------------------------------------------------------- */

/* Connects to the endpoint's host and port, retrying for a few seconds while it is not up. */
static int tcp_connect(const target *t) {
    char host[64];
    int port;
    if (sscanf(t->endpoint, "tcp://%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "frames: %s is not tcp://HOST:PORT\n", t->endpoint);
        exit(2);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "frames: %s is not an IPv4 address\n", host);
        exit(2);
    }
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        pause_s(0.05);
    }
    perror("frames: connect");
    exit(1);
}

/* Sends what it can of data; returns bytes sent before the peer stopped taking them. */
static size_t tcp_send(int fd, const void *data, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, (const char *)data + done, n - done, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    return done;
}

/* Waits up to timeout_s for the peer to close; skips what it sends. True when it closed. */
static bool tcp_closed_by_peer(int fd, double timeout_s) {
    char junk[4096];
    double waited = 0;
    while (waited < timeout_s) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        waited += 0.1;
        if (r <= 0)
            continue;
        ssize_t k = recv(fd, junk, sizeof junk, 0);
        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
    return false;
}

static void attack_tcp_garbage(target *t) {
    int fd = tcp_connect(t);
    const char http[] = "GET / HTTP/1.1\r\nHost: coordinator\r\n\r\n";
    tcp_send(fd, http, sizeof http - 1);
    bool closed = tcp_closed_by_peer(fd, 2);
    close(fd);
    fd = tcp_connect(t);
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 131 + 7);
    noise[0] = 0xff; /* a greeting's first byte, then nonsense */
    tcp_send(fd, noise, sizeof noise);
    bool closed2 = tcp_closed_by_peer(fd, 2);
    close(fd);
    /* Not a failure either way: a first byte other than 0xff makes libzmq expect ZMTP 1.0, whose
     * first frame may simply not be complete yet (the handshake times out later). */
    printf("tcp-garbage: HTTP request %s, noise %s\n", closed ? "closed by peer" : "left open",
           closed2 ? "closed by peer" : "left open");
}

static void attack_tcp_short(target *t) {
    int fd = tcp_connect(t);
    tcp_send(fd, "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03", 11);
    pause_s(0.5);
    close(fd);
    printf("tcp-short: half a greeting, then closed\n");
}

/* The 64-byte ZMTP 3.0 greeting of a NULL-mechanism client. */
static void zmtp_greeting(buf *b) {
    put(b, "\xff\0\0\0\0\0\0\0\0\x7f", 10);
    put(b, "\x03\x00", 2);
    char mech[20] = "NULL";
    put(b, mech, sizeof mech);
    put_byte(b, 0); /* as-server */
    char filler[31] = {0};
    put(b, filler, sizeof filler);
}

/* Reads exactly n bytes; false when the peer closed or 5 s passed. */
static bool tcp_read(int fd, unsigned char *p, size_t n) {
    for (size_t done = 0; done < n;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 5000) <= 0)
            return false;
        ssize_t k = recv(fd, p + done, n - done, 0);
        if (k <= 0)
            return false;
        done += (size_t)k;
    }
    return true;
}

static void attack_tcp_oversize(target *t) {
    int fd = tcp_connect(t);
    buf b = {0};
    zmtp_greeting(&b);
    /* READY with Socket-Type DEALER, as a short command frame. */
    buf ready = {0};
    put(&ready, "\x05READY", 6);
    put(&ready, "\x0bSocket-Type", 12);
    put_be(&ready, 6, 4);
    put(&ready, "DEALER", 6);
    put_byte(&b, 0x04);
    put_byte(&b, (unsigned)ready.n);
    put(&b, ready.p, ready.n);
    size_t sent = tcp_send(fd, b.p, b.n);
    /* Messages count only after the coordinator's own greeting and READY (a frame sent before
     * would be taken for a second handshake command). */
    unsigned char theirs[64 + 2 + 255];
    bool handshake =
        tcp_read(fd, theirs, 66) && theirs[64] == 0x04 && tcp_read(fd, theirs + 66, theirs[65]);
    /* A small frame, to show that the handshake worked: the coordinator logs it as a malformed
     * message of 7 bytes. */
    b.n = 0;
    put_byte(&b, 0x00);
    put_byte(&b, 7);
    put(&b, "zmtp ok", 7);
    sent += tcp_send(fd, b.p, b.n);
    pause_s(0.3);
    /* A message frame announcing 300 MiB (long form: flags 0x02, 8-byte size). */
    b.n = 0;
    put_byte(&b, 0x02);
    put_be(&b, 300ull << 20, 8);
    sent += tcp_send(fd, b.p, b.n);
    /* Then stream zeros until the coordinator hangs up, at most 64 MiB. */
    static unsigned char zeros[1 << 16];
    size_t limit = 64u << 20, body = 0;
    while (body < limit) {
        size_t k = tcp_send(fd, zeros, sizeof zeros);
        body += k;
        if (k < sizeof zeros)
            break;
    }
    bool closed = body < limit || tcp_closed_by_peer(fd, 5);
    close(fd);
    free(b.p);
    free(ready.p);
    printf("tcp-oversize: handshake %s, a 7-byte frame and a 300 MiB frame header (%zu bytes "
           "in all), %s after %zu body bytes\n",
           handshake ? "done" : "FAILED", sent, closed ? "closed by peer" : "NOT closed", body);
    if (!handshake || !closed)
        t->failures++;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*run)(target *t);
    } attacks[] = {{"garbage", attack_garbage},
                   {"truncated", attack_truncated},
                   {"huge-count", attack_huge_count},
                   {"big", attack_big},
                   {"multi", attack_multi},
                   {"wrong-type", attack_wrong_type},
                   {"results", attack_results},
                   {"join", attack_join},
                   {"chunks", attack_chunks},
                   {"hello", attack_hello},
                   {"fetch-flood", attack_fetch_flood},
                   {"upload", attack_upload},
                   {"tcp-garbage", attack_tcp_garbage},
                   {"tcp-short", attack_tcp_short},
                   {"tcp-oversize", attack_tcp_oversize}};
    if (argc < 3) {
        fprintf(stderr, "usage: zdag_test_frames tcp://HOST:PORT ATTACK...\nattacks:");
        for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
            fprintf(stderr, " %s", attacks[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    target t = {.endpoint = argv[1], .zctx = zmq_ctx_new()};
    if (!t.zctx)
        return 1;
    for (int i = 2; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof attacks / sizeof attacks[0] && strcmp(attacks[k].name, argv[i]) != 0)
            k++;
        if (k == sizeof attacks / sizeof attacks[0]) {
            fprintf(stderr, "frames: unknown attack %s\n", argv[i]);
            return 2;
        }
        attacks[k].run(&t);
    }
    zmq_ctx_term(t.zctx); /* waits (LINGER) until queued frames have left */
    return t.failures ? 1 : 0;
}
