/* zdag report REPORT.json --html FILE: a report written by zdag run, drawn as the timeline
 * page (coordinator/timeline.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "timeline.h"
#include "zdag.h"

/* Reads the whole file path into *text (caller frees; NUL-terminated) and *len. Prints why and
 * returns false when it cannot. */
static bool read_whole(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got = 1;
    bool oom = false;
    if (!f) {
        fprintf(stderr, "zdag: cannot read the report %s: %s\n", path, strerror(errno));
        return false;
    }
    while (got > 0 && !oom) {
        if (cap - n < 65536) {
            char *grown = realloc(buf, cap ? cap * 2 : 1 << 20);
            oom = !grown;
            buf = grown ? grown : buf;
            cap = grown ? (cap ? cap * 2 : 1 << 20) : cap;
        }
        got = oom ? 0 : fread(buf + n, 1, cap - n - 1, f);
        n += got;
    }
    bool failed = ferror(f);
    if (failed)
        fprintf(stderr, "zdag: cannot read the report %s: %s\n", path, strerror(errno));
    else if (oom)
        fprintf(stderr, "zdag: out of memory reading %s\n", path);
    fclose(f);
    if (failed || oom) {
        free(buf);
        return false;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return true;
}

int zd_cli_report(int argc, char **argv) {
    const zd_cli_command *cmd = zd_cli_command_find("report");
    bool started = false, bad;
    const char *arg, *html = NULL;
    const zd_cli_option *o;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &arg, &bad)))
        if (o->id == ZD_OPT_HTML)
            html = arg;
    if (bad)
        return ZD_EXIT_USAGE;
    int first = zd_cli_operands();
    if (argc - first != 1 || !html) {
        fprintf(stderr, "usage: zdag report REPORT.json --html FILE (see zdag report --help)\n");
        return ZD_EXIT_USAGE;
    }
    const char *path = argv[first];
    char *text = NULL;
    size_t len = 0;
    if (!read_whole(path, &text, &len))
        return ZD_EXIT_USAGE;
    zd_diags d;
    zd_diags_init(&d);
    int status = 0, rc = zd_timeline_check(text, len, path, &d);
    zd_diags_print(&d, stderr);
    zd_diags_clear(&d);
    if (rc == ZDAG_ENOMEM)
        fprintf(stderr, "zdag: out of memory reading %s\n", path);
    if (rc < 0)
        status = rc == ZDAG_ENOMEM ? ZD_EXIT_CANNOT_RUN : ZD_EXIT_USAGE;
    else if ((rc = zd_timeline_write(html, text, len)) < 0) {
        fprintf(stderr, "zdag: cannot write the HTML timeline %s: %s\n", html,
                rc == ZDAG_ENOMEM ? "out of memory" : strerror(errno));
        status = ZD_EXIT_CANNOT_RUN;
    }
    free(text);
    return status;
}
