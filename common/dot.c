/* The graph in Graphviz DOT. */
#include "dot.h"

#include <inttypes.h>

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

static void put_node(FILE *out, const zd_graph *g, const zd_node *n) {
    fputs("  \"", out);
    put_escaped(out, n->name);
    fputs("\" [label=\"", out);
    put_escaped(out, n->name);
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

int zd_dot_write(FILE *out, const zd_graph *g) {
    if (!out || !g)
        return ZDAG_EINVAL;
    size_t size = zd_graph_size(g);
    fputs("digraph zdag {\n  node [shape=box, style=rounded];\n", out);
    for (uint32_t i = 0; i < size; i++)
        put_node(out, g, zd_graph_node(g, i));
    for (uint32_t i = 0; i < size; i++) {
        const zd_node *n = zd_graph_node(g, i);
        for (size_t d = 0; d < n->n_deps; d++) {
            fputs("  \"", out);
            put_escaped(out, zd_graph_node(g, n->deps[d])->name);
            fputs("\" -> \"", out);
            put_escaped(out, n->name);
            fputs("\";\n", out);
        }
    }
    fputs("}\n", out);
    return fflush(out) == 0 && !ferror(out) ? 0 : ZDAG_EIO;
}
