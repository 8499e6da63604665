/* One packed msgpack value as JSON (the form `--results` writes for a function's result), the
 * way back for plain JSON, and the base64 text that both use for bytes.
 *
 * msgpack -> JSON:
 *
 *   nil                      null
 *   true, false              true, false
 *   integer in int64 range   integer (every negative integer, and 0 .. 2^63-1)
 *   integer above INT64_MAX  {"uint64": "18446744073709551615"} (exact decimal digits; jansson
 *                            integers are int64, and a JSON real would round)
 *   float32, float64         real (a float32 widened exactly to double: 0.1f shows as
 *                            0.10000000149011612; text has up to 17 significant digits)
 *   NaN, +Inf, -Inf          {"float": "nan"}, {"float": "inf"}, {"float": "-inf"} (JSON has
 *                            no such numbers; the NaN's sign and payload are dropped)
 *   str, valid UTF-8         string (NUL bytes included, written as \u0000)
 *   str, not UTF-8           {"base64": "..."} (RFC 4648, padded: the bytes as they were)
 *   bin                      {"base64": "..."}
 *   array                    array
 *   map, all keys strings    object, in the map's order; a key given twice keeps the place of
 *                            its first occurrence and the value of its last
 *   map, any other key       {"map": [[key, value], ...]}: every pair, in order, converted by
 *                            these same rules (a key that is not a valid UTF-8 str - an integer,
 *                            a bin, a non-UTF-8 str, an array, ... - makes the whole map take
 *                            this form; duplicate keys are all kept)
 *   ext (any type)           error: no JSON form
 *
 * The tagged forms are objects with exactly one member named "uint64", "float", "base64" or
 * "map". A msgpack map that itself is {"base64": "..."} (and so on) converts to the same JSON,
 * so a reader cannot tell the two apart; str and bin holding the same non-UTF-8 bytes also
 * look alike.
 *
 * JSON -> msgpack (zd_mpjson_from_json) is the plain mapping and reads no tags: null -> nil,
 * booleans -> bool, integer -> the smallest msgpack int, real -> float64, string -> str,
 * array -> array, object -> map with str keys. So JSON -> msgpack -> JSON gives back the same
 * document; msgpack -> JSON -> msgpack does not in general (tags come back as maps).
 *
 * Input is untrusted: it is checked with zd_wire_well_formed() first (container counts within
 * the bytes, no ext, no trailing bytes, at most ZD_MPJSON_MAX_DEPTH levels), then converted
 * without recursion, so memory stays proportional to the input and garbage fails cleanly. */
#ifndef ZD_MPJSON_H
#define ZD_MPJSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#include "zdag.h"

/* Deepest nesting converted either way, counting the innermost value: 1 is a scalar, [[1]] is 3.
 * An empty container counts like a scalar. 63 is the most zd_wire_well_formed() checks. */
#define ZD_MPJSON_MAX_DEPTH 63

/* Converts the packed msgpack value buf[0..len) to a new JSON value. The caller owns the
 * result; release it with json_decref(). Returns NULL on malformed or truncated input, input
 * nested deeper than ZD_MPJSON_MAX_DEPTH, an ext type anywhere, or out of memory, and then sets
 * *why (when why is not NULL) to a static reason. buf is borrowed. */
json_t *zd_mpjson_to_json(const void *buf, size_t len, const char **why);

/* Same, serialised as compact JSON text (no spaces, NUL-terminated, not newline-terminated).
 * The caller frees the string with free(). */
char *zd_mpjson_to_text(const void *buf, size_t len, const char **why);

/* Appends j (borrowed) to out as one packed msgpack value, with the plain mapping above.
 * Returns 0; ZDAG_EINVAL for a NULL argument; ZDAG_ETOOBIG when j is nested deeper than
 * ZD_MPJSON_MAX_DEPTH (this also stops a cyclic value) or a string, array or object exceeds
 * msgpack's 2^32-1 limit; ZDAG_ENOMEM. On error out is left as it was. */
int zd_mpjson_from_json(const json_t *j, msgpack_sbuffer *out) __attribute__((warn_unused_result));

/* Returns data[0..len) as padded base64 (RFC 4648, "+/" alphabet, no line breaks), as a
 * NUL-terminated string that the caller frees with free(); NULL when out of memory. data may be
 * NULL when len is 0. */
char *zd_base64(const void *data, size_t len);

#endif
