/* The wire protocol: msgpack encoding with msgpack-c, and a strict, bounded decoder. */
#include "wire.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

struct zd_wire_buf {
    msgpack_sbuffer sbuf; /* frame bytes */
    msgpack_packer pk;    /* writes into sbuf */
    int failed;           /* a write failed (out of memory) since the last reset */
};

struct zd_wire_decoder {
    msgpack_zone zone;   /* unpacked objects of the last frame */
    zd_bytes *strs;      /* scratch for argv and env */
    size_t cap_strs;     /* entries allocated in strs */
    zd_dep_result *deps; /* scratch for deps */
    size_t cap_deps;     /* entries allocated in deps */
    const char *error;   /* why the last decode failed */
};

zd_wire_buf *zd_wire_buf_new(void) {
    zd_wire_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    msgpack_sbuffer_init(&b->sbuf);
    msgpack_packer_init(&b->pk, &b->sbuf, msgpack_sbuffer_write);
    return b;
}

void zd_wire_buf_free(zd_wire_buf **b) {
    if (!b || !*b)
        return;
    msgpack_sbuffer_destroy(&(*b)->sbuf);
    free(*b);
    *b = NULL;
}

const char *zd_wire_buf_data(const zd_wire_buf *b) {
    return b->sbuf.data;
}

size_t zd_wire_buf_size(const zd_wire_buf *b) {
    return b->sbuf.size;
}

static void reset(zd_wire_buf *b) {
    msgpack_sbuffer_clear(&b->sbuf);
    b->failed = 0;
}

static void put_u64(zd_wire_buf *b, uint64_t v) {
    b->failed |= msgpack_pack_uint64(&b->pk, v);
}

static void put_i64(zd_wire_buf *b, int64_t v) {
    b->failed |= msgpack_pack_int64(&b->pk, v);
}

static void put_str(zd_wire_buf *b, zd_bytes s) {
    if (!s.ptr) {
        b->failed |= msgpack_pack_nil(&b->pk);
        return;
    }
    b->failed |= msgpack_pack_str(&b->pk, s.len);
    b->failed |= msgpack_pack_str_body(&b->pk, s.ptr, s.len);
}

static void put_bin(zd_wire_buf *b, zd_bytes s) {
    if (!s.ptr) {
        b->failed |= msgpack_pack_nil(&b->pk);
        return;
    }
    b->failed |= msgpack_pack_bin(&b->pk, s.len);
    b->failed |= msgpack_pack_bin_body(&b->pk, s.ptr, s.len);
}

/* A hash (ZD_STORE_HASH bytes) as a bin, or nil. */
static void put_hash(zd_wire_buf *b, const uint8_t *hash) {
    put_bin(b, (zd_bytes){(const char *)hash, hash ? ZD_STORE_HASH : 0});
}

static void put_array(zd_wire_buf *b, size_t n) {
    b->failed |= msgpack_pack_array(&b->pk, n);
}

static int finish(zd_wire_buf *b) {
    return b->failed ? ZDAG_ENOMEM : 0;
}

int zd_wire_encode_hello(zd_wire_buf *b, const zd_msg_hello *m) {
    reset(b);
    put_array(b, 8);
    put_u64(b, ZD_MSG_HELLO);
    put_u64(b, m->version);
    put_u64(b, m->slot);
    put_i64(b, m->pid);
    put_str(b, m->host);
    put_u64(b, m->credit);
    put_u64(b, m->agent);
    put_u64(b, m->secret);
    return finish(b);
}

int zd_wire_encode_task(zd_wire_buf *b, const zd_msg_task *m) {
    if (m->kind > 2 || (m->kind == 1 && m->argc == 0) || (m->kind != 1 && !m->cmd.ptr))
        return ZDAG_EINVAL;
    if (m->max_result == 0 || m->max_result > ZD_RESULT_LIMIT_MAX)
        return ZDAG_EINVAL;
    for (uint32_t i = 0; i < m->n_deps; i++)
        if (!m->deps[i].hash != !!m->deps[i].data.ptr ||
            (!m->deps[i].hash && m->deps[i].data.len != m->deps[i].size))
            return ZDAG_EINVAL;
    if (!(m->cpus >= 0 && m->cpus <= ZD_WIRE_MAX_CPUS))
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 18);
    put_u64(b, ZD_MSG_TASK);
    put_u64(b, m->node);
    put_u64(b, m->token);
    put_u64(b, m->attempt);
    put_str(b, m->name);
    put_str(b, m->run_id);
    put_u64(b, m->kind);
    if (m->kind == 1) {
        put_array(b, m->argc);
        for (uint32_t i = 0; i < m->argc; i++)
            put_str(b, m->argv[i]);
    } else {
        put_str(b, m->cmd);
    }
    put_bin(b, m->args);
    put_array(b, m->n_env);
    for (uint32_t i = 0; i < m->n_env; i++)
        put_str(b, m->env[i]);
    put_str(b, m->workdir);
    put_u64(b, m->timeout_ms);
    put_str(b, m->log_path);
    put_array(b, m->n_deps);
    for (uint32_t i = 0; i < m->n_deps; i++) {
        put_array(b, 5);
        put_str(b, m->deps[i].name);
        put_u64(b, m->deps[i].format);
        put_u64(b, m->deps[i].size);
        put_hash(b, m->deps[i].hash);
        put_bin(b, m->deps[i].data);
    }
    put_u64(b, m->max_result);
    put_str(b, m->store_dir);
    put_u64(b, m->after);
    b->failed |= msgpack_pack_double(&b->pk, m->cpus);
    return finish(b);
}

int zd_wire_encode_result(zd_wire_buf *b, const zd_msg_result *m) {
    if (m->hash ? m->size <= ZD_RESULT_INLINE_MAX || m->size > ZD_RESULT_LIMIT_MAX
                : m->output.len > ZD_RESULT_INLINE_MAX || m->output.len != m->size)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 11);
    put_u64(b, ZD_MSG_RESULT);
    put_u64(b, m->node);
    put_u64(b, m->token);
    b->failed |= m->ok ? msgpack_pack_true(&b->pk) : msgpack_pack_false(&b->pk);
    put_i64(b, m->exit_code);
    put_i64(b, m->signal);
    put_str(b, m->error);
    zd_bytes out = m->output;
    if (!out.ptr && !m->hash)
        out = (zd_bytes){"", 0};
    put_bin(b, m->hash ? (zd_bytes){NULL, 0} : out);
    put_bin(b, m->log);
    put_u64(b, m->size);
    put_hash(b, m->hash);
    return finish(b);
}

int zd_wire_encode_chunk(zd_wire_buf *b, const zd_msg_chunk *m) {
    if (!m->data.ptr || m->data.len == 0 || m->data.len > ZD_WIRE_CHUNK)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 5);
    put_u64(b, ZD_MSG_CHUNK);
    put_u64(b, m->node);
    put_u64(b, m->token);
    put_u64(b, m->offset);
    put_bin(b, m->data);
    return finish(b);
}

int zd_wire_encode_ack(zd_wire_buf *b, const zd_msg_ack *m) {
    reset(b);
    put_array(b, 3);
    put_u64(b, ZD_MSG_ACK);
    put_u64(b, m->token);
    put_u64(b, m->offset);
    return finish(b);
}

int zd_wire_encode_drop(zd_wire_buf *b, uint64_t token) {
    reset(b);
    put_array(b, 2);
    put_u64(b, ZD_MSG_DROP);
    put_u64(b, token);
    return finish(b);
}

int zd_wire_encode_dropped(zd_wire_buf *b, const zd_msg_dropped *m) {
    reset(b);
    put_array(b, 3);
    put_u64(b, ZD_MSG_DROPPED);
    put_u64(b, m->node);
    put_u64(b, m->token);
    return finish(b);
}

int zd_wire_encode_status(zd_wire_buf *b) {
    reset(b);
    put_array(b, 1);
    put_u64(b, ZD_MSG_STATUS);
    return finish(b);
}

int zd_wire_encode_status_reply(zd_wire_buf *b, zd_bytes text) {
    reset(b);
    put_array(b, 2);
    put_u64(b, ZD_MSG_STATUS_REPLY);
    put_str(b, text);
    return finish(b);
}

int zd_wire_encode_fetch(zd_wire_buf *b, const zd_msg_fetch *m) {
    if (!m->hash)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 3);
    put_u64(b, ZD_MSG_FETCH);
    put_hash(b, m->hash);
    put_u64(b, m->offset);
    return finish(b);
}

int zd_wire_encode_data(zd_wire_buf *b, const zd_msg_data *m) {
    if (!m->hash || m->data.len > ZD_WIRE_CHUNK)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 4);
    put_u64(b, ZD_MSG_DATA);
    put_hash(b, m->hash);
    put_u64(b, m->offset);
    put_bin(b, m->data);
    return finish(b);
}

int zd_wire_encode_bye(zd_wire_buf *b, zd_bye_reason reason) {
    reset(b);
    put_array(b, 2);
    put_u64(b, ZD_MSG_BYE);
    put_u64(b, reason);
    return finish(b);
}

int zd_wire_encode_beat(zd_wire_buf *b, uint64_t seq) {
    reset(b);
    put_array(b, 2);
    put_u64(b, ZD_MSG_BEAT);
    put_u64(b, seq);
    return finish(b);
}

int zd_wire_encode_cancel(zd_wire_buf *b, const zd_msg_cancel *m) {
    reset(b);
    put_array(b, 4);
    put_u64(b, ZD_MSG_CANCEL);
    put_u64(b, m->slot);
    put_u64(b, m->token);
    put_str(b, m->why);
    return finish(b);
}

int zd_wire_encode_join(zd_wire_buf *b, const zd_msg_join *m) {
    if (m->n_res > ZD_WIRE_MAX_RESOURCES)
        return ZDAG_EINVAL;
    if (m->allocation.len > ZD_WIRE_MAX_ALLOCATION)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 8);
    put_u64(b, ZD_MSG_JOIN);
    put_u64(b, m->version);
    put_str(b, m->host);
    put_u64(b, m->slots);
    b->failed |= msgpack_pack_double(&b->pk, m->cpus);
    put_array(b, m->n_res);
    for (uint32_t i = 0; i < m->n_res; i++) {
        put_array(b, 2);
        put_str(b, m->res_names[i]);
        b->failed |= msgpack_pack_double(&b->pk, m->res_amounts[i]);
    }
    put_i64(b, m->pid);
    put_str(b, m->allocation.ptr ? m->allocation : (zd_bytes){"", 0});
    return finish(b);
}

int zd_wire_encode_leave(zd_wire_buf *b, zd_leave_reason reason) {
    reset(b);
    put_array(b, 2);
    put_u64(b, ZD_MSG_LEAVE);
    put_u64(b, reason);
    return finish(b);
}

int zd_wire_encode_welcome(zd_wire_buf *b, const zd_msg_welcome *m) {
    if (m->n_plugins > ZD_WIRE_MAX_PLUGINS)
        return ZDAG_EINVAL;
    reset(b);
    put_array(b, 7);
    put_u64(b, ZD_MSG_WELCOME);
    put_u64(b, m->agent);
    put_str(b, m->run_id);
    put_u64(b, m->heartbeat_ms);
    put_array(b, m->n_plugins);
    for (uint32_t i = 0; i < m->n_plugins; i++)
        put_str(b, m->plugins[i]);
    put_u64(b, m->secret);
    put_u64(b, m->fence_ms);
    return finish(b);
}

int zd_wire_encode_lost(zd_wire_buf *b, const zd_msg_lost *m) {
    reset(b);
    put_array(b, 6);
    put_u64(b, ZD_MSG_LOST);
    put_u64(b, m->agent);
    put_u64(b, m->slot);
    put_str(b, m->how);
    put_i64(b, m->pid);
    put_u64(b, m->started);
    return finish(b);
}

/* Reads a big-endian unsigned integer of n bytes. */
static uint64_t be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Parses one object header at p[*off]: the bytes of payload that follow the header (`skip`)
 * and the number of child objects (`items`). Returns false on an invalid or truncated header. */
static bool header(const uint8_t *p, size_t len, size_t *off, uint64_t *skip, uint64_t *items) {
    static const uint8_t fixed[] = {
        /* 0xc0..0xdf: payload bytes after the type byte for fixed-size types, 0xff otherwise */
        0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 4,    8,    1,    2,    4,    8,
        1, 2,    4, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t t = p[(*off)++];
    *skip = 0;
    *items = 0;
    if (t <= 0x7f || t >= 0xe0)
        return true;
    if (t <= 0x8f) {
        *items = 2u * (t & 0x0f);
        return true;
    }
    if (t <= 0x9f) {
        *items = t & 0x0f;
        return true;
    }
    if (t <= 0xbf) {
        *skip = t & 0x1f;
        return true;
    }
    if (fixed[t - 0xc0] != 0xff) {
        *skip = fixed[t - 0xc0];
        return true;
    }
    size_t n; /* size of the length field */
    switch (t) {
    case 0xc4:
    case 0xd9:
        n = 1;
        break; /* bin8, str8 */
    case 0xc5:
    case 0xda:
    case 0xdc:
    case 0xde:
        n = 2;
        break;
    case 0xc6:
    case 0xdb:
    case 0xdd:
    case 0xdf:
        n = 4;
        break;
    default:
        return false; /* 0xc1 (never used) and ext types */
    }
    if (len - *off < n)
        return false;
    uint64_t v = be(p + *off, n);
    *off += n;
    if (t == 0xdc || t == 0xdd)
        *items = v;
    else if (t == 0xde || t == 0xdf)
        *items = 2 * v;
    else
        *skip = v;
    return true;
}

bool zd_wire_well_formed(const void *buf, size_t len, int max_depth) {
    const uint8_t *p = buf;
    uint64_t left[65]; /* objects still to read at each open container level */
    if (!buf || max_depth < 1 || max_depth > 64)
        return false;
    int depth = 0;
    left[0] = 1;
    size_t off = 0;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        if (off >= len)
            return false;
        left[depth]--;
        uint64_t skip, items;
        if (!header(p, len, &off, &skip, &items) || skip > len - off)
            return false;
        off += skip;
        if (items) {
            /* Every child takes at least one byte: a count beyond that is a lie. */
            if (items > len - off || depth + 1 >= max_depth)
                return false;
            left[++depth] = items;
        }
    }
    return off == len;
}

zd_wire_decoder *zd_wire_decoder_new(void) {
    zd_wire_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (!msgpack_zone_init(&d->zone, 4096)) {
        free(d);
        return NULL;
    }
    return d;
}

void zd_wire_decoder_free(zd_wire_decoder **dp) {
    if (!dp || !*dp)
        return;
    msgpack_zone_destroy(&(*dp)->zone);
    free((*dp)->strs);
    free((*dp)->deps);
    free(*dp);
    *dp = NULL;
}

const char *zd_wire_decoder_error(const zd_wire_decoder *d) {
    return d->error ? d->error : "no error";
}

char *zd_bytes_dup(zd_bytes b) {
    return b.ptr ? strndup(b.ptr, b.len) : NULL;
}

/* Field readers: each returns false (and names the problem) on a type or range mismatch. */
#define FAIL(d, why) ((d)->error = (why), false)

static bool get_uint(zd_wire_decoder *d, const msgpack_object *o, uint64_t max, uint64_t *v) {
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return FAIL(d, "expected an unsigned integer in range");
    *v = o->via.u64;
    return true;
}

static bool get_int(zd_wire_decoder *d, const msgpack_object *o, int64_t min, int64_t max,
                    int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)max)
        *v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= min)
        *v = o->via.i64;
    else
        return FAIL(d, "expected an integer in range");
    return *v >= min && *v <= max ? true : FAIL(d, "integer out of range");
}

static bool get_u32(zd_wire_decoder *d, const msgpack_object *o, uint32_t *v) {
    uint64_t x;
    if (!get_uint(d, o, UINT32_MAX, &x))
        return false;
    *v = (uint32_t)x;
    return true;
}

static bool get_str(zd_wire_decoder *d, const msgpack_object *o, bool nil_ok, zd_bytes *v) {
    if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
        *v = (zd_bytes){NULL, 0};
        return true;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return FAIL(d, "expected a string");
    /* An empty string still gets a non-NULL pointer so that it differs from nil. */
    *v = (zd_bytes){o->via.str.size ? o->via.str.ptr : "", o->via.str.size};
    return true;
}

static bool get_bin(zd_wire_decoder *d, const msgpack_object *o, bool nil_ok, zd_bytes *v) {
    if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
        *v = (zd_bytes){NULL, 0};
        return true;
    }
    if (o->type != MSGPACK_OBJECT_BIN)
        return FAIL(d, "expected binary data");
    *v = (zd_bytes){o->via.bin.size ? o->via.bin.ptr : "", o->via.bin.size};
    return true;
}

/* A ZD_STORE_HASH-byte bin (or nil when nil_ok: *v NULL). */
static bool get_hash(zd_wire_decoder *d, const msgpack_object *o, bool nil_ok, const uint8_t **v) {
    zd_bytes b;
    if (!get_bin(d, o, nil_ok, &b))
        return false;
    if (b.ptr && b.len != ZD_STORE_HASH)
        return FAIL(d, "a result hash must be 32 bytes");
    *v = (const uint8_t *)b.ptr;
    return true;
}

/* A result's size with its hash or its inline bytes: exactly one of them; inline bytes as many
 * as the size and at most ZD_RESULT_INLINE_MAX; a stored result larger than that. */
static bool check_result_form(zd_wire_decoder *d, uint64_t size, const uint8_t *hash,
                              zd_bytes data) {
    if (hash)
        return (!data.ptr || FAIL(d, "a stored result has inline bytes too")) &&
               (size > ZD_RESULT_INLINE_MAX || FAIL(d, "a stored result must be over 4096 bytes"));
    return (data.ptr || FAIL(d, "a result needs its hash or its bytes")) &&
           (data.len == size || FAIL(d, "a result's size does not match its bytes")) &&
           (size <= ZD_RESULT_INLINE_MAX || FAIL(d, "an inline result is over 4096 bytes"));
}

static bool get_array(zd_wire_decoder *d, const msgpack_object *o, const msgpack_object **items,
                      uint32_t *n) {
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return FAIL(d, "expected an array");
    *items = o->via.array.ptr;
    *n = o->via.array.size;
    return true;
}

static bool reserve_strs(zd_wire_decoder *d, size_t n) {
    if (n <= d->cap_strs)
        return true;
    zd_bytes *s = realloc(d->strs, n * sizeof *s);
    if (!s)
        return false;
    d->strs = s;
    d->cap_strs = n;
    return true;
}

static bool get_str_array(zd_wire_decoder *d, const msgpack_object *o, size_t at, zd_bytes **out,
                          uint32_t *n) {
    const msgpack_object *items;
    if (!get_array(d, o, &items, n))
        return false;
    if (!reserve_strs(d, at + *n))
        return FAIL(d, "out of memory");
    for (uint32_t i = 0; i < *n; i++)
        if (!get_str(d, &items[i], false, &d->strs[at + i]))
            return false;
    *out = d->strs ? d->strs + at : NULL; /* NULL + 0 is undefined in C */
    return true;
}

static bool decode_hello(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_hello *h = &m->u.hello;
    int64_t pid;
    if (n != 8)
        return FAIL(d, "HELLO has the wrong number of fields");
    return get_u32(d, &f[1], &h->version) && get_u32(d, &f[2], &h->slot) &&
           get_int(d, &f[3], 0, INT32_MAX, &pid) && (h->pid = pid, true) &&
           get_str(d, &f[4], false, &h->host) && get_u32(d, &f[5], &h->credit) &&
           get_u32(d, &f[6], &h->agent) && get_uint(d, &f[7], UINT64_MAX, &h->secret) &&
           (h->credit >= 1 || FAIL(d, "HELLO credit must be at least 1"));
}

static bool decode_deps(zd_wire_decoder *d, const msgpack_object *o, zd_msg_task *t) {
    const msgpack_object *items;
    if (!get_array(d, o, &items, &t->n_deps))
        return false;
    if (t->n_deps > d->cap_deps) {
        zd_dep_result *deps = realloc(d->deps, t->n_deps * sizeof *deps);
        if (!deps)
            return FAIL(d, "out of memory");
        d->deps = deps;
        d->cap_deps = t->n_deps;
    }
    t->deps = d->deps;
    for (uint32_t i = 0; i < t->n_deps; i++) {
        const msgpack_object *f;
        uint32_t five;
        zd_dep_result *r = &t->deps[i];
        if (!get_array(d, &items[i], &f, &five))
            return false;
        if (five != 5)
            return FAIL(d, "a dependency must be [name, format, size, hash, bytes]");
        if (!get_str(d, &f[0], false, &r->name) || !get_u32(d, &f[1], &r->format) ||
            !get_uint(d, &f[2], ZD_RESULT_LIMIT_MAX, &r->size) ||
            !get_hash(d, &f[3], true, &r->hash) || !get_bin(d, &f[4], true, &r->data) ||
            !check_result_form(d, r->size, r->hash, r->data))
            return false;
        if (r->format > ZD_FORMAT_MSGPACK)
            return FAIL(d, "a dependency has an unknown format");
    }
    return true;
}

static bool get_amount(zd_wire_decoder *d, const msgpack_object *o, double max, double *v) {
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        *v = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *v = (double)o->via.u64;
    else
        return FAIL(d, "expected a number");
    return (*v >= 0 && *v <= max) || FAIL(d, "number out of range");
}

static bool decode_task(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_task *t = &m->u.task;
    uint64_t timeout;
    memset(t, 0, sizeof *t);
    if (n != 18)
        return FAIL(d, "TASK has the wrong number of fields");
    if (!get_u32(d, &f[1], &t->node) || !get_uint(d, &f[2], UINT64_MAX, &t->token) ||
        !get_u32(d, &f[3], &t->attempt) || !get_str(d, &f[4], false, &t->name) ||
        !get_str(d, &f[5], false, &t->run_id) || !get_u32(d, &f[6], &t->kind))
        return false;
    if (t->kind > 2)
        return FAIL(d, "TASK has an unknown kind");
    if (t->kind == 1) {
        if (!get_str_array(d, &f[7], 0, &t->argv, &t->argc))
            return false;
        if (t->argc == 0)
            return FAIL(d, "TASK argv is empty");
    } else if (!get_str(d, &f[7], false, &t->cmd)) {
        return false;
    }
    /* argv and env share the scratch array: env goes after argv. */
    if (!get_bin(d, &f[8], true, &t->args) || !get_str_array(d, &f[9], t->argc, &t->env, &t->n_env))
        return false;
    if (t->kind == 1)
        t->argv = d->strs; /* the array may have moved when env grew it */
    if (!get_str(d, &f[10], true, &t->workdir) || !get_uint(d, &f[11], UINT64_MAX, &timeout) ||
        !get_str(d, &f[12], true, &t->log_path) || !decode_deps(d, &f[13], t) ||
        !get_uint(d, &f[14], ZD_RESULT_LIMIT_MAX, &t->max_result) ||
        !get_str(d, &f[15], true, &t->store_dir) || !get_uint(d, &f[16], UINT64_MAX, &t->after) ||
        !get_amount(d, &f[17], ZD_WIRE_MAX_CPUS, &t->cpus))
        return false;
    t->timeout_ms = timeout;
    if (t->max_result == 0)
        return FAIL(d, "TASK max_result must be at least 1");
    if (t->store_dir.ptr && (t->store_dir.len == 0 || t->store_dir.len > 3000))
        return FAIL(d, "TASK store_dir must be 1 to 3000 bytes");
    if (t->attempt == 0)
        return FAIL(d, "TASK attempt must be at least 1");
    return true;
}

static bool decode_result(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_result *r = &m->u.result;
    int64_t code, sig;
    memset(r, 0, sizeof *r);
    if (n != 11)
        return FAIL(d, "RESULT has the wrong number of fields");
    if (f[3].type != MSGPACK_OBJECT_BOOLEAN)
        return FAIL(d, "RESULT ok must be a boolean");
    r->ok = f[3].via.boolean;
    if (!get_u32(d, &f[1], &r->node) || !get_uint(d, &f[2], UINT64_MAX, &r->token) ||
        !get_int(d, &f[4], INT32_MIN, INT32_MAX, &code) || !get_int(d, &f[5], 0, 128, &sig) ||
        !get_str(d, &f[6], true, &r->error) || !get_bin(d, &f[7], true, &r->output) ||
        !get_bin(d, &f[8], true, &r->log) || !get_uint(d, &f[9], ZD_RESULT_LIMIT_MAX, &r->size) ||
        !get_hash(d, &f[10], true, &r->hash) || !check_result_form(d, r->size, r->hash, r->output))
        return false;
    r->exit_code = (int32_t)code;
    r->signal = (int32_t)sig;
    return true;
}

/* A finite number in [0, max]. */
static bool decode_join(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_join *j = &m->u.join;
    const msgpack_object *res;
    memset(j, 0, sizeof *j);
    if (n != 8)
        return FAIL(d, "JOIN has the wrong number of fields");
    if (!get_u32(d, &f[1], &j->version) || !get_str(d, &f[2], false, &j->host) ||
        !get_u32(d, &f[3], &j->slots) || !get_amount(d, &f[4], 1e9, &j->cpus) ||
        !get_array(d, &f[5], &res, &j->n_res) || !get_int(d, &f[6], 0, INT32_MAX, &j->pid) ||
        !get_str(d, &f[7], false, &j->allocation))
        return false;
    if (j->allocation.len > ZD_WIRE_MAX_ALLOCATION)
        return FAIL(d, "JOIN allocation is over 127 bytes");
    if (j->slots < 1 || j->slots > 4096)
        return FAIL(d, "JOIN slots must be from 1 to 4096");
    if (j->host.len == 0 || j->host.len > 255)
        return FAIL(d, "JOIN host id must be 1 to 255 bytes");
    if (j->n_res > ZD_WIRE_MAX_RESOURCES)
        return FAIL(d, "JOIN announces too many resources");
    for (uint32_t i = 0; i < j->n_res; i++) {
        const msgpack_object *pair;
        uint32_t two;
        if (!get_array(d, &res[i], &pair, &two))
            return false;
        if (two != 2)
            return FAIL(d, "a resource must be [name, amount]");
        if (!get_str(d, &pair[0], false, &j->res_names[i]) ||
            !get_amount(d, &pair[1], 1e15, &j->res_amounts[i]))
            return false;
    }
    return true;
}

static bool decode_welcome(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_welcome *w = &m->u.welcome;
    memset(w, 0, sizeof *w);
    if (n != 7)
        return FAIL(d, "WELCOME has the wrong number of fields");
    return get_u32(d, &f[1], &w->agent) && get_str(d, &f[2], false, &w->run_id) &&
           get_u32(d, &f[3], &w->heartbeat_ms) &&
           get_str_array(d, &f[4], 0, &w->plugins, &w->n_plugins) &&
           get_uint(d, &f[5], UINT64_MAX, &w->secret) && get_u32(d, &f[6], &w->fence_ms) &&
           (w->fence_ms >= w->heartbeat_ms || FAIL(d, "WELCOME fence below one heartbeat")) &&
           (w->n_plugins <= ZD_WIRE_MAX_PLUGINS || FAIL(d, "WELCOME lists too many plugins")) &&
           (w->heartbeat_ms >= 10 || FAIL(d, "WELCOME heartbeat below 10 ms"));
}

static bool decode_lost(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_lost *l = &m->u.lost;
    if (n != 6)
        return FAIL(d, "LOST has the wrong number of fields");
    return get_u32(d, &f[1], &l->agent) && get_u32(d, &f[2], &l->slot) &&
           get_str(d, &f[3], false, &l->how) && get_int(d, &f[4], 0, INT32_MAX, &l->pid) &&
           get_uint(d, &f[5], UINT64_MAX, &l->started);
}

static bool decode_cancel(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_cancel *c = &m->u.cancel;
    if (n != 4)
        return FAIL(d, "CANCEL has the wrong number of fields");
    return get_u32(d, &f[1], &c->slot) && get_uint(d, &f[2], UINT64_MAX, &c->token) &&
           get_str(d, &f[3], false, &c->why);
}

static bool decode_chunk(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_chunk *c = &m->u.chunk;
    if (n != 5)
        return FAIL(d, "CHUNK has the wrong number of fields");
    return get_u32(d, &f[1], &c->node) && get_uint(d, &f[2], UINT64_MAX, &c->token) &&
           get_uint(d, &f[3], ZD_RESULT_LIMIT_MAX, &c->offset) &&
           get_bin(d, &f[4], false, &c->data) &&
           ((c->data.len >= 1 && c->data.len <= ZD_WIRE_CHUNK) ||
            FAIL(d, "CHUNK must carry 1 byte to 1 MiB")) &&
           (c->token != 0 || FAIL(d, "CHUNK token must not be 0"));
}

static bool decode_ack(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_ack *a = &m->u.ack;
    if (n != 3)
        return FAIL(d, "ACK has the wrong number of fields");
    return get_uint(d, &f[1], UINT64_MAX, &a->token) &&
           get_uint(d, &f[2], ZD_RESULT_LIMIT_MAX, &a->offset);
}

static bool decode_fetch(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_fetch *q = &m->u.fetch;
    if (n != 3)
        return FAIL(d, "FETCH has the wrong number of fields");
    return get_hash(d, &f[1], false, &q->hash) &&
           get_uint(d, &f[2], ZD_RESULT_LIMIT_MAX, &q->offset);
}

static bool decode_data(zd_wire_decoder *d, const msgpack_object *f, uint32_t n, zd_msg *m) {
    zd_msg_data *a = &m->u.data;
    if (n != 4)
        return FAIL(d, "DATA has the wrong number of fields");
    return get_hash(d, &f[1], false, &a->hash) &&
           get_uint(d, &f[2], ZD_RESULT_LIMIT_MAX, &a->offset) &&
           get_bin(d, &f[3], true, &a->data) &&
           (a->data.len <= ZD_WIRE_CHUNK || FAIL(d, "DATA carries more than 1 MiB"));
}

int zd_wire_decode(zd_wire_decoder *d, const void *buf, size_t len, zd_msg *out) {
    d->error = NULL;
    msgpack_zone_clear(&d->zone);
    /* args travel as an opaque bin, so the frame itself never nests deeply. */
    if (!zd_wire_well_formed(buf, len, ZD_WIRE_MAX_DEPTH)) {
        d->error = "not one well-formed msgpack value";
        return ZDAG_EPROTO;
    }
    msgpack_object root;
    size_t off = 0;
    if (msgpack_unpack(buf, len, &off, &d->zone, &root) != MSGPACK_UNPACK_SUCCESS) {
        d->error = "msgpack could not unpack the frame";
        return ZDAG_EPROTO;
    }
    const msgpack_object *f = NULL;
    uint32_t n = 0;
    uint64_t type = 0;
    if (!get_array(d, &root, &f, &n) || n < 1 || !get_uint(d, &f[0], 255, &type)) {
        if (!d->error || n < 1)
            d->error = "a message is an array starting with its type";
        return ZDAG_EPROTO;
    }
    bool ok;
    switch (type) {
    case ZD_MSG_HELLO:
        ok = decode_hello(d, f, n, out);
        break;
    case ZD_MSG_TASK:
        ok = decode_task(d, f, n, out);
        break;
    case ZD_MSG_RESULT:
        ok = decode_result(d, f, n, out);
        break;
    case ZD_MSG_BYE:
        ok = (n == 2 || FAIL(d, "BYE has the wrong number of fields")) &&
             get_u32(d, &f[1], &out->u.bye.reason) &&
             (out->u.bye.reason <= ZD_BYE_EVICTED || FAIL(d, "BYE reason unknown"));
        break;
    case ZD_MSG_JOIN:
        ok = decode_join(d, f, n, out);
        break;
    case ZD_MSG_WELCOME:
        ok = decode_welcome(d, f, n, out);
        break;
    case ZD_MSG_BEAT:
        ok = (n == 2 || FAIL(d, "BEAT has the wrong number of fields")) &&
             get_uint(d, &f[1], UINT64_MAX, &out->u.beat.seq);
        break;
    case ZD_MSG_CANCEL:
        ok = decode_cancel(d, f, n, out);
        break;
    case ZD_MSG_LOST:
        ok = decode_lost(d, f, n, out);
        break;
    case ZD_MSG_CHUNK:
        ok = decode_chunk(d, f, n, out);
        break;
    case ZD_MSG_ACK:
        ok = decode_ack(d, f, n, out);
        break;
    case ZD_MSG_FETCH:
        ok = decode_fetch(d, f, n, out);
        break;
    case ZD_MSG_DATA:
        ok = decode_data(d, f, n, out);
        break;
    case ZD_MSG_DROP:
        ok = (n == 2 || FAIL(d, "DROP has the wrong number of fields")) &&
             get_uint(d, &f[1], UINT64_MAX, &out->u.drop.token);
        break;
    case ZD_MSG_DROPPED:
        ok = (n == 3 || FAIL(d, "DROPPED has the wrong number of fields")) &&
             get_u32(d, &f[1], &out->u.dropped.node) &&
             get_uint(d, &f[2], UINT64_MAX, &out->u.dropped.token);
        break;
    case ZD_MSG_STATUS:
        ok = n == 1 || FAIL(d, "STATUS has the wrong number of fields");
        break;
    case ZD_MSG_STATUS_REPLY:
        ok = (n == 2 || FAIL(d, "STATUS_REPLY has the wrong number of fields")) &&
             get_str(d, &f[1], false, &out->u.status_reply);
        break;
    case ZD_MSG_LEAVE:
        ok = (n == 2 || FAIL(d, "LEAVE has the wrong number of fields")) &&
             get_u32(d, &f[1], &out->u.leave) &&
             (out->u.leave <= ZD_LEAVE_STOPPED || FAIL(d, "LEAVE reason unknown"));
        break;
    default:
        ok = FAIL(d, "unknown message type");
        break;
    }
    if (!ok)
        return ZDAG_EPROTO;
    out->type = (zd_msg_type)type;
    return 0;
}

/* One msgpack unsigned integer at *p (positive fixint, uint 8/16/32/64); false otherwise. */
static bool peek_uint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
    if (*p >= end)
        return false;
    unsigned char c = *(*p)++;
    size_t n = c <= 0x7f ? 0 : c == 0xcc ? 1 : c == 0xcd ? 2 : c == 0xce ? 4 : c == 0xcf ? 8 : 9;
    if (n == 9 || (size_t)(end - *p) < n) {
        (*p)--;
        return false;
    }
    uint64_t x = n == 0 ? c : 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | *(*p)++;
    *v = x;
    return true;
}

bool zd_wire_peek(const void *buf, size_t len, uint32_t *type, uint64_t *f1, uint64_t *f2) {
    const unsigned char *p = buf, *end = p + len;
    *f1 = *f2 = 0;
    if (len < 2)
        return false;
    if ((*p & 0xf0) == 0x90)
        p += 1;
    else if (*p == 0xdc && len >= 3)
        p += 3;
    else if (*p == 0xdd && len >= 5)
        p += 5;
    else
        return false;
    uint64_t t;
    if (!peek_uint(&p, end, &t) || t > 255)
        return false;
    *type = (uint32_t)t;
    if (peek_uint(&p, end, f1))
        (void)peek_uint(&p, end, f2);
    return true;
}

/* ---- BATCH ---------------------------------------------------------------------------------- */

#define BATCH_HEAD 6 /* array32 header (5 bytes) and the type (1) */

struct zd_wire_batch {
    char *v;        /* the frame: BATCH_HEAD bytes, then one bin32 per message */
    size_t n, cap;  /* bytes used and room */
    uint32_t count; /* messages */
};

zd_wire_batch *zd_wire_batch_new(void) {
    zd_wire_batch *b = calloc(1, sizeof *b);
    if (b && !(b->v = malloc(b->cap = 4096))) {
        free(b);
        return NULL;
    }
    if (b)
        b->n = BATCH_HEAD;
    return b;
}

void zd_wire_batch_free(zd_wire_batch **b) {
    if (!b || !*b)
        return;
    free((*b)->v);
    free(*b);
    *b = NULL;
}

void zd_wire_batch_clear(zd_wire_batch *b) {
    b->n = BATCH_HEAD;
    b->count = 0;
}

static void put_be32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

int zd_wire_batch_add(zd_wire_batch *b, const zd_wire_buf *msg) {
    size_t len = zd_wire_buf_size(msg);
    if (len > UINT32_MAX || b->count == UINT32_MAX - 1)
        return ZDAG_EINVAL;
    if (b->n + 5 + len > b->cap) {
        size_t cap = b->cap;
        while (b->n + 5 + len > cap)
            cap *= 2;
        char *v = realloc(b->v, cap);
        if (!v)
            return ZDAG_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n] = (char)0xc6;
    put_be32(b->v + b->n + 1, (uint32_t)len);
    memcpy(b->v + b->n + 5, zd_wire_buf_data(msg), len);
    b->n += 5 + len;
    b->count++;
    return 0;
}

uint32_t zd_wire_batch_count(const zd_wire_batch *b) {
    return b->count;
}

size_t zd_wire_batch_size(const zd_wire_batch *b) {
    return b->n;
}

const char *zd_wire_batch_frame(zd_wire_batch *b, size_t *len) {
    if (b->count == 1) {
        *len = b->n - BATCH_HEAD - 5;
        return b->v + BATCH_HEAD + 5;
    }
    b->v[0] = (char)0xdd;
    put_be32(b->v + 1, b->count + 1);
    b->v[5] = ZD_MSG_BATCH;
    *len = b->n;
    return b->v;
}

bool zd_wire_batch_open(zd_wire_batch_iter *it, const void *frame, size_t len) {
    const unsigned char *p = frame, *end = p + len;
    size_t head = len < 1 ? 0 : (*p & 0xf0) == 0x90 ? 1 : *p == 0xdc ? 3 : *p == 0xdd ? 5 : 0;
    if (head == 0 || len < head + 1 || p[head] != ZD_MSG_BATCH)
        return false;
    uint64_t count = head == 1 ? (uint64_t)(*p & 0x0f) : be(p + 1, head - 1);
    if (count < 1)
        return false;
    *it = (zd_wire_batch_iter){.p = p + head + 1, .end = end, .left = (uint32_t)(count - 1)};
    return true;
}

int zd_wire_batch_next(zd_wire_batch_iter *it, const void **msg, size_t *len) {
    if (it->left == 0)
        return it->p == it->end ? 0 : ZDAG_EPROTO;
    size_t avail = (size_t)(it->end - it->p);
    size_t head = avail < 1 ? 0 : *it->p == 0xc4 ? 2 : *it->p == 0xc5 ? 3 : *it->p == 0xc6 ? 5 : 0;
    if (head == 0 || avail < head)
        return ZDAG_EPROTO;
    uint64_t n = be(it->p + 1, head - 1);
    if (n > avail - head)
        return ZDAG_EPROTO;
    const unsigned char *m = it->p + head;
    uint32_t type;
    uint64_t f1, f2;
    if (zd_wire_peek(m, (size_t)n, &type, &f1, &f2) && type == ZD_MSG_BATCH)
        return ZDAG_EPROTO;
    it->p = m + n;
    it->left--;
    *msg = m;
    *len = (size_t)n;
    return 1;
}
