"""The seed article's Tawazi example, ported by changing the import: an IO-bound node
(fetch_distant_data; a 1 s sleep stands in for the network), two CPU-bound summations (the
article's loop) and a final node, run with max_concurrency 2 and then 3.

Tawazi runs nodes on threads, so under the GIL its two summations take turns even with
max_concurrency=3 (the article: 0.86 s each alone, 1.71-1.74 s "in parallel"). zdag runs
each node in its own process: with 3 the summations really run at once (on 2 cores or more).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/io_cpu.py [ITERATIONS [REPORT_DIR]]

ITERATIONS: the summation loop's length (default 10,000,000, the article's). REPORT_DIR: where
each run's report goes, as report-2.json and report-3.json (the JSON report of the README: each
node's executor and start_s/end_s, from which the overlap below is told).
"""
import os
import sys
import time

from zdag import dag, xn

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
REPORT_DIR = sys.argv[2] if len(sys.argv) > 2 else None


@xn(priority=10, cpus=0)  # IO-bound: takes no CPU unit
def fetch_distant_data():
    t0 = time.time()
    time.sleep(1)  # the article fetches a web page here
    print(f"fetch_distant_data: {time.time() - t0:.2f}s", flush=True)
    return 1256


@xn
def python_calculation_exec_node(iterations):
    t0 = time.time()
    total = 0
    for i in range(iterations):
        if not total % 3:
            total += i
            total += 1
    print(f"python_calculation_exec_node: {time.time() - t0:.2f}s", flush=True)
    return total


@xn
def final(len_data, execution_result, execution_result2):
    print("final ExecNode", flush=True)
    return f"{len_data} + {execution_result} + {execution_result2} = " \
           f"{len_data + execution_result + execution_result2}"


# 3 executors, as the C version (examples/seed.c): the fetch holds one while it waits.
@dag(workers=3, state_dir=".zdag-examples")
def article(iterations):
    return final(fetch_distant_data(), python_calculation_exec_node(iterations),
                 python_calculation_exec_node(iterations))


def summations(run):
    """The report's entries of the two summation nodes."""
    return run.node("python_calculation_exec_node"), run.node("python_calculation_exec_node.1")


def overlap(run):
    """True when the two summations ran at once: their [start_s, end_s] in the report overlap
    (then on two executors: an executor runs one node at a time)."""
    a, b = summations(run)
    return a["start_s"] < b["end_s"] and b["start_s"] < a["end_s"]


if __name__ == "__main__":
    for jobs in (2, 3):
        options = {"max_concurrency": jobs}
        if REPORT_DIR:
            options["report"] = os.path.join(REPORT_DIR, f"report-{jobs}.json")
        t0 = time.monotonic()
        run = article.with_options(**options).run(ITERATIONS)
        wall = time.monotonic() - t0
        a, b = summations(run)
        print(f"max_concurrency={jobs}: {run.value}")
        print(f"  DAG ran in {wall:.2f}s; the two summations "
              f"{'ran in parallel' if overlap(run) else 'did not overlap'} "
              f"(executors {a['executor']} and {b['executor']}: "
              f"{a['start_s']:.2f}-{a['end_s']:.2f}s, {b['start_s']:.2f}-{b['end_s']:.2f}s)")
