"""zdag for Python: the same script runs as a remote worker over CurveZMQ on loopback, and
its functions run there; results and exceptions come back to the coordinator's process."""
import json
import os
import subprocess
import unittest

from zdagpytest import BUILD, PYTHON, PyTestCase, free_port

ZDAG = os.environ.get("ZDAG") or os.path.join(BUILD, "zdag")

SCRIPT = """
import json, os, sys
from zdag import Graph, xn

@xn
def where(i):
    return os.environ.get("ROLE"), os.getpid(), i * i

@xn
def total(parts):
    return sum(p[2] for p in parts)

@xn
def fails(depth=40):
    if depth:
        return fails.fn(depth - 1)  # forty frames deep
    raise LookupError("raised on the worker " + "x" * 600)

g = Graph()
parts = [g.call(where, i) for i in range(4)]
t = g.call(total, parts)
g.call(fails)
run = g.run(workers=0, listen=sys.argv[1], curve_secret="coord.key",
            authorized_keys="authorized", state_dir="state", keep_going=True)
err = run.errors["fails"]
print(json.dumps({"parts": [run[p] for p in parts], "total": run[t], "pid": os.getpid(),
                  "error_type": type(err).__name__, "error": str(err)}))
"""


class RemoteTest(PyTestCase):
    def test_script_serves_its_own_functions_as_a_remote_worker(self):
        os.mkdir(self.path("authorized"))
        for name in ("coord", "w1"):
            subprocess.run([ZDAG, "keygen", self.path(name)], check=True, capture_output=True)
        os.rename(self.path("w1.pub"), self.path("authorized", "w1.pub"))
        script = self.write("remote.py", SCRIPT)
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        env = dict(self.env, PYTHONPATH=os.path.join(BUILD, "python"))
        coord = subprocess.Popen([PYTHON, script, endpoint], cwd=self.dir, text=True,
                                 env=dict(env, ROLE="coordinator"), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        worker = subprocess.Popen(
            [PYTHON, script, endpoint], cwd=self.dir, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env, ROLE="worker", ZDAG_WORKER_CONNECT=endpoint,
                     ZDAG_WORKER_CURVE_SECRET="w1.key", ZDAG_WORKER_COORDINATOR_KEY="coord.pub"))
        try:
            out, err = coord.communicate(timeout=120)
            w_out, w_err = worker.communicate(timeout=30)
        finally:
            for p in (coord, worker):
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertEqual(coord.returncode, 0, err)
        self.assertEqual(worker.returncode, 0, w_err)
        self.assertEqual(w_out, "", "the worker must not go on with the script after serving")
        got = json.loads(out)
        self.assertEqual([p[0] for p in got["parts"]], ["worker"] * 4)
        self.assertNotIn(got["pid"], [p[1] for p in got["parts"]])
        self.assertEqual([p[2] for p in got["parts"]], [0, 1, 4, 9])
        self.assertEqual(got["total"], 14)
        self.assertEqual(got["error_type"], "LookupError")
        self.assertIn("raised on the worker " + "x" * 600, got["error"])
        self.assertIn("Remote traceback (zdag node 'fails')", got["error"])
        # The whole traceback crosses from the worker: every frame (Python shows 3 of the 40
        # identical ones and counts the rest), the raise included.
        self.assertEqual(got["error"].count("return fails.fn(depth - 1)"), 3, got["error"])
        self.assertIn("[Previous line repeated 37 more times]", got["error"])
        self.assertIn('raise LookupError("raised on the worker " + "x" * 600)', got["error"])

    def test_tcp_listen_without_keys_is_refused(self):
        import zdag
        g = zdag.Graph()
        g.call(print)
        with self.assertRaises(zdag.RunError) as cm:
            g.run(workers=0, listen="tcp://127.0.0.1:1", state_dir=self.state)
        self.assertIn("needs curve_secret and authorized_keys", str(cm.exception))
        with self.assertRaises(zdag.RunError) as cm:
            g.run(workers=0, state_dir=self.state)
        self.assertIn("needs listen", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
