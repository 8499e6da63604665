/* msgpack <-> JSON: a non-recursive reader over checked msgpack bytes, and a jansson walker. */
#include "mpjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

_Static_assert(ZD_MPJSON_MAX_DEPTH >= 2 && ZD_MPJSON_MAX_DEPTH <= 63,
               "zd_wire_well_formed() checks depths 1 to 63");

static const char R_NOINPUT[] = "no msgpack input";
static const char R_TRUNCATED[] = "truncated msgpack value";
static const char R_EXT[] = "msgpack ext types have no JSON form";
static const char R_RESERVED[] = "reserved msgpack type byte 0xc1";
static const char R_DEEP[] = "msgpack value nested too deeply";
static const char R_TRAILING[] = "bytes after the msgpack value";
static const char R_MALFORMED[] = "malformed msgpack value";
static const char R_NOMEM[] = "out of memory";

char *zd_base64(const void *data, size_t len) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (!out)
        return NULL;
    const unsigned char *s = data;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        *p++ = tbl[(v >> 18) & 63];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? tbl[v & 63] : '=';
    }
    *p = '\0';
    return out;
}

/* What one msgpack header says. */
typedef enum kind {
    K_NIL,
    K_BOOL,
    K_UINT,
    K_INT,
    K_FLOAT,
    K_STR,
    K_BIN,
    K_ARRAY,
    K_MAP,
    K_EXT,
    K_RESERVED
} kind;

typedef struct token {
    kind kind;       /* the value's type */
    bool b;          /* K_BOOL */
    uint64_t u;      /* K_UINT; K_ARRAY: items; K_MAP: pairs */
    int64_t i;       /* K_INT (the signed formats, whatever the sign) */
    double f;        /* K_FLOAT (a float32 widened) */
    const char *ptr; /* K_STR, K_BIN: the bytes, inside the input */
    size_t len;      /* K_STR, K_BIN: their count */
} token;

/* Reads an n-byte big-endian number at p[*off], if it is within len. */
static bool take(const uint8_t *p, size_t len, size_t *off, size_t n, uint64_t *v) {
    if (len - *off < n)
        return false;
    *v = 0;
    for (size_t k = 0; k < n; k++)
        *v = (*v << 8) | p[*off + k];
    *off += n;
    return true;
}

/* Points t at the n payload bytes at p[*off], if they are within len. */
static bool bytes(const uint8_t *p, size_t len, size_t *off, uint64_t n, token *t) {
    if (n > len - *off)
        return false;
    t->ptr = (const char *)p + *off;
    t->len = (size_t)n;
    *off += (size_t)n;
    return true;
}

/* Reads the payload of a number whose type byte b is 0xca..0xd3. */
static bool number(const uint8_t *p, size_t len, size_t *off, uint8_t b, token *t) {
    static const uint8_t size[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8}; /* payload bytes by type */
    uint64_t v;
    if (!take(p, len, off, size[b - 0xca], &v))
        return false;
    if (b == 0xca) {
        uint32_t w = (uint32_t)v;
        float f;
        memcpy(&f, &w, sizeof f);
        t->kind = K_FLOAT;
        t->f = f;
    } else if (b == 0xcb) {
        memcpy(&t->f, &v, sizeof t->f);
        t->kind = K_FLOAT;
    } else if (b <= 0xcf) {
        t->kind = K_UINT;
        t->u = v;
    } else {
        /* Sign-extend from the top bit of the field, without overflowing int64_t. */
        uint64_t sign = (uint64_t)1 << (size[b - 0xca] * 8 - 1);
        t->kind = K_INT;
        t->i = (v & sign) ? -(int64_t)((sign << 1) - v - 1) - 1 : (int64_t)v;
    }
    return true;
}

/* Reads the value header at p[*off] with its scalar payload; a container's items follow it.
 * Returns false when the header or payload runs past len. Ext and 0xc1 come back as K_EXT and
 * K_RESERVED with nothing more read. */
static bool next(const uint8_t *p, size_t len, size_t *off, token *t) {
    memset(t, 0, sizeof *t);
    if (*off >= len)
        return false;
    uint8_t b = p[(*off)++];
    uint64_t v = 0;
    if (b <= 0x7f || b >= 0xe0) {
        t->kind = b <= 0x7f ? K_UINT : K_INT;
        t->u = b;
        t->i = (int8_t)b;
        return true;
    }
    if (b <= 0x9f) {
        t->kind = b <= 0x8f ? K_MAP : K_ARRAY;
        t->u = b & 0x0f;
        return true;
    }
    if (b <= 0xbf) {
        t->kind = K_STR;
        return bytes(p, len, off, b & 0x1f, t);
    }
    switch (b) {
    case 0xc0:
        t->kind = K_NIL;
        return true;
    case 0xc2:
    case 0xc3:
        t->kind = K_BOOL;
        t->b = b == 0xc3;
        return true;
    case 0xc4: /* bin 8, 16, 32 */
    case 0xc5:
    case 0xc6:
        t->kind = K_BIN;
        return take(p, len, off, (size_t)1 << (b - 0xc4), &v) && bytes(p, len, off, v, t);
    case 0xd9: /* str 8, 16, 32 */
    case 0xda:
    case 0xdb:
        t->kind = K_STR;
        return take(p, len, off, (size_t)1 << (b - 0xd9), &v) && bytes(p, len, off, v, t);
    case 0xca: /* float 32, 64 */
    case 0xcb:
    case 0xcc: /* uint 8, 16, 32, 64 */
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0: /* int 8, 16, 32, 64 */
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return number(p, len, off, b, t);
    case 0xdc:
    case 0xdd:
        t->kind = K_ARRAY;
        return take(p, len, off, b == 0xdc ? 2 : 4, &t->u);
    case 0xde:
    case 0xdf:
        t->kind = K_MAP;
        return take(p, len, off, b == 0xde ? 2 : 4, &t->u);
    case 0xc1:
        t->kind = K_RESERVED;
        return true;
    default: /* 0xc7..0xc9 ext 8/16/32, 0xd4..0xd8 fixext */
        t->kind = K_EXT;
        return true;
    }
}

/* Names the first problem in input that zd_wire_well_formed() rejected, walking it the same
 * way: an explicit stack of items left at each level, no recursion. */
static const char *diagnose(const uint8_t *p, size_t len) {
    uint64_t left[ZD_MPJSON_MAX_DEPTH]; /* items still to read at each open level */
    int depth = 0;
    size_t off = 0;
    if (!p)
        return R_NOINPUT;
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        token t;
        if (!next(p, len, &off, &t))
            return R_TRUNCATED;
        if (t.kind == K_EXT)
            return R_EXT;
        if (t.kind == K_RESERVED)
            return R_RESERVED;
        uint64_t items = t.kind == K_MAP ? 2 * t.u : t.kind == K_ARRAY ? t.u : 0;
        if (items) {
            if (items > len - off) /* each item takes a byte at least */
                return R_TRUNCATED;
            if (depth + 1 >= ZD_MPJSON_MAX_DEPTH)
                return R_DEEP;
            left[++depth] = items;
        }
    }
    return off == len ? R_MALFORMED : R_TRAILING;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. NUL is
 * fine: JSON can escape it. */
static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Returns {tag: v}, taking v; NULL (v released) when out of memory or v is NULL. */
static json_t *tagged(const char *tag, json_t *v) {
    if (!v)
        return NULL;
    json_t *o = json_object();
    if (!o) {
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, tag, v) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *base64_json(const char *data, size_t len) {
    char *b64 = zd_base64(data, len);
    json_t *v = b64 ? tagged("base64", json_string_nocheck(b64)) : NULL;
    free(b64);
    return v;
}

static json_t *real_json(double f) {
    if (isnan(f))
        return tagged("float", json_string_nocheck("nan"));
    if (isinf(f))
        return tagged("float", json_string_nocheck(f > 0 ? "inf" : "-inf"));
    return json_real(f);
}

/* Returns the JSON for a scalar token or an empty container; NULL when out of memory. */
static json_t *scalar_json(const token *t) {
    char dec[24];
    switch (t->kind) {
    case K_NIL:
        return json_null();
    case K_BOOL:
        return json_boolean(t->b);
    case K_UINT:
        if (t->u <= INT64_MAX)
            return json_integer((json_int_t)t->u);
        snprintf(dec, sizeof dec, "%" PRIu64, t->u);
        return tagged("uint64", json_string_nocheck(dec));
    case K_INT:
        return json_integer(t->i);
    case K_FLOAT:
        return real_json(t->f);
    case K_STR:
        if (utf8_valid((const unsigned char *)t->ptr, t->len))
            return json_stringn_nocheck(t->ptr, t->len);
        return base64_json(t->ptr, t->len);
    case K_BIN:
        return base64_json(t->ptr, t->len);
    case K_ARRAY:
        return json_array();
    case K_MAP:
        return json_object();
    default:
        return NULL;
    }
}

/* An open container while converting. */
typedef struct frame {
    json_t *items; /* children read so far; for a map, keys and values alternate */
    uint64_t left; /* children still to read */
    bool map;      /* a map: finish_map() turns items into its JSON form */
    bool str_keys; /* a map whose keys so far were all valid UTF-8 strs */
} frame;

/* Turns a map's alternating keys and values (taken) into an object or {"map": pairs}. */
static json_t *finish_map(json_t *items, bool str_keys) {
    size_t n = json_array_size(items);
    json_t *out = str_keys ? json_object() : json_array();
    for (size_t i = 0; out && i < n; i += 2) {
        json_t *k = json_array_get(items, i), *v = json_array_get(items, i + 1);
        int rc = str_keys ? json_object_setn_new_nocheck(out, json_string_value(k),
                                                         json_string_length(k), json_incref(v))
                          : json_array_append_new(out, json_pack("[OO]", k, v));
        if (rc != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    json_decref(items);
    return str_keys ? out : tagged("map", out);
}

/* Converts checked input depth-first with an explicit stack of open containers. */
static json_t *convert(const uint8_t *p, size_t len, const char **why) {
    frame st[ZD_MPJSON_MAX_DEPTH]; /* open containers, outermost first */
    int top = -1;
    size_t off = 0;
    *why = R_NOMEM;
    for (;;) {
        token t;
        if (!next(p, len, &off, &t) || t.kind == K_EXT || t.kind == K_RESERVED) {
            *why = R_MALFORMED; /* not reached: the input was checked */
            goto out_free_stack;
        }
        if ((t.kind == K_ARRAY || t.kind == K_MAP) && t.u > 0) {
            if (top + 1 >= ZD_MPJSON_MAX_DEPTH) {
                *why = R_DEEP;
                goto out_free_stack;
            }
            json_t *items = json_array();
            if (!items)
                goto out_free_stack;
            bool map = t.kind == K_MAP;
            st[++top] = (frame){items, map ? 2 * t.u : t.u, map, true};
            continue;
        }
        /* Hand the finished value up, closing every container that it completes. */
        json_t *v = scalar_json(&t);
        for (;;) {
            if (!v)
                goto out_free_stack;
            if (top < 0) {
                if (off == len)
                    return v;
                json_decref(v);
                *why = R_TRAILING;
                return NULL;
            }
            frame *f = &st[top];
            if (f->map && json_array_size(f->items) % 2 == 0 && !json_is_string(v))
                f->str_keys = false;
            if (json_array_append_new(f->items, v) != 0)
                goto out_free_stack;
            if (--f->left > 0)
                break;
            v = f->map ? finish_map(f->items, f->str_keys) : f->items;
            top--;
        }
    }
out_free_stack:
    while (top >= 0)
        json_decref(st[top--].items);
    return NULL;
}

json_t *zd_mpjson_to_json(const void *buf, size_t len, const char **why) {
    const char *reason;
    json_t *j = NULL;
    if (!zd_wire_well_formed(buf, len, ZD_MPJSON_MAX_DEPTH))
        reason = diagnose(buf, len);
    else
        j = convert(buf, len, &reason);
    if (!j && why)
        *why = reason;
    return j;
}

char *zd_mpjson_to_text(const void *buf, size_t len, const char **why) {
    json_t *j = zd_mpjson_to_json(buf, len, why);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s && why)
        *why = R_NOMEM;
    return s;
}

static int pack_json(msgpack_packer *pk, const json_t *j, int depth);

static int pack_array(msgpack_packer *pk, const json_t *j, int depth) {
    size_t n = json_array_size(j);
    if (n > UINT32_MAX)
        return ZDAG_ETOOBIG;
    if (msgpack_pack_array(pk, n) != 0)
        return ZDAG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = pack_json(pk, json_array_get(j, i), depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int pack_object(msgpack_packer *pk, const json_t *j, int depth) {
    json_t *obj = (json_t *)j; /* jansson's iterators take a non-const object; nothing changes */
    const char *key;
    size_t key_len;
    json_t *v;
    if (json_object_size(obj) > UINT32_MAX)
        return ZDAG_ETOOBIG;
    if (msgpack_pack_map(pk, json_object_size(obj)) != 0)
        return ZDAG_ENOMEM;
    json_object_keylen_foreach(obj, key, key_len, v) {
        if (key_len > UINT32_MAX)
            return ZDAG_ETOOBIG;
        if (msgpack_pack_str(pk, key_len) != 0 || msgpack_pack_str_body(pk, key, key_len) != 0)
            return ZDAG_ENOMEM;
        int rc = pack_json(pk, v, depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Packs j, which sits at nesting level depth (1 for the root). Recursion stops at
 * ZD_MPJSON_MAX_DEPTH, which also ends a cyclic value. */
static int pack_json(msgpack_packer *pk, const json_t *j, int depth) {
    int rc;
    switch (json_typeof(j)) {
    case JSON_NULL:
        rc = msgpack_pack_nil(pk);
        break;
    case JSON_TRUE:
        rc = msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        rc = msgpack_pack_false(pk);
        break;
    case JSON_INTEGER:
        rc = msgpack_pack_int64(pk, json_integer_value(j));
        break;
    case JSON_REAL:
        rc = msgpack_pack_double(pk, json_real_value(j));
        break;
    case JSON_STRING: {
        size_t n = json_string_length(j);
        if (n > UINT32_MAX)
            return ZDAG_ETOOBIG;
        rc = msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, json_string_value(j), n);
        break;
    }
    case JSON_ARRAY:
    case JSON_OBJECT: {
        bool empty = json_is_array(j) ? json_array_size(j) == 0 : json_object_size(j) == 0;
        if (!empty && depth >= ZD_MPJSON_MAX_DEPTH)
            return ZDAG_ETOOBIG;
        return json_is_array(j) ? pack_array(pk, j, depth) : pack_object(pk, j, depth);
    }
    default:
        return ZDAG_EINVAL;
    }
    return rc != 0 ? ZDAG_ENOMEM : 0;
}

int zd_mpjson_from_json(const json_t *j, msgpack_sbuffer *out) {
    if (!j || !out)
        return ZDAG_EINVAL;
    size_t start = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = pack_json(&pk, j, 1);
    if (rc != 0)
        out->size = start; /* drop the partial value */
    return rc;
}
