"""zdag for Python: the examples in examples/python run and check what they claim."""
import json
import os
import re
import unittest

from zdagpytest import SOURCE, PyTestCase, overlaps

EXAMPLES = os.path.join(SOURCE, "examples", "python")


class ExamplesTest(PyTestCase):
    def example(self, name, *args):
        with open(os.path.join(EXAMPLES, name)) as f:
            return self.script(name, f.read(), *args).stdout

    def test_priority_dag_takes_three_units(self):
        out = self.example("priority.py", "0.3")
        self.assertIn("steps: (a) -> (c & d) -> (b & e)", out)
        self.assertIn("results: ('ab', 'ac', 'ade')", out)

    def summations(self, report_path):
        with open(report_path) as f:
            nodes = {n["name"]: n for n in json.load(f)["nodes"]}
        a, b = nodes["python_calculation_exec_node"], nodes["python_calculation_exec_node.1"]
        for n in (a, b):
            self.assertEqual(n["status"], "succeeded")
        return a, b

    def test_io_cpu_summations_parallel_only_with_three(self):
        reports = self.path("reports")
        os.mkdir(reports)
        out = self.example("io_cpu.py", "5000000", reports)
        # The report's own times: with max_concurrency 3 the two summations ran at once, on two
        # executors of this host; with 2 (the fetch holds the other unit) one after the other.
        a, b = self.summations(os.path.join(reports, "report-3.json"))
        self.assertTrue(overlaps(a, b), (a, b))
        self.assertEqual(a["host"], b["host"])
        self.assertNotEqual(a["executor"], b["executor"])
        a, b = self.summations(os.path.join(reports, "report-2.json"))
        self.assertFalse(overlaps(a, b), (a, b))
        lines = out.splitlines()
        two = lines.index(next(ln for ln in lines if ln.startswith("max_concurrency=2:")))
        three = lines.index(next(ln for ln in lines if ln.startswith("max_concurrency=3:")))
        self.assertRegex(lines[two], r"= \d+$")
        self.assertIn("the two summations did not overlap", lines[two + 1])
        self.assertIn("the two summations ran in parallel", lines[three + 1])
        self.assertEqual(len(re.findall("final ExecNode", out)), 2)

    def test_figures_drawn_in_parallel_are_each_right(self):
        out = self.example("figures.py", self.path("figs"), "5")
        self.assertRegex(out, r"5 figures drawn in [12] processes: all checked")
        self.assertEqual(sorted(os.listdir(self.path("figs"))),
                         [f"figure-{i}.png" for i in range(5)])


if __name__ == "__main__":
    unittest.main()
