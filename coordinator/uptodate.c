/* Files that are up to date: the outputs' oldest modification time against the inputs'
 * newest. */
#include "uptodate.h"

#include <glob.h>
#include <string.h>
#include <sys/stat.h>

#include "zdag.h"

/* A file's modification time in nanoseconds, or -1 when it cannot be read. */
static long long mtime_ns(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

/* The newest modification time of path, or of every file a pattern matches (0 when it matches
 * none); -1 when a plain path is missing. */
static long long newest_input(const char *path) {
    if (!strpbrk(path, "*?["))
        return mtime_ns(path);
    glob_t gl;
    long long newest = 0;
    if (glob(path, 0, NULL, &gl) == 0)
        for (size_t i = 0; i < gl.gl_pathc && newest >= 0; i++) {
            long long t = mtime_ns(gl.gl_pathv[i]);
            newest = t < 0 ? -1 : t > newest ? t : newest;
        }
    globfree(&gl);
    return newest;
}

/* Whether node i's outputs exist and none is older than its inputs or its deps' outputs. */
static bool files_fresh(const zd_graph *g, uint32_t i) {
    const zd_node *n = zd_graph_node(g, i);
    const zd_node_files *f = n->files;
    long long oldest = -1;
    for (uint32_t k = 0; k < f->n_outputs; k++) {
        long long t = mtime_ns(f->outputs[k]);
        if (t < 0)
            return false;
        oldest = oldest < 0 || t < oldest ? t : oldest;
    }
    for (uint32_t k = 0; k < f->n_inputs; k++) {
        long long t = newest_input(f->inputs[k]);
        if (t < 0 || t > oldest)
            return false;
    }
    for (uint32_t d = 0; d < n->n_deps; d++) {
        const zd_node_files *df = zd_graph_node(g, n->deps[d])->files;
        for (uint32_t k = 0; df && k < df->n_outputs; k++) {
            long long t = mtime_ns(df->outputs[k]);
            if (t < 0 || t > oldest)
                return false;
        }
    }
    return true;
}

int zd_uptodate_plan(const zd_graph *g, const bool *cached, const bool *forced, bool *fresh) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo)
        return ZDAG_EINVAL;
    size_t count = zd_graph_size(g);
    for (size_t t = 0; t < count; t++) {
        uint32_t i = topo[t];
        const zd_node *n = zd_graph_node(g, i);
        bool ok = n->files && n->files->n_outputs > 0 && cached[i] && !(forced && forced[i]);
        for (uint32_t d = 0; ok && d < n->n_deps; d++)
            ok = fresh[n->deps[d]];
        fresh[i] = ok && files_fresh(g, i);
    }
    return 0;
}
