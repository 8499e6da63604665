"""SIGINT/SIGTERM: running nodes' whole process trees are killed, the report says
"interrupted", the runtime directory is removed, and no process is left behind."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402


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

    def test_progress_shows_the_true_count_on_a_terminal(self):
        """Ctrl-C on a terminal: the last progress line counts the nodes that finished (as the
        report has them), not every node; the message is on a line of its own."""
        started = self.path("started")
        quick = "".join(f"  quick{i}: {{cmd: 'sleep 0.2', cpus: 0}}\n" for i in range(5))
        later = "".join(f"  later{i}: {{cmd: 'true', deps: [long]}}\n" for i in range(30))
        pipe = self.write("pipe.yaml", "nodes:\n" + quick +
                          f"  long: {{cmd: 'touch {started}; sleep 100', cpus: 0, "
                          f"deps: [quick0, quick1, quick2, quick3, quick4]}}\n" + later)
        report = self.path("report.json")
        master, slave = pty.openpty()
        proc = subprocess.Popen([ZDAG, "run", pipe, "-w", "2", "--report", report],
                                cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        deadline = time.time() + 60
        interrupted = False
        while time.time() < deadline:
            if not interrupted and os.path.exists(started):
                proc.send_signal(signal.SIGINT)
                interrupted = True
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None and interrupted:
                break
        os.close(master)
        proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 130, out)
        text = out.decode(errors="replace")
        with open(report) as f:
            r = json.load(f)
        finished = [n for n in r["nodes"]
                    if not (n["status"] == "skipped" and n["error"] == "interrupted")]
        self.assertEqual(len(finished), 5, r)  # the quick ones; long and later were stopped
        counts = re.findall(r"\[\s*(\d+)/(\d+)\]", text)
        self.assertTrue(counts, text)
        self.assertEqual(counts[-1], (str(len(finished)), "36"), text)
        # The message starts its own line: after a newline or the line's erasure, never
        # glued after the counter's text.
        at = text.index("zdag: Interrupt")
        self.assertTrue(at == 0 or text[:at].endswith("\n") or text[:at].endswith("\r\033[K"),
                        repr(text[max(0, at - 80):at + 20]))

    def test_sigterm(self):
        self.interrupt(signal.SIGTERM, 143)

    def test_sigint(self):
        self.interrupt(signal.SIGINT, 130)

    def test_second_sigint_still_cleans_up(self):
        self.interrupt(signal.SIGINT, 130, twice=True)


if __name__ == "__main__":
    unittest.main()
