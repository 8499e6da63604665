/* The option table, and what is made from it: the parser's getopt arrays, --help, the man
 * page and the bash completion. */
#include "options.h"

#include <getopt.h>
#include <string.h>

#include "zdag.h"

#define OPTS(a) a, sizeof a / sizeof a[0]
#define MAX_OPTS 40 /* the most options of one command */

static const zd_cli_option help_opt = {ZD_OPT_HELP, 'h',  "help",
                                       NULL,        NULL, "show this help and exit"};

/* `zdag run`'s rows, then the MAP_ONLY_OPTS only `zdag map` has: run takes all but those, map
 * every row. */
static const zd_cli_option run_opts[] = {
    {ZD_OPT_JOBS, 'j', "jobs", "N", NULL,
     "at most N nodes running at once, over all hosts (default:\n"
     "the pipeline's max_concurrency, else one per executor)"},
    {ZD_OPT_LOCAL_WORKERS, 'w', "local-workers", "N", NULL,
     "executors forked on this host (default: cores), never more\n"
     "than -j or the nodes that can run at once;\n"
     "0 = remote workers only (needs --listen)"},
    {ZD_OPT_IO_SLOTS, 0, "io-slots", "N", NULL,
     "more local executors, started on demand for nodes that need\n"
     "no free CPU unit (cpus: 0); 0 = none (default: 8 per core)"},
    {ZD_OPT_CPUS, 0, "cpus", "N", NULL, "CPU units of this host (default: cores)"},
    {ZD_OPT_PRIORITY, 0, "priority", "MODE", "critical-path compound user",
     "critical-path (default), compound or user"},
    {ZD_OPT_KEEP_GOING, 'k', "keep-going", NULL, NULL,
     "after a failure, run every node not depending on it"},
    {ZD_OPT_RESUME, 0, "resume", NULL, NULL,
     "skip nodes that succeeded in an earlier run of this pipeline\n"
     "with an unchanged definition (their results are restored\n"
     "from the state directory)"},
    {ZD_OPT_STATE_DIR, 0, "state-dir", "DIR", "dir",
     "journal, duration history and logs\n"
     "(default: .zdag/ beside FILE)"},
    {ZD_OPT_TARGET, 0, "target", "NODE|TAG", NULL,
     "run only these nodes and their ancestors (repeatable)"},
    {ZD_OPT_EXCLUDE, 0, "exclude", "NODE|TAG", NULL,
     "leave out these nodes and their descendants (repeatable)"},
    {ZD_OPT_REPORT, 0, "report", "FILE", "file",
     "write the run report (JSON), also when the run fails"},
    {ZD_OPT_HTML, 0, "html", "FILE", "file",
     "write the report's timeline page (HTML), also when the run\n"
     "fails"},
    {ZD_OPT_RESULTS, 0, "results", "FILE", "file", "write each succeeded node's result (JSON)"},
    {ZD_OPT_TRACE, 0, "trace", "FILE", "file", "write a Chrome trace-event timeline (Perfetto)"},
    {ZD_OPT_METRICS, 0, "metrics", "ADDR", NULL,
     "serve Prometheus metrics at http://ADDR/metrics\n"
     "(HOST:PORT, or PORT for every address)"},
    {ZD_OPT_QUIET, 'q', "quiet", NULL, NULL, "no progress line, no summary line"},
    {ZD_OPT_PROGRESS, 0, "progress", NULL, NULL,
     "draw the progress line even when stdout is not a terminal"},
    {ZD_OPT_LISTEN, 0, "listen", "ENDPOINT", NULL,
     "also accept remote workers here, e.g. tcp://0.0.0.0:7700"},
    {ZD_OPT_CURVE_SECRET, 0, "curve-secret", "FILE", "file",
     "the coordinator's CurveZMQ secret key (NAME.key from\n"
     "zdag keygen); needed with a tcp --listen"},
    {ZD_OPT_AUTHORIZED_KEYS, 0, "authorized-keys", "DIR", "dir",
     "a directory of the workers' *.pub keys admitted; needed\n"
     "with a tcp --listen"},
    {ZD_OPT_INSECURE, 0, "insecure", NULL, NULL,
     "allow a tcp --listen without CurveZMQ: no encryption,\n"
     "no authentication"},
    {ZD_OPT_HEARTBEAT, 0, "heartbeat", "SECONDS", NULL,
     "heartbeat interval of remote workers; one silent for\n"
     "5 intervals is lost (default: 1)"},
    {ZD_OPT_FORCE, 0, "force", "[NODE|TAG]", NULL,
     "run nodes whose outputs are up to date anyway: every one,\n"
     "or (--force=NODE|TAG, repeatable) these"},
    {ZD_OPT_SLURM, 0, "slurm", "'SBATCH OPTIONS'", NULL,
     "when ready nodes wait for hosts, submit Slurm jobs of one\n"
     "zdag worker each that join this run (needs --listen; the\n"
     "run makes their keys); e.g. --slurm '-p short -t 1:00:00'"},
    {ZD_OPT_SLURM_MAX_JOBS, 0, "slurm-max-jobs", "N", NULL,
     "--slurm: worker jobs queued or running at once, at most\n"
     "(default: 4)"},
    {ZD_OPT_SLURM_IDLE, 0, "slurm-idle", "SECONDS", NULL,
     "--slurm: a worker job with no node to run for SECONDS\n"
     "leaves (default: 60)"},
    help_opt,
    {ZD_OPT_KEEP_ORDER, 0, "keep-order", NULL, NULL,
     "(map) print each job's output in argument order (default:\n"
     "as the jobs end)"},
    {ZD_OPT_JOBLOG, 0, "joblog", "FILE", "file",
     "(map) write a line per job in GNU parallel's joblog format"},
    {ZD_OPT_RETRIES, 0, "retries", "N", NULL, "(map) extra attempts of a failed job (default: 0)"},
    {ZD_OPT_TIMEOUT, 0, "timeout", "SECONDS", NULL,
     "(map) stop a job's attempt after SECONDS (default: none)"},
};

#define MAP_ONLY_OPTS 4

static const zd_cli_option check_opts[] = {
    {ZD_OPT_REMOTE, 0, "remote", NULL, NULL,
     "the fn nodes are served by remote workers (zdag run -w 0\n"
     "--listen): a fn node without plugins, or a function no\n"
     "plugin exports, is fine"},
    help_opt,
};

static const zd_cli_option graph_opts[] = {
    {ZD_OPT_EXPAND, 0, "expand", NULL, NULL, "draw every instance of a node with foreach"},
    help_opt,
};

static const zd_cli_option worker_opts[] = {
    {ZD_OPT_CONNECT, 0, "connect", "ENDPOINT", NULL,
     "the coordinator, e.g. tcp://10.0.0.1:7700 (required)"},
    {ZD_OPT_SLOTS, 0, "slots", "N", NULL, "nodes at once on this host (default: cores)"},
    {ZD_OPT_CPUS, 0, "cpus", "N", NULL, "CPU units of this host (default: cores)"},
    {ZD_OPT_RESOURCE, 0, "resource", "NAME=N", NULL,
     "another resource of this host, e.g. gpu=1 (repeatable)"},
    {ZD_OPT_HOST_ID, 0, "host-id", "NAME", NULL,
     "workers with the same id share the host's limits\n"
     "(default: the hostname)"},
    {ZD_OPT_CURVE_SECRET, 0, "curve-secret", "FILE", "file",
     "this worker's key pair (NAME.key from zdag keygen)"},
    {ZD_OPT_COORDINATOR_KEY, 0, "coordinator-key", "FILE", "file",
     "the coordinator's public key (its NAME.pub)"},
    {ZD_OPT_INSECURE, 0, "insecure", NULL, NULL, "plain tcp: no encryption, no authentication"},
    {ZD_OPT_FOREVER, 0, "forever", NULL, NULL,
     "after a run, wait for the next one (reconnecting); retry\n"
     "every mistake"},
    {ZD_OPT_METRICS, 0, "metrics", "ADDR", NULL,
     "serve this worker's Prometheus metrics at\n"
     "http://ADDR/metrics (HOST:PORT, or PORT for every address)"},
    {ZD_OPT_IDLE_EXIT, 0, "idle-exit", "SECONDS", NULL,
     "leave the run (exit 0) once no node has run here for\n"
     "SECONDS; the coordinator lets it go only when it has given\n"
     "it no work (default: stay until the run ends)"},
    {ZD_OPT_ALLOCATION, 0, "allocation", "ID", NULL,
     "this worker's limits are its own share of the host (e.g.\n"
     "a Slurm job id), not shared with other workers of the\n"
     "same --host-id; shown in the coordinator's status"},
    help_opt,
};

static const zd_cli_option status_opts[] = {
    {ZD_OPT_STATE_DIR, 0, "state-dir", "DIR", "dir",
     "the run's state directory (default: .zdag/ beside FILE,\n"
     "or ./.zdag)"},
    {ZD_OPT_JSON, 0, "json", NULL, NULL, "print the status as one JSON object"},
    {ZD_OPT_WATCH, 0, "watch", NULL, NULL, "print it again every second until the run ends"},
    {ZD_OPT_CONNECT, 0, "connect", "ENDPOINT", NULL,
     "ask a coordinator's --listen socket instead (another\n"
     "host), e.g. tcp://10.0.0.1:7700"},
    {ZD_OPT_CURVE_SECRET, 0, "curve-secret", "FILE", "file",
     "with --connect: a key pair its --authorized-keys admit"},
    {ZD_OPT_COORDINATOR_KEY, 0, "coordinator-key", "FILE", "file",
     "with --connect: the coordinator's public key"},
    {ZD_OPT_INSECURE, 0, "insecure", NULL, NULL, "with --connect: plain tcp"},
    help_opt,
};

static const zd_cli_option report_opts[] = {
    {ZD_OPT_HTML, 0, "html", "FILE", "file", "write the timeline page to FILE (required)"},
    help_opt,
};

static const zd_cli_option only_help[] = {help_opt};

static const zd_cli_option help_opts[] = {
    {ZD_OPT_MAN, 0, "man", NULL, NULL, "print the man page zdag.1 (troff) instead"},
    {ZD_OPT_COMPLETION, 0, "completion", NULL, NULL, "print the bash completion script instead"},
    help_opt,
};

const zd_cli_command zd_cli_commands[] = {
    {"run", "FILE [options]", "run a pipeline on local (and remote) executors",
     "Runs the pipeline FILE: the coordinator in this process, executors forked on this host\n"
     "(and remote workers with --listen). --report, --html, --trace and --results are checked\n"
     "before the first node starts.",
     "file", run_opts, sizeof run_opts / sizeof run_opts[0] - MAP_ONLY_OPTS},
    {"map", "[options] COMMAND ::: ARG...", "run COMMAND once per argument, as GNU parallel does",
     "Runs COMMAND once per argument (one node each, zdag run's scheduler, executors and\n"
     "remote workers underneath). In COMMAND {} is the argument, {.} without its extension,\n"
     "{/} its base name, {//} its directory, {/.} its base name without extension, {#} the\n"
     "job's number (from 1); without any, the argument is appended. Replacements are\n"
     "shell-quoted. Arguments come after :::, from the lines of each FILE after ::::, else\n"
     "from the lines of stdin. Every job runs, also after a failure. Each job's standard\n"
     "output is printed whole when it ends; its standard error is in its log, and a failed\n"
     "job's last lines are shown on stderr. State (journal, logs) is in .zdag/ here unless\n"
     "--state-dir is given.\n"
     "\n"
     "exit status: 0 every job succeeded, 1-100 that many jobs failed, 101 more than 100\n"
     "failed, 130/143 interrupted by SIGINT/SIGTERM, 255 any other error (as GNU parallel).",
     NULL, OPTS(run_opts)},
    {"check", "FILE [--remote]", "validate a pipeline; prints nothing when it is valid",
     "Validates FILE as zdag run would before starting, without running anything. Prints\n"
     "nothing and exits 0 when it is valid; prints every error, sorted by position, as\n"
     "FILE:LINE:COL: error: ... and exits 2. Besides the file's own rules it opens each\n"
     "plugin (dlopen, lazily: none of its functions is called) and looks up every fn node's\n"
     "function in them; a fn node in a pipeline without plugins is an error.",
     "file", OPTS(check_opts)},
    {"graph", "FILE [--expand]", "print the pipeline as a Graphviz DOT graph",
     "Prints the pipeline as a Graphviz DOT graph on stdout\n"
     "(render it with: zdag graph FILE | dot -Tsvg > graph.svg). A node with foreach is one\n"
     "box with its instance count, unless --expand.",
     "file", OPTS(graph_opts)},
    {"worker", "--connect ENDPOINT [options]", "serve a coordinator on another host",
     "A host agent: joins the coordinator at ENDPOINT with this host's capacity and forks the\n"
     "executors that run the nodes it is sent, until the run ends. What keeps it from joining\n"
     "is said within 5 s: a refused key, a coordinator key that is not the pinned one,\n"
     "CurveZMQ on one side only (exit 2 unless --forever), nothing listening (retried for\n"
     "60 s, then exit 3).",
     NULL, OPTS(worker_opts)},
    {"status", "[FILE|DIR|--connect ENDPOINT] [--json] [--watch]",
     "show what a running pipeline does and why",
     "Asks the coordinator running FILE (or with the state directory DIR, default ./.zdag)\n"
     "through the status socket in its state directory, and prints: nodes by state, each\n"
     "running node (host, executor, attempt, elapsed), the head of the ready queue, why each\n"
     "other node waits (its deps, -j, a pool, the sequential lease, CPU units or resources\n"
     "on every host, a bigger host, a retry's back-off), the hosts (executors busy, CPU\n"
     "units, last heard), elapsed time and ETA. With --connect it asks a coordinator's\n"
     "--listen socket, as a worker joins it (an authorized key, or --insecure).\n"
     "\n"
     "exit status: 0, 1 no run is going on there, 2 usage.",
     "file", OPTS(status_opts)},
    {"report", "REPORT.json --html FILE", "draw a run's report as an HTML timeline",
     "Writes FILE, one self-contained HTML page (no network access) showing the report\n"
     "REPORT.json that zdag run --report wrote: a Gantt chart with a lane per executor,\n"
     "grouped by host, a bar per attempt coloured by its outcome (retried and lost attempts\n"
     "included), the critical path, each node's details and deps on hover or click, the\n"
     "slowest nodes, the longest waits from ready to start, and the run's summary.\n"
     "zdag run --html FILE writes the same page at the end of a run.\n"
     "\n"
     "exit status: 0, 2 usage or a file that is not a report (FILE:LINE:COL: error: ...),\n"
     "3 FILE cannot be written.",
     "file", OPTS(report_opts)},
    {"keygen", "NAME", "write a CurveZMQ key pair: NAME.key (secret), NAME.pub",
     "Writes a new CurveZMQ key pair: NAME.key, the secret key (mode 0600; keep it on its\n"
     "host), and NAME.pub, the public key (mode 0644; copy it where it is trusted).\n"
     "Refuses to overwrite either file. Prints the paths written.\n"
     "\n"
     "A coordinator admits the workers whose .pub files are in its --authorized-keys\n"
     "directory; a worker checks the coordinator's key with --coordinator-key NAME.pub.",
     "file", OPTS(only_help)},
    {"help", "[COMMAND]", "show help", "Shows the overview, or a command's help.", "commands",
     OPTS(help_opts)},
};
const size_t zd_cli_n_commands = sizeof zd_cli_commands / sizeof zd_cli_commands[0];

static const char exit_status[] =
    "exit status: 0 success, 1 a node failed, 2 invalid usage or pipeline (also: a worker\n"
    "the coordinator cannot admit as configured), 3 the run could not go on, 130/143\n"
    "interrupted by SIGINT/SIGTERM.";

const zd_cli_command *zd_cli_command_find(const char *name) {
    for (size_t i = 0; i < zd_cli_n_commands; i++)
        if (strcmp(zd_cli_commands[i].name, name) == 0)
            return &zd_cli_commands[i];
    return NULL;
}

const zd_cli_option *zd_cli_next(const zd_cli_command *cmd, int argc, char **argv, bool *started,
                                 const char **arg, bool *bad) {
    struct option longs[MAX_OPTS + 1];
    char shorts[2 * MAX_OPTS + 2] = ":"; /* ':' first: a missing argument is told apart */
    size_t ns = 1;
    for (size_t i = 0; i < cmd->n_opts && i < MAX_OPTS; i++) {
        const zd_cli_option *o = &cmd->opts[i];
        longs[i] = (struct option){o->name,
                                   !o->arg            ? no_argument
                                   : o->arg[0] == '[' ? optional_argument
                                                      : required_argument,
                                   NULL, 256 + (int)i};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (o->arg) /* (no short option takes an optional argument) */
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    longs[cmd->n_opts < MAX_OPTS ? cmd->n_opts : MAX_OPTS] = (struct option){NULL, 0, NULL, 0};
    if (!*started) {
        optind = 0; /* glibc: start a new parse */
        *started = true;
    }
    opterr = 0;
    *bad = false;
    *arg = NULL;
    int c = getopt_long(argc, argv, shorts, longs, NULL);
    if (c == -1)
        return NULL;
    if (c >= 256) {
        *arg = optarg;
        return &cmd->opts[c - 256];
    }
    for (size_t i = 0; c != '?' && c != ':' && i < cmd->n_opts; i++)
        if (cmd->opts[i].short_name == c) {
            *arg = optarg;
            return &cmd->opts[i];
        }
    *bad = true;
    const char *word = argv[optind - 1];
    if (c == ':')
        fprintf(stderr, "zdag %s: option \"%s\" needs an argument (see zdag %s --help)\n",
                cmd->name, word, cmd->name);
    else
        fprintf(stderr, "zdag %s: unknown option \"%s\" (see zdag %s --help)\n", cmd->name,
                optopt && word[1] != '-' ? (char[]){'-', (char)optopt, '\0'} : word, cmd->name);
    return NULL;
}

int zd_cli_operands(void) {
    return optind;
}

/* "-j, --jobs N" or "    --cpus N" into buf. */
static void option_words(const zd_cli_option *o, char *buf, size_t size) {
    char shortpart[8] = "    ";
    if (o->short_name)
        snprintf(shortpart, sizeof shortpart, "-%c, ", o->short_name);
    bool optional = o->arg && o->arg[0] == '[';
    snprintf(buf, size, "%s--%s%s%.*s%s", shortpart, o->name,
             optional ? "[="
             : o->arg ? " "
                      : "",
             optional ? (int)strlen(o->arg) - 2
             : o->arg ? (int)strlen(o->arg)
                      : 0,
             optional ? o->arg + 1
             : o->arg ? o->arg
                      : "",
             optional ? "]" : "");
}

void zd_cli_print_help(const zd_cli_command *cmd, FILE *out) {
    fprintf(out, "usage: zdag %s %s\n", cmd->name, cmd->usage);
    if (cmd->description)
        fprintf(out, "\n%s\n", cmd->description);
    fputc('\n', out);
    for (size_t i = 0; i < cmd->n_opts; i++) {
        char words[64];
        option_words(&cmd->opts[i], words, sizeof words);
        fprintf(out, "  %-26s ", words);
        if (strlen(words) > 26)
            fprintf(out, "\n  %-26s ", "");
        for (const char *h = cmd->opts[i].help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "  %-26s ", "");
        }
        fputc('\n', out);
    }
    if (strcmp(cmd->name, "run") == 0 || strcmp(cmd->name, "worker") == 0)
        fprintf(out, "\n%s\n", exit_status);
}

void zd_cli_print_overview(FILE *out) {
    fputs("usage: zdag COMMAND [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < zd_cli_n_commands; i++) {
        char words[64];
        snprintf(words, sizeof words, "%s %s", zd_cli_commands[i].name,
                 strcmp(zd_cli_commands[i].name, "run") == 0 ? "FILE [opts]"
                                                             : zd_cli_commands[i].usage);
        if (strcmp(zd_cli_commands[i].name, "worker") == 0)
            snprintf(words, sizeof words, "worker --connect EP");
        if (strcmp(zd_cli_commands[i].name, "map") == 0)
            snprintf(words, sizeof words, "map CMD ::: ARG...");
        if (strcmp(zd_cli_commands[i].name, "report") == 0)
            snprintf(words, sizeof words, "report REPORT.json");
        fprintf(out, "  %-21s %s\n", words, zd_cli_commands[i].summary);
    }
    fputs("\nzdag --version prints the version; zdag COMMAND --help a command's options.\n", out);
}

/* Writes text for troff: '-' as "\-", '\' as "\e", a leading '.' or '\'' escaped. */
static void roff(FILE *out, const char *text) {
    bool line_start = true;
    for (const char *p = text; *p; p++) {
        if (line_start && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        if (*p == '-')
            fputs("\\-", out);
        else if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '\n' && p[1] == '\n') {
            fputs("\n.PP\n", out);
            p++;
        } else
            fputc(*p, out);
        line_start = *p == '\n';
    }
}

void zd_cli_print_man(FILE *out) {
    fprintf(out, ".TH ZDAG 1 \"\" \"zdag %s\" \"User Commands\"\n", ZDAG_VERSION_STRING);
    fputs(".SH NAME\nzdag \\- a distributed DAG executor\n.SH SYNOPSIS\n", out);
    for (size_t i = 0; i < zd_cli_n_commands; i++) {
        fprintf(out, ".B zdag %s\n", zd_cli_commands[i].name);
        roff(out, zd_cli_commands[i].usage);
        fputs("\n.br\n", out);
    }
    fputs(".B zdag \\-\\-version\n.SH DESCRIPTION\n", out);
    roff(out, "zdag runs a pipeline of commands and C functions (a YAML file) as a DAG, on this "
              "host's executors and on remote workers, as many at once as the CPU units, "
              "pools and resources allow. The pipeline file and the report are described in "
              "README.md and docs/.\n");
    fputs(".SH COMMANDS\n", out);
    for (size_t i = 0; i < zd_cli_n_commands; i++) {
        const zd_cli_command *cmd = &zd_cli_commands[i];
        fprintf(out, ".SS \"zdag %s ", cmd->name);
        roff(out, cmd->usage);
        fputs("\"\n", out);
        roff(out, cmd->description ? cmd->description : cmd->summary);
        fputc('\n', out);
        for (size_t k = 0; k < cmd->n_opts; k++) {
            const zd_cli_option *o = &cmd->opts[k];
            fputs(".TP\n", out);
            if (o->short_name)
                fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
            fputs("\\fB\\-\\-", out);
            roff(out, o->name);
            fputs("\\fR", out);
            if (o->arg) {
                fputs(" \\fI", out);
                roff(out, o->arg);
                fputs("\\fR", out);
            }
            fputc('\n', out);
            roff(out, o->help);
            fputc('\n', out);
        }
    }
    fputs(".SH EXIT STATUS\n", out);
    roff(out, exit_status);
    fputs("\n.SH SEE ALSO\n", out);
    roff(out, "The README of zdag, and docs/architecture.md in its source tree.\n");
}

/* The options of cmd as completion words ("-j --jobs --cpus ..."). */
static void completion_words(FILE *out, const zd_cli_command *cmd) {
    for (size_t k = 0; k < cmd->n_opts; k++) {
        if (cmd->opts[k].short_name)
            fprintf(out, "-%c ", cmd->opts[k].short_name);
        fprintf(out, "--%s%s", cmd->opts[k].name, k + 1 < cmd->n_opts ? " " : "");
    }
}

/* The case arms for the arguments of cmd's options. */
static void completion_args(FILE *out, const zd_cli_command *cmd) {
    for (size_t k = 0; k < cmd->n_opts; k++) {
        const zd_cli_option *o = &cmd->opts[k];
        if (!o->arg || o->arg[0] == '[')
            continue;
        fputs("                ", out);
        if (o->short_name)
            fprintf(out, "-%c|", o->short_name);
        fprintf(out, "--%s) ", o->name);
        if (!o->complete)
            fputs("return ;;\n", out);
        else if (strcmp(o->complete, "file") == 0)
            fputs("COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", out);
        else if (strcmp(o->complete, "dir") == 0)
            fputs("COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n", out);
        else
            fprintf(out, "COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n", o->complete);
    }
}

void zd_cli_print_completion(FILE *out) {
    fputs("# bash completion of zdag (made from its option table: zdag help --completion)\n"
          "_zdag() {\n"
          "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
          "    local commands=\"",
          out);
    for (size_t i = 0; i < zd_cli_n_commands; i++)
        fprintf(out, "%s ", zd_cli_commands[i].name);
    fputs("--help --version\"\n"
          "    COMPREPLY=()\n"
          "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
          "        COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    case \"${COMP_WORDS[1]}\" in\n",
          out);
    for (size_t i = 0; i < zd_cli_n_commands; i++) {
        const zd_cli_command *cmd = &zd_cli_commands[i];
        fprintf(out, "        %s)\n            case \"$prev\" in\n", cmd->name);
        completion_args(out, cmd);
        fputs("            esac\n            if [[ \"$cur\" == -* ]]; then\n"
              "                COMPREPLY=($(compgen -W \"",
              out);
        completion_words(out, cmd);
        fputs("\" -- \"$cur\"))\n", out);
        if (cmd->operand && strcmp(cmd->operand, "file") == 0)
            fputs("            else\n                COMPREPLY=($(compgen -f -- \"$cur\"))\n", out);
        else if (cmd->operand && strcmp(cmd->operand, "commands") == 0)
            fputs("            else\n"
                  "                COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n",
                  out);
        fputs("            fi\n            ;;\n", out);
    }
    fputs("    esac\n"
          "}\n"
          "complete -o filenames -F _zdag zdag\n",
          out);
}
