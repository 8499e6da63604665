/* Test helper: builds a finished graph from "name:priority" nodes and "a>b" edges
 * (b depends on a). */
#ifndef ZD_TEST_GRAPHS_H
#define ZD_TEST_GRAPHS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static inline zd_graph *build_graph(const char *const *nodes, const char *const *edges) {
    zd_graph *g = zd_graph_new();
    for (; *nodes; nodes++) {
        char name[64];
        long prio = 0;
        const char *colon = strchr(*nodes, ':');
        size_t len = colon ? (size_t)(colon - *nodes) : strlen(*nodes);
        snprintf(name, sizeof name, "%.*s", (int)len, *nodes);
        if (colon)
            prio = strtol(colon + 1, NULL, 10);
        uint32_t idx;
        if (zd_graph_add_node(g, name, &idx) < 0)
            abort();
        zd_graph_node(g, idx)->priority = prio;
    }
    for (; edges && *edges; edges++) {
        char a[64], b[64];
        if (sscanf(*edges, "%63[^>]>%63s", a, b) != 2)
            abort();
        if (zd_graph_add_dep(g, (uint32_t)zd_graph_find(g, b), (uint32_t)zd_graph_find(g, a)) < 0)
            abort();
    }
    if (zd_graph_finish(g, NULL, NULL) < 0)
        abort();
    return g;
}

#endif
