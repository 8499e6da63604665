"""zdag run --target / --exclude: which nodes run, which are reported "excluded", and
priorities computed on the graph that actually runs."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

# fetch -> parse -> train -> report, parse -> lint, docs alone.
PIPE = """
nodes:
  fetch: {cmd: "true"}
  parse: {cmd: "true", deps: [fetch]}
  train: {cmd: "true", deps: [parse], tags: [ml]}
  report: {cmd: "true", deps: [train, parse], tags: [ml, publish]}
  lint: {cmd: "true", deps: [parse]}
  docs: {cmd: "true", tags: [publish]}
"""
ALL = ["fetch", "parse", "train", "report", "lint", "docs"]


class SelectTest(ZdagTestCase):
    def ran(self, *args):
        """Runs the pipeline with args; checks every node is succeeded or excluded (with no
        trace of a run) and returns the names of the succeeded ones, in file order."""
        _, r = self.run_pipeline(PIPE, "-w", "2", *args)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual([x["name"] for x in r["nodes"]], ALL)
        for x in r["nodes"]:
            self.assertIn(x["status"], ("succeeded", "excluded"), x)
            if x["status"] == "excluded":
                self.assertEqual(x["attempts"], 0)
                for key in ("start_s", "end_s", "host", "executor", "exit_code", "error"):
                    self.assertIsNone(x[key], (x["name"], key))
            else:
                self.assertEqual(x["attempts"], 1)
        return [x["name"] for x in r["nodes"] if x["status"] == "succeeded"]

    def test_no_selection_runs_everything(self):
        self.assertEqual(self.ran(), ALL)

    def test_target_runs_it_and_its_ancestors(self):
        self.assertEqual(self.ran("--target", "train"), ["fetch", "parse", "train"])
        self.assertEqual(self.ran("--target", "lint", "--target", "docs"),
                         ["fetch", "parse", "lint", "docs"])

    def test_tag_target(self):
        self.assertEqual(self.ran("--target", "ml"), ["fetch", "parse", "train", "report"])
        self.assertEqual(self.ran("--target", "publish"),
                         ["fetch", "parse", "train", "report", "docs"])

    def test_exclude_leaves_out_descendants(self):
        self.assertEqual(self.ran("--exclude", "train"), ["fetch", "parse", "lint", "docs"])
        self.assertEqual(self.ran("--exclude", "parse", "--exclude", "docs"), ["fetch"])
        self.assertEqual(self.ran("--exclude", "publish"), ["fetch", "parse", "train", "lint"])

    def test_target_and_exclude(self):
        self.assertEqual(self.ran("--target", "report", "--target", "lint", "--exclude", "train"),
                         ["fetch", "parse", "lint"])
        # Excluding an ancestor of a target leaves the target out too.
        self.assertEqual(self.ran("--target", "report", "--exclude", "parse"), ["fetch"])

    def test_everything_excluded_is_an_empty_successful_run(self):
        self.assertEqual(self.ran("--exclude", "fetch", "--exclude", "docs"), [])

    def test_results_hold_only_nodes_that_ran(self):
        results = self.path("results.json")
        self.ran("--target", "parse", "--results", results)
        with open(results) as f:
            self.assertEqual(sorted(json.load(f)), ["fetch", "parse"])

    def test_unknown_names_exit_2_and_are_all_reported(self):
        pipe = self.write("pipe.yaml", PIPE)
        report = self.path("report.json")
        p = self.zdag("run", pipe, "--report", report, "--target", "trian", "--target", "ml",
                      "--exclude", "gone", check=2)
        self.assertIn('zdag: error: --target "trian" names no node or tag; did you mean "train"?',
                      p.stderr)
        self.assertIn('zdag: error: --exclude "gone" names no node or tag', p.stderr)
        self.assertNotIn('"ml"', p.stderr)
        self.assertFalse(os.path.exists(report), "nothing runs on a usage error")
        self.assertFalse(os.path.exists(self.path(".zdag", "logs")))

    def test_target_needs_an_argument(self):
        pipe = self.write("pipe.yaml", PIPE)
        self.zdag("run", pipe, "--target", check=2)

    def test_help_lists_the_options(self):
        p = self.zdag("run", "--help", check=0)
        self.assertIn("--target NODE|TAG", p.stdout)
        self.assertIn("--exclude NODE|TAG", p.stdout)

    def test_priorities_follow_the_selected_graph(self):
        """With one executor, b goes first for its long chain (critical path) or its urgent
        descendant (compound); once that chain is left out, a goes first (declared first)."""
        text = """
nodes:
  a: {cmd: "true"}
  b: {cmd: "true"}
  long1: {cmd: "true", deps: [b], estimate: 100, priority: 5, tags: [slow]}
  long2: {cmd: "true", deps: [long1], estimate: 100}
"""

        runs = []

        def order(*args):
            # A fresh state directory each time: recorded durations would change priorities.
            runs.append(self.path(f"state{len(runs)}"))
            _, r = self.run_pipeline(text, "-w", "1", "--state-dir", runs[-1], *args)
            ran = [x for x in r["nodes"] if x["status"] == "succeeded"]
            return [x["name"] for x in sorted(ran, key=lambda x: x["start_s"])]

        for mode in ("critical-path", "compound"):
            self.assertEqual(order("--priority", mode)[0], "b", mode)
            self.assertEqual(order("--priority", mode, "--exclude", "long1"), ["a", "b"], mode)
            self.assertEqual(order("--priority", mode, "--exclude", "slow"), ["a", "b"], mode)
            self.assertEqual(order("--priority", mode, "--target", "a", "--target", "b"),
                             ["a", "b"], mode)


if __name__ == "__main__":
    unittest.main()
