"""`zdag run FILE --progress | head -c1` (issue 9, item 6): the reader of the progress display
goes away mid-run. zdag must not die of SIGPIPE (exit 141 in a shell, -13 here): it stops
drawing, finishes its nodes (each writes a mark file), exits with its normal status (0) and
writes its report. Today: killed by SIGPIPE at the next progress line, nodes killed, no report.

The child gets SIGPIPE at its default action, as from a shell (Popen's restore_signals)."""
import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402

NODES = 6


class SigpipeTest(ZdagTestCase):
    def pipeline(self):
        """Three layers of two nodes, 0.5 s each: the run outlives the reader by > 1 s, so a
        progress line (one a second when not a terminal) is written after it is gone."""
        self.marks = self.path("marks")
        os.mkdir(self.marks)
        lines = ["nodes:"]
        for i in range(NODES):
            deps = f", deps: [n{i // 2 * 2 - 2}, n{i // 2 * 2 - 1}]" if i >= 2 else ""
            lines.append(f"  n{i}: {{cmd: 'sleep 0.5; touch {self.marks}/n{i}', cpus: 0{deps}}}")
        return self.write("pipe.yaml", "\n".join(lines) + "\n")

    def check(self, zdag, err):
        self.assertNotEqual(zdag.returncode, -signal.SIGPIPE, "zdag died of SIGPIPE\n" + err)
        self.assertNotEqual(zdag.returncode, 141, err)
        self.assertEqual(zdag.returncode, 0, err)
        self.assertEqual(sorted(os.listdir(self.marks)), [f"n{i}" for i in range(NODES)])
        with open(self.path("report.json")) as f:
            r = json.load(f)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(r["exit_code"], 0)
        for name, n in nodes_by_name(r).items():
            self.assertEqual(n["status"], "succeeded", name)

    def test_progress_into_head_c1(self):
        pipe = self.pipeline()
        zdag = subprocess.Popen([ZDAG, "run", pipe, "--progress", "-w", "2", "--report",
                                 self.path("report.json")], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        head = subprocess.Popen(["head", "-c1"], stdin=zdag.stdout, stdout=subprocess.PIPE)
        zdag.stdout.close()  # head holds the only reading end
        first, _ = head.communicate(timeout=30)
        self.assertEqual(len(first), 1)  # the progress display did start
        try:
            err = zdag.stderr.read()
            zdag.wait(timeout=60)
        except subprocess.TimeoutExpired:
            zdag.kill()
            zdag.wait()
            self.fail("zdag run did not end within 60 s")
        self.check(zdag, err)

    def test_progress_into_a_closed_pipe(self):
        """The reading end is closed before zdag starts: its very first line meets EPIPE."""
        pipe = self.pipeline()
        r, w = os.pipe()
        os.close(r)
        try:
            p = subprocess.run([ZDAG, "run", pipe, "--progress", "-w", "2", "--report",
                                self.path("report.json")], cwd=self.dir, env=self.env,
                               stdout=w, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(w)
        self.check(p, p.stderr)


if __name__ == "__main__":
    unittest.main()
