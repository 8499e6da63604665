/* Definition hashes of a run: the graph's, with the identity of the code its functions are. */
#include "definitions.h"

#include <stdlib.h>
#include <string.h>

#include "codeid.h"

typedef struct exports {
    zd_codeid_exports **of; /* per plugin: what it exports, NULL = unknown (owned) */
    size_t n;               /* plugins */
} exports;

static size_t plugins_for(void *ctx, const char *fn) {
    const exports *x = ctx;
    for (size_t i = 0; i < x->n; i++)
        if (zd_codeid_exports_has(x->of[i], fn))
            return i + 1;
    return x->n; /* none exports it: the node fails, but hash as if any might */
}

int zd_definitions_hash(const zd_graph *g, const zd_fn_entry *fns, size_t n_fns, const zd_log *log,
                        uint8_t (*out)[ZD_DEFHASH_SIZE]) {
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)g);
    zd_codeid_cache *cache = zd_codeid_cache_new();
    uint8_t program[ZD_CODEID_SIZE];
    uint8_t(*plugins)[ZD_CODEID_SIZE] = calloc(gs->n_plugins + 1, sizeof *plugins);
    const char **names = calloc(n_fns + 1, sizeof *names);
    zd_defhash_code code = {.registered = names,
                            .n_registered = n_fns,
                            .plugins = (const uint8_t *)plugins,
                            .n_plugins = gs->n_plugins};
    exports x = {calloc(gs->n_plugins + 1, sizeof *x.of), gs->n_plugins};
    code.plugins_for = plugins_for;
    code.ctx = &x;
    int rc = cache && plugins && names && x.of ? 0 : ZDAG_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_fns; i++)
        names[i] = fns[i].name;
    if (rc == 0 && n_fns > 0) {
        if (zd_codeid_self(cache, program) == 0)
            code.program = program;
        else
            zd_logf(log, ZDAG_LOG_WARNING,
                    "cannot read this program's executable: --resume knows its functions by "
                    "name only");
    }
    for (size_t i = 0; rc == 0 && i < gs->n_plugins; i++)
        if ((rc = zd_codeid_file(cache, gs->plugins[i], plugins[i])) == ZDAG_ENOENT ||
            rc == ZDAG_EIO) {
            zd_sha256 s;
            zd_sha256_init(&s);
            zd_sha256_update(&s, "zdag-unreadable", 15);
            zd_sha256_update(&s, gs->plugins[i], strlen(gs->plugins[i]));
            zd_sha256_final(&s, plugins[i]);
            rc = 0;
        }
    for (size_t i = 0; rc == 0 && i < gs->n_plugins; i++)
        rc = zd_codeid_exports_read(gs->plugins[i], &x.of[i]);
    if (rc == 0)
        rc = zd_defhash_compute_code(g, &code, out);
    for (size_t i = 0; x.of && i < x.n; i++)
        zd_codeid_exports_free(&x.of[i]);
    free(x.of);
    zd_codeid_cache_free(&cache);
    free(plugins);
    free(names);
    return rc;
}
