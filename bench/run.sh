#!/usr/bin/env bash
# Benchmarks: zdag against make and ninja on the same machine in one run (ratios, not absolute
# times: a 2-core machine is noisy). Usage: bench/run.sh [N_NODES] [JOBS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/spawn.py" "$@"
