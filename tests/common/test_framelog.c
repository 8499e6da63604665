/* The framed log: create and install, append and group sync, reading back with offsets, torn
 * tails (truncated at open), corruption with its offset, failed writes rolled back; the writer
 * thread (zd_framelog_sync_async) with a gated fake fdatasync: appends go on while it syncs,
 * frames count as durable only once it returned, order kept, failures reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* Syncs fl (through the writer thread first when async) with files limited to 1000 bytes;
 * returns what zd_framelog_sync() returned. */
static int sync_over_fsize_limit(zd_framelog *fl, bool async) {
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    int async_rc = async ? zd_framelog_sync_async(fl) : 0;
    int rc = zd_framelog_sync(fl);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(async_rc, 0); /* a failure it reports comes later */
    return rc;
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
    assert_int_equal(sync_over_fsize_limit(fl, false), ZDAG_ESTATE);
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

/* A fake fdatasync that waits at a gate: call k (1-based) proceeds once released >= k. */
typedef struct gate {
    pthread_mutex_t mu; /* guards the rest */
    pthread_cond_t cv;  /* signalled on every change */
    int entered;        /* calls begun */
    int released;       /* calls allowed to return */
    int fail_at;        /* the call that fails with EIO, 0 for none */
    uint64_t size[8];   /* the file's size as each call began */
} gate;

static int gated_sync(void *ctx, int fd) {
    gate *g = ctx;
    struct stat st;
    fstat(fd, &st);
    pthread_mutex_lock(&g->mu);
    int k = ++g->entered;
    if (k <= 8)
        g->size[k - 1] = (uint64_t)st.st_size;
    pthread_cond_broadcast(&g->cv);
    while (g->released < k && g->fail_at != k)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    if (g->fail_at == k) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void gate_wait_entered(gate *g, int k) {
    pthread_mutex_lock(&g->mu);
    while (g->entered < k)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_release(gate *g, int k) {
    pthread_mutex_lock(&g->mu);
    g->released = k;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* A test's log: installed, holding one 4-byte frame ("head", 12 bytes), syncing through g. */
typedef struct gated {
    char dir[32];        /* its directory */
    char path[64];       /* the log */
    gate g;              /* its fdatasync */
    zd_framelog_cfg cfg; /* its configuration */
    zd_framelog *fl;     /* the log, until closed */
} gated;

static int gated_setup(void **state) {
    gated *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    snprintf(x->dir, sizeof x->dir, "/tmp/zdag-framelog-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    snprintf(x->path, sizeof x->path, "%s/log", x->dir);
    pthread_mutex_init(&x->g.mu, NULL);
    pthread_cond_init(&x->g.cv, NULL);
    x->cfg =
        (zd_framelog_cfg){.max_record = 1 << 20, .datasync = gated_sync, .datasync_ctx = &x->g};
    char err[256];
    if (zd_framelog_create(x->path, 0600, &x->cfg, &x->fl, err, sizeof err) != 0 ||
        zd_framelog_append(x->fl, "head", 4, NULL) != 0)
        return -1;
    x->g.released = 1;
    if (zd_framelog_install(x->fl) != 0 || x->g.entered != 1) /* inline: the gate's call 1 */
        return -1;
    *state = x;
    return 0;
}

/* Closes x's log and reads its frames into s. */
static void closed_and_read(gated *x, seen *s) {
    zd_framelog_close(&x->fl);
    uint64_t end, size;
    zd_framelog_fault f;
    assert_int_equal(read_back(x->path, s, &end, &size, &f), 0);
    assert_int_equal(end, size);
}

static int gated_teardown(void **state) {
    gated *x = *state;
    zd_framelog_close(&x->fl);
    unlink(x->path);
    rmdir(x->dir);
    pthread_cond_destroy(&x->g.cv);
    pthread_mutex_destroy(&x->g.mu);
    free(x);
    return 0;
}

/* While the writer thread is inside fdatasync, appends go on and are neither durable nor lost;
 * frames reach the file in the order appended; pending counts only what the writer synced. */
static void test_async_sync_appends_go_on(void **state) {
    gated *x = *state;
    zd_framelog *fl = x->fl;
    uint64_t off;
    assert_int_equal(zd_framelog_append(fl, "A", 1, &off), 0);
    assert_int_equal(off, 12);
    assert_int_equal(zd_framelog_append(fl, "B", 1, &off), 0);
    assert_int_equal(off, 21);
    assert_int_equal(zd_framelog_sync_async(fl), 0);      /* returns with the sync still to come */
    gate_wait_entered(&x->g, 2);                          /* the writer is in fdatasync of A, B */
    assert_int_equal(x->g.size[1], 30);                   /* both written before it was called */
    assert_int_equal(zd_framelog_pending(fl), 2);         /* not durable yet */
    assert_int_equal(zd_framelog_sync_due_ms(fl, 0), -1); /* nothing waits for a sync */
    assert_int_equal(zd_framelog_append(fl, "C", 1, &off), 0); /* not blocked by the sync */
    assert_int_equal(off, 30);
    assert_int_equal(zd_framelog_pending(fl), 3);
    assert_int_equal(zd_framelog_sync_due_ms(fl, 0), 0);
    assert_int_equal(zd_framelog_sync_async(fl), 0);
    assert_int_equal(size_of(x->path), 30); /* C waits for the writer */
    gate_release(&x->g, 2);
    gate_wait_entered(&x->g, 3); /* the writer took C after A and B were durable */
    assert_int_equal(x->g.size[2], 39);
    assert_int_equal(zd_framelog_pending(fl), 1);
    gate_release(&x->g, 3);
    assert_int_equal(zd_framelog_sync(fl), 0);
    assert_int_equal(zd_framelog_pending(fl), 0);
    assert_int_equal(zd_framelog_size(fl), 39);
    seen s;
    closed_and_read(x, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.payload[1], "A");
    assert_string_equal(s.payload[2], "B");
    assert_string_equal(s.payload[3], "C");
    assert_int_equal(s.off[3], 30);
}

typedef struct syncer {
    zd_framelog *fl; /* the log */
    int rc;          /* what zd_framelog_sync() returned */
    bool returned;   /* it has */
    gate *g;         /* for the flag */
} syncer;

static void *sync_in_thread(void *arg) {
    syncer *y = arg;
    int rc = zd_framelog_sync(y->fl);
    pthread_mutex_lock(&y->g->mu);
    y->rc = rc;
    y->returned = true;
    pthread_mutex_unlock(&y->g->mu);
    return NULL;
}

/* zd_framelog_sync() returns only once the writer's fdatasync of every frame has. */
static void test_sync_waits_for_durability(void **state) {
    gated *x = *state;
    zd_framelog *fl = x->fl;
    assert_int_equal(zd_framelog_append(fl, "A", 1, NULL), 0);
    assert_int_equal(zd_framelog_sync_async(fl), 0);
    gate_wait_entered(&x->g, 2);
    syncer y = {.fl = fl, .g = &x->g};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sync_in_thread, &y), 0);
    pthread_mutex_lock(&x->g.mu);
    bool early = y.returned; /* cannot have returned: fdatasync has not */
    pthread_mutex_unlock(&x->g.mu);
    assert_false(early);
    gate_release(&x->g, 2);
    pthread_join(t, NULL);
    assert_true(y.returned);
    assert_int_equal(y.rc, 0);
    assert_int_equal(zd_framelog_pending(fl), 0);
    zd_framelog_close(&x->fl);
}

/* A failed fdatasync of the writer is reported by the next call and breaks the log. */
static void test_async_failed_sync_breaks(void **state) {
    gated *x = *state;
    zd_framelog *fl = x->fl;
    x->g.fail_at = 2;
    assert_int_equal(zd_framelog_append(fl, "A", 1, NULL), 0);
    assert_int_equal(zd_framelog_sync_async(fl), 0);
    assert_int_equal(zd_framelog_sync(fl), ZDAG_ESTATE);
    assert_non_null(strstr(zd_framelog_error(fl), "cannot sync"));
    assert_true(zd_framelog_broken(fl));
    assert_int_equal(zd_framelog_pending(fl), 1); /* never counted durable */
    assert_int_equal(zd_framelog_sync_async(fl), ZDAG_ESTATE);
    assert_int_equal(zd_framelog_append(fl, "B", 1, NULL), ZDAG_ESTATE);
    zd_framelog_close(&x->fl);
}

/* A write of the writer over RLIMIT_FSIZE is rolled back, its frames go back before the ones
 * appended since, and a later sync writes them all in order. */
static void test_async_failed_write_requeued(void **state) {
    gated *x = *state;
    zd_framelog *fl = x->fl;
    gate_release(&x->g, 8);
    static char big[5000];
    memset(big, 'X', sizeof big);
    assert_int_equal(zd_framelog_append(fl, big, sizeof big, NULL), 0);
    assert_int_equal(sync_over_fsize_limit(fl, true), ZDAG_ESTATE);
    assert_non_null(strstr(zd_framelog_error(fl), "cannot write"));
    assert_false(zd_framelog_broken(fl));
    assert_int_equal(size_of(x->path), 12);
    assert_int_equal(zd_framelog_pending(fl), 1);
    uint64_t off;
    assert_int_equal(zd_framelog_append(fl, "after", 5, &off), 0);
    assert_int_equal(off, 12 + 8 + sizeof big);
    assert_int_equal(zd_framelog_sync_async(fl), 0); /* the failure was reported already */
    assert_int_equal(zd_framelog_sync(fl), 0);
    seen s;
    closed_and_read(x, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.payload[1], "XXXXXXX");
    assert_string_equal(s.payload[2], "after");
    assert_int_equal(s.off[2], off);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_append_read),
        cmocka_unit_test(test_failed_write_rolls_back),
        cmocka_unit_test(test_unwanted_frames),
        cmocka_unit_test_setup_teardown(test_async_sync_appends_go_on, gated_setup, gated_teardown),
        cmocka_unit_test_setup_teardown(test_sync_waits_for_durability, gated_setup,
                                        gated_teardown),
        cmocka_unit_test_setup_teardown(test_async_failed_sync_breaks, gated_setup, gated_teardown),
        cmocka_unit_test_setup_teardown(test_async_failed_write_requeued, gated_setup,
                                        gated_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
