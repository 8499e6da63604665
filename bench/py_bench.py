"""`make bench`'s tables for the Python module (issue 14), with bench.py's harness: runs
interleaved (A B C A B C ...) for BENCH_REPS rounds, min and median, ratio per node.

  1. 2,000 and 20,000 no-op Python nodes on 2 executors, independent, then chained: the zdag
     module (bench/py_nodes.py), the C function path (zdag_bench_fn), ThreadPoolExecutor(2)
     and, when python3-distributed is installed, Dask distributed with 2 worker processes
     (bench/py_peers.py; one cluster per table, started before its first round, in
     BENCH_PY_DASK_REPS of the rounds, spread over them: a Dask run takes seconds to
     minutes). Tawazi is not installed here (no PyPI): its rates are the ones measured for
     issue 14 on this machine, quoted in the goal lines; so are Dask's when it is missing.
  2. Two CPU-bound summations (the seed's loop, BENCH_PY_SUM_N iterations each): zdag at 2
     jobs and at 1 job on 2 executors, and the same two summations without zdag, one after
     the other in one process (the goal's baseline) and in two processes at once (what the two
     cores give at that moment). Each run also reports its CPU seconds and the rest of the
     machine's (a loaded machine shows there), and zdag's runs whether the report's intervals
     of the two summations overlapped, on which executors.
  3. Building a 100,000-node graph from Python (Graph.call in a loop, then the libzdag DAG).

Settings: BENCH_REPS, BENCH_PY_N ("2000 20000"), BENCH_PY_SUM_N (30,000,000: about 0.7 s a
summation here), BENCH_PY_BUILD_N (100000), BENCH_PY_DASK_REPS (3; 0: no Dask rows),
ZDAG_PY_BASELINE (another tree's build/python directory: a row of that zdag module beside
this one in the no-op tables, for before/after figures from one run). Run with
/usr/bin/python3 and PYTHONPATH=$BUILD/python.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the harness: Contender, interleave, table ...)
from bench import BENCH_FN, PEERS, PY, REPS, Contender, Failed, interleave, out  # noqa: E402

NODES = os.path.join(bench.HERE, "py_nodes.py")
SIZES = [int(x) for x in os.environ.get("BENCH_PY_N", "2000 20000").split()]
SUM_N = bench.env_int("BENCH_PY_SUM_N", 30000000)
BUILD_N = bench.env_int("BENCH_PY_BUILD_N", 100000)
DASK_REPS = min(bench.env_int("BENCH_PY_DASK_REPS", 3), REPS)
BASELINE = os.environ.get("ZDAG_PY_BASELINE")
# Issue 14's figures (2 cores, interleaved, medians): nodes/s.
TAWAZI_FLAT = {2000: 3009, 20000: 315}
TAWAZI_CHAIN_MAX = 9300
DASK_QUOTED = {"flat": 560, "chain": 138}


def reported(argv, extras=None, key="wall_s", env=None):
    """Runs a helper printing KEY=VALUE tokens; returns KEY's value (seconds). The other
    tokens are appended to extras (a list) as a dict."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=bench.TIMEOUT, env=env)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        raise Failed(f"exit {p.returncode}: {err[-1] if err else ''}"[:160])
    tokens = dict(tok.split("=", 1) for tok in p.stdout.split() if "=" in tok)
    if key not in tokens:
        raise Failed(f"no {key} in {p.stdout.strip()[:120]!r}")
    if extras is not None:
        extras.append(tokens)
    return float(tokens[key])


def fresh(tmp):
    return tempfile.mkdtemp(dir=tmp)


class Sparse(Contender):
    """A contender run in only `runs` of the `rounds` rounds, spread evenly over them."""

    def __init__(self, name, nodes, run, runs, rounds, note=""):
        super().__init__(name, nodes, run, note)
        self.chosen = {i * rounds // runs for i in range(runs)} if runs else set()
        self.round = 0

    def once(self):
        if self.round in self.chosen:
            super().once()
        self.round += 1


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def median_of(extras, key):
    values = [float(e[key]) for e in extras if key in e]
    return statistics.median(values) if values else None


def measured_row(name, nodes, argv_of, env=None):
    """A contender running a py_nodes.py mode, keeping each run's other figures (cpu_s ...)
    in its .extras."""
    extras = []
    c = Contender(name, nodes, lambda: reported(argv_of(), extras, env=env))
    c.extras = extras
    return c


def noop_contenders(tmp, n, shape, dask):
    def argv():
        return [PY, NODES, "noop", str(n), shape, fresh(tmp)]
    cs = [measured_row("zdag (Python module)", n, argv)]
    if BASELINE:
        cs.append(measured_row("zdag (Python module, ZDAG_PY_BASELINE)", n, argv,
                               env=dict(os.environ, PYTHONPATH=BASELINE)))
    cs.append(Contender("zdag (C function, zdag_bench_fn)", n,
                        lambda: bench.run_reporting([BENCH_FN, str(n), "2", shape, fresh(tmp)])))
    cs.append(Contender("ThreadPoolExecutor(2)", n,
                        lambda: bench.run_reporting([PY, PEERS, "tpe", shape, str(n)])))
    if dask:
        cs.append(Sparse("Dask distributed, 2 worker processes", n,
                         lambda: dask.run(shape, n), DASK_REPS, REPS,
                         note=f"{DASK_REPS} of the rounds"))
    return cs


def noop_goal(n, shape, py, c, dask_row):
    rate = bench.rate(py)
    per_c = bench.ratio_of(py, c)
    if shape == "flat":
        goal = 10 * TAWAZI_FLAT.get(n, TAWAZI_FLAT[20000])
        tawazi = f"independent ≥ 10× Tawazi ({TAWAZI_FLAT.get(n, 315):,}/s): {goal:,}/s"
    else:
        goal = 3 * TAWAZI_CHAIN_MAX
        tawazi = f"chained ≥ 3× Tawazi's best chain rate ({TAWAZI_CHAIN_MAX:,}/s): {goal:,}/s"
    dask_rate = bench.rate(dask_row) if dask_row else None
    if dask_rate:
        dask = f"Dask measured here {dask_rate:,.0f}/s"
    else:
        dask_rate = DASK_QUOTED[shape]
        dask = f"Dask {dask_rate}/s (issue 14's figure: not measured in this run)"
    dask_goal = 30 * dask_rate
    ok = rate is not None and rate >= goal and rate >= dask_goal and per_c is not None \
        and per_c <= 2
    times_dask = f", {rate / dask_rate:,.0f}× Dask" if rate else ""
    out(f"Goal: {tawazi}; ≥ 30× Dask ({dask}): {dask_goal:,.0f}/s; per node within 2× "
        f"of the C path. Measured {bench.fmt_rate(rate or 0)}/s{times_dask}, "
        f"{per_c if per_c is None else f'{per_c:.2f}'}× the C path — {bench.verdict(ok)}")
    out()


def noop_tables(tmp):
    have_dask = DASK_REPS > 0 and bench.have_dask()
    if not have_dask:
        bench.log("no Dask rows: " + ("BENCH_PY_DASK_REPS=0" if DASK_REPS <= 0 else
                                      "python3-distributed is not installed for " + PY))
    for shape in ("flat", "chain"):
        for n in SIZES:
            title = f"{n:,} {'independent' if shape == 'flat' else 'chained'} no-op Python nodes"
            dask = bench.DaskServer() if have_dask else None
            try:
                if dask:
                    dask.run("flat", 1)  # its start-up (seconds) is over before round 1
                cs = noop_contenders(tmp, n, shape, dask)
                interleave(title, cs, REPS)
            finally:
                if dask:
                    dask.close()
            out(f"## {title}, 2 executors")
            out()
            bench.table(cs)
            cpu = [f"{c.name} {median_of(c.extras, 'cpu_s') * 1e3:.1f} ms" for c in cs
                   if getattr(c, "extras", None)]
            out(f"CPU time of the run (the process and its executors, median): {'; '.join(cpu)}.")
            out()
            c = next(x for x in cs if x.name.startswith("zdag (C"))
            noop_goal(n, shape, cs[0], c, cs[-1] if dask else None)


def sums_contenders(tmp):
    s = str(SUM_N)
    return [measured_row("zdag, 2 jobs (in parallel)", 2,
                         lambda: [PY, NODES, "sums", s, "2", fresh(tmp)]),
            measured_row("zdag, 1 job (one after the other, one executor)", 2,
                         lambda: [PY, NODES, "sums", s, "1", fresh(tmp)]),
            measured_row("plain Python, one after the other in one process", 2,
                         lambda: [PY, NODES, "plain", s, "1"]),
            measured_row("plain Python, two processes at once", 2,
                         lambda: [PY, NODES, "plain", s, "2"])]


def sums_table(tmp):
    cs = sums_contenders(tmp)
    par, one_job, seq, floor = cs
    interleave("two summations", cs, REPS)
    out(f"## Two CPU-bound summations ({SUM_N:,} iterations each), 2 executors")
    out()
    bench.table(cs, ratio_label="ratio (time / 2 jobs' time)")
    out("| run | median CPU s (its processes) | median CPU s of the rest of the machine "
        "meanwhile |")
    out("| --- | ---: | ---: |")
    for c in cs:
        cpu, others = median_of(c.extras, "cpu_s"), median_of(c.extras, "others_cpu_s")
        out(f"| {c.name} | {'—' if cpu is None else f'{cpu:.2f}'} "
            f"| {'—' if others is None else f'{others:.2f}'} |")
    out()
    overlapped = [e for e in par.extras if e.get("overlap") == "1" and
                  len(set(e.get("executors", "").split(","))) == 2]
    out(f"At 2 jobs the two summations' [start_s, end_s] in the report overlapped, on two "
        f"executors, in {len(overlapped)} of {len(par.extras)} runs.")
    baselines = [c for c in (seq, one_job) if c.times]
    if par.times and baselines:
        # Against the faster way of running the two one after the other, so that a slow
        # baseline never flatters the ratio.
        base = min(baselines, key=lambda c: c.median())
        r = par.median() / base.median()
        rounds = [p / min(q) for p, *q in zip(par.times, *(c.times for c in baselines))]
        each = "; ".join(f"{c.name} {par.median() / c.median():.2f}×" for c in baselines)
        machine = f"; the machine itself (two processes at once against one after the other): " \
            f"{floor.median() / seq.median():.2f}×" if floor.times and seq.times else ""
        out(f"Goal: ≤ 0.6× the time of the two one after the other in one process (the faster "
            f"of the two ways above). Measured {r:.2f}× (round by round: median "
            f"{statistics.median(rounds):.2f}×; against {each}){machine} — "
            f"{bench.verdict(r <= 0.6)}")
        others = median_of(par.extras, "others_cpu_s")
        if others is not None and others > 0.1 * par.median():
            out(f"The rest of the machine used {others:.2f} CPU s during the median 2-job run "
                f"({others / par.median():.0%} of a core): on 2 cores that load takes CPU from "
                "the two summations, so this figure measures the machine's load too. Re-run "
                "it on a quiet machine.")
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
    out(f"Python tables: load average at start {load_average()}; BENCH_REPS={REPS}, "
        f"BENCH_PY_N=\"{' '.join(map(str, SIZES))}\", BENCH_PY_SUM_N={SUM_N}, "
        f"BENCH_PY_DASK_REPS={DASK_REPS}" + (", ZDAG_PY_BASELINE set" if BASELINE else ""))
    out()
    try:
        noop_tables(tmp)
        sums_table(tmp)
        build_table()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out(f"Python tables: load average at the end {load_average()}")


if __name__ == "__main__":
    main()
