/* Ready queue: priority order, ties by declaration, and O(n log n) work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "readyq.h"

static void test_order_and_ties(void **state) {
    (void)state;
    zd_prio_key keys[6] = {{1, 0}, {5, 0}, {5, 2.5}, {5, 2.5}, {-3, 9}, {1, 0}};
    zd_readyq *q = zd_readyq_new(keys, 6);
    uint32_t push[] = {5, 4, 3, 0, 2, 1};
    for (int i = 0; i < 6; i++)
        zd_readyq_push(q, push[i]);
    /* major desc, minor desc, then lower index first. */
    uint32_t want[] = {2, 3, 1, 0, 5, 4};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(zd_readyq_peek(q), want[i]);
        assert_int_equal(zd_readyq_pop(q), want[i]);
    }
    assert_int_equal(zd_readyq_size(q), 0);
    zd_readyq_free(&q);
    assert_null(q);
    zd_readyq_free(NULL);
}

/* 200k nodes pushed and popped: pops come out sorted, and the comparisons stay within
 * 3 n log2 n (a linear scan per pop would need ~n^2/2 = 2e10). */
static void test_200k_is_n_log_n(void **state) {
    (void)state;
    const uint32_t n = 200000;
    zd_prio_key *keys = malloc(n * sizeof *keys);
    srand(7);
    for (uint32_t i = 0; i < n; i++)
        keys[i] = (zd_prio_key){rand() % 1000, (double)(rand() % 100)};
    zd_readyq *q = zd_readyq_new(keys, n);
    for (uint32_t i = 0; i < n; i++)
        zd_readyq_push(q, i);
    uint32_t prev = zd_readyq_pop(q);
    for (uint32_t i = 1; i < n; i++) {
        uint32_t cur = zd_readyq_pop(q);
        assert_true(zd_prio_before(keys, prev, cur));
        prev = cur;
    }
    double bound = 3.0 * n * log2((double)n);
    assert_true((double)zd_readyq_comparisons(q) < bound);
    zd_readyq_free(&q);
    free(keys);
}

/* An indexed queue: removing any node keeps the heap in order, and removal is O(log n). */
static void test_remove(void **state) {
    (void)state;
    const uint32_t n = 200000;
    zd_prio_key *keys = malloc(n * sizeof *keys);
    uint32_t *pos = malloc(n * sizeof *pos);
    srand(11);
    for (uint32_t i = 0; i < n; i++) {
        keys[i] = (zd_prio_key){rand() % 1000, (double)(rand() % 100)};
        pos[i] = ZD_READYQ_ABSENT;
    }
    zd_readyq *q = zd_readyq_new_indexed(keys, n, pos);
    for (uint32_t i = 0; i < n; i++)
        zd_readyq_push(q, i);
    /* Every third node goes, in index order (anywhere in the heap). */
    for (uint32_t i = 0; i < n; i += 3)
        assert_true(zd_readyq_remove(q, i));
    assert_false(zd_readyq_remove(q, 0)); /* already gone */
    assert_int_equal(zd_readyq_size(q), n - (n + 2) / 3);
    uint32_t prev = zd_readyq_pop(q), popped = 1;
    assert_int_equal(pos[prev], ZD_READYQ_ABSENT);
    while (zd_readyq_size(q) > 0) {
        uint32_t cur = zd_readyq_pop(q);
        assert_true(cur % 3 != 0);
        assert_true(zd_prio_before(keys, prev, cur));
        prev = cur;
        popped++;
    }
    assert_int_equal(popped, n - (n + 2) / 3);
    assert_true((double)zd_readyq_comparisons(q) < 5.0 * n * log2((double)n));
    zd_readyq_free(&q);
    free(pos);
    free(keys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_ties),
        cmocka_unit_test(test_200k_is_n_log_n),
        cmocka_unit_test(test_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
