/* common/metrics: the HTTP server answers GET /metrics with the latest snapshot, and only once
 * there is one: before the owner's first publish a scrape gets 503, never an empty 200 (which
 * a scraper would take for a target with no metrics at all). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "zdag.h"

/* A port no one listens on now (the kernel's pick, released again). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* GET path over HTTP/1.0; the whole response into buf (NUL-terminated). */
static void get(int port, const char *path, char *buf, size_t size) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t at = 0;
    ssize_t got;
    while (at + 1 < size && (got = read(fd, buf + at, size - 1 - at)) > 0)
        at += (size_t)got;
    buf[at] = '\0';
    close(fd);
}

static void test_no_answer_before_the_first_snapshot(void **state) {
    (void)state;
    int port = free_port();
    char addr[32], why[256], resp[4096];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    zd_metrics *m = NULL;
    assert_int_equal(zd_metrics_start(addr, &m, why, sizeof why), 0);
    get(port, "/metrics", resp, sizeof resp);
    assert_true(strncmp(resp, "HTTP/1.0 503", 12) == 0 || strncmp(resp, "HTTP/1.1 503", 12) == 0);
    assert_non_null(strstr(resp, "no snapshot yet"));
    const char text[] = "# TYPE zdag_x gauge\nzdag_x 1\n";
    zd_metrics_publish(m, text, sizeof text - 1);
    get(port, "/metrics", resp, sizeof resp);
    assert_true(strncmp(resp, "HTTP/1.0 200", 12) == 0 || strncmp(resp, "HTTP/1.1 200", 12) == 0);
    const char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, text);
    get(port, "/other", resp, sizeof resp);
    assert_non_null(strstr(resp, " 404 "));
    zd_metrics_stop(&m);
    assert_null(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_answer_before_the_first_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
