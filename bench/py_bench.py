"""`make bench`'s tables for the Python module (issue 14), with bench.py's harness: runs
interleaved (A B C A B C ...) for BENCH_REPS rounds, min and median, ratio per node.

  1. 2,000 and 20,000 no-op Python nodes on 2 executors, independent, then chained: the zdag
     module (bench/py_nodes.py), the C function path (zdag_bench_fn) and ThreadPoolExecutor(2)
     (bench/py_peers.py). Tawazi and Dask are not installed here (no PyPI): their rates are the
     ones measured for issue 14 on this machine, quoted in the goal lines.
  2. Two CPU-bound summations (the seed's loop, BENCH_PY_SUM_N iterations each), 2 executors:
     at 2 jobs against 1 job (one after the other).
  3. Building a 100,000-node graph from Python (Graph.call in a loop, then the libzdag DAG).

Settings: BENCH_REPS, BENCH_PY_N ("2000 20000"), BENCH_PY_SUM_N (20,000,000),
BENCH_PY_BUILD_N (100000). Run with /usr/bin/python3 and PYTHONPATH=$BUILD/python.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the harness: Contender, interleave, table ...)
from bench import BENCH_FN, PEERS, PY, REPS, Contender, Failed, interleave, out  # noqa: E402

NODES = os.path.join(bench.HERE, "py_nodes.py")
SIZES = [int(x) for x in os.environ.get("BENCH_PY_N", "2000 20000").split()]
SUM_N = bench.env_int("BENCH_PY_SUM_N", 20000000)
BUILD_N = bench.env_int("BENCH_PY_BUILD_N", 100000)
# Issue 14's figures (2 cores, interleaved, medians): nodes/s.
TAWAZI_FLAT = {2000: 3009, 20000: 315}
TAWAZI_CHAIN_MAX = 9300
DASK = {"flat": 560, "chain": 138}


def reported(argv, key="wall_s"):
    """Runs a helper printing KEY=S ...; returns S."""
    import subprocess
    p = subprocess.run(argv, capture_output=True, text=True, timeout=bench.TIMEOUT)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        raise Failed(f"exit {p.returncode}: {err[-1] if err else ''}"[:160])
    for tok in p.stdout.split():
        if tok.startswith(key + "="):
            return float(tok[len(key) + 1:])
    raise Failed(f"no {key} in {p.stdout.strip()[:120]!r}")


def fresh(tmp):
    d = tempfile.mkdtemp(dir=tmp)
    return d


def noop_tables(tmp):
    for shape in ("flat", "chain"):
        for n in SIZES:
            title = f"{n:,} {'independent' if shape == 'flat' else 'chained'} no-op Python nodes"
            py = Contender("zdag (Python module)", n,
                           lambda: reported([PY, NODES, "noop", str(n), shape, fresh(tmp)]))
            c = Contender("zdag (C function, zdag_bench_fn)", n,
                          lambda: bench.run_reporting([BENCH_FN, str(n), "2", shape,
                                                       fresh(tmp)]))
            tpe = Contender("ThreadPoolExecutor(2)", n,
                            lambda: bench.run_reporting([PY, PEERS, "tpe", shape, str(n)]))
            interleave(title, [py, c, tpe], REPS)
            out(f"## {title}, 2 executors")
            out()
            bench.table([py, c, tpe])
            rate = bench.rate(py)
            per_c = bench.ratio_of(py, c)
            if shape == "flat":
                goal = 10 * TAWAZI_FLAT.get(n, TAWAZI_FLAT[20000])
                tawazi = f"independent ≥ 10× Tawazi ({TAWAZI_FLAT.get(n, 315):,}/s): {goal:,}/s"
            else:
                goal = 3 * TAWAZI_CHAIN_MAX
                tawazi = f"chained ≥ 3× Tawazi's best chain rate ({TAWAZI_CHAIN_MAX:,}/s): {goal:,}/s"
            dask_goal = 30 * DASK[shape]
            ok = rate is not None and rate >= goal and rate >= dask_goal and per_c is not None \
                and per_c <= 2
            out(f"Goal: {tawazi}; ≥ 30× Dask ({DASK[shape]}/s): {dask_goal:,}/s; per node within 2× "
                f"of the C path. Measured {bench.fmt_rate(rate or 0)}/s, "
                f"{per_c if per_c is None else f'{per_c:.2f}'}× the C path — {bench.verdict(ok)}")
            out()


def sums_table(tmp):
    par = Contender("2 jobs (in parallel)", 2,
                    lambda: reported([PY, NODES, "sums", str(SUM_N), "2", fresh(tmp)]))
    seq = Contender("1 job (one after the other)", 2,
                    lambda: reported([PY, NODES, "sums", str(SUM_N), "1", fresh(tmp)]))
    interleave("two summations", [par, seq], REPS)
    out(f"## Two CPU-bound summations ({SUM_N:,} iterations each), 2 executors")
    out()
    bench.table([par, seq], ratio_label="ratio (time / 2 jobs' time)")
    if par.times and seq.times:
        r = par.median() / seq.median()
        out(f"Goal: ≤ 0.6× the time of the two one after the other. Measured {r:.2f}× — "
            f"{bench.verdict(r <= 0.6)}")
    out()


def build_table():
    b = Contender("Graph.call × N, then the libzdag DAG", BUILD_N,
                  lambda: reported([PY, NODES, "build", str(BUILD_N)], key="build_s"))
    interleave("build", [b], REPS)
    out(f"## Building a {BUILD_N:,}-node DAG from Python")
    out()
    bench.table([b])
    if b.times:
        out(f"Goal: ≤ 1 s. Measured {b.median():.3f} s — {bench.verdict(b.median() <= 1)}")
    out()


def main():
    tmp = tempfile.mkdtemp(prefix="zdag-pybench-")
    try:
        noop_tables(tmp)
        sums_table(tmp)
        build_table()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
