/* The graph in Graphviz DOT. */
#include "dot.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "foreach.h"

/* Writes s as the inside of a DOT quoted string. In labels `\n` is a line break and `\\` a
 * backslash; other control characters have no escape and are left out. */
static void put_escaped(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c >= 0x20 && c != 0x7F)
            fputc(c, out);
    }
}

/* Writes the first len bytes of s escaped. */
static void put_escaped_n(FILE *out, const char *s, size_t len) {
    char buf[256];
    while (len > 0) {
        size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        put_escaped(out, buf);
        s += n;
        len -= n;
    }
}

/* The box of node n; for a group of count > 1 instances, named after their node. */
static void put_node(FILE *out, const zd_graph *g, uint32_t index, size_t name_len,
                     uint32_t count) {
    const zd_node *n = zd_graph_node(g, index);
    fputs("  \"", out);
    put_escaped_n(out, n->name, name_len);
    fputs("\" [label=\"", out);
    put_escaped_n(out, n->name, name_len);
    if (count)
        fprintf(out, "\\n%" PRIu32 " instance%s", count, count == 1 ? "" : "s");
    int64_t src = zd_graph_fan_source(g, index); /* a run-time fan-out */
    if (src >= 0) {
        fputs("\\ninstances: one per line of ", out);
        put_escaped(out, zd_graph_node(g, (uint32_t)src)->name);
    }
    if (n->priority != 0)
        fprintf(out, "\\npriority: %" PRId64, n->priority);
    if (n->sequential)
        fputs("\\nsequential", out);
    const zd_pool *pool = zd_graph_pool(g, n->pool);
    if (pool) {
        fputs("\\npool: ", out);
        put_escaped(out, pool->name);
    }
    if (n->cpus != 1)
        fprintf(out, "\\ncpus: %g", n->cpus);
    fputc('"', out);
    if (n->sequential)
        fputs(", shape=octagon, style=bold", out);
    fputs("];\n", out);
}

/* The boxes drawn: box[i] is node i's; first[b] its first node, len[b] the length of its name
 * (the node's whole name, or NAME of its instances), count[b] instances or 0 for a node. */
typedef struct boxes {
    uint32_t *box, *first, *count, *seen; /* seen: per box, 1 + the box whose deps added it */
    size_t *len;                          /* per box */
    uint32_t n;                           /* boxes */
} boxes;

static int make_boxes(const zd_graph *g, bool expand, boxes *b) {
    size_t size = zd_graph_size(g), alloc = size ? size : 1;
    b->box = malloc(alloc * sizeof *b->box);
    b->first = malloc(alloc * sizeof *b->first);
    b->count = calloc(alloc, sizeof *b->count);
    b->seen = calloc(alloc, sizeof *b->seen);
    b->len = malloc(alloc * sizeof *b->len);
    b->n = 0;
    if (!b->box || !b->first || !b->count || !b->seen || !b->len)
        return ZDAG_ENOMEM;
    for (uint32_t i = 0; i < size; i++) {
        const char *name = zd_graph_node(g, i)->name;
        size_t len = strlen(name), base = expand ? 0 : zd_fan_instance_base(name, len, NULL);
        uint32_t last = b->n - 1;
        if (base && b->n && b->count[last] && b->len[last] == base &&
            !memcmp(zd_graph_node(g, b->first[last])->name, name, base)) {
            b->box[i] = last; /* the next instance of the same node */
            b->count[last]++;
            continue;
        }
        b->box[i] = b->n;
        b->first[b->n] = i;
        b->len[b->n] = base ? base : len;
        b->count[b->n++] = base ? 1 : 0;
    }
    return 0;
}

static void free_boxes(boxes *b) {
    free(b->box);
    free(b->first);
    free(b->count);
    free(b->seen);
    free(b->len);
}

int zd_dot_write(FILE *out, const zd_graph *g, unsigned flags) {
    if (!out || !g)
        return ZDAG_EINVAL;
    boxes b;
    int rc = make_boxes(g, flags & ZD_DOT_EXPAND, &b);
    if (rc < 0) {
        free_boxes(&b);
        return rc;
    }
    size_t size = zd_graph_size(g);
    fputs("digraph zdag {\n  node [shape=box, style=rounded];\n", out);
    for (uint32_t k = 0; k < b.n; k++)
        put_node(out, g, b.first[k], b.len[k], b.count[k]);
    for (uint32_t i = 0; i < size; i++) {
        const zd_node *n = zd_graph_node(g, i);
        uint32_t to = b.box[i];
        for (size_t d = 0; d < n->n_deps; d++) {
            uint32_t from = b.box[n->deps[d]];
            if (b.seen[from] == to + 1)
                continue; /* this edge between two boxes is drawn */
            b.seen[from] = to + 1;
            fputs("  \"", out);
            put_escaped_n(out, zd_graph_node(g, b.first[from])->name, b.len[from]);
            fputs("\" -> \"", out);
            put_escaped_n(out, n->name, b.len[to]);
            fputs("\";\n", out);
        }
    }
    fputs("}\n", out);
    free_boxes(&b);
    return fflush(out) == 0 && !ferror(out) ? 0 : ZDAG_EIO;
}
