/* The agent's lease: acknowledged beats extend it to their send time + T_fence, nothing else
 * does, and it ends exactly then. A fake clock: times are plain numbers of ns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fence.h"

#define MS 1000000ll       /* ns */
#define T_FENCE (600 * MS) /* 3 beats of 200 ms */
#define T0 (1000 * MS)     /* WELCOME's arrival */

static void test_before_any_ack_the_lease_runs_from_welcome(void **state) {
    (void)state;
    zd_fence f;
    zd_fence_init(&f, T_FENCE, T0);
    assert_int_equal(zd_fence_until(&f), T0 + T_FENCE);
    assert_false(zd_fence_expired(&f, T0));
    assert_false(zd_fence_expired(&f, T0 + T_FENCE - 1));
    assert_true(zd_fence_expired(&f, T0 + T_FENCE));
    /* beats sent but never acknowledged do not extend it */
    assert_int_equal(zd_fence_sent(&f, T0 + 1 * MS), 1);
    assert_int_equal(zd_fence_sent(&f, T0 + 200 * MS), 2);
    assert_int_equal(zd_fence_sent(&f, T0 + 400 * MS), 3);
    assert_true(zd_fence_expired(&f, T0 + T_FENCE));
}

static void test_an_ack_extends_from_the_send_time_of_its_beat(void **state) {
    (void)state;
    zd_fence f;
    zd_fence_init(&f, T_FENCE, T0);
    uint64_t s1 = zd_fence_sent(&f, T0 + 10 * MS);
    uint64_t s2 = zd_fence_sent(&f, T0 + 210 * MS);
    /* the ack of beat 1 arrives late (at 500 ms): the lease counts from beat 1's sending */
    assert_true(zd_fence_ack(&f, s1));
    assert_int_equal(zd_fence_until(&f), T0 + 10 * MS + T_FENCE);
    assert_false(zd_fence_expired(&f, T0 + 10 * MS + T_FENCE - 1));
    assert_true(zd_fence_expired(&f, T0 + 10 * MS + T_FENCE));
    assert_true(zd_fence_ack(&f, s2));
    assert_int_equal(zd_fence_until(&f), T0 + 210 * MS + T_FENCE);
    /* the same ack again (the coordinator repeats its highest seq every beat) changes nothing */
    assert_false(zd_fence_ack(&f, s2));
    assert_int_equal(zd_fence_until(&f), T0 + 210 * MS + T_FENCE);
}

static void test_old_acks_do_not_move_it_back(void **state) {
    (void)state;
    zd_fence f;
    zd_fence_init(&f, T_FENCE, T0);
    uint64_t s1 = zd_fence_sent(&f, T0 + 10 * MS);
    zd_fence_sent(&f, T0 + 210 * MS);
    uint64_t s3 = zd_fence_sent(&f, T0 + 410 * MS);
    assert_true(zd_fence_ack(&f, s3));
    assert_false(zd_fence_ack(&f, s1)); /* reordered: an older ack after a newer one */
    assert_int_equal(zd_fence_until(&f), T0 + 410 * MS + T_FENCE);
    assert_false(zd_fence_ack(&f, 0)); /* "nothing received yet" */
    assert_int_equal(zd_fence_until(&f), T0 + 410 * MS + T_FENCE);
}

static void test_acks_of_beats_never_sent_or_forgotten_are_ignored(void **state) {
    (void)state;
    zd_fence f;
    zd_fence_init(&f, T_FENCE, T0);
    zd_fence_sent(&f, T0 + 10 * MS);
    assert_false(zd_fence_ack(&f, 2)); /* a seq we never sent: forged or confused */
    assert_false(zd_fence_ack(&f, UINT64_MAX));
    assert_int_equal(zd_fence_until(&f), T0 + T_FENCE);
    /* a ring's worth of beats later, beat 1's send time is gone */
    for (int i = 0; i < ZD_FENCE_RING; i++)
        zd_fence_sent(&f, T0 + (20 + i) * MS);
    assert_false(zd_fence_ack(&f, 1));
    assert_int_equal(zd_fence_until(&f), T0 + T_FENCE);
    /* the newest is remembered */
    assert_true(zd_fence_ack(&f, ZD_FENCE_RING + 1));
    assert_int_equal(zd_fence_until(&f), T0 + (20 + ZD_FENCE_RING - 1) * MS + T_FENCE);
}

static void test_a_stopped_agent_finds_its_lease_ended(void **state) {
    (void)state;
    zd_fence f;
    zd_fence_init(&f, T_FENCE, T0);
    uint64_t s1 = zd_fence_sent(&f, T0 + 10 * MS);
    /* SIGSTOP for 10 s: on waking, the ack queued meanwhile is honoured but cannot save it */
    int64_t woke = T0 + 10000 * MS;
    assert_true(zd_fence_ack(&f, s1));
    assert_true(zd_fence_expired(&f, woke));
    /* a beat sent after waking and acknowledged renews it */
    uint64_t s2 = zd_fence_sent(&f, woke + 1 * MS);
    assert_true(zd_fence_ack(&f, s2));
    assert_false(zd_fence_expired(&f, woke + 2 * MS));
    assert_true(zd_fence_expired(&f, woke + 1 * MS + T_FENCE));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_any_ack_the_lease_runs_from_welcome),
        cmocka_unit_test(test_an_ack_extends_from_the_send_time_of_its_beat),
        cmocka_unit_test(test_old_acks_do_not_move_it_back),
        cmocka_unit_test(test_acks_of_beats_never_sent_or_forgotten_are_ignored),
        cmocka_unit_test(test_a_stopped_agent_finds_its_lease_ended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
