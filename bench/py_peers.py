"""Python peers for the function-node benchmarks: N no-op function calls, independent or chained.

Usage: /usr/bin/python3 bench/py_peers.py tpe|dask flat|chain N
       /usr/bin/python3 bench/py_peers.py dask serve   (lines "flat|chain N" on stdin, one
       `wall_s=S nodes=N` line back for each, on one cluster started once: bench/bench.py uses
       this so that Dask's start-up, many seconds, is paid once per table, not once per run)

Prints `wall_s=S nodes=N`, S measured inside the process like zdag_bench_fn's zdag_run() call:
  tpe:  concurrent.futures.ThreadPoolExecutor(2), from creating the pool to its shutdown.
        flat: N submits, then wait for all; chain: each call is submitted with the previous
        call's result and waited for before the next one (one hand-off per link, as in a chain
        of DAG nodes).
  dask: dask.distributed, a LocalCluster of 2 worker processes with 1 thread each, started
        before the clock starts (its start-up, seconds, is not counted); one task graph of N
        no-op tasks (flat: independent; chain: each takes the previous one's result) computed
        with Client.get.
"""
import sys
import time


def noop(*_args):
    return None


def tpe(shape, n):
    from concurrent.futures import ThreadPoolExecutor, wait

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        if shape == "flat":
            futs = [pool.submit(noop) for _ in range(n)]
            wait(futs)
            for f in futs:
                f.result()
        else:
            prev = None
            for _ in range(n):
                prev = pool.submit(noop, prev).result()
    return time.perf_counter() - t0


def dask_graph(shape, n, run):
    p = f"r{run}-"  # fresh keys each run: Dask must not reuse results it still holds
    if shape == "flat":
        dsk = {f"{p}{i}": (noop,) for i in range(n)}
        return dsk, list(dsk)
    dsk = {f"{p}0": (noop,)}
    for i in range(1, n):
        dsk[f"{p}{i}"] = (noop, f"{p}{i - 1}")
    return dsk, [f"{p}{n - 1}"]


def dask_session(requests):
    """Yields the wall time of each (shape, n) from requests, on one cluster."""
    import logging

    logging.disable(logging.WARNING)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.get({"warm": (noop,)}, "warm")
        for run, (shape, n) in enumerate(requests):
            dsk, keys = dask_graph(shape, n, run)
            t0 = time.perf_counter()
            client.get(dsk, keys)
            yield shape, n, time.perf_counter() - t0


def dask(shape, n):
    return next(dask_session([(shape, n)]))[2]


def serve():
    def requests():
        while True:
            line = sys.stdin.readline()
            if not line.strip():
                return
            shape, n = line.split()
            yield shape, int(n)

    for _shape, n, wall in dask_session(requests()):
        print(f"wall_s={wall:.6f} nodes={n}", flush=True)


def main():
    if sys.argv[1:] == ["dask", "serve"]:
        return serve()
    peer, shape, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if shape not in ("flat", "chain") or n < 1:
        sys.exit(2)
    wall = {"tpe": tpe, "dask": dask}[peer](shape, n)
    print(f"wall_s={wall:.6f} nodes={n}")


if __name__ == "__main__":
    main()
