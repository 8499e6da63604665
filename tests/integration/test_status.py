"""zdag status (issue 13, "A live run") against a real run: while a node holds a pool and half
the CPU units, the status socket in the state directory (mode 0600) answers with what runs and
why each other node waits; text and --json say the same; once the run ends the socket is gone
and zdag status says no run is going on. The run is held by a node that waits for a file the
test writes, so nothing depends on timing."""
import json
import os
import socket
import stat
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402


class StatusTest(ZdagTestCase):
    def pipeline(self):
        started, go = self.path("started"), self.path("go")
        return self.write("pipe.yaml", "pools: {db: 1}\n"
                                       "nodes:\n"
                                       f"  hold: {{pool: db, cmd: 'echo up > {started};"
                                       f" until [ -e {go} ]; do sleep 0.02; done'}}\n"
                                       "  blocked: {pool: db, cmd: 'true'}\n"
                                       "  big: {cpus: 2, cmd: 'true'}\n"
                                       "  after: {deps: [hold], cmd: 'true'}\n")

    def test_status_of_a_held_run(self):
        pipe = self.pipeline()
        run = self.start("run", pipe, "-w", "2", "--cpus", "2", "-q")
        try:
            self.wait_for_file(self.path("started"))
            sock = self.path(".zdag", "status")
            st = os.stat(sock)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0)
            p = self.zdag("status", pipe, "--json", check=0)
            got = json.loads(p.stdout)
            host = socket.gethostname()
            self.assertEqual(got["pipeline"], pipe)
            self.assertEqual(got["counts"]["running"], 1)
            self.assertEqual(got["counts"]["ready"], 2)
            self.assertEqual(got["counts"]["waiting"], 1)
            self.assertEqual([(n["name"], n["host"], n["attempt"]) for n in got["running"]],
                             [("hold", host, 1)])
            why = {n["name"]: n["why"] for n in got["waiting"]}
            self.assertEqual(why, {
                "blocked": "ready: pool db is full (1 of 1 in use)",
                "big": f"ready: CPU units or resources in use on every host; {host} 1/2",
                "after": "waits for hold (running)"})
            self.assertEqual(got["waiting_total"], 3)
            self.assertEqual(sorted(n["name"] for n in got["ready"]), ["big", "blocked"])
            self.assertEqual([(h["name"], h["slots"], h["busy"], h["cpus_used"], h["cpus"])
                              for h in got["hosts"]], [(host, 2, 1, 1.0, 2.0)])
            # The text says the same, from the state directory too.
            text = self.zdag("status", self.path(".zdag"), check=0).stdout
            self.assertIn("nodes: 1 waiting, 2 ready, 1 running\n", text)
            self.assertRegex(text, r"\n  hold +on " + host + r", executor \d, attempt 1, ")
            self.assertIn("  blocked                  ready: pool db is full (1 of 1 in use)\n",
                          text)
            self.assertIn("  after                    waits for hold (running)\n", text)
        finally:
            self.write("go", "")
            out, err = run.communicate(timeout=60)
        self.assertEqual(run.returncode, 0, err)
        self.assertFalse(os.path.exists(self.path(".zdag", "status")))
        p = self.zdag("status", pipe, check=1)
        self.assertEqual(p.stderr, f"zdag: no run is going on in {self.dir}/.zdag (no status "
                                   f"socket {self.dir}/.zdag/status)\n")

    def test_metrics_of_a_held_run(self):
        # --metrics: Prometheus text over HTTP while the run is held, 404 elsewhere; a port in
        # use is a clear error before any node starts.
        pipe = self.pipeline()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        run = self.start("run", pipe, "-w", "2", "--cpus", "2", "-q",
                         "--metrics", f"127.0.0.1:{port}")
        try:
            self.wait_for_file(self.path("started"))
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:  # a snapshot is at most 0.5 s old: wait for the one with hold running
                with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
                    self.assertEqual(r.headers["Content-Type"],
                                     "text/plain; version=0.0.4; charset=utf-8")
                    text = r.read().decode()
                if 'zdag_nodes{state="running"} 1\n' in text or time.time() > deadline:
                    break
                time.sleep(0.05)
            samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                           if line and not line.startswith("#"))
            host = socket.gethostname()
            self.assertEqual(samples['zdag_nodes{state="running"}'], "1")
            self.assertEqual(samples['zdag_nodes{state="ready"}'], "2")
            self.assertEqual(samples['zdag_nodes{state="waiting"}'], "1")
            self.assertEqual(samples["zdag_attempts_started_total"], "1")
            self.assertEqual(samples["zdag_results_total"], "0")
            self.assertEqual(samples[f'zdag_host_executors{{host="{host}"}}'], "2")
            self.assertEqual(samples[f'zdag_host_executors_busy{{host="{host}"}}'], "1")
            self.assertEqual(samples[f'zdag_host_cpus_used{{host="{host}"}}'], "1")
            self.assertIn("# TYPE zdag_results_total counter\n", text)
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + "/", timeout=10)
            self.assertEqual(e.exception.code, 404)
            report = self.path("other.json")
            busy = self.zdag("run", pipe, "--metrics", f"127.0.0.1:{port}", "--state-dir",
                             self.path("other"), "--report", report, "-q", check=3)
            self.assertIn(f"--metrics 127.0.0.1:{port}: cannot listen there", busy.stderr)
            with open(report) as f:
                self.assertEqual({n["attempts"] for n in json.load(f)["nodes"]}, {0})
        finally:
            self.write("go", "")
            out, err = run.communicate(timeout=60)
        self.assertEqual(run.returncode, 0, err)

    def test_status_over_listen_for_authorized_keys(self):
        # Another host asks the --listen socket with a key the coordinator admits; an unknown key
        # gets no answer (ZAP refuses it), and says so.
        for name in ("coord", "good", "bad"):
            self.zdag("keygen", self.path(name), check=0)
        os.mkdir(self.path("authorized"))
        os.link(self.path("good.pub"), self.path("authorized", "good.pub"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            endpoint = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        pipe = self.pipeline()
        run = self.start("run", pipe, "-w", "2", "--cpus", "2", "-q", "--listen", endpoint,
                         "--curve-secret", self.path("coord.key"), "--authorized-keys",
                         self.path("authorized"))
        try:
            self.wait_for_file(self.path("started"))
            ask = ["status", "--connect", endpoint, "--coordinator-key", self.path("coord.pub"),
                   "--json", "--curve-secret"]
            got = json.loads(self.zdag(*ask, self.path("good.key"), check=0).stdout)
            self.assertEqual([n["name"] for n in got["running"]], ["hold"])
            self.assertEqual(got["waiting_total"], 3)
            p = self.zdag(*ask, self.path("bad.key"), check=1)
            self.assertIn("this key is not authorized", p.stderr)
            p = self.zdag("status", "--connect", endpoint, check=2)
            self.assertIn("needs --curve-secret FILE and --coordinator-key FILE, or --insecure",
                          p.stderr)
        finally:
            self.write("go", "")
            out, err = run.communicate(timeout=60)
        self.assertEqual(run.returncode, 0, err)

    def test_a_killed_run_leaves_a_socket_nobody_answers(self):
        os.mkdir(self.path(".zdag"))
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.path(".zdag", "status"))  # bound, never listening: as a killed run leaves it
        try:
            p = self.zdag("status", "--state-dir", self.path(".zdag"), check=1)
        finally:
            s.close()
        self.assertIn("is left from a run that was killed", p.stderr)
        self.assertEqual(self.zdag("status", "a", "b").returncode, 2)


if __name__ == "__main__":
    unittest.main()
