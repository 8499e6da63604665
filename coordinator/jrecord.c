/* The journal's records: HEADER and NODE_DONE, packed and checked field by field. */
#include "jrecord.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "zdag.h"

#define REC_HEADER 1
#define REC_NODE_DONE 2
#define MAGIC "zdag-journal"
#define V1_FIELDS 10 /* NODE_DONE fields of format version 1 */
#define V2_FIELDS 13 /* NODE_DONE fields of format version 2 */
#define V3_FIELDS 14 /* NODE_DONE fields of format version 3 (inputs_hash added) */
#define INPUTS_TAG "zdag-inputs-1"
#define MAX_DURATION 1e9 /* seconds (~31 years): anything above is garbage */
#define MAX_TIME 1e11    /* Unix seconds (year ~5138): anything above is garbage */

struct zd_jrecord_decoder {
    msgpack_zone zone; /* unpacked objects of the current payload */
};

zd_jrecord_decoder *zd_jrecord_decoder_new(void) {
    zd_jrecord_decoder *dec = calloc(1, sizeof *dec);
    if (dec && !msgpack_zone_init(&dec->zone, 4096)) {
        free(dec);
        return NULL;
    }
    return dec;
}

void zd_jrecord_decoder_free(zd_jrecord_decoder **dec) {
    if (!dec || !*dec)
        return;
    msgpack_zone_destroy(&(*dec)->zone);
    free(*dec);
    *dec = NULL;
}

/* ---- Encoding ----------------------------------------------------------------------------- */

int zd_jrecord_pack_header(msgpack_sbuffer *sb, const char *pipeline, double created_at) {
    size_t len = strlen(pipeline);
    if (len > ZD_JOURNAL_MAX_PIPELINE)
        return ZDAG_EINVAL;
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int failed = msgpack_pack_array(&pk, 5);
    failed |= msgpack_pack_uint64(&pk, REC_HEADER);
    failed |= msgpack_pack_str_with_body(&pk, MAGIC, strlen(MAGIC));
    failed |= msgpack_pack_uint64(&pk, ZD_JOURNAL_VERSION);
    failed |= msgpack_pack_str_with_body(&pk, pipeline, len);
    failed |= msgpack_pack_double(&pk, created_at);
    return failed ? ZDAG_ENOMEM : 0;
}

const char *zd_jrecord_check(const zd_journal_rec *r) {
    size_t name_len = r->name ? strlen(r->name) : 0;
    if (name_len == 0 || name_len > ZD_JOURNAL_MAX_NAME)
        return "node name empty or over 1024 bytes";
    if (r->run_id && strlen(r->run_id) > ZD_JOURNAL_MAX_RUN_ID)
        return "run id over 256 bytes";
    if (!(r->duration_s >= 0 && r->duration_s <= MAX_DURATION))
        return "duration negative, not finite or over 1e9 s";
    if (!(r->finished_at >= 0 && r->finished_at <= MAX_TIME))
        return "finish time negative, not finite or absurd";
    if (r->status != ZD_JOURNAL_SUCCEEDED && r->status != ZD_JOURNAL_FAILED)
        return "unknown status";
    if (r->result_len > 0 && !r->result)
        return "result bytes missing";
    if (r->result_in_store && r->result_len > 0)
        return "a result both inline and in the store";
    return NULL;
}

int zd_jrecord_pack_node(msgpack_sbuffer *sb, const zd_journal_rec *r, const double *history,
                         size_t n) {
    const char *run_id = r->run_id ? r->run_id : "";
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int failed = msgpack_pack_array(&pk, V3_FIELDS);
    failed |= msgpack_pack_uint64(&pk, REC_NODE_DONE);
    failed |= msgpack_pack_str_with_body(&pk, r->name, strlen(r->name));
    failed |= msgpack_pack_bin_with_body(&pk, r->defhash, ZD_DEFHASH_SIZE);
    failed |= msgpack_pack_uint64(&pk, (uint64_t)r->status);
    failed |= msgpack_pack_bin_with_body(&pk, r->result ? r->result : "", r->result_len);
    failed |= r->result_is_msgpack ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    failed |= msgpack_pack_double(&pk, r->duration_s);
    failed |= msgpack_pack_uint64(&pk, r->attempts);
    failed |= msgpack_pack_str_with_body(&pk, run_id, strlen(run_id));
    failed |= msgpack_pack_double(&pk, r->finished_at);
    if (r->result_in_store)
        failed |= msgpack_pack_bin_with_body(&pk, r->result_hash, ZD_RESULT_HASH_SIZE);
    else
        failed |= msgpack_pack_nil(&pk);
    failed |= msgpack_pack_uint64(&pk, r->result_in_store ? r->result_size : r->result_len);
    if (n > ZD_JOURNAL_HISTORY - 1) {
        history += n - (ZD_JOURNAL_HISTORY - 1);
        n = ZD_JOURNAL_HISTORY - 1;
    }
    failed |= msgpack_pack_array(&pk, (uint32_t)n);
    /* float32: a median needs no more, and the history is most of a small record's bytes. */
    for (size_t i = 0; i < n; i++)
        failed |= msgpack_pack_float(&pk, (float)history[i]);
    if (r->has_inputs)
        failed |= msgpack_pack_bin_with_body(&pk, r->inputs_hash, ZD_INPUTS_HASH_SIZE);
    else
        failed |= msgpack_pack_nil(&pk);
    return failed ? ZDAG_ENOMEM : 0;
}

/* ---- Decoding ----------------------------------------------------------------------------- */

typedef struct checker {
    char *why;   /* receives what is wrong */
    size_t size; /* bytes at why */
} checker;

static const char *type_name(msgpack_object_type t) {
    switch (t) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_BIN:
        return "binary data";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    default:
        return "an extension";
    }
}

/* Field checks: each sets c->why and returns false on a mismatch. */
static bool want(checker *c, const msgpack_object *o, msgpack_object_type t, const char *field,
                 const char *what) {
    if (o->type == t || (t == MSGPACK_OBJECT_FLOAT64 && o->type == MSGPACK_OBJECT_FLOAT32))
        return true;
    snprintf(c->why, c->size, "%s must be %s, not %s", field, what, type_name(o->type));
    return false;
}

static bool want_uint(checker *c, const msgpack_object *o, const char *field, uint64_t max,
                      uint64_t *v) {
    if (!want(c, o, MSGPACK_OBJECT_POSITIVE_INTEGER, field, "an unsigned integer"))
        return false;
    if (o->via.u64 > max) {
        snprintf(c->why, c->size, "%s %" PRIu64 " is out of range (at most %" PRIu64 ")", field,
                 o->via.u64, max);
        return false;
    }
    *v = o->via.u64;
    return true;
}

static bool want_float(checker *c, const msgpack_object *o, const char *field, double max,
                       double *v) {
    if (!want(c, o, MSGPACK_OBJECT_FLOAT64, field, "a float"))
        return false;
    if (!(o->via.f64 >= 0 && o->via.f64 <= max)) {
        snprintf(c->why, c->size, "%s %g is out of range (0 to %g)", field, o->via.f64, max);
        return false;
    }
    *v = o->via.f64;
    return true;
}

static bool want_str(checker *c, const msgpack_object *o, const char *field, size_t max) {
    if (!want(c, o, MSGPACK_OBJECT_STR, field, "a string"))
        return false;
    if (o->via.str.size > max ||
        (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size))) {
        snprintf(c->why, c->size, "%s is longer than %zu bytes or holds a NUL", field, max);
        return false;
    }
    return true;
}

static bool want_hash(checker *c, const msgpack_object *o, const char *field) {
    if (!want(c, o, MSGPACK_OBJECT_BIN, field, "binary data"))
        return false;
    if (o->via.bin.size != 32) {
        snprintf(c->why, c->size, "%s must be 32 bytes", field);
        return false;
    }
    return true;
}

/* Unpacks a payload into a non-empty array (*f, *n). */
static bool unpack(zd_jrecord_decoder *dec, checker *c, const char *payload, size_t len,
                   const msgpack_object **f, uint32_t *n) {
    msgpack_object root;
    size_t pos = 0;
    msgpack_zone_clear(&dec->zone);
    if (!zd_wire_well_formed(payload, len, ZD_JOURNAL_MAX_DEPTH)) {
        snprintf(c->why, c->size, "not one well-formed msgpack value nested at most %d deep",
                 ZD_JOURNAL_MAX_DEPTH);
        return false;
    }
    if (msgpack_unpack(payload, len, &pos, &dec->zone, &root) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(c->why, c->size, "msgpack could not unpack it");
        return false;
    }
    if (!want(c, &root, MSGPACK_OBJECT_ARRAY, "a record", "an array"))
        return false;
    if (root.via.array.size == 0) {
        snprintf(c->why, c->size, "empty record array");
        return false;
    }
    *f = root.via.array.ptr;
    *n = root.via.array.size;
    return true;
}

int zd_jrecord_decode_header(zd_jrecord_decoder *dec, const char *payload, size_t len,
                             zd_jrecord *out, char *why, size_t why_size) {
    checker c = {why, why_size};
    const msgpack_object *f;
    uint32_t n;
    uint64_t type;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (!unpack(dec, &c, payload, len, &f, &n))
        return ZDAG_EPROTO;
    if (n < 4 || !want_uint(&c, &f[0], "record type", UINT64_MAX, &type) || type != REC_HEADER ||
        f[1].type != MSGPACK_OBJECT_STR || f[1].via.str.size != strlen(MAGIC) ||
        memcmp(f[1].via.str.ptr, MAGIC, strlen(MAGIC))) {
        snprintf(why, why_size, "no journal header");
        return ZDAG_EPROTO;
    }
    if (!want_uint(&c, &f[2], "format version", UINT64_MAX, &out->version) ||
        !want_str(&c, &f[3], "pipeline", ZD_JOURNAL_MAX_PIPELINE))
        return ZDAG_ESTATE;
    out->pipeline = f[3].via.str.size ? f[3].via.str.ptr : "";
    out->pipeline_len = f[3].via.str.size;
    return 0;
}

/* The fields after finished_at: result_hash and result_size, then (with_history) history. */
static bool take_v2(checker *c, const msgpack_object *f, zd_jrecord *out, bool with_history) {
    zd_journal_rec *r = &out->node;
    if (f[10].type != MSGPACK_OBJECT_NIL) {
        if (!want_hash(c, &f[10], "result_hash"))
            return false;
        if (r->result_len > 0) {
            snprintf(c->why, c->size, "a result both inline and in the store");
            return false;
        }
        r->result_in_store = true;
        memcpy(r->result_hash, f[10].via.bin.ptr, ZD_RESULT_HASH_SIZE);
    }
    if (!want_uint(c, &f[11], "result_size", UINT64_MAX, &r->result_size))
        return false;
    if (!r->result_in_store && r->result_size != r->result_len) {
        snprintf(c->why, c->size, "result_size %" PRIu64 " is not the inline result's %zu bytes",
                 r->result_size, r->result_len);
        return false;
    }
    if (!with_history)
        return true;
    if (!want(c, &f[12], MSGPACK_OBJECT_ARRAY, "history", "an array"))
        return false;
    const msgpack_object_array *h = &f[12].via.array;
    if (h->size > ZD_JOURNAL_HISTORY - 1) {
        snprintf(c->why, c->size, "history has %" PRIu32 " durations (at most %d)", h->size,
                 ZD_JOURNAL_HISTORY - 1);
        return false;
    }
    for (uint32_t i = 0; i < h->size; i++)
        if (!want_float(c, &h->ptr[i], "a history duration", MAX_DURATION, &out->history[i]))
            return false;
    out->n_history = h->size;
    return true;
}

int zd_jrecord_decode_node(zd_jrecord_decoder *dec, const char *payload, size_t len,
                           uint64_t version, zd_jrecord *out, char *why, size_t why_size) {
    checker c = {why, why_size};
    const msgpack_object *f;
    uint32_t n;
    uint64_t type = 0, status = 0, attempts = 0;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (!unpack(dec, &c, payload, len, &f, &n) ||
        !want_uint(&c, &f[0], "record type", UINT64_MAX, &type))
        return ZDAG_ESTATE;
    /* Version 1 files of zdag's development between 0.1 and format 2 had 12 fields (a result
     * hash and size, no history): read those too. */
    bool v1_store = version == 1 && n == V1_FIELDS + 2;
    uint32_t fields = v1_store       ? V1_FIELDS + 2
                      : version == 1 ? V1_FIELDS
                      : version == 2 ? V2_FIELDS
                                     : V3_FIELDS;
    zd_journal_rec *r = &out->node;
    if (type != REC_NODE_DONE) {
        snprintf(why, why_size, "unknown record type %" PRIu64, type);
    } else if (n != fields) {
        snprintf(why, why_size, "a node record has %" PRIu32 " fields, not %" PRIu32, fields, n);
    } else if (want_str(&c, &f[1], "name", ZD_JOURNAL_MAX_NAME) &&
               want_hash(&c, &f[2], "defhash") &&
               want_uint(&c, &f[3], "status", ZD_JOURNAL_FAILED, &status) &&
               want(&c, &f[4], MSGPACK_OBJECT_BIN, "result", "binary data") &&
               want(&c, &f[5], MSGPACK_OBJECT_BOOLEAN, "result_is_msgpack", "a bool") &&
               want_float(&c, &f[6], "duration_s", MAX_DURATION, &r->duration_s) &&
               want_uint(&c, &f[7], "attempts", UINT32_MAX, &attempts) &&
               want_str(&c, &f[8], "run_id", ZD_JOURNAL_MAX_RUN_ID) &&
               want_float(&c, &f[9], "finished_at", MAX_TIME, &r->finished_at)) {
        if (f[1].via.str.size == 0) {
            snprintf(why, why_size, "empty node name");
            return ZDAG_ESTATE;
        }
        r->name = f[1].via.str.ptr;
        out->name_len = f[1].via.str.size;
        memcpy(r->defhash, f[2].via.bin.ptr, ZD_DEFHASH_SIZE);
        r->status = (zd_journal_status)status;
        r->result = f[4].via.bin.size ? f[4].via.bin.ptr : NULL;
        r->result_len = f[4].via.bin.size;
        r->result_is_msgpack = f[5].via.boolean;
        r->attempts = (uint32_t)attempts;
        r->run_id = f[8].via.str.size ? f[8].via.str.ptr : ""; /* msgpack: NULL when empty */
        out->run_id_len = f[8].via.str.size;
        r->result_size = r->result_len;
        if (version == 1 && !v1_store)
            return 0;
        if (!take_v2(&c, f, out, version >= 2))
            return ZDAG_ESTATE;
        if (version < 3 || f[13].type == MSGPACK_OBJECT_NIL)
            return 0;
        if (want_hash(&c, &f[13], "inputs_hash")) {
            r->has_inputs = true;
            memcpy(r->inputs_hash, f[13].via.bin.ptr, ZD_INPUTS_HASH_SIZE);
            return 0;
        }
    }
    return ZDAG_ESTATE;
}

/* Reads a msgpack str header at p (n bytes left): its body length and header size. */
static bool str_header(const uint8_t *p, size_t n, size_t *len, size_t *hdr) {
    if (n >= 1 && (p[0] & 0xe0) == 0xa0) {
        *len = p[0] & 0x1f;
        *hdr = 1;
    } else if (n >= 2 && p[0] == 0xd9) {
        *len = p[1];
        *hdr = 2;
    } else if (n >= 3 && p[0] == 0xda) {
        *len = (size_t)p[1] << 8 | p[2];
        *hdr = 3;
    } else if (n >= 5 && p[0] == 0xdb) {
        *len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        *hdr = 5;
    } else {
        return false;
    }
    return *len <= n - *hdr;
}

bool zd_jrecord_peek_name(const char *payload, size_t len, const char **name, size_t *name_len) {
    const uint8_t *p = (const uint8_t *)payload;
    size_t skip = len >= 1 && p[0] >= 0x91 && p[0] <= 0x9f ? 1 : len >= 3 && p[0] == 0xdc ? 3 : 0;
    size_t slen, hdr;
    if (skip == 0 || len < skip + 2 || p[skip] != REC_NODE_DONE ||
        !str_header(p + skip + 1, len - skip - 1, &slen, &hdr))
        return false;
    *name = payload + skip + 1 + hdr;
    *name_len = slen;
    return true;
}

bool zd_jrecord_plausible(const uint8_t *head, size_t n) {
    return n >= 2 && ((head[0] >= 0x91 && head[0] <= 0x9f) || head[0] == 0xdc) &&
           head[1] == REC_NODE_DONE;
}

/* ---- Inputs hash ----------------------------------------------------------------------------- */

/* The inputs hash of a node without dependencies, SHA-256 of INPUTS_TAG and its NUL: most
 * nodes of a wide pipeline have none, and a SHA-256 per outcome for a constant is waste
 * (test_jrecord checks it against the hash). */
static const uint8_t NO_INPUTS[ZD_INPUTS_HASH_SIZE] = {
    0x7a, 0x5c, 0x0a, 0x38, 0xf5, 0xd5, 0x92, 0x50, 0x74, 0x86, 0xfc, 0xb4, 0x8b, 0xf6, 0xa4, 0x77,
    0xda, 0xf6, 0xae, 0x69, 0x14, 0xe6, 0x34, 0x34, 0xdb, 0xda, 0x25, 0x20, 0x87, 0x68, 0xd3, 0xd6};

void zd_inputs_init(zd_inputs *h) {
    h->n = 0;
    crypto_hash_sha256_init(&h->st);
    crypto_hash_sha256_update(&h->st, (const unsigned char *)INPUTS_TAG, sizeof INPUTS_TAG);
}

void zd_inputs_identity(const void *bytes, size_t len, uint8_t out[ZD_RESULT_HASH_SIZE]) {
    crypto_hash_sha256(out, len ? bytes : (const void *)"", len);
}

void zd_inputs_add(zd_inputs *h, const char *name, bool is_msgpack, const uint8_t *stored_hash,
                   const void *bytes, size_t len) {
    uint8_t id[ZD_RESULT_HASH_SIZE];
    uint64_t n = strlen(name);
    uint8_t head[9];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(n >> (8 * i));
    head[8] = is_msgpack ? 1 : 0;
    if (stored_hash)
        memcpy(id, stored_hash, sizeof id);
    else
        zd_inputs_identity(bytes, len, id);
    crypto_hash_sha256_update(&h->st, head, 8);
    crypto_hash_sha256_update(&h->st, (const unsigned char *)name, n);
    crypto_hash_sha256_update(&h->st, head + 8, 1);
    crypto_hash_sha256_update(&h->st, id, sizeof id);
    h->n++;
}

void zd_inputs_final(zd_inputs *h, uint8_t out[ZD_INPUTS_HASH_SIZE]) {
    if (h->n == 0)
        memcpy(out, NO_INPUTS, sizeof NO_INPUTS);
    else
        crypto_hash_sha256_final(&h->st, out);
}
