/* Resume planning: a node is cached when it and everything it depends on is. */
#include "resume.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "statedir.h"
#include "store.h"
#include "zdag.h"

int zd_resume_plan(const zd_journal *j, const zd_graph *g, uint8_t (*hashes)[ZD_DEFHASH_SIZE],
                   bool *cached) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !hashes || !cached)
        return ZDAG_EINVAL;
    char store[PATH_MAX];
    const char *store_ok =
        snprintf(store, sizeof store, "%s/" ZD_STATE_RESULTS, zd_journal_dir(j)) < (int)sizeof store
            ? store
            : NULL;
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
