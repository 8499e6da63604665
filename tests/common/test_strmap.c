/* The string map: puts, gets, overwrites, growth, keys that are not NUL-terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"

static void test_put_get_grow(void **state) {
    (void)state;
    zd_strmap *m = zd_strmap_new();
    assert_non_null(m);
    assert_null(zd_strmap_get(m, "a", 1));
    static int values[5000];
    for (int i = 0; i < 5000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "key%d", i);
        const char *stored = NULL;
        assert_int_equal(zd_strmap_put(m, key, (size_t)n, &values[i], &stored), 0);
        assert_string_equal(stored, key);
    }
    assert_int_equal(zd_strmap_count(m), 5000);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "key%d", i);
        assert_ptr_equal(zd_strmap_get(m, key, (size_t)n), &values[i]);
    }
    assert_null(zd_strmap_get(m, "key5000", 7));
    /* Overwrite; a prefix of a key is another key; lengths, not NULs, delimit keys. */
    assert_int_equal(zd_strmap_put(m, "key1", 4, &values[7], NULL), 0);
    assert_ptr_equal(zd_strmap_get(m, "key1", 4), &values[7]);
    assert_ptr_equal(zd_strmap_get(m, "key12xyz", 5), &values[12]);
    assert_int_equal(zd_strmap_count(m), 5000);
    assert_int_equal(zd_strmap_put(m, "", 0, &values[1], NULL), 0);
    assert_ptr_equal(zd_strmap_get(m, "", 0), &values[1]);
    assert_int_equal(zd_strmap_put(m, "a\0b", 3, &values[2], NULL), 0);
    assert_ptr_equal(zd_strmap_get(m, "a\0b", 3), &values[2]);
    assert_null(zd_strmap_get(m, "a", 1));
    /* A NULL value reads as absent. */
    assert_int_equal(zd_strmap_put(m, "key2", 4, NULL, NULL), 0);
    assert_null(zd_strmap_get(m, "key2", 4));
    zd_strmap_free(&m);
    assert_null(m);
    zd_strmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
