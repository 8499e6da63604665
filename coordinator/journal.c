/* The run journal: framed, checksummed msgpack records; group commit; a flock per state dir.
 *
 * The CRC-32 is a table-driven one here rather than zlib's crc32(): the table is 256 constants,
 * the journal checksums at a few hundred MB/s (fsync, not the checksum, is the cost of a
 * record), and libzdag's link line and pkg-config file stay free of zlib. */
#include "journal.h"

#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "store.h"
#include "wire.h"

#define REC_HEADER 1
#define REC_NODE_DONE 2
#define MAGIC "zdag-journal"
#define MAX_NAME 1024          /* bytes in a node name */
#define MAX_RUN_ID 256         /* bytes in a run id */
#define MAX_PIPELINE 4096      /* bytes in a pipeline id */
#define MAX_DURATION 1e9       /* seconds (~31 years): anything above is garbage */
#define MAX_TIME 1e11          /* Unix seconds (year ~5138): anything above is garbage */
#define SCAN_CHUNK (64u << 10) /* bytes read at a time when scanning a suspect tail */

uint32_t zd_journal_crc32(uint32_t crc, const void *buf, size_t len) {
    /* zlib's CRC-32 (the ISO-HDLC one of gzip and PNG), fed in pieces small enough for uInt. */
    const Bytef *p = buf;
    uLong c = crc;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

/* A node's latest record and its duration history. */
typedef struct entry {
    zd_journal_rec rec; /* latest record; name, result and run_id owned */
    double *durations;  /* durations of succeeded attempts, sorted after loading */
    size_t n_durations; /* entries in durations */
    size_t cap_durations;
} entry;

struct zd_journal {
    char *dir;           /* the state directory (or the journal's directory when loaded) */
    char *path;          /* the journal file */
    int fd;              /* journal, O_APPEND; -1 when loaded read-only */
    int lock_fd;         /* STATE_DIR/lock; -1 when read-only */
    bool locked;         /* lock_fd holds the flock (and our pid is in the file) */
    entry *entries;      /* one per node with a record, in order of first appearance */
    size_t n_entries;    /* entries in use */
    size_t cap_entries;  /* entries allocated */
    uint32_t *index;     /* open addressing by name: entry index + 1, 0 = empty */
    size_t index_cap;    /* slots in index, a power of two, >= 2 * n_entries */
    uint64_t torn;       /* bytes of torn tail ignored when loading */
    uint64_t end;        /* file size after the last complete write */
    msgpack_sbuffer buf; /* framed records appended but not yet written */
    msgpack_packer pk;   /* packs into buf */
    size_t pending;      /* records appended since the last successful sync */
    int64_t oldest_ms;   /* monotonic time of the oldest pending append */
    bool broken;         /* an fdatasync failed: nothing more can be promised */
    char error[512];     /* why the last append or sync failed */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* the file shrank under us */
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- The in-memory index ---------------------------------------------------------------- */

static uint64_t hash_name(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* The slot of `name` in the index: its entry's, or the empty one where it would go. */
static size_t slot_of(const zd_journal *j, const char *name, size_t len) {
    size_t mask = j->index_cap - 1;
    for (size_t s = hash_name(name, len) & mask;; s = (s + 1) & mask) {
        uint32_t e = j->index[s];
        if (e == 0)
            return s;
        const char *other = j->entries[e - 1].rec.name;
        if (strncmp(other, name, len) == 0 && other[len] == '\0')
            return s;
    }
}

static entry *find_entry(const zd_journal *j, const char *name, size_t len) {
    if (j->index_cap == 0)
        return NULL;
    uint32_t e = j->index[slot_of(j, name, len)];
    return e ? &j->entries[e - 1] : NULL;
}

static int grow_index(zd_journal *j) {
    size_t cap = j->index_cap ? 2 * j->index_cap : 64;
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return ZDAG_ENOMEM;
    free(j->index);
    j->index = index;
    j->index_cap = cap;
    for (size_t i = 0; i < j->n_entries; i++) {
        const char *name = j->entries[i].rec.name;
        j->index[slot_of(j, name, strlen(name))] = (uint32_t)i + 1;
    }
    return 0;
}

/* Returns the entry of `name` (len bytes, not NUL-terminated), adding an empty one if needed. */
static entry *entry_for(zd_journal *j, const char *name, size_t len) {
    entry *e = find_entry(j, name, len);
    if (e)
        return e;
    if (j->n_entries >= UINT32_MAX - 1)
        return NULL;
    if (2 * (j->n_entries + 1) > j->index_cap && grow_index(j) < 0)
        return NULL;
    if (j->n_entries == j->cap_entries) {
        size_t cap = j->cap_entries ? 2 * j->cap_entries : 16;
        entry *entries = realloc(j->entries, cap * sizeof *entries);
        if (!entries)
            return NULL;
        j->entries = entries;
        j->cap_entries = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return NULL;
    e = &j->entries[j->n_entries];
    memset(e, 0, sizeof *e);
    e->rec.name = copy;
    e->rec.run_id = "";
    j->index[slot_of(j, copy, len)] = (uint32_t)++j->n_entries;
    return e;
}

static void free_entry(entry *e) {
    free((char *)e->rec.name);
    free((char *)e->rec.result);
    if (e->rec.run_id && e->rec.run_id[0])
        free((char *)e->rec.run_id);
    free(e->durations);
}

static int add_duration(entry *e, double d) {
    if (e->n_durations == e->cap_durations) {
        size_t cap = e->cap_durations ? 2 * e->cap_durations : 4;
        double *ds = realloc(e->durations, cap * sizeof *ds);
        if (!ds)
            return ZDAG_ENOMEM;
        e->durations = ds;
        e->cap_durations = cap;
    }
    e->durations[e->n_durations++] = d;
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------------ */

typedef struct reader {
    zd_journal *j;        /* receives the records */
    int fd;               /* the journal file */
    uint64_t size;        /* its size */
    const char *pipeline; /* the expected pipeline, or NULL for any */
    zd_diags *d;          /* receives errors */
    char *buf;            /* the current payload */
    size_t cap;           /* bytes allocated in buf */
    msgpack_zone zone;    /* unpacked objects of the current payload */
    char why[160];        /* what is wrong with the current record */
    uint64_t scan_budget; /* bytes a corruption scan may still checksum */
} reader;

typedef enum frame { FRAME_OK, FRAME_BAD, FRAME_IO } frame;

/* Reads the record at off into r->buf; FRAME_BAD (r->why set) when it is not a whole record
 * with a matching checksum. */
static frame read_frame(reader *r, uint64_t off, uint32_t *len) {
    uint8_t h[8];
    if (r->size - off < sizeof h) {
        snprintf(r->why, sizeof r->why, "truncated record header");
        return FRAME_BAD;
    }
    if (pread_full(r->fd, h, sizeof h, off) < 0)
        return FRAME_IO;
    *len = le32(h);
    if (*len == 0) {
        snprintf(r->why, sizeof r->why, "empty record");
        return FRAME_BAD;
    }
    if (*len > ZD_JOURNAL_MAX_RECORD) {
        snprintf(r->why, sizeof r->why, "record length %" PRIu32 " over the %u MiB limit", *len,
                 ZD_JOURNAL_MAX_RECORD >> 20);
        return FRAME_BAD;
    }
    if (*len > r->size - off - sizeof h) {
        snprintf(r->why, sizeof r->why, "truncated record (%" PRIu32 " bytes, %" PRIu64 " left)",
                 *len, r->size - off - sizeof h);
        return FRAME_BAD;
    }
    if (*len > r->cap) {
        char *buf = realloc(r->buf, *len);
        if (!buf) {
            errno = ENOMEM;
            return FRAME_IO;
        }
        r->buf = buf;
        r->cap = *len;
    }
    if (pread_full(r->fd, r->buf, *len, off + sizeof h) < 0)
        return FRAME_IO;
    if (zd_journal_crc32(0, r->buf, *len) != le32(h + 4)) {
        snprintf(r->why, sizeof r->why, "checksum mismatch");
        return FRAME_BAD;
    }
    return FRAME_OK;
}

/* Whether a record with a valid checksum starts at off: a cheap look at its first payload bytes
 * (an array whose first element is NODE_DONE), then the checksum. */
static int valid_frame_at(reader *r, uint64_t off, const uint8_t *p) {
    uint32_t len = le32(p);
    if (len < 2 || len > ZD_JOURNAL_MAX_RECORD || len > r->size - off - 8)
        return 0;
    if (!((p[8] >= 0x91 && p[8] <= 0x9f) || p[8] == 0xdc) || p[9] != REC_NODE_DONE)
        return 0;
    /* Each candidate costs a checksum of its length: a hostile tail full of candidates would
     * take quadratic time, so past a budget assume the worst (corruption: an error, no data
     * thrown away). */
    if (len > r->scan_budget)
        return 1;
    r->scan_budget -= len;
    uint8_t chunk[4096];
    uint32_t crc = 0;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < sizeof chunk ? len - done : (uint32_t)sizeof chunk;
        if (pread_full(r->fd, chunk, n, off + 8 + done) < 0)
            return -1;
        crc = zd_journal_crc32(crc, chunk, n);
        done += n;
    }
    return crc == le32(p + 4);
}

/* Whether the bad record at off is a torn tail left by a crash: only zero bytes from there to
 * the end, or no valid record anywhere after it. Returns 1, 0 (corruption) or -1 (I/O). */
static int torn_tail(reader *r, uint64_t off) {
    uint8_t *chunk = malloc(SCAN_CHUNK + 10);
    if (!chunk)
        return -1;
    int torn = 1;
    bool zeros = true;
    for (uint64_t base = off; base < r->size && torn == 1; base += SCAN_CHUNK) {
        size_t got = r->size - base < SCAN_CHUNK + 10 ? r->size - base : SCAN_CHUNK + 10;
        if (pread_full(r->fd, chunk, got, base) < 0) {
            torn = -1;
            break;
        }
        for (size_t i = 0; i < got && zeros; i++)
            zeros = chunk[i] == 0;
        for (size_t i = base == off ? 1 : 0; i < SCAN_CHUNK && i + 10 <= got && !zeros; i++) {
            int v = valid_frame_at(r, base + i, chunk + i);
            if (v != 0) {
                torn = v < 0 ? -1 : 0;
                break;
            }
        }
    }
    free(chunk);
    return torn;
}

static const char *type_name(msgpack_object_type t) {
    switch (t) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_BIN:
        return "binary data";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    default:
        return "an extension";
    }
}

/* Field checks: each sets r->why and returns false on a mismatch. */
static bool want(reader *r, const msgpack_object *o, msgpack_object_type t, const char *field,
                 const char *what) {
    if (o->type == t || (t == MSGPACK_OBJECT_FLOAT64 && o->type == MSGPACK_OBJECT_FLOAT32))
        return true;
    snprintf(r->why, sizeof r->why, "%s must be %s, not %s", field, what, type_name(o->type));
    return false;
}

static bool want_uint(reader *r, const msgpack_object *o, const char *field, uint64_t max,
                      uint64_t *v) {
    if (!want(r, o, MSGPACK_OBJECT_POSITIVE_INTEGER, field, "an unsigned integer"))
        return false;
    if (o->via.u64 > max) {
        snprintf(r->why, sizeof r->why, "%s %" PRIu64 " is out of range (at most %" PRIu64 ")",
                 field, o->via.u64, max);
        return false;
    }
    *v = o->via.u64;
    return true;
}

static bool want_float(reader *r, const msgpack_object *o, const char *field, double max,
                       double *v) {
    if (!want(r, o, MSGPACK_OBJECT_FLOAT64, field, "a float"))
        return false;
    if (!(o->via.f64 >= 0 && o->via.f64 <= max)) {
        snprintf(r->why, sizeof r->why, "%s %g is out of range (0 to %g)", field, o->via.f64, max);
        return false;
    }
    *v = o->via.f64;
    return true;
}

static bool want_str(reader *r, const msgpack_object *o, const char *field, size_t max) {
    if (!want(r, o, MSGPACK_OBJECT_STR, field, "a string"))
        return false;
    if (o->via.str.size > max || memchr(o->via.str.ptr, '\0', o->via.str.size)) {
        snprintf(r->why, sizeof r->why, "%s is longer than %zu bytes or holds a NUL", field, max);
        return false;
    }
    return true;
}

static void corrupt(reader *r, uint64_t off) {
    zd_diags_add(r->d, r->j->path, 0, 0,
                 "corrupt record at byte offset %" PRIu64 ": %s; remove the file to start afresh "
                 "(--resume then runs every node again)",
                 off, r->why);
}

/* Checks the HEADER record (f has n elements) against the expected pipeline. */
static int take_header(reader *r, const msgpack_object *f, uint32_t n, uint64_t off) {
    uint64_t type, version;
    if (n < 4 || !want_uint(r, &f[0], "record type", UINT64_MAX, &type) || type != REC_HEADER ||
        !want(r, &f[1], MSGPACK_OBJECT_STR, "magic", "a string") ||
        f[1].via.str.size != strlen(MAGIC) || memcmp(f[1].via.str.ptr, MAGIC, strlen(MAGIC))) {
        zd_diags_add(r->d, r->j->path, 0, 0,
                     "not a zdag journal (no journal header at byte offset %" PRIu64 ")", off);
        return ZDAG_ESTATE;
    }
    if (!want_uint(r, &f[2], "format version", UINT64_MAX, &version)) {
        corrupt(r, off);
        return ZDAG_ESTATE;
    }
    if (version != ZD_JOURNAL_VERSION) {
        zd_diags_add(r->d, r->j->path, 0, 0,
                     "journal format version %" PRIu64 " is not supported (this zdag reads "
                     "version %d); use another --state-dir or remove the file",
                     version, ZD_JOURNAL_VERSION);
        return ZDAG_ESTATE;
    }
    if (!want_str(r, &f[3], "pipeline", MAX_PIPELINE)) {
        corrupt(r, off);
        return ZDAG_ESTATE;
    }
    const msgpack_object_str *p = &f[3].via.str;
    if (r->pipeline && (p->size != strlen(r->pipeline) || memcmp(p->ptr, r->pipeline, p->size))) {
        zd_diags_add(r->d, "zdag", 0, 0,
                     "journal in %s belongs to pipeline %.*s (this run: %s); use another "
                     "--state-dir or remove it",
                     r->j->dir, (int)p->size, p->ptr, r->pipeline);
        return ZDAG_ESTATE;
    }
    return 0;
}

/* Replaces e's record with the checked NODE_DONE fields f. */
static int store_node(entry *e, const msgpack_object *f, uint32_t n, uint64_t status,
                      double duration, uint64_t attempts, double finished_at) {
    const msgpack_object_bin *res = &f[4].via.bin;
    const msgpack_object_str *run = &f[8].via.str;
    char *result = res->size ? malloc(res->size) : NULL;
    char *run_id = run->size ? strndup(run->ptr, run->size) : NULL;
    if ((res->size && !result) || (run->size && !run_id)) {
        free(result);
        free(run_id);
        return ZDAG_ENOMEM;
    }
    if (status == ZD_JOURNAL_SUCCEEDED && add_duration(e, duration) < 0) {
        free(result);
        free(run_id);
        return ZDAG_ENOMEM;
    }
    if (res->size)
        memcpy(result, res->ptr, res->size);
    free((char *)e->rec.result);
    if (e->rec.run_id[0])
        free((char *)e->rec.run_id);
    memcpy(e->rec.defhash, f[2].via.bin.ptr, ZD_DEFHASH_SIZE);
    e->rec.status = (zd_journal_status)status;
    e->rec.result = result;
    e->rec.result_len = res->size;
    e->rec.result_is_msgpack = f[5].via.boolean;
    e->rec.result_in_store = n == 12 && f[10].type == MSGPACK_OBJECT_BIN;
    e->rec.result_size = e->rec.result_in_store ? f[11].via.u64 : 0;
    if (e->rec.result_in_store)
        memcpy(e->rec.result_hash, f[10].via.bin.ptr, sizeof e->rec.result_hash);
    e->rec.duration_s = duration;
    e->rec.attempts = (uint32_t)attempts;
    e->rec.run_id = run_id ? run_id : "";
    e->rec.finished_at = finished_at;
    return 0;
}

/* Checks a NODE_DONE record (f has n elements) and makes it its node's latest. */
static int take_node(reader *r, const msgpack_object *f, uint32_t n, uint64_t off) {
    uint64_t status = 0, attempts = 0;
    double duration = 0, finished_at = 0;
    uint64_t size = 0;
    if (n != 10 && n != 12) {
        snprintf(r->why, sizeof r->why, "a node record has 12 fields, not %" PRIu32, n);
    } else if (n == 12 && !(f[10].type == MSGPACK_OBJECT_NIL ||
                            (f[10].type == MSGPACK_OBJECT_BIN && f[10].via.bin.size == 32 &&
                             f[4].via.bin.size == 0))) {
        snprintf(r->why, sizeof r->why, "result_hash must be 32 bytes or nil");
    } else if (n == 12 && !want_uint(r, &f[11], "result_size", UINT64_MAX, &size)) {
    } else if (want_str(r, &f[1], "name", MAX_NAME) &&
               want(r, &f[2], MSGPACK_OBJECT_BIN, "defhash", "binary data") &&
               (f[2].via.bin.size == ZD_DEFHASH_SIZE ||
                !snprintf(r->why, sizeof r->why, "defhash must be 32 bytes")) &&
               want_uint(r, &f[3], "status", ZD_JOURNAL_FAILED, &status) &&
               want(r, &f[4], MSGPACK_OBJECT_BIN, "result", "binary data") &&
               want(r, &f[5], MSGPACK_OBJECT_BOOLEAN, "result_is_msgpack", "a bool") &&
               want_float(r, &f[6], "duration_s", MAX_DURATION, &duration) &&
               want_uint(r, &f[7], "attempts", UINT32_MAX, &attempts) &&
               want_str(r, &f[8], "run_id", MAX_RUN_ID) &&
               want_float(r, &f[9], "finished_at", MAX_TIME, &finished_at)) {
        if (f[1].via.str.size == 0) {
            snprintf(r->why, sizeof r->why, "empty node name");
        } else {
            entry *e = entry_for(r->j, f[1].via.str.ptr, f[1].via.str.size);
            if (!e || store_node(e, f, n, status, duration, attempts, finished_at) < 0) {
                zd_diags_add(r->d, r->j->path, 0, 0, "out of memory");
                return ZDAG_ENOMEM;
            }
            return 0;
        }
    }
    corrupt(r, off);
    return ZDAG_ESTATE;
}

/* Decodes the checked payload in r->buf (len bytes) of the record at off. */
static int take_record(reader *r, uint32_t len, uint64_t off) {
    msgpack_object root;
    size_t pos = 0;
    r->why[0] = '\0';
    msgpack_zone_clear(&r->zone);
    if (!zd_wire_well_formed(r->buf, len, ZD_JOURNAL_MAX_DEPTH)) {
        snprintf(r->why, sizeof r->why, "not one well-formed msgpack value nested at most %d deep",
                 ZD_JOURNAL_MAX_DEPTH);
    } else if (msgpack_unpack(r->buf, len, &pos, &r->zone, &root) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(r->why, sizeof r->why, "msgpack could not unpack it");
    } else if (want(r, &root, MSGPACK_OBJECT_ARRAY, "a record", "an array") &&
               root.via.array.size == 0) {
        snprintf(r->why, sizeof r->why, "empty record array");
    }
    if (off == 0) {
        if (r->why[0] != '\0') {
            zd_diags_add(r->d, r->j->path, 0, 0, "not a zdag journal (%s at byte offset 0)",
                         r->why);
            return ZDAG_ESTATE;
        }
        return take_header(r, root.via.array.ptr, root.via.array.size, off);
    }
    uint64_t type = 0;
    if (r->why[0] == '\0' &&
        want_uint(r, &root.via.array.ptr[0], "record type", UINT64_MAX, &type)) {
        if (type == REC_NODE_DONE)
            return take_node(r, root.via.array.ptr, root.via.array.size, off);
        snprintf(r->why, sizeof r->why, "unknown record type %" PRIu64, type);
    }
    corrupt(r, off);
    return ZDAG_ESTATE;
}

/* Reads every record of the open file r->fd into r->j. Stores in *valid_end where the valid
 * records end (the file size unless a torn tail follows). */
static int read_journal(reader *r, uint64_t *valid_end) {
    uint64_t off = 0;
    while (off < r->size) {
        uint32_t len = 0;
        frame f = read_frame(r, off, &len);
        if (f == FRAME_BAD && off > 0) {
            int torn = torn_tail(r, off);
            if (torn == 1)
                break;
            if (torn == 0) {
                corrupt(r, off);
                return ZDAG_ESTATE;
            }
            f = FRAME_IO;
        }
        if (f == FRAME_BAD) {
            zd_diags_add(r->d, r->j->path, 0, 0, "not a zdag journal (%s at byte offset 0)",
                         r->why);
            return ZDAG_ESTATE;
        }
        if (f == FRAME_IO) {
            zd_diags_add(r->d, r->j->path, 0, 0, "cannot read at byte offset %" PRIu64 ": %s", off,
                         strerror(errno));
            return errno == ENOMEM ? ZDAG_ENOMEM : ZDAG_ESTATE;
        }
        int rc = take_record(r, len, off);
        if (rc < 0)
            return rc;
        off += 8 + (uint64_t)len;
    }
    *valid_end = off;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int load_fd(zd_journal *j, int fd, const char *pipeline, zd_diags *d) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        zd_diags_add(d, j->path, 0, 0, "cannot stat: %s", strerror(errno));
        return ZDAG_ESTATE;
    }
    reader r = {.j = j,
                .fd = fd,
                .size = (uint64_t)st.st_size,
                .pipeline = pipeline,
                .d = d,
                .scan_budget = 4ull * ZD_JOURNAL_MAX_RECORD};
    if (!msgpack_zone_init(&r.zone, 4096))
        return ZDAG_ENOMEM;
    uint64_t valid_end = 0;
    int rc = read_journal(&r, &valid_end);
    msgpack_zone_destroy(&r.zone);
    free(r.buf);
    if (rc == 0) {
        j->torn = r.size - valid_end;
        j->end = valid_end;
        /* Sorted once here, so that a median is a lookup. */
        for (size_t i = 0; i < j->n_entries; i++)
            if (j->entries[i].n_durations > 1)
                qsort(j->entries[i].durations, j->entries[i].n_durations, sizeof(double),
                      cmp_double);
    }
    return rc;
}

/* ---- Opening, locking, creating ------------------------------------------------------------ */

static zd_journal *journal_new(const char *dir, const char *path) {
    zd_journal *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->fd = -1;
    j->lock_fd = -1;
    j->oldest_ms = -1;
    j->dir = strdup(dir);
    j->path = strdup(path);
    msgpack_sbuffer_init(&j->buf);
    msgpack_packer_init(&j->pk, &j->buf, msgpack_sbuffer_write);
    if (!j->dir || !j->path)
        zd_journal_close(&j);
    return j;
}

/* Takes the exclusive lock of the state directory and writes our pid into the lock file. */
static int take_lock(zd_journal *j, zd_diags *d) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", j->dir) >= (int)sizeof path) {
        zd_diags_add(d, "zdag", 0, 0, "state directory path too long: %s", j->dir);
        return ZDAG_ESTATE;
    }
    j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0) {
        zd_diags_add(d, "zdag", 0, 0, "cannot write to the state directory %s: %s", j->dir,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    while (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            zd_diags_add(d, "zdag", 0, 0, "cannot lock %s: %s", path, strerror(errno));
            return ZDAG_ESTATE;
        }
        char pid[32] = {0};
        ssize_t n = pread(j->lock_fd, pid, sizeof pid - 1, 0);
        long holder = n > 0 ? strtol(pid, NULL, 10) : 0;
        if (holder > 0)
            zd_diags_add(d, "zdag", 0, 0,
                         "state directory %s is in use by another zdag run (pid %ld)", j->dir,
                         holder);
        else
            zd_diags_add(d, "zdag", 0, 0,
                         "state directory %s is in use by another zdag run (pid unknown)", j->dir);
        return ZDAG_ESTATE;
    }
    j->locked = true;
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(j->lock_fd, 0) < 0 || pwrite(j->lock_fd, pid, (size_t)len, 0) != len) {
        zd_diags_add(d, "zdag", 0, 0, "cannot write to %s: %s", path, strerror(errno));
        return ZDAG_ESTATE;
    }
    return 0;
}

/* Frames the msgpack payload packed into j->buf since byte `start` (8 bytes reserved there). */
static int frame_record(zd_journal *j, size_t start) {
    size_t len = j->buf.size - start - 8;
    if (len > ZD_JOURNAL_MAX_RECORD) {
        j->buf.size = start;
        snprintf(j->error, sizeof j->error,
                 "a journal record of %zu bytes is over the %u MiB "
                 "limit",
                 len, ZD_JOURNAL_MAX_RECORD >> 20);
        return ZDAG_ETOOBIG;
    }
    char *p = j->buf.data + start;
    put_le32(p, (uint32_t)len);
    put_le32(p + 4, zd_journal_crc32(0, p + 8, len));
    return 0;
}

/* Packs a HEADER record into j->buf (empty before). */
static int pack_header(zd_journal *j, const char *pipeline) {
    size_t len = strlen(pipeline);
    int failed = msgpack_sbuffer_write(&j->buf, "\0\0\0\0\0\0\0\0", 8);
    failed |= msgpack_pack_array(&j->pk, 5);
    failed |= msgpack_pack_uint64(&j->pk, REC_HEADER);
    failed |= msgpack_pack_str_with_body(&j->pk, MAGIC, strlen(MAGIC));
    failed |= msgpack_pack_uint64(&j->pk, ZD_JOURNAL_VERSION);
    failed |= msgpack_pack_str_with_body(&j->pk, pipeline, len);
    failed |= msgpack_pack_double(&j->pk, (double)time(NULL));
    if (failed) {
        j->buf.size = 0;
        return ZDAG_ENOMEM;
    }
    return frame_record(j, 0);
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Creates the journal whole: header into journal.tmp, fsync, rename, fsync the directory. A
 * crash leaves either no journal or one with a complete header. */
static int create_journal(zd_journal *j, const char *pipeline, zd_diags *d) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", j->path) >= (int)sizeof tmp)
        return ZDAG_ESTATE;
    int rc = pack_header(j, pipeline);
    if (rc < 0)
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write_full(fd, j->buf.data, j->buf.size) == 0 && fdatasync(fd) == 0;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (ok && (rename(tmp, j->path) < 0 || fsync_dir(j->dir) < 0)) {
        ok = false;
        err = errno;
    }
    j->buf.size = 0;
    if (!ok) {
        unlink(tmp);
        zd_diags_add(d, j->path, 0, 0, "cannot create the journal: %s", strerror(err));
        return ZDAG_ESTATE;
    }
    return 0;
}

int zd_journal_open(const char *state_dir, const char *pipeline_id, zd_journal **out, zd_diags *d) {
    char path[PATH_MAX];
    *out = NULL;
    if (!state_dir || !pipeline_id || strlen(pipeline_id) > MAX_PIPELINE)
        return ZDAG_EINVAL;
    /* One journal per pipeline file name, so that pipelines sharing a directory (and so the
     * default state directory) keep separate histories. */
    const char *base = strrchr(pipeline_id, '/') ? strrchr(pipeline_id, '/') + 1 : pipeline_id;
    char name[256];
    size_t k = 0;
    for (; base[k] && k < sizeof name - 1; k++)
        name[k] = (isalnum((unsigned char)base[k]) || strchr("._-", base[k])) ? base[k] : '_';
    name[k] = '\0';
    if (snprintf(path, sizeof path, "%s/%s.journal", state_dir, k ? name : "pipeline") >=
        (int)sizeof path) {
        zd_diags_add(d, "zdag", 0, 0, "state directory path too long: %s", state_dir);
        return ZDAG_ESTATE;
    }
    if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
        zd_diags_add(d, "zdag", 0, 0, "cannot create the state directory %s: %s", state_dir,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    zd_journal *j = journal_new(state_dir, path);
    if (!j)
        return ZDAG_ENOMEM;
    int rc = take_lock(j, d);
    struct stat st;
    /* An empty file counts as none: say, created by hand. Other stat errors show in open(). */
    if (rc == 0 && (stat(path, &st) == 0 ? st.st_size == 0 : errno == ENOENT))
        rc = create_journal(j, pipeline_id, d);
    if (rc == 0 && (j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0) {
        zd_diags_add(d, path, 0, 0, "cannot open the journal: %s", strerror(errno));
        rc = ZDAG_ESTATE;
    }
    if (rc == 0)
        rc = load_fd(j, j->fd, pipeline_id, d);
    /* Cut a torn tail now, so that new records follow the last valid one. */
    if (rc == 0 && j->torn > 0 && (ftruncate(j->fd, (off_t)j->end) < 0 || fdatasync(j->fd) < 0)) {
        zd_diags_add(d, path, 0, 0, "cannot truncate a torn record: %s", strerror(errno));
        rc = ZDAG_ESTATE;
    }
    if (rc < 0) {
        zd_journal_close(&j);
        return rc;
    }
    *out = j;
    return 0;
}

int zd_journal_load(const char *path, const char *pipeline_id, zd_journal **out, zd_diags *d) {
    *out = NULL;
    if (!path)
        return ZDAG_EINVAL;
    char *dir = strdup(path);
    if (!dir)
        return ZDAG_ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    zd_journal *j = journal_new(slash ? (slash == dir ? "/" : dir) : ".", path);
    free(dir);
    if (!j)
        return ZDAG_ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? ZDAG_ENOENT : ZDAG_ESTATE;
        zd_diags_add(d, path, 0, 0, "cannot open the journal: %s", strerror(errno));
        zd_journal_close(&j);
        return rc;
    }
    int rc = load_fd(j, fd, pipeline_id, d);
    close(fd);
    if (rc < 0) {
        zd_journal_close(&j);
        return rc;
    }
    *out = j;
    return 0;
}

void zd_journal_close(zd_journal **jp) {
    if (!jp || !*jp)
        return;
    zd_journal *j = *jp;
    if (j->fd >= 0) {
        /* Best effort: a caller who cares has synced and seen the error already. */
        int unreported = j->pending && !j->broken ? zd_journal_sync(j) : 0;
        (void)unreported;
        close(j->fd);
    }
    if (j->locked) {
        /* Clear our pid before the lock goes, so that nobody blames a finished run. A failure
         * is harmless: the pid is only read while somebody holds the lock. */
        int unused = ftruncate(j->lock_fd, 0);
        (void)unused;
        flock(j->lock_fd, LOCK_UN);
    }
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    for (size_t i = 0; i < j->n_entries; i++)
        free_entry(&j->entries[i]);
    free(j->entries);
    free(j->index);
    msgpack_sbuffer_destroy(&j->buf);
    free(j->dir);
    free(j->path);
    free(j);
    *jp = NULL;
}

/* ---- Lookups --------------------------------------------------------------------------------- */

const zd_journal_rec *zd_journal_find(const zd_journal *j, const char *name) {
    const entry *e = name ? find_entry(j, name, strlen(name)) : NULL;
    return e ? &e->rec : NULL;
}

size_t zd_journal_count(const zd_journal *j) {
    return j->n_entries;
}

uint64_t zd_journal_torn_bytes(const zd_journal *j) {
    return j->torn;
}

double zd_journal_median_duration(const zd_journal *j, const char *name) {
    const entry *e = name ? find_entry(j, name, strlen(name)) : NULL;
    if (!e || e->n_durations == 0)
        return 0;
    size_t n = e->n_durations;
    return n % 2 ? e->durations[n / 2] : (e->durations[n / 2 - 1] + e->durations[n / 2]) / 2;
}

int zd_journal_resume_plan(const zd_journal *j, const zd_graph *g,
                           uint8_t (*hashes)[ZD_DEFHASH_SIZE], bool *cached) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !hashes || !cached)
        return ZDAG_EINVAL;
    char store[4096];
    const char *store_ok =
        snprintf(store, sizeof store, "%s/results", j->dir) < (int)sizeof store ? store : NULL;
    for (size_t t = 0; t < zd_graph_size(g); t++) {
        const zd_node *n = zd_graph_node(g, topo[t]);
        const zd_journal_rec *r = zd_journal_find(j, n->name);
        bool ok = r && r->status == ZD_JOURNAL_SUCCEEDED &&
                  memcmp(r->defhash, hashes[topo[t]], ZD_DEFHASH_SIZE) == 0;
        for (size_t i = 0; ok && i < n->n_deps; i++)
            ok = cached[n->deps[i]];
        /* A stored result is trusted only once its file proves to be it. */
        if (ok && r->result_in_store)
            ok = store_ok && zd_store_verify(store_ok, r->result_hash, r->result_size, true);
        cached[topo[t]] = ok;
    }
    return 0;
}

/* ---- Appending ------------------------------------------------------------------------------- */

static int check_rec(zd_journal *j, const zd_journal_rec *r) {
    const char *bad = NULL;
    size_t name_len = r->name ? strlen(r->name) : 0;
    if (name_len == 0 || name_len > MAX_NAME)
        bad = "node name empty or over 1024 bytes";
    else if (r->run_id && strlen(r->run_id) > MAX_RUN_ID)
        bad = "run id over 256 bytes";
    else if (!(r->duration_s >= 0 && r->duration_s <= MAX_DURATION))
        bad = "duration negative, not finite or over 1e9 s";
    else if (!(r->finished_at >= 0 && r->finished_at <= MAX_TIME))
        bad = "finish time negative, not finite or absurd";
    else if (r->status != ZD_JOURNAL_SUCCEEDED && r->status != ZD_JOURNAL_FAILED)
        bad = "unknown status";
    else if (r->result_len > 0 && !r->result)
        bad = "result bytes missing";
    else if (r->result_in_store && r->result_len > 0)
        bad = "a stored result with inline bytes";
    if (bad)
        snprintf(j->error, sizeof j->error, "cannot journal node %.200s: %s",
                 r->name ? r->name : "(null)", bad);
    return bad ? ZDAG_EINVAL : 0;
}

int zd_journal_append(zd_journal *j, const zd_journal_rec *r) {
    if (j->fd < 0 || !r) {
        snprintf(j->error, sizeof j->error, "the journal is read-only");
        return ZDAG_EINVAL;
    }
    int rc = check_rec(j, r);
    if (rc < 0)
        return rc;
    if (r->result_len > ZD_JOURNAL_MAX_RECORD) {
        snprintf(j->error, sizeof j->error,
                 "the result of node %.200s is over the %u MiB journal "
                 "record limit",
                 r->name, ZD_JOURNAL_MAX_RECORD >> 20);
        return ZDAG_ETOOBIG;
    }
    const char *run_id = r->run_id ? r->run_id : "";
    size_t start = j->buf.size;
    msgpack_packer *pk = &j->pk;
    int failed = msgpack_sbuffer_write(&j->buf, "\0\0\0\0\0\0\0\0", 8);
    failed |= msgpack_pack_array(pk, 12);
    failed |= msgpack_pack_uint64(pk, REC_NODE_DONE);
    failed |= msgpack_pack_str_with_body(pk, r->name, strlen(r->name));
    failed |= msgpack_pack_bin_with_body(pk, r->defhash, ZD_DEFHASH_SIZE);
    failed |= msgpack_pack_uint64(pk, (uint64_t)r->status);
    failed |= msgpack_pack_bin_with_body(pk, r->result ? r->result : "", r->result_len);
    failed |= r->result_is_msgpack ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    failed |= msgpack_pack_double(pk, r->duration_s);
    failed |= msgpack_pack_uint64(pk, r->attempts);
    failed |= msgpack_pack_str_with_body(pk, run_id, strlen(run_id));
    failed |= msgpack_pack_double(pk, r->finished_at);
    if (r->result_in_store)
        failed |= msgpack_pack_bin_with_body(pk, r->result_hash, sizeof r->result_hash);
    else
        failed |= msgpack_pack_nil(pk);
    failed |= msgpack_pack_uint64(pk, r->result_in_store ? r->result_size : r->result_len);
    if (failed) {
        j->buf.size = start;
        snprintf(j->error, sizeof j->error, "out of memory");
        return ZDAG_ENOMEM;
    }
    rc = frame_record(j, start);
    if (rc < 0)
        return rc;
    if (j->pending++ == 0)
        j->oldest_ms = now_ms();
    return 0;
}

int zd_journal_sync(zd_journal *j) {
    if (j->fd < 0) {
        snprintf(j->error, sizeof j->error, "the journal is read-only");
        return ZDAG_EINVAL;
    }
    if (j->broken)
        return ZDAG_ESTATE;
    if (j->pending == 0)
        return 0;
    if (write_full(j->fd, j->buf.data, j->buf.size) < 0) {
        int err = errno;
        /* Roll back a partial write, so the file ends with a whole record; retry later. */
        if (ftruncate(j->fd, (off_t)j->end) < 0)
            j->broken = true;
        snprintf(j->error, sizeof j->error, "cannot write %s: %s", j->path, strerror(err));
        return ZDAG_ESTATE;
    }
    j->end += j->buf.size;
    j->buf.size = 0;
    if (fdatasync(j->fd) < 0) {
        /* After a failed fdatasync the kernel may have dropped the dirty pages: stop here. */
        j->broken = true;
        snprintf(j->error, sizeof j->error, "cannot sync %s: %s", j->path, strerror(errno));
        return ZDAG_ESTATE;
    }
    j->pending = 0;
    j->oldest_ms = -1;
    j->error[0] = '\0';
    return 0;
}

size_t zd_journal_pending(const zd_journal *j) {
    return j->pending;
}

int64_t zd_journal_sync_due_ms(const zd_journal *j, int64_t window_ms) {
    if (j->pending == 0)
        return -1;
    int64_t left = j->oldest_ms + window_ms - now_ms();
    return left > 0 ? left : 0;
}

const char *zd_journal_error(const zd_journal *j) {
    return j->error;
}
