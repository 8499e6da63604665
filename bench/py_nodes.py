"""One timed run of the Python module (zdag), for bench/py_bench.py; prints `wall_s=S ...`.

    py_nodes.py noop N flat|chain STATE_DIR   N no-op Python nodes on 2 executors: wall_s is
                                              the run (the libzdag DAG made from the graph,
                                              zdag_run(), results read back), build_s the
                                              graph built from Python before it
    py_nodes.py build N                       builds an N-node graph from Python (g.call in a
                                              loop, then the libzdag DAG): build_s
    py_nodes.py sums ITERATIONS JOBS STATE_DIR  two CPU-bound summations (the seed's loop) at
                                              JOBS at once on 2 executors: wall_s
"""
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
        t1 = time.perf_counter()
        run = g.run(jobs=2, workers=2, state_dir=state)
        t2 = time.perf_counter()
        assert run.ok and len(run.results) == n, run
        print(f"wall_s={t2 - t1:.6f} build_s={t1 - t0:.6f} nodes={n}")
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
        g.call(summation, iterations)
        g.call(summation, iterations)
        t0 = time.perf_counter()
        run = g.run(jobs=jobs, workers=2, state_dir=state)
        t1 = time.perf_counter()
        assert run.ok, run.errors
        print(f"wall_s={t1 - t0:.6f} nodes=2")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
