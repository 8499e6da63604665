/* `zdag worker` and zdag_worker_run(): checks a worker's options, loads its keys and runs the
 * host agent. Parsing a command line is the caller's (the CLI's, or the program's). */
#ifndef ZD_WORKER_MAIN_H
#define ZD_WORKER_MAIN_H

#include <stddef.h>

#include "fn.h"
#include "log.h"
#include "zdag.h"

/* Runs the agent with opts (see zdag_worker_run(); opts->size may be smaller than today's
 * struct: the fields past it take their defaults) serving the given functions (may be NULL:
 * plugins only). Invalid options and unreadable keys are logged to opts->log and return 2.
 * Returns the process exit status. */
int zd_worker_run(const zdag_worker_options *opts, const zd_fn_entry *fns, size_t n_fns);

#endif
