"""--trace (Chrome trace events) and the progress line."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

# quick ends only once busy has started, so the sequential node must wait for busy.
PIPE = """
pools: {db: 1}
nodes:
  busy: {cmd: "touch busy.started; sleep 0.3", cpus: 0}
  flaky: {cmd: '[ "$ZDAG_ATTEMPT" = 2 ]', retries: 1, cpus: 0}
  quick: {cmd: "until [ -e busy.started ]; do sleep 0.01; done", cpus: 0}
  alone: {cmd: "true", sequential: true, priority: 9, deps: [quick]}
  pooled: {cmd: "true", pool: db, deps: [alone]}
"""


class ObserveTest(ZdagTestCase):
    def test_trace(self):
        trace = self.path("trace.json")
        _, r = self.run_pipeline(PIPE, "-w", "3", "--trace", trace)
        with open(trace) as f:
            t = json.load(f)
        events = t["traceEvents"]
        slices = [e for e in events if e["ph"] == "X"]
        # one slice per attempt: flaky ran twice
        self.assertEqual(sorted(e["name"] for e in slices),
                         ["alone", "busy", "flaky", "flaky", "pooled", "quick"])
        flaky = sorted((e for e in slices if e["name"] == "flaky"), key=lambda e: e["ts"])
        self.assertEqual([e["args"]["attempt"] for e in flaky], [1, 2])
        self.assertEqual([e["args"]["status"] for e in flaky], ["failed", "succeeded"])
        self.assertEqual(flaky[0]["args"]["exit_code"], 1)
        n = nodes_by_name(r)
        for e in slices:
            node = n[e["name"]]
            self.assertEqual(e["tid"], node["executor"] if e["name"] != "flaky" else e["tid"])
            self.assertGreaterEqual(e["dur"], 0)
        alone = next(e for e in slices if e["name"] == "alone")
        self.assertAlmostEqual(alone["ts"] / 1e6, n["alone"]["start_s"], delta=0.001)
        # each executor track is named; lease grants and the sequential wait are instants
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        for e in slices:
            self.assertEqual(names[(e["pid"], e["tid"])], f"executor {e['tid']}")
        instants = [(e["name"], e.get("args", {}).get("detail")) for e in events
                    if e["ph"] == "i"]
        self.assertIn(("lease: sequential", "alone"), instants)
        self.assertIn(("lease: pool db", "pooled"), instants)
        self.assertIn(("sequential wait", "alone"), instants)  # busy was still running

    def test_progress_forced_when_not_a_terminal(self):
        p, _ = self.run_pipeline(PIPE, "-w", "3", "--progress")
        lines = p.stdout.strip().splitlines()
        self.assertTrue(lines)
        self.assertRegex(lines[-1], r"^\[5/5\] 0 running, 0 failed, [\d.]+ s elapsed, ETA 0 s$")
        for line in lines:
            self.assertRegex(line, r"^\[\d/5\] \d+ running, \d+ failed, [\d.]+ s elapsed, ETA ")

    def test_no_progress_by_default_off_a_terminal_or_with_quiet(self):
        p, _ = self.run_pipeline(PIPE, "-w", "3")
        self.assertEqual(p.stdout, "")
        self.assertIn("succeeded", p.stderr)
        p, _ = self.run_pipeline(PIPE, "-w", "3", "--progress", "-q")
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "")


if __name__ == "__main__":
    unittest.main()
