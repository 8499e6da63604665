"""Start-up after many runs (issue 10): a 1-node pipeline's start-to-end time in a state
directory that has seen BENCH_JOURNAL_RUNS (default 10) runs of a BENCH_JOURNAL_N-node (default
100,000) pipeline, against a fresh state directory. Goal: within 2x.

Two cases, because the journal is per pipeline file:
  other pipeline  one.yaml run with --state-dir S, where S holds big.yaml's journal;
  same pipeline   the big pipeline's file itself cut down to 1 node and run with S: its
                  journal holds the 100,000 nodes' records, no longer in the pipeline.
Each timed run gets its own copy of S (taken after the big runs), so every measurement is a
first run after them. The big runs are no-op function nodes (the bench's noop plugin).

  NOOP_PLUGIN=build/bench/libzdag_bench_noop.so ZDAG=build/zdag python3 bench/journal_startup.py

Prints a Markdown table; also the journal's size after each big run (bounded by compaction).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
ZDAG = os.environ.get("ZDAG", os.path.join(BUILD, "zdag"))
PLUGIN = os.environ.get("NOOP_PLUGIN", os.path.join(BUILD, "bench", "libzdag_bench_noop.so"))
N = int(os.environ.get("BENCH_JOURNAL_N", "100000"))
RUNS = int(os.environ.get("BENCH_JOURNAL_RUNS", "10"))
REPS = int(os.environ.get("BENCH_JOURNAL_REPS", "15"))
ONE = "nodes:\n  one: {cmd: 'true'}\n"


def run(args, cwd):
    t0 = time.perf_counter()
    p = subprocess.run([ZDAG, *args], cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"journal_startup: zdag {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return dt


def main():
    for f in (ZDAG, PLUGIN):
        if not os.path.exists(f):
            sys.exit(f"journal_startup: {f} is missing (build first; run.sh builds the plugin)")
    tmp = tempfile.mkdtemp(prefix="zdag-bench-journal-")
    try:
        big = os.path.join(tmp, "big.yaml")
        with open(big, "w") as f:
            f.write(f"plugins: [{PLUGIN}]\nnodes:\n")
            f.writelines(f"  n{i}: {{fn: noop}}\n" for i in range(N))
        one = os.path.join(tmp, "one.yaml")
        with open(one, "w") as f:
            f.write(ONE)
        state = os.path.join(tmp, "state")
        sizes, times = [], []
        for _ in range(RUNS):
            times.append(run(["run", big, "--state-dir", state, "-q"], tmp))
            sizes.append(os.path.getsize(os.path.join(state, "big.yaml.journal")))
        with open(big, "w") as f:  # the same file, now 1 node
            f.write(ONE)
        fresh, other, same = [], [], []
        for r in range(REPS):  # interleaved: fresh, other, same, fresh, ...
            d = os.path.join(tmp, f"fresh{r}")
            fresh.append(run(["run", one, "--state-dir", d, "-q"], tmp))
            d = os.path.join(tmp, f"other{r}")
            shutil.copytree(state, d)
            other.append(run(["run", one, "--state-dir", d, "-q"], tmp))
            d = os.path.join(tmp, f"same{r}")
            shutil.copytree(state, d)
            same.append(run(["run", big, "--state-dir", d, "-q"], tmp))
            after = os.path.getsize(os.path.join(d, "big.yaml.journal"))
        f_med = statistics.median(fresh)
        print(f"### Start-up after {RUNS} runs of {N:,} nodes\n")
        print(f"big runs: {', '.join(f'{t:.1f}' for t in times)} s; journal after each: "
              f"{', '.join(f'{s / 1e6:.2f}' for s in sizes)} MB "
              f"(same-pipeline journal after the 1-node run: {after:,} bytes)\n")
        print("| state dir | runs | min ms | median ms | vs fresh |")
        print("| --- | --- | --- | --- | --- |")
        for name, ts in (("fresh", fresh), (f"other pipeline, after {RUNS} big runs", other),
                         (f"same pipeline cut to 1 node, after {RUNS} big runs", same)):
            med = statistics.median(ts)
            print(f"| {name} | {len(ts)} | {min(ts) * 1e3:.1f} | {med * 1e3:.1f} | "
                  f"{med / f_med:.2f}x |")
        worst = max(statistics.median(other), statistics.median(same)) / f_med
        print(f"\nGoal: within 2x of a fresh state directory: {worst:.2f}x — "
              f"{'met' if worst <= 2 else '**not met**'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
