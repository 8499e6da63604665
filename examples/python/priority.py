"""The seed article's priority DAG: A, then B, C and D (each after A), then E (after D). Each
node takes one time unit; with 2 executors the order decides the total:

    A -> (B & C) -> D -> E      4 units
    A -> (C & D) -> (B & E)     3 units: C and D first, because E waits on D

C and D get a higher priority than B, as in the article. zdag's default priority mode
(critical-path) would also put D first by itself, since E waits on it.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/priority.py [UNIT_SECONDS]

Prints when each node ran (from the run's report) and exits 1 if the run took more than
3 units' worth of steps.
"""
import sys
import time

from zdag import dag, xn

UNIT = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


@xn
def a():
    time.sleep(UNIT)
    return "a"


@xn
def b(x):
    time.sleep(UNIT)
    return x + "b"


@xn(priority=1)
def c(x):
    time.sleep(UNIT)
    return x + "c"


@xn(priority=1)
def d(x):
    time.sleep(UNIT)
    return x + "d"


@xn
def e(x):
    time.sleep(UNIT)
    return x + "e"


@dag(max_concurrency=2, workers=2, state_dir=".zdag-examples")
def article_dag():
    first = a()
    return b(first), c(first), e(d(first))


def steps(run):
    """The nodes grouped by the time unit they started in."""
    by_step = {}
    for n in run.report["nodes"]:
        by_step.setdefault(round(n["start_s"] / UNIT), []).append(n["name"])
    return [sorted(names) for _, names in sorted(by_step.items())]


if __name__ == "__main__":
    t0 = time.monotonic()
    run = article_dag.run()
    wall = time.monotonic() - t0
    print("results:", run.value)
    for n in run.report["nodes"]:
        print(f"  {n['name']}  {n['start_s']:5.2f} s -> {n['end_s']:5.2f} s")
    order = steps(run)
    print("steps:", " -> ".join("(" + " & ".join(s) + ")" for s in order))
    print(f"DAG ran in {wall:.2f} s ({len(order)} units of {UNIT:g} s)")
    sys.exit(0 if order == [["a"], ["c", "d"], ["b", "e"]] else 1)
