"""The report's per-attempt "history" (issue 9; SPEC section 7): every node keeps its
last-attempt fields and gains "history": [{"attempt", "host", "executor", "ready_s", "start_s",
"end_s", "outcome"}], one per attempt, lost and retried ones included. Today the report has no
"history" at all, so every test here fails on its first assertIn."""
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402
from test_fd_exhaustion import children  # noqa: E402

FIELDS = {"attempt", "host", "executor", "ready_s", "start_s", "end_s", "outcome"}
OUTCOMES = {"succeeded", "failed", "timed out", "lost", "fenced", "interrupted", "cancelled"}


class HistoryTest(ZdagTestCase):
    def history(self, node):
        self.assertIn("history", node, f"node {node['name']} has no history")
        h = node["history"]
        self.assertIsInstance(h, list)
        self.assertEqual(len(h), node["attempts"], h)
        for i, e in enumerate(h):
            self.assertEqual(set(e), FIELDS, e)
            self.assertEqual(e["attempt"], i + 1, h)
            self.assertIn(e["outcome"], OUTCOMES, e)
            self.assertLessEqual(e["ready_s"], e["start_s"], e)
            self.assertLessEqual(e["start_s"], e["end_s"], e)
            if i:
                self.assertGreaterEqual(e["start_s"], h[i - 1]["end_s"], h)
                self.assertGreaterEqual(e["ready_s"], h[i - 1]["end_s"], h)  # ready again after
        last = h[-1]
        for k in ("host", "executor", "start_s", "end_s"):  # the last-attempt fields stay
            self.assertEqual(node[k], last[k], k)
        return h

    def test_failed_twice_then_succeeded(self):
        count = self.path("count")
        seen = self.path("seen")
        fails_twice = (f"echo $ZDAG_ATTEMPT >> {seen}; n=$(cat {count} 2>/dev/null || echo 0); "
                       f"n=$((n+1)); echo $n > {count}; [ $n -ge 3 ]")
        text = f"""
nodes:
  flaky: {{cmd: '{fails_twice}', retries: 2, cpus: 0}}
  steady: {{cmd: 'true', cpus: 0}}
"""
        _, r = self.run_pipeline(text, "-w", "2")
        self.assertEqual(r["status"], "succeeded")
        n = nodes_by_name(r)
        self.assertEqual(n["flaky"]["status"], "succeeded")
        self.assertEqual(n["flaky"]["attempts"], 3)
        h = self.history(n["flaky"])
        self.assertEqual([e["outcome"] for e in h], ["failed", "failed", "succeeded"])
        with open(seen) as f:  # the attempt numbers the command itself was given
            self.assertEqual([int(x) for x in f.read().split()], [e["attempt"] for e in h])
        self.assertEqual([e["outcome"] for e in self.history(n["steady"])], ["succeeded"])

    def test_killed_executor_is_a_lost_attempt(self):
        started = self.path("started")
        text = f"""
nodes:
  victim: {{cmd: 'if [ "$ZDAG_ATTEMPT" = 1 ]; then echo x > {started}; sleep 30; fi', cpus: 0}}
  after: {{cmd: 'true', deps: [victim], cpus: 0}}
"""
        pipe = self.write("pipe.yaml", text)
        report = self.path("report.json")
        proc = self.start("run", pipe, "-w", "2", "--report", report)
        try:
            self.wait_for_file(started, timeout=30)
            # the executor running victim: the zdag child that is an ancestor of its shell
            shells = [p for p in self.procs_with_env("ZDAG_NODE=victim")]
            self.assertTrue(shells, "victim's command not found")
            executors = set(children(proc.pid))
            victim_executor = None
            for pid in shells:
                while pid > 1 and victim_executor is None:
                    if pid in executors:
                        victim_executor = pid
                    pid = ppid(pid)
            self.assertIsNotNone(victim_executor, "victim's executor not found")
            os.kill(victim_executor, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        with open(report) as f:
            r = json.load(f)
        n = nodes_by_name(r)
        self.assertEqual(n["victim"]["status"], "succeeded")
        h = self.history(n["victim"])
        self.assertEqual([e["outcome"] for e in h], ["lost", "succeeded"], h)
        self.assertEqual(n["after"]["status"], "succeeded")

    def procs_with_env(self, entry):
        """PIDs of our test's processes whose environment holds entry (KEY=VALUE)."""
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if entry.encode() in env and f"ZDAG_TEST_MARKER={self.marker}".encode() in env:
                found.append(int(p))
        return found


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


if __name__ == "__main__":
    unittest.main()
