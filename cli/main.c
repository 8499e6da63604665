/* zdag: the command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "dot.h"
#include "graph.h"
#include "options.h"
#include "pipeline.h"
#include "zdag.h"

int zd_cli_help(const char *command) {
    if (!command) {
        zd_cli_print_overview(stdout);
        return 0;
    }
    const zd_cli_command *cmd = zd_cli_command_find(command);
    if (!cmd) {
        fprintf(stderr, "zdag: unknown command \"%s\"\n", command);
        return ZD_EXIT_USAGE;
    }
    zd_cli_print_help(cmd, stdout);
    return 0;
}

/* zdag help [COMMAND | --man | --completion]. */
static int help_command(int argc, char **argv) {
    const zd_cli_command *cmd = zd_cli_command_find("help");
    bool started = false, bad;
    const char *arg;
    const zd_cli_option *o;
    void (*print)(FILE *) = NULL;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &arg, &bad))) {
        if (o->id == ZD_OPT_HELP)
            return zd_cli_help("help");
        print = o->id == ZD_OPT_MAN ? zd_cli_print_man : zd_cli_print_completion;
    }
    if (bad)
        return ZD_EXIT_USAGE;
    int first = zd_cli_operands();
    if (print && first == argc) {
        print(stdout);
        return fflush(stdout) == 0 ? 0 : ZD_EXIT_CANNOT_RUN;
    }
    if (print || argc - first > 1) {
        fprintf(stderr, "usage: zdag help [COMMAND | --man | --completion]\n");
        return ZD_EXIT_USAGE;
    }
    return zd_cli_help(first < argc ? argv[first] : NULL);
}

int zd_cli_operands_only(int argc, char **argv) {
    const zd_cli_command *cmd = zd_cli_command_find(argv[0]);
    bool started = false, bad;
    const char *arg;
    while (zd_cli_next(cmd, argc, argv, &started, &arg, &bad))
        ;
    return bad ? -1 : zd_cli_operands();
}

static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* Loads FILE for check and graph: prints the errors and returns NULL when invalid. */
static zd_graph *load_only(int argc, char **argv, unsigned flags, int *status) {
    if (argc != 2) {
        fprintf(stderr, "usage: zdag %s FILE\n", argv[0]);
        *status = ZD_EXIT_USAGE;
        return NULL;
    }
    zd_diags diags;
    zd_diags_init(&diags);
    zd_graph *g = NULL;
    if (zd_pipeline_load_file(argv[1], flags, &g, &diags) < 0) {
        zd_diags_print(&diags, stderr);
        *status = ZD_EXIT_USAGE;
    }
    zd_diags_clear(&diags);
    return g;
}

int zd_cli_check(int argc, char **argv) {
    int status = 0;
    unsigned flags = ZD_LOAD_PROBE_PLUGINS | ZD_LOAD_CHECK_FNS;
    const zd_cli_command *cmd = zd_cli_command_find("check");
    bool started = false, bad;
    const char *arg;
    const zd_cli_option *o;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &arg, &bad)))
        if (o->id == ZD_OPT_REMOTE)
            flags &= ~ZD_LOAD_CHECK_FNS;
    if (bad)
        return ZD_EXIT_USAGE;
    int first = zd_cli_operands();
    char *args[2] = {argv[0], first < argc ? argv[first] : NULL};
    zd_graph *g = load_only(argc - first == 1 ? 2 : 1, args, flags, &status);
    zd_graph_free(&g);
    return status;
}

int zd_cli_graph(int argc, char **argv) {
    int status = 0;
    unsigned flags = 0;
    const zd_cli_command *cmd = zd_cli_command_find("graph");
    bool started = false, bad;
    const char *arg;
    const zd_cli_option *o;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &arg, &bad)))
        if (o->id == ZD_OPT_EXPAND)
            flags |= ZD_DOT_EXPAND;
    if (bad)
        return ZD_EXIT_USAGE;
    int first = zd_cli_operands();
    char *args[2] = {argv[0], first < argc ? argv[first] : NULL};
    zd_graph *g = load_only(argc - first == 1 ? 2 : 1, args, 0, &status);
    if (g && zd_dot_write(stdout, g, flags) < 0) {
        fprintf(stderr, "zdag: cannot write the graph\n");
        status = ZD_EXIT_CANNOT_RUN;
    }
    zd_graph_free(&g);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        zd_cli_print_overview(stderr);
        return ZD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("zdag %s\n", zdag_version_string());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return zd_cli_help(NULL);
    if (strcmp(cmd, "help") == 0)
        return help_command(argc - 1, argv + 1);
    int (*fn)(int, char **) = strcmp(cmd, "run") == 0      ? zd_cli_run
                              : strcmp(cmd, "map") == 0    ? zd_cli_map
                              : strcmp(cmd, "check") == 0  ? zd_cli_check
                              : strcmp(cmd, "graph") == 0  ? zd_cli_graph
                              : strcmp(cmd, "status") == 0 ? zd_cli_status
                              : strcmp(cmd, "report") == 0 ? zd_cli_report
                              : strcmp(cmd, "keygen") == 0 ? zd_cli_keygen
                              : strcmp(cmd, "worker") == 0 ? zd_cli_worker
                                                           : NULL;
    if (!fn) {
        fprintf(stderr, "zdag: unknown command \"%s\" (see zdag help)\n", cmd);
        return ZD_EXIT_USAGE;
    }
    /* map's COMMAND may have a -h of its own: map reads --help among its options only. */
    if (fn != zd_cli_map && wants_help(argc - 1, argv + 1))
        return zd_cli_help(cmd);
    return fn(argc - 1, argv + 1);
}
