"""Helpers for the Python module's tests: the integration tests' ZdagTestCase (a private
directory and TMPDIR, and afterwards no runtime directory and no process left behind), with
this process's own environment switched to it, since the tests run graphs in-process."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("ZDAG_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
SOURCE = os.environ.get("ZDAG_SOURCE_DIR") or os.path.join(HERE, "..", "..")
PYTHON = sys.executable

from zdagtest import ZdagTestCase, free_port, overlaps  # noqa: E402,F401  (re-exported)


class PyTestCase(ZdagTestCase):
    """A ZdagTestCase whose TMPDIR and marker are this process's too (executors are forked
    from it and inherit them), with a state directory of its own."""

    def setUp(self):
        super().setUp()
        self.state = self.path("state")
        self.saved_env = dict(os.environ)
        os.environ.update(TMPDIR=self.tmp, ZDAG_TEST_MARKER=self.marker)
        os.environ.pop("XDG_RUNTIME_DIR", None)
        tempfile.tempdir = None

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved_env)
        tempfile.tempdir = None
        super().tearDown()

    def script(self, name, text, *args, env=None, timeout=120, check=0):
        """Writes a script and runs it with this Python and the build's module; returns the
        CompletedProcess (check: the exit status expected, None for any)."""
        p = self.write(name, text)
        full = dict(self.env, PYTHONPATH=os.path.join(BUILD, "python"))
        full.update(env or {})
        r = subprocess.run([PYTHON, p, *args], cwd=self.dir, env=full, capture_output=True,
                           text=True, timeout=timeout)
        if check is not None and r.returncode != check:
            self.fail(f"{name} exited {r.returncode}, not {check}\nstdout:\n{r.stdout}\n"
                      f"stderr:\n{r.stderr}")
        return r
