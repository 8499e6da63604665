/* zdag: the command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "worker_main.h"
#include "diag.h"
#include "dot.h"
#include "graph.h"
#include "pipeline.h"
#include "zdag.h"

static const char *overview =
    "usage: zdag COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run FILE [opts]       run a pipeline on local (and remote) executors\n"
    "  check FILE            validate a pipeline; prints nothing when it is valid\n"
    "  graph FILE            print the pipeline as a Graphviz DOT graph\n"
    "  worker --connect EP   serve a coordinator on another host (see zdag worker --help)\n"
    "  keygen NAME           write a CurveZMQ key pair: NAME.key (secret), NAME.pub\n"
    "  help [COMMAND]        show help\n"
    "\n"
    "zdag --version prints the version; zdag COMMAND --help a command's options.\n";

static const char *run_help =
    "usage: zdag run FILE [options]\n"
    "\n"
    "  -j, --jobs N             at most N nodes running at once (default: executors)\n"
    "  -w, --local-workers N    executors forked on this host (default: cores)\n"
    "      --io-slots N         more local executors, started on demand for nodes that need no\n"
    "                           free CPU unit (cpus: 0); 0 = none (default: 8 per core)\n"
    "      --cpus N             CPU units of this host (default: cores)\n"
    "      --priority MODE      critical-path (default), compound or user\n"
    "  -k, --keep-going         after a failure, run every node not depending on it\n"
    "      --state-dir DIR      logs and state (default: .zdag/ beside FILE)\n"
    "      --target NODE|TAG    run only these nodes and their ancestors (repeatable)\n"
    "      --exclude NODE|TAG   leave out these nodes and their descendants (repeatable)\n"
    "      --report FILE        write the run report (JSON), also when the run fails\n"
    "      --results FILE       write each succeeded node's result (JSON)\n"
    "      --trace FILE         write a Chrome trace-event timeline (Perfetto)\n"
    "  -q, --quiet              no progress line, no summary line\n"
    "      --progress           draw the progress line even when stdout is not a terminal\n"
    "\n"
    "exit status: 0 success, 1 a node failed, 2 invalid usage or pipeline,\n"
    "3 the run could not go on, 130/143 interrupted by SIGINT/SIGTERM.\n";

static const char *check_help =
    "usage: zdag check FILE [--remote]\n"
    "\n"
    "Validates FILE as zdag run would before starting, without running anything. Prints\n"
    "nothing and exits 0 when it is valid; prints every error, sorted by position, as\n"
    "FILE:LINE:COL: error: ... and exits 2. Besides the file's own rules it opens each\n"
    "plugin (dlopen, lazily: none of its functions is called) and looks up every fn node's\n"
    "function in them; a fn node in a pipeline without plugins is an error.\n"
    "\n"
    "      --remote   the fn nodes are served by remote workers (zdag run -w 0 --listen):\n"
    "                 a fn node without plugins, or a function no plugin exports, is fine\n";

static const char *graph_help = "usage: zdag graph FILE\n"
                                "\n"
                                "Prints the pipeline as a Graphviz DOT graph on stdout\n"
                                "(render it with: zdag graph FILE | dot -Tsvg > graph.svg).\n";

static const char *keygen_help =
    "usage: zdag keygen NAME\n"
    "\n"
    "Writes a new CurveZMQ key pair: NAME.key, the secret key (mode 0600; keep it on its\n"
    "host), and NAME.pub, the public key (mode 0644; copy it where it is trusted).\n"
    "Refuses to overwrite either file. Prints the paths written.\n"
    "\n"
    "A coordinator admits the workers whose .pub files are in its --authorized-keys\n"
    "directory; a worker checks the coordinator's key with --coordinator-key NAME.pub.\n";

int zd_cli_help(const char *command) {
    if (!command) {
        fputs(overview, stdout);
        return 0;
    }
    const char *text = strcmp(command, "run") == 0      ? run_help
                       : strcmp(command, "check") == 0  ? check_help
                       : strcmp(command, "graph") == 0  ? graph_help
                       : strcmp(command, "keygen") == 0 ? keygen_help
                       : strcmp(command, "worker") == 0 ? zd_worker_help
                       : strcmp(command, "help") == 0   ? overview
                                                        : NULL;
    if (!text) {
        fprintf(stderr, "zdag: unknown command \"%s\"\n", command);
        return ZD_EXIT_USAGE;
    }
    fputs(text, stdout);
    return 0;
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
    char *args[3] = {argv[0], NULL, NULL};
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--remote") == 0) {
            flags &= ~ZD_LOAD_CHECK_FNS;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "zdag check: unknown option \"%s\" (see zdag check --help)\n", argv[i]);
            return ZD_EXIT_USAGE;
        } else if (n < 3) {
            args[n++] = argv[i];
        } else {
            n++;
        }
    }
    zd_graph *g = load_only(n, args, flags, &status);
    zd_graph_free(&g);
    return status;
}

int zd_cli_graph(int argc, char **argv) {
    int status = 0;
    zd_graph *g = load_only(argc, argv, 0, &status);
    if (g && zd_dot_write(stdout, g) < 0) {
        fprintf(stderr, "zdag: cannot write the graph\n");
        status = ZD_EXIT_CANNOT_RUN;
    }
    zd_graph_free(&g);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(overview, stderr);
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
        return zd_cli_help(argc > 2 ? argv[2] : NULL);
    int (*fn)(int, char **) = strcmp(cmd, "run") == 0      ? zd_cli_run
                              : strcmp(cmd, "check") == 0  ? zd_cli_check
                              : strcmp(cmd, "graph") == 0  ? zd_cli_graph
                              : strcmp(cmd, "keygen") == 0 ? zd_cli_keygen
                              : strcmp(cmd, "worker") == 0 ? zd_cli_worker
                                                           : NULL;
    if (!fn) {
        fprintf(stderr, "zdag: unknown command \"%s\" (see zdag help)\n", cmd);
        return ZD_EXIT_USAGE;
    }
    if (wants_help(argc - 1, argv + 1))
        return zd_cli_help(cmd);
    return fn(argc - 1, argv + 1);
}
