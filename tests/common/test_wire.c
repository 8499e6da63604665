/* Wire protocol: round trips of every message, and malformed frames rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static zd_bytes B(const char *s) {
    return (zd_bytes){s, strlen(s)};
}

static bool eq(zd_bytes b, const char *s) {
    return b.ptr && b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

static void test_hello_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg_hello h = {.version = ZD_WIRE_VERSION,
                      .slot = 7,
                      .pid = 4242,
                      .host = B("hostA"),
                      .credit = 2,
                      .agent = 3,
                      .secret = 0xfedcba9876543210ull};
    assert_int_equal(zd_wire_encode_hello(b, &h), 0);
    zd_msg m;
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_HELLO);
    assert_int_equal(m.u.hello.slot, 7);
    assert_int_equal(m.u.hello.pid, 4242);
    assert_int_equal(m.u.hello.credit, 2);
    assert_true(eq(m.u.hello.host, "hostA"));
    assert_int_equal(m.u.hello.agent, 3);
    assert_true(m.u.hello.secret == 0xfedcba9876543210ull);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
    assert_null(b);
    assert_null(d);
}

static void test_task_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_bytes argv[] = {B("echo"), B("hello world"), B("")};
    zd_bytes env[] = {B("A=1"), B("LC_ALL=C")};
    uint8_t hash[ZD_STORE_HASH];
    for (int i = 0; i < ZD_STORE_HASH; i++)
        hash[i] = (uint8_t)(i * 7);
    zd_dep_result deps[] = {{B("fetch"), ZD_FORMAT_MSGPACK, 4, NULL, {"\0bin", 4}},
                            {B("parse"), ZD_FORMAT_RAW, 0, NULL, B("")},
                            {B("big"), ZD_FORMAT_RAW, 5000000000ull, hash, {NULL, 0}}};
    zd_msg_task t = {.node = 3,
                     .token = 1ull << 40,
                     .attempt = 2,
                     .name = B("n1"),
                     .run_id = B("abc"),
                     .kind = 1,
                     .argv = argv,
                     .argc = 3,
                     .args = {"\x93\x01\x02\x03", 4},
                     .env = env,
                     .n_env = 2,
                     .workdir = {NULL, 0},
                     .timeout_ms = 1500,
                     .log_path = B("/tmp/l.log"),
                     .deps = deps,
                     .n_deps = 3,
                     .max_result = 1ull << 30,
                     .store_dir = B("/state/results"),
                     .cpus = 1.5};
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    zd_msg m;
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    zd_msg_task *r = &m.u.task;
    assert_int_equal(m.type, ZD_MSG_TASK);
    assert_int_equal(r->node, 3);
    assert_true(r->token == 1ull << 40);
    assert_int_equal(r->attempt, 2);
    assert_int_equal(r->kind, 1);
    assert_int_equal(r->argc, 3);
    assert_true(eq(r->argv[0], "echo") && eq(r->argv[1], "hello world") && eq(r->argv[2], ""));
    assert_int_equal(r->n_env, 2);
    assert_true(eq(r->env[0], "A=1") && eq(r->env[1], "LC_ALL=C"));
    assert_null(r->workdir.ptr);
    assert_int_equal(r->timeout_ms, 1500);
    assert_true(eq(r->log_path, "/tmp/l.log"));
    assert_int_equal(r->args.len, 4);
    assert_memory_equal(r->args.ptr, "\x93\x01\x02\x03", 4);
    assert_int_equal(r->n_deps, 3);
    assert_true(r->max_result == 1ull << 30);
    assert_true(eq(r->store_dir, "/state/results"));
    assert_true(r->cpus == 1.5);
    assert_null(r->deps[0].hash);
    assert_int_equal(r->deps[0].size, 4);
    assert_true(r->deps[2].size == 5000000000ull);
    assert_non_null(r->deps[2].hash);
    assert_memory_equal(r->deps[2].hash, hash, ZD_STORE_HASH);
    assert_null(r->deps[2].data.ptr);
    assert_true(eq(r->deps[0].name, "fetch"));
    assert_int_equal(r->deps[0].format, ZD_FORMAT_MSGPACK);
    assert_int_equal(r->deps[1].format, ZD_FORMAT_RAW);
    assert_int_equal(r->deps[0].data.len, 4);
    assert_memory_equal(r->deps[0].data.ptr, "\0bin", 4);
    assert_non_null(r->deps[1].data.ptr); /* empty, not absent */
    assert_int_equal(r->deps[1].data.len, 0);

    /* A remote executor's task: no store dir. */
    t.store_dir = (zd_bytes){NULL, 0};
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_null(m.u.task.store_dir.ptr);
    /* Inconsistent deps or limits are not encoded. */
    deps[2].data = B("x");
    assert_int_equal(zd_wire_encode_task(b, &t), ZDAG_EINVAL);
    deps[2].data = (zd_bytes){NULL, 0};
    deps[0].size = 5;
    assert_int_equal(zd_wire_encode_task(b, &t), ZDAG_EINVAL);
    deps[0].size = 4;
    t.max_result = 0;
    assert_int_equal(zd_wire_encode_task(b, &t), ZDAG_EINVAL);
    t.max_result = 100;
    t.cpus = -1;
    assert_int_equal(zd_wire_encode_task(b, &t), ZDAG_EINVAL);
    t.cpus = NAN;
    assert_int_equal(zd_wire_encode_task(b, &t), ZDAG_EINVAL);
    /* cpus is the last field, a float64: a negative one on the wire is refused. */
    t.cpus = 2;
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    size_t n = zd_wire_buf_size(b);
    char *neg = malloc(n);
    memcpy(neg, zd_wire_buf_data(b), n);
    assert_int_equal((unsigned char)neg[n - 9], 0xcb);
    neg[n - 8] = (char)0xc0; /* -2.0 */
    assert_int_equal(zd_wire_decode(d, neg, n, &m), ZDAG_EPROTO);
    assert_string_equal(zd_wire_decoder_error(d), "number out of range");
    free(neg);
    t.cpus = 0;

    /* A shell task: cmd is a string, no argv. */
    t.kind = 0;
    t.cmd = B("echo hi | wc -c");
    t.workdir = B("sub");
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_true(eq(m.u.task.cmd, "echo hi | wc -c"));
    assert_true(eq(m.u.task.workdir, "sub"));
    assert_int_equal(m.u.task.argc, 0);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

static void test_result_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg_result res = {.node = 9,
                         .token = 77,
                         .ok = false,
                         .exit_code = 137,
                         .signal = 9,
                         .error = B("killed"),
                         .output = B("partial"),
                         .size = 7};
    assert_int_equal(zd_wire_encode_result(b, &res), 0);
    zd_msg m;
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_RESULT);
    assert_false(m.u.result.ok);
    assert_int_equal(m.u.result.exit_code, 137);
    assert_int_equal(m.u.result.signal, 9);
    assert_true(eq(m.u.result.error, "killed"));
    assert_true(eq(m.u.result.output, "partial"));
    assert_int_equal(zd_wire_encode_bye(b, ZD_BYE_EVICTED), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_BYE);
    assert_int_equal(m.u.bye.reason, ZD_BYE_EVICTED);
    assert_int_equal(zd_wire_encode_beat(b, 77), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_BEAT);
    assert_true(m.u.beat.seq == 77);
    zd_msg_cancel cancel = {.slot = 2, .token = 0x8000000000000001ull, .why = B("timed out")};
    assert_int_equal(zd_wire_encode_cancel(b, &cancel), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_CANCEL);
    assert_int_equal(m.u.cancel.slot, 2);
    assert_true(m.u.cancel.token == 0x8000000000000001ull);
    assert_true(eq(m.u.cancel.why, "timed out"));
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

/* Frames that must be refused with ZDAG_EPROTO, never crash nor allocate beyond the frame. */
static void test_malformed(void **state) {
    (void)state;
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},
        {"\x91", 1},                                      /* array of 1, truncated */
        {"\x91\x04\x00", 3},                              /* trailing byte */
        {"\xdd\xff\xff\xff\xff", 5},                      /* array of 4 G elements in 5 bytes */
        {"\xdf\x7f\xff\xff\xff\x01", 6},                  /* map of 2 G pairs */
        {"\xc6\xff\xff\xff\xff", 5},                      /* bin of 4 GB */
        {"\xc1", 1},                                      /* never-used type */
        {"\xd4\x01\x02", 3},                              /* ext type */
        {"\x04", 1},                                      /* not an array */
        {"\x90", 1},                                      /* empty array */
        {"\x91\x09", 2},                                  /* unknown type */
        {"\x93\x04\x01\x01", 4},                          /* BYE with two fields */
        {"\x92\x04\x07", 3},                              /* BYE with an unknown reason */
        {"\x96\x01\x01\x00\x01\xa1h\x00", 8},             /* HELLO credit 0 */
        {"\x96\x01\x01\x00\x01\x01\x01", 7},              /* HELLO host not a string */
        {"\x98\x03\x01\x01\xc3\x00\x00\xc0\xa0", 9},      /* RESULT output is a str, not bin */
        {"\x98\x03\x01\x01\x01\x00\x00\xc0\xc4\x00", 10}, /* RESULT ok not a bool */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = zd_wire_decode(d, bad[i].bytes, bad[i].len, &m);
        if (rc != ZDAG_EPROTO)
            fail_msg("case %zu decoded with %d", i, rc);
        assert_non_null(zd_wire_decoder_error(d));
    }
    /* Nesting deeper than the limit. */
    char deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x00;
    assert_false(zd_wire_well_formed(deep, sizeof deep, ZD_WIRE_MAX_DEPTH));
    assert_int_equal(zd_wire_decode(d, deep, sizeof deep, &m), ZDAG_EPROTO);
    zd_wire_decoder_free(&d);
}

/* Every truncation and every single-byte change of valid frames: never a crash or a leak,
 * and a truncated frame is never accepted. */
static void test_mutations(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_bytes argv[] = {B("ls"), B("-l")};
    zd_bytes env[] = {B("K=V")};
    uint8_t hash[ZD_STORE_HASH] = {1, 2, 3};
    zd_dep_result deps[] = {{B("x"), ZD_FORMAT_RAW, 4, NULL, B("data")},
                            {B("y"), ZD_FORMAT_RAW, 10000, hash, {NULL, 0}}};
    zd_msg_task t = {.node = 1,
                     .token = 2,
                     .attempt = 1,
                     .name = B("n"),
                     .run_id = B("r"),
                     .kind = 1,
                     .argv = argv,
                     .argc = 2,
                     .env = env,
                     .n_env = 1,
                     .log_path = B("l"),
                     .deps = deps,
                     .n_deps = 2,
                     .max_result = 1000000,
                     .store_dir = B("s")};
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    size_t len = zd_wire_buf_size(b);
    char *frame = malloc(len);
    memcpy(frame, zd_wire_buf_data(b), len);
    zd_msg m;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(zd_wire_decode(d, frame, cut, &m), ZDAG_EPROTO);
    unsigned accepted = 0;
    for (size_t i = 0; i < len; i++)
        for (int v = 0; v < 256; v++) {
            char saved = frame[i];
            frame[i] = (char)v;
            accepted += zd_wire_decode(d, frame, len, &m) == 0;
            frame[i] = saved;
        }
    assert_true(accepted > 0); /* e.g. other string contents stay valid */
    free(frame);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

/* A stored result: size and hash, no bytes; inline ones at most 4096 bytes. */
static void test_stored_result_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    uint8_t hash[ZD_STORE_HASH];
    memset(hash, 0xab, sizeof hash);
    zd_msg_result big = {.node = 1, .token = 5, .ok = true, .size = 200000000, .hash = hash};
    assert_int_equal(zd_wire_encode_result(b, &big), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_true(m.u.result.ok);
    assert_null(m.u.result.output.ptr);
    assert_int_equal(m.u.result.size, 200000000);
    assert_memory_equal(m.u.result.hash, hash, ZD_STORE_HASH);
    char *inl = calloc(1, ZD_RESULT_INLINE_MAX + 1);
    zd_msg_result over = {
        .ok = true, .output = {inl, ZD_RESULT_INLINE_MAX + 1}, .size = ZD_RESULT_INLINE_MAX + 1};
    assert_int_equal(zd_wire_encode_result(b, &over), ZDAG_EINVAL);
    over.output.len = over.size = ZD_RESULT_INLINE_MAX;
    assert_int_equal(zd_wire_encode_result(b, &over), 0);
    big.size = ZD_RESULT_INLINE_MAX;
    assert_int_equal(zd_wire_encode_result(b, &big), ZDAG_EINVAL);
    free(inl);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

static void test_chunk_ack_fetch_data_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    uint8_t hash[ZD_STORE_HASH];
    memset(hash, 0x5a, sizeof hash);
    char *mib = malloc(ZD_WIRE_CHUNK + 1);
    memset(mib, 'x', ZD_WIRE_CHUNK + 1);
    zd_msg m;

    zd_msg_chunk c = {.node = 4, .token = 99, .offset = 3ull << 20, .data = {mib, ZD_WIRE_CHUNK}};
    assert_int_equal(zd_wire_encode_chunk(b, &c), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_CHUNK);
    assert_int_equal(m.u.chunk.node, 4);
    assert_int_equal(m.u.chunk.token, 99);
    assert_true(m.u.chunk.offset == 3ull << 20);
    assert_int_equal(m.u.chunk.data.len, ZD_WIRE_CHUNK);
    c.data.len = ZD_WIRE_CHUNK + 1;
    assert_int_equal(zd_wire_encode_chunk(b, &c), ZDAG_EINVAL);
    c.data.len = 0;
    assert_int_equal(zd_wire_encode_chunk(b, &c), ZDAG_EINVAL);

    zd_msg_ack a = {.token = 99, .offset = 4ull << 20};
    assert_int_equal(zd_wire_encode_ack(b, &a), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_ACK);
    assert_int_equal(m.u.ack.token, 99);
    assert_true(m.u.ack.offset == 4ull << 20);

    zd_msg_fetch f = {.hash = hash, .offset = 1ull << 20};
    assert_int_equal(zd_wire_encode_fetch(b, &f), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_FETCH);
    assert_memory_equal(m.u.fetch.hash, hash, ZD_STORE_HASH);
    assert_true(m.u.fetch.offset == 1ull << 20);

    zd_msg_data dt = {.hash = hash, .offset = 1ull << 20, .data = {mib, 12345}};
    assert_int_equal(zd_wire_encode_data(b, &dt), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_DATA);
    assert_int_equal(m.u.data.data.len, 12345);
    assert_memory_equal(m.u.data.hash, hash, ZD_STORE_HASH);
    dt.data = (zd_bytes){NULL, 0}; /* not available */
    assert_int_equal(zd_wire_encode_data(b, &dt), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_null(m.u.data.data.ptr);
    free(mib);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

/* Packs a frame by hand: the fields a hostile peer chooses. */
static int decode_packed(zd_wire_decoder *d, const msgpack_sbuffer *sb) {
    zd_msg m;
    return zd_wire_decode(d, sb->data, sb->size, &m);
}

static void pack_bin(msgpack_packer *pk, const void *p, size_t n) {
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

/* The new messages' fields are each checked: a hash of the wrong length, a chunk of 0 bytes or
 * over 1 MiB, DATA over 1 MiB, offsets past the largest limit, a stored result of 4096 bytes or
 * with inline bytes too, inline bytes that do not match their size. */
static void test_hostile_result_frames(void **state) {
    (void)state;
    zd_wire_decoder *d = zd_wire_decoder_new();
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint8_t hash[33] = {0};
    char *big = calloc(1, ZD_WIRE_CHUNK + 1);

    /* FETCH with a 31- and a 33-byte hash, and a good one. */
    for (size_t n = 31; n <= 33; n++) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, ZD_MSG_FETCH);
        pack_bin(&pk, hash, n);
        msgpack_pack_uint64(&pk, 0);
        assert_int_equal(decode_packed(d, &sb), n == 32 ? 0 : ZDAG_EPROTO);
    }
    /* FETCH past the largest result. */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, ZD_MSG_FETCH);
    pack_bin(&pk, hash, 32);
    msgpack_pack_uint64(&pk, ZD_RESULT_LIMIT_MAX + 1);
    assert_int_equal(decode_packed(d, &sb), ZDAG_EPROTO);
    /* CHUNK of 0 bytes, of 1 MiB + 1, with token 0, with a nil body. */
    size_t sizes[] = {0, ZD_WIRE_CHUNK + 1, 1, 1};
    uint64_t tokens[] = {5, 5, 0, 5};
    for (int i = 0; i < 4; i++) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, ZD_MSG_CHUNK);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_uint64(&pk, tokens[i]);
        msgpack_pack_uint64(&pk, 0);
        if (i == 3)
            msgpack_pack_nil(&pk);
        else
            pack_bin(&pk, big, sizes[i]);
        assert_int_equal(decode_packed(d, &sb), ZDAG_EPROTO);
    }
    /* DATA of 1 MiB + 1. */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, ZD_MSG_DATA);
    pack_bin(&pk, hash, 32);
    msgpack_pack_uint64(&pk, 0);
    pack_bin(&pk, big, ZD_WIRE_CHUNK + 1);
    assert_int_equal(decode_packed(d, &sb), ZDAG_EPROTO);
    /* ACK with a string offset; ACK of 4 fields. */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, ZD_MSG_ACK);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "0", 1);
    assert_int_equal(decode_packed(d, &sb), ZDAG_EPROTO);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, ZD_MSG_ACK);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, 1);
    assert_int_equal(decode_packed(d, &sb), ZDAG_EPROTO);

    /* RESULTs: (size, hash, bytes) combinations. */
    struct {
        uint64_t size;
        bool hash;
        size_t bytes; /* SIZE_MAX: nil */
        int want;
    } forms[] = {
        {5, false, 5, 0},
        {ZD_RESULT_INLINE_MAX, false, ZD_RESULT_INLINE_MAX, 0},
        {ZD_RESULT_INLINE_MAX + 1, false, ZD_RESULT_INLINE_MAX + 1, ZDAG_EPROTO},
        {6, false, 5, ZDAG_EPROTO},
        {5, false, SIZE_MAX, ZDAG_EPROTO},
        {ZD_RESULT_INLINE_MAX + 1, true, SIZE_MAX, 0},
        {ZD_RESULT_INLINE_MAX, true, SIZE_MAX, ZDAG_EPROTO},
        {ZD_RESULT_INLINE_MAX + 1, true, 3, ZDAG_EPROTO},
        {ZD_RESULT_LIMIT_MAX + 1, true, SIZE_MAX, ZDAG_EPROTO},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_array(&pk, 11);
        msgpack_pack_uint64(&pk, ZD_MSG_RESULT);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_uint64(&pk, 2);
        msgpack_pack_true(&pk);
        msgpack_pack_int64(&pk, 0);
        msgpack_pack_int64(&pk, 0);
        msgpack_pack_nil(&pk);
        if (forms[i].bytes == SIZE_MAX)
            msgpack_pack_nil(&pk);
        else
            pack_bin(&pk, big, forms[i].bytes);
        msgpack_pack_nil(&pk);
        msgpack_pack_uint64(&pk, forms[i].size);
        if (forms[i].hash)
            pack_bin(&pk, hash, 32);
        else
            msgpack_pack_nil(&pk);
        assert_int_equal(decode_packed(d, &sb), forms[i].want);
    }
    msgpack_sbuffer_destroy(&sb);
    free(big);
    zd_wire_decoder_free(&d);
}

/* STATUS and STATUS_REPLY round trip; a STATUS with a field or a reply without text is refused. */
static void test_status_messages(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    assert_int_equal(zd_wire_encode_status(b), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_STATUS);
    assert_int_equal(zd_wire_encode_status_reply(b, (zd_bytes){"{\"a\": 1}", 8}), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_STATUS_REPLY);
    assert_int_equal(m.u.status_reply.len, 8);
    assert_memory_equal(m.u.status_reply.ptr, "{\"a\": 1}", 8);
    const char extra[] = {(char)0x92, 17, 1}, bare[] = {(char)0x91, 18};
    assert_int_equal(zd_wire_decode(d, extra, sizeof extra, &m), ZDAG_EPROTO);
    assert_string_equal(zd_wire_decoder_error(d), "STATUS has the wrong number of fields");
    assert_int_equal(zd_wire_decode(d, bare, sizeof bare, &m), ZDAG_EPROTO);
    zd_wire_decoder_free(&d);
    zd_wire_buf_free(&b);
}

/* JOIN carries an allocation (protocol 7: a JOIN of 7 fields is refused); LEAVE a reason. */
static void test_join_allocation_and_leave(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    zd_msg_join j = {.version = ZD_WIRE_VERSION,
                     .host = B("node7"),
                     .slots = 2,
                     .cpus = 2,
                     .pid = 99,
                     .allocation = B("1234")};
    assert_int_equal(zd_wire_encode_join(b, &j), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_JOIN);
    assert_true(eq(m.u.join.host, "node7") && eq(m.u.join.allocation, "1234"));
    j.allocation = (zd_bytes){NULL, 0};
    assert_int_equal(zd_wire_encode_join(b, &j), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.u.join.allocation.len, 0);
    /* [5, 6, "h", 1, 1, [], 7]: a protocol-6 agent's JOIN, without an allocation */
    const char seven[] = {(char)0x97, 5, 6, (char)0xa1, 'h', 1, 1, (char)0x90, 7};
    assert_int_equal(zd_wire_decode(d, seven, sizeof seven, &m), ZDAG_EPROTO);
    assert_string_equal(zd_wire_decoder_error(d), "JOIN has the wrong number of fields");
    char big[200];
    memset(big, 'x', sizeof big);
    j.allocation = (zd_bytes){big, ZD_WIRE_MAX_ALLOCATION + 1};
    assert_int_equal(zd_wire_encode_join(b, &j), ZDAG_EINVAL);
    assert_int_equal(zd_wire_encode_leave(b, ZD_LEAVE_STOPPED), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_LEAVE);
    assert_int_equal(m.u.leave, ZD_LEAVE_STOPPED);
    const char unknown[] = {(char)0x92, 19, 2}, extra[] = {(char)0x93, 19, 0, 1};
    assert_int_equal(zd_wire_decode(d, unknown, sizeof unknown, &m), ZDAG_EPROTO);
    assert_int_equal(zd_wire_decode(d, extra, sizeof extra, &m), ZDAG_EPROTO);
    assert_string_equal(zd_wire_decoder_error(d), "LEAVE has the wrong number of fields");
    zd_wire_decoder_free(&d);
    zd_wire_buf_free(&b);
}

/* DROP and DROPPED round trip; zd_wire_peek reads a frame's type and first two fields. */
static void test_drop_and_peek(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    assert_int_equal(zd_wire_encode_drop(b, 0x1122334455667788ull), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_DROP);
    assert_true(m.u.drop.token == 0x1122334455667788ull);
    zd_msg_dropped dd = {.node = 70000, .token = 5};
    assert_int_equal(zd_wire_encode_dropped(b, &dd), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_DROPPED);
    assert_int_equal(m.u.dropped.node, 70000);
    assert_int_equal(m.u.dropped.token, 5);
    uint32_t type;
    uint64_t f1, f2;
    assert_true(zd_wire_peek(zd_wire_buf_data(b), zd_wire_buf_size(b), &type, &f1, &f2));
    assert_int_equal(type, ZD_MSG_DROPPED);
    assert_int_equal(f1, 70000);
    assert_int_equal(f2, 5);
    zd_msg_task t = {.node = 3,
                     .token = UINT64_MAX,
                     .name = B("n"),
                     .run_id = B("r"),
                     .cmd = B("true"),
                     .max_result = 1};
    assert_int_equal(zd_wire_encode_task(b, &t), 0);
    assert_true(zd_wire_peek(zd_wire_buf_data(b), zd_wire_buf_size(b), &type, &f1, &f2));
    assert_int_equal(type, ZD_MSG_TASK);
    assert_int_equal(f1, 3);
    assert_true(f2 == UINT64_MAX);
    assert_false(zd_wire_peek("\xc0\x01", 2, &type, &f1, &f2)); /* not an array */
    assert_false(zd_wire_peek("\x91", 1, &type, &f1, &f2));     /* cut short */
    const char bad[] = {(char)0x92, 0x0e, (char)0xa1, 'x'};     /* a string where a token goes */
    assert_true(zd_wire_peek(bad, sizeof bad, &type, &f1, &f2));
    assert_int_equal(f1, 0);
    assert_int_equal(zd_wire_decode(d, bad, sizeof bad, &m), ZDAG_EPROTO);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

/* LOST carries the token of the last task the executor started; the protocol 4 form (without
 * it) is refused. */
static void test_lost_round_trip(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_msg m;
    zd_msg_lost l = {
        .agent = 3, .slot = 1, .how = B("signal 9"), .pid = 4321, .started = UINT64_MAX - 1};
    assert_int_equal(zd_wire_encode_lost(b, &l), 0);
    assert_int_equal(zd_wire_decode(d, zd_wire_buf_data(b), zd_wire_buf_size(b), &m), 0);
    assert_int_equal(m.type, ZD_MSG_LOST);
    assert_int_equal(m.u.lost.agent, 3);
    assert_int_equal(m.u.lost.slot, 1);
    assert_int_equal(m.u.lost.pid, 4321);
    assert_true(m.u.lost.started == UINT64_MAX - 1);
    assert_memory_equal(m.u.lost.how.ptr, "signal 9", 8);
    const char old[] = "\x95\x08\x03\x01\xa8signal 9\xcd\x10\xe1";
    assert_int_equal(zd_wire_decode(d, old, sizeof old - 1, &m), ZDAG_EPROTO);
    assert_non_null(strstr(zd_wire_decoder_error(d), "LOST has the wrong number of fields"));
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

/* A BATCH holds whole messages in order; one message goes alone; a malformed or nested BATCH
 * is refused where it goes wrong. */
static void test_batch(void **state) {
    (void)state;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_batch *x = zd_wire_batch_new();
    zd_wire_decoder *d = zd_wire_decoder_new();
    zd_wire_batch_iter it;
    const void *one;
    size_t len, flen;
    zd_msg m;
    assert_int_equal(zd_wire_encode_drop(b, 7), 0);
    assert_int_equal(zd_wire_batch_add(x, b), 0);
    const char *frame = zd_wire_batch_frame(x, &flen);
    assert_int_equal(flen, zd_wire_buf_size(b)); /* alone: the message itself */
    assert_memory_equal(frame, zd_wire_buf_data(b), flen);
    assert_false(zd_wire_batch_open(&it, frame, flen));
    for (uint64_t tok = 8; tok < 300; tok++) {
        assert_int_equal(zd_wire_encode_drop(b, tok), 0);
        assert_int_equal(zd_wire_batch_add(x, b), 0);
    }
    assert_int_equal(zd_wire_batch_count(x), 293);
    frame = zd_wire_batch_frame(x, &flen);
    assert_true(zd_wire_well_formed(frame, flen, 2));
    assert_true(zd_wire_batch_open(&it, frame, flen));
    uint64_t want = 7;
    while (zd_wire_batch_next(&it, &one, &len) == 1) {
        assert_int_equal(zd_wire_decode(d, one, len, &m), 0);
        assert_int_equal(m.type, ZD_MSG_DROP);
        assert_int_equal(m.u.drop.token, want++);
    }
    assert_int_equal(want, 300);
    assert_int_equal(zd_wire_batch_next(&it, &one, &len), 0);
    /* Cut short, trailing bytes, a count larger than what is there. */
    assert_true(zd_wire_batch_open(&it, frame, flen - 1));
    int got;
    while ((got = zd_wire_batch_next(&it, &one, &len)) == 1)
        ;
    assert_int_equal(got, ZDAG_EPROTO);
    char *more = malloc(flen + 1);
    memcpy(more, frame, flen);
    more[flen] = 0x01;
    assert_true(zd_wire_batch_open(&it, more, flen + 1));
    while ((got = zd_wire_batch_next(&it, &one, &len)) == 1)
        ;
    assert_int_equal(got, ZDAG_EPROTO);
    free(more);
    /* A BATCH inside a BATCH. */
    const char nested[] = {(char)0x92, 0x10, (char)0xc4, 3, (char)0x92, 0x10, 0x00};
    assert_true(zd_wire_batch_open(&it, nested, sizeof nested));
    assert_int_equal(zd_wire_batch_next(&it, &one, &len), ZDAG_EPROTO);
    /* Not a bin. */
    const char notbin[] = {(char)0x92, 0x10, 0x05};
    assert_true(zd_wire_batch_open(&it, notbin, sizeof notbin));
    assert_int_equal(zd_wire_batch_next(&it, &one, &len), ZDAG_EPROTO);
    assert_int_equal(zd_wire_decode(d, notbin, sizeof notbin, &m), ZDAG_EPROTO);
    zd_wire_batch_clear(x);
    assert_int_equal(zd_wire_batch_count(x), 0);
    zd_wire_batch_free(&x);
    zd_wire_buf_free(&b);
    zd_wire_decoder_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_round_trip),
        cmocka_unit_test(test_join_allocation_and_leave),
        cmocka_unit_test(test_task_round_trip),
        cmocka_unit_test(test_result_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_stored_result_round_trip),
        cmocka_unit_test(test_chunk_ack_fetch_data_round_trip),
        cmocka_unit_test(test_hostile_result_frames),
        cmocka_unit_test(test_drop_and_peek),
        cmocka_unit_test(test_status_messages),
        cmocka_unit_test(test_lost_round_trip),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
