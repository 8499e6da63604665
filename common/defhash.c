/* Definition hashes over SHA-256, and SHA-256 itself (FIPS 180-4, section 6.2).
 *
 * SHA-256 lives here rather than coming from libcrypto or libsodium: it is ~100 lines, hashes a
 * few hundred bytes per node, and keeps libzdag's link line and pkg-config file free of a crypto
 * dependency that would only be used for this. */
#include "defhash.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, unsigned n) {
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
               (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 =
            k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void zd_sha256_init(zd_sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->state, h0, sizeof h0);
    s->bytes = 0;
    s->block_len = 0;
}

void zd_sha256_update(zd_sha256 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    s->bytes += len;
    while (len > 0) {
        size_t take = 64 - s->block_len < len ? 64 - s->block_len : len;
        memcpy(s->block + s->block_len, p, take);
        s->block_len += take;
        p += take;
        len -= take;
        if (s->block_len == 64) {
            compress(s->state, s->block);
            s->block_len = 0;
        }
    }
}

void zd_sha256_final(zd_sha256 *s, uint8_t digest[32]) {
    uint64_t bits = s->bytes * 8;
    /* Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian. */
    s->block[s->block_len++] = 0x80;
    if (s->block_len > 56) {
        memset(s->block + s->block_len, 0, 64 - s->block_len);
        compress(s->state, s->block);
        s->block_len = 0;
    }
    memset(s->block + s->block_len, 0, 56 - s->block_len);
    for (int i = 0; i < 8; i++)
        s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(s->state, s->block);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            digest[4 * i + j] = (uint8_t)(s->state[i] >> (24 - 8 * j));
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
};

static void put_u64(zd_sha256 *s, uint64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    zd_sha256_update(s, le, sizeof le);
}

static void put_tag(zd_sha256 *s, uint8_t tag) {
    zd_sha256_update(s, &tag, 1);
}

/* Length-prefixed bytes. */
static void put_bytes(zd_sha256 *s, const void *p, size_t len) {
    put_u64(s, len);
    zd_sha256_update(s, p, len);
}

static void put_str(zd_sha256 *s, const char *str) {
    put_bytes(s, str, str ? strlen(str) : 0);
}

static void put_env(zd_sha256 *s, uint8_t tag, const zd_kv *env, size_t n) {
    put_tag(s, tag);
    put_u64(s, n);
    for (size_t i = 0; i < n; i++) {
        put_str(s, env[i].key);
        put_str(s, env[i].value);
    }
}

static void hash_node(const zd_graph *g, const zd_graph_settings *gs, uint32_t index,
                      uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    static const char format_tag[] = "zdag-defhash-1";
    const zd_node *n = zd_graph_node(g, index);
    zd_sha256 s;
    zd_sha256_init(&s);
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
    put_tag(&s, TAG_DEPS);
    put_u64(&s, n->n_deps);
    for (size_t i = 0; i < n->n_deps; i++) {
        put_str(&s, zd_graph_node(g, n->deps[i])->name);
        zd_sha256_update(&s, out[n->deps[i]], ZD_DEFHASH_SIZE);
    }
    zd_sha256_final(&s, out[index]);
}

int zd_defhash_compute(const zd_graph *g, uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !out)
        return ZDAG_EINVAL;
    /* zd_graph_settings_of() only hands out a pointer; nothing here writes through it. */
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    size_t n = zd_graph_size(g);
    for (size_t i = 0; i < n; i++)
        hash_node(g, gs, topo[i], out);
    return 0;
}
