/* The result store: one file per result, named by the lowercase hex SHA-256 of its bytes, in a
 * directory (the coordinator's STATE_DIR/results, or a worker host's cache of the results it
 * made or fetched). A file is written as DIR/tmp.XXXXXX, fdatasync'ed and renamed in, so a name
 * that exists holds the whole result; anything named tmp.* is garbage (zd_store_prepare()
 * removes it). Results of at most ZD_RESULT_INLINE_MAX bytes never get a file: they travel and
 * are kept inline.
 *
 * A writer takes a result as it is produced (a command's stdout, an upload's chunks), hashing it
 * as it goes (libsodium's SHA-256 state) and keeping only its first ZD_RESULT_INLINE_MAX bytes
 * in memory: the file is created when the result grows past them. Memory stays bounded by that
 * whatever the result's size. */
#ifndef ZD_STORE_H
#define ZD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZD_RESULT_INLINE_MAX 4096u           /* results up to this size stay inline */
#define ZD_RESULT_DEFAULT_MAX (1ull << 30)   /* max_result when none is set: 1 GiB */
#define ZD_RESULT_LIMIT_MAX (1ull << 40)     /* the largest max_result accepted: 1 TiB */
#define ZD_STORE_HASH 32                     /* bytes of a result's hash (SHA-256) */
#define ZD_STORE_HEX (2 * ZD_STORE_HASH + 1) /* its hex name with the NUL */
#define ZD_STORE_PATH 4096                   /* room for a store file's path */

/* Creates dir (mode 0700) when missing and removes the tmp.* files a crash left in it.
 * Returns 0 or ZDAG_ESYS (errno set). */
int zd_store_prepare(const char *dir) __attribute__((warn_unused_result));

/* The lowercase hex of hash into hex (ZD_STORE_HEX bytes). */
void zd_store_hex(const uint8_t hash[ZD_STORE_HASH], char hex[ZD_STORE_HEX]);

/* DIR/HEX into buf; false when it does not fit. */
bool zd_store_path(const char *dir, const uint8_t hash[ZD_STORE_HASH], char *buf, size_t size);

/* True when DIR/HEX exists, is a regular file of `size` bytes and (when check_hash) its bytes
 * hash to `hash`. Reads the file in 1 MiB pieces: memory does not grow with its size. */
bool zd_store_verify(const char *dir, const uint8_t hash[ZD_STORE_HASH], uint64_t size,
                     bool check_hash);

/* Maps DIR/HEX read-only (it must have `size` bytes); returns the mapping (release with
 * zd_store_unmap()) or NULL with errno set. A size of 0 maps nothing and returns "". */
const char *zd_store_map(const char *dir, const uint8_t hash[ZD_STORE_HASH], uint64_t size);
void zd_store_unmap(const char *p, uint64_t size);

/* Formats a byte count as users write it: "1 GiB", "64 MiB", "512 KiB", "1000 bytes". */
void zd_size_format(uint64_t bytes, char *buf, size_t size);

/* Parses "512", "64MiB", "1 GiB", "10kB", "2M" (K/M/G/T, with or without "i" and "B"; powers
 * of 1024) into *out. False for anything else, zero or a value over ZD_RESULT_LIMIT_MAX. */
bool zd_size_parse(const char *text, uint64_t *out);

/* A result being written. */
typedef struct zd_store_writer zd_store_writer;

/* Starts a result of at most `limit` bytes (0: ZD_RESULT_DEFAULT_MAX) whose file, if it needs
 * one, goes to dir (copied). Returns NULL when out of memory. */
zd_store_writer *zd_store_writer_new(const char *dir, uint64_t limit);

/* Appends n bytes. Returns 0, ZDAG_ETOOBIG when the result would pass its limit (nothing more
 * is kept; the writer stays failed), or ZDAG_ESYS when the file cannot be created or written
 * (errno kept in zd_store_writer_errno()). */
int zd_store_writer_write(zd_store_writer *w, const void *buf, size_t n)
    __attribute__((warn_unused_result));

/* Bytes appended so far. */
uint64_t zd_store_writer_size(const zd_store_writer *w);

/* Ends the result. A result of at most ZD_RESULT_INLINE_MAX bytes stays in memory: *in_store
 * false, *inline_bytes points at it (borrowed until the writer is freed). A larger one is
 * fdatasync'ed and renamed to DIR/HEX (mode 0444): *in_store true. hash and *size are set in
 * both cases. Returns 0, ZDAG_ETOOBIG (the limit was passed), or ZDAG_ESYS. */
int zd_store_writer_finish(zd_store_writer *w, bool *in_store, uint8_t hash[ZD_STORE_HASH],
                           uint64_t *size, const char **inline_bytes)
    __attribute__((warn_unused_result));

/* The errno of the last ZDAG_ESYS. */
int zd_store_writer_errno(const zd_store_writer *w);

/* Frees the writer, removing its temporary file if it was not finished; sets *w to NULL.
 * Accepts NULL. */
void zd_store_writer_free(zd_store_writer **w);

#endif
