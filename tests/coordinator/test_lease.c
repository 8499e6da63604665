/* Leases: grant up to capacity, release, revoke, stale tokens, the sequential lease. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "lease.h"

static void test_pool_capacity(void **state) {
    (void)state;
    int caps[] = {2, 1};
    zd_leases *l = zd_leases_new(caps, 2);
    uint64_t a = zd_lease_acquire(l, 0), b = zd_lease_acquire(l, 0);
    assert_true(a > 0 && b > a);
    assert_false(zd_lease_available(l, 0));
    assert_int_equal(zd_lease_acquire(l, 0), 0); /* full */
    assert_int_equal(zd_lease_in_use(l, 0), 2);
    assert_true(zd_lease_available(l, 1)); /* other pools unaffected */
    assert_true(zd_lease_release(l, a));
    assert_true(zd_lease_available(l, 0));
    uint64_t c = zd_lease_acquire(l, 0);
    assert_true(c > b); /* tokens only grow */
    zd_leases_free(&l);
    assert_null(l);
}

static void test_stale_and_revoked_tokens(void **state) {
    (void)state;
    int caps[] = {1};
    zd_leases *l = zd_leases_new(caps, 1);
    uint64_t t = zd_lease_acquire(l, 0);
    assert_true(zd_lease_held(l, t));
    assert_true(zd_lease_release(l, t)); /* revoked, e.g. its worker was lost */
    assert_false(zd_lease_held(l, t));
    assert_false(zd_lease_release(l, t)); /* a late release is stale */
    uint64_t t2 = zd_lease_acquire(l, 0);
    assert_true(t2 != t);
    assert_false(zd_lease_held(l, t)); /* the old token stays stale after a new grant */
    assert_false(zd_lease_release(l, 0));
    assert_false(zd_lease_release(l, 12345));     /* never granted */
    assert_false(zd_lease_held(l, (t2 | 0x7ff))); /* a forged pool index */
    zd_leases_free(&l);
}

static void test_sequential(void **state) {
    (void)state;
    zd_leases *l = zd_leases_new(NULL, 0);
    assert_true(zd_lease_available(l, ZD_LEASE_SEQUENTIAL));
    uint64_t s = zd_lease_acquire(l, ZD_LEASE_SEQUENTIAL);
    assert_true(s > 0);
    assert_int_equal(zd_lease_acquire(l, ZD_LEASE_SEQUENTIAL), 0); /* never held twice */
    assert_int_equal(zd_lease_in_use(l, ZD_LEASE_SEQUENTIAL), 1);
    assert_int_equal(zd_lease_acquire(l, 5), 0); /* no such pool */
    assert_true(zd_lease_release(l, s));
    assert_int_equal(zd_lease_in_use(l, ZD_LEASE_SEQUENTIAL), 0);
    zd_leases_free(&l);
    assert_null(zd_leases_new(NULL, ZD_LEASE_MAX_POOLS + 1));
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A huge pool costs memory and time by the units in use, not by its capacity. */
static void test_huge_pool_is_cheap(void **state) {
    (void)state;
    int caps[] = {2147483647, 3};
    double start = now();
    zd_leases *l = zd_leases_new(caps, 2);
    assert_non_null(l);
    uint64_t held[100];
    for (int i = 0; i < 100; i++)
        assert_true((held[i] = zd_lease_acquire(l, 0)) > 0);
    assert_int_equal(zd_lease_in_use(l, 0), 100);
    for (int i = 0; i < 100; i += 2)
        assert_true(zd_lease_release(l, held[i]));
    for (int round = 0; round < 1000; round++) {
        assert_false(zd_lease_held(l, held[0]));     /* stale: a full scan of the holders */
        assert_false(zd_lease_release(l, held[98])); /* stale */
        assert_true(zd_lease_held(l, held[99]));
    }
    for (int i = 1; i < 100; i += 2)
        assert_true(zd_lease_release(l, held[i]));
    assert_int_equal(zd_lease_in_use(l, 0), 0);
    assert_true(zd_lease_available(l, 0));
    assert_true(now() - start < 0.5);
    zd_leases_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_capacity),
        cmocka_unit_test(test_stale_and_revoked_tokens),
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_huge_pool_is_cheap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
