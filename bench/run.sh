#!/usr/bin/env bash
# `make bench`: zdag side by side with make, ninja, xargs, GNU parallel, Python's
# ThreadPoolExecutor(2) and Dask on this machine, one Markdown table per work item of issue 11
# (bench/bench.py documents the tables and the BENCH_* settings). Prints the tables and keeps
# a copy in $BUILD/bench/last.md. Not part of `make test`: nothing here is a pass/fail check.
#
# Installs the missing peers with apt-get when run as root (make, ninja-build, parallel, GNU
# time, Debian's python3; python3-distributed too with BENCH_INSTALL_DASK=1); BENCH_NO_INSTALL=1
# installs nothing. A peer that is missing is left out of its table with a line saying so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export BUILD=${BUILD:-$root/build}
out="$BUILD/bench"

for bin in "$BUILD/zdag" "$BUILD/examples/zdag_bench_fn"; do
    [ -x "$bin" ] || { echo "bench: $bin is missing: build first (make build)" >&2; exit 1; }
done

# --- peers -----------------------------------------------------------------------------------
need=()
command -v make >/dev/null || need+=(make)
command -v ninja >/dev/null || need+=(ninja-build)
command -v parallel >/dev/null || need+=(parallel)
command -v xargs >/dev/null || need+=(findutils)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ "${BENCH_INSTALL_DASK:-0}" = 1 ] &&
    ! /usr/bin/python3 -c 'import distributed' 2>/dev/null; then
    need+=(python3-distributed)
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then
        echo "bench: not installing ${need[*]} (BENCH_NO_INSTALL=1): their rows are skipped" >&2
    elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench: installing ${need[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "${need[@]}" >&2 ||
            { apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2; } ||
            echo "bench: could not install ${need[*]}: their rows are skipped" >&2
    else
        echo "bench: ${need[*]} missing and not root (or no apt-get): their rows are skipped" >&2
    fi
fi
if [ ! -x /usr/bin/python3 ]; then
    echo "bench: Debian's /usr/bin/python3 is needed to run the bench" >&2
    exit 1
fi

# --- the helpers: the ZeroMQ and process floors and a plugin with a no-op function ------------------------
mkdir -p "$out"
cc=${CC:-cc}
if [ ! -x "$out/zmq_floor" ] || [ "$here/zmq_floor.c" -nt "$out/zmq_floor" ]; then
    # shellcheck disable=SC2046
    $cc -O2 -Wall -Wextra -o "$out/zmq_floor" "$here/zmq_floor.c" \
        $(pkg-config --cflags --libs libzmq) ||
        echo "bench: zmq_floor did not build: no floor table" >&2
fi
if [ ! -x "$out/spawn_floor" ] || [ "$here/spawn_floor.c" -nt "$out/spawn_floor" ]; then
    $cc -O2 -Wall -Wextra -o "$out/spawn_floor" "$here/spawn_floor.c" ||
        echo "bench: spawn_floor did not build: no process floor table" >&2
fi
msgpack="msgpack-c"
pkg-config --exists msgpack-c 2>/dev/null || msgpack=msgpack
if [ ! -f "$out/libzdag_bench_noop.so" ] || [ "$here/noop_plugin.c" -nt "$out/libzdag_bench_noop.so" ]; then
    # shellcheck disable=SC2046
    $cc -O2 -Wall -shared -fPIC -o "$out/libzdag_bench_noop.so" "$here/noop_plugin.c" \
        -I"$root/include" $(pkg-config --cflags "$msgpack")
fi

# --- the run ---------------------------------------------------------------------------------
export ZMQ_FLOOR="$out/zmq_floor" SPAWN_FLOOR="$out/spawn_floor" NOOP_PLUGIN="$out/libzdag_bench_noop.so" PY=/usr/bin/python3
/usr/bin/python3 "$here/bench.py" | tee "$out/last.md"
# The journal start-up table belongs with the 1-node row: run it when that row is.
case ",${BENCH_ONLY:-one}," in
*,one,*) /usr/bin/python3 "$here/journal_startup.py" | tee -a "$out/last.md" ;;
esac
# The Python module's tables (issue 14): BENCH_ONLY=py for them alone.
case ",${BENCH_ONLY:-py}," in
*,py,*) PYTHONPATH="$BUILD/python" /usr/bin/python3 "$here/py_bench.py" | tee -a "$out/last.md" ;;
esac
echo "bench: tables also in $out/last.md" >&2
