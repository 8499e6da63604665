/* Process start: the program's path is resolved along PATH once per name, as execvp() finds
 * it, and not at all when the answer depends on the work directory. */
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

#include "spawn.h"

static char dir_a[] = "/tmp/zdag-test-spawn-a-XXXXXX";
static char dir_b[] = "/tmp/zdag-test-spawn-b-XXXXXX";

static void make_file(const char *dir, const char *name, mode_t mode) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_resolve_along_path(void **state) {
    (void)state;
    assert_non_null(mkdtemp(dir_a));
    assert_non_null(mkdtemp(dir_b));
    make_file(dir_a, "prog", 0644); /* not executable: skipped, as execvp() does */
    make_file(dir_b, "prog", 0755);
    char path[700];
    snprintf(path, sizeof path, "%s:%s:%s", dir_a, dir_b, "relative");
    assert_int_equal(setenv("PATH", path, 1), 0);
    zd_spawner *s = zd_spawner_new(true);
    assert_non_null(s);
    char want[300];
    snprintf(want, sizeof want, "%s/prog", dir_b);
    const char *got = zd_spawn_resolve(s, "prog");
    assert_non_null(got);
    assert_string_equal(got, want);
    /* Remembered: found again without looking, even once the file is gone. */
    unlink(want);
    assert_ptr_equal(zd_spawn_resolve(s, "prog"), got);
    /* Past the absolute directories, a relative one: the work directory decides. */
    assert_null(zd_spawn_resolve(s, "nowhere"));
    assert_null(zd_spawn_resolve(s, "a/b"));
    assert_null(zd_spawn_resolve(s, ""));
    zd_spawner_free(&s);
    assert_null(s);
    /* An empty entry first (the work directory): never resolved. */
    snprintf(path, sizeof path, ":%s", dir_b);
    make_file(dir_b, "prog", 0755);
    assert_int_equal(setenv("PATH", path, 1), 0);
    s = zd_spawner_new(false);
    assert_null(zd_spawn_resolve(s, "prog"));
    zd_spawner_free(&s);
    unlink(want);
    snprintf(want, sizeof want, "%s/prog", dir_a);
    unlink(want);
    rmdir(dir_a);
    rmdir(dir_b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_along_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
