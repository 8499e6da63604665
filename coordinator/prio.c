/* Priority modes: user, compound (Tawazi's downstream sum) and critical-path. */
#include "prio.h"

#include <stdlib.h>
#include <string.h>

int zd_prio_mode_parse(const char *text, zd_prio_mode *mode) {
    static const char *names[] = {"critical-path", "compound", "user"};
    for (int i = 0; i < 3; i++)
        if (text && strcmp(text, names[i]) == 0) {
            *mode = (zd_prio_mode)i;
            return 0;
        }
    return ZDAG_EINVAL;
}

static bool is_active(const bool *active, uint32_t i) {
    return !active || active[i];
}

/* Walks the topological order backwards so that every child is done before its parents. */
static void critical_path(const zd_graph *g, const bool *active, const double *durations,
                          zd_prio_key *keys) {
    size_t n = zd_graph_size(g);
    const uint32_t *topo = zd_graph_topo(g);
    for (size_t k = n; k-- > 0;) {
        uint32_t i = topo[k];
        const zd_node *node = zd_graph_node(g, i);
        double own = durations && durations[i] > 0 ? durations[i] : node->estimate;
        int64_t major = node->priority;
        double longest = 0;
        for (size_t c = 0; c < node->n_children; c++) {
            uint32_t child = node->children[c];
            if (!is_active(active, child))
                continue;
            if (keys[child].major > major)
                major = keys[child].major;
            if (keys[child].minor > longest)
                longest = keys[child].minor;
        }
        keys[i].major = major;
        keys[i].minor = own + longest;
    }
}

/* Sums priorities over each node's distinct descendants with a depth-first walk; stamp[]
 * marks the nodes already counted for the current root, so no node counts twice. */
static int compound(const zd_graph *g, const bool *active, zd_prio_key *keys) {
    size_t n = zd_graph_size(g);
    uint32_t *stamp = calloc(n ? n : 1, sizeof *stamp);
    uint32_t *stack = malloc((n ? n : 1) * sizeof *stack);
    if (!stamp || !stack) {
        free(stamp);
        free(stack);
        return ZDAG_ENOMEM;
    }
    for (uint32_t root = 0; root < n; root++) {
        int64_t sum = 0;
        size_t top = 0;
        stack[top++] = root;
        stamp[root] = root + 1;
        while (top) {
            const zd_node *node = zd_graph_node(g, stack[--top]);
            sum += node->priority;
            for (size_t c = 0; c < node->n_children; c++) {
                uint32_t child = node->children[c];
                if (stamp[child] != root + 1 && is_active(active, child)) {
                    stamp[child] = root + 1;
                    stack[top++] = child;
                }
            }
        }
        keys[root].major = sum;
        keys[root].minor = 0;
    }
    free(stamp);
    free(stack);
    return 0;
}

int zd_prio_compute(const zd_graph *g, zd_prio_mode mode, const bool *active,
                    const double *durations, zd_prio_key *keys) {
    if (!g || !keys || (zd_graph_size(g) && !zd_graph_topo(g)))
        return ZDAG_EINVAL;
    switch (mode) {
    case ZD_PRIO_CRITICAL_PATH:
        critical_path(g, active, durations, keys);
        return 0;
    case ZD_PRIO_COMPOUND:
        return compound(g, active, keys);
    case ZD_PRIO_USER:
        for (uint32_t i = 0; i < zd_graph_size(g); i++)
            keys[i] = (zd_prio_key){zd_graph_node(g, i)->priority, 0};
        return 0;
    }
    return ZDAG_EINVAL;
}
