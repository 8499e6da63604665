/* zdag worker: the host agent, without functions of its own (plugins only). */
#include "cli.h"
#include "worker_main.h"

int zd_cli_worker(int argc, char **argv) {
    zd_log log = {zd_log_worker_stderr, NULL};
    return zd_worker_main(argc, argv, NULL, 0, &log);
}
