/* The run journal: compaction (bounded size, history, killed children, failed writes), the
 * version 1 upgrade, the result store's fields and files, permissions; round trips, torn tails,
 * corruption, the state-dir lock (also held by another process), hostile records, duration medians,
 * the resume plan, and what fsync costs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "framelog.h"
#include "journal.h"

#define PIPE "/pipelines/p.yaml"

typedef struct fixture {
    char dir[64];      /* a fresh state directory */
    char journal[128]; /* dir/journal */
    zd_diags d;        /* errors of the last open */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/zdag-journal-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->journal, sizeof f->journal, "%s/p.yaml.journal", f->dir);
    zd_diags_init(&f->d);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    zd_diags_clear(&f->d);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* All messages of the last failed open, joined. */
static const char *errors(fixture *f) {
    static char all[4096];
    all[0] = '\0';
    for (size_t i = 0; i < f->d.n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s\n", f->d.lines[i]);
    return all;
}

static zd_journal *open_ok(fixture *f) {
    zd_journal *j = NULL;
    zd_diags_clear(&f->d);
    int rc = zd_journal_open(f->dir, PIPE, NULL, &j, &f->d);
    if (rc != 0)
        fprintf(stderr, "open: %s", errors(f));
    assert_int_equal(rc, 0);
    assert_non_null(j);
    return j;
}

/* Opens expecting failure `code` with a message containing `needle`. */
static void open_fails(fixture *f, const char *pipeline, int code, const char *needle) {
    zd_journal *j = NULL;
    zd_diags_clear(&f->d);
    assert_int_equal(zd_journal_open(f->dir, pipeline, NULL, &j, &f->d), code);
    assert_null(j);
    if (!strstr(errors(f), needle))
        fail_msg("expected \"%s\" in: %s", needle, errors(f));
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

static uint64_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    *len = (size_t)file_size(path);
    char *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

/* Appends one framed record with a correct checksum around `payload` to the journal file. */
static void append_frame(const char *path, const void *payload, size_t len) {
    char h[8];
    uint32_t crc = zd_framelog_crc32(0, payload, len);
    for (int i = 0; i < 4; i++) {
        h[i] = (char)(len >> (8 * i));
        h[4 + i] = (char)(crc >> (8 * i));
    }
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(h, 1, 8, fp), 8);
    assert_int_equal(fwrite(payload, 1, len, fp), len);
    fclose(fp);
}

/* A journal with the header and records a, b, c; stores where each record starts. */
static void three_records(fixture *f, uint64_t starts[3]) {
    zd_journal *j = open_ok(f);
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        starts[i] = file_size(f->journal);
        append_ok(j, rec(names[i], (uint8_t)i, ZD_JOURNAL_SUCCEEDED, "out"));
        assert_int_equal(zd_journal_sync(j), 0);
    }
    zd_journal_close(&j);
}

static void test_crc32_check_value(void **state) {
    (void)state;
    assert_int_equal(zd_framelog_crc32(0, "123456789", 9), 0xcbf43926);
    assert_int_equal(zd_framelog_crc32(zd_framelog_crc32(0, "1234", 4), "56789", 5), 0xcbf43926);
    assert_int_equal(zd_framelog_crc32(0, "", 0), 0);
}

static void test_round_trip_across_reopen(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    assert_int_equal(zd_journal_count(j), 0);
    append_ok(j, rec("fetch", 1, ZD_JOURNAL_SUCCEEDED, "page\n"));
    zd_journal_rec r = rec("train", 2, ZD_JOURNAL_SUCCEEDED, NULL);
    r.result = "\x92\x01\xa1x"; /* [1, "x"] */
    r.result_len = 4;
    r.result_is_msgpack = true;
    r.duration_s = 12.25;
    r.attempts = 3;
    r.run_id = "0123456789abcdef";
    append_ok(j, r);
    append_ok(j, rec("broken", 3, ZD_JOURNAL_FAILED, NULL));
    assert_int_equal(zd_journal_pending(j), 3);
    assert_null(zd_journal_find(j, "fetch")); /* appended records show after a reopen */
    assert_int_equal(zd_journal_sync(j), 0);
    assert_int_equal(zd_journal_pending(j), 0);
    zd_journal_close(&j);
    assert_null(j);

    j = open_ok(f);
    assert_int_equal(zd_journal_count(j), 3);
    assert_int_equal(zd_journal_torn_bytes(j), 0);
    const zd_journal_rec *got = zd_journal_find(j, "fetch");
    assert_non_null(got);
    assert_int_equal(got->status, ZD_JOURNAL_SUCCEEDED);
    assert_int_equal(got->result_len, 5);
    assert_memory_equal(got->result, "page\n", 5);
    assert_false(got->result_is_msgpack);
    assert_int_equal(got->defhash[31], 1);
    got = zd_journal_find(j, "train");
    assert_non_null(got);
    assert_int_equal(got->result_len, 4);
    assert_memory_equal(got->result, "\x92\x01\xa1x", 4);
    assert_true(got->result_is_msgpack);
    assert_true(got->duration_s == 12.25);
    assert_int_equal(got->attempts, 3);
    assert_string_equal(got->run_id, "0123456789abcdef");
    assert_true(got->finished_at == 1.7e9);
    got = zd_journal_find(j, "broken");
    assert_non_null(got);
    assert_int_equal(got->status, ZD_JOURNAL_FAILED);
    assert_int_equal(got->result_len, 0);
    assert_null(zd_journal_find(j, "nope"));
    zd_journal_close(&j);

    /* The read-only view sees the same, and cannot append. */
    zd_diags_clear(&f->d);
    assert_int_equal(zd_journal_load(f->journal, NULL, &j, &f->d), 0);
    assert_int_equal(zd_journal_count(j), 3);
    zd_journal_rec more = rec("x", 0, ZD_JOURNAL_SUCCEEDED, NULL);
    assert_int_equal(zd_journal_append(j, &more), ZDAG_EINVAL);
    zd_journal_close(&j);
}

/* A later run's record replaces an earlier one; close syncs what is pending. */
static void test_later_record_overrides(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    append_ok(j, rec("a", 1, ZD_JOURNAL_SUCCEEDED, "one"));
    append_ok(j, rec("b", 1, ZD_JOURNAL_SUCCEEDED, "b"));
    zd_journal_close(&j);
    j = open_ok(f);
    append_ok(j, rec("a", 1, ZD_JOURNAL_FAILED, NULL));
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_journal_find(j, "a")->status, ZD_JOURNAL_FAILED);
    append_ok(j, rec("a", 2, ZD_JOURNAL_SUCCEEDED, "two"));
    assert_int_equal(zd_journal_sync(j), 0);
    zd_journal_close(&j);
    j = open_ok(f);
    const zd_journal_rec *a = zd_journal_find(j, "a");
    assert_int_equal(a->status, ZD_JOURNAL_SUCCEEDED);
    assert_int_equal(a->defhash[0], 2);
    assert_memory_equal(a->result, "two", 3);
    assert_int_equal(zd_journal_count(j), 2);
    zd_journal_close(&j);
}

/* Every cut inside the last record is a torn tail: ignored, truncated, and appending works. */
static void test_torn_tails_of_every_length(void **state) {
    fixture *f = *state;
    uint64_t starts[3];
    three_records(f, starts);
    size_t len;
    char *whole = read_all(f->journal, &len);
    for (size_t cut = starts[2] + 1; cut < len; cut++) {
        write_all(f->journal, whole, cut);
        zd_journal *j = open_ok(f);
        assert_int_equal(zd_journal_torn_bytes(j), cut - starts[2]);
        assert_non_null(zd_journal_find(j, "b"));
        assert_null(zd_journal_find(j, "c"));
        assert_int_equal(file_size(f->journal), starts[2]);
        append_ok(j, rec("d", 4, ZD_JOURNAL_SUCCEEDED, "dd"));
        assert_int_equal(zd_journal_sync(j), 0);
        zd_journal_close(&j);
        j = open_ok(f);
        assert_int_equal(zd_journal_torn_bytes(j), 0);
        assert_non_null(zd_journal_find(j, "b"));
        assert_memory_equal(zd_journal_find(j, "d")->result, "dd", 2);
        zd_journal_close(&j);
    }
    free(whole);
}

/* Other crash leftovers: zeros after the last record, a bad checksum on the last record. */
static void test_torn_zeros_and_bad_last_checksum(void **state) {
    fixture *f = *state;
    uint64_t starts[3];
    three_records(f, starts);
    size_t len;
    char *whole = read_all(f->journal, &len);
    char *zeros = calloc(1, len + 10000);
    memcpy(zeros, whole, len);
    write_all(f->journal, zeros, len + 10000);
    zd_journal *j = open_ok(f);
    assert_int_equal(zd_journal_torn_bytes(j), 10000);
    assert_non_null(zd_journal_find(j, "c"));
    zd_journal_close(&j);

    whole[len - 1] ^= 0x40;
    write_all(f->journal, whole, len);
    j = open_ok(f);
    assert_int_equal(zd_journal_torn_bytes(j), len - starts[2]);
    assert_null(zd_journal_find(j, "c"));
    zd_journal_close(&j);
    free(zeros);
    free(whole);
}

/* A flipped byte anywhere before the last record is corruption, reported with its offset. */
static void test_corruption_in_the_middle(void **state) {
    fixture *f = *state;
    uint64_t starts[3];
    three_records(f, starts);
    size_t len;
    char *whole = read_all(f->journal, &len);
    char needle[64];
    /* In a payload, in a checksum, in a length (which makes the record look torn, but a valid
     * record follows it). */
    size_t flips[] = {starts[1] + 12, starts[1] + 5, starts[1] + 1, starts[0] + 2};
    uint64_t at[] = {starts[1], starts[1], starts[1], starts[0]};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        char *bad = malloc(len);
        memcpy(bad, whole, len);
        bad[flips[i]] ^= 0x10;
        write_all(f->journal, bad, len);
        snprintf(needle, sizeof needle, "corrupt record at byte offset %llu",
                 (unsigned long long)at[i]);
        open_fails(f, PIPE, ZDAG_ESTATE, needle);
        assert_int_equal(file_size(f->journal), len); /* left alone */
        free(bad);
    }
    /* The header itself. */
    whole[10] ^= 0x01;
    write_all(f->journal, whole, len);
    open_fails(f, PIPE, ZDAG_ESTATE, "not a zdag journal");
    free(whole);
}

static void test_different_pipeline(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    zd_journal_close(&j);
    char needle[256];
    snprintf(needle, sizeof needle,
             "journal in %s belongs to pipeline " PIPE
             " (this run: /elsewhere/p.yaml); use another --state-dir or remove it",
             f->dir);
    /* Another pipeline of the same file name, in another directory, with this state dir. */
    open_fails(f, "/elsewhere/p.yaml", ZDAG_ESTATE, needle);
    /* An inspection without a pipeline accepts it. */
    zd_diags_clear(&f->d);
    assert_int_equal(zd_journal_load(f->journal, NULL, &j, &f->d), 0);
    zd_journal_close(&j);
    zd_diags_clear(&f->d);
    assert_int_equal(zd_journal_load(f->journal, "/other.yaml", &j, &f->d), ZDAG_ESTATE);
    snprintf(needle, sizeof needle, "/tmp/nonexistent-%d/p.yaml.journal", (int)getpid());
    assert_int_equal(zd_journal_load(needle, NULL, &j, &f->d), ZDAG_ENOENT);
}

static void test_lock_in_same_process(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    char needle[256];
    snprintf(needle, sizeof needle, "state directory %s is in use by another zdag run (pid %d)",
             f->dir, (int)getpid());
    open_fails(f, PIPE, ZDAG_ESTATE, needle);
    /* A failed open leaves the holder's pid in place for the next one to report. */
    open_fails(f, PIPE, ZDAG_ESTATE, needle);
    zd_journal_close(&j);
    j = open_ok(f);
    zd_journal_close(&j);
}

/* A child process holds the lock; the message names its pid; its death (even by SIGKILL)
 * frees the directory. */
static void test_lock_held_by_child(void **state) {
    fixture *f = *state;
    for (int kill_it = 0; kill_it < 2; kill_it++) {
        int ready[2], go[2];
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(go), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            zd_journal *j = NULL;
            zd_diags d;
            zd_diags_init(&d);
            char ok = zd_journal_open(f->dir, PIPE, NULL, &j, &d) == 0 ? 'y' : 'n';
            if (write(ready[1], &ok, 1) != 1 || read(go[0], &ok, 1) < 0)
                _exit(2);
            zd_journal_close(&j);
            _exit(0);
        }
        char c = 0;
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(c, 'y');
        char needle[256];
        snprintf(needle, sizeof needle, "is in use by another zdag run (pid %d)", (int)pid);
        open_fails(f, PIPE, ZDAG_ESTATE, needle);
        if (kill_it)
            kill(pid, SIGKILL);
        else
            assert_int_equal(write(go[1], "x", 1), 1);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        for (int i = 0; i < 2; i++) {
            close(ready[i]);
            close(go[i]);
        }
        zd_journal *j = open_ok(f);
        zd_journal_close(&j);
    }
}

/* A crash before the sync loses the record: the node just runs again. */
static void test_unsynced_records_are_not_durable(void **state) {
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        zd_journal *j = NULL;
        zd_diags d;
        zd_diags_init(&d);
        zd_journal_rec a = rec("a", 1, ZD_JOURNAL_SUCCEEDED, "A");
        zd_journal_rec b = rec("b", 1, ZD_JOURNAL_SUCCEEDED, "B");
        if (zd_journal_open(f->dir, PIPE, NULL, &j, &d) != 0 || zd_journal_append(j, &a) != 0 ||
            zd_journal_sync(j) != 0 || zd_journal_append(j, &b) != 0)
            _exit(1);
        _exit(0); /* "crash": no sync, no close */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    zd_journal *j = open_ok(f);
    assert_non_null(zd_journal_find(j, "a"));
    assert_null(zd_journal_find(j, "b"));
    zd_journal_close(&j);
}

/* Packs a NODE_DONE record with field `bad` (1..13) replaced by a wrong value, or record type
 * `type` when bad is 0. */
static void pack_node(msgpack_packer *pk, int bad, uint64_t type) {
    msgpack_pack_array(pk, 14);
    msgpack_pack_uint64(pk, bad == 0 ? type : 2);
    if (bad == 1)
        msgpack_pack_int(pk, 7);
    else
        msgpack_pack_str_with_body(pk, "x", 1);
    if (bad == 2)
        msgpack_pack_bin_with_body(pk, "0123456789012345678901234567890", 31);
    else
        msgpack_pack_bin_with_body(pk, "01234567890123456789012345678901", 32);
    msgpack_pack_uint64(pk, bad == 3 ? 7 : 0);
    if (bad == 4)
        msgpack_pack_str_with_body(pk, "out", 3);
    else
        msgpack_pack_bin_with_body(pk, "out", 3);
    if (bad == 5)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_false(pk);
    msgpack_pack_double(pk, bad == 6 ? 1e300 : 1.0);
    msgpack_pack_uint64(pk, bad == 7 ? 1ull << 40 : 1);
    msgpack_pack_str_with_body(pk, "r", 1);
    msgpack_pack_double(pk, bad == 9 ? -1.0 : 1.7e9);
    if (bad == 10)
        msgpack_pack_bin_with_body(pk, "short", 5);
    else
        msgpack_pack_nil(pk);
    msgpack_pack_uint64(pk, bad == 11 ? 4 : 3);
    msgpack_pack_array(pk, bad == 12 ? 1 : 0);
    if (bad == 12)
        msgpack_pack_str_with_body(pk, "x", 1);
    if (bad == 13)
        msgpack_pack_bin_with_body(pk, "short", 5);
    else
        msgpack_pack_nil(pk);
}

/* Hostile records with valid checksums: every one is refused with a message saying why. */
static void test_garbage_records(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    zd_journal_close(&j);
    size_t len;
    char *header = read_all(f->journal, &len);
    static const struct {
        int bad;
        uint64_t type;
        const char *why;
    } cases[] = {
        {0, 99, "unknown record type 99"},
        {0, 1, "unknown record type 1"}, /* a second header */
        {1, 0, "name must be a string, not an integer"},
        {2, 0, "defhash must be 32 bytes"},
        {3, 0, "status 7 is out of range"},
        {4, 0, "result must be binary data, not a string"},
        {5, 0, "result_is_msgpack must be a bool, not nil"},
        {6, 0, "duration_s 1e+300 is out of range"},
        {7, 0, "attempts 1099511627776 is out of range"},
        {9, 0, "finished_at -1 is out of range"},
        {10, 0, "result_hash must be 32 bytes"},
        {11, 0, "result_size 4 is not the inline result's 3 bytes"},
        {12, 0, "a history duration must be a float, not a string"},
        {13, 0, "inputs_hash must be 32 bytes"},
    };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_all(f->journal, header, len);
        msgpack_sbuffer_clear(&sb);
        pack_node(&pk, cases[i].bad, cases[i].type);
        append_frame(f->journal, sb.data, sb.size);
        char needle[200];
        snprintf(needle, sizeof needle, "corrupt record at byte offset %zu: %s", len, cases[i].why);
        open_fails(f, PIPE, ZDAG_ESTATE, needle);
    }
    msgpack_sbuffer_destroy(&sb);

    /* Raw payloads: not msgpack, nested too deep, lying counts, trailing bytes, not an array. */
    char deep[40];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x02;
    static const struct {
        const char *payload;
        size_t len;
        const char *why;
    } raw[] = {
        {"\xc1", 1, "not one well-formed msgpack value"},
        {"\xdd\xff\xff\xff\xff\x02", 6, "not one well-formed msgpack value"},
        {"\x91\x02\x00", 3, "not one well-formed msgpack value"},
        {"\x02", 1, "a record must be an array, not an integer"},
        {"\x90", 1, "empty record array"},
        {"\x91\xa1x", 3, "record type must be an unsigned integer, not a string"},
        {"\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 10,
         "unknown record type 18446744073709551615"},
        {"\x92\x02\x01", 3, "a node record has 14 fields, not 2"},
        {NULL, 0, "nested at most 8 deep"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        write_all(f->journal, header, len);
        if (raw[i].payload)
            append_frame(f->journal, raw[i].payload, raw[i].len);
        else
            append_frame(f->journal, deep, sizeof deep);
        open_fails(f, PIPE, ZDAG_ESTATE, raw[i].why);
    }

    /* A frame length over the limit with records after it: corruption, not a torn tail. */
    write_all(f->journal, header, len);
    append_frame(f->journal, "\xc0", 1);
    FILE *fp = fopen(f->journal, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)len, SEEK_SET), 0);
    assert_int_equal(fwrite("\xff\xff\xff\x7f", 1, 4, fp), 4);
    fclose(fp);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_node(&pk, 0, 2);
    append_frame(f->journal, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    open_fails(f, PIPE, ZDAG_ESTATE, "over the 80 MiB limit");
    free(header);
}

static void test_bad_headers(void **state) {
    fixture *f = *state;
    write_all(f->journal, "#!/bin/sh\necho hello, I am not a journal\n", 41);
    open_fails(f, PIPE, ZDAG_ESTATE, "not a zdag journal");

    /* Versions from the future, small and huge. */
    uint64_t versions[] = {4, UINT64_MAX};
    for (int i = 0; i < 2; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_str_with_body(&pk, "zdag-journal", 12);
        msgpack_pack_uint64(&pk, versions[i]);
        msgpack_pack_str_with_body(&pk, PIPE, strlen(PIPE));
        msgpack_pack_double(&pk, 0);
        write_all(f->journal, "", 0);
        append_frame(f->journal, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        char needle[128];
        snprintf(needle, sizeof needle, "journal format version %llu is not supported",
                 (unsigned long long)versions[i]);
        open_fails(f, PIPE, ZDAG_ESTATE, needle);
    }

    /* An empty file (say, touched by hand) is a new journal. */
    write_all(f->journal, "", 0);
    zd_journal *j = open_ok(f);
    zd_journal_close(&j);
    assert_true(file_size(f->journal) > 8);
}

static void test_append_limits(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    zd_journal_rec r = rec("", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    assert_int_equal(zd_journal_append(j, &r), ZDAG_EINVAL);
    r = rec("a", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    r.duration_s = -1;
    assert_int_equal(zd_journal_append(j, &r), ZDAG_EINVAL);
    r.duration_s = 0.0 / 0.0;
    assert_int_equal(zd_journal_append(j, &r), ZDAG_EINVAL);
    assert_non_null(strstr(zd_journal_error(j), "duration"));
    r.duration_s = 1;
    size_t big = ZD_JOURNAL_MAX_RECORD + 1;
    char *result = malloc(big);
    assert_non_null(result);
    memset(result, 'x', big);
    r.result = result;
    r.result_len = big;
    assert_int_equal(zd_journal_append(j, &r), ZDAG_ETOOBIG);
    /* Just under the limit in bytes, but with the framing fields it is over. */
    r.result_len = ZD_JOURNAL_MAX_RECORD - 10;
    assert_int_equal(zd_journal_append(j, &r), ZDAG_ETOOBIG);
    assert_int_equal(zd_journal_pending(j), 0);
    r.result_len = 1 << 20;
    append_ok(j, r);
    assert_int_equal(zd_journal_sync(j), 0);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_journal_find(j, "a")->result_len, 1 << 20);
    zd_journal_close(&j);
    free(result);
}

/* A failed write (here: over RLIMIT_FSIZE) is rolled back; the records stay pending and a later
 * sync succeeds. */
static void test_failed_write_rolls_back(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    append_ok(j, rec("a", 1, ZD_JOURNAL_SUCCEEDED, "A"));
    assert_int_equal(zd_journal_sync(j), 0);
    uint64_t size = file_size(f->journal);
    char big[3000];
    memset(big, 'y', sizeof big);
    zd_journal_rec r = rec("b", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    r.result = big;
    r.result_len = sizeof big;
    append_ok(j, r);

    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = size + 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    int rc = zd_journal_sync(j);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    assert_int_equal(rc, ZDAG_ESTATE);
    assert_non_null(strstr(zd_journal_error(j), "cannot write"));
    assert_int_equal(file_size(f->journal), size);
    assert_int_equal(zd_journal_pending(j), 1);
    assert_int_equal(zd_journal_sync(j), 0);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_journal_find(j, "b")->result_len, sizeof big);
    assert_int_equal(zd_journal_torn_bytes(j), 0);
    zd_journal_close(&j);
}

static void test_median_duration(void **state) {
    fixture *f = *state;
    double runs[] = {3, 1, 2, 10};
    double medians[] = {3, 2, 2, 2.5};
    for (int i = 0; i < 4; i++) {
        zd_journal *j = open_ok(f);
        zd_journal_rec r = rec("a", 1, ZD_JOURNAL_SUCCEEDED, NULL);
        r.duration_s = runs[i];
        append_ok(j, r);
        r.status = ZD_JOURNAL_FAILED; /* failed attempts do not count */
        r.duration_s = 1000;
        r.name = "b";
        append_ok(j, r);
        zd_journal_close(&j);
        j = open_ok(f);
        assert_true(zd_journal_median_duration(j, "a") == medians[i]);
        assert_true(zd_journal_median_duration(j, "b") == 0);
        assert_true(zd_journal_median_duration(j, "zzz") == 0);
        zd_journal_close(&j);
    }
}

/* A node appended within one open keeps its history in the index: one duration inline, more
 * in the node's detail; a restatement does not add one; a stored result's hash is kept for the
 * result collection; the median stays that of the loaded history. */
static void test_history_of_appended_nodes(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    size_t n = 9;
    assert_null(zd_journal_history(j, "a", &n));
    assert_int_equal(n, 0);
    for (int i = 0; i < ZD_JOURNAL_HISTORY + 2; i++) {
        zd_journal_rec r = rec("a", 1, ZD_JOURNAL_SUCCEEDED, NULL);
        r.duration_s = i + 1;
        append_ok(j, r);
        const double *h = zd_journal_history(j, "a", &n);
        size_t want = i + 1 < ZD_JOURNAL_HISTORY ? (size_t)i + 1 : ZD_JOURNAL_HISTORY;
        assert_int_equal(n, want);
        assert_non_null(h);
        assert_true(h[n - 1] == i + 1);
        assert_true(h[0] == i + 2 - (double)want);
    }
    zd_journal_rec one = rec("one", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    one.duration_s = 4;
    append_ok(j, one);
    assert_int_equal(zd_journal_restate(j, &one), 0);
    const double *h = zd_journal_history(j, "one", &n);
    assert_int_equal(n, 1);
    assert_true(h[0] == 4);
    assert_true(zd_journal_median_duration(j, "one") == 0); /* nothing loaded yet */
    zd_journal_close(&j);
    j = open_ok(f);
    assert_true(zd_journal_median_duration(j, "one") == 4);
    h = zd_journal_history(j, "a", &n);
    assert_int_equal(n, ZD_JOURNAL_HISTORY);
    assert_true(h[0] == 3 && h[ZD_JOURNAL_HISTORY - 1] == ZD_JOURNAL_HISTORY + 2);
    zd_journal_rec again = rec("one", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    again.duration_s = 6;
    append_ok(j, again);
    h = zd_journal_history(j, "one", &n);
    assert_int_equal(n, 2);
    assert_true(h[0] == 4 && h[1] == 6);
    assert_non_null(zd_journal_find(j, "one"));
    assert_null(zd_journal_find(j, "zzz"));
    zd_journal_close(&j);
}

static void test_group_commit_api(void **state) {
    fixture *f = *state;
    zd_journal *j = open_ok(f);
    assert_int_equal(zd_journal_sync_due_ms(j, 50), -1);
    assert_int_equal(zd_journal_sync(j), 0); /* nothing to do */
    append_ok(j, rec("a", 1, ZD_JOURNAL_SUCCEEDED, "A"));
    append_ok(j, rec("b", 1, ZD_JOURNAL_SUCCEEDED, "B"));
    assert_int_equal(zd_journal_pending(j), 2);
    assert_int_equal(zd_journal_sync_due_ms(j, 0), 0);
    int64_t due = zd_journal_sync_due_ms(j, 60000);
    assert_true(due > 59000 && due <= 60000);
    assert_int_equal(zd_journal_sync(j), 0);
    assert_int_equal(zd_journal_pending(j), 0);
    assert_int_equal(zd_journal_sync_due_ms(j, 50), -1);
    zd_journal_close(&j);
}

/* One "run" of n nodes with results of `size` bytes and duration d. */
static void run_nodes(fixture *f, int n, size_t size, double d) {
    zd_journal *j = open_ok(f);
    char *result = malloc(size + 1);
    assert_non_null(result);
    memset(result, 'r', size);
    result[size] = '\0';
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "node%d", i);
        zd_journal_rec r = rec(name, 1, ZD_JOURNAL_SUCCEEDED, result);
        r.duration_s = d;
        append_ok(j, r);
    }
    assert_int_equal(zd_journal_sync(j), 0);
    zd_journal_close(&j);
    free(result);
}

/* Ten runs of the same nodes: the file stays within 1.5x of one run (zdag 0.1: 10x). */
static void test_compaction_bounds_the_file(void **state) {
    fixture *f = *state;
    run_nodes(f, 200, 300, 1);
    uint64_t one = file_size(f->journal);
    assert_true(one > ZD_JOURNAL_COMPACT_FLOOR);
    for (int run = 2; run <= 10; run++) {
        run_nodes(f, 200, 300, run);
        assert_true(file_size(f->journal) <= one + one / 2);
    }
    zd_journal *j = open_ok(f);
    assert_int_equal(zd_journal_count(j), 200);
    assert_true(zd_journal_file_bytes(j) <=
                zd_journal_live_bytes(j) + zd_journal_live_bytes(j) / 2);
    assert_int_equal(zd_journal_find(j, "node7")->result_len, 300);
    zd_journal_close(&j);
    struct stat st;
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->journal);
    assert_int_equal(stat(tmp, &st), -1);
}

/* Twelve runs with durations 1..12: the last 10 survive compactions, in order. */
static void test_history_survives_compaction(void **state) {
    fixture *f = *state;
    for (int run = 1; run <= 12; run++) {
        run_nodes(f, 100, 400, run);
        zd_journal *j = open_ok(f);
        size_t n;
        const double *h = zd_journal_history(j, "node3", &n);
        assert_int_equal(n, run < 10 ? run : 10);
        for (size_t i = 0; i < n; i++)
            assert_true(h[i] == (double)(run - (int)n + 1 + (int)i));
        zd_journal_close(&j);
    }
    zd_journal *j = open_ok(f);
    assert_true(zd_journal_median_duration(j, "node3") == 7.5); /* of 3..12 */
    assert_int_equal(zd_journal_compact(j, true), 1);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_true(zd_journal_median_duration(j, "node3") == 7.5);
    zd_journal_close(&j);
}

/* Opened for a graph, the records of nodes no longer in it go at once (a 1-node pipeline does
 * not pay for the 100,000 nodes it once had). */
static void test_nodes_not_in_the_graph_are_dropped(void **state) {
    fixture *f = *state;
    run_nodes(f, 500, 200, 1);
    uint64_t big = file_size(f->journal);
    zd_graph *g = zd_graph_new();
    uint32_t idx;
    assert_int_equal(zd_graph_add_node(g, "node42", &idx), 0);
    zd_graph_node(g, idx)->shell = strdup("true");
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    zd_journal *j = NULL;
    assert_int_equal(zd_journal_open(f->dir, PIPE, g, &j, &f->d), 0);
    assert_int_equal(zd_journal_count(j), 1);
    assert_non_null(zd_journal_find(j, "node42"));
    assert_null(zd_journal_find(j, "node1"));
    zd_journal_close(&j);
    assert_true(file_size(f->journal) < big / 100);
    j = open_ok(f);
    assert_int_equal(zd_journal_count(j), 1);
    zd_journal_close(&j);
    zd_graph_free(&g);
}

/* With a graph, the index finds the graph's nodes by node index and other names by name: both
 * kinds append, look up, compact and reload alike. */
static void test_index_over_a_graph(void **state) {
    fixture *f = *state;
    zd_graph *g = zd_graph_new();
    uint32_t idx;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        assert_int_equal(zd_graph_add_node(g, name, &idx), 0);
        zd_graph_node(g, idx)->shell = strdup("true");
    }
    assert_int_equal(zd_graph_finish(g, NULL, NULL), 0);
    zd_journal *j = NULL;
    assert_int_equal(zd_journal_open(f->dir, PIPE, g, &j, &f->d), 0);
    append_ok(j, rec("g2", 1, ZD_JOURNAL_SUCCEEDED, "two"));
    append_ok(j, rec("outside", 2, ZD_JOURNAL_FAILED, NULL));
    append_ok(j, rec("g0", 3, ZD_JOURNAL_SUCCEEDED, NULL));
    append_ok(j, rec("g2", 4, ZD_JOURNAL_SUCCEEDED, "again"));
    size_t n;
    assert_non_null(zd_journal_history(j, "g2", &n));
    assert_int_equal(n, 2);
    assert_null(zd_journal_history(j, "g1", &n));
    assert_int_equal(zd_journal_sync(j), 0);
    assert_int_equal(zd_journal_compact(j, true), 1);
    zd_journal_close(&j);
    j = open_ok(f); /* no graph: every name by name */
    assert_int_equal(zd_journal_count(j), 3);
    const zd_journal_rec *r = zd_journal_find(j, "g2");
    assert_non_null(r);
    assert_int_equal(r->result_len, 5);
    assert_memory_equal(r->result, "again", 5);
    assert_int_equal(r->defhash[0], 4);
    assert_non_null(zd_journal_find(j, "outside"));
    assert_null(zd_journal_find(j, "g1"));
    zd_journal_close(&j);
    assert_int_equal(zd_journal_open(f->dir, PIPE, g, &j, &f->d), 0);
    assert_int_equal(zd_journal_count(j), 2); /* "outside" is not in the graph */
    assert_string_equal(zd_journal_find(j, "g0")->name, "g0");
    assert_int_equal(zd_journal_find(j, "g0")->defhash[0], 3);
    assert_null(zd_journal_find(j, "outside"));
    assert_null(zd_journal_find(j, "g1"));
    zd_journal_close(&j);
    zd_graph_free(&g);
}

/* A child that appends a run's records and compacts, killed at a random moment (during its
 * open, appends, sync, compaction or after): every time the journal afterwards opens cleanly,
 * with every node, each with its previous record or its new one. */
static void test_compaction_killed_at_any_moment(void **state) {
    fixture *f = *state;
    enum { N = 3000 };
    for (int run = 1; run <= 2; run++)
        run_nodes(f, N, 100, run);
    uint8_t *prev = malloc(N);
    assert_non_null(prev);
    memset(prev, 1, N);
    srand(42);
    int interrupted = 0;
    for (int k = 0; k < 24; k++) {
        uint8_t next = (uint8_t)(k + 2);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            zd_journal *j = NULL;
            zd_diags d;
            zd_diags_init(&d);
            if (zd_journal_open(f->dir, PIPE, NULL, &j, &d) != 0)
                _exit(2);
            for (int i = 0; i < N; i++) {
                char name[32];
                snprintf(name, sizeof name, "node%d", i);
                zd_journal_rec r = rec(name, next, ZD_JOURNAL_SUCCEEDED, "x");
                if (zd_journal_append(j, &r) != 0)
                    _exit(3);
            }
            if (zd_journal_sync(j) != 0 || zd_journal_compact(j, true) != 1)
                _exit(4);
            _exit(0);
        }
        struct timespec ts = {0, (long)(rand() % 60000) * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
            interrupted++;
        else
            assert_int_equal(WEXITSTATUS(status), 0);
        zd_journal *j = open_ok(f);
        assert_int_equal(zd_journal_count(j), N);
        for (int i = 0; i < N; i++) {
            char name[32];
            snprintf(name, sizeof name, "node%d", i);
            const zd_journal_rec *got = zd_journal_find(j, name);
            assert_non_null(got);
            assert_true(got->defhash[0] == prev[i] || got->defhash[0] == next);
            prev[i] = got->defhash[0];
        }
        zd_journal_close(&j);
    }
    free(prev);
    printf("[ journal  ] %d of 24 children killed before they finished\n", interrupted);
}

/* A compaction whose write fails (here: over RLIMIT_FSIZE) leaves the old file and no tmp. */
static void test_failed_compaction_keeps_the_old_file(void **state) {
    fixture *f = *state;
    run_nodes(f, 300, 200, 1);
    zd_journal *j = open_ok(f);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "node%d", i);
        append_ok(j, rec(name, 9, ZD_JOURNAL_SUCCEEDED, "new"));
    }
    assert_int_equal(zd_journal_sync(j), 0);
    uint64_t size = file_size(f->journal);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = 2000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    int rc = zd_journal_compact(j, true);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, ZDAG_ESTATE);
    assert_non_null(strstr(zd_journal_error(j), "cannot write"));
    assert_int_equal(file_size(f->journal), size);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->journal);
    assert_int_equal(access(tmp, F_OK), -1);
    /* Still usable, and the next compaction works. */
    append_ok(j, rec("late", 1, ZD_JOURNAL_SUCCEEDED, "L"));
    assert_int_equal(zd_journal_sync(j), 0);
    assert_int_equal(zd_journal_compact(j, true), 1);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_journal_count(j), 301);
    assert_memory_equal(zd_journal_find(j, "node5")->result, "new", 3);
    zd_journal_close(&j);
}

/* Packs a version 1 NODE_DONE (10 fields). */
static void pack_v1_node(msgpack_packer *pk, const char *name, double duration) {
    msgpack_pack_array(pk, 10);
    msgpack_pack_uint64(pk, 2);
    msgpack_pack_str_with_body(pk, name, strlen(name));
    msgpack_pack_bin_with_body(pk, "01234567890123456789012345678901", 32);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_bin_with_body(pk, "out", 3);
    msgpack_pack_false(pk);
    msgpack_pack_double(pk, duration);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_str_with_body(pk, "r", 1);
    msgpack_pack_double(pk, 1.7e9);
}

/* zdag 0.1's journals are read, and rewritten in the current version (3) at open. */
static void test_version_1_is_upgraded(void **state) {
    fixture *f = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "zdag-journal", 12);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, PIPE, strlen(PIPE));
    msgpack_pack_double(&pk, 0);
    write_all(f->journal, "", 0);
    append_frame(f->journal, sb.data, sb.size);
    double ds[] = {4, 1, 3};
    for (int i = 0; i < 3; i++) {
        msgpack_sbuffer_clear(&sb);
        pack_v1_node(&pk, "a", ds[i]);
        append_frame(f->journal, sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    zd_journal *j = open_ok(f);
    const zd_journal_rec *a = zd_journal_find(j, "a");
    assert_non_null(a);
    assert_false(a->result_in_store);
    assert_int_equal(a->result_size, 3);
    assert_true(zd_journal_median_duration(j, "a") == 3);
    zd_journal_close(&j);
    size_t len;
    char *all = read_all(f->journal, &len);
    /* The header now says version 3: [1, "zdag-journal", 3, ...]. */
    assert_true(len > 24 && (uint8_t)all[8] == 0x95 && all[9] == 1 && all[23] == 3);
    free(all);
    j = open_ok(f);
    size_t n;
    const double *h = zd_journal_history(j, "a", &n);
    assert_int_equal(n, 3);
    assert_true(h[0] == 4 && h[1] == 1 && h[2] == 3);
    zd_journal_close(&j);
}

static void touch(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_all(path, "x", 1);
}

static bool exists(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Stored results: the fields round-trip; compaction removes the files nobody references (ours
 * or another journal's) and tmp.* files. */
static void test_result_store_fields_and_collection(void **state) {
    fixture *f = *state;
    char results[96];
    snprintf(results, sizeof results, "%s/results", f->dir);
    assert_int_equal(mkdir(f->dir, 0700) == 0 || errno == EEXIST, 1);
    assert_int_equal(mkdir(results, 0700), 0);
    const char *keep = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *other = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const char *stale = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    /* Another pipeline's journal in the same directory references `other`. */
    zd_journal *j = NULL;
    assert_int_equal(zd_journal_open(f->dir, "/pipelines/q.yaml", NULL, &j, &f->d), 0);
    zd_journal_rec r = rec("q", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    r.result_in_store = true;
    memset(r.result_hash, 0xbb, 32);
    r.result_size = 1 << 20;
    append_ok(j, r);
    assert_int_equal(zd_journal_sync(j), 0);
    zd_journal_close(&j);
    /* (Closing q removed what nobody referenced then: the files come now.) */
    touch(results, keep);
    touch(results, other);
    touch(results, stale);
    touch(results, "tmp.XyZ123");
    touch(results, "README"); /* not ours: left alone */

    j = open_ok(f);
    r = rec("p", 1, ZD_JOURNAL_SUCCEEDED, "inline too");
    r.result_in_store = true;
    assert_int_equal(zd_journal_append(j, &r), ZDAG_EINVAL);
    r = rec("p", 1, ZD_JOURNAL_SUCCEEDED, NULL);
    r.result_in_store = true;
    memset(r.result_hash, 0xaa, 32);
    r.result_size = 5000;
    append_ok(j, r);
    assert_int_equal(zd_journal_sync(j), 0);
    assert_int_equal(zd_journal_compact(j, true), 1);
    zd_journal_close(&j);
    assert_true(exists(results, keep));
    assert_true(exists(results, other));
    assert_false(exists(results, stale));
    assert_false(exists(results, "tmp.XyZ123"));
    /* A small journal is not compacted at close, but its stale results still go. */
    touch(results, stale);
    j = open_ok(f);
    zd_journal_close(&j);
    assert_false(exists(results, stale));
    assert_true(exists(results, keep));
    assert_true(exists(results, "README"));

    j = open_ok(f);
    const zd_journal_rec *got = zd_journal_find(j, "p");
    assert_non_null(got);
    assert_true(got->result_in_store);
    assert_int_equal(got->result_size, 5000);
    assert_int_equal(got->result_len, 0);
    assert_int_equal(got->result_hash[31], 0xaa);
    zd_journal_close(&j);
}

/* The journal and the lock are 0600, the directory 0700, also when they were looser. */
static void test_permissions(void **state) {
    fixture *f = *state;
    assert_int_equal(chmod(f->dir, 0755), 0);
    zd_journal *j = open_ok(f);
    zd_journal_close(&j);
    assert_int_equal(chmod(f->journal, 0644), 0);
    j = open_ok(f);
    zd_journal_close(&j);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(f->journal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Not a pass/fail test: prints what durability costs on this machine's file system. */
static void test_fsync_cost(void **state) {
    fixture *f = *state;
    enum { N = 1000 };
    struct statfs sfs;
    assert_int_equal(statfs(f->dir, &sfs), 0);
    zd_journal *j = open_ok(f);
    double t0 = seconds();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "node%d", i);
        append_ok(j, rec(name, 1, ZD_JOURNAL_SUCCEEDED, "a result of a few dozen bytes\n"));
        assert_int_equal(zd_journal_sync(j), 0);
    }
    double each = seconds() - t0;
    t0 = seconds();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "node%d", i);
        append_ok(j, rec(name, 2, ZD_JOURNAL_SUCCEEDED, "a result of a few dozen bytes\n"));
    }
    assert_int_equal(zd_journal_sync(j), 0);
    double group = seconds() - t0;
    zd_journal_close(&j);
    t0 = seconds();
    j = open_ok(f);
    double load = seconds() - t0;
    assert_int_equal(zd_journal_count(j), N);
    zd_journal_close(&j);
    printf("[ journal  ] %s (fs magic 0x%lx): %d appends, fdatasync each: %.3f s "
           "(%.3f ms/record); one group sync: %.4f s (%.1f us/record); reload of %d records: "
           "%.4f s\n",
           f->dir, (unsigned long)sfs.f_type, N, each, each * 1e3 / N, group, group * 1e6 / N,
           2 * N, load);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test_setup_teardown(test_round_trip_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_record_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tails_of_every_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_zeros_and_bad_last_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_in_the_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_different_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_in_same_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_by_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsynced_records_are_not_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_median_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_of_appended_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_bounds_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_survives_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes_not_in_the_graph_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_over_a_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_killed_at_any_moment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_compaction_keeps_the_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_1_is_upgraded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_store_fields_and_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_cost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
