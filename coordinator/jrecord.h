/* The run journal's record schema: encoding, decoding and checking of its two records. Each
 * record is the payload of one frame of a framed log (common/framelog.h): one msgpack array,
 * first element the record type.
 *
 *   HEADER    [1, "zdag-journal", version, pipeline, created_at]        first record, only there
 *   NODE_DONE [2, name, defhash, status, result, result_is_msgpack, duration_s, attempts,
 *              run_id, finished_at, result_hash, result_size, history, inputs_hash]
 *
 * with version a uint (ZD_JOURNAL_VERSION), pipeline a str (the pipeline's identity, e.g. its
 * absolute path), created_at and finished_at float64 Unix times, name a str, defhash a 32-byte
 * bin (zd_defhash_compute()), status 0 succeeded / 1 failed, result a bin (empty when the
 * result lives in the result store), result_is_msgpack a bool, duration_s a float64, attempts
 * a uint, run_id a str, result_hash nil (result inline) or the 32-byte SHA-256 of a result in
 * STATE_DIR/results/, result_size a uint (the result's bytes, inline or not), and history an
 * array of at most ZD_JOURNAL_HISTORY - 1 floats (float32 when written): the durations of the
 * node's earlier succeeded runs, oldest first (so that the latest record alone carries the duration
 * history), and inputs_hash nil (unknown) or the 32-byte hash of the dependency results the
 * attempt was given (zd_inputs below).
 *
 * Version 1 (zdag 0.1) had NODE_DONE records of the first 10 fields only; they decode with an
 * inline result, result_size = its length, and no history. Version 1 records of 12 fields
 * (result_hash and result_size, no history: development builds) are read too. Version 2 records
 * (13 fields) have no inputs_hash: they decode with has_inputs false.
 *
 * Decoding is bounded: every payload passes zd_wire_well_formed() (depth <=
 * ZD_JOURNAL_MAX_DEPTH) before msgpack_unpack(), and every field is checked for type and range;
 * a mismatch is an error saying which field and why. */
#ifndef ZD_JRECORD_H
#define ZD_JRECORD_H

#include <msgpack.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defhash.h"

#define ZD_JOURNAL_VERSION 3              /* written; versions 1 to 3 are read */
#define ZD_JOURNAL_MAX_RECORD (80u << 20) /* payload bytes per record, at most */
#define ZD_JOURNAL_MAX_DEPTH 8            /* msgpack nesting allowed in a payload */
#define ZD_JOURNAL_HISTORY 10             /* succeeded durations kept per node */
#define ZD_JOURNAL_MAX_NAME 1024          /* bytes in a node name */
#define ZD_JOURNAL_MAX_RUN_ID 256         /* bytes in a run id */
#define ZD_JOURNAL_MAX_PIPELINE 4096      /* bytes in a pipeline id */
#define ZD_RESULT_HASH_SIZE 32            /* a SHA-256 */
#define ZD_INPUTS_HASH_SIZE 32            /* a SHA-256 */

typedef enum zd_journal_status {
    ZD_JOURNAL_SUCCEEDED = 0,
    ZD_JOURNAL_FAILED = 1,
} zd_journal_status;

/* One NODE_DONE record. Records handed to zd_journal_append() are copied; records returned by
 * lookups are borrowed from the journal. */
typedef struct zd_journal_rec {
    const char *name;                 /* node name, NUL-terminated */
    uint8_t defhash[ZD_DEFHASH_SIZE]; /* the node's definition hash when it ran */
    zd_journal_status status;         /* how the node ended */
    const char *result;               /* result bytes (stdout, or one packed msgpack value) */
    size_t result_len;                /* bytes at result (result may be NULL when 0) */
    bool result_is_msgpack;           /* result is a packed msgpack value (a function's) */
    double duration_s;                /* seconds the last attempt took, >= 0 */
    uint32_t attempts;                /* attempts made */
    const char *run_id;               /* the run that wrote the record ("" when unknown) */
    double finished_at;               /* Unix time the node ended, seconds */
    bool result_in_store;             /* the result is STATE_DIR/results/<hex result_hash>;
                                         result is then NULL and result_len 0 */
    uint8_t result_hash[ZD_RESULT_HASH_SIZE]; /* SHA-256 of the result, when in the store */
    uint64_t result_size;                     /* bytes of the result, inline or in the store */
    bool has_inputs;                          /* inputs_hash is known (format 3 on) */
    uint8_t inputs_hash[ZD_INPUTS_HASH_SIZE]; /* the dependency results it ran on (zd_inputs) */
} zd_journal_rec;

/* A decoded record. Pointers borrow the payload and the decoder until the next decode. */
typedef struct zd_jrecord {
    zd_journal_rec node;                    /* NODE_DONE: the fields (strings not terminated) */
    size_t name_len;                        /* bytes at node.name */
    size_t run_id_len;                      /* bytes at node.run_id */
    double history[ZD_JOURNAL_HISTORY - 1]; /* NODE_DONE: earlier succeeded durations */
    size_t n_history;                       /* entries in history */
    uint64_t version;                       /* HEADER: format version */
    const char *pipeline;                   /* HEADER: pipeline id (not terminated) */
    size_t pipeline_len;                    /* bytes at pipeline */
} zd_jrecord;

/* Packs a HEADER payload (version ZD_JOURNAL_VERSION) into sb, cleared first. Returns 0,
 * ZDAG_EINVAL (pipeline over ZD_JOURNAL_MAX_PIPELINE bytes) or ZDAG_ENOMEM. */
int zd_jrecord_pack_header(msgpack_sbuffer *sb, const char *pipeline, double created_at)
    __attribute__((warn_unused_result));

/* Whether r can be journaled: NULL, or why not (a static string). Checks the name (1 to
 * ZD_JOURNAL_MAX_NAME bytes), run_id, duration_s and finished_at (finite, >= 0, not absurd),
 * status, result bytes present when result_len > 0, and a stored result with no inline bytes. */
const char *zd_jrecord_check(const zd_journal_rec *r);

/* Packs a NODE_DONE payload of the checked r into sb, cleared first, with the n (at most
 * ZD_JOURNAL_HISTORY - 1) earlier durations of history. Returns 0 or ZDAG_ENOMEM. */
int zd_jrecord_pack_node(msgpack_sbuffer *sb, const zd_journal_rec *r, const double *history,
                         size_t n) __attribute__((warn_unused_result));

/* Keeps the msgpack zone between decodes. */
typedef struct zd_jrecord_decoder zd_jrecord_decoder;

/* A decoder, or NULL when out of memory. */
zd_jrecord_decoder *zd_jrecord_decoder_new(void);

/* Frees it; sets *dec to NULL. Accepts NULL. */
void zd_jrecord_decoder_free(zd_jrecord_decoder **dec);

/* Decodes the first record of a journal into out (version, pipeline). Returns 0; ZDAG_EPROTO
 * when the payload is not a journal header at all (why says what it is instead: not msgpack,
 * "no journal header", ...); ZDAG_ESTATE when it is one with a bad field (why says which). The
 * caller judges the version and the pipeline. */
int zd_jrecord_decode_header(zd_jrecord_decoder *dec, const char *payload, size_t len,
                             zd_jrecord *out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Decodes a later record of a journal of format `version` (1 to 3): a NODE_DONE into out.
 * Returns 0, or ZDAG_ESTATE with why saying what is wrong (unknown type, field count, a field's
 * type or range). */
int zd_jrecord_decode_node(zd_jrecord_decoder *dec, const char *payload, size_t len,
                           uint64_t version, zd_jrecord *out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* A cheap look at a payload: true when it starts like a NODE_DONE record with a str name, and
 * then *name (borrowing payload) and *len say which. Says nothing about the rest. */
bool zd_jrecord_peek_name(const char *payload, size_t len, const char **name, size_t *name_len);

/* Whether a payload starting with these n (>= 2) bytes could be a NODE_DONE record (for
 * zd_framelog_cfg.plausible). */
bool zd_jrecord_plausible(const uint8_t *head, size_t n);

/* The inputs hash of a node: SHA-256 over a domain tag and, for each dependency in the node's
 * dependency order, its name (length-prefixed), its result's format (msgpack or bytes) and its
 * result's identity, the SHA-256 of the result bytes (the store hash of a stored result; an inline
 * result is hashed, so a result that moves into the store keeps its identity). Two attempts
 * given the same dependency results have the same inputs hash; resume trusts a node's result
 * only when its record's inputs hash is that of its dependencies' current results. */
typedef struct zd_inputs {
    crypto_hash_sha256_state st; /* the running hash */
    uint32_t n;                  /* dependencies added */
} zd_inputs;

/* Starts an inputs hash. */
void zd_inputs_init(zd_inputs *h);

/* Adds one dependency: its name, and either the SHA-256 of its result (stored_hash, e.g. a
 * stored result's; then bytes is not read) or its inline bytes (len of them; NULL when 0). */
void zd_inputs_add(zd_inputs *h, const char *name, bool is_msgpack, const uint8_t *stored_hash,
                   const void *bytes, size_t len);

/* The result identity zd_inputs_add() uses for inline bytes: their SHA-256 into out. */
void zd_inputs_identity(const void *bytes, size_t len, uint8_t out[ZD_RESULT_HASH_SIZE]);

/* Finishes it into out. */
void zd_inputs_final(zd_inputs *h, uint8_t out[ZD_INPUTS_HASH_SIZE]);

#endif
