"""Many hosts on one machine: a coordinator and three worker hosts, each in its own Linux
network namespace, joined by a bridge in a fifth namespace (veth pairs, private 10.x addresses
that exist only inside these namespaces). Checks per-host limits, a SIGKILLed agent and a
network partition longer than the heartbeat timeout.

Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2: when `ip netns add` fails the
whole class is skipped, saying why. Everything created here is removed again, also on failure.

Each command records, in a directory every namespace sees, the network namespace it ran in
(`readlink /proc/$$/ns/net`), its shell's pid and its attempt: the test then knows which host
really ran what, independently of the report."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name, overlaps  # noqa: E402
from test_limits import max_overlap  # noqa: E402

ZDAG_BIN = os.path.abspath(ZDAG)
TAG = f"zdag{os.getpid()}"  # unique per run: parallel CI jobs do not meet
SUBNET = "10.213.7"
COORD_ADDR = f"{SUBNET}.1"
ENDPOINT = f"tcp://{COORD_ADDR}:7700"
HEARTBEAT = 0.2  # seconds; an agent silent for 5 beats (1 s) is lost
HOSTS = ("host1", "host2", "host3")

# What a command runs first: "NETNS PID" into START.NODE.ATTEMPT (written whole, then renamed,
# so that a reader never sees half a line).
MARK_START = ('echo "$(readlink /proc/$$/ns/net) $$" > {s}/.t.$ZDAG_NODE.$ZDAG_ATTEMPT && '
              'mv {s}/.t.$ZDAG_NODE.$ZDAG_ATTEMPT {s}/start.$ZDAG_NODE.$ZDAG_ATTEMPT')
MARK_END = 'touch {s}/end.$ZDAG_NODE.$ZDAG_ATTEMPT'


def ip(*args, check=True):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {p.stderr.strip()}")
    return p


def cpu_peak(nodes, cpus_of):
    """The most CPU units the given report nodes held at one instant."""
    events = sorted([(n["start_s"], cpus_of[n["name"]]) for n in nodes] +
                    [(n["end_s"], -cpus_of[n["name"]]) for n in nodes])
    used = peak = 0
    for _, delta in events:
        used += delta
        peak = max(peak, used)
    return peak


def live_attempt(marker, node, attempt):
    """PIDs of live processes of this test (its env marker) running `attempt` of `node`."""
    want = {f"ZDAG_TEST_MARKER={marker}".encode(), f"ZDAG_NODE={node}".encode(),
            f"ZDAG_ATTEMPT={attempt}".encode()}
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:
            continue
        if want <= env:
            found.append(int(pid))
    return found


class NetnsTest(ZdagTestCase):
    @classmethod
    def setUpClass(cls):
        cls.bridge_ns = f"{TAG}br"
        cls.coord_ns = f"{TAG}co"
        cls.host_ns = {h: f"{TAG}{h}" for h in HOSTS}
        cls.link_of = {h: f"v{h}" for h in HOSTS}  # bridge-side end of each host's cable
        cls.created = []
        cls.addClassCleanup(cls.remove_namespaces)
        try:
            p = ip("netns", "add", cls.bridge_ns, check=False)
        except FileNotFoundError:
            raise unittest.SkipTest("no network namespaces: the `ip` command (iproute2) is "
                                    "not installed")
        if p.returncode != 0:
            raise unittest.SkipTest(f"no network namespaces: `ip netns add {cls.bridge_ns}` "
                                    f"failed ({p.stderr.strip()}); these tests need root")
        cls.created.append(cls.bridge_ns)
        b = cls.bridge_ns
        ip("-n", b, "link", "set", "lo", "up")
        ip("-n", b, "link", "add", "br0", "type", "bridge")
        ip("-n", b, "link", "set", "br0", "up")
        ends = [(cls.coord_ns, "vco", COORD_ADDR)] + [
            (cls.host_ns[h], cls.link_of[h], f"{SUBNET}.{11 + i}") for i, h in enumerate(HOSTS)]
        for ns, peer, addr in ends:
            ip("netns", "add", ns)
            cls.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", b)
            ip("-n", b, "link", "set", peer, "master", "br0")
            ip("-n", b, "link", "set", peer, "up")
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
        # which namespace a command ran in, by the inode of its network namespace
        cls.host_of_netns = {}
        for h, ns in cls.host_ns.items():
            cls.host_of_netns[f"net:[{os.stat(f'/run/netns/{ns}').st_ino}]"] = h
        cls.host_of_netns[f"net:[{os.stat(f'/run/netns/{cls.coord_ns}').st_ino}]"] = "coordinator"

    @classmethod
    def remove_namespaces(cls):
        for ns in reversed(cls.created):
            # anything left in a namespace of ours was started by this test
            p = ip("netns", "pids", ns, check=False)
            for pid in p.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            deadline = time.time() + 5
            while ip("netns", "pids", ns, check=False).stdout.strip() and time.time() < deadline:
                time.sleep(0.05)
            ip("netns", "del", ns, check=False)
        cls.created = []

    def setUp(self):
        super().setUp()
        self.procs = []  # (name, Popen)
        self.shared = self.path("shared")
        os.mkdir(self.shared)
        self.restore_links()

    def tearDown(self):
        try:
            for _, p in self.procs:
                if p.poll() is None:
                    p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            for ns in [self.coord_ns, *self.host_ns.values()]:
                for pid in ip("netns", "pids", ns, check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            self.restore_links()
        finally:
            super().tearDown()

    def restore_links(self):
        for link in self.link_of.values():
            ip("-n", self.bridge_ns, "link", "set", link, "up", check=False)

    # --- processes in namespaces ---------------------------------------------------------

    def spawn(self, name, ns, *args):
        with open(self.path(f"{name}.out"), "w") as out, \
                open(self.path(f"{name}.err"), "w") as err:
            p = subprocess.Popen(["ip", "netns", "exec", ns, ZDAG_BIN, *args], cwd=self.dir,
                                 env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append((name, p))
        return p

    def stderr_of(self, name):
        with open(self.path(f"{name}.err")) as f:
            return f.read()

    def coordinator(self, text):
        pipe = self.write("pipe.yaml", text)
        self.report = self.path("report.json")
        return self.spawn("coordinator", self.coord_ns, "run", pipe, "-w", "0", "--listen",
                          ENDPOINT, "--insecure", "--heartbeat", str(HEARTBEAT), "--report",
                          self.report, "-q")

    def worker(self, host, slots, cpus):
        return self.spawn(host, self.host_ns[host], "worker", "--connect", ENDPOINT,
                          "--insecure", "--host-id", host, "--slots", str(slots), "--cpus",
                          str(cpus))

    def logs(self):
        return "\n".join(f"--- {name} (exit {p.poll()}) ---\n{self.stderr_of(name)}"
                         for name, p in self.procs)

    def wait_until(self, what, predicate, timeout=20):
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                self.fail(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.02)

    def finish(self, coord, expect=0):
        try:
            coord.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail(f"the coordinator did not finish\n{self.logs()}")
        self.assertEqual(coord.returncode, expect, self.logs())
        with open(self.report) as f:
            return json.load(f)

    def wait_workers(self, hosts, expect=0):
        procs = dict(self.procs)
        for h in hosts:
            try:
                procs[h].wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.fail(f"worker {h} did not end with the run\n{self.logs()}")
            self.assertEqual(procs[h].returncode, expect, f"worker {h}\n{self.logs()}")

    # --- what the commands recorded ------------------------------------------------------

    def started(self, node, attempt):
        """(host, pid) recorded by an attempt of node, or None if it did not start."""
        try:
            with open(os.path.join(self.shared, f"start.{node}.{attempt}")) as f:
                netns, pid = f.read().split()
        except FileNotFoundError:
            return None
        return self.host_of_netns.get(netns, netns), int(pid)

    def ended(self, node, attempt):
        return os.path.exists(os.path.join(self.shared, f"end.{node}.{attempt}"))

    def connections(self, host):
        """Established TCP connections from host's namespace to the coordinator."""
        p = subprocess.run(["ip", "netns", "exec", self.host_ns[host], "ss", "-Htn", "state",
                            "established", "dst", COORD_ADDR], capture_output=True, text=True,
                           timeout=10)
        return len(p.stdout.splitlines())

    def check_report_hosts(self, r):
        """The report names the host whose namespace really ran the last attempt."""
        for n in r["nodes"]:
            s = self.started(n["name"], n["attempts"])
            self.assertIsNotNone(s, f"{n['name']} attempt {n['attempts']} left no marker")
            self.assertEqual(s[0], n["host"], n["name"])

    # --- tests ---------------------------------------------------------------------------

    def test_every_host_used_within_its_limits(self):
        """30 nodes of 0, 1 or 2 CPU units on three hosts of different slots and cpus: every
        host runs nodes, none ever holds more nodes than its slots or more units than its
        cpus, and the report's host is the namespace that really ran the command."""
        limits = {"host1": (2, 2), "host2": (3, 4), "host3": (4, 3)}  # slots, cpus
        cpus_of = {f"n{i}": (0, 1, 2)[i % 3] for i in range(30)}
        step = f"{MARK_START.format(s=self.shared)}; sleep 0.2"
        text = "nodes:\n" + "".join(f"  {name}: {{cmd: '{step}', cpus: {c}}}\n"
                                    for name, c in cpus_of.items())
        # workers first: they keep trying until the coordinator listens, so all three are in
        # before the first dispatch is over
        for h, (slots, cpus) in limits.items():
            self.worker(h, slots, cpus)
        coord = self.coordinator(text)
        r = self.finish(coord)
        self.wait_workers(HOSTS)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(sorted(n["name"] for n in r["nodes"]), sorted(cpus_of))
        by_host = {}
        for n in r["nodes"]:
            self.assertEqual(n["status"], "succeeded", n)
            self.assertEqual(n["attempts"], 1, n)
            by_host.setdefault(n["host"], []).append(n)
        self.assertEqual(set(by_host), set(HOSTS), "every host runs nodes")
        for h, nodes in by_host.items():
            slots, cpus = limits[h]
            self.assertLessEqual(max_overlap(nodes), slots, f"{h}: more nodes than slots")
            self.assertLessEqual(cpu_peak(nodes, cpus_of), cpus, f"{h}: more CPU units")
        self.assertGreater(max_overlap(r["nodes"]), max(s for s, _ in limits.values()),
                           "the hosts ran nodes at the same time")
        self.check_report_hosts(r)

    def test_killed_agent_nodes_rerun_elsewhere(self):
        """kill -9 of host2's agent while it runs three nodes: their commands die with it,
        the nodes run again on the other hosts, the run succeeds, each node once."""
        names = [f"k{i}" for i in range(18)]
        step = f"{MARK_START.format(s=self.shared)}; sleep 1; {MARK_END.format(s=self.shared)}"
        text = "nodes:\n" + "".join(f"  {name}: {{cmd: '{step}', cpus: {i % 2}}}\n"
                                    for i, name in enumerate(names))
        coord = self.coordinator(text)
        for h, slots, cpus in (("host1", 2, 2), ("host2", 3, 3), ("host3", 2, 1)):
            self.worker(h, slots, cpus)
        victim = dict(self.procs)["host2"]

        def on_victim():
            return [n for n in names if (self.started(n, 1) or ("", 0))[0] == "host2"]
        # all three slots of host2 busy (none idle: see test_killed_agent_with_idle_executors)
        self.wait_until("three nodes running on host2",
                        lambda: len([n for n in on_victim() if not self.ended(n, 1)]) >= 3)
        victim.send_signal(signal.SIGKILL)  # the agent itself: `ip netns exec` exec'd it
        victim.wait(timeout=10)
        on_victim_at_kill = set(on_victim())
        r = self.finish(coord)
        self.wait_workers(("host1", "host3"))
        err = self.stderr_of("coordinator")
        self.assertRegex(err, r"worker \d+ on host host2 is lost")
        self.assertNotRegex(err, r"on host host[13] is lost")
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(sorted(n["name"] for n in r["nodes"]), sorted(names), "each node once")
        n = nodes_by_name(r)
        for name in names:
            self.assertEqual(n[name]["status"], "succeeded", n[name])
        # The first attempts the kill cut short: their commands never finished, so the nodes
        # ran again, elsewhere, and the killed agent's commands died with it.
        cut = [name for name in on_victim_at_kill if not self.ended(name, 1)]
        self.assertTrue(cut, "a node was running on host2 when its agent was killed")
        for name in cut:
            self.assertGreaterEqual(n[name]["attempts"], 2, n[name])
            self.assertIn(n[name]["host"], ("host1", "host3"), n[name])
            self.assertEqual(live_attempt(self.marker, name, 1), [],
                             f"attempt 1 of {name} outlived its killed agent")
            self.assertFalse(self.ended(name, 1), f"attempt 1 of {name} finished after all")
        # nothing started on host2 after its agent died
        self.assertEqual(set(on_victim()), on_victim_at_kill)
        self.check_report_hosts(r)

    def test_killed_agent_with_idle_executors(self):
        """An agent is killed while its executors wait for work, and nodes become ready before
        the coordinator notices (1 s of silence). A node sent to a dead executor must run
        elsewhere: the run succeeds, each node on the surviving host."""
        s = self.shared
        gate = f"i=0; while [ ! -e {s}/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done"
        text = f"""
nodes:
  first: {{cmd: '{MARK_START.format(s=s)}; {gate}', cpus: 0}}
""" + "".join(f"  d{i}: {{cmd: '{MARK_START.format(s=s)}; sleep 0.2', cpus: 0, deps: [first]}}\n"
              for i in range(6))
        coord = self.coordinator(text)
        self.worker("host1", 2, 2)
        self.worker("host2", 2, 2)
        self.wait_until("both hosts joined", lambda: all(
            f"joined from host {h}" in self.stderr_of("coordinator") for h in ("host1", "host2")))
        self.wait_until("first running", lambda: self.started("first", 1))
        busy = self.started("first", 1)[0]
        idle = "host2" if busy == "host1" else "host1"
        # its agent and both executors are connected; give the executors' HELLOs a moment
        self.wait_until(f"{idle}'s executors connected", lambda: self.connections(idle) == 3)
        time.sleep(0.3)
        victim = dict(self.procs)[idle]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        # its executors follow it (parent-death signal); once they are gone, their
        # connections are closed
        self.wait_until(f"the executors of {idle} gone",
                        lambda: not ip("netns", "pids", self.host_ns[idle]).stdout.strip())
        time.sleep(0.1)
        open(os.path.join(s, "go"), "w").close()  # the dependents become ready now
        # BUG (zdag): nodes dispatched in the window to the dead agent's executors fail with
        # "cannot send node "dN" to executor M: messaging error" (ROUTER_MANDATORY answers
        # EHOSTUNREACH) and the run exits 1, instead of treating the executor as lost and
        # running the node elsewhere. See coordinator/coord.c dispatch() -> send_task().
        r = self.finish(coord)
        self.wait_workers((busy,))
        self.assertEqual(r["status"], "succeeded")
        for node in r["nodes"]:
            self.assertEqual(node["status"], "succeeded", node)
            self.assertEqual(node["host"], busy, node)
        self.check_report_hosts(r)

    def test_partition_longer_than_heartbeat_timeout(self):
        """host3's link is down for 2.5 s while it runs two nodes (1 s heartbeat timeout):
        both sides give up, the nodes run elsewhere, the late result of the one that finished
        meanwhile is discarded, the other's command was killed by its agent, the agent
        rejoins after the partition, and the sequential node still ran alone."""
        s = self.shared
        start, end = MARK_START.format(s=s), MARK_END.format(s=s)
        # bounded waits inside commands: 400 x 0.05 s = 20 s at most
        wait_for = 'i=0; while [ ! -e {s}/{f} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done'
        text = f"""
nodes:
  # node 0: finishes during the partition, so that its result arrives late
  victim_short: {{cmd: '{start}; {wait_for.format(s=s, f="go")}; {end}', cpus: 0,
                 priority: 100}}
  # the first attempt would run 10 s: the partitioned agent must kill it
  victim_long: {{cmd: '{start}; if [ $ZDAG_ATTEMPT = 1 ]; then sleep 10; else sleep 0.3; fi; {end}',
                cpus: 0, priority: 100}}
""" + "".join(f"  f{i}: {{cmd: '{start}; sleep 0.3', cpus: {i % 2}}}\n" for i in range(8)) + \
            "".join(f"  g{i}: {{cmd: '{start}; sleep 0.4', cpus: 0, deps: [victim_short]}}\n"
                    for i in range(4)) + f"""
  alone: {{cmd: '{start}; sleep 0.3', sequential: true, deps: [victim_short, victim_long]}}
  tail: {{cmd: '{start}; {wait_for.format(s=s, f="release")}', cpus: 0, deps: [alone]}}
""" + "".join(f"  t{i}: {{cmd: '{start}; sleep 0.2', cpus: 1, deps: [alone]}}\n"
              for i in range(4))
        coord = self.coordinator(text)
        # host3 alone first: with 2 slots it takes the two victims (the highest priority)
        self.worker("host3", 2, 2)
        self.wait_until("both victims running",
                        lambda: self.started("victim_short", 1) and self.started("victim_long", 1))
        self.assertEqual(self.started("victim_short", 1)[0], "host3")
        self.assertEqual(self.started("victim_long", 1)[0], "host3")
        self.worker("host1", 2, 2)
        self.worker("host2", 3, 3)
        self.wait_until("host1 and host2 joined", lambda: all(
            f"joined from host {h}" in self.stderr_of("coordinator") for h in ("host1", "host2")))

        # the cable of host3 is pulled for 2.5 s, more than the 1 s heartbeat timeout
        ip("-n", self.bridge_ns, "link", "set", self.link_of["host3"], "down")
        down_at = time.time()
        time.sleep(0.3)
        open(os.path.join(s, "go"), "w").close()  # victim_short ends inside the partition
        self.wait_until("host3 declared lost",
                        lambda: "on host host3 is lost" in self.stderr_of("coordinator"))
        self.wait_until("host3's agent giving up on the coordinator",
                        lambda: "the coordinator is silent" in self.stderr_of("host3"))
        time.sleep(max(0.0, down_at + 2.5 - time.time()))
        ip("-n", self.bridge_ns, "link", "set", self.link_of["host3"], "up")
        # The partition healed: victim_short's late result is on its way (TCP retransmits it)
        # and host3's agent comes back with a new session. Hold the run open (the tail node
        # waits for "release") until both were seen, or 10 s.
        deadline = time.time() + 10
        while time.time() < deadline and not (
                "discarded" in self.stderr_of("coordinator") and
                self.stderr_of("coordinator").count("joined from host host3") >= 2):
            time.sleep(0.05)
        open(os.path.join(s, "release"), "w").close()
        r = self.finish(coord)
        err = self.stderr_of("coordinator")
        self.assertEqual(r["status"], "succeeded")
        n = nodes_by_name(r)
        self.assertEqual(len(n), len(r["nodes"]), "each node once")
        for node in r["nodes"]:
            self.assertEqual(node["status"], "succeeded", node)
        self.assertRegex(err, r"worker \d+ on host host3 is lost")
        self.assertNotRegex(err, r"on host host[12] is lost")
        lost_at = err.index("on host host3 is lost")
        # host3 came back after the partition as a new worker, and the run's end released it
        # like the others
        self.assertRegex(err[lost_at:], r"worker \d+ joined from host host3")
        self.wait_workers(HOSTS)
        for victim in ("victim_short", "victim_long"):
            self.assertIn(f'executor died (host lost) while running "{victim}"', err)
            # re-dispatched while host3 was cut off: elsewhere
            self.assertGreaterEqual(n[victim]["attempts"], 2, n[victim])
            self.assertIn(n[victim]["host"], ("host1", "host2"), n[victim])
        # victim_short's first attempt was told to end 0.3 s into the partition: it either
        # finished within its lease (its result came back after the loss and was discarded),
        # or, on a loaded machine, its agent fenced it first (T_fence after its last
        # acknowledged beat); never both, and never a result accepted from the lost host
        if self.ended("victim_short", 1):
            self.assertRegex(err[lost_at:], r"discarded a stale or unknown result \(node 0\)",
                             "the late result of victim_short's lost attempt is discarded")
        else:
            self.assertIn("stopped every node this host ran", self.stderr_of("host3"))
        # the partitioned agent killed victim_long's first attempt: it never finished and no
        # process of it is left, although its command would still be sleeping
        self.assertEqual(live_attempt(self.marker, "victim_long", 1), [],
                         "the partitioned agent left its command running")
        self.assertFalse(self.ended("victim_long", 1))
        self.assertTrue(self.ended("victim_long", n["victim_long"]["attempts"]))
        # the sequential node ran alone
        for other in r["nodes"]:
            if other["name"] != "alone":
                self.assertFalse(overlaps(n["alone"], other), f"{other['name']} overlaps alone")
        self.check_report_hosts(r)


if __name__ == "__main__":
    unittest.main()
