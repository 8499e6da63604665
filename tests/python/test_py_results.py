"""zdag for Python: results and exceptions cross the executors' process boundary."""
import json
import os
import threading
import unittest

from zdagpytest import PyTestCase

import zdag
from zdag import Graph, dag, xn


class Custom(Exception):
    """A module-level exception type the parent can find again."""


@xn
def pid_and(x):
    return os.getpid(), x


@xn
def add(*parts):
    return sum(p[1] if isinstance(p, tuple) else p for p in parts)


@xn
def nested(d):
    return {"total": sum(d["values"]) + sum(e[1] for e in d["extra"]), "keys": sorted(d)}


@xn
def fail_custom(x):
    raise Custom(f"custom failure {x}")


@xn
def fail_key():
    return {}["missing"]


@xn
def fail_undecodable():
    # A file name that is not UTF-8, as os.listdir() gives it (a surrogate escape).
    raise ValueError("bad file " + os.fsdecode(b"caf\xe9"))


@xn
def sleeper(s):
    import time
    time.sleep(s)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickle cannot call it with one argument: it does not pickle
        super().__init__(f"{a}/{b}")

    def __reduce__(self):
        raise TypeError("no pickling")


@xn
def fail_unpicklable():
    raise Unpicklable(1, 2)


@xn
def nested_run():
    g = Graph()
    g.call(pid_and, 1)
    return g.run()


PRINTS = """
import sys
from zdag import dag, xn

@xn
def speak(i):
    print(f"node {i} speaks")
    return i

# One node at a time: the lines of nodes printing at once may interleave (one pipe).
@dag(state_dir="state", max_concurrency=1)
def d():
    return [speak(i) for i in range(3)]

print("before the run", end=" ")  # left in the buffer: the executors must not print it again
sys.stdout.write("(buffered)\\n")
print(d())
"""


SAME_NAMES = """
import json
from zdag import Graph, xn

# Module-level functions that share a module and a qualified name: lambdas made in a loop,
# lambdas handed to Graph.add, a function defined again under the same name.
tens = [xn(lambda k=k: k * 10) for k in range(3)]
letters = [lambda: "a", lambda: "b"]

@xn
def which():
    return "first"
first = which

@xn
def which():
    return "second"

g = Graph()
hs = [g.add(f) for f in tens] + [g.add(f) for f in letters] + [g.add(first), g.add(which)]
run = g.run(state_dir="state")
print(json.dumps([run[h] for h in hs]))
"""


@dag(workers=2)
def pipeline(n):
    parts = [pid_and(i) for i in range(n)]
    return add(*parts), parts


class ResultsTest(PyTestCase):
    def test_results_come_from_other_processes(self):
        total, parts = pipeline.with_options(state_dir=self.state)(5)
        self.assertEqual(total, 10)
        self.assertEqual([p[1] for p in parts], [0, 1, 2, 3, 4])
        self.assertNotIn(os.getpid(), {p[0] for p in parts})

    def test_handles_inside_containers_are_dependencies(self):
        g = Graph()
        a, b = g.call(pid_and, 3), g.call(pid_and, 4)
        out = g.call(nested, {"values": [1, 2], "extra": (a, b)})
        run = g.run(state_dir=self.state, workers=2)
        self.assertTrue(run.ok)
        self.assertEqual(run[out]["total"], 1 + 2 + 3 + 4)
        self.assertEqual(run[out]["keys"], ["extra", "values"])
        self.assertEqual(set(run.results), {"pid_and", "pid_and.1", "nested"})
        node = run.node("nested")
        self.assertEqual(node["status"], "succeeded")
        self.assertGreaterEqual(node["start_s"], max(run.node("pid_and")["end_s"],
                                                     run.node("pid_and.1")["end_s"]))

    def test_outside_a_dag_an_xn_function_just_runs(self):
        self.assertEqual(pid_and(1), (os.getpid(), 1))

    def test_exception_type_and_remote_traceback(self):
        @dag(state_dir=self.state)
        def d():
            return fail_custom(7)
        with self.assertRaises(Custom) as cm:
            d()
        text = str(cm.exception)
        self.assertIn("custom failure 7", text)
        self.assertIn("Remote traceback (zdag node 'fail_custom')", text)
        self.assertIn('raise Custom(f"custom failure {x}")', text)
        self.assertIsInstance(cm.exception.__cause__, zdag.RemoteTraceback)

    def test_exception_with_its_own_str_gets_a_note(self):
        g = Graph()
        g.call(fail_key)
        run = g.run(state_dir=self.state)
        exc = run.errors["fail_key"]
        self.assertIsInstance(exc, KeyError)
        self.assertEqual(exc.args, ("missing",))
        self.assertIn("Remote traceback", exc.__notes__[0])
        self.assertIn('return {}["missing"]', exc.__notes__[0])

    def test_exception_message_with_an_undecodable_file_name(self):
        g = Graph()
        g.call(fail_undecodable)
        run = g.run(state_dir=self.state)
        exc = run.errors["fail_undecodable"]
        self.assertIsInstance(exc, ValueError)
        self.assertIn("bad file caf" + os.fsdecode(b"\xe9"), str(exc))
        self.assertIn("Remote traceback", str(exc))

    def test_unpicklable_exception_comes_back_as_node_error(self):
        g = Graph()
        g.call(fail_unpicklable)
        run = g.run(state_dir=self.state)
        exc = run.errors["fail_unpicklable"]
        self.assertIsInstance(exc, zdag.NodeError)
        self.assertIn("Unpicklable: 1/2", str(exc))

    def test_failure_skips_dependents_and_keep_going_runs_the_rest(self):
        g = Graph()
        bad = g.call(fail_custom, 1)
        g.call(pid_and, bad)
        ok = g.call(pid_and, 2)
        run = g.run(state_dir=self.state, workers=1, keep_going=True)
        self.assertEqual(run.exit_code, 1)
        self.assertEqual(run.statuses, {"fail_custom": "failed", "pid_and": "skipped",
                                        "pid_and.1": "succeeded"})
        self.assertEqual(run[ok][1], 2)
        self.assertIsInstance(run.first_failure(), Custom)
        with self.assertRaises(Custom):
            run["fail_custom"]

    def test_timeout_is_a_node_error(self):
        g = Graph()
        g.add(sleeper, (30,), timeout=0.5)
        run = g.run(state_dir=self.state)
        exc = run.errors["sleeper"]
        self.assertIsInstance(exc, zdag.NodeError)
        self.assertIn("timed out", str(exc))

    def test_threads_refused_unless_allowed(self):
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="bystander")
        t.start()
        try:
            g = Graph()
            h = g.call(pid_and, 1)
            with self.assertRaises(zdag.ForkSafetyError) as cm:
                g.run(state_dir=self.state)
            self.assertIn("bystander", str(cm.exception))
            run = g.run(state_dir=self.state, allow_threads=True)
            self.assertEqual(run[h][1], 1)
        finally:
            stop.set()
            t.join()

    def test_a_node_cannot_start_a_run(self):
        g = Graph()
        g.call(nested_run)
        run = g.run(state_dir=self.state)
        self.assertIsInstance(run.errors["nested_run"], zdag.RunError)
        self.assertIn("a node cannot start a run of its own", str(run.errors["nested_run"]))

    def test_what_nodes_print_appears_once(self):
        out = self.script("prints.py", PRINTS).stdout.splitlines()
        self.assertEqual(out.count("before the run (buffered)"), 1, out)
        self.assertEqual(sorted(ln for ln in out if ln.startswith("node ")),
                         ["node 0 speaks", "node 1 speaks", "node 2 speaks"])
        self.assertEqual(out[-1], "[0, 1, 2]")

    def test_functions_sharing_a_name_each_run_their_own_body(self):
        out = self.script("same_names.py", SAME_NAMES).stdout
        self.assertEqual(json.loads(out), [0, 10, 20, "a", "b", "first", "second"])

    def test_a_handle_of_another_graph_is_no_key(self):
        g1, g2 = Graph(), Graph()
        g1.call(pid_and, 1)
        other = g2.call(pid_and, 2)  # the same node name, in another graph
        run = g1.run(state_dir=self.state)
        with self.assertRaisesRegex(KeyError, "another graph"):
            run[other]

    def test_a_dag_inside_a_dag_adds_its_nodes(self):
        @dag
        def inner(x):
            return add(pid_and(x), pid_and(x + 1))

        @dag(state_dir=self.state)
        def outer():
            return add(inner(1), inner(10))
        self.assertEqual(outer(), (1 + 2) + (10 + 11))
        self.assertEqual(len(outer.graph()), 7)  # 3 nodes of each inner, and add

    def test_a_dag_inside_a_dag_brings_its_pools(self):
        @xn(pool="db")
        def uses_db():
            return "db"

        @dag(pools={"db": 1})
        def inner():
            return uses_db()

        @dag(state_dir=self.state)
        def outer():
            return inner()
        self.assertEqual(outer(), "db")

    def test_bad_options_are_refused(self):
        with self.assertRaises(TypeError):
            xn(priority=1, colour="red")
        with self.assertRaises(TypeError):
            dag(max_concurency=2)
        # Values libzdag refuses are refused where they are given, naming the option.
        for options, text in (({"cpus": -1}, "cpus must be a number >= 0"),
                              ({"timeout": 0}, "timeout must be above 0 seconds"),
                              ({"retries": -1}, "retries must be >= 0"),
                              ({"resources": {"gpu": -1}}, "resource gpu"),
                              ({"resources": {"my gpu": 1}}, "not a valid resource name"),
                              ({"priority": 2**70}, "priority must fit in 64 bits")):
            with self.assertRaisesRegex(ValueError, text):
                xn(**options)
            with self.assertRaisesRegex(ValueError, text):
                Graph().add(pid_and, (1,), **options)
        with self.assertRaisesRegex(TypeError, "pool must be a pool's name"):
            xn(pool=5)
        with self.assertRaisesRegex(ValueError, "'5' is not a valid pool name"):
            Graph(pools={"5": 1})
        with self.assertRaisesRegex(ValueError, "pool db needs a capacity of 1 or more"):
            Graph().pool("db", 0)
        with self.assertRaisesRegex(ValueError, "'my node' is not a valid node name"):
            Graph().add(pid_and, (1,), name="my node")
        g = Graph()
        g.add(pid_and, (1,), pool="nosuchpool")
        with self.assertRaises(zdag.RunError) as cm:
            g.run(state_dir=self.state)
        self.assertIn("nosuchpool", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
