/* zdag keygen NAME: a CurveZMQ key pair in NAME.key (secret) and NAME.pub (public). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "curve.h"
#include "diag.h"

int zd_cli_keygen(int argc, char **argv) {
    int first = zd_cli_operands_only(argc, argv);
    if (first < 0)
        return ZD_EXIT_USAGE;
    if (argc - first != 1 || argv[first][0] == '\0') {
        fprintf(stderr, "usage: zdag keygen NAME\n");
        return ZD_EXIT_USAGE;
    }
    const char *name = argv[first];
    zd_diags diags;
    zd_diags_init(&diags);
    int rc = zd_curve_keygen(name, &diags);
    zd_diags_print(&diags, stderr);
    zd_diags_clear(&diags);
    if (rc == ZDAG_EEXIST || rc == ZDAG_EINVAL)
        return ZD_EXIT_USAGE;
    if (rc < 0)
        return ZD_EXIT_CANNOT_RUN;
    printf("%s.key\n%s.pub\n", name, name);
    return ZD_EXIT_OK;
}
