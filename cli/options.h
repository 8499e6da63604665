/* The one option table of the zdag command line. Every command's options are rows here; the
 * parser (getopt_long), `--help`, the man page zdag.1 and the bash completion are all made
 * from it, so none of them can list an option another does not know. */
#ifndef ZD_CLI_OPTIONS_H
#define ZD_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Every option of every command, as the parser reports it. */
typedef enum zd_opt_id {
    ZD_OPT_HELP = 1,
    /* run */
    ZD_OPT_JOBS,
    ZD_OPT_LOCAL_WORKERS,
    ZD_OPT_IO_SLOTS,
    ZD_OPT_CPUS,
    ZD_OPT_PRIORITY,
    ZD_OPT_KEEP_GOING,
    ZD_OPT_RESUME,
    ZD_OPT_STATE_DIR,
    ZD_OPT_TARGET,
    ZD_OPT_EXCLUDE,
    ZD_OPT_REPORT,
    ZD_OPT_HTML,
    ZD_OPT_RESULTS,
    ZD_OPT_TRACE,
    ZD_OPT_QUIET,
    ZD_OPT_PROGRESS,
    ZD_OPT_LISTEN,
    ZD_OPT_CURVE_SECRET,
    ZD_OPT_AUTHORIZED_KEYS,
    ZD_OPT_INSECURE,
    ZD_OPT_HEARTBEAT,
    ZD_OPT_FORCE,
    ZD_OPT_METRICS,
    ZD_OPT_SLURM,
    ZD_OPT_SLURM_MAX_JOBS,
    ZD_OPT_SLURM_IDLE,
    /* map */
    ZD_OPT_KEEP_ORDER,
    ZD_OPT_JOBLOG,
    ZD_OPT_RETRIES,
    ZD_OPT_TIMEOUT,
    /* check */
    ZD_OPT_REMOTE,
    /* graph */
    ZD_OPT_EXPAND,
    /* worker */
    ZD_OPT_CONNECT,
    ZD_OPT_SLOTS,
    ZD_OPT_RESOURCE,
    ZD_OPT_HOST_ID,
    ZD_OPT_COORDINATOR_KEY,
    ZD_OPT_FOREVER,
    ZD_OPT_IDLE_EXIT,
    ZD_OPT_ALLOCATION,
    /* status */
    ZD_OPT_JSON,
    ZD_OPT_WATCH,
    /* help */
    ZD_OPT_MAN,
    ZD_OPT_COMPLETION,
} zd_opt_id;

/* One option of a command. */
typedef struct zd_cli_option {
    zd_opt_id id;         /* what the parser returns */
    char short_name;      /* e.g. 'j', or 0 */
    const char *name;     /* the long name without "--" */
    const char *arg;      /* the argument's name in the help ("N", "FILE"), NULL for a flag;
                             "[NAME]" for an optional one, given as --opt=VALUE only */
    const char *complete; /* bash completion of the argument: "file", "dir", or a list of
                             words separated by spaces; NULL for none */
    const char *help;     /* what it does; '\n' separates lines */
} zd_cli_option;

/* One command. */
typedef struct zd_cli_command {
    const char *name;          /* "run" */
    const char *usage;         /* what follows "zdag NAME" in the synopsis */
    const char *summary;       /* one line for the overview */
    const char *description;   /* paragraphs before the options ('\n\n' between), or NULL */
    const char *operand;       /* completion of the operands: "file", "commands" or NULL */
    const zd_cli_option *opts; /* the options */
    size_t n_opts;             /* entries in opts */
} zd_cli_command;

/* The commands, in the overview's order. */
extern const zd_cli_command zd_cli_commands[];
extern const size_t zd_cli_n_commands;

/* The command named name, or NULL. */
const zd_cli_command *zd_cli_command_find(const char *name);

/* Parses the next option of argv (argv[0] is the command's name) with getopt_long, from the
 * command's rows (permuting: operands may come between options). Returns the option's row
 * (*arg its argument, or NULL), or NULL at the end (*bad false) or on a mistake (*bad true,
 * printed on stderr: "zdag CMD: unknown option \"--x\" (see zdag CMD --help)"). *started
 * must be false on the first call of a parse. */
const zd_cli_option *zd_cli_next(const zd_cli_command *cmd, int argc, char **argv, bool *started,
                                 const char **arg, bool *bad);

/* The operands: after zd_cli_next() returned NULL without a mistake, argv[first..argc). */
int zd_cli_operands(void);

/* Writes the help of cmd (usage, description, every option) to out. */
void zd_cli_print_help(const zd_cli_command *cmd, FILE *out);

/* Writes the overview (every command) to out. */
void zd_cli_print_overview(FILE *out);

/* Writes the man page zdag.1 (troff, man macros) to out. */
void zd_cli_print_man(FILE *out);

/* Writes the bash completion script of zdag to out. */
void zd_cli_print_completion(FILE *out);

#endif
