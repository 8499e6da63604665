"""Tasks sent ahead (README "Sending ahead"): an executor holds several tasks and runs them one
at a time. Order and counts come from lines the nodes' own commands write, never from timing:
an executor killed while it holds tasks loses the ones it started (each a lost attempt in the
report, also when its RESULT died with the process), and every other task runs exactly once
elsewhere; after a failure, a node's command ran exactly when the report counts an
attempt (what was sent ahead and dropped never ran and is skipped with none)."""
import collections
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402
from test_fd_exhaustion import children  # noqa: E402

N = 400


class AheadTest(ZdagTestCase):
    def ran(self, ticks):
        """(node, attempt) -> times its command wrote its line."""
        with open(ticks) as f:
            return collections.Counter(tuple(line.split()) for line in f if line.strip())

    def test_killed_executor_tasks_run_once_elsewhere(self):
        ticks = self.path("ticks")
        nodes = "".join(f"  n{i}: {{cmd: 'echo $ZDAG_NODE $ZDAG_ATTEMPT >> {ticks}'}}\n"
                        for i in range(N))
        pipe = self.write("pipe.yaml", "nodes:\n" + nodes)
        report = self.path("report.json")
        proc = self.start("run", pipe, "-w", "2", "--report", report)
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(ticks) and os.path.getsize(ticks) >= N // 4 * len("n100 1\n"):
                break
            time.sleep(0.005)
        executors = children(proc.pid)
        self.assertTrue(executors)
        os.kill(executors[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        with open(report) as f:
            r = json.load(f)
        n = nodes_by_name(r)
        self.assertEqual(len(n), N)
        ran = self.ran(ticks)
        lost = [x for x in n.values() if any(h["outcome"] == "lost" for h in x["history"])]
        # only what the executor had started: up to the one it ran, of the 33 it may hold
        self.assertLessEqual(len(lost), 33, lost)
        for name, node in n.items():
            self.assertEqual(node["status"], "succeeded", node)
            lost_here = sum(h["outcome"] == "lost" for h in node["history"])
            self.assertEqual(node["attempts"], 1 + lost_here, node)
            last = (name, str(node["attempts"]))
            self.assertEqual(ran[last], 1, (name, node["history"], err))  # its last ran once
        for (name, attempt), times in ran.items():
            self.assertEqual(times, 1, (name, attempt, err))  # no attempt ran twice
            self.assertLessEqual(int(attempt), n[name]["attempts"])

    def test_failure_starts_nothing_sent_ahead(self):
        ticks = self.path("ticks")
        nodes = "".join(f"  n{i}: {{cmd: 'echo $ZDAG_NODE >> {ticks}', priority: {N - i}}}\n"
                        for i in range(N))
        nodes += f"  bad: {{cmd: 'echo bad >> {ticks}; exit 1', priority: {N // 2}}}\n"
        _, r = self.run_pipeline("nodes:\n" + nodes, "-w", "2", "--priority", "user", check=1)
        n = nodes_by_name(r)
        ran = self.ran(ticks)
        started = {name for (name,) in ran}
        for name, node in n.items():
            # a node's command ran exactly when the report says it was attempted
            self.assertEqual(name in started, node["attempts"] == 1, node)
            self.assertIn(node["status"], ("succeeded", "failed", "skipped"), node)
            if node["status"] == "skipped":
                self.assertEqual(node["attempts"], 0, node)
        self.assertEqual(n["bad"]["status"], "failed")
        self.assertTrue(any(x["status"] == "skipped" for x in n.values()))

    def test_chain_links_take_their_parents_results(self):
        """A chain of commands, each adding one to its parent's result: the links sent with their
        parents read the right result, inline and stored (over 4 KiB): n31 is 30 + 10000, n59
        10058."""
        nodes = "  n0: {cmd: 'echo 0'}\n"
        for i in range(1, 60):
            if i == 30:  # a result of 10 kB (stored, not inline), then back to a number
                body = f"expr $(cat $ZDAG_DEP_N{i - 1}) + 1; printf %10000s | tr ' ' x"
            elif i == 31:
                body = f"expr $(head -n1 $ZDAG_DEP_N{i - 1}) + $(tail -n1 $ZDAG_DEP_N{i - 1} | wc -c)"
            else:
                body = f"expr $(cat $ZDAG_DEP_N{i - 1}) + 1"
            nodes += f"  n{i}: {{cmd: \"{body}\", deps: [n{i - 1}]}}\n"
        results = self.path("results.json")
        _, r = self.run_pipeline("nodes:\n" + nodes, "-w", "2", "--results", results)
        n = nodes_by_name(r)
        self.assertTrue(all(x["status"] == "succeeded" and x["attempts"] == 1 for x in n.values()))
        with open(results) as f:
            out = json.load(f)
        last = out["n59"] if isinstance(out, dict) else None
        self.assertIsNotNone(last, out)
        self.assertEqual(str(last).strip(), "10058", last)


if __name__ == "__main__":
    unittest.main()
