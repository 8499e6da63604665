"""zdag check, graph, help, --version and the exit statuses of invalid usage."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402

VALID = """
pools: {db: 1}
nodes:
  fetch: {cmd: "true", priority: 10}
  parse: {cmd: [echo, x], deps: [fetch], sequential: true}
  load: {cmd: "true", deps: [parse], pool: db}
"""


class CliTest(ZdagTestCase):
    def test_check_valid_prints_nothing(self):
        p = self.zdag("check", self.write("ok.yaml", VALID), check=0)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "")

    def test_check_reports_every_error_with_position(self):
        text = ("nodes:\n"
                "  a: {cmd: x, deps: [fecth]}\n"
                "  b: {cmd: x, prority: 1}\n"
                "  c: {cmd: x, deps: [d]}\n"
                "  d: {cmd: x, deps: [c]}\n")
        pipe = self.write("bad.yaml", text)
        p = self.zdag("check", pipe, check=2)
        self.assertIn(f'{pipe}:2:22: error: node "a" depends on unknown node "fecth"', p.stderr)
        self.assertIn(f"{pipe}:3:15: error:", p.stderr)
        self.assertIn("prority", p.stderr)
        self.assertIn("error: cycle: c -> d -> c", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_missing_file_and_usage(self):
        p = self.zdag("check", self.path("nope.yaml"), check=2)
        self.assertIn("nope.yaml", p.stderr)
        self.zdag("check", check=2)
        self.zdag("frobnicate", check=2)
        self.zdag("run", check=2)
        self.zdag("run", self.write("ok.yaml", VALID), "--jobs", "zero", check=2)
        self.zdag("run", self.write("ok.yaml", VALID), "--priority", "fifo", check=2)
        self.zdag("run", self.write("ok.yaml", VALID), "--no-such-flag", check=2)

    def test_run_refuses_invalid_pipeline(self):
        p = self.zdag("run", self.write("bad.yaml", "nodes:\n  a: {deps: [b]}\n"), check=2)
        self.assertIn("bad.yaml:2:", p.stderr)

    def test_unwritable_state_dir_exits_3(self):
        blocker = self.write("file", "not a directory")
        p = self.zdag("run", self.write("ok.yaml", VALID), "--state-dir",
                      os.path.join(blocker, "state"), check=3)
        self.assertIn("state directory", p.stderr)

    def test_graph_dot(self):
        p = self.zdag("graph", self.write("ok.yaml", VALID), check=0)
        out = p.stdout
        self.assertTrue(out.startswith("digraph"))
        self.assertIn('"fetch" -> "parse"', out)
        self.assertIn('"parse" -> "load"', out)
        self.assertIn("sequential", out)
        self.assertIn("pool: db", out)
        self.assertIn("10", out)  # fetch's priority

    def test_version_and_help(self):
        p = self.zdag("--version", check=0)
        self.assertRegex(p.stdout, r"^zdag \d+\.\d+\.\d+\n$")
        self.assertIn("run FILE", self.zdag("help", check=0).stdout)
        self.assertIn("--jobs", self.zdag("help", "run", check=0).stdout)
        self.assertIn("--jobs", self.zdag("run", "--help", check=0).stdout)
        self.assertIn("DOT", self.zdag("graph", "--help", check=0).stdout)
        self.zdag("help", "nope", check=2)


if __name__ == "__main__":
    unittest.main()
