"""--report, --trace and --results are checked before the first node starts: a path that
cannot be written is invalid usage (exit 2, a clear message), and no node runs. A bad
--listen endpoint is invalid usage too; one already taken cannot run (exit 3)."""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402


class OutputPathsTest(ZdagTestCase):
    def pipeline(self):
        self.ran = self.path("ran")
        return self.write("pipe.yaml", f"nodes:\n  a: {{cmd: 'touch {self.ran}'}}\n"
                                       f"  b: {{cmd: 'true', deps: [a]}}\n")

    def refused(self, *args, says):
        p = self.zdag("run", self.pipeline(), *args, check=2)
        self.assertIn(says, p.stderr)
        self.assertFalse(os.path.exists(self.ran), "a node ran")
        self.assertNotIn("succeeded", p.stderr)
        self.assertNotIn("failed", p.stderr)
        return p

    def test_report_in_a_missing_directory(self):
        self.refused("--report", "/nonexistent/r.json",
                     says="cannot write the report /nonexistent/r.json: its directory "
                          "/nonexistent: No such file or directory")

    def test_trace_in_a_missing_directory(self):
        report = self.path("report.json")
        self.refused("--trace", "/nonexistent/t.json", "--report", report,
                     says="cannot write the trace /nonexistent/t.json")
        self.assertFalse(os.path.exists(report), "invalid usage is not a run: no report")

    def test_results_that_is_a_directory(self):
        os.mkdir(self.path("out"))
        self.refused("--results", self.path("out"),
                     says=f"cannot write the results {self.path('out')}: it is a directory")

    def test_unwritable_directory(self):
        if os.geteuid() == 0:
            ro = "/proc/zdag-report.json"  # root writes anywhere but /proc
        else:
            os.mkdir(self.path("ro"), 0o500)
            ro = self.path("ro", "r.json")
        self.refused("--report", ro, says=f"cannot write the report {ro}")

    def test_good_paths_still_work(self):
        pipe = self.pipeline()
        self.zdag("run", pipe, "--report", self.path("r.json"), "--trace", self.path("t.json"),
                  "--results", self.path("res.json"), check=0)
        for name in ("r.json", "t.json", "res.json"):
            self.assertTrue(os.path.exists(self.path(name)), name)
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith(".zdag-probe")], [])

    def test_bad_listen_endpoint_is_usage(self):
        for endpoint in ("bogus://x", "tcp://", "tcp://300.1.1.1:7700", "ipc://",
                         "tcp://127.0.0.1:70000", "ipc:///nonexistent/zdag/coord"):
            p = self.zdag("run", self.pipeline(), "-w", "0", "--listen", endpoint, "--insecure",
                          check=2)
            self.assertIn(endpoint, p.stderr)
            self.assertIn("--listen", p.stderr)
            self.assertFalse(os.path.exists(self.ran))


    def test_listen_endpoint_in_use_cannot_run(self):
        # Said by the run's own bind (the check before the run never listens there): exit 3.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            endpoint = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
            p = self.zdag("run", self.pipeline(), "-w", "0", "--listen", endpoint, "--insecure",
                          check=3)
        self.assertIn(f"cannot listen on {endpoint}: Address already in use", p.stderr)
        self.assertFalse(os.path.exists(self.ran), "a node ran")

if __name__ == "__main__":
    unittest.main()
