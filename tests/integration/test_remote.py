"""Remote workers on the loopback interface: agents joining with their own limits, a killed
agent, CurveZMQ keys (authorized, unauthorized, wrong coordinator key), refusal of plain tcp,
function nodes on a remote worker."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, free_port, nodes_by_name  # noqa: E402
from test_limits import max_overlap  # noqa: E402

PLUGIN = os.environ.get("ZDAG_PLUGIN", "")


class RemoteTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.procs = []
        self.followers = []
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        self.followed()
        for p in self.procs:
            p.communicate(timeout=30)
        super().tearDown()

    def follow(self, coord, *phrases):
        """Reads the coordinator's stderr line by line (in a thread, until it exits): returns
        the list of lines read so far and, for each phrase, an Event set once a line has it."""
        lines, seen = [], {phrase: threading.Event() for phrase in phrases}

        def read():
            for line in coord.stderr:
                lines.append(line)
                for phrase, event in seen.items():
                    if phrase in line:
                        event.set()

        reader = threading.Thread(target=read)
        reader.start()
        self.followers.append(reader)
        return lines, seen

    def followed(self):
        """Waits for the readers of follow() (their coordinators have exited or are killed)."""
        for reader in self.followers:
            reader.join(timeout=30)
        self.followers = []

    def spawn(self, *args):
        p = subprocess.Popen([ZDAG, *args], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def coordinator(self, text, *args):
        pipe = self.write("pipe.yaml", text)
        self.report = self.path("report.json")
        return self.spawn("run", pipe, "-w", "0", "--listen", self.endpoint, "--report",
                          self.report, "--heartbeat", "0.2", *args)

    def worker(self, host, slots, cpus, *args):
        return self.spawn("worker", "--connect", self.endpoint, "--host-id", host, "--slots",
                          str(slots), "--cpus", str(cpus), *args)

    def finish(self, coord, expect=0):
        out, err = coord.communicate(timeout=120)
        self.assertEqual(coord.returncode, expect, err)
        with open(self.report) as f:
            return json.load(f), err

    def test_hosts_keep_their_limits(self):
        # Every node waits for `go`, made once both workers have joined (the coordinator's
        # log says so): the run cannot end before either is in, and each host takes nodes.
        go = self.path("go")
        text = "nodes:\n" + "".join(
            f"  n{i}: {{cmd: 'while [ ! -f {go} ]; do sleep 0.02; done; "
            f"echo out-$ZDAG_NODE >&2; sleep 0.2', cpus: {i % 3}}}\n" for i in range(24))
        coord = self.coordinator(text, "--insecure")
        lines, joined = self.follow(coord, "joined from host hostA", "joined from host hostB")
        workers = [self.worker("hostA", 2, 1, "--insecure"),
                   self.worker("hostB", 3, 4, "--insecure")]
        for event in joined.values():
            self.assertTrue(event.wait(timeout=60), "".join(lines))
        with open(go, "w"):
            pass
        coord.wait(timeout=120)
        self.followed()
        self.assertEqual(coord.returncode, 0, "".join(lines))
        with open(self.report) as f:
            r = json.load(f)
        for w in workers:
            _, err = w.communicate(timeout=30)
            self.assertEqual(w.returncode, 0, err)  # the run's end released them
        by_host = {}
        for n in r["nodes"]:
            self.assertEqual(n["status"], "succeeded")
            by_host.setdefault(n["host"], []).append(n)
        self.assertEqual(set(by_host), {"hostA", "hostB"})
        limits = {"hostA": (2, 1), "hostB": (3, 4)}
        for host, nodes in by_host.items():
            slots, cpus = limits[host]
            self.assertLessEqual(max_overlap(nodes), slots, host)
            cpu_nodes = [n for n in nodes if int(n["name"][1:]) % 3]
            events = sorted([(n["start_s"], int(n["name"][1:]) % 3) for n in cpu_nodes] +
                            [(n["end_s"], -(int(n["name"][1:]) % 3)) for n in cpu_nodes])
            used = peak = 0
            for _, d in events:
                used += d
                peak = max(peak, used)
            self.assertLessEqual(peak, cpus, host)
        # the log of a remote attempt came back to the coordinator's state dir
        with open(self.path(".zdag", "logs", "n0.log")) as f:
            self.assertEqual(f.read(), "out-n0\n")

    def test_killed_agent_nodes_run_elsewhere(self):
        marker = self.path("started")
        text = f"""
nodes:
  long: {{cmd: 'touch {marker}; sleep 3', cpus: 0}}
  after: {{cmd: 'true', deps: [long]}}
"""
        coord = self.coordinator(text, "--insecure")
        victim = self.worker("victim", 1, 1, "--insecure")
        deadline = time.time() + 30
        while not os.path.exists(marker):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        survivor = self.worker("survivor", 1, 1, "--insecure")
        victim.kill()
        victim.wait(timeout=30)  # reaped, so zdag sees it gone and sweeps its scratch dir
        r, err = self.finish(coord)
        survivor.communicate(timeout=30)
        n = nodes_by_name(r)
        self.assertEqual(n["long"]["status"], "succeeded")
        self.assertEqual(n["long"]["host"], "survivor")
        self.assertGreaterEqual(n["long"]["attempts"], 2)
        self.assertEqual(len(r["nodes"]), 2)
        self.assertIn("is lost", err)

    def keys(self):
        for name in ("coord", "good", "bad", "other"):
            self.zdag("keygen", self.path(name), check=0)
        os.mkdir(self.path("authorized"))
        os.link(self.path("good.pub"), self.path("authorized", "good.pub"))

    def test_curve_admits_only_authorized_workers(self):
        self.keys()
        coord = self.coordinator("nodes:\n  a: {cmd: 'true'}\n", "--curve-secret",
                                 self.path("coord.key"), "--authorized-keys",
                                 self.path("authorized"))
        lines, seen = self.follow(coord, "refused a worker with an unknown key")
        refused = seen["refused a worker with an unknown key"]
        bad = self.worker("bad", 1, 1, "--curve-secret", self.path("bad.key"),
                          "--coordinator-key", self.path("coord.pub"))
        wrong = self.worker("wrong", 1, 1, "--curve-secret", self.path("good.key"),
                            "--coordinator-key", self.path("other.pub"))
        # The good worker starts only once the bad one has been refused (it keeps trying;
        # neither may take the node): the order comes from the log, not from a sleep.
        self.assertTrue(refused.wait(timeout=120), "".join(lines))
        good = self.worker("good", 1, 1, "--curve-secret", self.path("good.key"),
                           "--coordinator-key", self.path("coord.pub"))
        coord.wait(timeout=120)
        self.followed()
        err = "".join(lines)
        self.assertEqual(coord.returncode, 0, err)
        with open(self.report) as f:
            r = json.load(f)
        good.communicate(timeout=30)
        self.assertEqual(r["nodes"][0]["host"], "good")
        self.assertIn("refused a worker with an unknown key", err)
        self.assertNotIn("joined from host bad", err)
        self.assertNotIn("joined from host wrong", err)
        for p in (bad, wrong):
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=30)

    def test_a_good_worker_causes_no_refusal(self):
        # Only what the worker's connections carry reaches the coordinator: no connection
        # opened and dropped before its handshake (the command line's endpoint check once did).
        self.keys()
        coord = self.coordinator("nodes:\n  a: {cmd: 'true'}\n  b: {cmd: 'true', deps: [a]}\n",
                                 "--curve-secret", self.path("coord.key"), "--authorized-keys",
                                 self.path("authorized"))
        first = coord.stderr.readline()  # the worker starts once the coordinator listens
        self.assertIn("accepting workers on", first)
        good = self.worker("good", 1, 1, "--curve-secret", self.path("good.key"),
                           "--coordinator-key", self.path("coord.pub"))
        r, err = self.finish(coord)
        err = first + err
        good.communicate(timeout=30)
        self.assertEqual(good.returncode, 0)
        self.assertEqual([n["host"] for n in r["nodes"]], ["good", "good"])
        self.assertNotIn("refused", err, err)

    def test_only_the_run_listens_on_its_port(self):
        # A worker may try the port while the coordinator starts: whatever accepts it then
        # must be the run's own socket. A check of --listen that bound the port a moment
        # before the run did took such a worker's connection and dropped it (a plain worker's
        # JOIN went with it; a keyed one was hung up on, as by a coordinator with another key).
        log = self.path("listens")
        self.preload(os.environ["ZDAG_TEST_LISTENLOG"])
        self.env["ZDAG_TEST_LISTEN_LOG"] = log
        coord = self.coordinator("nodes:\n  a: {cmd: 'true'}\n", "--insecure")
        w = self.worker("early", 1, 1, "--insecure")
        r, err = self.finish(coord)
        w.communicate(timeout=30)
        self.assertEqual(w.returncode, 0)
        self.assertEqual(r["nodes"][0]["host"], "early")
        port = self.endpoint.rsplit(":", 1)[1]
        with open(log) as f:
            self.assertEqual([line.strip() for line in f].count(port), 1, err)

    def test_plain_tcp_needs_keys_or_insecure(self):
        pipe = self.write("pipe.yaml", "nodes:\n  a: {cmd: 'true'}\n")
        p = self.zdag("run", pipe, "-w", "0", "--listen", self.endpoint, check=2)
        self.assertIn("--curve-secret", p.stderr)
        p = self.zdag("worker", "--connect", self.endpoint, check=2)
        self.assertIn("--insecure", p.stderr)
        self.zdag("run", pipe, "-w", "0", check=2)  # no executors at all

    def test_function_nodes_on_a_remote_worker(self):
        self.assertTrue(os.path.exists(PLUGIN), PLUGIN)
        text = f"""
plugins: [{PLUGIN}]
nodes:
  evens: {{fn: range, args: {{from: 0, to: 4}}}}
  total: {{fn: sum, args: {{of: evens}}, deps: [evens]}}
"""
        results = self.path("results.json")
        coord = self.coordinator(text, "--insecure", "--results", results)
        w = self.worker("fnhost", 1, 1, "--insecure")
        r, _ = self.finish(coord)
        w.communicate(timeout=30)
        with open(results) as f:
            self.assertEqual(json.load(f), {"evens": [0, 1, 2, 3, 4], "total": 10})
        self.assertEqual({n["host"] for n in r["nodes"]}, {"fnhost"})

    def test_a_program_serves_its_own_functions(self):
        """examples/hello.c registers `answer` and `add` and serves them with
        zdag_worker_run(): a pipeline file calls them with no plugin at all."""
        hello = os.environ["ZDAG_HELLO"]
        text = """
nodes:
  left: {fn: answer}
  right: {fn: answer}
  sum: {fn: add, deps: [left, right]}
"""
        results = self.path("results.json")
        coord = self.coordinator(text, "--insecure", "--results", results)
        w = subprocess.Popen([hello, "worker", "--connect", self.endpoint, "--insecure",
                              "--host-id", "program", "--slots", "2"], cwd=self.dir,
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(w)
        r, _ = self.finish(coord)
        w.communicate(timeout=30)
        self.assertEqual(w.returncode, 0)
        with open(results) as f:
            self.assertEqual(json.load(f), {"left": 21, "right": 21, "sum": 42})
        self.assertEqual({n["host"] for n in r["nodes"]}, {"program"})

    def test_idle_worker_leaves_and_the_run_goes_on(self):
        # `long` holds its worker until the test has seen the other one leave: the idle worker
        # asks to go (--idle-exit), the coordinator lets it (it has no work), the run goes on
        # on the busy one.
        go = self.path("go")
        text = f"""
nodes:
  long: {{cmd: 'while [ ! -f {go} ]; do sleep 0.02; done', cpus: 0}}
  after: {{cmd: 'true', deps: [long]}}
"""
        coord = self.coordinator(text, "--insecure")
        workers = {h: self.worker(h, 1, 1, "--insecure", "--idle-exit", "0.3")
                   for h in ("hostA", "hostB")}
        deadline = time.time() + 60
        while all(w.poll() is None for w in workers.values()):
            self.assertLess(time.time(), deadline, "no worker left")
            time.sleep(0.02)
        gone = next(h for h, w in workers.items() if w.poll() is not None)
        stayed = next(h for h in workers if h != gone)
        _, werr = workers[gone].communicate(timeout=30)
        self.assertEqual(workers[gone].returncode, 0, werr)
        self.assertIn("left the run: idle for 0.3 s", werr)
        self.assertIsNone(coord.poll())  # the run goes on without it
        with open(go, "w"):
            pass
        r, err = self.finish(coord)
        workers[stayed].communicate(timeout=30)
        self.assertEqual(workers[stayed].returncode, 0)
        self.assertEqual({n["host"] for n in r["nodes"]}, {stayed})
        self.assertTrue(all(n["status"] == "succeeded" and n["attempts"] == 1
                            for n in r["nodes"]))
        self.assertIn(f"on host {gone} left the run (idle)", err)
        self.assertNotIn("is lost", err)


if __name__ == "__main__":
    unittest.main()
