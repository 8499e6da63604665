/* Code identities: 32 bytes that change when the code in a file changes, for the definition
 * hash of function nodes (common/defhash.h), so that `--resume` never restores a result that
 * older code computed.
 *
 * A file's identity is, when it is an ELF file of this machine's class and byte order with an
 * NT_GNU_BUILD_ID note (the linker's hash of the code; GCC and Clang on most distributions ask
 * for one by default), SHA-256("zdag-build-id" || the note's bytes): relinking the same code
 * gives the same identity, whatever the file's time stamps, path or stripped debug sections.
 * Otherwise SHA-256("zdag-content" || the whole file). The notes are read from the program
 * headers with <elf.h>, bounded; nothing is loaded or run.
 *
 * Identities are cached by path, device, inode, size and modification time, so that asking
 * for the same plugin for every node of a large pipeline reads it once. */
#ifndef ZD_CODEID_H
#define ZD_CODEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZD_CODEID_SIZE 32

typedef struct zd_codeid_cache zd_codeid_cache;

/* Creates an empty cache; NULL when out of memory. Free with zd_codeid_cache_free(). */
zd_codeid_cache *zd_codeid_cache_new(void);

/* Frees the cache; sets *c to NULL. Accepts NULL. */
void zd_codeid_cache_free(zd_codeid_cache **c);

/* Stores the identity of the file at path in out (see above). Returns 0; ZDAG_ENOENT when the
 * file cannot be opened or is not a regular file, ZDAG_EIO when it cannot be read, ZDAG_ENOMEM
 * (out is then zeroed). */
int zd_codeid_file(zd_codeid_cache *c, const char *path, uint8_t out[ZD_CODEID_SIZE])
    __attribute__((warn_unused_result));

/* The identity of the running program's executable (/proc/self/exe: the file this process was
 * started from, even when it has been replaced since). Returns as zd_codeid_file(). */
int zd_codeid_self(zd_codeid_cache *c, uint8_t out[ZD_CODEID_SIZE])
    __attribute__((warn_unused_result));

/* How many times a file was actually read (cache misses), for tests. */
size_t zd_codeid_reads(const zd_codeid_cache *c);

/* The names an ELF shared library exports (its .dynsym entries that dlsym() can find: defined,
 * global or weak, default or protected visibility), read from its section headers, bounded. */
typedef struct zd_codeid_exports zd_codeid_exports;

/* Reads the exports of the file at path into *out (caller frees with
 * zd_codeid_exports_free()). *out is NULL when they cannot be told (not an ELF file of this
 * machine, no section headers or no .dynsym, malformed headers): then any name may come from
 * it. Returns 0, or ZDAG_ENOMEM. */
int zd_codeid_exports_read(const char *path, zd_codeid_exports **out)
    __attribute__((warn_unused_result));

/* Whether the library exports `name`; true when e is NULL (unknown). O(log n). */
bool zd_codeid_exports_has(const zd_codeid_exports *e, const char *name);

/* Frees the exports; sets *e to NULL. Accepts NULL. */
void zd_codeid_exports_free(zd_codeid_exports **e);

#endif
