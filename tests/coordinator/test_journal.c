/* The run journal: round trips, torn tails, corruption, the state-dir lock (also held by another
 * process), hostile records, duration medians, the resume plan, and what fsync costs. */
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

#include "journal.h"
#include "store.h"

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
    int rc = zd_journal_open(f->dir, PIPE, &j, &f->d);
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
    assert_int_equal(zd_journal_open(f->dir, pipeline, &j, &f->d), code);
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
    uint32_t crc = zd_journal_crc32(0, payload, len);
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
    assert_int_equal(zd_journal_crc32(0, "123456789", 9), 0xcbf43926);
    assert_int_equal(zd_journal_crc32(zd_journal_crc32(0, "1234", 4), "56789", 5), 0xcbf43926);
    assert_int_equal(zd_journal_crc32(0, "", 0), 0);
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
            char ok = zd_journal_open(f->dir, PIPE, &j, &d) == 0 ? 'y' : 'n';
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
        if (zd_journal_open(f->dir, PIPE, &j, &d) != 0 || zd_journal_append(j, &a) != 0 ||
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

/* Packs a NODE_DONE record with field `bad` (1..9) replaced by a wrong value, or record type
 * `type` when bad is 0. */
static void pack_node(msgpack_packer *pk, int bad, uint64_t type) {
    msgpack_pack_array(pk, 10);
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
        {"\x92\x02\x01", 3, "a node record has 12 fields, not 2"},
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
    uint64_t versions[] = {2, UINT64_MAX};
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
    for (uint32_t i = 0; i < 4; i++) {
        zd_journal_rec r = rec(zd_graph_node(g, i)->name, 0, ZD_JOURNAL_SUCCEEDED, "ok");
        memcpy(r.defhash, h[i], 32);
        append_ok(j, r);
    }
    zd_journal_close(&j);
    j = open_ok(f);
    bool cached[4];
    assert_int_equal(zd_journal_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);

    /* b's command changed: b and c run again, a and d are cached. */
    zd_graph *g2 = small_graph("echo B");
    uint8_t h2[4][32];
    assert_int_equal(zd_defhash_compute(g2, h2), 0);
    assert_int_equal(zd_journal_resume_plan(j, g2, h2, cached), 0);
    assert_true(cached[0] && !cached[1] && !cached[2] && cached[3]);
    zd_journal_close(&j);

    /* a failed in a later run: a runs again, and so does everything after it. */
    j = open_ok(f);
    zd_journal_rec r = rec("a", 0, ZD_JOURNAL_FAILED, NULL);
    memcpy(r.defhash, h[0], 32);
    append_ok(j, r);
    zd_journal_close(&j);
    j = open_ok(f);
    assert_int_equal(zd_journal_resume_plan(j, g, h, cached), 0);
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
    for (uint32_t i = 0; i < 4; i++) {
        zd_journal_rec r = rec(zd_graph_node(g, i)->name, 0, ZD_JOURNAL_SUCCEEDED, i ? "ok" : NULL);
        memcpy(r.defhash, h[i], 32);
        if (i == 0) {
            r.result_in_store = true;
            memcpy(r.result_hash, hash, sizeof hash);
            r.result_size = size;
        }
        append_ok(j, r);
    }
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
    assert_int_equal(zd_journal_resume_plan(j, g, h, cached), 0);
    assert_true(cached[0] && cached[1] && cached[2] && cached[3]);

    /* The same size, one byte changed: a and everything after it run again. */
    char path[ZD_STORE_PATH];
    assert_true(zd_store_path(store, hash, path, sizeof path));
    chmod(path, 0644);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, 5000, SEEK_SET);
    fputc('!', fp);
    fclose(fp);
    assert_int_equal(zd_journal_resume_plan(j, g, h, cached), 0);
    assert_true(!cached[0] && !cached[1] && !cached[2] && cached[3]);
    unlink(path); /* missing: the same */
    assert_int_equal(zd_journal_resume_plan(j, g, h, cached), 0);
    assert_true(!cached[0] && cached[3]);
    zd_journal_close(&j);
    zd_graph_free(&g);
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
        cmocka_unit_test_setup_teardown(test_group_commit_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_cost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
