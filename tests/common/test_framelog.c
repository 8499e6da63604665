/* The framed log: create and install, append and group sync, reading back with offsets, torn
 * tails (truncated at open), corruption with its offset, failed writes rolled back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framelog.h"
#include "zdag.h"

static const zd_framelog_cfg CFG = {.max_record = 1 << 20};

typedef struct seen {
    int n;               /* frames seen */
    uint64_t off[16];    /* their offsets */
    char payload[16][8]; /* their first bytes */
} seen;

static int collect(void *ctx, const char *payload, uint32_t len, uint64_t off) {
    seen *s = ctx;
    if (s->n == 16)
        return ZDAG_ETOOBIG;
    s->off[s->n] = off;
    snprintf(s->payload[s->n], sizeof s->payload[0], "%.*s", (int)len, payload);
    s->n++;
    return 0;
}

static int read_back(const char *path, seen *s, uint64_t *end, uint64_t *size,
                     zd_framelog_fault *f) {
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    int rc = zd_framelog_read(fd, &CFG, collect, s, end, size, f);
    close(fd);
    return rc;
}

static uint64_t size_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void test_create_append_read(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-framelog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], tmp[80];
    snprintf(path, sizeof path, "%s/log", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char err[256];
    zd_framelog *fl = NULL;
    assert_int_equal(zd_framelog_create(path, 0600, &CFG, &fl, err, sizeof err), 0);
    uint64_t off = 99;
    assert_int_equal(zd_framelog_append(fl, "first", 5, &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(access(path, F_OK), -1); /* not there before the install */
    assert_int_equal(zd_framelog_install(fl), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(size_of(path), 13);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(zd_framelog_append(fl, "second", 6, &off), 0);
    assert_int_equal(off, 13);
    assert_int_equal(zd_framelog_append(fl, "third", 5, &off), 0);
    assert_int_equal(off, 27);
    assert_int_equal(zd_framelog_pending(fl), 2);
    assert_int_equal(zd_framelog_sync_due_ms(fl, 0), 0);
    assert_int_equal(size_of(path), 13); /* buffered */
    assert_int_equal(zd_framelog_sync(fl), 0);
    assert_int_equal(zd_framelog_pending(fl), 0);
    assert_int_equal(zd_framelog_sync_due_ms(fl, 10), -1);
    assert_int_equal(zd_framelog_size(fl), 40);
    char buf[6];
    assert_int_equal(zd_framelog_pread(fl, buf, 6, 13 + 8), 0);
    assert_memory_equal(buf, "second", 6);
    assert_int_equal(zd_framelog_append(fl, "", 0, NULL), ZDAG_EINVAL);
    static char big[(1 << 20) + 1];
    assert_int_equal(zd_framelog_append(fl, big, sizeof big, NULL), ZDAG_ETOOBIG);
    assert_non_null(strstr(zd_framelog_error(fl), "over the 1 MiB limit"));
    zd_framelog_close(&fl);

    seen s;
    uint64_t end, size;
    zd_framelog_fault f;
    assert_int_equal(read_back(path, &s, &end, &size, &f), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.off[2], 27);
    assert_string_equal(s.payload[1], "second");
    assert_int_equal(end, 40);

    /* A torn tail: read stops before it, open cuts it. */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\x05\0\0\0\x01\x02", 6), 6);
    close(fd);
    assert_int_equal(read_back(path, &s, &end, &size, &f), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(end, 40);
    assert_int_equal(size, 46);
    assert_int_equal(zd_framelog_open(path, end, &CFG, &fl, err, sizeof err), 0);
    assert_int_equal(size_of(path), 40);
    assert_int_equal(zd_framelog_append(fl, "fourth", 6, &off), 0);
    assert_int_equal(off, 40);
    zd_framelog_close(&fl); /* syncs */
    assert_int_equal(read_back(path, &s, &end, &size, &f), 0);
    assert_int_equal(s.n, 4);

    /* A bad frame with a valid one after it: corruption at its offset. */
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, 13 + 8), 1);
    close(fd);
    assert_int_equal(read_back(path, &s, &end, &size, &f), ZDAG_ESTATE);
    assert_int_equal(f.offset, 13);
    assert_string_equal(f.why, "checksum mismatch");

    /* A visitor's error stops the read. */
    unlink(path);
    assert_int_equal(zd_framelog_create(path, 0600, &CFG, &fl, err, sizeof err), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(zd_framelog_append(fl, "many", 4, NULL), 0);
    assert_int_equal(zd_framelog_install(fl), 0);
    zd_framelog_close(&fl);
    assert_int_equal(read_back(path, &s, &end, &size, &f), ZDAG_ETOOBIG);
    assert_string_equal(f.why, "");

    /* A created log never installed leaves nothing behind. */
    assert_int_equal(zd_framelog_create(path, 0600, &CFG, &fl, err, sizeof err), 0);
    assert_int_equal(zd_framelog_append(fl, "abandoned", 9, NULL), 0);
    zd_framelog_close(&fl);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(size_of(path), 20 * 12);
    unlink(path);
    rmdir(dir);
}

/* A write over RLIMIT_FSIZE is rolled back; the frames stay pending. */
static void test_failed_write_rolls_back(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-framelog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], err[256];
    snprintf(path, sizeof path, "%s/log", dir);
    zd_framelog *fl = NULL;
    assert_int_equal(zd_framelog_create(path, 0600, &CFG, &fl, err, sizeof err), 0);
    assert_int_equal(zd_framelog_append(fl, "head", 4, NULL), 0);
    assert_int_equal(zd_framelog_install(fl), 0);
    static char big[5000];
    assert_int_equal(zd_framelog_append(fl, big, sizeof big, NULL), 0);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    int rc = zd_framelog_sync(fl);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, ZDAG_ESTATE);
    assert_int_equal(size_of(path), 12);
    assert_int_equal(zd_framelog_pending(fl), 1);
    assert_false(zd_framelog_broken(fl));
    assert_int_equal(zd_framelog_sync(fl), 0);
    assert_int_equal(size_of(path), 12 + 8 + sizeof big);
    zd_framelog_close(&fl);
    unlink(path);
    rmdir(dir);
}

static bool not_skipme(void *ctx, const char *payload, uint32_t len) {
    (void)ctx;
    return !(len == 6 && memcmp(payload, "skipme", 6) == 0);
}

/* Frames the reader does not want are skipped unchecked, except the last one. */
static void test_unwanted_frames(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-framelog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], err[256];
    snprintf(path, sizeof path, "%s/log", dir);
    zd_framelog *fl = NULL;
    assert_int_equal(zd_framelog_create(path, 0600, &CFG, &fl, err, sizeof err), 0);
    assert_int_equal(zd_framelog_append(fl, "keep", 4, NULL), 0);   /* at 0 */
    assert_int_equal(zd_framelog_append(fl, "skipme", 6, NULL), 0); /* at 12 */
    assert_int_equal(zd_framelog_append(fl, "keep", 4, NULL), 0);   /* at 26 */
    assert_int_equal(zd_framelog_append(fl, "skipme", 6, NULL), 0); /* at 38, the last */
    assert_int_equal(zd_framelog_install(fl), 0);
    zd_framelog_close(&fl);
    /* Break both skipme checksums. */
    int fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "\0\0\0\0", 4, 12 + 4), 4);
    assert_int_equal(pwrite(fd, "\0\0\0\0", 4, 38 + 4), 4);
    close(fd);
    zd_framelog_cfg cfg = {.max_record = 1 << 20, .wanted = not_skipme};
    seen s = {0};
    uint64_t end, size;
    zd_framelog_fault f;
    fd = open(path, O_RDONLY);
    assert_int_equal(zd_framelog_read(fd, &cfg, collect, &s, &end, &size, &f), 0);
    close(fd);
    assert_int_equal(s.n, 2); /* the keeps; the middle skipme unchecked and not visited */
    assert_int_equal(s.off[1], 26);
    assert_int_equal(end, 38); /* the last one was checked: a torn tail */
    assert_int_equal(size, 52);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_append_read),
        cmocka_unit_test(test_failed_write_rolls_back),
        cmocka_unit_test(test_unwanted_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
