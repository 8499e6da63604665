/* The run journal: an index of each node's latest record over a framed log, the duration
 * history, and compaction. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "foreach.h"
#include "framelog.h"
#include "statedir.h"
#include "strmap.h"

#define BLOCK 1024 /* entries per allocation block: entry pointers stay valid */

/* What few nodes need: a loaded record, a history of more than one duration, a stored result's
 * hash. Allocated only for them, so that a node appended once costs one small entry. */
typedef struct detail {
    zd_journal_rec rec;                /* latest loaded record (when entry.loaded); name borrowed
                                          from the index, result and run_id owned ("" not owned) */
    double hist[ZD_JOURNAL_HISTORY];   /* last succeeded durations, oldest first */
    double median;                     /* of the loaded hist, 0 when none */
    uint8_t hash[ZD_RESULT_HASH_SIZE]; /* the latest record's result hash, when entry.stored */
} detail;

/* A node's latest frame, and its duration history. */
typedef struct entry {
    const char *name; /* borrowed from the index */
    detail *x;        /* owned; NULL until the node needs one (see detail) */
    uint64_t off;     /* byte offset of the node's latest frame in the file */
    uint32_t len;     /* its payload bytes */
    uint8_t n_hist;   /* durations in the history */
    bool loaded;      /* x->rec holds a loaded record (else: appended only) */
    bool stored;      /* the latest record's result is in the store, under x->hash */
    double hist1;     /* the one duration of the history while x is NULL */
} entry;

struct zd_journal {
    char *dir;               /* the state directory (or the journal's directory) */
    char *path;              /* the journal file */
    char *pipeline;          /* the pipeline id of the header */
    zd_framelog *fl;         /* appends to path; NULL when loaded read-only */
    zd_statedir_lock *lock;  /* the state directory's lock; NULL when read-only */
    const zd_graph *graph;   /* while loading: the nodes wanted, or NULL for all */
    const zd_graph *nodes;   /* the graph given to zd_journal_open() (outlives the journal):
                                its nodes' entries are found through by_node; or NULL */
    uint32_t *by_node;       /* per node of `nodes`: its entry + 1, 0 for none; owned */
    size_t n_by_node;        /* entries in by_node: the nodes `nodes` had when opened (those
                                added during the run are found through index) */
    zd_strmap *index;        /* node name -> entry, for the names outside `nodes` */
    entry **blocks;          /* entries, BLOCK per block, in order of first appearance */
    size_t n_blocks;         /* blocks allocated */
    size_t n_entries;        /* entries in use */
    size_t n_loaded;         /* entries with a loaded record */
    uint64_t version;        /* format version of the file */
    uint64_t header_bytes;   /* the header's frame */
    uint64_t live;           /* header and latest frames */
    uint64_t file_size;      /* file size when loaded read-only */
    uint64_t torn;           /* bytes of torn tail ignored when loading */
    size_t skipped;          /* records of nodes not in the graph, skipped when loading */
    msgpack_sbuffer sb;      /* the record being packed */
    zd_jrecord_decoder *dec; /* decodes records */
    char error[512];         /* why the last action failed */
};

static bool wanted(void *ctx, const char *payload, uint32_t len);
static void collect_results(const zd_journal *j);

static const zd_framelog_cfg LOG_CFG = {
    .max_record = ZD_JOURNAL_MAX_RECORD, .plausible = zd_jrecord_plausible, .wanted = wanted};

static inline entry *entry_at(const zd_journal *j, size_t i) {
    return &j->blocks[i / BLOCK][i % BLOCK];
}

/* The index in j->nodes of `name` (len bytes, not NUL-terminated), or -1. */
static int64_t node_of(const zd_journal *j, const char *name, size_t len) {
    char copy[ZD_JOURNAL_MAX_NAME + 1];
    if (!j->nodes || len > ZD_JOURNAL_MAX_NAME || memchr(name, '\0', len))
        return -1;
    memcpy(copy, name, len);
    copy[len] = '\0';
    int64_t node = zd_graph_find(j->nodes, copy);
    return node >= 0 && (size_t)node < j->n_by_node ? node : -1;
}

static entry *find_in(const zd_journal *j, int64_t node, const char *name, size_t len) {
    if (node >= 0)
        return j->by_node[node] ? entry_at(j, j->by_node[node] - 1) : NULL;
    return zd_strmap_get(j->index, name, len);
}

static entry *find_entry(const zd_journal *j, const char *name, size_t len) {
    return find_in(j, node_of(j, name, len), name, len);
}

/* Returns the entry of `name` (len bytes, not NUL-terminated), adding an empty one if needed. */
static entry *entry_for(zd_journal *j, const char *name, size_t len) {
    int64_t node = node_of(j, name, len);
    entry *e = find_in(j, node, name, len);
    if (e)
        return e;
    if (j->n_entries == j->n_blocks * BLOCK) {
        entry **blocks = realloc(j->blocks, (j->n_blocks + 1) * sizeof *blocks);
        if (!blocks)
            return NULL;
        j->blocks = blocks;
        if (!(blocks[j->n_blocks] = malloc(BLOCK * sizeof(entry))))
            return NULL;
        j->n_blocks++;
    }
    e = entry_at(j, j->n_entries);
    memset(e, 0, sizeof *e);
    if (node >= 0) {
        e->name = zd_graph_node(j->nodes, (uint32_t)node)->name;
        j->by_node[node] = (uint32_t)j->n_entries + 1;
    } else if (zd_strmap_put(j->index, name, len, e, &e->name) < 0) {
        return NULL;
    }
    j->n_entries++;
    return e;
}

/* The entry's detail, allocated (the history moved into it) when it has none; NULL when out of
 * memory. */
static detail *detail_of(entry *e) {
    if (e->x)
        return e->x;
    if (!(e->x = calloc(1, sizeof *e->x)))
        return NULL;
    e->x->rec.name = e->name;
    e->x->rec.run_id = "";
    e->x->hist[0] = e->hist1;
    return e->x;
}

static const double *hist_of(const entry *e) {
    return e->x ? e->x->hist : &e->hist1;
}

static void free_rec(entry *e) {
    if (!e->x)
        return;
    free((char *)e->x->rec.result);
    if (e->x->rec.run_id && e->x->rec.run_id[0])
        free((char *)e->x->rec.run_id);
    e->x->rec.result = NULL;
    e->x->rec.run_id = "";
}

/* Adds a succeeded duration to the history. Returns 0 or ZDAG_ENOMEM. */
static int push_duration(entry *e, double d) {
    if (!e->x && e->n_hist == 0) {
        e->hist1 = d;
        e->n_hist = 1;
        return 0;
    }
    detail *x = detail_of(e);
    if (!x)
        return ZDAG_ENOMEM;
    if (e->n_hist == ZD_JOURNAL_HISTORY) {
        memmove(x->hist, x->hist + 1, (ZD_JOURNAL_HISTORY - 1) * sizeof x->hist[0]);
        e->n_hist--;
    }
    x->hist[e->n_hist++] = d;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, size_t n) {
    if (n == 0)
        return 0;
    double s[ZD_JOURNAL_HISTORY];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- Loading ------------------------------------------------------------------------------ */

typedef struct loader {
    zd_journal *j;        /* receives the records */
    const char *pipeline; /* the expected pipeline, or NULL for any */
    zd_diags *d;          /* receives errors */
    char why[160];        /* what is wrong with the current record */
} loader;

static void corrupt(loader *l, uint64_t off) {
    zd_diags_add(l->d, l->j->path, 0, 0,
                 "corrupt record at byte offset %" PRIu64 ": %s; remove the file to start afresh "
                 "(--resume then runs every node again)",
                 off, l->why);
}

/* Checks the HEADER record against the expected pipeline. */
static int take_header(loader *l, const char *payload, uint32_t len) {
    zd_journal *j = l->j;
    zd_jrecord h;
    int rc = zd_jrecord_decode_header(j->dec, payload, len, &h, l->why, sizeof l->why);
    if (rc == ZDAG_EPROTO) {
        zd_diags_add(l->d, j->path, 0, 0, "not a zdag journal (%s at byte offset 0)", l->why);
        return ZDAG_ESTATE;
    }
    if (rc < 0) {
        corrupt(l, 0);
        return ZDAG_ESTATE;
    }
    if (h.version < 1 || h.version > ZD_JOURNAL_VERSION) {
        zd_diags_add(l->d, j->path, 0, 0,
                     "journal format version %" PRIu64 " is not supported (this zdag reads "
                     "versions 1 to %d); use another --state-dir or remove the file",
                     h.version, ZD_JOURNAL_VERSION);
        return ZDAG_ESTATE;
    }
    if (l->pipeline && (h.pipeline_len != strlen(l->pipeline) ||
                        memcmp(h.pipeline, l->pipeline, h.pipeline_len))) {
        zd_diags_add(l->d, "zdag", 0, 0,
                     "journal in %s belongs to pipeline %.*s (this run: %s); use another "
                     "--state-dir or remove it",
                     j->dir, (int)h.pipeline_len, h.pipeline, l->pipeline);
        return ZDAG_ESTATE;
    }
    free(j->pipeline);
    if (!(j->pipeline = strndup(h.pipeline, h.pipeline_len))) {
        zd_diags_add(l->d, j->path, 0, 0, "out of memory");
        return ZDAG_ENOMEM;
    }
    j->version = h.version;
    j->header_bytes = ZD_FRAMELOG_FRAME_HEADER + (uint64_t)len;
    j->live = j->header_bytes;
    return 0;
}

/* Whether the record is of a node the loading pipeline still has (or of any, without one). The
 * others are not checksummed: compaction at open removes them. */
static bool wanted(void *ctx, const char *payload, uint32_t len) {
    zd_journal *j = ((loader *)ctx)->j;
    const char *name;
    size_t n;
    char copy[ZD_JOURNAL_MAX_NAME + 1];
    if (!j->graph || j->header_bytes == 0 || !zd_jrecord_peek_name(payload, len, &name, &n) ||
        n == 0 || n > ZD_JOURNAL_MAX_NAME || memchr(name, '\0', n))
        return true;
    memcpy(copy, name, n);
    copy[n] = '\0';
    if (zd_graph_find(j->graph, copy) >= 0)
        return true;
    /* An instance of a run-time fan-out: its template is in the graph. */
    size_t base = zd_fan_instance_base(copy, n, NULL);
    if (base) {
        copy[base] = '\0';
        int64_t t = zd_graph_find(j->graph, copy);
        if (t >= 0 && zd_graph_fan_source(j->graph, (uint32_t)t) >= 0)
            return true;
    }
    j->skipped++;
    return false;
}

/* Makes the decoded NODE_DONE r (the frame at off, len bytes) its node's latest. */
static int store_node(zd_journal *j, const zd_jrecord *r, uint64_t off, uint32_t len) {
    const zd_journal_rec *n = &r->node;
    entry *e = entry_for(j, n->name, r->name_len);
    detail *x = e ? detail_of(e) : NULL;
    char *result = n->result_len ? malloc(n->result_len) : NULL;
    char *run_id = r->run_id_len ? strndup(n->run_id, r->run_id_len) : NULL;
    if (!x || (n->result_len && !result) || (r->run_id_len && !run_id)) {
        free(result);
        free(run_id);
        return ZDAG_ENOMEM;
    }
    if (n->result_len)
        memcpy(result, n->result, n->result_len);
    free_rec(e);
    x->rec = *n;
    x->rec.name = e->name;
    x->rec.result = result;
    x->rec.run_id = run_id ? run_id : "";
    /* A version 2 record carries the history before it; version 1 records add up. */
    if (j->version >= 2) {
        memcpy(x->hist, r->history, r->n_history * sizeof x->hist[0]);
        e->n_hist = (uint8_t)r->n_history;
    }
    if (n->status == ZD_JOURNAL_SUCCEEDED && push_duration(e, n->duration_s) < 0)
        return ZDAG_ENOMEM;
    if (!e->loaded)
        j->n_loaded++;
    else
        j->live -= ZD_FRAMELOG_FRAME_HEADER + (uint64_t)e->len;
    e->loaded = true;
    e->off = off;
    e->len = len;
    e->stored = n->result_in_store;
    memcpy(x->hash, n->result_hash, sizeof x->hash);
    j->live += ZD_FRAMELOG_FRAME_HEADER + (uint64_t)len;
    return 0;
}

static int visit(void *ctx, const char *payload, uint32_t len, uint64_t off) {
    loader *l = ctx;
    zd_journal *j = l->j;
    if (off == 0)
        return take_header(l, payload, len);
    if (!wanted(l, payload, len))
        return 0; /* the file's last record, checked: still not wanted */
    zd_jrecord r;
    if (zd_jrecord_decode_node(j->dec, payload, len, j->version, &r, l->why, sizeof l->why) < 0) {
        corrupt(l, off);
        return ZDAG_ESTATE;
    }
    if (store_node(j, &r, off, len) < 0) {
        zd_diags_add(l->d, j->path, 0, 0, "out of memory");
        return ZDAG_ENOMEM;
    }
    return 0;
}

/* Loads the journal open at fd; *valid_end receives where its whole records end. */
static int load_fd(zd_journal *j, int fd, const char *pipeline, uint64_t *valid_end, zd_diags *d) {
    loader l = {.j = j, .pipeline = pipeline, .d = d};
    zd_framelog_fault f;
    uint64_t size = 0;
    int rc = zd_framelog_read(fd, &LOG_CFG, visit, &l, valid_end, &size, &f);
    if (rc == ZDAG_ESTATE && f.why[0] && f.offset == 0) {
        zd_diags_add(d, j->path, 0, 0, "not a zdag journal (%s at byte offset 0)", f.why);
    } else if (rc == ZDAG_ESTATE && f.why[0]) {
        snprintf(l.why, sizeof l.why, "%s", f.why);
        corrupt(&l, f.offset);
    } else if ((rc == ZDAG_EIO || rc == ZDAG_ENOMEM) && f.err) {
        zd_diags_add(d, j->path, 0, 0, "cannot read at byte offset %" PRIu64 ": %s", f.offset,
                     strerror(f.err));
        rc = rc == ZDAG_EIO ? ZDAG_ESTATE : rc;
    } else if (rc == 0 && size == 0) {
        zd_diags_add(d, j->path, 0, 0, "not a zdag journal (empty file)");
        rc = ZDAG_ESTATE;
    }
    if (rc < 0)
        return rc;
    j->torn = size - *valid_end;
    j->file_size = *valid_end;
    for (size_t i = 0; i < j->n_entries; i++) {
        entry *e = entry_at(j, i);
        if (e->x)
            e->x->median = median_of(e->x->hist, e->n_hist);
    }
    return 0;
}

/* ---- Opening, creating, closing ------------------------------------------------------------ */

static zd_journal *journal_new(const char *dir, const char *path) {
    zd_journal *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->dir = strdup(dir);
    j->path = strdup(path);
    j->index = zd_strmap_new();
    j->dec = zd_jrecord_decoder_new();
    msgpack_sbuffer_init(&j->sb);
    if (!j->dir || !j->path || !j->index || !j->dec)
        zd_journal_close(&j);
    return j;
}

/* Creates the journal whole (header into NAME.journal.tmp, fsync, rename, fsync the directory):
 * a crash leaves either no journal or one with a complete header. */
static int create_journal(zd_journal *j, const char *pipeline, zd_diags *d) {
    char why[256];
    zd_framelog *fl = NULL;
    int rc = zd_jrecord_pack_header(&j->sb, pipeline, (double)time(NULL));
    if (rc == 0)
        rc = zd_framelog_create(j->path, ZD_STATE_FILE_MODE, &LOG_CFG, &fl, why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", zdag_strerror(rc));
    if (rc == 0 && ((rc = zd_framelog_append(fl, j->sb.data, j->sb.size, NULL)) < 0 ||
                    (rc = zd_framelog_install(fl)) < 0))
        snprintf(why, sizeof why, "%s", zd_framelog_error(fl));
    if (rc < 0) {
        zd_framelog_close(&fl);
        zd_diags_add(d, j->path, 0, 0, "cannot create the journal: %s", why);
        return rc == ZDAG_ENOMEM ? rc : ZDAG_ESTATE;
    }
    j->fl = fl;
    j->version = ZD_JOURNAL_VERSION;
    j->header_bytes = j->live = ZD_FRAMELOG_FRAME_HEADER + (uint64_t)j->sb.size;
    return (j->pipeline = strdup(pipeline)) ? 0 : ZDAG_ENOMEM;
}

/* Loads the existing journal and opens it for appending after its last whole record. */
static int open_existing(zd_journal *j, const char *pipeline, zd_diags *d) {
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        zd_diags_add(d, j->path, 0, 0, "cannot open the journal: %s", strerror(errno));
        return ZDAG_ESTATE;
    }
    uint64_t valid_end = 0;
    int rc = load_fd(j, fd, pipeline, &valid_end, d);
    close(fd);
    char why[256];
    if (rc == 0 &&
        (rc = zd_framelog_open(j->path, valid_end, &LOG_CFG, &j->fl, why, sizeof why)) < 0)
        zd_diags_add(d, j->path, 0, 0, "%s", why);
    return rc;
}

int zd_journal_open(const char *state_dir, const char *pipeline_id, const zd_graph *g,
                    zd_journal **out, zd_diags *d) {
    char path[PATH_MAX];
    *out = NULL;
    if (!state_dir || !pipeline_id || strlen(pipeline_id) > ZD_JOURNAL_MAX_PIPELINE)
        return ZDAG_EINVAL;
    if (zd_statedir_journal_path(state_dir, pipeline_id, path, sizeof path) < 0) {
        zd_diags_add(d, "zdag", 0, 0, "state directory path too long: %s", state_dir);
        return ZDAG_ESTATE;
    }
    int rc = zd_statedir_prepare(state_dir, d);
    if (rc < 0)
        return rc;
    zd_journal *j = journal_new(state_dir, path);
    if (!j)
        return ZDAG_ENOMEM;
    j->graph = j->nodes = g;
    j->n_by_node = zd_graph_size(g);
    if (g && !(j->by_node = calloc(zd_graph_size(g) + 1, sizeof *j->by_node))) {
        zd_journal_close(&j);
        return ZDAG_ENOMEM;
    }
    rc = zd_statedir_lock_take(state_dir, &j->lock, d);
    /* A compaction that a crash interrupted left its new file behind: garbage. */
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (rc == 0)
        unlink(tmp);
    struct stat st;
    /* An empty file counts as none: say, created by hand. Other stat errors show in open(). */
    bool fresh = stat(path, &st) == 0 ? st.st_size == 0 : errno == ENOENT;
    if (rc == 0)
        rc = fresh ? create_journal(j, pipeline_id, d) : open_existing(j, pipeline_id, d);
    /* Journals of older versions were 0644. */
    if (rc == 0 && !fresh && stat(path, &st) == 0 && (st.st_mode & 077))
        chmod(path, st.st_mode & ZD_STATE_FILE_MODE);
    j->graph = NULL;
    /* An older file must become the current version before a current record is appended. */
    bool upgrade = rc == 0 && j->version < ZD_JOURNAL_VERSION;
    if (upgrade && zd_journal_compact(j, true) < 0) {
        zd_diags_add(d, path, 0, 0, "cannot rewrite the journal in format version %d: %s",
                     ZD_JOURNAL_VERSION, j->error);
        rc = ZDAG_ESTATE;
    } else if (rc == 0 && !upgrade) {
        /* Best effort: a journal that could not be compacted is still a valid one. Skipped
         * records (of nodes gone from the pipeline, not checksummed) go now. */
        int compacted = zd_journal_compact(j, j->skipped > 0);
        (void)compacted;
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
    uint64_t valid_end = 0;
    int rc = load_fd(j, fd, pipeline_id, &valid_end, d);
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
    if (j->fl) {
        /* Best effort: a caller who cares has synced, compacted and seen the errors already. */
        int unreported = zd_framelog_pending(j->fl) ? zd_framelog_sync(j->fl) : 0;
        if (unreported == 0 && !zd_framelog_broken(j->fl))
            unreported = zd_journal_compact(j, false);
        /* A small journal is rarely compacted, but the results it no longer needs may be big:
         * collect them at every close (compaction has just done so). */
        if (unreported == 0 && !zd_framelog_broken(j->fl))
            collect_results(j);
        (void)unreported;
        zd_framelog_close(&j->fl);
    }
    zd_statedir_lock_release(&j->lock);
    for (size_t i = 0; i < j->n_entries; i++) {
        free_rec(entry_at(j, i));
        free(entry_at(j, i)->x);
    }
    for (size_t b = 0; b < j->n_blocks; b++)
        free(j->blocks[b]);
    free(j->blocks);
    zd_strmap_free(&j->index);
    free(j->by_node);
    zd_jrecord_decoder_free(&j->dec);
    msgpack_sbuffer_destroy(&j->sb);
    free(j->pipeline);
    free(j->dir);
    free(j->path);
    free(j);
    *jp = NULL;
}

/* ---- Lookups --------------------------------------------------------------------------------- */

const zd_journal_rec *zd_journal_find(const zd_journal *j, const char *name) {
    const entry *e = name ? find_entry(j, name, strlen(name)) : NULL;
    return e && e->loaded ? &e->x->rec : NULL;
}

size_t zd_journal_count(const zd_journal *j) {
    return j->n_loaded;
}

uint64_t zd_journal_torn_bytes(const zd_journal *j) {
    return j->torn;
}

double zd_journal_median_duration(const zd_journal *j, const char *name) {
    const entry *e = name ? find_entry(j, name, strlen(name)) : NULL;
    return e && e->x ? e->x->median : 0;
}

const double *zd_journal_history(const zd_journal *j, const char *name, size_t *n) {
    const entry *e = name ? find_entry(j, name, strlen(name)) : NULL;
    *n = e ? e->n_hist : 0;
    return e && e->n_hist ? hist_of(e) : NULL;
}

const char *zd_journal_dir(const zd_journal *j) {
    return j->dir;
}

uint64_t zd_journal_file_bytes(const zd_journal *j) {
    return j->fl ? zd_framelog_size(j->fl) : j->file_size;
}

uint64_t zd_journal_live_bytes(const zd_journal *j) {
    return j->live;
}

/* ---- Appending ------------------------------------------------------------------------------- */

/* Appends r; push: its duration joins the history (a new outcome, not a restatement). */
static int append(zd_journal *j, const zd_journal_rec *r, bool push) {
    if (!j->fl || !r) {
        snprintf(j->error, sizeof j->error, "the journal is read-only");
        return ZDAG_EINVAL;
    }
    const char *bad = zd_jrecord_check(r);
    if (bad) {
        snprintf(j->error, sizeof j->error, "cannot journal node %.200s: %s",
                 r->name ? r->name : "(null)", bad);
        return ZDAG_EINVAL;
    }
    if (r->result_len > ZD_JOURNAL_MAX_RECORD) {
        snprintf(j->error, sizeof j->error,
                 "the result of node %.200s is over the %u MiB journal record limit", r->name,
                 ZD_JOURNAL_MAX_RECORD >> 20);
        return ZDAG_ETOOBIG;
    }
    size_t name_len = strlen(r->name);
    entry *e = find_entry(j, r->name, name_len);
    /* A restatement carries the history before the record it restates (less its own duration). */
    size_t n_hist = e ? e->n_hist : 0;
    if (!push && r->status == ZD_JOURNAL_SUCCEEDED && n_hist > 0)
        n_hist--;
    int rc = zd_jrecord_pack_node(&j->sb, r, e ? hist_of(e) : NULL, n_hist);
    uint64_t off = 0;
    if (rc == 0 && (rc = zd_framelog_append(j->fl, j->sb.data, j->sb.size, &off)) < 0) {
        snprintf(j->error, sizeof j->error, "%s", zd_framelog_error(j->fl));
        return rc;
    }
    if (rc < 0 || (!e && !(e = entry_for(j, r->name, name_len)))) {
        /* The frame may be buffered already: harmless, the index just lacks its position. */
        snprintf(j->error, sizeof j->error, "out of memory");
        return ZDAG_ENOMEM;
    }
    if (e->len)
        j->live -= ZD_FRAMELOG_FRAME_HEADER + (uint64_t)e->len;
    e->off = off;
    e->len = (uint32_t)j->sb.size;
    j->live += ZD_FRAMELOG_FRAME_HEADER + (uint64_t)e->len;
    detail *x = r->result_in_store ? detail_of(e) : e->x;
    if ((push && r->status == ZD_JOURNAL_SUCCEEDED && push_duration(e, r->duration_s) < 0) ||
        (r->result_in_store && !x)) {
        snprintf(j->error, sizeof j->error, "out of memory");
        return ZDAG_ENOMEM;
    }
    e->stored = r->result_in_store;
    if (x)
        memcpy(x->hash, r->result_hash, sizeof x->hash);
    return 0;
}

int zd_journal_append(zd_journal *j, const zd_journal_rec *r) {
    return append(j, r, true);
}

int zd_journal_restate(zd_journal *j, const zd_journal_rec *r) {
    return append(j, r, false);
}

/* Syncs with zd_framelog_sync() or zd_framelog_sync_async(). */
static int sync_by(zd_journal *j, int (*sync)(zd_framelog *)) {
    if (!j->fl) {
        snprintf(j->error, sizeof j->error, "the journal is read-only");
        return ZDAG_EINVAL;
    }
    int rc = sync(j->fl);
    snprintf(j->error, sizeof j->error, "%s", rc < 0 ? zd_framelog_error(j->fl) : "");
    return rc;
}

int zd_journal_sync(zd_journal *j) {
    return sync_by(j, zd_framelog_sync);
}

int zd_journal_sync_async(zd_journal *j) {
    return sync_by(j, zd_framelog_sync_async);
}

size_t zd_journal_pending(const zd_journal *j) {
    return j->fl ? zd_framelog_pending(j->fl) : 0;
}

int64_t zd_journal_sync_due_ms(const zd_journal *j, int64_t window_ms) {
    return j->fl ? zd_framelog_sync_due_ms(j->fl, window_ms) : -1;
}

const char *zd_journal_error(const zd_journal *j) {
    return j->error;
}

/* ---- Compaction ------------------------------------------------------------------------------ */

static void hex(const uint8_t *h, char out[2 * ZD_RESULT_HASH_SIZE + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < ZD_RESULT_HASH_SIZE; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[2 * ZD_RESULT_HASH_SIZE] = '\0';
}

static bool is_hex_name(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 2 * ZD_RESULT_HASH_SIZE;
}

/* Drops from cands the results that the other journals of the state directory reference.
 * Returns false when one of them cannot be read (then nothing may be removed). */
static bool spare_others(const zd_journal *j, zd_strmap *cands) {
    DIR *dp = opendir(j->dir);
    if (!dp)
        return false;
    const char *own = strrchr(j->path, '/') ? strrchr(j->path, '/') + 1 : j->path;
    bool ok = true;
    for (struct dirent *de; ok && (de = readdir(dp));) {
        size_t n = strlen(de->d_name);
        if (n <= 8 || strcmp(de->d_name + n - 8, ".journal") || !strcmp(de->d_name, own))
            continue;
        char path[PATH_MAX];
        zd_journal *other = NULL;
        zd_diags d;
        zd_diags_init(&d);
        ok = snprintf(path, sizeof path, "%s/%s", j->dir, de->d_name) < (int)sizeof path &&
             zd_journal_load(path, NULL, &other, &d) == 0;
        zd_diags_clear(&d);
        for (size_t i = 0; ok && i < other->n_entries; i++) {
            const entry *e = entry_at(other, i);
            char name[2 * ZD_RESULT_HASH_SIZE + 1];
            if (e->loaded && e->x->rec.result_in_store) {
                hex(e->x->rec.result_hash, name);
                ok = zd_strmap_put(cands, name, strlen(name), NULL, NULL) == 0;
            }
        }
        zd_journal_close(&other);
    }
    closedir(dp);
    return ok;
}

/* Removes STATE_DIR/results/tmp.* and the results no live record references. */
static void collect_results(const zd_journal *j) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/" ZD_STATE_RESULTS, j->dir) >= (int)sizeof dir)
        return;
    DIR *dp = opendir(dir);
    zd_strmap *cands = zd_strmap_new(), *refs = zd_strmap_new();
    bool ok = dp && cands && refs;
    for (size_t i = 0; ok && i < j->n_entries; i++) {
        const entry *e = entry_at(j, i);
        char name[2 * ZD_RESULT_HASH_SIZE + 1];
        if (e->stored) {
            hex(e->x->hash, name);
            ok = zd_strmap_put(refs, name, strlen(name), (void *)e, NULL) == 0;
        }
    }
    if (!ok) {
        if (dp)
            closedir(dp);
        zd_strmap_free(&cands);
        zd_strmap_free(&refs);
        return;
    }
    size_t n_cands = 0;
    for (struct dirent *de; (de = readdir(dp));) {
        const char *name = de->d_name;
        if (strncmp(name, "tmp.", 4) == 0) {
            unlinkat(dirfd(dp), name, 0);
        } else if (is_hex_name(name) && !zd_strmap_get(refs, name, strlen(name))) {
            if (zd_strmap_put(cands, name, strlen(name), (void *)refs, NULL) < 0) {
                n_cands = 0; /* out of memory: remove nothing */
                break;
            }
            n_cands++;
        }
    }
    if (n_cands > 0 && spare_others(j, cands)) {
        rewinddir(dp);
        for (struct dirent *de; (de = readdir(dp));)
            if (zd_strmap_get(cands, de->d_name, strlen(de->d_name)))
                unlinkat(dirfd(dp), de->d_name, 0);
    }
    closedir(dp);
    zd_strmap_free(&cands);
    zd_strmap_free(&refs);
}

static bool compaction_due(const zd_journal *j) {
    uint64_t size = zd_framelog_size(j->fl);
    return size > ZD_JOURNAL_COMPACT_FLOOR && size / 3 > j->live / 2;
}

/* Writes the live records into the new log nf; offs/lens receive their new places. */
static int copy_live(zd_journal *j, zd_framelog *nf, uint64_t *offs, uint32_t *lens) {
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < j->n_entries; i++) {
        entry *e = entry_at(j, i);
        if (e->len > cap) {
            char *b = realloc(buf, e->len);
            if (!b) {
                rc = ZDAG_ENOMEM;
                break;
            }
            buf = b;
            cap = e->len;
        }
        zd_jrecord r;
        char why[160];
        if (zd_framelog_pread(j->fl, buf, e->len, e->off + ZD_FRAMELOG_FRAME_HEADER) < 0 ||
            zd_jrecord_decode_node(j->dec, buf, e->len, j->version, &r, why, sizeof why) < 0) {
            snprintf(j->error, sizeof j->error, "cannot reread the record at byte offset %" PRIu64,
                     e->off);
            rc = ZDAG_ESTATE;
            break;
        }
        char run_id[ZD_JOURNAL_MAX_RUN_ID + 1];
        memcpy(run_id, r.node.run_id, r.run_id_len);
        run_id[r.run_id_len] = '\0';
        r.node.name = e->name;
        r.node.run_id = run_id;
        /* The history before this record: ours, less the record's own duration. */
        size_t n = e->n_hist - (r.node.status == ZD_JOURNAL_SUCCEEDED && e->n_hist > 0);
        if ((rc = zd_jrecord_pack_node(&j->sb, &r.node, hist_of(e), n)) < 0)
            break;
        if ((rc = zd_framelog_append(nf, j->sb.data, j->sb.size, &offs[i])) < 0) {
            snprintf(j->error, sizeof j->error, "%s", zd_framelog_error(nf));
            break;
        }
        lens[i] = (uint32_t)j->sb.size;
    }
    free(buf);
    return rc;
}

int zd_journal_compact(zd_journal *j, bool force) {
    if (!j->fl || zd_framelog_pending(j->fl)) {
        snprintf(j->error, sizeof j->error,
                 j->fl ? "records are pending: sync first" : "the journal is read-only");
        return ZDAG_EINVAL;
    }
    if (!force && !compaction_due(j))
        return 0;
    char why[256];
    zd_framelog *nf = NULL;
    size_t n = j->n_entries ? j->n_entries : 1;
    uint64_t *offs = malloc(n * sizeof *offs);
    uint32_t *lens = malloc(n * sizeof *lens);
    int rc = offs && lens ? 0 : ZDAG_ENOMEM;
    if (rc == 0)
        rc = zd_jrecord_pack_header(&j->sb, j->pipeline, (double)time(NULL));
    uint64_t header = ZD_FRAMELOG_FRAME_HEADER + (uint64_t)j->sb.size;
    if (rc == 0 &&
        (rc = zd_framelog_create(j->path, ZD_STATE_FILE_MODE, &LOG_CFG, &nf, why, sizeof why)) < 0)
        snprintf(j->error, sizeof j->error, "%s", why);
    if (rc == 0 && (rc = zd_framelog_append(nf, j->sb.data, j->sb.size, NULL)) < 0)
        snprintf(j->error, sizeof j->error, "%s", zd_framelog_error(nf));
    if (rc == 0)
        rc = copy_live(j, nf, offs, lens);
    if (rc == 0 && (rc = zd_framelog_install(nf)) < 0)
        snprintf(j->error, sizeof j->error, "%s", zd_framelog_error(nf));
    /* A failed directory sync after the rename leaves the new file in place, but unusable. */
    if (rc == 0 || (nf && zd_framelog_broken(nf))) {
        zd_framelog_close(&j->fl);
        j->fl = nf;
        nf = NULL;
        j->version = ZD_JOURNAL_VERSION;
        j->header_bytes = j->live = header;
        for (size_t i = 0; i < j->n_entries; i++) {
            entry *e = entry_at(j, i);
            e->off = offs[i];
            e->len = lens[i];
            j->live += ZD_FRAMELOG_FRAME_HEADER + (uint64_t)lens[i];
        }
    }
    zd_framelog_close(&nf);
    if (rc == 0)
        collect_results(j);
    free(offs);
    free(lens);
    if (rc == ZDAG_ENOMEM)
        snprintf(j->error, sizeof j->error, "out of memory");
    return rc < 0 ? rc : 1;
}
