/* libFuzzer harness for the pipeline loader: arbitrary text into zd_pipeline_load_buffer().
 *
 * A pipeline that loads is then used the way `zdag run` and `zdag graph` use it: definition
 * hashes, the DOT graph, a --target/--exclude selection; every node's packed `args` must be one
 * well-formed msgpack value. A rejected pipeline must come with at least one message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "defhash.h"
#include "dot.h"
#include "pipeline.h"
#include "select.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_pipeline: %s\n", what);
        abort();
    }
}

/* Uses a loaded graph as the CLI does. */
static void exercise(const zd_graph *g, FILE *sink) {
    size_t n = zd_graph_size(g);
    uint8_t(*hashes)[ZD_DEFHASH_SIZE] = malloc((n ? n : 1) * sizeof *hashes);
    bool *active = malloc(n ? n : 1);
    check(hashes && active, "out of memory");
    check(zd_defhash_compute(g, hashes) == 0, "no definition hashes for a loaded graph");
    check(zd_dot_write(sink, g, 0) == 0, "zd_dot_write failed on a loaded graph");
    check(zd_dot_write(sink, g, ZD_DOT_EXPAND) == 0, "zd_dot_write --expand failed");
    const char *targets[1] = {NULL}, *excludes[1] = {NULL};
    size_t n_targets = 0, n_excludes = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zd_node *node = zd_graph_node(g, i);
        check(!node->args || zd_wire_well_formed(node->args, node->args_len, 64),
              "a node's args are not one msgpack value");
        if (i == n - 1)
            targets[n_targets++] = node->name;
        if (!n_excludes && node->n_tags)
            excludes[n_excludes++] = node->tags[0];
    }
    zd_diags d;
    zd_diags_init(&d);
    int rc = zd_select(g, targets, n_targets, excludes, n_excludes, active, &d);
    check(rc == 0 || rc == ZDAG_ENOMEM, "zd_select refused names taken from the graph");
    zd_diags_clear(&d);
    free(active);
    free(hashes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *sink;
    if (!sink) {
        sink = fopen("/dev/null", "w");
        check(sink != NULL, "cannot open /dev/null");
    }
    zd_graph *g = NULL;
    zd_diags d;
    zd_diags_init(&d);
    int rc = zd_pipeline_load_buffer("fuzz.yaml", (const char *)data, size, &g, &d);
    if (rc == 0) {
        check(g != NULL, "success without a graph");
        exercise(g, sink);
    } else {
        check(g == NULL, "a graph returned with an error");
        check(rc == ZDAG_EPIPELINE || rc == ZDAG_ENOMEM, "unexpected error code");
        check(d.n > 0, "a rejected pipeline without a message");
    }
    zd_graph_free(&g);
    zd_diags_clear(&d);
    return 0;
}
