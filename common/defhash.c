/* Definition hashes over SHA-256 (libsodium's: libzmq already depends on it). */
#include "defhash.h"

#include <string.h>

void zd_sha256_init(zd_sha256 *s) {
    /* Picks the fastest implementation (idempotent). Should it fail, the portable code runs,
     * which hashes the same: nothing to handle. */
    int ready = sodium_init();
    (void)ready;
    crypto_hash_sha256_init(&s->state);
}

void zd_sha256_update(zd_sha256 *s, const void *data, size_t len) {
    if (len)
        crypto_hash_sha256_update(&s->state, data, len);
}

void zd_sha256_final(zd_sha256 *s, uint8_t digest[32]) {
    crypto_hash_sha256_final(&s->state, digest);
}

void zd_defhash_hex(const uint8_t h[ZD_DEFHASH_SIZE], char hex[2 * ZD_DEFHASH_SIZE + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < ZD_DEFHASH_SIZE; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[2 * ZD_DEFHASH_SIZE] = '\0';
}

/* Field tags: each field starts with its own tag, so that moving bytes from one field to the
 * next (say, from shell to workdir) always changes the hash. */
enum {
    TAG_NAME = 1,
    TAG_KIND,
    TAG_SHELL,
    TAG_ARGV,
    TAG_FN,
    TAG_ARGS,
    TAG_GRAPH_ENV,
    TAG_NODE_ENV,
    TAG_WORKDIR,
    TAG_NO_WORKDIR,
    TAG_DEPS,
    TAG_VERSION,
    TAG_PROGRAM_CODE,
    TAG_PLUGIN_CODE,
    TAG_FILES,
};

/* A node's fields are many small pieces (1-byte tags, 8-byte lengths, short names): they are
 * gathered here and hashed a block at a time, not a libsodium call each. The bytes hashed, and
 * so the hash, are the same. */
typedef struct feed {
    zd_sha256 s;       /* the hash */
    size_t n;          /* bytes gathered in buf */
    uint8_t buf[1024]; /* not yet hashed */
} feed;

static void flush(feed *f) {
    zd_sha256_update(&f->s, f->buf, f->n);
    f->n = 0;
}

static void put_raw(feed *f, const void *p, size_t len) {
    if (len == 0) /* p may be NULL then */
        return;
    if (f->n + len > sizeof f->buf) {
        flush(f);
        if (len > sizeof f->buf) {
            zd_sha256_update(&f->s, p, len);
            return;
        }
    }
    memcpy(f->buf + f->n, p, len);
    f->n += len;
}

static void put_u64(feed *s, uint64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put_raw(s, le, sizeof le);
}

static void put_tag(feed *s, uint8_t tag) {
    put_raw(s, &tag, 1);
}

/* Length-prefixed bytes. */
static void put_bytes(feed *s, const void *p, size_t len) {
    put_u64(s, len);
    put_raw(s, p, len);
}

static void put_str(feed *s, const char *str) {
    put_bytes(s, str, str ? strlen(str) : 0);
}

static void put_env(feed *s, uint8_t tag, const zd_kv *env, size_t n) {
    put_tag(s, tag);
    put_u64(s, n);
    for (size_t i = 0; i < n; i++) {
        put_str(s, env[i].key);
        put_str(s, env[i].value);
    }
}

static bool registered(const zd_defhash_code *code, const char *fn) {
    for (size_t i = 0; i < code->n_registered; i++)
        if (strcmp(code->registered[i], fn) == 0)
            return true;
    return false;
}

/* The identity of the code a function node calls: the program's, for a function it registered
 * (looked up first at run time), else the plugins' in order up to the one that exports it (the
 * first whose handle finds the name wins at run time). */
static void put_code(feed *s, const zd_defhash_code *code, const char *fn) {
    static const uint8_t unknown[ZD_DEFHASH_SIZE] = {0};
    if (registered(code, fn)) {
        put_tag(s, TAG_PROGRAM_CODE);
        put_raw(s, code->program ? code->program : unknown, ZD_DEFHASH_SIZE);
        return;
    }
    size_t n = code->plugins_for ? code->plugins_for(code->ctx, fn) : code->n_plugins;
    if (n > code->n_plugins)
        n = code->n_plugins;
    put_tag(s, TAG_PLUGIN_CODE);
    put_u64(s, n);
    for (size_t i = 0; i < n; i++)
        put_raw(s, code->plugins + i * ZD_DEFHASH_SIZE, ZD_DEFHASH_SIZE);
}

static void hash_node(const zd_graph *g, const zd_graph_settings *gs, const zd_defhash_code *code,
                      uint32_t index, uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    static const char format_tag[] = "zdag-defhash-1";
    const zd_node *n = zd_graph_node(g, index);
    feed s;
    s.n = 0;
    crypto_hash_sha256_init(&s.s.state); /* sodium_init() was called once, for every node */
    put_bytes(&s, format_tag, sizeof format_tag - 1);
    put_tag(&s, TAG_NAME);
    put_str(&s, n->name);
    put_tag(&s, TAG_KIND);
    put_u64(&s, (uint64_t)n->kind);
    if (n->kind == ZD_NODE_ARGV) {
        put_tag(&s, TAG_ARGV);
        put_u64(&s, n->argc);
        for (size_t i = 0; i < n->argc; i++)
            put_str(&s, n->argv[i]);
    } else if (n->kind == ZD_NODE_FN) {
        put_tag(&s, TAG_FN);
        put_str(&s, n->fn);
        if (code)
            put_code(&s, code, n->fn);
    } else {
        put_tag(&s, TAG_SHELL);
        put_str(&s, n->shell);
    }
    put_tag(&s, TAG_ARGS);
    if (n->args)
        put_bytes(&s, n->args, n->args_len);
    else
        put_bytes(&s, "\xc0", 1); /* no args reach a function as nil */
    put_env(&s, TAG_GRAPH_ENV, gs->env, gs->n_env);
    put_env(&s, TAG_NODE_ENV, n->env, n->n_env);
    if (n->workdir) {
        put_tag(&s, TAG_WORKDIR);
        put_str(&s, n->workdir);
    } else {
        put_tag(&s, TAG_NO_WORKDIR);
    }
    if (n->version) { /* nothing when absent: hashes of nodes without one stay as they were */
        put_tag(&s, TAG_VERSION);
        put_str(&s, n->version);
    }
    if (n->files) { /* likewise: declared files are part of what the node is */
        put_tag(&s, TAG_FILES);
        put_u64(&s, n->files->n_inputs);
        for (size_t i = 0; i < n->files->n_inputs; i++)
            put_str(&s, n->files->inputs[i]);
        put_u64(&s, n->files->n_outputs);
        for (size_t i = 0; i < n->files->n_outputs; i++)
            put_str(&s, n->files->outputs[i]);
        put_u64(&s, n->files->keep);
    }
    put_tag(&s, TAG_DEPS);
    put_u64(&s, n->n_deps);
    for (size_t i = 0; i < n->n_deps; i++) {
        put_str(&s, zd_graph_node(g, n->deps[i])->name);
        put_raw(&s, out[n->deps[i]], ZD_DEFHASH_SIZE);
    }
    flush(&s);
    zd_sha256_final(&s.s, out[index]);
}

void zd_defhash_instance(const uint8_t tmpl[ZD_DEFHASH_SIZE], const char *name, const char *item,
                         uint8_t out[ZD_DEFHASH_SIZE]) {
    static const char format_tag[] = "zdag-instance-1";
    feed s;
    s.n = 0;
    zd_sha256_init(&s.s);
    put_bytes(&s, format_tag, sizeof format_tag - 1);
    put_raw(&s, tmpl, ZD_DEFHASH_SIZE);
    put_str(&s, name);
    put_str(&s, item ? item : "");
    flush(&s);
    zd_sha256_final(&s.s, out);
}

int zd_defhash_compute(const zd_graph *g, uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    return zd_defhash_compute_code(g, NULL, out);
}

int zd_defhash_compute_code(const zd_graph *g, const zd_defhash_code *code,
                            uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !out)
        return ZDAG_EINVAL;
    /* zd_graph_settings_of() only hands out a pointer; nothing here writes through it. */
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    size_t n = zd_graph_size(g);
    if (n > 0) {
        zd_sha256 once; /* picks libsodium's implementation, once and not per node */
        zd_sha256_init(&once);
    }
    for (size_t i = 0; i < n; i++)
        hash_node(g, gs, code, topo[i], out);
    return 0;
}
