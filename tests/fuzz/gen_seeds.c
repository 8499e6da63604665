/* Writes the fuzzers' seed corpora: small, real inputs made by zdag's own writers.
 *
 *   zdag_fuzz_seeds OUT_DIR SOURCE_DIR
 *
 * fills OUT_DIR/wire (one frame of each message type, from the zd_wire_encode_*() functions),
 * OUT_DIR/journal (journals written by zd_journal_open/append/sync: a header only, five
 * records (one with its result in the store), the same with a torn tail), OUT_DIR/mpjson (msgpack
 * values of every type, and the packed `args` of real pipelines) and OUT_DIR/pipeline (SOURCE_DIR's
 * example pipelines and the examples of the pipeline tests). tests/fuzz/corpus was made with it:
 *
 *   ./build-fuzz/tests/fuzz/zdag_fuzz_seeds tests/fuzz/corpus .
 *
 * Running it again rewrites the seeds (journals carry their creation time, so those change). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "pipeline.h"
#include "wire.h"

static void die(const char *what) {
    fprintf(stderr, "zdag_fuzz_seeds: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* Writes OUT/CORPUS/NAME. */
static void save(const char *out, const char *corpus, const char *name, const void *data,
                 size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out, corpus);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", out, corpus, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? 2 * cap : 4096;
            if (!(buf = realloc(buf, cap)))
                die("out of memory");
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

#define B(s) ((zd_bytes){(s), sizeof(s) - 1})

static void save_frame(const char *out, zd_wire_buf *b, int rc, const char *name) {
    if (rc != 0)
        die(name);
    save(out, "wire", name, zd_wire_buf_data(b), zd_wire_buf_size(b));
}

static void wire_seeds(const char *out) {
    zd_wire_buf *b = zd_wire_buf_new();
    if (!b)
        die("out of memory");
    zd_msg_hello hello = {ZD_WIRE_VERSION, 1, 4242, B("hostA"), 2, 3, 0x5ec7e7ull};
    save_frame(out, b, zd_wire_encode_hello(b, &hello), "hello");

    zd_bytes env[] = {B("LC_ALL=C"), B("ZDAG_NODE=fetch")};
    zd_msg_task shell = {.node = 0,
                         .token = 7,
                         .attempt = 1,
                         .name = B("fetch"),
                         .run_id = B("run-20240101"),
                         .kind = 0,
                         .cmd = B("curl -sS https://example.org"),
                         .env = env,
                         .n_env = 2,
                         .timeout_ms = 60000,
                         .log_path = B("/tmp/state/logs/fetch.log"),
                         .max_result = 1ull << 30,
                         .store_dir = B("/tmp/state/results"),
                         .cpus = 1};
    save_frame(out, b, zd_wire_encode_task(b, &shell), "task_shell");

    zd_bytes argv[] = {B("sh"), B("-c"), B("sleep 0.3; echo D"), B("")};
    static const uint8_t big_hash[ZD_STORE_HASH] = {0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65};
    zd_dep_result deps[] = {
        {B("A"), ZD_FORMAT_RAW, 10, NULL, B("A fetched\n")},
        {B("B"), ZD_FORMAT_MSGPACK, 10, NULL, B("\x82\xa1x\x01\xa1y\x93\x01\x02\x03")},
        {B("C"), ZD_FORMAT_RAW, 200000000, big_hash, {NULL, 0}}};
    zd_msg_task argv_task = {.node = 3,
                             .token = 1ull << 40,
                             .attempt = 2,
                             .name = B("D"),
                             .run_id = B("r"),
                             .kind = 1,
                             .argv = argv,
                             .argc = 4,
                             .workdir = B("/tmp/w"),
                             .deps = deps,
                             .n_deps = 3,
                             .max_result = 512,
                             .cpus = 2.5};
    save_frame(out, b, zd_wire_encode_task(b, &argv_task), "task_argv");

    zd_msg_task fn = {.node = 2,
                      .token = 9,
                      .attempt = 1,
                      .name = B("train"),
                      .run_id = B("r"),
                      .kind = 2,
                      .cmd = B("train_model"),
                      .args = B("\x81\xa6"
                                "epochs\x03"),
                      .deps = deps + 1,
                      .n_deps = 1,
                      .timeout_ms = 500,
                      .max_result = 64ull << 20};
    save_frame(out, b, zd_wire_encode_task(b, &fn), "task_fn");

    zd_msg_result ok = {.node = 0, .token = 7, .ok = true, .output = B("A fetched\n"), .size = 10};
    save_frame(out, b, zd_wire_encode_result(b, &ok), "result_ok");
    zd_msg_result stored = {.node = 5, .token = 8, .ok = true, .size = 200000000, .hash = big_hash};
    save_frame(out, b, zd_wire_encode_result(b, &stored), "result_stored");
    zd_msg_chunk chunk = {.node = 5, .token = 8, .offset = 1 << 20, .data = B("some result bytes")};
    save_frame(out, b, zd_wire_encode_chunk(b, &chunk), "chunk");
    zd_msg_ack ack = {.token = 8, .offset = 2 << 20};
    save_frame(out, b, zd_wire_encode_ack(b, &ack), "ack");
    zd_msg_fetch fetch = {.hash = big_hash, .offset = 3 << 20};
    save_frame(out, b, zd_wire_encode_fetch(b, &fetch), "fetch");
    zd_msg_data data = {.hash = big_hash, .offset = 3 << 20, .data = B("bytes of a result")};
    save_frame(out, b, zd_wire_encode_data(b, &data), "data");
    zd_msg_data none = {.hash = big_hash, .offset = 0, .data = {NULL, 0}};
    save_frame(out, b, zd_wire_encode_data(b, &none), "data_none");
    zd_msg_result failed = {.node = 3,
                            .token = 1ull << 40,
                            .ok = false,
                            .exit_code = 137,
                            .signal = 9,
                            .error = B("killed by signal 9"),
                            .output = B(""),
                            .log = B("line 1\nline 2\n")};
    save_frame(out, b, zd_wire_encode_result(b, &failed), "result_failed");

    save_frame(out, b, zd_wire_encode_drop(b, 1ull << 40), "drop");
    zd_msg_dropped dropped = {.node = 3, .token = 1ull << 40};
    save_frame(out, b, zd_wire_encode_dropped(b, &dropped), "dropped");
    zd_wire_batch *batch = zd_wire_batch_new();
    if (!batch || zd_wire_encode_task(b, &fn) < 0 || zd_wire_batch_add(batch, b) < 0 ||
        zd_wire_encode_drop(b, 9) < 0 || zd_wire_batch_add(batch, b) < 0)
        die("out of memory");
    size_t batch_len;
    const char *batch_frame = zd_wire_batch_frame(batch, &batch_len);
    save(out, "wire", "batch", batch_frame, batch_len);
    zd_wire_batch_free(&batch);
    save_frame(out, b, zd_wire_encode_bye(b, ZD_BYE_DONE), "bye");
    save_frame(out, b, zd_wire_encode_bye(b, ZD_BYE_EVICTED), "bye_evicted");
    save_frame(out, b, zd_wire_encode_beat(b, 42), "beat");
    save_frame(out, b, zd_wire_encode_status(b), "status");
    save_frame(out, b, zd_wire_encode_status_reply(b, B("{\"counts\": {}}")), "status_reply");
    zd_msg_cancel cancel = {1, 0x9e3779b97f4a7c15ull, B("timed out after 2 s")};
    save_frame(out, b, zd_wire_encode_cancel(b, &cancel), "cancel");

    zd_msg_join join = {.version = ZD_WIRE_VERSION,
                        .host = B("hostB"),
                        .slots = 4,
                        .cpus = 3.5,
                        .res_names = {B("gpu"), B("mem_mb")},
                        .res_amounts = {1, 1500},
                        .n_res = 2,
                        .pid = 777,
                        .allocation = B("4242")};
    save_frame(out, b, zd_wire_encode_join(b, &join), "join");
    save_frame(out, b, zd_wire_encode_leave(b, ZD_LEAVE_STOPPED), "leave");

    zd_bytes plugins[] = {B("./build/examples/plugin/libzdag_example_plugin.so")};
    zd_msg_welcome welcome = {2, B("run-20240101"), 1000, plugins, 1, 0x0123456789abcdefull, 3000};
    save_frame(out, b, zd_wire_encode_welcome(b, &welcome), "welcome");

    zd_msg_lost lost = {2, 1, B("signal 9"), 4321, 0x1234ull};
    save_frame(out, b, zd_wire_encode_lost(b, &lost), "lost");
    zd_wire_buf_free(&b);
}

static zd_journal_rec record(const char *name, uint8_t hash, zd_journal_status status,
                             const char *result, size_t len, bool msgpack) {
    zd_journal_rec r = {.name = name,
                        .status = status,
                        .result = result,
                        .result_len = len,
                        .result_is_msgpack = msgpack,
                        .duration_s = 0.25 * hash,
                        .attempts = status == ZD_JOURNAL_FAILED ? 3 : 1,
                        .run_id = "run1",
                        .finished_at = 1.7e9 + hash};
    memset(r.defhash, hash, sizeof r.defhash);
    return r;
}

/* The journal file that zd_journal_open() made in dir (its name follows the pipeline's). */
static void journal_path(const char *dir, char *path, size_t size) {
    DIR *dp = opendir(dir);
    if (!dp)
        die(dir);
    struct dirent *e;
    path[0] = '\0';
    while ((e = readdir(dp)))
        if (strstr(e->d_name, "journal") && !strstr(e->d_name, ".tmp"))
            snprintf(path, size, "%s/%s", dir, e->d_name);
    closedir(dp);
    if (!path[0])
        die("no journal file");
}

/* Removes dir and the files in it. */
static void remove_dir(const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp)
        die(dir);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) < 0)
                rmdir(path); /* logs/, empty */
        }
    closedir(dp);
    rmdir(dir);
}

static void journal_seeds(const char *out) {
    char dir[] = "/tmp/zdag-fuzz-seeds-XXXXXX", path[4096];
    if (!mkdtemp(dir))
        die("mkdtemp");
    zd_diags d;
    zd_diags_init(&d);
    zd_journal *j = NULL;
    if (zd_journal_open(dir, "/pipelines/p.yaml", NULL, &j, &d) != 0)
        die("zd_journal_open");
    zd_journal_close(&j);
    journal_path(dir, path, sizeof path);
    size_t len;
    char *bytes = slurp(path, &len);
    save(out, "journal", "header_only", bytes, len);
    free(bytes);

    if (zd_journal_open(dir, "/pipelines/p.yaml", NULL, &j, &d) != 0)
        die("zd_journal_open");
    zd_journal_rec recs[] = {
        record("fetch", 1, ZD_JOURNAL_SUCCEEDED, "A fetched\n", 10, false),
        record("train", 2, ZD_JOURNAL_SUCCEEDED, "\x82\xa1x\x01\xa1y\x93\x01\x02\x03", 11, true),
        record("report", 3, ZD_JOURNAL_FAILED, NULL, 0, false),
        record("fetch", 1, ZD_JOURNAL_SUCCEEDED, "again\n", 6, false),
        record("big", 4, ZD_JOURNAL_SUCCEEDED, NULL, 0, false),
    };
    /* A result in the store: its hash and size, no bytes. */
    recs[4].result_in_store = true;
    memset(recs[4].result_hash, 0x5a, sizeof recs[4].result_hash);
    recs[4].result_size = 1u << 20;
    /* Inputs hashes (format 3): train ran on fetch's result, big on nothing; report has none. */
    recs[1].has_inputs = true;
    memset(recs[1].inputs_hash, 0x3c, sizeof recs[1].inputs_hash);
    recs[4].has_inputs = true;
    memset(recs[4].inputs_hash, 0xc3, sizeof recs[4].inputs_hash);
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        if (zd_journal_append(j, &recs[i]) != 0)
            die("zd_journal_append");
    if (zd_journal_sync(j) != 0)
        die("zd_journal_sync");
    zd_journal_close(&j);
    bytes = slurp(path, &len);
    save(out, "journal", "five_records", bytes, len);
    /* A crash in the middle of a write: the last record cut short. */
    save(out, "journal", "torn_tail", bytes, len - 5);
    free(bytes);
    zd_diags_clear(&d);
    remove_dir(dir);
}

static void save_packed(const char *out, msgpack_sbuffer *sb, const char *name) {
    save(out, "mpjson", name, sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
}

static void mpjson_seeds(const char *out) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_nil(&pk);
    save_packed(out, &sb, "nil");
    msgpack_pack_array(&pk, 8);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_pack_float(&pk, 0.1f);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_double(&pk, -INFINITY);
    msgpack_pack_double(&pk, 2.5);
    save_packed(out, &sb, "scalars");
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "caf\xc3\xa9\0x", 7);
    msgpack_pack_str_with_body(&pk, "raw", 3);
    msgpack_pack_bin_with_body(&pk, "\x00\xff\x10", 3);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "\xff\xfe", 2);
    save_packed(out, &sb, "map_str_keys");
    msgpack_pack_map(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_map(&pk, 0);
    save_packed(out, &sb, "map_other_keys");
    for (int i = 0; i < 20; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "uint64", 6);
    msgpack_pack_str_with_body(&pk, "1", 1);
    save_packed(out, &sb, "nested");
    msgpack_sbuffer_destroy(&sb);
}

/* The packed args of every node of a pipeline, as msgpack seeds. */
static void args_seeds(const char *out, const char *label, const char *text) {
    zd_graph *g = NULL;
    zd_diags d;
    zd_diags_init(&d);
    if (zd_pipeline_load_buffer(label, text, strlen(text), &g, &d) != 0) {
        zd_diags_print(&d, stderr);
        die(label);
    }
    for (uint32_t i = 0; i < zd_graph_size(g); i++) {
        const zd_node *n = zd_graph_node(g, i);
        char name[256];
        snprintf(name, sizeof name, "args_%s_%s", label, n->name);
        if (n->args)
            save(out, "mpjson", name, n->args, n->args_len);
    }
    zd_graph_free(&g);
    zd_diags_clear(&d);
}

static const char spec_example[] = "max_concurrency: 4\n"
                                   "defaults: {retries: 1, timeout: 600}\n"
                                   "env: {LC_ALL: C}\n"
                                   "pools: {db: 2, license: 1}\n"
                                   "plugins: [./build/libnodes.so]\n"
                                   "nodes:\n"
                                   "  fetch:\n"
                                   "    cmd: curl -sS https://example.org -o page.html\n"
                                   "    priority: 10\n"
                                   "    cpus: 0\n"
                                   "  parse:\n"
                                   "    cmd: [python3, parse.py, page.html]\n"
                                   "    deps: [fetch]\n"
                                   "  train:\n"
                                   "    fn: train_model\n"
                                   "    args: {epochs: 3, layers: [64, 32], rate: 1.5e-3}\n"
                                   "    deps: [parse]\n"
                                   "    sequential: true\n"
                                   "  report:\n"
                                   "    cmd: ./make_report.sh\n"
                                   "    deps: [train, parse]\n"
                                   "    pool: db\n";

static const char full_example[] = "nodes:\n"
                                   "  a:\n"
                                   "    cmd: [sleep, 1, true, '']\n"
                                   "    env: {X: 1, Y: ~, Z: '', W: \"two words\"}\n"
                                   "    resources: {gpu: 1, mem_mb: 1.5e3}\n"
                                   "    workdir: /tmp/w\n"
                                   "    estimate: 2.5\n"
                                   "    tags: [io, \"2024\"]\n"
                                   "    timeout: 0.5\n"
                                   "    retries: 3\n"
                                   "    priority: -9223372036854775808\n"
                                   "  b: {\"fn\": \"f\", \"deps\": [\"a\"], \"pool\": \"lic\", "
                                   "\"cpus\": 2, \"args\": {\"k\": [null, true, -1, \"s\"]}}\n"
                                   "  c:\n"
                                   "    cmd: true\n"
                                   "    sequential: false\n"
                                   "    deps:\n"
                                   "      - b\n"
                                   "      - a\n"
                                   "defaults:\n"
                                   "  priority: 5\n"
                                   "  args: [1, x, 18446744073709551615, 0.1, .nan, {1: 2}]\n"
                                   "  tags: [default]\n"
                                   "  env: {D: d}\n"
                                   "  pool: lic\n"
                                   "pools:\n"
                                   "  lic: 1\n";

static const char json_example[] =
    "{\"nodes\": {\"a\": {\"cmd\": \"echo a\"}, \"b\": {\"cmd\": [\"cat\", \"x\"], "
    "\"deps\": [\"a\"], \"env\": {\"K\": \"v\"}}}}\n";

/* Rejected ones reach the error paths: an alias, a cycle, an unknown key. */
static const char bad_example[] = "x: &anchor {cmd: true}\n"
                                  "nodes:\n"
                                  "  a: {cmd: true, deps: [b], colour: red}\n"
                                  "  b: {cmd: true, deps: [a]}\n"
                                  "  c: *anchor\n";

static void pipeline_seeds(const char *out, const char *source_dir) {
    static const char *const files[][3] = {
        {"examples/quickstart.yaml", "quickstart.yaml", "quickstart"},
        {"examples/plugin/pipeline.yaml", "plugin.yaml", "plugin"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", source_dir, files[i][0]);
        char *text = slurp(path, &len);
        save(out, "pipeline", files[i][1], text, len);
        text = realloc(text, len + 1);
        if (!text)
            die("out of memory");
        text[len] = '\0';
        args_seeds(out, files[i][2], text);
        free(text);
    }
    save(out, "pipeline", "spec.yaml", spec_example, strlen(spec_example));
    save(out, "pipeline", "full.yaml", full_example, strlen(full_example));
    save(out, "pipeline", "json.yaml", json_example, strlen(json_example));
    save(out, "pipeline", "bad.yaml", bad_example, strlen(bad_example));
    args_seeds(out, "spec", spec_example);
    args_seeds(out, "full", full_example);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: zdag_fuzz_seeds OUT_DIR SOURCE_DIR\n");
        return 2;
    }
    const char *out = argv[1];
    if (mkdir(out, 0755) < 0 && errno != EEXIST)
        die(out);
    wire_seeds(out);
    journal_seeds(out);
    mpjson_seeds(out);
    pipeline_seeds(out, argv[2]);
    return 0;
}
