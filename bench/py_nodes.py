"""One timed run of the Python module (zdag), for bench/py_bench.py; prints `wall_s=S ...`.

    py_nodes.py noop N flat|chain STATE_DIR   N no-op Python nodes on 2 executors: wall_s is
                                              the run (the libzdag DAG made from the graph,
                                              zdag_run(), results read back), build_s the
                                              graph built from Python before it, cpu_s and
                                              others_cpu_s as below
    py_nodes.py build N                       builds an N-node graph from Python (g.call in a
                                              loop, then the libzdag DAG): build_s
    py_nodes.py sums ITERATIONS JOBS STATE_DIR  two CPU-bound summations (the seed's loop) at
                                              JOBS at once on 2 executors: wall_s, and from
                                              the report overlap=1|0 (their [start_s, end_s]
                                              intervals) and executors=A,B
    py_nodes.py plain ITERATIONS 1|2           the same two summations without zdag: 1, one
                                              after the other in this process; 2, in two
                                              forked processes at once (what the 2 cores give)

Each mode but build also prints cpu_s, the CPU seconds of this process and its children (the
executors) during the run, and others_cpu_s, the CPU seconds the rest of the machine used
meanwhile (/proc/stat's busy time less cpu_s): what tells a loaded machine from a slow run.
"""
import os
import resource
import sys
import time

import zdag
from zdag import Graph, xn


@xn
def noop(*deps):
    return None


@xn
def summation(iterations):
    total = 0
    for i in range(iterations):
        if not total % 3:
            total += i
            total += 1
    return total


def busy_s():
    """The machine's busy CPU seconds so far (/proc/stat: user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_s():
    """CPU seconds of this process and its waited-for children (getrusage: microseconds)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Meter:
    """Wall time, own CPU (this process and its waited-for children) and the rest of the
    machine's CPU over a with-block."""

    def __enter__(self):
        self.busy, self.own, self.t0 = busy_s(), own_s(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = own_s() - self.own
        self.others = max(0.0, busy_s() - self.busy - self.cpu)
        return False

    def line(self):
        return f"wall_s={self.wall:.6f} cpu_s={self.cpu:.4f} others_cpu_s={self.others:.2f}"


def plain(iterations, at_once):
    """The two summations without zdag: one after the other here, or in two forked
    processes at once."""
    if at_once == 1:
        summation.fn(iterations)
        summation.fn(iterations)
        return
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            summation.fn(iterations)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def overlap(run, a, b):
    """(1 if the report's [start_s, end_s] of nodes a and b overlap, else 0, 'A,B' executors)."""
    na, nb = run.node(a.name), run.node(b.name)
    both = na["start_s"] < nb["end_s"] and nb["start_s"] < na["end_s"]
    return int(both), f"{na['host']}:{na['executor']},{nb['host']}:{nb['executor']}"


def noop_graph(n, chained):
    g = Graph()
    prev = None
    for _ in range(n):
        prev = g.call(noop, prev) if chained and prev is not None else g.call(noop)
    return g


def main(argv):
    mode = argv[1]
    if mode == "noop":
        n, shape, state = int(argv[2]), argv[3], argv[4]
        t0 = time.perf_counter()
        g = noop_graph(n, shape == "chain")
        build = time.perf_counter() - t0
        with Meter() as m:
            run = g.run(jobs=2, workers=2, state_dir=state)
        assert run.ok and len(run.results) == n, run
        print(f"{m.line()} build_s={build:.6f} nodes={n}")
    elif mode == "build":
        n = int(argv[2])
        t0 = time.perf_counter()
        g = noop_graph(n, False)
        zdag._zdag.build(g.c_nodes(list(g.nodes)), g.pools)
        t1 = time.perf_counter()
        print(f"build_s={t1 - t0:.6f} nodes={n}")
    elif mode == "sums":
        iterations, jobs, state = int(argv[2]), int(argv[3]), argv[4]
        g = Graph()
        a, b = g.call(summation, iterations), g.call(summation, iterations)
        with Meter() as m:
            run = g.run(jobs=jobs, workers=2, state_dir=state)
        assert run.ok, run.errors
        both, executors = overlap(run, a, b)
        print(f"{m.line()} nodes=2 overlap={both} executors={executors}")
    elif mode == "plain":
        iterations, at_once = int(argv[2]), int(argv[3])
        with Meter() as m:
            plain(iterations, at_once)
        print(f"{m.line()} nodes=2")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
