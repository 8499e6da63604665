"""Fault scenarios against a lease holder, shared by test_stall.py, test_partition.py and
scripts/chaos.py: a coordinator and two workers (hosts A and B) on loopback, or in network
namespaces (Netns), a pipeline whose lease holder ticks (faults.py), and one fault injected into
the host that holds the lease while it ticks:

  agent          SIGSTOP of that host's agent for STOP_BEATS heartbeats, then SIGCONT
  executor       the same, of the executor running the holder only
  tree           the same, of the whole worker process tree (agent, every executor, the node's
                 processes): stopped children first, continued parents first
  kill-agent     SIGKILL of the agent
  kill-executor  SIGKILL of the executor running the holder
  partition      (Netns only) the host's cable down for PARTITION_BEATS heartbeats, then up

run_trial() returns a Trial with what happened: the ticks (ground truth), double holders, nodes
not succeeded, duplicate completions, a hang. It asserts nothing: the tests and chaos decide."""
import json
import os
import signal
import socket
import subprocess
import time

import faults

HEARTBEAT = 0.2          # --heartbeat: T_fence = 3 hb = 0.6 s, T_lost = 5 hb = 1.0 s
STOP_BEATS = 10          # a stop of 2 s: longer than T_lost
PARTITION_BEATS = 8      # a partition of 1.6 s: longer than T_lost
HOLD_S = 3.0             # the holder ticks this long (60 ticks)
DEADLINE_S = 60.0        # a run not over by then hangs
FAULTS = ("agent", "executor", "tree", "kill-agent", "kill-executor", "partition")
LEASES = ("sequential", "pool")
HOSTS = ("A", "B")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ip(*args, check=True):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {p.stderr.strip()}")
    return p


class Netns:
    """A coordinator namespace and one per host, joined by a bridge in another namespace. The
    hosts' cables (bridge-side veth ends) can be pulled: cut(host) / mend(host).
    Raises Unavailable (with the reason) when namespaces cannot be made here."""

    class Unavailable(Exception):
        pass

    def __init__(self, tag, subnet, hosts=HOSTS):
        self.tag, self.subnet, self.hosts = tag, subnet, hosts
        self.bridge = f"{tag}br"
        self.coord_ns = f"{tag}co"
        self.host_ns = {h: f"{tag}h{h}" for h in hosts}
        self.link_of = {h: f"v{tag[-6:]}{h}" for h in hosts}
        self.coord_addr = f"{subnet}.1"
        self.created = []

    def setup(self):
        try:
            p = ip("netns", "add", self.bridge, check=False)
        except FileNotFoundError:
            raise Netns.Unavailable("the `ip` command (iproute2) is not installed")
        if p.returncode != 0:
            raise Netns.Unavailable(f"`ip netns add` failed ({p.stderr.strip()}); this needs "
                                    "root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
        self.created.append(self.bridge)
        try:
            b = self.bridge
            ip("-n", b, "link", "set", "lo", "up")
            ip("-n", b, "link", "add", "br0", "type", "bridge")
            ip("-n", b, "link", "set", "br0", "up")
            ends = [(self.coord_ns, f"v{self.tag[-6:]}co", self.coord_addr)] + [
                (self.host_ns[h], self.link_of[h], f"{self.subnet}.{11 + i}")
                for i, h in enumerate(self.hosts)]
            for ns, peer, addr in ends:
                ip("netns", "add", ns)
                self.created.append(ns)
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer,
                   "netns", b)
                ip("-n", b, "link", "set", peer, "master", "br0")
                ip("-n", b, "link", "set", peer, "up")
                ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
                ip("-n", ns, "link", "set", "eth0", "up")
        except Exception:
            self.teardown()
            raise

    def kill_all(self):
        for ns in self.created:
            for pid in ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGCONT)
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass

    def teardown(self):
        self.kill_all()
        for ns in reversed(self.created):
            deadline = time.monotonic() + 5
            while ip("netns", "pids", ns, check=False).stdout.strip() and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            ip("netns", "del", ns, check=False)
        self.created = []

    def cut(self, host):
        ip("-n", self.bridge, "link", "set", self.link_of[host], "down")

    def mend(self, host=None):
        for h in ([host] if host else self.hosts):
            ip("-n", self.bridge, "link", "set", self.link_of[h], "up", check=False)


class Trial:
    """One run of one scenario in directory `workdir` (which must exist) with environment env."""

    def __init__(self, zdag, workdir, env, fault, lease, netns=None):
        assert fault in FAULTS and lease in LEASES
        assert fault != "partition" or netns is not None
        self.zdag, self.dir, self.env = os.path.abspath(zdag), workdir, env
        self.fault, self.lease, self.netns = fault, lease, netns
        self.procs = {}  # name -> Popen; output in NAME.out / NAME.err
        self.marks = os.path.join(workdir, "marks")
        self.ticks_path = os.path.join(workdir, "ticks")
        os.makedirs(self.marks, exist_ok=True)
        self.ticker = faults.write_ticker(workdir)
        self.report_path = os.path.join(workdir, "report.json")
        self.results_path = os.path.join(workdir, "results.json")
        if netns:
            self.endpoint = f"tcp://{netns.coord_addr}:{7700 + (os.getpid() % 200)}"
        else:
            self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        # what happened
        self.injected = 0         # faults injected
        self.holder = None        # token of the first holder attempt
        self.holder_host = None   # "A" or "B"
        self.stopped = []         # pids stopped (tree: all of them)
        self.thaw_ns = None       # when they were continued
        self.hang = False
        self.coord_exit = None
        self.report = None
        self.results = {}
        self.exit_of = {}         # worker name -> exit status (None: still running at the end)
        self.exited_during_run = {}  # worker name -> exited before the coordinator did
        self.error = None         # the scenario itself could not be carried out

    # ---- processes -------------------------------------------------------------------------

    def spawn(self, name, argv, ns=None):
        if ns:
            argv = ["ip", "netns", "exec", ns, *argv]
        with open(os.path.join(self.dir, f"{name}.out"), "w") as out, \
                open(os.path.join(self.dir, f"{name}.err"), "w") as err:
            p = subprocess.Popen(argv, cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err)
        self.procs[name] = p
        return p

    def stderr_of(self, name):
        try:
            with open(os.path.join(self.dir, f"{name}.err")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def logs(self, tail=4000):
        return "\n".join(f"--- {name} (exit {p.poll()}) ---\n{self.stderr_of(name)[-tail:]}"
                         for name, p in self.procs.items())

    def cleanup(self):
        """Kills whatever is left (stopped processes continued first), reaps it."""
        if self.netns:
            self.netns.mend()
        faults.signal_all(self.stopped, signal.SIGCONT)
        for p in self.procs.values():
            if p.poll() is None:
                for pid in faults.descendants(p.pid):
                    try:
                        os.kill(pid, signal.SIGCONT)
                    except OSError:
                        pass
                p.kill()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.netns:
            self.netns.kill_all()

    # ---- the pipeline ----------------------------------------------------------------------

    def pipeline(self):
        hold = faults.holder_cmd(self.ticker, self.ticks_path, self.marks, HOLD_S)
        mark = f"touch {self.marks}/done.$ZDAG_NODE:$ZDAG_ATTEMPT:$$"
        plain = f"sleep 0.1; {mark}; echo plain"
        if self.lease == "sequential":
            text = "nodes:\n"
            text += "".join(f"  a{i}: {{cmd: '{plain}', cpus: 0}}\n" for i in range(3))
            text += f"  hold: {{cmd: '{hold}', sequential: true, cpus: 0}}\n"
            text += "".join(f"  z{i}: {{cmd: '{plain}', cpus: 0, deps: [hold]}}\n"
                            for i in range(3))
        else:
            short = faults.holder_cmd(self.ticker, self.ticks_path, self.marks, 0.5)
            text = "pools: {p: 1}\nnodes:\n"
            text += f"  hold: {{cmd: '{hold}', pool: p, cpus: 0, priority: 10}}\n"
            text += f"  hold2: {{cmd: '{short}', pool: p, cpus: 0}}\n"
            text += "".join(f"  a{i}: {{cmd: '{plain}', cpus: 0}}\n" for i in range(4))
            text += "".join(f"  z{i}: {{cmd: '{plain}', cpus: 0, deps: [hold, hold2]}}\n"
                            for i in range(2))
        return text

    def holder_nodes(self):
        return ("hold",) if self.lease == "sequential" else ("hold", "hold2")

    def all_nodes(self):
        names = list(self.holder_nodes())
        if self.lease == "sequential":
            names += [f"a{i}" for i in range(3)] + [f"z{i}" for i in range(3)]
        else:
            names += [f"a{i}" for i in range(4)] + [f"z{i}" for i in range(2)]
        return names

    # ---- the scenario ----------------------------------------------------------------------

    def run(self):
        try:
            self._run()
        finally:
            self.cleanup()
        return self

    def _run(self):
        pipe = os.path.join(self.dir, "pipe.yaml")
        with open(pipe, "w") as f:
            f.write(self.pipeline())
        insecure = ["--insecure"]
        ns = self.netns
        # The workers first, and the coordinator once each of them is up and retrying: a
        # pipeline that one host can run would otherwise be over before a worker slow to start
        # (a loaded machine, a sanitizer build) has joined.
        for h in HOSTS:
            self.spawn(h, [self.zdag, "worker", "--connect", self.endpoint, *insecure,
                           "--host-id", h, "--slots", "2", "--cpus", "2"],
                       ns.host_ns[h] if ns else None)
        if not faults.wait_until(lambda: all("nothing listens" in self.stderr_of(h)
                                             for h in HOSTS), 30):
            self.error = "the workers did not start"
            return
        coord = self.spawn("coordinator", [
            self.zdag, "run", pipe, "-w", "0", "--listen", self.endpoint, *insecure,
            "--heartbeat", str(HEARTBEAT), "--report", self.report_path, "--results",
            self.results_path, "-q"], ns.coord_ns if ns else None)
        if not faults.wait_until(lambda: all(f"joined from host {h}" in
                                             self.stderr_of("coordinator") for h in HOSTS) or
                                 coord.poll() is not None, 30):
            self.error = "the workers did not join"
            return
        self.holder = faults.wait_until(lambda: faults.first_tick(self.ticks_path, "hold") or
                                        coord.poll() is not None, 30)
        if not isinstance(self.holder, str):
            self.error = "the holder never ticked"
            self.holder = None
            return
        pid = faults.token_pid(self.holder)
        chain = faults.ancestry(pid)
        agents = {self.procs[h].pid: h for h in HOSTS}
        hosts = [agents[p] for p in chain if p in agents]
        if not hosts or len(chain) < 3:
            self.error = f"cannot tell which worker runs pid {pid} (ancestry {chain})"
            return
        self.holder_host = hosts[0]
        agent, executor = self.procs[self.holder_host].pid, chain[1]
        if faults.ppid_of(executor) != agent:
            self.error = f"pid {pid}'s parent {executor} is not a child of agent {agent}"
            return
        stall = STOP_BEATS * HEARTBEAT
        if self.fault in ("agent", "executor", "tree"):
            if self.fault == "agent":
                self.stopped = [agent]
            elif self.fault == "executor":
                self.stopped = [executor]
            else:
                self.stopped = faults.descendants(agent)
            faults.freeze(self.stopped)
            self.injected = 1
            time.sleep(stall)  # the fault's length, not an oracle
            self.thaw_ns = faults.thaw(self.stopped)
        elif self.fault == "kill-agent":
            os.kill(agent, signal.SIGKILL)
            self.injected = 1
        elif self.fault == "kill-executor":
            os.kill(executor, signal.SIGKILL)
            self.injected = 1
        elif self.fault == "partition":
            ns.cut(self.holder_host)
            self.injected = 1
            try:
                time.sleep(PARTITION_BEATS * HEARTBEAT)  # the fault's length, not an oracle
            finally:
                ns.mend(self.holder_host)
            self.thaw_ns = time.monotonic_ns()
        deadline = time.monotonic() + DEADLINE_S
        while coord.poll() is None and time.monotonic() < deadline:
            for h in HOSTS:
                if h not in self.exited_during_run and self.procs[h].poll() is not None:
                    self.exited_during_run[h] = True
            time.sleep(0.02)
        if coord.poll() is None:
            self.hang = True
            return
        self.coord_exit = coord.returncode
        for h in HOSTS:
            self.exited_during_run.setdefault(h, False)
            try:
                self.procs[h].wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.exit_of[h] = self.procs[h].poll()
        try:
            with open(self.report_path) as f:
                self.report = json.load(f)
        except (OSError, ValueError):
            self.report = None
        try:
            with open(self.results_path) as f:
                self.results = json.load(f)
        except (OSError, ValueError):
            self.results = {}

    # ---- what happened ---------------------------------------------------------------------

    def ticks(self):
        return faults.read_ticks(self.ticks_path)

    def frozen_tokens(self):
        """Tokens whose processes the fault stopped (tree) or cut off (partition)."""
        if self.fault not in ("tree",):
            return set()
        pids = set(self.stopped)
        return {t for t in self.ticks() if faults.token_pid(t) in pids}

    def double_holders(self):
        """Overlapping holders by the ticks. A whole frozen host may tick once after the thaw
        (the residual stated in the README: its processes run until their executor's watchdog,
        woken at the same instant, kills them)."""
        if self.fault == "tree":
            return faults.double_holders(self.ticks(), self.thaw_ns, self.frozen_tokens(), 1)
        return faults.double_holders(self.ticks())

    def nodes(self):
        return {n["name"]: n for n in (self.report or {}).get("nodes", [])}

    def lost_nodes(self):
        """Nodes that did not succeed (all of them when there is no report)."""
        n = self.nodes()
        return sorted(name for name in self.all_nodes()
                      if n.get(name, {}).get("status") != "succeeded")

    def duplicates(self):
        """Nodes whose command completed more than once."""
        count = {}
        for tok in faults.completions(self.marks):
            count[faults.token_node(tok)] = count.get(faults.token_node(tok), 0) + 1
        return sorted(name for name, c in count.items() if c > 1)

    def summary(self):
        return (f"{self.fault}/{self.lease}: holder {self.holder} on {self.holder_host}, "
                f"coordinator exit {self.coord_exit}, hang {self.hang}, error {self.error}, "
                f"double holders {self.double_holders()}, lost {self.lost_nodes()}, "
                f"duplicates {self.duplicates()}, workers {self.exit_of}")
