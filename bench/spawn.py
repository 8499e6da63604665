"""Process-spawning throughput: N independent `true` commands at -j J, zdag vs make vs ninja,
and zdag's per-node dispatch overhead for independent and chained nodes (from its report).

Usage: python3 bench/spawn.py [N] [J] [REPEATS]   (defaults 2000, 2, 3; best of REPEATS)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ZDAG = os.environ.get("ZDAG", os.path.join(HERE, "..", "build", "zdag"))


def timed(cmd, cwd):
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def best(fn, repeats):
    return min(fn() for _ in range(repeats))


def pipeline(n, chained):
    lines = ["nodes:"]
    for i in range(n):
        dep = f", deps: [n{i - 1}]" if chained and i else ""
        lines.append(f"  n{i}: {{cmd: 'true'{dep}}}")
    return "\n".join(lines) + "\n"


def zdag_overhead(d, n, jobs, chained, repeats):
    """Best wall time, the first node's start (executor start-up), and the median per-node
    time outside the commands: for a chain the gap between a node's end and the next start,
    for independent nodes the idle lane time per node."""
    pipe = os.path.join(d, "chain.yaml" if chained else "flat.yaml")
    with open(pipe, "w") as f:
        f.write(pipeline(n, chained))
    report = os.path.join(d, "report.json")
    walls, starts, overheads = [], [], []
    for _ in range(repeats):
        walls.append(timed([ZDAG, "run", pipe, "-q", "-j", str(jobs), "-w", str(jobs),
                            "--report", report], d))
        with open(report) as f:
            nodes = sorted(json.load(f)["nodes"], key=lambda x: x["start_s"])
        starts.append(nodes[0]["start_s"])
        if chained:
            gaps = [b["start_s"] - a["end_s"] for a, b in zip(nodes, nodes[1:])]
            overheads.append(statistics.median(gaps))
        else:
            span = max(x["end_s"] for x in nodes) - nodes[0]["start_s"]
            busy = sum(x["end_s"] - x["start_s"] for x in nodes)
            overheads.append((span * jobs - busy) / n)
    return min(walls), statistics.median(starts), statistics.median(overheads)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    d = tempfile.mkdtemp(prefix="zdag-bench-")
    try:
        with open(os.path.join(d, "Makefile"), "w") as f:
            f.write(".PHONY: all " + " ".join(f"n{i}" for i in range(n)) + "\n")
            f.write("all: " + " ".join(f"n{i}" for i in range(n)) + "\n")
            for i in range(n):
                f.write(f"n{i}:\n\ttrue\n")
        with open(os.path.join(d, "build.ninja"), "w") as f:
            f.write("rule t\n  command = true\n")
            for i in range(n):
                f.write(f"build n{i}: t\n")
            f.write("default " + " ".join(f"n{i}" for i in range(n)) + "\n")

        rows = []
        zd_wall, zd_start, zd_over = zdag_overhead(d, n, jobs, False, repeats)
        rows.append(("zdag", zd_wall))
        if shutil.which("make"):
            rows.append(("make", best(lambda: timed(["make", "-s", f"-j{jobs}"], d), repeats)))
        if shutil.which("ninja"):
            # ninja records finished outputs it never sees created, so it reruns each time.
            rows.append(("ninja", best(lambda: timed(["ninja", f"-j{jobs}"], d), repeats)))
        chain_n = max(n // 4, 1)
        ch_wall, ch_start, ch_over = zdag_overhead(d, chain_n, jobs, True, repeats)

        print(f"## {n} independent `true` nodes at -j {jobs} (best of {repeats})\n")
        print("| tool | wall s | nodes/s | time vs zdag |")
        print("| --- | ---: | ---: | ---: |")
        for name, wall in rows:
            print(f"| {name} | {wall:.3f} | {n / wall:,.0f} | {wall / zd_wall:.2f}x |")
        print("\n## zdag per-node overhead outside the commands (from the report)\n")
        print("| shape | nodes | wall s | nodes/s | first node starts at | overhead per node |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        print(f"| independent, -j {jobs} | {n} | {zd_wall:.3f} | {n / zd_wall:,.0f} | "
              f"{zd_start * 1e3:.0f} ms | {zd_over * 1e6:.0f} us idle lane time |")
        print(f"| chained | {chain_n} | {ch_wall:.3f} | {chain_n / ch_wall:,.0f} | "
              f"{ch_start * 1e3:.0f} ms | {ch_over * 1e6:.0f} us end-to-next-start |")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
