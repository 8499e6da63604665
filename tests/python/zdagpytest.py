"""Helpers for the Python module's tests: each test gets a private directory, TMPDIR (for
zdag's runtime directory and the module's own) and state directory, and checks afterwards
that no runtime directory and no process was left behind."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("ZDAG_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
sys.path.insert(0, os.path.join(BUILD, "python"))
SOURCE = os.environ.get("ZDAG_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
PYTHON = sys.executable


def overlaps(a, b):
    """True when the [start_s, end_s) intervals of report nodes a and b overlap."""
    return a["start_s"] < b["end_s"] and b["start_s"] < a["end_s"]


def processes_with(marker):
    """PIDs of live processes (not this one) whose environment holds marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


class PyTestCase(unittest.TestCase):
    """A test with its own directory; tearDown asserts that nothing was left behind."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="zdag-py-test-")
        self.tmp = os.path.join(self.dir, "tmp")
        os.mkdir(self.tmp)
        self.state = os.path.join(self.dir, "state")
        self.marker = "zdagpymark" + os.path.basename(self.dir).replace("-", "")
        self.saved_env = dict(os.environ)
        os.environ["TMPDIR"] = self.tmp
        os.environ["ZDAG_TEST_MARKER"] = self.marker  # inherited by every executor
        os.environ.pop("XDG_RUNTIME_DIR", None)
        tempfile.tempdir = None

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
        os.environ.clear()
        os.environ.update(self.saved_env)
        tempfile.tempdir = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertEqual(left, [], "a runtime directory was left behind")
        self.assertEqual(stray, [], "processes were left behind")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def script(self, name, text, *args, env=None, timeout=120, check=0):
        """Writes a script and runs it with this Python and the build's module; returns the
        CompletedProcess (check: the exit status expected, None for any)."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        full = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
        full.update(env or {})
        r = subprocess.run([PYTHON, p, *args], cwd=self.dir, env=full, capture_output=True,
                           text=True, timeout=timeout)
        if check is not None and r.returncode != check:
            self.fail(f"{name} exited {r.returncode}, not {check}\nstdout:\n{r.stdout}\n"
                      f"stderr:\n{r.stderr}")
        return r
