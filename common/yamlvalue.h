/* A cursor over libyaml's event stream, with the guards a file loader needs: a nesting limit,
 * an error limit, compiler-style messages, YAML 1.2 core-schema scalar resolution, duplicate-key
 * detection and the conversion of any YAML value to one msgpack value.
 *
 * Events are pulled one at a time, so memory stays proportional to what the caller keeps, and
 * nothing recurses deeper than ZD_YAML_MAX_DEPTH: 10 MB of "[[[[" stops at level 65 with one
 * error instead of growing libyaml's stacks.
 *
 * Aliases (*name) are rejected with an error (anchors alone are ignored): expanding them could
 * turn a small file into an exponentially large value ("billion laughs"), and a pipeline file
 * has no need for them. Tags: "!", "!!str", "!!null", "!!bool", "!!int", "!!float", "!!seq"
 * and "!!map" are understood; any other tag is an error. */
#ifndef ZD_YAMLVALUE_H
#define ZD_YAMLVALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <yaml.h>

#include "diag.h"

#define ZD_YAML_MAX_DEPTH 64   /* nested sequences/mappings in a document */
#define ZD_YAML_MAX_ERRORS 100 /* errors reported before giving up */

typedef struct zd_yaml zd_yaml;

/* Opens a cursor over the YAML text buf[0..len) (borrowed: it must outlive the cursor). Text
 * without a UTF-16 byte order mark must be UTF-8: the first invalid byte is reported, with its
 * position, when the first event is read. Errors go
 * to diags (borrowed) as "NAME:LINE:COL: error: ..."; name is borrowed too. Returns NULL when out
 * of memory. Free with zd_yaml_close(). */
zd_yaml *zd_yaml_open(const char *name, const char *buf, size_t len, zd_diags *diags);

/* Writes the errors reported so far to diags, sorted by position (line, then column; errors
 * without a position last; ties in the order reported), then "too many errors, stopping" when
 * the limit was reached. Errors are held until then so that a file's messages come out in line
 * order whatever order the checks ran in. zd_yaml_close() flushes too. */
void zd_yaml_flush(zd_yaml *y);

/* Flushes (zd_yaml_flush), then frees the cursor; sets *y to NULL. Accepts NULL and *y == NULL. */
void zd_yaml_close(zd_yaml **y);

/* Moves to the next event. Returns false when parsing has stopped: after a syntax error,
 * nesting deeper than ZD_YAML_MAX_DEPTH, too many errors, or out of memory (each reported, see
 * zd_yaml_failed()), and after the end of the stream. Every later call returns false too. An
 * alias or an unsupported tag is reported but does not stop the cursor. */
bool zd_yaml_next(zd_yaml *y);

/* Ends the reading: the input given to zd_yaml_open() is no longer used and may be freed, and
 * zd_yaml_next() returns false from now on. Errors are still reported, and zd_yaml_failed()
 * still tells whether parsing stopped early. */
void zd_yaml_end_input(zd_yaml *y);

/* Returns the current event (borrowed; valid until the next zd_yaml_next()). */
const yaml_event_t *zd_yaml_event(const zd_yaml *y);

/* Takes the text of the current event, which must be a scalar: NUL-terminated, its length
 * (it may hold NUL bytes) in *len. The caller owns it and frees it with free(); the event's
 * text then reads as empty. Saves a copy of text that is needed past the event. */
char *zd_yaml_take_text(zd_yaml *y, size_t *len);

/* Returns whether the current event is of the given type. */
bool zd_yaml_at(const zd_yaml *y, yaml_event_type_t type);

/* Consumes the value whose first event is current: afterwards the current event is its last
 * (the scalar itself, or the matching end event). Returns false when parsing has stopped. */
bool zd_yaml_skip(zd_yaml *y);

/* Reports an error at a libyaml mark (0-based, printed 1-based). Counts toward
 * ZD_YAML_MAX_ERRORS; the error that reaches the limit stops the cursor. */
void zd_yaml_error(zd_yaml *y, yaml_mark_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same at a 1-based line and column. */
void zd_yaml_error_at(zd_yaml *y, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports "out of memory" and stops the cursor. */
void zd_yaml_fail_nomem(zd_yaml *y);

/* Returns the number of errors reported so far. */
size_t zd_yaml_error_count(const zd_yaml *y);

/* Returns whether parsing stopped before the end of the stream (syntax error, a limit, out of
 * memory): what was read is then incomplete. */
bool zd_yaml_failed(const zd_yaml *y);

/* Returns whether the cursor stopped because memory ran out. */
bool zd_yaml_nomem(const zd_yaml *y);

/* Returns an id for the mapping whose start event is current, for zd_yaml_key_seen(). */
uint64_t zd_yaml_map_id(const zd_yaml *y);

/* Records key[0..len) as a key of mapping `map` and returns whether it was recorded before, in
 * O(1) on average. Out of memory stops the cursor and returns false. */
bool zd_yaml_key_seen(zd_yaml *y, uint64_t map, const void *key, size_t len);

typedef enum zd_yaml_type {
    ZD_YAML_NULL,  /* null, Null, NULL, ~ or empty, unquoted */
    ZD_YAML_BOOL,  /* true/True/TRUE/false/False/FALSE, unquoted */
    ZD_YAML_INT,   /* [-+]?[0-9]+, 0x[0-9a-fA-F]+ or 0o[0-7]+, unquoted */
    ZD_YAML_FLOAT, /* decimal with a point or an exponent, [-+].inf, .nan, unquoted */
    ZD_YAML_STR,   /* anything else, and every quoted or block scalar */
} zd_yaml_type;

/* A scalar resolved by the YAML 1.2 core schema (yes/no/on/off are strings). */
typedef struct zd_yaml_scalar {
    zd_yaml_type type;  /* the resolved type */
    bool boolean;       /* ZD_YAML_BOOL: the value */
    bool negative;      /* ZD_YAML_INT: the value is -magnitude */
    bool overflow;      /* ZD_YAML_INT: the magnitude does not fit 64 bits */
    uint64_t magnitude; /* ZD_YAML_INT: absolute value */
    double number;      /* ZD_YAML_INT and ZD_YAML_FLOAT: the value as a double */
    const char *text;   /* the scalar as written, NUL-terminated (borrowed from the event) */
    size_t len;         /* bytes in text; it may hold NUL bytes from "\0" escapes */
} zd_yaml_scalar;

/* Resolves the current event, which must be a scalar. Returns false when an explicit tag does not
 * fit the text (e.g. !!int "abc"; reported). */
bool zd_yaml_resolve(zd_yaml *y, zd_yaml_scalar *out);

/* Stores a ZD_YAML_INT scalar's value in *out and returns true when it fits int64_t. */
bool zd_yaml_scalar_int64(const zd_yaml_scalar *s, int64_t *out);

/* Consumes the value whose first event is current and appends it to out as one msgpack value:
 * null -> nil, bool, int (int64, or uint64 above INT64_MAX), float -> float64, strings -> str,
 * sequences -> arrays, mappings -> maps in file order. `where` (e.g. "in args of node \"a\"")
 * completes error messages. Returns 0, or ZDAG_EPIPELINE when the value holds errors (duplicate
 * keys, integers beyond 64 bits, aliases, bad tags; reported) or parsing stopped. */
int zd_yaml_pack(zd_yaml *y, msgpack_sbuffer *out, const char *where)
    __attribute__((warn_unused_result));

/* Writes text[0..len) into buf (size >= 16 bytes) double-quoted for a message, with control
 * characters, quotes and backslashes escaped and long text cut with "...". Returns buf. */
const char *zd_yaml_quote(char *buf, size_t size, const char *text, size_t len);

#endif
