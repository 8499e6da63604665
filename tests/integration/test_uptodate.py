"""Files that are up to date (issue 12 §2): nodes whose declared outputs are newer than their
inputs and their dependencies' outputs, with an unchanged definition, are not run; a touched
input re-runs its downstream only; a changed command re-runs; --force; a missing declared output
fails the node; a failed node's outputs are removed unless `keep`. What ran is read from the
lines the commands append to a file, times are set with os.utime (never a clock race)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

PIPE = """
nodes:
  upper:
    cmd: "echo upper >> ran; tr a-z A-Z < src.txt > up.txt"
    inputs: [src.txt]
    outputs: [up.txt]
  count:
    cmd: "echo count >> ran; wc -c < up.txt > count.txt; cat count.txt"
    inputs: [up.txt]
    outputs: [count.txt]
  other:
    cmd: "echo other >> ran; cp other.txt other.out"
    inputs: ["o*.txt"]
    outputs: [other.out]
  always:
    cmd: "echo always >> ran"
"""


class UpToDateTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.write("src.txt", "hello\n")
        self.write("other.txt", "x\n")

    def run_it(self, *args, text=PIPE, check=0):
        if os.path.exists(self.path("ran")):
            os.unlink(self.path("ran"))
        _, r = self.run_pipeline(text, "-q", "-j", "1", *args, check=check)
        with open(self.path("ran")) if os.path.exists(self.path("ran")) else open(os.devnull) as f:
            ran = sorted(f.read().split())
        return ran, {n: x["status"] for n, x in nodes_by_name(r).items()}, r

    def age(self, name, seconds):
        """Sets name's modification time `seconds` before now (negative: after)."""
        import time
        t = time.time() - seconds
        os.utime(self.path(name), (t, t))

    def settle(self):
        """Makes every file older than the outputs made after it, whatever the clock's grain:
        inputs 100 s in the past, outputs 50 s."""
        for f in ("src.txt", "other.txt"):
            self.age(f, 100)
        for f in ("up.txt", "count.txt", "other.out"):
            self.age(f, 50)

    def test_fresh_outputs_are_not_run_again(self):
        ran, st, _ = self.run_it()
        self.assertEqual(ran, ["always", "count", "other", "upper"])
        self.settle()
        ran, st, r = self.run_it()
        self.assertEqual(ran, ["always"])  # a node without outputs always runs
        self.assertEqual(st, {"upper": "up-to-date", "count": "up-to-date",
                              "other": "up-to-date", "always": "succeeded"})
        # Its dependents see its previous result: count's result is the earlier run's stdout.
        self.assertEqual(nodes_by_name(r)["count"]["attempts"], 0)

    def test_a_touched_input_reruns_its_downstream_only(self):
        self.run_it()
        self.settle()
        self.age("src.txt", -100)  # newer than up.txt now
        ran, st, _ = self.run_it()
        self.assertEqual(ran, ["always", "count", "upper"])
        self.assertEqual(st["other"], "up-to-date")
        self.settle()
        self.age("other.txt", -100)  # matched by the pattern o*.txt
        ran, _, _ = self.run_it()
        self.assertEqual(ran, ["always", "other"])

    def test_an_output_touched_by_hand_reruns_its_dependents(self):
        self.run_it()
        self.settle()
        self.age("up.txt", -100)  # newer than count.txt
        ran, _, _ = self.run_it()
        self.assertEqual(ran, ["always", "count"])

    def test_a_changed_command_reruns(self):
        self.run_it()
        self.settle()
        ran, _, _ = self.run_it(text=PIPE.replace("tr a-z A-Z", "tr a-z A-Z "))
        self.assertEqual(ran, ["always", "count", "upper"])

    def test_a_missing_output_reruns(self):
        self.run_it()
        self.settle()
        os.unlink(self.path("count.txt"))
        ran, _, _ = self.run_it()
        self.assertEqual(ran, ["always", "count"])

    def test_force(self):
        self.run_it()
        self.settle()
        ran, _, _ = self.run_it("--force=upper")
        self.assertEqual(ran, ["always", "count", "upper"])
        self.settle()
        ran, _, _ = self.run_it("--force")
        self.assertEqual(ran, ["always", "count", "other", "upper"])
        p = self.zdag("run", self.path("pipe.yaml"), "--force=nope", check=2)
        self.assertIn('--force "nope" names no node or tag', p.stderr)

    def test_a_declared_output_must_be_created(self):
        text = 'nodes:\n  a: {cmd: "echo a >> ran", outputs: [made.txt]}\n'
        _, st, r = self.run_it(text=text, check=1)
        a = nodes_by_name(r)["a"]
        self.assertEqual(a["status"], "failed")
        self.assertEqual(a["error"], f"declared output {self.path('made.txt')} was not created")

    def test_a_failed_nodes_outputs_are_removed_unless_kept(self):
        text = ('nodes:\n'
                '  a: {cmd: "echo half > a.out; exit 1", outputs: [a.out]}\n'
                '  b: {cmd: "echo half > b.out; exit 1", outputs: [b.out], keep: true}\n')
        self.run_it("-k", text=text, check=1)
        self.assertFalse(os.path.exists(self.path("a.out")))
        with open(self.path("b.out")) as f:
            self.assertEqual(f.read(), "half\n")

    def test_files_make_the_dependencies(self):
        """count names no deps: its input up.txt is upper's output, so it runs after it."""
        ran, st, r = self.run_it()
        n = nodes_by_name(r)
        self.assertLessEqual(n["upper"]["end_s"], n["count"]["start_s"])
        p = self.zdag("graph", self.path("pipe.yaml"), check=0)
        self.assertIn('"upper" -> "count"', p.stdout)


if __name__ == "__main__":
    unittest.main()
