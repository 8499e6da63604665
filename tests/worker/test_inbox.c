/* The executor's inbox: frames come out in the order they went in, a DROP takes out exactly
 * the task named, and growing the ring keeps every frame intact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "inbox.h"

static void push(zd_inbox *b, uint32_t node) {
    char text[32];
    int len = snprintf(text, sizeof text, "task %u", node);
    zmq_msg_t m;
    assert_int_equal(zmq_msg_init_size(&m, (size_t)len), 0);
    memcpy(zmq_msg_data(&m), text, (size_t)len);
    assert_int_equal(zd_inbox_push(b, &m, node, 1000 + node), 0);
    assert_int_equal(zmq_msg_size(&m), 0); /* moved */
    zmq_msg_close(&m);
}

static uint32_t pop(zd_inbox *b) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zd_inbox_pop(b, &m));
    unsigned node = 0;
    char text[32];
    snprintf(text, sizeof text, "%.*s", (int)zmq_msg_size(&m), (const char *)zmq_msg_data(&m));
    assert_int_equal(sscanf(text, "task %u", &node), 1);
    zmq_msg_close(&m);
    return node;
}

static void test_order_drop_and_growth(void **state) {
    (void)state;
    zd_inbox *b = zd_inbox_new();
    assert_non_null(b);
    for (uint32_t i = 0; i < 10; i++)
        push(b, i);
    assert_int_equal(pop(b), 0);
    assert_int_equal(pop(b), 1);
    for (uint32_t i = 10; i < 40; i++) /* wraps around, then grows */
        push(b, i);
    uint32_t node = 0;
    assert_true(zd_inbox_drop(b, 1005, &node));
    assert_int_equal(node, 5);
    assert_false(zd_inbox_drop(b, 1005, &node)); /* gone */
    assert_false(zd_inbox_drop(b, 1000, &node)); /* started already */
    assert_int_equal(zd_inbox_count(b), 37);
    for (uint32_t want = 2; want < 40; want++)
        if (want != 5)
            assert_int_equal(pop(b), want);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_false(zd_inbox_pop(b, &m));
    zmq_msg_close(&m);
    push(b, 41);
    zd_inbox_free(&b); /* closes what is left */
    assert_null(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_drop_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
