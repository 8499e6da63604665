#!/usr/bin/env bash
# Benchmarks: zdag against make and ninja on the same machine in one run (ratios, not absolute
# times: a 2-core machine is noisy). Usage: bench/run.sh [N_NODES] [JOBS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/spawn.py" "$@"
echo
echo "## Function nodes (no process per node): zdag's own per-node cost"
echo
bin="$here/../build/examples/zdag_bench_fn"
[ -x "$bin" ] || { echo "(build first: make build)"; exit 1; }
"$bin" 20000 2
