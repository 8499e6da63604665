/* Typed reading of YAML values over a zd_yaml cursor, with compiler-style messages.
 *
 * A schema is written as callbacks over mapping entries: zd_yread_map() calls one for each
 * entry, with the value's first event current, and the callback reads the value with the
 * zd_yread_* readers below. A reader that meets a value of the wrong shape reports
 * `SUBJECT must be EXPECT` at the value ("\"cpus\" in node \"a\" must be a number >= 0"), skips
 * it and returns false, so that reading goes on and every error of a file is reported. Every
 * reader consumes the value it is given, whatever it returns. */
#ifndef ZD_YAMLREAD_H
#define ZD_YAMLREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yamlvalue.h"

#define ZD_YREAD_SHOW 96   /* room for one quoted user string in a message */
#define ZD_YREAD_OWNER 160 /* room for a mapping's name in messages, e.g. `env of node "a"` */
#define ZD_YREAD_SUBJECT (ZD_YREAD_SHOW + ZD_YREAD_OWNER)

/* A mapping entry being read. */
typedef struct zd_yentry {
    const char *key;   /* key as written; borrowed for the callback's duration */
    size_t len;        /* bytes in key (it may hold NUL bytes) */
    yaml_mark_t mark;  /* where the key is */
    const char *owner; /* the mapping in messages, e.g. `node "a"`; NULL at the top level */
} zd_yentry;

/* Text from the file with its position. */
typedef struct zd_ytext {
    char *text;    /* owned, NUL-terminated */
    int line, col; /* 1-based */
} zd_ytext;

/* Reads the value of entry e, whose first event is current, and consumes it. */
typedef void (*zd_yentry_fn)(zd_yaml *y, const zd_yentry *e, void *ctx);

/* Calls fn for each entry of the mapping whose start event is current, in file order. Keys must
 * be scalars. With check_dups a key met twice is reported ("duplicate key") and its value
 * skipped; mappings with fixed keys may check with a bit set instead. Returns false when parsing
 * stopped (zd_yaml_failed()). */
bool zd_yread_map(zd_yaml *y, const char *owner, bool check_dups, zd_yentry_fn fn, void *ctx);

/* Returns the index of e's key in names[0..n), or -1. */
int zd_yread_find_key(const char *const *names, size_t n, const zd_yentry *e);

/* Reports a problem with e's key at the key: `PROBLEM key "k" in OWNER` (or
 * `PROBLEM top-level key "k"`), e.g. problem "unknown" or "duplicate". */
void zd_yread_key_error(zd_yaml *y, const zd_yentry *e, const char *problem);

/* Reports an unknown key like zd_yread_key_error(y, e, "unknown"), adding `; did you mean
 * "NAME"?` when one of names[0..n) is close to it (see zd_yread_suggest()). */
void zd_yread_unknown_key(zd_yaml *y, const zd_yentry *e, const char *const *names, size_t n);

/* The optimal-string-alignment distance between a[0..na) and b[0..nb) (insertions, deletions,
 * substitutions and transpositions of neighbours, each 1), or limit + 1 when it exceeds limit
 * (cut short: O(na * nb) time at most, strings longer than 64 bytes are never close). */
size_t zd_yread_distance(const char *a, size_t na, const char *b, size_t nb, size_t limit);

/* Whether `word` is close enough to `name` to be suggested for it: distance <= 2 and at most a
 * third of the longer one (so "x" is not "fn"). Stores the distance in *dist. */
bool zd_yread_close(const char *word, size_t len, const char *name, size_t *dist);

/* Returns the index of the name in names[0..n) closest to word (the first of equals) when one
 * is close (zd_yread_close()), or -1. */
int zd_yread_suggest(const char *word, size_t len, const char *const *names, size_t n);

/* Writes `"KEY" in OWNER` (or `"KEY"`) into buf; returns buf. */
const char *zd_yread_subject(char *buf, size_t size, const zd_yentry *e);

/* Reports `SUBJECT must be EXPECT` at the current event (unless it is an alias, reported when
 * read) and skips the value. */
void zd_yread_bad_value(zd_yaml *y, const zd_yentry *e, const char *expect);

/* Reads any non-null scalar as written (e.g. `true` gives "true") into *out, which the caller
 * owns. Empty text and NUL bytes are refused. */
bool zd_yread_text(zd_yaml *y, const zd_yentry *e, const char *expect, char **out);

/* Reads a finite number (an integer or float scalar) >= min, or > min when !inclusive. */
bool zd_yread_number(zd_yaml *y, const zd_yentry *e, double min, bool inclusive, double *out);

/* Reads an integer in [min, max]; beyond it the message is `SUBJECT is out of range`. */
bool zd_yread_int(zd_yaml *y, const zd_yentry *e, int64_t min, int64_t max, int64_t *out);

/* Reads true or false (core schema). */
bool zd_yread_bool(zd_yaml *y, const zd_yentry *e, bool *out);

/* Reads a sequence of scalars as written, each with its position, into *out (caller frees with
 * zd_ytext_free()). Empty entries are refused unless allow_empty. */
bool zd_yread_list(zd_yaml *y, const zd_yentry *e, const char *expect, bool allow_empty,
                   zd_ytext **out, size_t *n_out);

/* Same into a NULL-terminated array of strings (caller frees each and the array). */
bool zd_yread_strv(zd_yaml *y, const zd_yentry *e, const char *expect, bool allow_empty,
                   char ***out, size_t *n_out);

/* Checks a key that names something (`what`: "resource", "pool", ...): not empty, no NUL byte,
 * and no '=' when no_equals. Otherwise reports `invalid WHAT name "k" in OWNER`, skips the value
 * and returns false. */
bool zd_yread_name_key(zd_yaml *y, const zd_yentry *e, const char *what, bool no_equals);

/* Frees n texts and the array. Accepts NULL. */
void zd_ytext_free(zd_ytext *v, size_t n);

/* Returns arr grown to hold at least n + 1 elements of size bytes (*cap updated), or NULL when
 * out of memory (reported through y; arr is then unchanged and still owned by the caller). */
void *zd_yread_grow(zd_yaml *y, void *arr, size_t *cap, size_t n, size_t size);

/* Returns a NUL-terminated copy of bytes[0..len), or NULL when out of memory (reported). */
char *zd_yread_dup(zd_yaml *y, const void *bytes, size_t len);

#endif
