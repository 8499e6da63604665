/* libFuzzer harness for msgpack -> JSON: arbitrary bytes into zd_mpjson_to_json().
 *
 * The converter must accept exactly the inputs that zd_wire_well_formed() accepts at depth
 * ZD_MPJSON_MAX_DEPTH and give a reason for every refusal. A converted value is also taken the
 * way back: the header promises that JSON -> msgpack -> JSON gives the same document, so
 * zd_mpjson_from_json() of the result, converted again, must equal it (the tagged forms may nest
 * deeper than the limit; zd_mpjson_from_json() may refuse those with ZDAG_ETOOBIG). The text
 * form must exist whenever the JSON does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpjson.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_mpjson: %s\n", what);
        abort();
    }
}

/* Compares the compact texts: jansson's json_equal() looks object keys up as C strings, so it
 * calls two objects with a key holding a NUL different even when they are the same. Order is
 * kept both ways (jansson keeps insertion order; the conversions keep the map's order). */
static bool same_text(const json_t *a, const json_t *b) {
    char *x = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *y = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    check(x && y, "out of memory");
    bool same = strcmp(x, y) == 0;
    if (!same)
        fprintf(stderr, "fuzz_mpjson: %s\nfuzz_mpjson: %s\n", x, y);
    free(x);
    free(y);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *why = NULL;
    json_t *j = zd_mpjson_to_json(data, size, &why);
    bool formed = zd_wire_well_formed(data, size, ZD_MPJSON_MAX_DEPTH);
    if (!j) {
        check(why != NULL && why[0] != '\0', "a refusal without a reason");
        check(!formed, "a well-formed value was refused");
        return 0;
    }
    check(formed, "a value that is not well-formed was converted");

    char *text = zd_mpjson_to_text(data, size, &why);
    check(text != NULL, "JSON without a text form");
    free(text);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = zd_mpjson_from_json(j, &sb);
    check(rc == 0 || rc == ZDAG_ETOOBIG || rc == ZDAG_ENOMEM,
          "unexpected zd_mpjson_from_json error");
    if (rc == 0) {
        json_t *again = zd_mpjson_to_json(sb.data, sb.size, &why);
        if (!again)
            fprintf(stderr, "fuzz_mpjson: back again: %s\n", why);
        check(again != NULL, "zd_mpjson_from_json() produced msgpack that does not convert");
        check(same_text(j, again), "JSON -> msgpack -> JSON changed the document");
        json_decref(again);
    }
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
    return 0;
}
