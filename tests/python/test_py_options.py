"""zdag for Python: every node option of @xn / Graph.add is honoured (read from the report)."""
import itertools
import os
import signal
import time
import unittest

from zdagpytest import PyTestCase, overlaps

import zdag
from zdag import Graph, xn


@xn
def nap(s, tag=None):
    time.sleep(s)
    return tag


@xn(sequential=True)
def alone(s):
    time.sleep(s)
    return "alone"


@xn
def flaky(marker):
    """Fails its first attempt (it leaves a marker file), succeeds the next."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise OSError("first attempt fails")
    return "second attempt"


@xn
def killed_once(marker):
    """Its executor dies (SIGKILL of itself) on the first attempt."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def history(run, name):
    return [h["outcome"] for h in run.node(name)["history"]]


class OptionsTest(PyTestCase):
    def run_graph(self, g, **options):
        run = g.run(state_dir=self.state, **options)
        self.assertTrue(run.ok, run.errors)
        return run

    def test_sequential_node_runs_alone(self):
        g = Graph()
        for i in range(4):
            g.call(nap, 0.2, i)
        g.call(alone, 0.2)
        for i in range(2):
            g.call(nap, 0.2, i)
        run = self.run_graph(g, workers=3)
        seq = run.node("alone")
        others = [n for n in run.report["nodes"] if n["name"] != "alone"]
        self.assertEqual(len(others), 6)
        for n in others:
            self.assertFalse(overlaps(seq, n), f"{n['name']} ran beside the sequential node")

    def test_pool_of_one_never_overlaps(self):
        g = Graph(pools={"db": 1})
        for i in range(3):
            g.add(nap, (0.2, i), name=f"db{i}", pool="db")
        run = self.run_graph(g, workers=3)
        nodes = [run.node(f"db{i}") for i in range(3)]
        for a, b in itertools.combinations(nodes, 2):
            self.assertFalse(overlaps(a, b), f"{a['name']} and {b['name']} held the pool at once")

    def test_priority_order_at_one_job(self):
        g = Graph()
        for p in (1, 5, 3, 10, 0):
            g.add(nap, (0.01, p), name=f"p{p}", priority=p)
        run = self.run_graph(g, jobs=1, priority="user")
        order = sorted(run.report["nodes"], key=lambda n: n["start_s"])
        self.assertEqual([n["name"] for n in order], ["p10", "p5", "p3", "p1", "p0"])

    def test_xn_priority_is_the_default_of_its_nodes(self):
        low = xn(priority=-5)(nap.fn)
        high = xn(priority=5)(nap.fn)
        g = Graph()
        g.add(low, (0.01,), name="low")
        g.add(high, (0.01,), name="high")
        run = self.run_graph(g, jobs=1, priority="user")
        self.assertLess(run.node("high")["start_s"], run.node("low")["start_s"])

    def test_retries(self):
        marker = self.path("flaky-marker")
        g = Graph()
        h = g.add(flaky, (marker,), retries=1)
        run = self.run_graph(g)
        self.assertEqual(run[h], "second attempt")
        self.assertEqual(run.attempts["flaky"], 2)
        self.assertEqual(history(run, "flaky"), ["failed", "succeeded"])

    def test_without_retries_the_first_failure_stands(self):
        g = Graph()
        g.add(flaky, (self.path("m"),))
        run = g.run(state_dir=self.state)
        self.assertEqual(run.statuses["flaky"], "failed")
        self.assertIsInstance(run.errors["flaky"], OSError)

    def test_killed_executor_reruns_its_node(self):
        marker = self.path("kill-marker")
        g = Graph()
        h = g.call(killed_once, marker)
        run = self.run_graph(g, workers=1)
        self.assertTrue(os.path.exists(marker))
        self.assertEqual(run.attempts["killed_once"], 2)
        self.assertEqual(history(run, "killed_once"), ["lost", "succeeded"])
        self.assertNotEqual(run[h], os.getpid())

    def test_cpus_and_resources_beyond_the_host_are_refused(self):
        g = Graph()
        g.add(nap, (0,), cpus=3)
        with self.assertRaises(zdag.RunError) as cm:
            g.run(state_dir=self.state, cpus=2)
        self.assertIn("nap", str(cm.exception))
        g = Graph()
        g.add(nap, (0,), resources={"gpu": 1})
        with self.assertRaises(zdag.RunError):
            g.run(state_dir=self.state)

    def test_io_nodes_take_no_cpu(self):
        g = Graph()
        for i in range(3):
            g.add(nap, (0.3, i), cpus=0)
        run = self.run_graph(g, cpus=1, workers=1)
        a, b, c = (run.node(n) for n in ("nap", "nap.1", "nap.2"))
        # One CPU unit, one executor: only executors started for cpus: 0 nodes let them meet.
        self.assertTrue(overlaps(a, b) or overlaps(b, c) or overlaps(a, c))

    def test_tags_select_and_exclude(self):
        g = Graph()
        base = g.add(nap, (0,), name="base")
        g.add(nap, (0, base), name="plot", tags="figures")
        g.add(nap, (0,), name="other", tags=["slow"])
        run = self.run_graph(g, targets=["figures"])
        self.assertEqual(set(run.statuses), {"base", "plot"})
        run = self.run_graph(g, exclude="base")
        self.assertEqual(set(run.statuses), {"other"})
        with self.assertRaises(ValueError):
            g.run(state_dir=self.state, targets=["nosuch"])

    def test_after_orders_without_data(self):
        g = Graph()
        first = g.add(nap, (0.1, "first"), name="first")
        g.add(nap, (0, "second"), name="second", after=[first])
        run = self.run_graph(g, workers=2)
        self.assertGreaterEqual(run.node("second")["start_s"], run.node("first")["end_s"])


if __name__ == "__main__":
    unittest.main()
