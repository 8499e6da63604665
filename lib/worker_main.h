/* `zdag worker` and zdag_worker_main(): option parsing around the host agent. */
#ifndef ZD_WORKER_MAIN_H
#define ZD_WORKER_MAIN_H

#include <stddef.h>

#include "fn.h"
#include "log.h"

/* Parses the worker options of argv (argv[0] is the command name) and runs the agent with the
 * given functions. Its own messages (invalid options, keys) go to log (borrowed; may be NULL:
 * nowhere); `zdag worker` and zdag_worker_main() pass zd_log_worker_stderr ("zdag worker:
 * MSG"). getopt's own complaints still go to stderr. Returns the process exit status (2 for
 * invalid usage). */
int zd_worker_main(int argc, char **argv, const zd_fn_entry *fns, size_t n_fns, const zd_log *log);

/* The usage text of `zdag worker`. */
extern const char zd_worker_help[];

#endif
