"""A function node that hangs forever, with a `timeout`: on a remote worker (issue 9, item 5:
today nothing enforces it and the run hangs) and on a local executor (a regression test: local
timeouts already work). The run ends with exit 1, the hung node failed with an error that says
"timed out", an independent node succeeded, and `retries: 1` gives two attempts in the node's
`history`.

The deadline (DEADLINE seconds) is this test's own bound for "the run ends", generous on a loaded
machine, not an oracle of speed: the design ends such a run ~1 s (+1 s grace) per attempt."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402
from test_remote import free_port  # noqa: E402

PLUGIN = os.environ.get("ZDAG_TEST_PLUGIN", "")
DEADLINE = 20


def pipeline(retries):
    return f"""
plugins: [{PLUGIN}]
nodes:
  stuck: {{fn: hang, timeout: 1, retries: {retries}}}
  free: {{fn: quick}}
  after_free: {{cmd: 'true', deps: [free], cpus: 0}}
"""


def stop(p):
    """SIGTERM (zdag cleans up its runtime directory and nodes), then SIGKILL after 10 s."""
    if p.poll() is None:
        p.terminate()
        try:
            return p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    return p.communicate(timeout=30)


class TimeoutBase(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(PLUGIN), f"the test plugin was not built: {PLUGIN!r}")
        self.procs = []
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.report = self.path("report.json")

    def tearDown(self):
        for p in self.procs:
            stop(p)
        super().tearDown()

    def spawn(self, *args):
        p = subprocess.Popen([ZDAG, *args], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def ends_in_time(self, p, what):
        try:
            out, err = p.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            out, err = stop(p)
            self.fail(f"{what} did not end within {DEADLINE} s (a hung fn node with timeout: 1)"
                      f"\nstderr: {err[-2000:]}")
        return out, err

    def check(self, retries):
        """Runs to the end; checks the report of the hung node and of its independent peers."""
        self.assertEqual(self.coord.returncode, 1, self.err)
        with open(self.report) as f:
            r = json.load(f)
        self.assertEqual(r["status"], "failed")
        n = nodes_by_name(r)
        stuck = n["stuck"]
        self.assertEqual(stuck["status"], "failed")
        self.assertIn("timed out", stuck["error"] or "")
        self.assertEqual(stuck["attempts"], retries + 1)
        self.assertGreaterEqual(stuck["end_s"] - stuck["start_s"], 0.9)  # not killed early
        self.assertEqual(n["free"]["status"], "succeeded")
        self.assertEqual(n["after_free"]["status"], "succeeded")
        return stuck

    def check_history(self, stuck):
        self.assertIn("history", stuck, "the report's nodes have no attempt history")
        h = stuck["history"]
        self.assertEqual([e["attempt"] for e in h], [1, 2], h)
        self.assertEqual([e["outcome"] for e in h], ["timed out", "timed out"], h)
        for e in h:
            self.assertLessEqual(e["start_s"], e["end_s"], e)
            self.assertGreaterEqual(e["end_s"] - e["start_s"], 0.9, e)
        self.assertGreaterEqual(h[1]["start_s"], h[0]["end_s"], h)


class RemoteTimeoutTest(TimeoutBase):
    def run_remote(self, retries):
        pipe = self.write("pipe.yaml", pipeline(retries))
        self.coord = self.spawn("run", pipe, "-w", "0", "--listen", self.endpoint, "--insecure",
                                "--report", self.report, "--heartbeat", "0.2", "-k")
        w = self.spawn("worker", "--connect", self.endpoint, "--insecure", "--host-id", "fnhost",
                       "--slots", "2", "--cpus", "2")
        _, self.err = self.ends_in_time(self.coord, "zdag run with a remote worker")
        stuck = self.check(retries)
        self.assertEqual(stuck["host"], "fnhost")
        _, werr = self.ends_in_time(w, "the remote worker, after the run's end,")
        self.assertEqual(w.returncode, 0, werr)  # the run's end released it
        return stuck

    def test_hung_function_times_out_on_a_remote_worker(self):
        self.run_remote(0)

    def test_hung_function_retried_on_a_remote_worker(self):
        self.check_history(self.run_remote(1))


class LocalTimeoutTest(TimeoutBase):
    def run_local(self, retries):
        pipe = self.write("pipe.yaml", pipeline(retries))
        self.coord = self.spawn("run", pipe, "-w", "2", "--cpus", "2", "--report", self.report,
                                "-k")
        _, self.err = self.ends_in_time(self.coord, "zdag run with local executors")
        return self.check(retries)

    def test_hung_function_times_out_locally(self):
        self.run_local(0)

    def test_hung_function_retried_locally(self):
        self.check_history(self.run_local(1))


if __name__ == "__main__":
    unittest.main()
