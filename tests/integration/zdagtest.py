"""Helpers for integration tests: run the real zdag binary on real pipelines.

Each test gets a private directory (pipeline, state dir, TMPDIR for zdag's runtime directory)
and checks afterwards that zdag left no runtime directory and no process behind.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

ZDAG = os.environ.get("ZDAG") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "zdag")


def free_port():
    """A TCP port of 127.0.0.1 free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self.backgrounded = []

    def tearDown(self):
        for p in self.backgrounded:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
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

    def background(self, *args):
        """start(), and at tearDown killed if it still runs, and reaped."""
        p = self.start(*args)
        self.backgrounded.append(p)
        return p

    def preload(self, library):
        """The zdag processes this test starts from now on load library first (LD_PRELOAD);
        under AddressSanitizer too, which otherwise insists on coming first."""
        self.env["LD_PRELOAD"] = library
        if "ASAN_OPTIONS" in self.env or os.environ.get("ZDAG_SANITIZE") == "ON":
            opts = self.env.get("ASAN_OPTIONS", "")
            self.env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"

    def side_lines(self, side):
        """The words of each line the commands appended to the file side ([] before any)."""
        if not os.path.exists(side):
            return []
        with open(side) as f:
            return [line.split() for line in f if line.strip()]

    def wait_for_file(self, path, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return
            time.sleep(0.02)
        self.fail(f"{path} did not appear")


def nodes_by_name(report):
    return {n["name"]: n for n in report["nodes"]}


def journal_succeeded(journal):
    """The names of the nodes whose latest whole, checksummed record in the journal file
    says they succeeded (NODE_DONE [2, name, defhash, status, ...])."""
    with open(journal, "rb") as f:
        data = f.read()
    latest, off = {}, 0
    while off + 8 <= len(data):
        n, crc = struct.unpack_from("<II", data, off)
        payload = data[off + 8:off + 8 + n]
        if len(payload) < n or zlib.crc32(payload) != crc:
            break  # a torn tail
        off += 8 + n
        if payload[1] != 2:
            continue  # the header
        if 0xa0 <= payload[2] <= 0xbf:
            ln, at = payload[2] - 0xa0, 3
        else:
            ln, at = payload[3], 4  # str8
        name = payload[at:at + ln].decode()
        status_at = at + ln + 2 + 32  # after the 32-byte bin of the definition hash
        latest[name] = payload[status_at] == 0
    return {name for name, ok in latest.items() if ok}


def ticked(ticks, name, body):
    """A shell command (no single quotes, so it fits a YAML '...' string) that appends
    "NAME start NS" to the file ticks, runs body, appends "NAME end NS" and exits with body's
    status. The ground truth of when a node's own work ran, written by the node itself.

    Appends to one file with O_APPEND (sh's >>), one short line per write(2), are serialized by
    the kernel: the order of the lines is the real-time order of the writes, exact on any load.
    Assertions use that order; NS (date +%s%N) is only there to read when a test fails."""
    return (f'printf "%s start %s\\n" {name} "$(date +%s%N)" >> {ticks}; {body}; rc=$?; '
            f'printf "%s end %s\\n" {name} "$(date +%s%N)" >> {ticks}; exit $rc')


class Ticks:
    """The lines that ticked() commands wrote, in file order."""

    def __init__(self, path):
        with open(path) as f:
            self.events = [(w[0], w[1]) for w in (line.split() for line in f) if len(w) >= 2]
        self.span = {}
        for i, (name, kind) in enumerate(self.events):
            s = self.span.setdefault(name, [None, None])
            if kind == "start":
                assert s[0] is None, f"{name} started twice"
                s[0] = i
            else:
                assert s[1] is None and s[0] is not None, f"{name}: end without one start"
                s[1] = i
        for name, (a, b) in self.span.items():
            assert b is not None, f"{name} started and never ended"

    def peak(self, names):
        """The most of the given nodes whose work ran at one instant."""
        names = set(names)
        level = top = 0
        for name, kind in self.events:
            if name in names:
                level += 1 if kind == "start" else -1
                top = max(top, level)
        return top

    def alone(self, name):
        """True when nothing else ran during name's work: no other node's work had started and
        not ended at its start, and no tick at all falls between its start and its end."""
        a, b = self.span[name]
        if b != a + 1:
            return False
        return all(not (s < a < e) for n, (s, e) in self.span.items() if n != name)

    def together(self, x, y):
        """True when the works of x and y ran at one instant (each started before the other
        ended)."""
        (xs, xe), (ys, ye) = self.span[x], self.span[y]
        return xs < ye and ys < xe

    def before(self, x, y):
        """True when x's work ended before y's began."""
        return self.span[x][1] < self.span[y][0]
