"""SIGINT/SIGTERM: running nodes' whole process trees are killed, the report says
"interrupted", the runtime directory is removed, and no process is left behind."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402


class SignalTest(ZdagTestCase):
    def interrupt(self, sig, expected, twice=False):
        started = self.path("started")
        text = f"""
nodes:
  done_early: {{cmd: 'true', cpus: 0}}
  tree1: {{cmd: 'touch {started}.1; sleep 100 & sleep 100', cpus: 0, deps: [done_early]}}
  tree2: {{cmd: 'touch {started}.2; (sleep 100; true) & wait', cpus: 0, deps: [done_early]}}
  never: {{cmd: 'true', deps: [tree1]}}
"""
        pipe = self.write("pipe.yaml", text)
        report = self.path("report.json")
        proc = self.start("run", pipe, "-w", "3", "--report", report)
        deadline = time.time() + 30
        while not (os.path.exists(started + ".1") and os.path.exists(started + ".2")):
            self.assertLess(time.time(), deadline, "nodes did not start")
            time.sleep(0.02)
        proc.send_signal(sig)
        if twice:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, expected, err)
        with open(report) as f:
            r = json.load(f)
        self.assertEqual(r["status"], "interrupted")
        self.assertEqual(r["exit_code"], expected)
        n = nodes_by_name(r)
        self.assertEqual(n["done_early"]["status"], "succeeded")
        for name in ("tree1", "tree2"):
            self.assertEqual(n[name]["status"], "skipped")
            self.assertEqual(n[name]["error"], "interrupted")
        self.assertEqual(n["never"]["status"], "skipped")
        # tearDown: no sleep of either tree survives, the runtime directory is gone

    def test_sigterm(self):
        self.interrupt(signal.SIGTERM, 143)

    def test_sigint(self):
        self.interrupt(signal.SIGINT, 130)

    def test_second_sigint_still_cleans_up(self):
        self.interrupt(signal.SIGINT, 130, twice=True)


if __name__ == "__main__":
    unittest.main()
