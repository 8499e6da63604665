"""A run that cannot start or go on (issue 9, item 6): too few descriptors (`ulimit -n 16`), too
few processes (`ulimit -u`), a fork that fails, a state directory that cannot be created. Each
must exit 3 with a clear "zdag: ..." message (never a libzmq abort: SIGABRT, 134) and still
write its --report, with "status": "error", "exit_code": 3 and an "error" string saying why.

Today: `ulimit -n 16` at -w 8 aborts in libzmq ("Too many open files (src/ipc_listener.cpp:325)",
exit -6); low RLIMIT_NPROC aborts ("Resource temporarily unavailable (src/thread.cpp:269)") or
exits 3 without a report; a state directory that cannot be created exits 3 without a report.

RLIMIT_NPROC does not apply to root, and these machines run the tests as root: then the
RLIMIT_NPROC cases run zdag as the user nobody (uid 65534), whose limit counts only nobody's
tasks. The limit is "nobody's tasks now + k" for a small k. A read-only directory does not stop
root either: the state directory cases use a path whose parent is a regular file (ENOTDIR, for
anyone), and, run as nobody, a directory nobody cannot write (EACCES)."""
import json
import os
import pwd
import re
import resource
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase  # noqa: E402

PIPELINE = "nodes:\n  a: {cmd: 'true'}\n  b: {cmd: 'true', deps: [a]}\n"
ABORT = re.compile(r"\(src/[\w/]+\.cpp:\d+\)")  # how libzmq's zmq_assert speaks before abort()
NOBODY = 65534
SANITIZED = os.environ.get("ZDAG_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES")


def tasks_of(uid):
    """The number of tasks (threads) whose real uid is uid: what RLIMIT_NPROC counts."""
    count = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/status") as f:
                status = f.read()
            if int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)) == uid:
                count += int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
        except (OSError, AttributeError):
            pass
    return count


def as_nobody():
    """Popen arguments that run the child as nobody when we are root (else as ourselves)."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


class CannotStartTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.pipe = self.write("pipe.yaml", PIPELINE)
        self.report = self.path("report.json")

    def run_zdag(self, *args, preexec_fn=None, **kw):
        env = dict(self.env)
        if SANITIZED:  # LeakSanitizer needs a thread of its own at exit: not at these limits
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                         "detect_leaks=0"]))
        p = subprocess.run([ZDAG, "run", self.pipe, "--report", self.report, *args],
                           cwd=self.dir, env=env, capture_output=True, text=True,
                           timeout=60, preexec_fn=preexec_fn, **kw)
        return p

    def check_error(self, p, what):
        self.assertNotEqual(p.returncode, -6, f"{what}: zdag aborted (SIGABRT): {p.stderr}")
        self.assertNotEqual(p.returncode, 134, f"{what}: zdag aborted: {p.stderr}")
        self.assertIsNone(ABORT.search(p.stderr), f"{what}: a libzmq abort: {p.stderr}")
        self.assertEqual(p.returncode, 3, f"{what}: stderr: {p.stderr}")
        self.assertRegex(p.stderr, r"(?m)^zdag: \S", f"{what}: no clear message")
        self.assertTrue(os.path.exists(self.report), f"{what}: no --report was written "
                        f"(stderr: {p.stderr.strip()})")
        with open(self.report) as f:
            r = json.load(f)
        self.assertEqual(r["status"], "error", what)
        self.assertEqual(r["exit_code"], 3, what)
        self.assertIsInstance(r.get("error"), str, what)
        self.assertTrue(r["error"].strip(), what)
        os.unlink(self.report)
        return r

    def test_sixteen_descriptors(self):
        """`ulimit -n 16` (soft and hard: it cannot be raised) with 8 local executors."""
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
        self.check_error(self.run_zdag("-w", "8", "-q", preexec_fn=limit), "ulimit -n 16")

    def nobody_setup(self):
        if os.geteuid() == 0:
            try:
                pwd.getpwuid(NOBODY)
            except KeyError:
                self.skipTest("RLIMIT_NPROC does not bind root and there is no user nobody")
            for d in (self.dir, self.tmp):
                os.chown(d, NOBODY, NOBODY)
            os.chown(self.pipe, NOBODY, NOBODY)

    def test_few_processes(self):
        """`ulimit -u` at nobody's tasks + 1 (no fork at all), + 3 (the coordinator's own
        threads), + 5 (not one whole executor)."""
        self.nobody_setup()
        uid = os.geteuid() if os.geteuid() != 0 else NOBODY
        base = tasks_of(uid)
        for extra in (1, 3, 5):
            with self.subTest(extra=extra):
                deadline = time.time() + 5  # what an earlier case left (zombies too) is gone
                while tasks_of(uid) > base and time.time() < deadline:
                    time.sleep(0.05)
                n = tasks_of(uid) + extra

                def limit():
                    resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
                p = self.run_zdag("-w", "2", "-q", preexec_fn=limit, **as_nobody())
                self.check_error(p, f"ulimit -u {n}")

    def test_state_dir_under_a_regular_file(self):
        """Fails for root too: a path whose parent is a regular file (ENOTDIR)."""
        self.write("afile", "")
        p = self.run_zdag("--state-dir", self.path("afile", "state"), "-q")
        r = self.check_error(p, "state dir under a file")
        self.assertIn("state", r["error"])

    def test_state_dir_not_writable(self):
        """A directory the user cannot write (as nobody when we are root: chmod does not stop
        root)."""
        self.nobody_setup()
        ro = self.path("ro")
        os.mkdir(ro, 0o500)
        if os.geteuid() != 0:
            os.chmod(ro, 0o500)
        p = self.run_zdag("--state-dir", os.path.join(ro, "state"), "-q", **as_nobody())
        r = self.check_error(p, "read-only state dir")
        self.assertIn("state", r["error"])


if __name__ == "__main__":
    unittest.main()
