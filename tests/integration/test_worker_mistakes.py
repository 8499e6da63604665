"""A worker says within 5 s what is wrong with its connection, each mistake in its own words:
the coordinator refused its key, the coordinator's key is not the pinned one, CurveZMQ on one
side only, nothing listening. The configuration mistakes end the worker with exit 2; nothing
listening is retried (and said at once). The coordinator logs each refused peer once, however
often it retries. Real processes, real CurveZMQ keys from `zdag keygen`."""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, free_port  # noqa: E402

SAY_WITHIN_S = 5.0


def peer_lines(log, words):
    """Lines of the coordinator saying it refused a peer in these words. The address is the
    worker's, or "?" when its connection closed before libzmq's event was read."""
    return len(re.findall(r"refused a peer at (?:127\.0\.0\.1|\?): " + re.escape(words), log))


class WorkerMistakesTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.procs = []
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        for name in ("coord", "good", "bad", "other"):
            self.zdag("keygen", self.path(name), check=0)
        os.mkdir(self.path("authorized"))
        os.link(self.path("good.pub"), self.path("authorized", "good.pub"))

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
        super().tearDown()

    def spawn(self, *args):
        p = subprocess.Popen([ZDAG, *args], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def coordinator(self, *security):
        pipe = self.write("pipe.yaml", "nodes:\n  a: {cmd: 'true'}\n")
        coord = self.spawn("run", pipe, "-w", "0", "--listen", self.endpoint, *security)
        # Ready once it says so; a worker started earlier would only retry. Read from the
        # descriptor itself: communicate() later reads it too, past no buffer of ours.
        seen = b""
        while b"accepting workers" not in seen:
            chunk = os.read(coord.stderr.fileno(), 4096)
            self.assertNotEqual(chunk, b"", "the coordinator did not start")
            seen += chunk
        return coord

    def secure_coordinator(self):
        return self.coordinator("--curve-secret", self.path("coord.key"), "--authorized-keys",
                                self.path("authorized"))

    def stop(self, coord):
        coord.send_signal(signal.SIGTERM)
        _, err = coord.communicate(timeout=60)
        self.assertEqual(coord.returncode, 143, err)
        return err

    def mistake(self, *args, expect=2):
        """Runs a worker that cannot join; returns (stderr, seconds it took)."""
        start = time.monotonic()
        p = subprocess.run([ZDAG, "worker", "--connect", self.endpoint, *args], cwd=self.dir,
                           env=self.env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - start
        self.assertEqual(p.returncode, expect, p.stderr)
        self.assertLess(took, SAY_WITHIN_S, p.stderr)
        self.assertNotIn("cannot reach a coordinator", p.stderr)
        return p.stderr

    def keys(self, secret, server):
        return ["--curve-secret", self.path(secret), "--coordinator-key", self.path(server)]

    def test_unauthorized_key(self):
        coord = self.secure_coordinator()
        err = self.mistake(*self.keys("bad.key", "coord.pub"))
        with open(self.path("bad.pub")) as f:
            pub = f.read().strip()
        self.assertIn("refused this worker's key", err)
        self.assertIn(pub, err)
        self.assertIn("bad.key", err)
        self.assertIn("--authorized-keys", err)
        # The same worker again and again (as --forever would): the coordinator says it once.
        forever = self.spawn("worker", "--connect", self.endpoint, "--forever",
                             *self.keys("bad.key", "coord.pub"))
        deadline = time.monotonic() + SAY_WITHIN_S
        line = forever.stderr.readline()
        self.assertIn("refused this worker's key", line)
        self.assertLess(time.monotonic(), deadline)
        forever.send_signal(signal.SIGTERM)
        _, rest = forever.communicate(timeout=30)
        self.assertEqual(forever.returncode, 143, rest)
        log = self.stop(coord)
        self.assertEqual(log.count("refused a worker with an unknown key"), 1, log)
        self.assertIn(pub, log)
        self.assertIn("127.0.0.1", log)
        self.assertNotIn("refused a peer", log)  # not twice in other words

    def test_wrong_coordinator_key(self):
        coord = self.secure_coordinator()
        err = self.mistake(*self.keys("good.key", "other.pub"))
        self.assertIn("does not hold the key pinned by --coordinator-key", err)
        self.assertIn("other.pub", err)
        log = self.stop(coord)
        self.assertEqual(peer_lines(log, "its CurveZMQ handshake is not sealed to this "
                                         "coordinator's key"), 1, log)
        self.assertEqual(log.count("refused"), 1, log)

    def test_insecure_worker_secure_coordinator(self):
        coord = self.secure_coordinator()
        err = self.mistake("--insecure")
        self.assertIn("requires CurveZMQ", err)
        self.assertIn("--curve-secret", err)
        log = self.stop(coord)
        # Both ends race to hang up on a mechanism mismatch: the coordinator's first failure of
        # this peer reads either way, and it is the only line.
        self.assertEqual(peer_lines(log, "it speaks no CurveZMQ") +
                         peer_lines(log, "no handshake"), 1, log)
        self.assertEqual(log.count("refused"), 1, log)

    def test_secure_worker_insecure_coordinator(self):
        coord = self.coordinator("--insecure")
        err = self.mistake(*self.keys("good.key", "coord.pub"))
        self.assertIn("speaks no CurveZMQ (it runs with --insecure)", err)
        log = self.stop(coord)
        self.assertEqual(peer_lines(log, "it uses CurveZMQ") + peer_lines(log, "no handshake"), 1,
                         log)
        self.assertEqual(log.count("refused"), 1, log)

    def read_until(self, coord, said, want, timeout=10):
        """Reads the coordinator's stderr until want is in it (or timeout); returns all read."""
        deadline = time.monotonic() + timeout
        while want not in said and time.monotonic() < deadline:
            ready, _, _ = select.select([coord.stderr.fileno()], [], [], 0.1)
            if ready:
                chunk = os.read(coord.stderr.fileno(), 4096)
                self.assertNotEqual(chunk, b"", said)
                said += chunk
        return said

    def test_two_mistakes_from_one_host_two_lines(self):
        """Once per peer and mistake: a later, different mistake from the same address is news
        (not counted into the first one's line)."""
        coord = self.secure_coordinator()
        self.mistake(*self.keys("bad.key", "coord.pub"))
        said = self.read_until(coord, b"", b"unknown key")
        self.mistake(*self.keys("good.key", "other.pub"))
        said = self.read_until(coord, said, b"not sealed")
        log = said.decode() + self.stop(coord)
        self.assertEqual(log.count("refused a worker with an unknown key"), 1, log)
        self.assertEqual(peer_lines(log, "its CurveZMQ handshake is not sealed to this "
                                         "coordinator's key"), 1, log)
        self.assertEqual(log.count("refused"), 2, log)

    def test_nothing_listens_is_said_at_once_and_retried(self):
        w = self.spawn("worker", "--connect", self.endpoint, "--insecure")
        start = time.monotonic()
        line = w.stderr.readline()
        while "--insecure" in line and "WARNING" in line:
            line = w.stderr.readline()
        self.assertLess(time.monotonic() - start, SAY_WITHIN_S)
        self.assertIn(f"nothing listens at {self.endpoint}", line)
        self.assertIn("retrying", line)
        self.assertIsNone(w.poll())  # still trying: a coordinator may come up
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=30)
        self.assertEqual(w.returncode, 143)

    def test_one_hang_up_is_no_wrong_key(self):
        """A keyed worker takes a hang-up for a coordinator with another key only when it
        repeats. Started before anything listens (its connects refused), then hung up on once
        by whatever held the port a moment, it joins the coordinator that comes after."""
        port = int(self.endpoint.rsplit(":", 1)[1])
        w = self.spawn("worker", "--connect", self.endpoint, *self.keys("good.key", "coord.pub"))
        self.assertIn("nothing listens", w.stderr.readline())
        with socket.socket() as held:
            # (As libzmq's listeners do: the coordinator binds the port while the connection
            # closed here is in TIME_WAIT.)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            held.bind(("127.0.0.1", port))
            held.listen(1)
            conn, _ = held.accept()
        with conn:  # the port is free again; the worker's next connects are refused
            conn.recv(64)  # its greeting, read: the close is a hang-up (FIN), not a reset
        coord = self.secure_coordinator()
        _, err = w.communicate(timeout=60)
        self.assertEqual(w.returncode, 0, err)
        _, log = coord.communicate(timeout=60)
        self.assertEqual(coord.returncode, 0, log)
        self.assertIn("joined", err)
        self.assertNotIn("refused", log)

    def test_invalid_endpoint_is_usage(self):
        p = self.zdag("worker", "--connect", "bogus://x", "--insecure", check=2)
        self.assertIn("bogus://x", p.stderr)


if __name__ == "__main__":
    unittest.main()
