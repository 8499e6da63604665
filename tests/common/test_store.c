/* The result store: inline and stored results, their hashes, the limit, verification, sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "zdag.h"

static char dir[] = "/tmp/zdag-test-store-XXXXXX";

static int count_files(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void test_prepare_removes_temporaries(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tmp.abcdef", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    snprintf(path, sizeof path, "%s/keep", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(zd_store_prepare(dir), 0);
    assert_int_equal(count_files(), 1);
    unlink(path);
}

static void test_small_results_stay_inline(void **state) {
    (void)state;
    zd_store_writer *w = zd_store_writer_new(dir, 0);
    char block[ZD_RESULT_INLINE_MAX];
    memset(block, 'a', sizeof block);
    assert_int_equal(zd_store_writer_write(w, block, 100), 0);
    assert_int_equal(zd_store_writer_write(w, block, sizeof block - 100), 0);
    bool stored;
    uint8_t hash[ZD_STORE_HASH], want[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), 0);
    assert_false(stored);
    assert_int_equal(size, ZD_RESULT_INLINE_MAX);
    assert_memory_equal(bytes, block, sizeof block);
    crypto_hash_sha256(want, (const unsigned char *)block, sizeof block);
    assert_memory_equal(hash, want, ZD_STORE_HASH);
    zd_store_writer_free(&w);
    assert_null(w);
    assert_int_equal(count_files(), 0); /* no file for an inline result */
}

static void test_large_results_are_stored_by_hash(void **state) {
    (void)state;
    size_t n = 3 << 20;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 31 + 7);
    zd_store_writer *w = zd_store_writer_new(dir, n);
    for (size_t off = 0; off < n; off += 65536)
        assert_int_equal(zd_store_writer_write(w, data + off, 65536), 0);
    assert_int_equal(zd_store_writer_size(w), n);
    bool stored;
    uint8_t hash[ZD_STORE_HASH], want[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), 0);
    zd_store_writer_free(&w);
    crypto_hash_sha256(want, data, n);
    assert_true(stored);
    assert_memory_equal(hash, want, ZD_STORE_HASH);
    char hex[ZD_STORE_HEX], path[ZD_STORE_PATH], expect[ZD_STORE_PATH];
    zd_store_hex(hash, hex);
    assert_int_equal(strlen(hex), 64);
    assert_true(zd_store_path(dir, hash, path, sizeof path));
    snprintf(expect, sizeof expect, "%s/%s", dir, hex);
    assert_string_equal(path, expect);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444); /* read-only: dependents read it in place */
    assert_true(zd_store_verify(dir, hash, n, true));
    assert_false(zd_store_verify(dir, hash, n + 1, false));
    const char *map = zd_store_map(dir, hash, n);
    assert_non_null(map);
    assert_memory_equal(map, data, n);
    zd_store_unmap(map, n);
    assert_null(zd_store_map(dir, hash, n - 1));
    /* One changed byte of the same size: the size still matches, the hash does not. */
    chmod(path, 0644);
    int fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "!", 1, 12345), 1);
    close(fd);
    assert_true(zd_store_verify(dir, hash, n, false));
    assert_false(zd_store_verify(dir, hash, n, true));
    unlink(path);
    assert_false(zd_store_verify(dir, hash, n, false));
    free(data);
}

static void test_the_limit(void **state) {
    (void)state;
    char block[10000] = {0};
    zd_store_writer *w = zd_store_writer_new(dir, 10000);
    assert_int_equal(zd_store_writer_write(w, block, 9999), 0);
    assert_int_equal(zd_store_writer_write(w, block, 2), ZDAG_ETOOBIG);
    assert_int_equal(zd_store_writer_write(w, block, 1), ZDAG_ETOOBIG); /* stays failed */
    bool stored;
    uint8_t hash[ZD_STORE_HASH];
    uint64_t size;
    const char *bytes;
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), ZDAG_ETOOBIG);
    zd_store_writer_free(&w);
    assert_int_equal(count_files(), 0); /* its temporary file went with it */
    w = zd_store_writer_new(dir, 10000);
    assert_int_equal(zd_store_writer_write(w, block, 10000), 0); /* exactly the limit */
    assert_int_equal(zd_store_writer_finish(w, &stored, hash, &size, &bytes), 0);
    zd_store_writer_free(&w);
    char path[ZD_STORE_PATH];
    assert_true(zd_store_path(dir, hash, path, sizeof path));
    unlink(path);
}

static void test_sizes(void **state) {
    (void)state;
    static const struct {
        const char *text;
        uint64_t value; /* 0: refused */
    } cases[] = {{"512", 512},
                 {"64MiB", 64ull << 20},
                 {"1 GiB", 1ull << 30},
                 {"1GiB", 1ull << 30},
                 {"10kB", 10240},
                 {"2M", 2ull << 20},
                 {"1T", 1ull << 40},
                 {"7B", 7},
                 {"0", 0},
                 {"", 0},
                 {"-5", 0},
                 {"lots", 0},
                 {"2TiB", 0},
                 {"1.5GiB", 0},
                 {"12 apples", 0},
                 {"99999999999999999999999", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 0;
        bool ok = zd_size_parse(cases[i].text, &v);
        assert_int_equal(ok, cases[i].value != 0);
        if (ok)
            assert_true(v == cases[i].value);
    }
    char buf[32];
    zd_size_format(ZD_RESULT_DEFAULT_MAX, buf, sizeof buf);
    assert_string_equal(buf, "1 GiB");
    zd_size_format(64ull << 20, buf, sizeof buf);
    assert_string_equal(buf, "64 MiB");
    zd_size_format(1000, buf, sizeof buf);
    assert_string_equal(buf, "1000 bytes");
    zd_size_format(10240, buf, sizeof buf);
    assert_string_equal(buf, "10 KiB");
}

int main(void) {
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_removes_temporaries),
        cmocka_unit_test(test_small_results_stay_inline),
        cmocka_unit_test(test_large_results_are_stored_by_hash),
        cmocka_unit_test(test_the_limit),
        cmocka_unit_test(test_sizes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
