"""zdag worker --metrics (issue 13, "A live run": metrics for `zdag worker --forever` services):
a worker serving two runs one after the other exposes Prometheus text over HTTP with its slots
and CPU units (offered, in use while a node is held), the attempts its executors started,
succeeded, failed and lost, the runs it joined, whether it is connected and how long ago its
coordinator spoke. The counters are checked exactly after each run, against the run's report.
A held node (it waits for a file the test writes) makes the in-use gauges observable without
relying on timing."""
import json
import math
import os
import signal
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, free_port  # noqa: E402


def samples(text):
    """{series: value} of a Prometheus text exposition (comments left out)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


class WorkerMetricsTest(ZdagTestCase):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.metrics}/metrics"

    def scrape(self):
        with urllib.request.urlopen(self.url, timeout=10) as r:
            self.assertEqual(r.headers["Content-Type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            text = r.read().decode()
        self.assertIn("# TYPE zdag_worker_attempts_started_total counter\n", text)
        self.assertIn("# TYPE zdag_worker_slots_busy gauge\n", text)
        return samples(text)

    def wait_for(self, what, check):
        """Scrapes until check(samples) holds (the snapshot is at most 0.5 s old)."""
        deadline = time.time() + 30
        while True:
            try:
                got = self.scrape()
                if check(got):
                    return got
            except urllib.error.URLError:
                got = None  # not listening yet
            if time.time() > deadline:
                self.fail(f"the worker's metrics never showed {what}: {got}")
            time.sleep(0.05)

    def run_pipeline(self, name, text):
        pipe = self.write(name, text)
        report = self.path(name + ".report.json")
        coord = self.background("run", pipe, "-w", "0", "--listen", self.endpoint,
                                "--insecure", "--heartbeat", "0.2", "-k", "-q", "--report", report)
        return coord, report

    def finish(self, coord, report, expect):
        _, err = coord.communicate(timeout=120)
        self.assertEqual(coord.returncode, expect, err)
        with open(report) as f:
            return {n["name"]: n for n in json.load(f)["nodes"]}

    def assert_idle_after(self, s, started, succeeded, failed, lost, runs):
        """s: a worker not in a run, its slots and CPU units free, with these counts."""
        got = {k[len("zdag_worker_"):]: v for k, v in s.items()
               if k != "zdag_worker_heartbeat_age_seconds" and not k.startswith("zdag_worker_info")}
        self.assertEqual(got, {
            "slots": 2, "slots_busy": 0, "cpus": 2, "cpus_used": 0,
            "attempts_started_total": started, "attempts_succeeded_total": succeeded,
            "attempts_failed_total": failed, "attempts_lost_total": lost,
            "runs_joined_total": runs, "connected": 0})

    def test_gauges_and_counters_over_two_runs(self):
        worker = self.background("worker", "--connect", self.endpoint, "--insecure",
                                 "--host-id", "wm", "--slots", "2", "--cpus", "2", "--forever",
                                 "--metrics", self.metrics)
        idle = self.wait_for("an answer", lambda s: True)
        self.assertEqual(idle[f'zdag_worker_info{{host="wm",connect="{self.endpoint}"}}'], 1)
        self.assertTrue(math.isnan(idle["zdag_worker_heartbeat_age_seconds"]))
        self.assert_idle_after(idle, started=0, succeeded=0, failed=0, lost=0, runs=0)

        # Run 1: `hold` (1.5 CPU units) runs alone until the test writes `go`; then two nodes
        # succeed and one fails (-k runs them all).
        started, go = self.path("started"), self.path("go")
        coord, report = self.run_pipeline("one.yaml", (
            "nodes:\n"
            f"  hold: {{cpus: 1.5, cmd: 'echo up > {started}; until [ -e {go} ]; do sleep 0.02;"
            " done'}\n"
            "  ok1: {deps: [hold], cmd: 'true'}\n"
            "  ok2: {deps: [hold], cmd: 'echo fine'}\n"
            "  bad: {deps: [hold], cmd: 'exit 3'}\n"))
        try:
            self.wait_for_file(started)
            held = self.wait_for("hold running", lambda s: s["zdag_worker_slots_busy"] == 1)
            self.assertEqual(held["zdag_worker_cpus_used"], 1.5)
            self.assertEqual(held["zdag_worker_connected"], 1)
            self.assertEqual(held["zdag_worker_runs_joined_total"], 1)
            self.assertEqual(held["zdag_worker_attempts_started_total"], 1)
            self.assertEqual(held["zdag_worker_attempts_succeeded_total"], 0)
            self.assertLess(held["zdag_worker_heartbeat_age_seconds"], 2.0)  # hb 0.2 s
        finally:
            self.write("go", "")
        nodes = self.finish(coord, report, 1)
        self.assertEqual({n: v["status"] for n, v in nodes.items()},
                         {"hold": "succeeded", "ok1": "succeeded", "ok2": "succeeded",
                          "bad": "failed"})
        self.assertEqual({v["host"] for v in nodes.values()}, {"wm"})
        after = self.wait_for("the end of run 1",
                              lambda s: s["zdag_worker_connected"] == 0 and
                              s["zdag_worker_runs_joined_total"] == 1)
        self.assert_idle_after(after, started=4, succeeded=3, failed=1, lost=0, runs=1)
        self.assertEqual(sum(v["attempts"] for v in nodes.values()), 4)

        # Run 2, served by the same --forever worker: a node kills its own executor once (an
        # attempt lost, run again), another succeeds. The counters go on from run 1.
        once = self.path("once")
        coord, report = self.run_pipeline("two.yaml", (
            "nodes:\n"
            f"  crash: {{cmd: 'if [ -e {once} ]; then echo again; else touch {once};"
            " kill -9 $PPID; sleep 30; fi'}\n"
            "  fine: {cmd: 'true'}\n"))
        nodes = self.finish(coord, report, 0)
        self.assertEqual(nodes["crash"]["attempts"], 2)
        self.assertEqual(nodes["fine"]["attempts"], 1)
        after = self.wait_for("the end of run 2",
                              lambda s: s["zdag_worker_connected"] == 0 and
                              s["zdag_worker_runs_joined_total"] == 2)
        self.assert_idle_after(after, started=7, succeeded=5, failed=1, lost=1, runs=2)
        self.assertGreaterEqual(after["zdag_worker_heartbeat_age_seconds"], 0)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        self.assertEqual(worker.returncode, 143, err)

    def test_an_address_that_cannot_serve(self):
        p = self.zdag("worker", "--connect", self.endpoint, "--insecure", "--metrics", "99999",
                      timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--metrics 99999: the port must be 1 to 65535", p.stderr)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            addr = f"127.0.0.1:{taken.getsockname()[1]}"
            p = self.zdag("worker", "--connect", self.endpoint, "--insecure", "--metrics", addr,
                          timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(f"--metrics {addr}: cannot listen there", p.stderr)
        self.assertNotIn("joined", p.stderr)  # it said so before trying to join


if __name__ == "__main__":
    unittest.main()
