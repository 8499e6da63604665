/* The state directory: creation 0700, tightening of older 0755 directories, journal names,
 * the lock and its holder's pid. */
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

#include "statedir.h"
#include "zdag.h"

static unsigned mode_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static void test_prepare(void **state) {
    (void)state;
    char base[] = "/tmp/zdag-statedir-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[128], sub[160];
    snprintf(dir, sizeof dir, "%s/state", base);
    zd_diags d;
    zd_diags_init(&d);
    assert_int_equal(zd_statedir_prepare(dir, &d), 0);
    assert_int_equal(mode_of(dir), 0700);
    snprintf(sub, sizeof sub, "%s/logs", dir);
    assert_int_equal(mode_of(sub), 0700);
    /* An older state directory: 0755 everywhere. */
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(chmod(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/results", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(zd_statedir_prepare(dir, &d), 0);
    assert_int_equal(mode_of(dir), 0700);
    assert_int_equal(mode_of(sub), 0700);
    snprintf(sub, sizeof sub, "%s/logs", dir);
    assert_int_equal(mode_of(sub), 0700);
    assert_int_equal(d.n, 0);
    /* Not a directory. */
    snprintf(sub, sizeof sub, "%s/file", base);
    FILE *fp = fopen(sub, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(zd_statedir_prepare(sub, &d), ZDAG_ESTATE);
    assert_non_null(strstr(d.lines[0], "not a directory"));
    zd_diags_clear(&d);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

static void test_journal_names(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(zd_statedir_journal_path("s", "/a/b/my pipe.yaml", out, sizeof out), 0);
    assert_string_equal(out, "s/my_pipe.yaml.journal");
    assert_int_equal(zd_statedir_journal_path("s", "/a/", out, sizeof out), 0);
    assert_string_equal(out, "s/pipeline.journal");
    assert_int_equal(zd_statedir_journal_path("s", "(program)", out, sizeof out), 0);
    assert_string_equal(out, "s/_program_.journal");
    assert_int_equal(zd_statedir_journal_path("s", "x", out, 8), ZDAG_ESTATE);
}

static void test_lock(void **state) {
    (void)state;
    char dir[] = "/tmp/zdag-statedir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    zd_diags d;
    zd_diags_init(&d);
    zd_statedir_lock *a = NULL, *b = NULL;
    assert_int_equal(zd_statedir_lock_take(dir, &a, &d), 0);
    char path[64], pid[32] = {0}, want[32];
    snprintf(path, sizeof path, "%s/lock", dir);
    assert_int_equal(mode_of(path), 0600);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(pid, sizeof pid, fp));
    fclose(fp);
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    assert_string_equal(pid, want);
    /* A second taker (another open file description) fails, naming the holder. */
    assert_int_equal(zd_statedir_lock_take(dir, &b, &d), ZDAG_ESTATE);
    assert_null(b);
    assert_non_null(strstr(d.lines[0], "in use by another zdag run (pid"));
    zd_statedir_lock_release(&a);
    assert_null(a);
    assert_int_equal(zd_statedir_lock_take(dir, &b, &d), 0);
    zd_statedir_lock_release(&b);
    zd_statedir_lock_release(&b);
    zd_diags_clear(&d);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_journal_names),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
