/* msgpack -> JSON: every type, the tagged forms, hostile input; JSON -> msgpack -> JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mpjson.h"

/* A packer writing into a fresh buffer. */
typedef struct packed {
    msgpack_sbuffer sb; /* the bytes */
    msgpack_packer pk;  /* writes into sb */
} packed;

static void packed_init(packed *p) {
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

/* Asserts that bytes[0..n) convert to the compact JSON text want. */
static void expect_bytes(const void *bytes, size_t n, const char *want) {
    const char *why = NULL;
    char *got = zd_mpjson_to_text(bytes, n, &why);
    if (!got)
        fail_msg("conversion failed (%s), expected %s", why, want);
    assert_string_equal(got, want);
    free(got);
}

/* Asserts what the packer's content converts to, and empties it for the next value. */
static void expect(packed *p, const char *want) {
    expect_bytes(p->sb.data, p->sb.size, want);
    msgpack_sbuffer_clear(&p->sb);
}

/* Asserts that bytes[0..n) are refused with exactly the reason want (NULL: any reason). */
static void refuse_bytes(const void *bytes, size_t n, const char *want) {
    const char *why = NULL;
    json_t *j = zd_mpjson_to_json(bytes, n, &why);
    if (j) {
        char *s = json_dumps(j, JSON_ENCODE_ANY);
        fail_msg("accepted %zu bytes as %s", n, s);
    }
    assert_non_null(why);
    if (want)
        assert_string_equal(why, want);
    char *s = zd_mpjson_to_text(bytes, n, NULL); /* a NULL why is allowed */
    assert_null(s);
}

#define REFUSE(lit, why) refuse_bytes(lit, sizeof lit - 1, why)
#define EXPECT(lit, want) expect_bytes(lit, sizeof lit - 1, want)

static void str(packed *p, const char *s, size_t n) {
    assert_int_equal(msgpack_pack_str_with_body(&p->pk, s, n), 0);
}

static void bin(packed *p, const char *s, size_t n) {
    assert_int_equal(msgpack_pack_bin_with_body(&p->pk, s, n), 0);
}

static void test_scalars(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_nil(&p.pk);
    expect(&p, "null");
    msgpack_pack_true(&p.pk);
    expect(&p, "true");
    msgpack_pack_false(&p.pk);
    expect(&p, "false");
    msgpack_pack_uint64(&p.pk, 0);
    expect(&p, "0");
    msgpack_pack_uint64(&p.pk, 127);
    expect(&p, "127");
    msgpack_pack_uint64(&p.pk, 255);
    expect(&p, "255");
    msgpack_pack_uint64(&p.pk, 65536);
    expect(&p, "65536");
    msgpack_pack_uint64(&p.pk, UINT32_MAX);
    expect(&p, "4294967295");
    msgpack_pack_uint64(&p.pk, INT64_MAX);
    expect(&p, "9223372036854775807");
    msgpack_pack_int64(&p.pk, -1);
    expect(&p, "-1");
    msgpack_pack_int64(&p.pk, -33);
    expect(&p, "-33");
    msgpack_pack_int64(&p.pk, -129);
    expect(&p, "-129");
    msgpack_pack_int64(&p.pk, -40000);
    expect(&p, "-40000");
    msgpack_pack_int64(&p.pk, INT32_MIN - 1ll);
    expect(&p, "-2147483649");
    msgpack_pack_int64(&p.pk, INT64_MIN);
    expect(&p, "-9223372036854775808");
    msgpack_pack_double(&p.pk, 1.5);
    expect(&p, "1.5");
    msgpack_pack_double(&p.pk, -0.0);
    expect(&p, "-0.0");
    msgpack_pack_double(&p.pk, 1e300);
    expect(&p, "1.0000000000000001e300");
    msgpack_pack_float(&p.pk, 0.5f);
    expect(&p, "0.5");
    msgpack_pack_float(&p.pk, 0.1f); /* widened exactly, not rounded to look like 0.1 */
    expect(&p, "0.10000000149011612");
    msgpack_sbuffer_destroy(&p.sb);

    /* Every integer format by hand, including signed formats holding non-negative values. */
    EXPECT("\xcc\x00", "0");
    EXPECT("\xcd\xff\xff", "65535");
    EXPECT("\xce\xff\xff\xff\xff", "4294967295");
    EXPECT("\xcf\x00\x00\x00\x00\x00\x00\x00\x01", "1");
    EXPECT("\xe0", "-32");
    EXPECT("\xd0\x80", "-128");
    EXPECT("\xd0\x05", "5");
    EXPECT("\xd1\x80\x00", "-32768");
    EXPECT("\xd1\x7f\xff", "32767");
    EXPECT("\xd2\x80\x00\x00\x00", "-2147483648");
    EXPECT("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "-9223372036854775808");
    EXPECT("\xd3\xff\xff\xff\xff\xff\xff\xff\xff", "-1");
    EXPECT("\xd3\x7f\xff\xff\xff\xff\xff\xff\xff", "9223372036854775807");
}

static void test_huge_ints(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_uint64(&p.pk, (uint64_t)INT64_MAX + 1);
    expect(&p, "{\"uint64\":\"9223372036854775808\"}");
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    expect(&p, "{\"uint64\":\"18446744073709551615\"}");
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    msgpack_pack_int64(&p.pk, INT64_MIN);
    expect(&p, "[{\"uint64\":\"18446744073709551615\"},-9223372036854775808]");
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_nonfinite_floats(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_double(&p.pk, NAN);
    expect(&p, "{\"float\":\"nan\"}");
    msgpack_pack_double(&p.pk, -NAN);
    expect(&p, "{\"float\":\"nan\"}");
    msgpack_pack_double(&p.pk, INFINITY);
    expect(&p, "{\"float\":\"inf\"}");
    msgpack_pack_double(&p.pk, -INFINITY);
    expect(&p, "{\"float\":\"-inf\"}");
    msgpack_pack_float(&p.pk, NAN);
    expect(&p, "{\"float\":\"nan\"}");
    msgpack_pack_float(&p.pk, -INFINITY);
    expect(&p, "{\"float\":\"-inf\"}");
    msgpack_pack_array(&p.pk, 3);
    msgpack_pack_double(&p.pk, 2.0);
    msgpack_pack_double(&p.pk, NAN);
    msgpack_pack_nil(&p.pk);
    expect(&p, "[2.0,{\"float\":\"nan\"},null]");
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_strings(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    str(&p, "", 0);
    expect(&p, "\"\"");
    str(&p, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x99\x82", 15); /* 2-, 3- and 4-byte forms */
    expect(&p, "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x99\x82\"");
    str(&p, "a\0b\"\\\n", 6);
    expect(&p, "\"a\\u0000b\\\"\\\\\\n\"");
    str(&p, "\xff\xfe", 2); /* never valid in UTF-8 */
    expect(&p, "{\"base64\":\"//4=\"}");
    str(&p, "\xc0\x80", 2); /* overlong NUL */
    expect(&p, "{\"base64\":\"wIA=\"}");
    str(&p, "\xe0\x80\xaf", 3); /* overlong '/' */
    expect(&p, "{\"base64\":\"4ICv\"}");
    str(&p, "\xed\xa0\x80", 3); /* a UTF-16 surrogate */
    expect(&p, "{\"base64\":\"7aCA\"}");
    str(&p, "\xf4\x90\x80\x80", 4); /* above U+10FFFF */
    expect(&p, "{\"base64\":\"9JCAgA==\"}");
    str(&p, "ab\xe2\x82", 4); /* truncated sequence at the end */
    expect(&p, "{\"base64\":\"YWLigg==\"}");
    str(&p, "\xe2\x28\xa1", 3); /* bad continuation byte */
    expect(&p, "{\"base64\":\"4iih\"}");
    str(&p, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF itself is fine */
    expect(&p, "\"\xf4\x8f\xbf\xbf\"");

    /* str 8, 16 and 32 headers. */
    EXPECT("\xd9\x02hi", "\"hi\"");
    EXPECT("\xda\x00\x02hi", "\"hi\"");
    EXPECT("\xdb\x00\x00\x00\x02hi", "\"hi\"");
    char big[70000];
    memset(big, 'x', sizeof big);
    str(&p, big, sizeof big);
    json_t *j = zd_mpjson_to_json(p.sb.data, p.sb.size, NULL);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), sizeof big);
    json_decref(j);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_bin(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    bin(&p, "", 0);
    expect(&p, "{\"base64\":\"\"}");
    bin(&p, "hi", 2); /* bin is bytes even when they would be valid text */
    expect(&p, "{\"base64\":\"aGk=\"}");
    bin(&p, "\0\xff\x10", 3);
    expect(&p, "{\"base64\":\"AP8Q\"}");
    EXPECT("\xc5\x00\x01\xfb", "{\"base64\":\"+w==\"}");
    EXPECT("\xc6\x00\x00\x00\x01?", "{\"base64\":\"Pw==\"}");
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_base64(void **state) {
    (void)state;
    /* RFC 4648 section 10. */
    static const char *const vectors[][2] = {{"", ""},
                                             {"f", "Zg=="},
                                             {"fo", "Zm8="},
                                             {"foo", "Zm9v"},
                                             {"foob", "Zm9vYg=="},
                                             {"fooba", "Zm9vYmE="},
                                             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char *s = zd_base64(vectors[i][0], strlen(vectors[i][0]));
        assert_non_null(s);
        assert_string_equal(s, vectors[i][1]);
        free(s);
    }
    char *s = zd_base64(NULL, 0);
    assert_string_equal(s, "");
    free(s);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    s = zd_base64(all + 250, 6);
    assert_string_equal(s, "+vv8/f7/");
    free(s);
}

static void test_containers(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, 0);
    expect(&p, "[]");
    msgpack_pack_map(&p.pk, 0);
    expect(&p, "{}");
    /* Objects keep the map's order. */
    msgpack_pack_map(&p.pk, 3);
    str(&p, "z", 1);
    msgpack_pack_int(&p.pk, 1);
    str(&p, "a", 1);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_map(&p.pk, 1);
    str(&p, "k", 1);
    msgpack_pack_array(&p.pk, 0);
    str(&p, "", 0);
    bin(&p, "x", 1);
    expect(&p, "{\"z\":1,\"a\":[null,{\"k\":[]}],\"\":{\"base64\":\"eA==\"}}");
    /* A key given twice: first place, last value. */
    msgpack_pack_map(&p.pk, 3);
    str(&p, "a", 1);
    msgpack_pack_int(&p.pk, 1);
    str(&p, "b", 1);
    msgpack_pack_int(&p.pk, 2);
    str(&p, "a", 1);
    msgpack_pack_int(&p.pk, 3);
    expect(&p, "{\"a\":3,\"b\":2}");
    /* Keys with NUL bytes stay distinct. */
    msgpack_pack_map(&p.pk, 2);
    str(&p, "a\0b", 3);
    msgpack_pack_int(&p.pk, 1);
    str(&p, "a", 1);
    msgpack_pack_int(&p.pk, 2);
    expect(&p, "{\"a\\u0000b\":1,\"a\":2}");
    /* fixarray, array 16 and array 32 headers; fixmap, map 16 and map 32. */
    EXPECT("\x92\x01\x02", "[1,2]");
    EXPECT("\xdc\x00\x02\x01\x02", "[1,2]");
    EXPECT("\xdd\x00\x00\x00\x02\x01\x02", "[1,2]");
    EXPECT("\x81\xa1k\xc3", "{\"k\":true}");
    EXPECT("\xde\x00\x01\xa1k\xc3", "{\"k\":true}");
    EXPECT("\xdf\x00\x00\x00\x01\xa1k\xc3", "{\"k\":true}");
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_non_string_keys(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_map(&p.pk, 2);
    msgpack_pack_int(&p.pk, 1);
    str(&p, "one", 3);
    msgpack_pack_int(&p.pk, -2);
    str(&p, "minus two", 9);
    expect(&p, "{\"map\":[[1,\"one\"],[-2,\"minus two\"]]}");
    /* One odd key turns the whole map into pairs; string keys stay strings; duplicates stay. */
    msgpack_pack_map(&p.pk, 4);
    str(&p, "a", 1);
    msgpack_pack_true(&p.pk);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_false(&p.pk);
    str(&p, "a", 1);
    msgpack_pack_int(&p.pk, 7);
    msgpack_pack_double(&p.pk, 0.5);
    msgpack_pack_array(&p.pk, 0);
    expect(&p, "{\"map\":[[\"a\",true],[null,false],[\"a\",7],[0.5,[]]]}");
    /* A non-UTF-8 str key, and a bin key that happens to be text. */
    msgpack_pack_map(&p.pk, 1);
    str(&p, "\xff", 1);
    msgpack_pack_int(&p.pk, 1);
    expect(&p, "{\"map\":[[{\"base64\":\"/w==\"},1]]}");
    msgpack_pack_map(&p.pk, 1);
    bin(&p, "k", 1);
    msgpack_pack_int(&p.pk, 1);
    expect(&p, "{\"map\":[[{\"base64\":\"aw==\"},1]]}");
    /* Container keys, a huge integer key, and a map with odd keys nested in one without. */
    msgpack_pack_map(&p.pk, 2);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_int(&p.pk, 1);
    msgpack_pack_int(&p.pk, 2);
    str(&p, "pair", 4);
    msgpack_pack_map(&p.pk, 1);
    str(&p, "k", 1);
    msgpack_pack_int(&p.pk, 0);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    expect(&p, "{\"map\":[[[1,2],\"pair\"],[{\"k\":0},{\"uint64\":\"18446744073709551615\"}]]}");
    msgpack_pack_map(&p.pk, 1);
    str(&p, "outer", 5);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    msgpack_pack_nil(&p.pk);
    expect(&p, "{\"outer\":{\"map\":[[{\"uint64\":\"18446744073709551615\"},null]]}}");
    msgpack_sbuffer_destroy(&p.sb);
}

/* Packs levels nested one-element arrays (maps with an integer key when maps) around 1. */
static void nest(packed *p, int levels, bool maps) {
    for (int i = 0; i < levels; i++) {
        if (maps) {
            msgpack_pack_map(&p->pk, 1);
            msgpack_pack_int(&p->pk, i);
        } else {
            msgpack_pack_array(&p->pk, 1);
        }
    }
    msgpack_pack_int(&p->pk, 1);
}

static void test_depth(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    /* ZD_MPJSON_MAX_DEPTH levels counting the innermost value: one container fewer. */
    nest(&p, ZD_MPJSON_MAX_DEPTH - 1, false);
    json_t *j = zd_mpjson_to_json(p.sb.data, p.sb.size, NULL);
    assert_non_null(j);
    json_t *inner = j;
    for (int i = 0; i < ZD_MPJSON_MAX_DEPTH - 1; i++)
        inner = json_array_get(inner, 0);
    assert_int_equal(json_integer_value(inner), 1);
    json_decref(j);
    msgpack_sbuffer_clear(&p.sb);

    nest(&p, ZD_MPJSON_MAX_DEPTH, false);
    refuse_bytes(p.sb.data, p.sb.size, "msgpack value nested too deeply");
    msgpack_sbuffer_clear(&p.sb);

    /* Maps in pair form triple the JSON depth; the text still comes out. */
    nest(&p, ZD_MPJSON_MAX_DEPTH - 1, true);
    const char *why = NULL;
    char *s = zd_mpjson_to_text(p.sb.data, p.sb.size, &why);
    assert_non_null(s);
    assert_memory_equal(s, "{\"map\":[[0,{\"map\":[[1,", 22);
    free(s);
    msgpack_sbuffer_clear(&p.sb);

    /* An empty container at the bottom counts like a scalar. */
    for (int i = 0; i < ZD_MPJSON_MAX_DEPTH - 1; i++)
        msgpack_pack_array(&p.pk, 1);
    msgpack_pack_map(&p.pk, 0);
    j = zd_mpjson_to_json(p.sb.data, p.sb.size, NULL);
    assert_non_null(j);
    json_decref(j);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_malformed(void **state) {
    (void)state;
    refuse_bytes(NULL, 0, "no msgpack input");
    refuse_bytes(NULL, 5, "no msgpack input");
    refuse_bytes("", 0, "truncated msgpack value");
    REFUSE("\xc1", "reserved msgpack type byte 0xc1");
    REFUSE("\x92\x01\xc1", "reserved msgpack type byte 0xc1");
    REFUSE("\x01\x02", "bytes after the msgpack value");
    REFUSE("\x90\x90", "bytes after the msgpack value");
    REFUSE("\x92\x01", "truncated msgpack value");
    REFUSE("\xa5hell", "truncated msgpack value");
    REFUSE("\xcb\x00\x00", "truncated msgpack value");
    REFUSE("\xdb\xff\xff\xff\xff"
           "abc",
           "truncated msgpack value");
    /* Counts far beyond the bytes are refused before anything is built. */
    REFUSE("\xdd\xff\xff\xff\xff\x01", "truncated msgpack value");
    REFUSE("\xdf\xff\xff\xff\xff\x01\x01", "truncated msgpack value");
    REFUSE("\x81\x01", "truncated msgpack value");
    /* Ext types, bare or inside containers: fixext 1/2/4/8/16, ext 8/16/32. */
    REFUSE("\xd4\x01\x00", "msgpack ext types have no JSON form");
    REFUSE("\xd5\x01\x00\x00", "msgpack ext types have no JSON form");
    REFUSE("\xd6\xff\x00\x00\x00\x00", "msgpack ext types have no JSON form"); /* timestamp */
    REFUSE("\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x00", "msgpack ext types have no JSON form");
    REFUSE("\xd8\x01"
           "0123456789abcdef",
           "msgpack ext types have no JSON form");
    REFUSE("\xc7\x01\x05x", "msgpack ext types have no JSON form");
    REFUSE("\xc8\x00\x01\x05x", "msgpack ext types have no JSON form");
    REFUSE("\xc9\x00\x00\x00\x01\x05x", "msgpack ext types have no JSON form");
    REFUSE("\x93\x01\xa1x\xd4\x01\x00", "msgpack ext types have no JSON form");
    REFUSE("\x81\xd4\x01\x00\x01", "msgpack ext types have no JSON form");
}

/* A value with every type and header size in it. */
static void pack_everything(packed *p) {
    static char blob[300];
    msgpack_pack_map(&p->pk, 9);
    str(p, "ints", 4);
    msgpack_pack_array(&p->pk, 8);
    msgpack_pack_int64(&p->pk, 1);
    msgpack_pack_int64(&p->pk, -5);
    msgpack_pack_int64(&p->pk, 200);
    msgpack_pack_int64(&p->pk, -200);
    msgpack_pack_int64(&p->pk, 70000);
    msgpack_pack_int64(&p->pk, -70000);
    msgpack_pack_int64(&p->pk, 1ll << 40);
    msgpack_pack_uint64(&p->pk, UINT64_MAX);
    str(p, "floats", 6);
    msgpack_pack_array(&p->pk, 3);
    msgpack_pack_float(&p->pk, 1.25f);
    msgpack_pack_double(&p->pk, -2.5);
    msgpack_pack_double(&p->pk, NAN);
    str(p, "misc", 4);
    msgpack_pack_array(&p->pk, 3);
    msgpack_pack_nil(&p->pk);
    msgpack_pack_true(&p->pk);
    msgpack_pack_false(&p->pk);
    str(p, "long", 4);
    str(p, blob, 40);
    str(p, "bin", 3);
    bin(p, blob, sizeof blob);
    str(p, "bad", 3);
    str(p, "\xff", 1);
    str(p, "pairs", 5);
    msgpack_pack_map(&p->pk, 1);
    msgpack_pack_int(&p->pk, 1);
    msgpack_pack_array(&p->pk, 0);
    str(p, "empty", 5);
    msgpack_pack_map(&p->pk, 0);
    str(p, "wide", 4);
    msgpack_pack_array(&p->pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int(&p->pk, i);
}

static void test_every_truncation(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    pack_everything(&p);
    json_t *j = zd_mpjson_to_json(p.sb.data, p.sb.size, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 9);
    json_decref(j);
    for (size_t n = 0; n < p.sb.size; n++)
        refuse_bytes(p.sb.data, n, "truncated msgpack value");
    /* The same bytes in a buffer of exactly that size, so that ASan sees any over-read. */
    for (size_t n = 0; n < p.sb.size; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, p.sb.data, n);
        refuse_bytes(copy, n, NULL);
        free(copy);
    }
    msgpack_sbuffer_destroy(&p.sb);
}

/* xorshift64: reproducible garbage. */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_garbage(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    pack_everything(&p);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    /* Every byte of a valid value replaced by a few others: converts or fails, never crashes. */
    static const uint8_t subst[] = {0x00, 0x7f, 0x80, 0x8f, 0x9f, 0xc1,
                                    0xc7, 0xd4, 0xdd, 0xdf, 0xff};
    for (size_t i = 0; i < p.sb.size; i++) {
        char *copy = malloc(p.sb.size);
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(copy, p.sb.data, p.sb.size);
            copy[i] = (char)subst[k];
            const char *why = NULL;
            json_t *j = zd_mpjson_to_json(copy, p.sb.size, &why);
            assert_true(j != NULL || why != NULL);
            json_decref(j);
        }
        free(copy);
    }
    /* Random bytes, biased towards type bytes. */
    for (int round = 0; round < 20000; round++) {
        size_t n = rnd(&seed) % 48;
        uint8_t *buf = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(rnd(&seed) % 3 == 0 ? 0x80 + rnd(&seed) % 0x80 : rnd(&seed));
        const char *why = NULL;
        char *s = zd_mpjson_to_text(buf, n, &why);
        assert_true(s != NULL || why != NULL);
        free(s);
        free(buf);
    }
    msgpack_sbuffer_destroy(&p.sb);
}

/* jansson allocations that fail after a countdown, to walk every unwinding path. */
static long allocs_left;

static void *failing_malloc(size_t n) {
    return allocs_left-- > 0 ? malloc(n) : NULL;
}

static void test_out_of_memory(void **state) {
    (void)state;
    packed p;
    packed_init(&p);
    pack_everything(&p);
    bool done = false;
    for (long n = 0; !done; n++) {
        assert_true(n < 100000);
        json_set_alloc_funcs(failing_malloc, free);
        allocs_left = n;
        const char *why = NULL;
        char *s = zd_mpjson_to_text(p.sb.data, p.sb.size, &why);
        json_set_alloc_funcs(malloc, free);
        if (s) {
            const char *want = "{\"ints\":[1,-5,200,-200,70000,-70000,1099511627776,";
            assert_memory_equal(s, want, strlen(want));
            done = true;
        } else {
            assert_string_equal(why, "out of memory");
        }
        free(s);
    }
    msgpack_sbuffer_destroy(&p.sb);
}

/* JSON -> msgpack -> JSON gives back the document. */
static void round_trip(const char *doc) {
    json_error_t err;
    json_t *j = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j)
        fail_msg("bad test document %s: %s", doc, err.text);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(zd_mpjson_from_json(j, &sb), 0);
    const char *why = NULL;
    json_t *back = zd_mpjson_to_json(sb.data, sb.size, &why);
    if (!back)
        fail_msg("%s did not come back: %s", doc, why);
    if (!json_equal(j, back))
        fail_msg("%s came back different", doc);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    char *got = zd_mpjson_to_text(sb.data, sb.size, NULL);
    assert_string_equal(got, want);
    free(want);
    free(got);
    json_decref(back);
    json_decref(j);
    msgpack_sbuffer_destroy(&sb);
}

static void test_round_trip(void **state) {
    (void)state;
    static const char *const docs[] = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "127",
        "-32",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "-0.0",
        "1e-300",
        "3.141592653589793",
        "\"\"",
        "\"h\\u00e9llo \\ud83d\\ude42 \\u0000 end\"",
        "[]",
        "{}",
        "[[[]],{},[{}]]",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\",\"e\":{\"f\":{\"g\":[true,false,0.25]}}}",
        "{\"z\":1,\"y\":2,\"x\":3}",
        "{\"\":0,\"k e y\":1,\"\\u00fc\":[\"\\u00fc\"]}",
        "{\"base64\":\"aGk=\",\"uint64\":\"1\"}",
        "{\"map\":[[1,2]]}",
        "[1,-1,255,-255,65535,-65535,4294967295,-4294967296,1099511627776]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        round_trip(docs[i]);

    /* Keys with NUL bytes (jansson's parser refuses them, its setters do not). */
    json_t *obj = json_object();
    json_object_setn_new(obj, "k\0y", 3, json_true());
    json_object_setn_new(obj, "k", 1, json_false());
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(zd_mpjson_from_json(obj, &sb), 0);
    assert_memory_equal(sb.data, "\x82\xa3k\0y\xc3\xa1k\xc2", 9);
    char *nul = zd_mpjson_to_text(sb.data, sb.size, NULL);
    assert_string_equal(nul, "{\"k\\u0000y\":true,\"k\":false}");
    free(nul);
    msgpack_sbuffer_destroy(&sb);
    json_decref(obj);

    /* A long string and a long array take the 16- and 32-bit headers. */
    json_t *arr = json_array();
    for (int i = 0; i < 70000; i++)
        json_array_append_new(arr, json_integer(i * 3 - 1000));
    char *s = json_dumps(arr, JSON_COMPACT);
    json_t *doc = json_pack("{s:o,s:s}", "arr", arr, "text", s);
    char *text = json_dumps(doc, JSON_COMPACT);
    round_trip(text);
    free(text);
    free(s);
    json_decref(doc);
}

static void test_from_json_limits(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(zd_mpjson_from_json(NULL, &sb), ZDAG_EINVAL);
    json_t *one = json_integer(1);
    assert_int_equal(zd_mpjson_from_json(one, NULL), ZDAG_EINVAL);

    /* Deepest allowed: the same limit as the reader, so the output always converts back. */
    json_t *j = json_incref(one);
    for (int i = 0; i < ZD_MPJSON_MAX_DEPTH - 1; i++)
        j = i % 2 ? json_pack("[o]", j) : json_pack("{s:o}", "k", j);
    assert_int_equal(zd_mpjson_from_json(j, &sb), 0);
    json_t *back = zd_mpjson_to_json(sb.data, sb.size, NULL);
    assert_non_null(back);
    assert_true(json_equal(j, back));
    json_decref(back);

    /* One more level is refused, and the buffer keeps only what it had. */
    size_t before = sb.size;
    j = json_pack("[o]", j);
    assert_int_equal(zd_mpjson_from_json(j, &sb), ZDAG_ETOOBIG);
    assert_int_equal(sb.size, before);
    json_decref(j);

    /* A cycle ends at the depth limit instead of running forever. */
    json_t *loop = json_array();
    json_t *inner = json_array();
    json_array_append(loop, inner);
    json_array_append(inner, loop);
    assert_int_equal(zd_mpjson_from_json(loop, &sb), ZDAG_ETOOBIG);
    assert_int_equal(sb.size, before);
    json_array_clear(inner); /* break the cycle so that both are freed */
    json_decref(inner);
    json_decref(loop);

    /* Appends: two values one after the other. */
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(zd_mpjson_from_json(one, &sb), 0);
    assert_int_equal(zd_mpjson_from_json(one, &sb), 0);
    assert_int_equal(sb.size, 2);
    assert_memory_equal(sb.data, "\x01\x01", 2);
    json_decref(one);
    msgpack_sbuffer_destroy(&sb);
}

static void test_million(void **state) {
    (void)state;
    enum { N = 1000000 };
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, N);
    for (int i = 0; i < N; i++)
        msgpack_pack_int(&p.pk, i % 2 ? -i : i);
    const char *why = NULL;
    json_t *j = zd_mpjson_to_json(p.sb.data, p.sb.size, &why);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), N);
    assert_int_equal(json_integer_value(json_array_get(j, 0)), 0);
    assert_int_equal(json_integer_value(json_array_get(j, 1)), -1);
    assert_int_equal(json_integer_value(json_array_get(j, N - 2)), N - 2);
    assert_int_equal(json_integer_value(json_array_get(j, N - 1)), -(N - 1));

    msgpack_sbuffer back;
    msgpack_sbuffer_init(&back);
    assert_int_equal(zd_mpjson_from_json(j, &back), 0);
    assert_int_equal(back.size, p.sb.size);
    assert_memory_equal(back.data, p.sb.data, p.sb.size);
    msgpack_sbuffer_destroy(&back);
    json_decref(j);

    char *s = zd_mpjson_to_text(p.sb.data, p.sb.size, &why);
    assert_non_null(s);
    assert_memory_equal(s, "[0,-1,2,-3,", 11);
    assert_string_equal(s + strlen(s) - strlen("999998,-999999]"), "999998,-999999]");
    free(s);

    /* The same count with one item missing is refused up front. */
    refuse_bytes(p.sb.data, p.sb.size - 1, "truncated msgpack value");
    msgpack_sbuffer_destroy(&p.sb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_huge_ints),
        cmocka_unit_test(test_nonfinite_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bin),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_non_string_keys),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_from_json_limits),
        cmocka_unit_test(test_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
