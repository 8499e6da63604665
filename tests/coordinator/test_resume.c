/* Resume planning: a node is cached when its latest record succeeded with its definition hash,
 * everything it depends on is cached, and it ran on its dependencies' current results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resume.h"
#include "store.h"

#define PIPE "/pipelines/p.yaml"

typedef struct fixture {
    char dir[64]; /* a fresh state directory */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/zdag-resume-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static zd_journal *open_ok(fixture *f) {
    zd_journal *j = NULL;
    zd_diags d;
    zd_diags_init(&d);
    assert_int_equal(zd_journal_open(f->dir, PIPE, NULL, &j, &d), 0);
    zd_diags_clear(&d);
    return j;
}

static zd_journal_rec rec(const char *name, uint8_t hash, zd_journal_status status,
                          const char *result) {
    zd_journal_rec r = {.name = name,
                        .status = status,
                        .result = result,
                        .result_len = result ? strlen(result) : 0,
                        .duration_s = 1.5,
                        .attempts = 1,
                        .run_id = "run1",
                        .finished_at = 1.7e9};
    memset(r.defhash, hash, sizeof r.defhash);
    return r;
}

static void append_ok(zd_journal *j, zd_journal_rec r) {
    assert_int_equal(zd_journal_append(j, &r), 0);
}

/* Sets r's inputs hash: it ran on dep's result (or, dep NULL, on nothing). */
static void ran_on(zd_journal_rec *r, const zd_journal_rec *dep) {
    zd_inputs h;
    zd_inputs_init(&h);
    if (dep)
        zd_inputs_add(&h, dep->name, dep->result_is_msgpack,
                      dep->result_in_store ? dep->result_hash : NULL, dep->result, dep->result_len);
    zd_inputs_final(&h, r->inputs_hash);
    r->has_inputs = true;
}

/* Journals a, b, c, d of small_graph() (hashes h) with these results of a and b, each node run
 * on its dependency's result. */
static void journal_all(zd_journal *j, uint8_t (*h)[32], zd_journal_rec a, const char *b_out) {
    zd_journal_rec r[4] = {a, rec("b", 0, ZD_JOURNAL_SUCCEEDED, b_out),
                           rec("c", 0, ZD_JOURNAL_SUCCEEDED, "ok"),
                           rec("d", 0, ZD_JOURNAL_SUCCEEDED, "ok")};
    for (uint32_t i = 0; i < 4; i++) {
        memcpy(r[i].defhash, h[i], 32);
        ran_on(&r[i], i == 1 || i == 2 ? &r[i - 1] : NULL);
        append_ok(j, r[i]);
    }
}

/* Graph a -> b -> c, d alone, all shell nodes. */
static zd_graph *small_graph(const char *b_cmd) {
    zd_graph *g = zd_graph_new();
    const char *names[] = {"a", "b", "c", "d"};
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t idx;
        assert_int_equal(zd_graph_add_node(g, names[i], &idx), 0);
        zd_graph_node(g, idx)->shell = strdup(i == 1 ? b_cmd : "true");
    }
    assert_int_equal(zd_graph_add_dep(g, 1, 0), 0);
    assert_int_equal(zd_graph_add_dep(g, 2, 1), 0);
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    return g;
}

static void test_resume_plan(void **state) {
    fixture *f = *state;
    zd_graph *g = small_graph("echo b");
    uint8_t h[4][32];
    assert_int_equal(zd_defhash_compute(g, h), 0);
    zd_journal *j = open_ok(f);
    journal_all(j, h, rec("a", 0, ZD_JOURNAL_SUCCEEDED, "ok"), "ok");
    zd_journal_close(&j);
    j = open_ok(f);
    bool cached[4];
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);

    /* b's command changed: b and c run again, a and d are cached. */
    zd_graph *g2 = small_graph("echo B");
    uint8_t h2[4][32];
    assert_int_equal(zd_defhash_compute(g2, h2), 0);
    assert_int_equal(zd_resume_plan(j, g2, h2, cached), 0);
    assert_true(cached[0] && !cached[1] && !cached[2] && cached[3]);
    zd_journal_close(&j);

    /* a failed in a later run: a runs again, and so does everything after it. */
    j = open_ok(f);
    zd_journal_rec r = rec("a", 0, ZD_JOURNAL_FAILED, NULL);
    memcpy(r.defhash, h[0], 32);
    append_ok(j, r);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(!cached[0] && !cached[1] && !cached[2] && cached[3]);
    zd_journal_close(&j);
    zd_graph_free(&g);
    zd_graph_free(&g2);
}

/* A stored result is recorded by hash and size, and trusted on resume only while its file in
 * STATE_DIR/results has that size and hash. */
static void test_stored_results(void **state) {
    fixture *f = *state;
    zd_graph *g = small_graph("echo b");
    uint8_t h[4][32];
    assert_int_equal(zd_defhash_compute(g, h), 0);
    char store[512];
    snprintf(store, sizeof store, "%s/results", f->dir);
    assert_int_equal(zd_store_prepare(store), 0);
    char big[10000];
    memset(big, 'r', sizeof big);
    zd_store_writer *w = zd_store_writer_new(store, 0);
    assert_int_equal(zd_store_writer_write(w, big, sizeof big), 0);
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), 0);
    zd_store_writer_free(&w);
    assert_true(stored);

    zd_journal *j = open_ok(f);
    zd_journal_rec ra = rec("a", 0, ZD_JOURNAL_SUCCEEDED, NULL);
    ra.result_in_store = true;
    memcpy(ra.result_hash, hash, sizeof hash);
    ra.result_size = size;
    journal_all(j, h, ra, "ok");
    zd_journal_rec bad = rec("x", 0, ZD_JOURNAL_SUCCEEDED, "bytes");
    bad.result_in_store = true; /* a stored result has no inline bytes */
    assert_int_equal(zd_journal_append(j, &bad), ZDAG_EINVAL);
    zd_journal_close(&j);

    j = open_ok(f);
    const zd_journal_rec *a = zd_journal_find(j, zd_graph_node(g, 0)->name);
    assert_non_null(a);
    assert_true(a->result_in_store);
    assert_int_equal(a->result_size, sizeof big);
    assert_memory_equal(a->result_hash, hash, sizeof hash);
    assert_int_equal(a->result_len, 0);
    assert_false(zd_journal_find(j, zd_graph_node(g, 1)->name)->result_in_store);
    bool cached[4];
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);

    /* The same size, one byte changed: a and everything after it run again. */
    char path[ZD_STORE_PATH];
    assert_true(zd_store_path(store, hash, path, sizeof path));
    chmod(path, 0644);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, 5000, SEEK_SET);
    fputc('!', fp);
    fclose(fp);
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(!cached[0] && !cached[1] && !cached[2] && cached[3]);
    unlink(path); /* missing: the same */
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(!cached[0] && cached[3]);
    zd_journal_close(&j);
    zd_graph_free(&g);
}

/* The defect: a dependency ran again (a new, durable record) and the run stopped before its
 * dependent did. The dependent's latest record was built from the old result: it is not cached,
 * nor is anything after it. */
static void test_dependency_result_changed(void **state) {
    fixture *f = *state;
    zd_graph *g = small_graph("cat $ZDAG_DEP_A");
    uint8_t h[4][32];
    assert_int_equal(zd_defhash_compute(g, h), 0);
    zd_journal *j = open_ok(f);
    journal_all(j, h, rec("a", 0, ZD_JOURNAL_SUCCEEDED, "old"), "old");
    zd_journal_close(&j);
    j = open_ok(f);
    bool cached[4];
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);
    zd_journal_rec a = rec("a", 0, ZD_JOURNAL_SUCCEEDED, "new");
    memcpy(a.defhash, h[0], 32);
    ran_on(&a, NULL);
    append_ok(j, a);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && !cached[1] && !cached[2] && cached[3]);
    zd_journal_close(&j);

    /* b then ran on the new result: cached again; c still ran on the b of before (the same
     * bytes "old": its inputs are the same, so it is cached too). */
    j = open_ok(f);
    zd_journal_rec b = rec("b", 0, ZD_JOURNAL_SUCCEEDED, "old");
    memcpy(b.defhash, h[1], 32);
    ran_on(&b, &a);
    append_ok(j, b);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);

    /* A dependency's result that moved into the store keeps its identity. */
    char store[512];
    snprintf(store, sizeof store, "%s/results", f->dir);
    assert_int_equal(zd_store_prepare(store), 0);
    char big[8000];
    memset(big, 'q', sizeof big);
    zd_store_writer *w = zd_store_writer_new(store, 0);
    assert_int_equal(zd_store_writer_write(w, big, sizeof big), 0);
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), 0);
    zd_store_writer_free(&w);
    zd_journal_rec ab = rec("a", 0, ZD_JOURNAL_SUCCEEDED, NULL);
    ab.result = big;
    ab.result_len = sizeof big;
    memcpy(ab.defhash, h[0], 32);
    ran_on(&ab, NULL);
    ran_on(&b, &ab); /* b ran on a's inline bytes */
    ab.result = NULL;
    ab.result_len = 0;
    ab.result_in_store = true;
    memcpy(ab.result_hash, hash, sizeof hash);
    ab.result_size = size;
    append_ok(j, ab); /* ... that are now in the store */
    append_ok(j, b);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);
    zd_journal_close(&j);
    zd_graph_free(&g);
}

/* Records of before the inputs hash (formats 1 and 2) are trusted only without dependencies. */
static void test_record_without_inputs(void **state) {
    fixture *f = *state;
    zd_graph *g = small_graph("echo b");
    uint8_t h[4][32];
    assert_int_equal(zd_defhash_compute(g, h), 0);
    zd_journal *j = open_ok(f);
    for (uint32_t i = 0; i < 4; i++) {
        zd_journal_rec r = rec(zd_graph_node(g, i)->name, 0, ZD_JOURNAL_SUCCEEDED, "ok");
        memcpy(r.defhash, h[i], 32);
        append_ok(j, r);
    }
    zd_journal_close(&j);
    j = open_ok(f);
    bool cached[4];
    assert_int_equal(zd_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && !cached[1] && !cached[2] && cached[3]);
    zd_journal_close(&j);
    zd_graph_free(&g);
}

static void test_unfinished_graph(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    zd_graph *g = zd_graph_new();
    uint8_t h[1][32];
    bool cached[1];
    assert_int_equal(zd_resume_plan(j, g, h, cached), ZDAG_EINVAL);
    zd_graph_free(&g);
    zd_journal_close(&j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dependency_result_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_without_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_graph, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
