/* Resume planning: a node is cached when it and everything it depends on is. */
#include "resume.h"

#include <string.h>

#include "zdag.h"

int zd_resume_plan(const zd_journal *j, const zd_graph *g, uint8_t (*hashes)[ZD_DEFHASH_SIZE],
                   bool *cached) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !hashes || !cached)
        return ZDAG_EINVAL;
    for (size_t t = 0; t < zd_graph_size(g); t++) {
        const zd_node *n = zd_graph_node(g, topo[t]);
        const zd_journal_rec *r = zd_journal_find(j, n->name);
        bool ok = r && r->status == ZD_JOURNAL_SUCCEEDED &&
                  memcmp(r->defhash, hashes[topo[t]], ZD_DEFHASH_SIZE) == 0;
        for (size_t i = 0; ok && i < n->n_deps; i++)
            ok = cached[n->deps[i]];
        cached[topo[t]] = ok;
    }
    return 0;
}
