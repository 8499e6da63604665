/* The string map: puts, gets, overwrites, growth, keys that are not NUL-terminated, adds, and
 * the stored copies of keys, which stay put while the map grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"
#include "zdag.h"

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

/* zd_strmap_add() adds only a key that is absent, NULL-valued keys counting as present. */
static void test_add(void **state) {
    (void)state;
    zd_strmap *m = zd_strmap_new();
    int a, b;
    const char *stored = NULL, *again = NULL;
    assert_int_equal(zd_strmap_add(m, "x", 1, &a, &stored), 0);
    assert_int_equal(zd_strmap_add(m, "x", 1, &b, &again), ZDAG_EEXIST);
    assert_ptr_equal(again, stored);
    assert_ptr_equal(zd_strmap_get(m, "x", 1), &a);
    assert_int_equal(zd_strmap_put(m, "y", 1, NULL, NULL), 0);
    assert_int_equal(zd_strmap_add(m, "y", 1, &b, NULL), ZDAG_EEXIST);
    assert_null(zd_strmap_get(m, "y", 1));
    assert_int_equal(zd_strmap_count(m), 2);
    zd_strmap_free(&m);
}

/* Keys short and long (past a block of packed keys), their copies checked after every put:
 * a copy handed out never moves or changes. */
static void test_stored_keys_stay(void **state) {
    (void)state;
    enum { N = 3000 };
    static char keys[N][40];
    static const char *stored[N];
    static char big[3][20000];
    const char *big_stored[3];
    zd_strmap *m = zd_strmap_new();
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "node-%d-with-a-longer-name", i);
        assert_int_equal(zd_strmap_put(m, keys[i], strlen(keys[i]), keys[i], &stored[i]), 0);
        if (i % 1000 == 500) {
            int k = i / 1000;
            memset(big[k], 'a' + k, sizeof big[k]);
            assert_int_equal(zd_strmap_put(m, big[k], sizeof big[k], big[k], &big_stored[k]), 0);
        }
    }
    for (int i = 0; i < N; i++) {
        assert_string_equal(stored[i], keys[i]);
        assert_ptr_equal(zd_strmap_get(m, keys[i], strlen(keys[i])), keys[i]);
    }
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(big_stored[k], big[k], sizeof big[k]);
        assert_int_equal(big_stored[k][sizeof big[k]], '\0');
        assert_ptr_equal(zd_strmap_get(m, big[k], sizeof big[k]), big[k]);
    }
    assert_int_equal(zd_strmap_count(m), N + 3);
    zd_strmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_grow),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_stored_keys_stay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
