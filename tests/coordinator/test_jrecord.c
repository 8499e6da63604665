/* The journal's record schema: round trips of HEADER and NODE_DONE (inline and stored results,
 * history), version 1 records, checks before appending, the cheap name peek. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "jrecord.h"
#include "zdag.h"

static void test_header_round_trip(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(zd_jrecord_pack_header(&sb, "/p.yaml", 5.0), 0);
    zd_jrecord_decoder *dec = zd_jrecord_decoder_new();
    zd_jrecord r;
    char why[160];
    assert_int_equal(zd_jrecord_decode_header(dec, sb.data, sb.size, &r, why, sizeof why), 0);
    assert_int_equal(r.version, ZD_JOURNAL_VERSION);
    assert_int_equal(r.pipeline_len, 7);
    assert_memory_equal(r.pipeline, "/p.yaml", 7);
    assert_int_equal(zd_jrecord_decode_header(dec, "\x93\x02\x01\x01", 4, &r, why, sizeof why),
                     ZDAG_EPROTO);
    assert_string_equal(why, "no journal header");
    zd_jrecord_decoder_free(&dec);
    msgpack_sbuffer_destroy(&sb);
}

static void test_node_round_trip(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    zd_journal_rec in = {.name = "build",
                         .status = ZD_JOURNAL_SUCCEEDED,
                         .result = "hello",
                         .result_len = 5,
                         .duration_s = 2.5,
                         .attempts = 2,
                         .run_id = "r1",
                         .finished_at = 1.7e9};
    memset(in.defhash, 7, sizeof in.defhash);
    assert_null(zd_jrecord_check(&in));
    double hist[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assert_int_equal(zd_jrecord_pack_node(&sb, &in, hist, 12), 0);
    const char *name;
    size_t name_len;
    assert_true(zd_jrecord_peek_name(sb.data, sb.size, &name, &name_len));
    assert_int_equal(name_len, 5);
    assert_memory_equal(name, "build", 5);
    assert_true(zd_jrecord_plausible((const uint8_t *)sb.data, 2));
    zd_jrecord_decoder *dec = zd_jrecord_decoder_new();
    zd_jrecord r;
    char why[160];
    assert_int_equal(
        zd_jrecord_decode_node(dec, sb.data, sb.size, ZD_JOURNAL_VERSION, &r, why, sizeof why), 0);
    assert_int_equal(r.name_len, 5);
    assert_false(r.node.has_inputs); /* not given: nil */
    assert_int_equal(r.node.result_len, 5);
    assert_int_equal(r.node.result_size, 5);
    assert_false(r.node.result_in_store);
    assert_int_equal(r.node.attempts, 2);
    assert_int_equal(r.n_history, ZD_JOURNAL_HISTORY - 1); /* the newest 9 */
    assert_true(r.history[0] == 4 && r.history[8] == 12);
    /* Read as version 1 it has too many fields. */
    assert_int_equal(zd_jrecord_decode_node(dec, sb.data, sb.size, 1, &r, why, sizeof why),
                     ZDAG_ESTATE);
    assert_string_equal(why, "a node record has 10 fields, not 14");
    /* ... and as version 2 too (13 fields, no inputs hash). */
    assert_int_equal(zd_jrecord_decode_node(dec, sb.data, sb.size, 2, &r, why, sizeof why),
                     ZDAG_ESTATE);
    assert_string_equal(why, "a node record has 13 fields, not 14");

    /* A result in the store: hash and size, no bytes. */
    in.result = NULL;
    in.result_len = 0;
    in.result_in_store = true;
    memset(in.result_hash, 0xab, sizeof in.result_hash);
    in.result_size = 1ull << 33;
    in.has_inputs = true;
    memset(in.inputs_hash, 0x5c, sizeof in.inputs_hash);
    assert_int_equal(zd_jrecord_pack_node(&sb, &in, NULL, 0), 0);
    assert_int_equal(
        zd_jrecord_decode_node(dec, sb.data, sb.size, ZD_JOURNAL_VERSION, &r, why, sizeof why), 0);
    assert_true(r.node.has_inputs);
    assert_memory_equal(r.node.inputs_hash, in.inputs_hash, sizeof in.inputs_hash);
    assert_true(r.node.result_in_store);
    assert_int_equal(r.node.result_size, 1ull << 33);
    assert_int_equal(r.node.result_hash[0], 0xab);
    assert_null(r.node.result);
    assert_int_equal(r.n_history, 0);
    zd_jrecord_decoder_free(&dec);
    msgpack_sbuffer_destroy(&sb);
}

/* A version 2 record (13 fields: no inputs hash) decodes without one. */
static void test_version_2_has_no_inputs(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    zd_journal_rec in = {
        .name = "n", .result = "ok", .result_len = 2, .run_id = "r", .has_inputs = true};
    assert_int_equal(zd_jrecord_pack_node(&sb, &in, NULL, 0), 0);
    /* Drop the last field (the inputs hash) and make the array 13 long. */
    assert_true((uint8_t)sb.data[0] == 0x9e);
    sb.data[0] = (char)0x9d;
    sb.size -= 2 + ZD_INPUTS_HASH_SIZE; /* bin 8 header + 32 bytes */
    zd_jrecord_decoder *dec = zd_jrecord_decoder_new();
    zd_jrecord r;
    char why[160];
    assert_int_equal(zd_jrecord_decode_node(dec, sb.data, sb.size, 2, &r, why, sizeof why), 0);
    assert_false(r.node.has_inputs);
    assert_int_equal(r.node.result_len, 2);
    zd_jrecord_decoder_free(&dec);
    msgpack_sbuffer_destroy(&sb);
}

/* A node without dependencies gets the SHA-256 of the tag alone (a constant, not hashed each
 * time): the value journals of before hold. */
static void test_inputs_hash_without_deps(void **state) {
    (void)state;
    uint8_t got[ZD_INPUTS_HASH_SIZE], want[ZD_INPUTS_HASH_SIZE];
    zd_inputs x;
    zd_inputs_init(&x);
    zd_inputs_final(&x, got);
    crypto_hash_sha256(want, (const unsigned char *)"zdag-inputs-1", sizeof "zdag-inputs-1");
    assert_memory_equal(got, want, sizeof want);
}

/* The inputs hash: the same dependency results give the same hash, whether a result is inline
 * or its SHA-256 is given (it moved into the store); another result, name, format or order
 * another hash. */
static void test_inputs_hash(void **state) {
    (void)state;
    uint8_t id[ZD_RESULT_HASH_SIZE], h[6][ZD_INPUTS_HASH_SIZE];
    zd_inputs_identity("one", 3, id);
    zd_inputs x;
    zd_inputs_init(&x);
    zd_inputs_add(&x, "d", false, NULL, "one", 3);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_final(&x, h[0]);
    zd_inputs_init(&x);
    zd_inputs_add(&x, "d", false, id, NULL, 0);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_final(&x, h[1]);
    assert_memory_equal(h[0], h[1], ZD_INPUTS_HASH_SIZE);
    zd_inputs_init(&x);
    zd_inputs_add(&x, "d", false, NULL, "onE", 3);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_final(&x, h[2]);
    zd_inputs_init(&x);
    zd_inputs_add(&x, "d", true, NULL, "one", 3);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_final(&x, h[3]);
    zd_inputs_init(&x);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_add(&x, "d", false, NULL, "one", 3);
    zd_inputs_final(&x, h[4]);
    zd_inputs_init(&x);
    zd_inputs_add(&x, "dd", false, NULL, "one", 3);
    zd_inputs_add(&x, "e", true, NULL, "two", 3);
    zd_inputs_final(&x, h[5]);
    for (int i = 2; i < 6; i++) {
        assert_memory_not_equal(h[0], h[i], ZD_INPUTS_HASH_SIZE);
        for (int k = 2; k < i; k++)
            assert_memory_not_equal(h[k], h[i], ZD_INPUTS_HASH_SIZE);
    }
}

static void test_checks(void **state) {
    (void)state;
    zd_journal_rec r = {.name = "a", .attempts = 1, .run_id = ""};
    assert_null(zd_jrecord_check(&r));
    r.result_len = 3;
    assert_string_equal(zd_jrecord_check(&r), "result bytes missing");
    r.result = "abc";
    r.result_in_store = true;
    assert_string_equal(zd_jrecord_check(&r), "a result both inline and in the store");
    r.result_in_store = false;
    r.duration_s = -1;
    assert_non_null(strstr(zd_jrecord_check(&r), "duration"));
    r.duration_s = 0;
    r.name = "";
    assert_non_null(strstr(zd_jrecord_check(&r), "node name"));
    assert_false(zd_jrecord_plausible((const uint8_t *)"\x95\x01", 2));
    const char *name;
    size_t len;
    assert_false(zd_jrecord_peek_name("\x95\x01\xa1x", 4, &name, &len));
    assert_false(zd_jrecord_peek_name("\x9d\x02\xa5x", 4, &name, &len)); /* str runs past */
}

/* A version 1 record of 12 fields (development builds): hash and size, no history. */
static void test_version_1_with_store_fields(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 12);
    msgpack_pack_uint64(&pk, 2);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_bin_with_body(&pk, "01234567890123456789012345678901", 32);
    msgpack_pack_uint64(&pk, 0);
    msgpack_pack_bin_with_body(&pk, "", 0);
    msgpack_pack_false(&pk);
    msgpack_pack_double(&pk, 1);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "r", 1);
    msgpack_pack_double(&pk, 1.7e9);
    msgpack_pack_bin_with_body(&pk, "abcdefghijklmnopqrstuvwxyz012345", 32);
    msgpack_pack_uint64(&pk, 9000);
    zd_jrecord_decoder *dec = zd_jrecord_decoder_new();
    zd_jrecord r;
    char why[160];
    assert_int_equal(zd_jrecord_decode_node(dec, sb.data, sb.size, 1, &r, why, sizeof why), 0);
    assert_true(r.node.result_in_store);
    assert_int_equal(r.node.result_size, 9000);
    assert_int_equal(r.node.result_hash[0], 'a');
    assert_int_equal(r.n_history, 0);
    zd_jrecord_decoder_free(&dec);
    msgpack_sbuffer_destroy(&sb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_node_round_trip),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_version_1_with_store_fields),
        cmocka_unit_test(test_version_2_has_no_inputs),
        cmocka_unit_test(test_inputs_hash),
        cmocka_unit_test(test_inputs_hash_without_deps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
