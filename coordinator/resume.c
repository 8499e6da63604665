/* Resume planning: a node is cached when it and everything it depends on is, and it ran on the
 * results its dependencies have now. */
#include "resume.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statedir.h"
#include "store.h"
#include "zdag.h"

/* Whether r (a succeeded record of node n) ran on the current results of n's dependencies, all
 * cached: their records' result identities (ids, filled by the caller for cached nodes). A record
 * that does not know its inputs (formats 1 and 2) is trusted only without dependencies. */
static bool same_inputs(const zd_journal *j, const zd_graph *g, const zd_node *n,
                        const zd_journal_rec *r, uint8_t (*ids)[ZD_RESULT_HASH_SIZE]) {
    if (!r->has_inputs)
        return n->n_deps == 0;
    zd_inputs h;
    zd_inputs_init(&h);
    for (size_t i = 0; i < n->n_deps; i++) {
        const zd_node *d = zd_graph_node(g, n->deps[i]);
        const zd_journal_rec *dr = zd_journal_find(j, d->name);
        zd_inputs_add(&h, d->name, dr->result_is_msgpack, ids[n->deps[i]], NULL, 0);
    }
    uint8_t got[ZD_INPUTS_HASH_SIZE];
    zd_inputs_final(&h, got);
    return memcmp(got, r->inputs_hash, sizeof got) == 0;
}

int zd_resume_plan(const zd_journal *j, const zd_graph *g, uint8_t (*hashes)[ZD_DEFHASH_SIZE],
                   bool *cached) {
    const uint32_t *topo = zd_graph_topo(g);
    if (!topo || !hashes || !cached)
        return ZDAG_EINVAL;
    size_t count = zd_graph_size(g);
    uint8_t(*ids)[ZD_RESULT_HASH_SIZE] = malloc((count ? count : 1) * sizeof *ids);
    if (!ids)
        return ZDAG_ENOMEM;
    char store[PATH_MAX];
    const char *store_ok =
        snprintf(store, sizeof store, "%s/" ZD_STATE_RESULTS, zd_journal_dir(j)) < (int)sizeof store
            ? store
            : NULL;
    for (size_t t = 0; t < count; t++) {
        const zd_node *n = zd_graph_node(g, topo[t]);
        const zd_journal_rec *r = zd_journal_find(j, n->name);
        /* A template (a run-time fan-out) ends with its instances: it is decided in the run. */
        bool ok = r && r->status == ZD_JOURNAL_SUCCEEDED &&
                  memcmp(r->defhash, hashes[topo[t]], ZD_DEFHASH_SIZE) == 0 &&
                  zd_graph_fan_source(g, topo[t]) < 0;
        for (size_t i = 0; ok && i < n->n_deps; i++)
            ok = cached[n->deps[i]];
        /* A dependency that ran again since (or another record of it) is another input. */
        if (ok)
            ok = same_inputs(j, g, n, r, ids);
        /* A stored result is trusted only once its file proves to be it. */
        if (ok && r->result_in_store)
            ok = store_ok && zd_store_verify(store_ok, r->result_hash, r->result_size, true);
        if (ok && r->result_in_store)
            memcpy(ids[topo[t]], r->result_hash, ZD_RESULT_HASH_SIZE);
        else if (ok)
            zd_inputs_identity(r->result, r->result_len, ids[topo[t]]);
        cached[topo[t]] = ok;
    }
    free(ids);
    return 0;
}
