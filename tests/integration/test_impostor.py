"""Impersonation over CurveZMQ: a second AUTHORIZED key (the impostor) says HELLO for every
slot of the victim agent (agent ids are sequential: the first worker to join is 1), with secret
0 and with random secrets, racing the victim's real executors, guesses attempt tokens, and
answers every TASK it gets with a forged successful RESULT "FORGED"
(tests/integration/impostor.c). The coordinator must refuse it: each HELLO is accepted only
with the agent's secret from WELCOME, from a connection authenticated with the same key (ZAP
User-Id) as the agent's JOIN, for a slot still starting (issue 9, BRIEF-9 "Impersonation
closed"), and refusals are logged once per peer naming the key.

The attack is made deterministic: the impostor's sockets finish their CURVE handshakes and start
flooding HELLOs (one per slot per millisecond) BEFORE the victim worker is started, so that the
first HELLO for a slot of agent 1 after the victim's JOIN is the impostor's, not the victim's
executor's (which must fork, connect and handshake first). On the code before issue 9 the
impostor takes both slots and the 10 chained nodes "succeed" in milliseconds, every result
forged and credited to the victim host."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402

IMPOSTOR = os.environ.get("ZDAG_TEST_IMPOSTOR") or os.path.join(
    os.path.dirname(ZDAG), "tests", "zdag_test_impostor")
NODES = [f"n{i}" for i in range(10)]
SLOTS = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(os.access(IMPOSTOR, os.X_OK), f"{IMPOSTOR} is not built")
class ImpostorTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.procs = []  # (name, Popen); stdout and stderr go to NAME.out / NAME.err
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"

    def tearDown(self):
        for _, p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        super().tearDown()

    def spawn(self, name, *argv):
        with open(self.path(f"{name}.out"), "w") as out, \
                open(self.path(f"{name}.err"), "w") as err:
            p = subprocess.Popen(list(argv), cwd=self.dir, env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append((name, p))
        return p

    def text(self, name, what="err"):
        with open(self.path(f"{name}.{what}")) as f:
            return f.read()

    def logs(self):
        return "\n".join(f"--- {name} (exit {p.poll()}) ---\n{self.text(name)[-3000:]}"
                         for name, p in self.procs)

    def wait_until(self, what, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.01)

    def test_impostor_is_refused(self):
        for name in ("coord", "victim", "impostor"):
            self.zdag("keygen", self.path(name), check=0)
        os.mkdir(self.path("authorized"))
        for name in ("victim", "impostor"):  # both keys are authorized: the attack is an insider's
            os.link(self.path(f"{name}.pub"), self.path("authorized", f"{name}.pub"))
        marks = self.path("marks")
        os.mkdir(marks)
        text = "nodes:\n"
        for i, name in enumerate(NODES):
            deps = f", deps: [{NODES[i - 1]}]" if i else ""
            text += (f"  {name}: {{cmd: 'sleep 0.3; echo real-$ZDAG_NODE > {marks}/$ZDAG_NODE; "
                     f"echo real'{deps}}}\n")
        pipe = self.write("pipe.yaml", text)
        report, results = self.path("report.json"), self.path("results.json")
        coord = self.spawn("coordinator", ZDAG, "run", pipe, "-w", "0", "--listen", self.endpoint,
                           "--curve-secret", self.path("coord.key"), "--authorized-keys",
                           self.path("authorized"), "--heartbeat", "0.2", "--report", report,
                           "--results", results, "-q")
        # the impostor first: handshakes done, HELLOs for agent 1 flooding before agent 1 exists
        impostor = self.spawn("impostor", IMPOSTOR, self.endpoint, self.path("impostor.key"),
                              self.path("coord.pub"), "1", str(SLOTS), "60")
        self.wait_until("the impostor's handshakes", lambda: "ready" in self.text(
            "impostor", "out") or impostor.poll() is not None)
        self.assertIsNone(impostor.poll(), self.logs())
        victim = self.spawn("victim", ZDAG, "worker", "--connect", self.endpoint, "--host-id",
                            "victim", "--slots", str(SLOTS), "--cpus", "2", "--curve-secret",
                            self.path("victim.key"), "--coordinator-key", self.path("coord.pub"))
        try:
            coord.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.fail(f"the coordinator did not finish\n{self.logs()}")
        impostor.terminate()
        impostor.wait(timeout=30)
        victim.wait(timeout=30)
        err = self.text("coordinator")
        self.assertEqual(coord.returncode, 0, self.logs())
        with open(report) as f:
            r = json.load(f)
        with open(results) as f:
            res = json.load(f)
        n = nodes_by_name(r)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(sorted(n), sorted(NODES))
        forged = sorted(name for name, v in res.items() if "FORGED" in str(v))
        self.assertEqual(forged, [], f"forged results accepted\n{self.text('impostor', 'out')}")
        for name in NODES:
            self.assertEqual(res.get(name), "real\n", name)
            self.assertTrue(os.path.exists(os.path.join(marks, name)),
                            f"the command of {name} never ran")
            with open(os.path.join(marks, name)) as f:
                self.assertEqual(f.read(), f"real-{name}\n")
            self.assertEqual(n[name]["status"], "succeeded", n[name])
            self.assertEqual(n[name]["host"], "victim", n[name])
        self.assertNotIn("task:", self.text("impostor", "out"),
                         "the impostor was given a TASK (the victim's environment and deps)")
        self.assertEqual(victim.returncode, 0, self.logs())
        # refused, and the refusal names the impostor's key: the ZAP User-Id is the authorized
        # key's file name, impostor.pub (nothing the impostor sends says "impostor": its HELLOs
        # claim host "victim")
        refusals = [line for line in err.splitlines() if re.search(r"refused.*impostor", line)]
        said = [line for line in err.splitlines() if "refused" in line][:5]
        self.assertTrue(refusals, f"no refusal naming the impostor key; refusals logged: {said}")
        # once per peer (the impostor has SLOTS sockets), not once per HELLO it floods
        self.assertLessEqual(len(refusals), 4 * SLOTS, "refusals are not logged once per peer")


if __name__ == "__main__":
    unittest.main()
