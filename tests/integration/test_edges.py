"""Runs that cannot start or lose their reader: the report is written on every exit path,
`ulimit -n 16` is a clean exit 3 (no libzmq abort), and `--progress | head -c1` neither kills
the run nor changes its exit status."""
import json
import os
import resource
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase  # noqa: E402

TWO = """
nodes:
  a: {cmd: "sleep 0.3"}
  b: {cmd: "sleep 0.3", deps: [a]}
"""


class EdgesTest(ZdagTestCase):
    def assert_error_report(self, report, exit_code, why_part, n_nodes):
        self.assertEqual(report["status"], "error")
        self.assertEqual(report["exit_code"], exit_code)
        self.assertIn(why_part, report["error"])
        self.assertEqual(len(report["nodes"]), n_nodes)
        for n in report["nodes"]:
            self.assertEqual(n["status"], "skipped")
            self.assertEqual(n["attempts"], 0)

    def test_unusable_state_dir_writes_an_error_report(self):
        not_dir = self.write("not-a-dir", "")
        p, r = self.run_pipeline(TWO, "--state-dir", not_dir, check=3)
        self.assertIn("zdag: cannot write to the state directory", p.stderr)
        self.assert_error_report(r, 3, "cannot write to the state directory", 2)

    def test_invalid_pipeline_is_no_run_and_has_no_report(self):
        pipe = self.write("bad.yaml", "nodes: {a: {cmd: 1\n")
        self.zdag("run", pipe, "--report", self.path("report.json"), check=2)
        self.assertFalse(os.path.exists(self.path("report.json")))

    def test_too_few_descriptors_is_exit_3_with_a_report(self):
        def low_nofile():
            resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
        pipe = self.write("pipe.yaml", TWO)
        report = self.path("report.json")
        p = subprocess.run([ZDAG, "run", pipe, "--report", report], cwd=self.dir, env=self.env,
                           capture_output=True, text=True, timeout=60, preexec_fn=low_nofile)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("zdag: too few file descriptors: ulimit -n is 16, this run needs at least",
                      p.stderr)
        with open(report) as f:
            self.assert_error_report(json.load(f), 3, "too few file descriptors", 2)

    def test_progress_reader_going_away(self):
        pipe = self.write("pipe.yaml", TWO)
        report = self.path("report.json")
        zdag = subprocess.Popen([ZDAG, "run", pipe, "--progress", "--report", report],
                                cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        zdag.stdout.read(1)
        zdag.stdout.close()  # what `| head -c1` does
        _, err = zdag.communicate(timeout=60)
        self.assertEqual(zdag.returncode, 0, err)
        self.assertIn("zdag: succeeded: 2 succeeded", err)
        with open(report) as f:
            self.assertEqual(json.load(f)["status"], "succeeded")


if __name__ == "__main__":
    unittest.main()
