"""Helpers for integration tests: run the real zdag binary on real pipelines.

Each test gets a private directory (pipeline, state dir, TMPDIR for zdag's runtime directory)
and checks afterwards that zdag left no runtime directory and no process behind.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

ZDAG = os.environ.get("ZDAG") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "zdag")


def overlaps(a, b):
    """True when the [start_s, end_s) intervals of report nodes a and b overlap."""
    return a["start_s"] < b["end_s"] and b["start_s"] < a["end_s"]


def processes_with(marker):
    """PIDs of live processes whose command line or environment contains marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
                        break
            except OSError:
                pass
    return found


class ZdagTestCase(unittest.TestCase):
    """A test with its own directory; tearDown asserts that nothing was left behind."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="zdag-it-")
        self.tmp = os.path.join(self.dir, "tmp")
        os.mkdir(self.tmp)
        self.marker = "zdagmark" + os.path.basename(self.dir).replace("-", "")
        self.env = dict(os.environ, TMPDIR=self.tmp, ZDAG_TEST_MARKER=self.marker)
        self.env.pop("XDG_RUNTIME_DIR", None)

    def tearDown(self):
        left = os.listdir(self.tmp)
        deadline = time.time() + 5
        stray = processes_with(self.marker)
        while stray and time.time() < deadline:
            time.sleep(0.05)
            stray = processes_with(self.marker)
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertEqual(left, [], "zdag left its runtime directory behind")
        self.assertEqual(stray, [], "zdag left processes behind")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def zdag(self, *args, timeout=120, check=None):
        """Runs zdag; returns the CompletedProcess. check: expected exit status."""
        p = subprocess.run([ZDAG, *args], cwd=self.dir, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            self.fail(f"zdag {' '.join(args)} exited {p.returncode}, expected {check}\n"
                      f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def run_pipeline(self, text, *args, check=0, name="pipe.yaml"):
        """Writes the pipeline, runs it with a report; returns (process, report)."""
        pipe = self.write(name, text)
        report = self.path("report.json")
        if os.path.exists(report):
            os.unlink(report)
        p = self.zdag("run", pipe, "--report", report, *args, check=check)
        with open(report) as f:
            return p, json.load(f)

    def start(self, *args):
        """Starts zdag in the background (for signals and kills)."""
        return subprocess.Popen([ZDAG, *args], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for_file(self, path, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return
            time.sleep(0.02)
        self.fail(f"{path} did not appear")


def nodes_by_name(report):
    return {n["name"]: n for n in report["nodes"]}
