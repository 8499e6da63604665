/* The zdag command line: one function per subcommand, each returning the exit status. */
#ifndef ZD_CLI_H
#define ZD_CLI_H

/* Exit statuses of SPEC section 1. */
enum {
    ZD_EXIT_OK = 0,
    ZD_EXIT_FAILED = 1,
    ZD_EXIT_USAGE = 2,
    ZD_EXIT_CANNOT_RUN = 3,
};

int zd_cli_run(int argc, char **argv);
int zd_cli_check(int argc, char **argv);
/* zdag status [FILE|DIR] [--json] [--watch]: 0, 1 when no run answers, 2 usage. */
int zd_cli_status(int argc, char **argv);

/* zdag map [options] COMMAND ::: ARG...: GNU parallel's exit statuses (0, 1-101, 130/143, 255). */
int zd_cli_map(int argc, char **argv);
int zd_cli_graph(int argc, char **argv);
/* zdag report REPORT.json --html FILE: 0, 2 usage or not a report, 3 FILE not written. */
int zd_cli_report(int argc, char **argv);
int zd_cli_worker(int argc, char **argv);

/* zdag keygen NAME: writes NAME.key and NAME.pub and prints their paths; 2 on a usage error
 * or when either file exists, 3 when they cannot be written. */
int zd_cli_keygen(int argc, char **argv);

/* Parses the options of a command that has only --help (graph, keygen) and returns where its
 * operands start, or -1 after a mistake (printed). */
int zd_cli_operands_only(int argc, char **argv);

/* Prints the help of a command (NULL: the overview) to stdout; returns 0, or 2 when the
 * command is unknown. */
int zd_cli_help(const char *command);

#endif
