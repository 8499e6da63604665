"""Hostile traffic against a running coordinator's --listen endpoint: garbage, truncated and
oversized frames, 4 G element counts, multi-frame messages, forged RESULTs, absurd JOINs, HELLOs
claiming slots, a fake executor that keeps its task, raw TCP junk and a ZMTP frame header over
the 256 MiB limit. The frames come from zdag_test_frames (tests/integration/frames.c). The run
must finish as if nothing happened, and the coordinator must say what it dropped."""
import glob
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402

FRAMES = os.environ.get("ZDAG_TEST_FRAMES") or os.path.join(
    os.path.dirname(ZDAG), "tests", "zdag_test_frames")
SANITIZED = os.environ.get("ZDAG_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES")

ZMQ_ATTACKS = ["garbage", "truncated", "huge-count", "big", "multi", "wrong-type", "results",
               "join", "chunks"]
TCP_ATTACKS = ["tcp-garbage", "tcp-short", "tcp-oversize"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Wide enough that nodes are ready whenever the fake executor says HELLO, long enough (about
# 6 s on two executors) that every attack lands while the run is going on.
PIPELINE = "nodes:\n" + "".join(
    f"  n{i}: {{cmd: 'sleep 0.5; echo n{i}'}}\n" for i in range(24)) + \
    "  last: {cmd: 'echo last', deps: [" + ", ".join(f"n{i}" for i in range(24)) + "]}\n"


@unittest.skipUnless(os.access(FRAMES, os.X_OK), f"{FRAMES} is not built")
class HostileTest(ZdagTestCase):
    def run_attacks(self, attacks):
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        pipe = self.write("pipe.yaml", PIPELINE)
        report, results = self.path("report.json"), self.path("results.json")
        coord = self.start("run", pipe, "-w", "2", "-j", "4", "--listen", endpoint, "--insecure",
                           "--heartbeat", "0.2", "--report", report, "--results", results)
        try:
            helper = subprocess.run([FRAMES, endpoint, *attacks], env=self.env,
                                    capture_output=True, text=True, timeout=120)
            out, err = coord.communicate(timeout=180)
        finally:
            if coord.poll() is None:
                coord.kill()
                coord.communicate()
        self.assertEqual(helper.returncode, 0,
                         f"helper failed\nstdout: {helper.stdout}\nstderr: {helper.stderr}\n"
                         f"coordinator stderr: {err}")
        self.assertEqual(coord.returncode, 0, f"coordinator stderr: {err}")
        with open(report) as f:
            r = json.load(f)
        with open(results) as f:
            res = json.load(f)
        nodes = nodes_by_name(r)
        self.assertEqual(len(nodes), 25)
        for name, n in nodes.items():
            self.assertEqual(n["status"], "succeeded", f"{name}: {n}\n{err}")
            self.assertEqual(res[name], f"{name}\n", name)  # nothing forged got in
        return helper.stdout, err, nodes

    def test_zmq_frames(self):
        out, err, nodes = self.run_attacks(["hello"] + ZMQ_ATTACKS)
        for word in ("dropped", "malformed", "refused", "discarded"):
            self.assertIn(word, err)
        # each kind of drop, by the reason the coordinator gives
        for needle in ("dropped a malformed message (1 bytes)",  # "\xc1", "\x90"
                       "dropped a malformed message (5 bytes): not one well-formed",  # 4 G
                       "dropped a malformed message (100001 bytes)",  # 100000 levels deep
                       f"dropped a malformed message ({32 << 20} bytes)",  # big
                       "dropped a message of more than one frame",
                       "dropped a malformed message (0 bytes)",
                       "dropped an unexpected message of type 2",  # TASK to the coordinator
                       "dropped an unexpected message of type 6",  # WELCOME
                       "dropped an unexpected message of type 4",  # BYE
                       "unknown message type",
                       "RESULT has the wrong number of fields",
                       "HELLO credit must be at least 1",
                       "JOIN slots must be from 1 to 4096",
                       "JOIN host id must be 1 to 255 bytes",
                       "JOIN announces too many resources",
                       "number out of range",
                       "refused a worker (protocol 99, joined twice, or too many)",
                       "refused a worker (protocol 7, joined twice, or too many)",
                       "dropped a result chunk of a stale or unknown attempt",
                       "dropped a fetch of a result the executor does not need",
                       "refused an executor (agent 0, slot 0)",
                       "discarded a stale or unknown result (node",
                       # a flood is rate-limited: one line a second, and the total at the end
                       "stale, forged or misrouted results in all",
                       "ignored a LOST report from an unknown worker",
                       "is lost"):
            self.assertIn(needle, err)
        self.assertIn("got a task", out)
        self.assertIn("welcomed", out)
        # the fake executor's node ran again elsewhere after its agent was lost
        taken = [n for n in nodes.values() if n["attempts"] > 1]
        self.assertEqual(len(taken), 1, err)
        self.assertNotEqual(taken[0]["host"], "fakeagent")

    def test_raw_tcp(self):
        out, err, _ = self.run_attacks(TCP_ATTACKS)
        # ZMQ_MAXMSGSIZE: the connection is cut at the frame header, not after 256 MiB
        self.assertIn("tcp-oversize: handshake done", out)
        self.assertIn("closed by peer after", out)
        # the hand-made handshake worked: its small frame reached the decoder
        self.assertIn("dropped a malformed message (7 bytes)", err)
        self.assertEqual(err.count("dropped a malformed"), 1, err)


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


BIG = 20_000_000  # bytes of the dependency a fake executor floods with FETCHes


@unittest.skipUnless(os.access(FRAMES, os.X_OK), f"{FRAMES} is not built")
class HostileTransferTest(ZdagTestCase):
    """A fake agent (resource r0) whose executor abuses the chunked transfers."""

    def coordinator(self, text):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.report = self.path("report.json")
        pipe = self.write("pipe.yaml", text)
        return self.start("run", pipe, "-w", "1", "--listen", self.endpoint, "--insecure",
                          "--heartbeat", "1", "--report", self.report)

    def helper(self, attack, **env):
        return subprocess.run([FRAMES, self.endpoint, attack], env={**self.env, **env},
                              capture_output=True, text=True, timeout=120)

    def test_a_fetch_flood_queues_no_more_than_a_window(self):
        """600 FETCHes at offset 0, none read: one is answered, the others dropped; the
        coordinator stays small and keeps beating its agents."""
        coord = self.coordinator(
            "nodes:\n  big: {cmd: 'head -c %d /dev/zero'}\n"
            "  use: {cmd: 'wc -c < \"$ZDAG_DEP_BIG\"', deps: [big], resources: {r0: 1}}\n"
            % BIG)
        try:
            digest = hashlib.sha256(b"\0" * BIG).hexdigest()
            stored = self.path(".zdag", "results", digest)
            deadline = time.monotonic() + 60
            while not os.path.exists(stored) and coord.poll() is None:
                self.assertLess(time.monotonic(), deadline, "the big result never got stored")
                time.sleep(0.05)
            peak = [0]

            def watch():
                while coord.poll() is None and not done.is_set():
                    peak[0] = max(peak[0], peak_rss_kib(coord.pid))
                    time.sleep(0.02)

            done = threading.Event()
            w = threading.Thread(target=watch, daemon=True)
            w.start()
            helper = self.helper("fetch-flood", FRAMES_HASH=digest)
            done.set()
            w.join()
        finally:
            coord.send_signal(signal.SIGINT)  # `use` cannot run anywhere now: stop the run
            try:
                _, err = coord.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                coord.kill()
                _, err = coord.communicate()
        self.assertEqual(helper.returncode, 0,
                         f"stdout: {helper.stdout}\nstderr: {helper.stderr}\n{err}")
        print(f"\ncoordinator VmHWM during the fetch flood: {peak[0] / 1024:.1f} MiB")
        if not SANITIZED:
            self.assertLess(peak[0], 60 * 1024)
        self.assertIn("got 3 of 3 BEATs", helper.stdout)
        self.assertIn("a fetch repeated or out of its window", err)

    def test_an_upload_not_as_announced_is_not_kept(self):
        """A chunk out of order is answered (the executor never waits forever); a result whose
        RESULT announces another hash fails its node and leaves nothing in results/."""
        coord = self.coordinator("nodes:\n  up: {cmd: 'true', resources: {r0: 1}}\n")
        try:
            helper = self.helper("upload")
            _, err = coord.communicate(timeout=120)
        finally:
            if coord.poll() is None:
                coord.kill()
                _, err = coord.communicate()
        self.assertEqual(helper.returncode, 0,
                         f"stdout: {helper.stdout}\nstderr: {helper.stderr}\n{err}")
        self.assertEqual(coord.returncode, 1, err)
        with open(self.report) as f:
            up = nodes_by_name(json.load(f))["up"]
        self.assertEqual(up["status"], "failed")
        self.assertIn("arrived damaged", up["error"])
        self.assertEqual(glob.glob(self.path(".zdag", "results", "*")), [])


if __name__ == "__main__":
    unittest.main()
