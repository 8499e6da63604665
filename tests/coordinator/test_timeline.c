/* The timeline page: the report goes into the page's source whole, with nothing in it able to
 * end its script element, and reports the page cannot draw are refused with where and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "timeline.h"
#include "zdag.h"

/* The whole file at path (caller frees). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_report_goes_in_escaped(void **state) {
    (void)state;
    char dir[] = "zd_timeline_XXXXXX", path[64]; /* in the working directory */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.html", dir);
    const char *report = "{\"pipeline\": \"a</script><!--b\", \"nodes\": []}";
    assert_int_equal(zd_timeline_write(path, report, strlen(report)), 0);
    char *page = slurp(path);
    const char *open = "<script type=\"application/json\" id=\"zdag-report\">";
    char *at = strstr(page, open);
    assert_non_null(at);
    at += strlen(open);
    const char *want = "{\"pipeline\": \"a\\u003c/script>\\u003c!--b\", \"nodes\": []}</script>";
    assert_memory_equal(at, want, strlen(want));
    assert_null(strstr(page, "@ZDAG_REPORT@")); /* the marker is gone */
    assert_non_null(strstr(page, "</html>"));   /* and the page is whole */
    assert_null(strstr(page, "http://"));       /* nothing to fetch */
    assert_null(strstr(page, "https://"));
    free(page);
    unlink(path);
    assert_int_equal(zd_timeline_write("/nonexistent/t.html", report, strlen(report)), ZDAG_EIO);
    rmdir(dir);
}

/* zd_timeline_check(text) fails with the one message want. */
static void refused(const char *text, const char *want) {
    zd_diags d;
    zd_diags_init(&d);
    assert_int_equal(zd_timeline_check(text, strlen(text), "r.json", &d), ZDAG_EINVAL);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines[0], want);
    zd_diags_clear(&d);
}

static void test_bad_reports_are_refused(void **state) {
    (void)state;
    refused("{\"nodes\": [\n  {\"name\": \"a\",}\n]}",
            "r.json:2:16: error: not JSON: string or '}' expected near '}'");
    refused("[]", "r.json: error: not a zdag report: it has no \"nodes\" list");
    refused("{\"nodes\": [{\"status\": \"failed\"}]}",
            "r.json: error: not a zdag report: nodes[0] has no \"name\"");
    refused("{\"nodes\": [{\"name\": \"a\", \"deps\": [1]}]}",
            "r.json: error: node \"a\": \"deps\" is not a list of names");
    refused("{\"nodes\": [{\"name\": \"a\", \"history\": [{\"start_s\": \"x\"}]}]}",
            "r.json: error: node \"a\": \"history\" is not a list of attempts with start_s and "
            "end_s");
    zd_diags d;
    zd_diags_init(&d);
    const char *ok = "{\"nodes\": [{\"name\": \"a\", \"deps\": [], \"history\": [{\"start_s\": 0, "
                     "\"end_s\": null}]}, {\"name\": \"b\"}]}";
    assert_int_equal(zd_timeline_check(ok, strlen(ok), "r.json", &d), 0);
    assert_int_equal(d.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_goes_in_escaped),
        cmocka_unit_test(test_bad_reports_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
