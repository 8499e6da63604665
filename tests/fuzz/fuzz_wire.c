/* libFuzzer harness for the wire decoder: arbitrary bytes into zd_wire_decode().
 *
 * Every frame the decoder accepts is encoded again with the matching zd_wire_encode_*() and
 * decoded by a second decoder: both decodes must agree field by field, and encoding the second
 * decode must give the same bytes as the first encoding (the encoder is canonical even when the
 * input used longer msgpack forms). zd_wire_well_formed() is also run on the raw bytes at a few
 * depths, and must accept every frame that the decoder accepted. Any disagreement aborts, which
 * libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_wire: %s\n", what);
    abort();
}

static void check(bool ok, const char *what) {
    if (!ok)
        fail(what);
}

static bool same_bytes(zd_bytes a, zd_bytes b) {
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool same_hash(const uint8_t *a, const uint8_t *b) {
    if (!a || !b)
        return !a && !b;
    return memcmp(a, b, ZD_STORE_HASH) == 0;
}

static bool same_list(const zd_bytes *a, uint32_t na, const zd_bytes *b, uint32_t nb) {
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!same_bytes(a[i], b[i]))
            return false;
    return true;
}

static bool same_task(const zd_msg_task *a, const zd_msg_task *b) {
    if (a->node != b->node || a->token != b->token || a->attempt != b->attempt ||
        a->kind != b->kind || a->timeout_ms != b->timeout_ms || a->n_deps != b->n_deps ||
        !same_bytes(a->name, b->name) || !same_bytes(a->run_id, b->run_id) ||
        !same_bytes(a->args, b->args) || !same_bytes(a->workdir, b->workdir) ||
        !same_bytes(a->log_path, b->log_path) || !same_list(a->env, a->n_env, b->env, b->n_env) ||
        a->max_result != b->max_result || !same_bytes(a->store_dir, b->store_dir) ||
        a->after != b->after)
        return false;
    if (a->kind == 1 ? !same_list(a->argv, a->argc, b->argv, b->argc) : !same_bytes(a->cmd, b->cmd))
        return false;
    for (uint32_t i = 0; i < a->n_deps; i++)
        if (!same_bytes(a->deps[i].name, b->deps[i].name) ||
            a->deps[i].format != b->deps[i].format ||
            !same_bytes(a->deps[i].data, b->deps[i].data) || a->deps[i].size != b->deps[i].size ||
            !same_hash(a->deps[i].hash, b->deps[i].hash))
            return false;
    return true;
}

static bool same_join(const zd_msg_join *a, const zd_msg_join *b) {
    if (a->version != b->version || !same_bytes(a->host, b->host) || a->slots != b->slots ||
        a->cpus != b->cpus || a->n_res != b->n_res || a->pid != b->pid ||
        a->allocation.len != b->allocation.len ||
        (a->allocation.len && memcmp(a->allocation.ptr, b->allocation.ptr, a->allocation.len)))
        return false; /* (an absent allocation is re-encoded as "") */
    for (uint32_t i = 0; i < a->n_res; i++)
        if (!same_bytes(a->res_names[i], b->res_names[i]) || a->res_amounts[i] != b->res_amounts[i])
            return false;
    return true;
}

static bool same_msg(const zd_msg *a, const zd_msg *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case ZD_MSG_HELLO: {
        const zd_msg_hello *x = &a->u.hello, *y = &b->u.hello;
        return x->version == y->version && x->slot == y->slot && x->pid == y->pid &&
               same_bytes(x->host, y->host) && x->credit == y->credit && x->agent == y->agent &&
               x->secret == y->secret;
    }
    case ZD_MSG_TASK:
        return same_task(&a->u.task, &b->u.task);
    case ZD_MSG_RESULT: {
        const zd_msg_result *x = &a->u.result, *y = &b->u.result;
        return x->node == y->node && x->token == y->token && x->ok == y->ok &&
               x->exit_code == y->exit_code && x->signal == y->signal &&
               same_bytes(x->error, y->error) && same_bytes(x->output, y->output) &&
               same_bytes(x->log, y->log) && x->size == y->size && same_hash(x->hash, y->hash);
    }
    case ZD_MSG_CHUNK: {
        const zd_msg_chunk *x = &a->u.chunk, *y = &b->u.chunk;
        return x->node == y->node && x->token == y->token && x->offset == y->offset &&
               same_bytes(x->data, y->data);
    }
    case ZD_MSG_ACK:
        return a->u.ack.token == b->u.ack.token && a->u.ack.offset == b->u.ack.offset;
    case ZD_MSG_FETCH:
        return same_hash(a->u.fetch.hash, b->u.fetch.hash) &&
               a->u.fetch.offset == b->u.fetch.offset;
    case ZD_MSG_DATA:
        return same_hash(a->u.data.hash, b->u.data.hash) && a->u.data.offset == b->u.data.offset &&
               same_bytes(a->u.data.data, b->u.data.data);
    case ZD_MSG_JOIN:
        return same_join(&a->u.join, &b->u.join);
    case ZD_MSG_WELCOME: {
        const zd_msg_welcome *x = &a->u.welcome, *y = &b->u.welcome;
        return x->agent == y->agent && same_bytes(x->run_id, y->run_id) &&
               x->heartbeat_ms == y->heartbeat_ms &&
               same_list(x->plugins, x->n_plugins, y->plugins, y->n_plugins) &&
               x->secret == y->secret && x->fence_ms == y->fence_ms;
    }
    case ZD_MSG_CANCEL: {
        const zd_msg_cancel *x = &a->u.cancel, *y = &b->u.cancel;
        return x->slot == y->slot && x->token == y->token && same_bytes(x->why, y->why);
    }
    case ZD_MSG_BEAT:
        return a->u.beat.seq == b->u.beat.seq;
    case ZD_MSG_LOST: {
        const zd_msg_lost *x = &a->u.lost, *y = &b->u.lost;
        return x->agent == y->agent && x->slot == y->slot && same_bytes(x->how, y->how) &&
               x->pid == y->pid;
    }
    case ZD_MSG_BYE:
        return a->u.bye.reason == b->u.bye.reason;
    case ZD_MSG_DROP:
        return a->u.drop.token == b->u.drop.token;
    case ZD_MSG_DROPPED:
        return a->u.dropped.node == b->u.dropped.node && a->u.dropped.token == b->u.dropped.token;
    case ZD_MSG_STATUS:
        return true;
    case ZD_MSG_LEAVE:
        return a->u.leave == b->u.leave;
    case ZD_MSG_STATUS_REPLY:
        return same_bytes(a->u.status_reply, b->u.status_reply);
    case ZD_MSG_BATCH:
        return false; /* never decoded: read with zd_wire_batch_next() */
    }
    return false;
}

/* Encodes m into b with the encoder of its type. */
static int encode(zd_wire_buf *b, const zd_msg *m) {
    switch (m->type) {
    case ZD_MSG_HELLO:
        return zd_wire_encode_hello(b, &m->u.hello);
    case ZD_MSG_TASK:
        return zd_wire_encode_task(b, &m->u.task);
    case ZD_MSG_RESULT:
        return zd_wire_encode_result(b, &m->u.result);
    case ZD_MSG_BYE:
        return zd_wire_encode_bye(b, (zd_bye_reason)m->u.bye.reason);
    case ZD_MSG_JOIN:
        return zd_wire_encode_join(b, &m->u.join);
    case ZD_MSG_WELCOME:
        return zd_wire_encode_welcome(b, &m->u.welcome);
    case ZD_MSG_STATUS:
        return zd_wire_encode_status(b);
    case ZD_MSG_LEAVE:
        return zd_wire_encode_leave(b, (zd_leave_reason)m->u.leave);
    case ZD_MSG_STATUS_REPLY:
        return zd_wire_encode_status_reply(b, m->u.status_reply);
    case ZD_MSG_BEAT:
        return zd_wire_encode_beat(b, m->u.beat.seq);
    case ZD_MSG_CANCEL:
        return zd_wire_encode_cancel(b, &m->u.cancel);
    case ZD_MSG_LOST:
        return zd_wire_encode_lost(b, &m->u.lost);
    case ZD_MSG_CHUNK:
        return zd_wire_encode_chunk(b, &m->u.chunk);
    case ZD_MSG_ACK:
        return zd_wire_encode_ack(b, &m->u.ack);
    case ZD_MSG_FETCH:
        return zd_wire_encode_fetch(b, &m->u.fetch);
    case ZD_MSG_DATA:
        return zd_wire_encode_data(b, &m->u.data);
    case ZD_MSG_DROP:
        return zd_wire_encode_drop(b, m->u.drop.token);
    case ZD_MSG_DROPPED:
        return zd_wire_encode_dropped(b, &m->u.dropped);
    case ZD_MSG_BATCH:
        break;
    }
    return ZDAG_EINVAL;
}

/* Decoders and encoders live for the whole process, as they do in the coordinator: reuse
 * between frames (the zone, the scratch arrays) is part of what is tested. */
static zd_wire_decoder *dec1, *dec2;
static zd_wire_buf *enc1, *enc2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dec1) {
        dec1 = zd_wire_decoder_new();
        dec2 = zd_wire_decoder_new();
        enc1 = zd_wire_buf_new();
        enc2 = zd_wire_buf_new();
        check(dec1 && dec2 && enc1 && enc2, "out of memory at start");
    }
    bool formed[3] = {zd_wire_well_formed(data, size, 1), zd_wire_well_formed(data, size, 16),
                      zd_wire_well_formed(data, size, 64)};
    check(!formed[0] || formed[1], "well-formed at depth 1 but not 16");
    check(!formed[1] || formed[2], "well-formed at depth 16 but not 64");

    /* The head reader and the BATCH reader take any bytes; every message a BATCH yields lies
     * inside it and is decoded like a frame of its own. */
    uint32_t type;
    uint64_t f1, f2;
    (void)zd_wire_peek(data, size, &type, &f1, &f2);
    zd_wire_batch_iter it;
    if (zd_wire_batch_open(&it, data, size)) {
        const void *one;
        size_t len;
        zd_msg part;
        while (zd_wire_batch_next(&it, &one, &len) == 1) {
            check((const uint8_t *)one >= data && (const uint8_t *)one + len <= data + size,
                  "a batched message outside its frame");
            (void)zd_wire_decode(dec2, one, len, &part);
        }
    }

    zd_msg m1, m2;
    int rc = zd_wire_decode(dec1, data, size, &m1);
    check(rc == 0 || rc == ZDAG_EPROTO || rc == ZDAG_ENOMEM, "unexpected decode error code");
    if (rc != 0) {
        check(zd_wire_decoder_error(dec1)[0] != '\0', "a failed decode without a reason");
        return 0;
    }
    check(formed[1], "decoded a frame that is not well-formed at depth 16");

    /* Borrowed byte fields must be copyable. */
    if (m1.type == ZD_MSG_HELLO)
        free(zd_bytes_dup(m1.u.hello.host));
    else if (m1.type == ZD_MSG_LOST)
        free(zd_bytes_dup(m1.u.lost.how));

    rc = encode(enc1, &m1);
    if (rc == ZDAG_ENOMEM)
        return 0;
    check(rc == 0, "the encoder refused a message that the decoder accepted");
    const char *frame = zd_wire_buf_data(enc1);
    size_t frame_len = zd_wire_buf_size(enc1);
    rc = zd_wire_decode(dec2, frame, frame_len, &m2);
    if (rc != 0) {
        fprintf(stderr, "fuzz_wire: re-decode: %s\n", zd_wire_decoder_error(dec2));
        fail("the decoder refused the encoder's frame");
    }
    check(same_msg(&m1, &m2), "decode(encode(decode(x))) differs from decode(x)");
    check(encode(enc2, &m2) == 0, "second encode failed");
    check(zd_wire_buf_size(enc2) == frame_len &&
              memcmp(zd_wire_buf_data(enc2), frame, frame_len) == 0,
          "the encoder is not canonical");
    return 0;
}
