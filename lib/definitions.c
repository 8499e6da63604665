/* Definition hashes of a run: the graph's, with the identity of the code its functions are. */
#include "definitions.h"

#include <stdlib.h>
#include <string.h>

#include "codeid.h"

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
    int rc = cache && plugins && names ? 0 : ZDAG_ENOMEM;
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
    if (rc == 0)
        rc = zd_defhash_compute_code(g, &code, out);
    zd_codeid_cache_free(&cache);
    free(plugins);
    free(names);
    return rc;
}
