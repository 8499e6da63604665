"""`make bench`: zdag side by side with its peers, one Markdown table per work item of issue 11.

Every table runs its contenders interleaved (A B C A B C ...) for BENCH_REPS rounds and shows
the min and the median of each; "ratio" is the peer's median time per node divided by zdag's
(> 1: zdag is faster). Run by bench/run.sh, which builds the helpers and installs the peers;
it can be run alone once they exist. Settings (environment):

  BENCH_REPS=5           rounds per table (the 1-node table uses BENCH_ONE_REPS, default 20)
  BENCH_JOBS=2           -j and executors for the parallel tables
  BENCH_FN_N=100000      no-op function nodes (independent and chained tables)
  BENCH_DASK_N=1000      nodes for Dask (chained: half), which runs ~100x slower
  BENCH_CMD_N=2000       `true` nodes (independent and chained tables)
  BENCH_SCALE="10000 100000"  `zdag run` sizes for the scale table; BENCH_BIG=1 adds 1000000
  BENCH_CHECK="10000 1000000" `zdag check` sizes
  BENCH_OBS_N=20000      function nodes for the --report/--trace/--progress on vs off table
  BENCH_ONLY=fn,cmd,map,one,scale,obs,zmq   a subset of the tables
  BENCH_TIMEOUT=300      seconds before one run is killed and its contender dropped
  ZDAG, ZDAG_BENCH_FN, ZMQ_FLOOR, NOOP_PLUGIN, PY (Debian's python3) paths of what is run
  ZDAG_BASELINE=PATH     another zdag binary (e.g. main's) run interleaved beside ZDAG in the
                         command and 1-node tables, for before/after figures from one run
"""
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))


def env_int(name, default):
    return int(os.environ.get(name, default))


REPS = env_int("BENCH_REPS", 5)
ONE_REPS = env_int("BENCH_ONE_REPS", max(20, REPS))
JOBS = env_int("BENCH_JOBS", 2)
FN_N = env_int("BENCH_FN_N", 100000)
DASK_N = env_int("BENCH_DASK_N", 1000)
CMD_N = env_int("BENCH_CMD_N", 2000)
BIG = os.environ.get("BENCH_BIG", "0") not in ("", "0")
SCALE = [int(x) for x in os.environ.get("BENCH_SCALE", "10000 100000").split()]
if BIG and 1000000 not in SCALE:
    SCALE.append(1000000)
CHECK = [int(x) for x in os.environ.get("BENCH_CHECK", "10000 1000000").split()]
OBS_N = env_int("BENCH_OBS_N", 20000)
ONLY = set(os.environ.get("BENCH_ONLY", "fn,cmd,map,one,scale,obs,zmq").split(","))
TIMEOUT = env_int("BENCH_TIMEOUT", 900 if BIG else 300)

ZDAG = os.environ.get("ZDAG", os.path.join(BUILD, "zdag"))
BASELINE = os.environ.get("ZDAG_BASELINE")
BENCH_FN = os.environ.get("ZDAG_BENCH_FN", os.path.join(BUILD, "examples", "zdag_bench_fn"))
ZMQ_FLOOR = os.environ.get("ZMQ_FLOOR", os.path.join(BUILD, "bench", "zmq_floor"))
SPAWN_FLOOR = os.environ.get("SPAWN_FLOOR", os.path.join(BUILD, "bench", "spawn_floor"))
PLUGIN = os.environ.get("NOOP_PLUGIN", os.path.join(BUILD, "bench", "libzdag_bench_noop.so"))
PY = os.environ.get("PY", "/usr/bin/python3")
PEERS = os.path.join(HERE, "py_peers.py")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def out(line=""):
    print(line, flush=True)


class Failed(Exception):
    pass


def run_cmd(argv, cwd=None, stdin=None):
    """Runs argv (stdin: a file's path, else /dev/null) with output discarded; returns its wall
    seconds (measured here)."""
    f = open(stdin) if stdin else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=cwd, stdin=f, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        wall = time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        raise Failed(f"timed out after {TIMEOUT} s")
    finally:
        if stdin:
            f.close()
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise Failed(f"exit {p.returncode}: {err[-1] if err else ''}"[:160])
    return wall


def run_reporting(argv):
    """Runs a helper that prints `wall_s=S nodes=N`; returns S (its own measurement)."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failed(f"timed out after {TIMEOUT} s")
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise Failed(f"exit {p.returncode}: {err[-1] if err else ''}"[:160])
    return parse_wall(p.stdout.decode())


def parse_wall(text):
    for tok in text.split():
        if tok.startswith("wall_s="):
            return float(tok[7:])
    raise Failed(f"no wall_s in output: {text.strip()[:120]!r}")


TIME = "/usr/bin/time"  # GNU time: ru_maxrss of a child forked by a small process


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def run_measured(argv, cwd=None, tmp="/tmp"):
    """Runs argv; returns (wall s, peak RSS bytes of that process alone, its VmHWM in
    /proc/PID/status sampled every 20 ms until it exits, and ru_maxrss as GNU time reports it,
    the largest of the process and its descendants). A process's ru_maxrss survives exec, so it
    is taken from /usr/bin/time's child, not from one forked by this (large) Python process."""
    use_time = os.access(TIME, os.X_OK)
    rss_file = os.path.join(tmp, "maxrss.txt")
    full = [TIME, "-f", "%M", "-o", rss_file] + argv if use_time else argv
    t0 = time.perf_counter()
    p = subprocess.Popen(full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hwm = [0]
    stop = threading.Event()

    def sample():
        pid = p.pid
        while use_time and not stop.is_set():  # the command: time's child
            kid = child_of(p.pid)
            if kid:
                pid = kid
                break
            stop.wait(0.001)
        path = f"/proc/{pid}/status"
        while not stop.is_set():
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[0] = max(hwm[0], int(line.split()[1]) * 1024)
                            break
            except OSError:
                return
            stop.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        rc = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise Failed(f"timed out after {TIMEOUT} s")
    finally:
        wall = time.perf_counter() - t0
        stop.set()
        t.join()
    if rc != 0:
        raise Failed(f"exit {rc}")
    maxrss = 0
    if use_time:
        with open(rss_file) as f:
            maxrss = int(f.read().split()[-1]) * 1024
    return wall, hwm[0], maxrss


class Contender:
    """One row of a table: a name, how many nodes one run does, and run() -> seconds."""

    def __init__(self, name, nodes, run, note=""):
        self.name, self.nodes, self.run, self.note = name, nodes, run, note
        self.times, self.error = [], None

    def once(self):
        if self.error:
            return
        try:
            self.times.append(self.run())
        except Failed as e:
            self.error = str(e)
            log(f"{self.name}: {self.error}")

    def median(self):
        return statistics.median(self.times) if self.times else None


def interleave(title, contenders, reps):
    for r in range(reps):
        log(f"{title}: round {r + 1}/{reps}")
        for c in contenders:
            c.once()


def fmt_rate(x):
    return f"{x:,.0f}"


def table(contenders, unit="s", ratio_label="ratio (peer / zdag, per node)"):
    """Prints the rows; the first contender is zdag, the reference of the ratio."""
    scale = 1e3 if unit == "ms" else 1.0
    ref = contenders[0]
    ref_per = ref.median() / ref.nodes if ref.times else None
    out(f"| tool | nodes | runs | min {unit} | median {unit} | nodes/s (median) "
        f"| {ratio_label} |")
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in contenders:
        name = c.name + (f" ({c.note})" if c.note else "")
        if not c.times:
            out(f"| {name} | {c.nodes} | 0 | — | — | — | failed: {c.error} |")
            continue
        med = c.median()
        ratio = "1.00" if c is ref else (
            f"{(med / c.nodes) / ref_per:.2f}" if ref_per else "—")
        if c.error:
            ratio += f" (then failed: {c.error})"
        out(f"| {name} | {c.nodes:,} | {len(c.times)} | {min(c.times) * scale:.3f} "
            f"| {med * scale:.3f} | {fmt_rate(c.nodes / med)} | {ratio} |")
    out()


def rate(c):
    return c.nodes / c.median() if c.times else None


def ratio_of(peer, ref):
    if not (peer and peer.times and ref.times):
        return None
    return (peer.median() / peer.nodes) / (ref.median() / ref.nodes)


def verdict(ok):
    return "**met**" if ok else "**not met**"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def cmd_pipeline(n, chained):
    lines = ["nodes:"]
    for i in range(n):
        dep = f", deps: [n{i - 1}]" if chained and i else ""
        lines.append(f"  n{i}: {{cmd: 'true'{dep}}}")
    return "\n".join(lines) + "\n"


def fn_pipeline(path, n):
    with open(path, "w") as f:
        f.write(f"plugins: [{PLUGIN}]\nnodes:\n")
        f.writelines(f"  n{i}: {{fn: noop}}\n" for i in range(n))


def makefile(n, chained):
    names = " ".join(f"n{i}" for i in range(n))
    s = f".PHONY: all {names}\n"
    s += f"all: n{n - 1}\n" if chained else f"all: {names}\n"
    for i in range(n):
        dep = f" n{i - 1}" if chained and i else ""
        s += f"n{i}:{dep}\n\ttrue\n"
    return s


def ninjafile(n, chained):
    s = "rule t\n  command = true\n"
    for i in range(n):
        dep = f" | n{i - 1}" if chained and i else ""
        s += f"build n{i}: t{dep}\n"
    return s + (f"default n{n - 1}\n" if chained else
                "default " + " ".join(f"n{i}" for i in range(n)) + "\n")


class Fresh:
    """A state directory new for every run; the previous run's is removed (outside the
    timing, before the next run starts)."""

    count = 0  # over all instances: no two runs, of any table, share a directory

    def __init__(self, base):
        self.base, self.last = base, None

    def __call__(self):
        if self.last:
            shutil.rmtree(self.last, ignore_errors=True)
        Fresh.count += 1
        self.last = os.path.join(self.base, f"state-{Fresh.count}")
        return self.last


def have_dask():
    if not os.path.exists(PY):
        return False
    return subprocess.run([PY, "-c", "import distributed"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


class DaskServer:
    """One `py_peers.py dask serve` process per table: a run is a line written and read."""

    def __init__(self):
        self.p = subprocess.Popen([PY, PEERS, "dask", "serve"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def run(self, shape, n):
        if self.p.poll() is not None:
            raise Failed(f"dask exited {self.p.returncode}")
        self.p.stdin.write(f"{shape} {n}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise Failed("dask exited")
        return parse_wall(line)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


# --- the tables ------------------------------------------------------------------------------

def bench_fn(tmp, shape):
    chained = shape == "chain"
    n = FN_N
    fresh = Fresh(tmp)
    title = f"{n:,} {'chained' if chained else 'independent'} no-op function nodes"
    out(f"## {title}, {JOBS} executors\n")
    cs = [Contender("zdag (libzdag, zdag_bench_fn)", n,
                    lambda: run_reporting([BENCH_FN, str(n), str(JOBS), shape, fresh()]))]
    cs.append(Contender(f"Python ThreadPoolExecutor({JOBS})", n,
                        lambda: run_reporting([PY, PEERS, "tpe", shape, str(n)])))
    dask = None
    if have_dask():
        dn = DASK_N // 2 if chained else DASK_N
        dask = DaskServer()
        cs.append(Contender("Dask distributed, 2 worker processes", dn,
                            lambda: dask.run(shape, dn), note="fewer nodes"))
    else:
        log("python3-distributed (Dask) is not installed for /usr/bin/python3: no Dask row")
    try:
        interleave(title, cs, REPS)
    finally:
        if dask:
            dask.close()
    table(cs)
    out("Times are measured inside each process around the run: zdag's `zdag_run()` call "
        "(forking and joining the executors included), the thread pool from its creation to its "
        "shutdown, Dask's `Client.get` on a cluster started beforehand.")
    if not dask:
        out("Dask: skipped, python3-distributed is not installed (run.sh installs it with "
            "BENCH_INSTALL_DASK=1).")
    out()
    zd, tpe = cs[0], cs[1]
    r, t = rate(zd), ratio_of(tpe, zd)
    if r and t:
        need_rate, need_ratio = (100e3, 2.5) if chained else (250e3, 3.0)
        out(f"Goal: ≥ {need_rate / 1e3:.0f}k nodes/s and ≥ {need_ratio}× TPE({JOBS}): "
            f"{fmt_rate(r)}/s, {t:.2f}× — {verdict(r >= need_rate and t >= need_ratio)}\n")
    return cs


def bench_cmd(tmp, chained):
    n = CMD_N
    d = os.path.join(tmp, "chain" if chained else "flat")
    os.makedirs(d, exist_ok=True)
    pipe = os.path.join(d, "p.yaml")
    write(pipe, cmd_pipeline(n, chained))
    write(os.path.join(d, "Makefile"), makefile(n, chained))
    write(os.path.join(d, "build.ninja"), ninjafile(n, chained))
    write(os.path.join(d, "args"), "x\n" * n)
    fresh = Fresh(tmp)
    title = f"{n:,} {'chained' if chained else 'independent'} `true` nodes"
    out(f"## {title}" + ("" if chained else f", -j {JOBS}") + "\n")
    j = str(JOBS)
    cs = [Contender("zdag run", n, lambda: run_cmd(
        [ZDAG, "run", pipe, "-q", "-j", j, "-w", j, "--state-dir", fresh()], cwd=d))]
    if BASELINE:
        cs.append(Contender("zdag run (baseline)", n, lambda: run_cmd(
            [BASELINE, "run", pipe, "-q", "-j", j, "-w", j, "--state-dir", fresh()], cwd=d)))
    if shutil.which("make"):
        cs.append(Contender(f"make -j{j}", n, lambda: run_cmd(["make", "-s", f"-j{j}"], cwd=d)))
    else:
        log("make: not installed, skipped")
    if shutil.which("ninja"):
        # The outputs are never created, so ninja runs every edge each time.
        cs.append(Contender(f"ninja -j{j}", n, lambda: run_cmd(["ninja", f"-j{j}"], cwd=d)))
    else:
        log("ninja: not installed, skipped")
    args = os.path.join(d, "args")
    if not chained:
        cs.append(Contender(f"xargs -P{j} -n1 true", n, lambda: run_cmd(
            ["xargs", f"-P{j}", "-n1", "true"], cwd=d, stdin=args)))
        if shutil.which("parallel"):
            cs.append(Contender(f"GNU parallel -j{j} true", n, lambda: run_cmd(
                ["parallel", "--will-cite", f"-j{j}", "true"], cwd=d, stdin=args)))
        else:
            log("GNU parallel: not installed, skipped")
    else:
        cs.append(Contender("shell loop of /bin/true (dash)", n, lambda: run_cmd(
            ["/bin/sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"])))
        cs.append(Contender("xargs -n1 true (one at a time)", n, lambda: run_cmd(
            ["xargs", "-n1", "true"], cwd=d, stdin=args)))
    interleave(title, cs, REPS)
    table(cs)
    out("Wall time of each command as a process, measured by the harness. `zdag run` gets a "
        "fresh `--state-dir` per run (its journal would otherwise grow from run to run).\n")
    zd = cs[0]
    peer = next((c for c in cs if c.name.startswith("ninja" if chained else "make")), None)
    if peer and peer.times and zd.times:
        t = ratio_of(peer, zd)
        if chained:
            out(f"Goal: zdag wall ≤ ninja's: zdag/ninja = {1 / t:.2f} — {verdict(1 / t <= 1)}\n")
        else:
            out(f"Goal: zdag wall ≤ 0.8 × make's: zdag/make = {1 / t:.2f} — "
                f"{verdict(1 / t <= 0.8)}\n")
    return cs


def bench_map(tmp):
    """zdag map against GNU parallel and xargs -P on the same job: gzip each of CMD_N files."""
    n = CMD_N
    d = os.path.join(tmp, "map")
    os.makedirs(d, exist_ok=True)
    names = [f"f{i:05d}.log" for i in range(n)]
    line = "".join(f"{k} the quick brown fox jumps over the lazy dog\n" for k in range(80))
    for name in names:
        write(os.path.join(d, name), line)
    args = os.path.join(d, "args")
    write(args, "".join(x + "\n" for x in names))
    fresh = Fresh(tmp)
    j = str(JOBS)
    title = f"{n:,} files compressed (`gzip -kf FILE`, ~3.6 KB each), -j {j}"
    out(f"## {title}\n")
    cs = [Contender(f"zdag map -j{j}", n, lambda: run_cmd(
        [ZDAG, "map", "-j", j, "-w", j, "--state-dir", fresh(), "gzip -kf {}"], cwd=d,
        stdin=args))]
    if BASELINE:
        log("map: the baseline may have no zdag map; not run")
    if shutil.which("parallel"):
        cs.append(Contender(f"GNU parallel -j{j}", n, lambda: run_cmd(
            ["parallel", "--will-cite", f"-j{j}", "gzip", "-kf"], cwd=d, stdin=args)))
    else:
        log("GNU parallel: not installed, skipped")
    cs.append(Contender(f"xargs -P{j} -n1", n, lambda: run_cmd(
        ["xargs", f"-P{j}", "-n1", "gzip", "-kf"], cwd=d, stdin=args)))
    interleave(title, cs, REPS)
    table(cs)
    out("Arguments on stdin for all three; `zdag map` gets a fresh `--state-dir` per run.\n")
    # The load time of fanned pipelines: one node over N instances and a node over all of them.
    out("### `zdag check` of a fanned pipeline (`foreach: {range: [1, N]}` and a fan-in)\n")
    fans = []
    for k in (10000, 100000):
        f = os.path.join(d, f"fan{k}.yaml")
        write(f, "nodes:\n  a:\n    foreach: {range: [1, %d]}\n    cmd: echo {item}\n"
                 "  total: {cmd: cat, deps: [a]}\n" % k)
        fans.append(Contender(f"zdag check, {k:,} instances", k + 1,
                              lambda f=f: run_cmd([ZDAG, "check", f])))
    interleave("fanned pipelines", fans, REPS)
    table(fans, ratio_label="ratio (per node, to the first row)")
    return cs


def bench_one(tmp):
    d = os.path.join(tmp, "one")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "one.yaml"), "nodes:\n  one: {cmd: 'true'}\n")
    write(os.path.join(d, "Makefile"), ".PHONY: one\none:\n\ttrue\n")
    write(os.path.join(d, "build.ninja"), "rule t\n  command = true\nbuild one: t\n")
    out("## A 1-node pipeline (`true`), start to end\n")

    def zdag_one():
        shutil.rmtree(os.path.join(d, ".zdag"), ignore_errors=True)
        return run_cmd([ZDAG, "run", "one.yaml"], cwd=d)

    cs = [Contender("zdag run one.yaml", 1, zdag_one)]
    if BASELINE:
        def baseline_one():
            shutil.rmtree(os.path.join(d, ".zdag"), ignore_errors=True)
            return run_cmd([BASELINE, "run", "one.yaml"], cwd=d)
        cs.append(Contender("zdag run one.yaml (baseline)", 1, baseline_one))
    if shutil.which("make"):
        cs.append(Contender("make", 1, lambda: run_cmd(["make", "-s"], cwd=d)))
    if shutil.which("ninja"):
        cs.append(Contender("ninja", 1, lambda: run_cmd(["ninja"], cwd=d)))
    cs.append(Contender("/bin/true", 1, lambda: run_cmd(["/bin/true"]),
                        note="the floor: one process"))
    interleave("1-node pipeline", cs, ONE_REPS)
    table(cs, unit="ms")
    out("`zdag run one.yaml` exactly (default options, default state directory, removed between "
        "runs outside the timing); wall time of the process, measured by the harness.\n")
    zd = cs[0]
    mk = next((c for c in cs if c.name == "make"), None)
    if mk and mk.times and zd.times:
        t = zd.median() / mk.median()
        out(f"Goal: ≤ 1.5 × make's wall: zdag/make = {t:.2f} — {verdict(t <= 1.5)}\n")


def bench_scale(tmp):
    out(f"## Scale: {', '.join(f'{n:,}' for n in SCALE)} independent no-op function nodes "
        f"(`zdag run`, plugin, {JOBS} executors)\n")
    files = {}
    for n in sorted(set(SCALE + CHECK)):
        files[n] = os.path.join(tmp, f"fn-{n}.yaml")
        fn_pipeline(files[n], n)
    fresh = Fresh(tmp)
    j = str(JOBS)
    runs = {n: [] for n in SCALE}
    checks = {n: [] for n in CHECK}
    errors = {}
    for r in range(REPS):
        log(f"scale: round {r + 1}/{REPS}")
        for n in SCALE:
            if ("run", n) in errors:
                continue
            try:
                runs[n].append(run_measured(
                    [ZDAG, "run", files[n], "-q", "-j", j, "-w", j, "--state-dir", fresh()],
                    tmp=tmp))
            except Failed as e:
                errors[("run", n)] = str(e)
                log(f"zdag run {n}: {e}")
        for n in CHECK:
            if ("check", n) in errors:
                continue
            try:
                checks[n].append(run_measured([ZDAG, "check", files[n]], tmp=tmp))
            except Failed as e:
                errors[("check", n)] = str(e)
                log(f"zdag check {n}: {e}")

    def rss_of(kind, x):
        # run: the coordinator alone (VmHWM); check: ru_maxrss (no children, exact).
        return x[1] if kind == "run" else x[2]

    def rows(kind, data):
        extra = kind == "run"
        label = "coordinator peak RSS MiB" if extra else "peak RSS MiB"
        out(f"| nodes | runs | min s | median s | µs per node (median) | nodes/s | {label} "
            f"| RSS B per node | marginal B per node |" + (" max RSS MiB incl. executors |"
                                                          if extra else ""))
        out("| ---: " * (10 if extra else 9) + "|")
        small = min(data)
        s_rss = statistics.median(rss_of(kind, x) for x in data[small]) if data[small] else None
        for n in sorted(data):
            v = data[n]
            if not v:
                out(f"| {n:,} | 0 | failed: {errors.get((kind, n))} |" + " |" * (7 + extra))
                continue
            w = [x[0] for x in v]
            med = statistics.median(w)
            rss = statistics.median(rss_of(kind, x) for x in v)
            marg = f"{(rss - s_rss) / (n - small):.0f}" if n != small and s_rss else "—"
            line = (f"| {n:,} | {len(v)} | {min(w):.3f} | {med:.3f} | {med / n * 1e6:.2f} "
                    f"| {fmt_rate(n / med)} | {rss / 2**20:.1f} | {rss / n:.0f} | {marg} |")
            if extra:
                line += f" {statistics.median(x[2] for x in v) / 2**20:.1f} |"
            out(line)
        out()

    def goal_sizes(kind, data, sizes):
        good = [n for n in sizes if data[n]]
        if len(good) < 2:
            return None
        lo, hi = min(good), max(good)
        per = {n: statistics.median(x[0] for x in data[n]) / n for n in (lo, hi)}
        rss = {n: statistics.median(rss_of(kind, x) for x in data[n]) for n in (lo, hi)}
        return lo, hi, per, rss, (rss[hi] - rss[lo]) / (hi - lo)

    rows("run", runs)
    out("The coordinator's peak RSS is its VmHWM (/proc/PID/status, sampled every 20 ms until it "
        "exits); the last column is ru_maxrss from GNU time, the largest of the coordinator and "
        "its executors. RSS per node: peak RSS / nodes; marginal: (RSS − RSS at the smallest "
        "size) / (nodes − smallest), a node's cost without the fixed start-up memory. Every run "
        "has a fresh `--state-dir`; wall time of the process, measured by the harness.\n")
    if not BIG:
        out("The 1M-node `zdag run` is opt-in (`BENCH_BIG=1`, adds several minutes at 5 rounds); "
            "the goal below is judged on the largest size run.\n")
    g = goal_sizes("run", runs, SCALE)
    if g:
        lo, hi, per, rss, marg = g
        grow = per[hi] / per[lo]
        out(f"Goal: cost per node at {hi:,} within 1.2× of {lo:,}: {grow:.2f}× — "
            f"{verdict(grow <= 1.2)}; coordinator ≤ 400 B RSS per node: {rss[hi] / hi:.0f} B "
            f"per node ({marg:.0f} B marginal) — {verdict(rss[hi] / hi <= 400)}\n")

    out("### `zdag check` of the same kind of file\n")
    rows("check", checks)
    out("Peak RSS: ru_maxrss of `zdag check` from GNU time.\n")
    good = [n for n in CHECK if checks[n]]
    if good:
        hi = max(good)
        med = statistics.median(x[0] for x in checks[hi])
        rss = statistics.median(rss_of("check", x) for x in checks[hi])
        out(f"Goal: `zdag check` ≤ 2 µs and ≤ 400 B per node at {hi:,}: {med / hi * 1e6:.2f} µs, "
            f"{rss / hi:.0f} B — {verdict(med / hi <= 2e-6 and rss / hi <= 400)}\n")


def bench_obs(tmp):
    help_text = subprocess.run([ZDAG, "run", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True).stdout
    no_journal = ["--no-journal"] if "--no-journal" in help_text else []
    out("## Observability on vs off\n")
    fn = os.path.join(tmp, f"obs-fn-{OBS_N}.yaml")
    fn_pipeline(fn, OBS_N)
    cmd = os.path.join(tmp, f"obs-cmd-{CMD_N}.yaml")
    write(cmd, cmd_pipeline(CMD_N, False))
    fresh = Fresh(tmp)
    j = str(JOBS)
    verdicts = []
    for label, pipe, n in ((f"{OBS_N:,} independent no-op function nodes", fn, OBS_N),
                           (f"{CMD_N:,} independent `true` nodes", cmd, CMD_N)):
        report, trace = os.path.join(tmp, "r.json"), os.path.join(tmp, "t.json")
        base = [ZDAG, "run", pipe, "-j", j, "-w", j]
        off = Contender("off: -q" + (" --no-journal" if no_journal else ""), n,
                        lambda: run_cmd(base + ["-q", "--state-dir", fresh()] + no_journal))
        on = Contender("on: --report --trace --progress, journal", n,
                       lambda: run_cmd(base + ["--progress", "--report", report, "--trace",
                                               trace, "--state-dir", fresh()]))
        out(f"### {label}, {JOBS} executors\n")
        interleave(f"observability, {label}", [off, on], REPS)
        table([off, on], ratio_label="time / off's")
        t = ratio_of(on, off)
        if t:
            verdicts.append((label, t))
    if not no_journal:
        out("This `zdag run` has no switch to turn the journal off (it is always written), so "
            "both sides write it: the difference is --report, --trace and the progress line. "
            "The harness passes `--no-journal` to the \"off\" side once `zdag run --help` "
            "lists it.\n")
    if verdicts:
        ok = all(t <= 1.10 for _, t in verdicts)
        out("Goal: on within 10 % of off: " + "; ".join(f"{lab}: {t:.2f}" for lab, t in verdicts)
            + f" — {verdict(ok)}\n")


def bench_spawn():
    out("## The process floor on this machine (bench/spawn_floor.c)\n")
    if not os.access(SPAWN_FLOOR, os.X_OK):
        out(f"spawn_floor not built ({SPAWN_FLOOR}): skipped.\n")
        return
    p = subprocess.run([SPAWN_FLOOR, "/usr/bin/true", str(CMD_N), str(REPS)],
                       stdout=subprocess.PIPE, text=True)
    out(p.stdout)
    out(f"A C program that only starts /usr/bin/true {CMD_N:,} times and waits for each: the "
        "least a command node can cost here (one at a time: a chain; two at a time: -j 2). "
        "Run after the two tables above, not interleaved with them: compare it with them "
        "as a ratio, on a quiet machine.\n")


def bench_zmq():
    out("## The ZeroMQ floor on this machine (bench/zmq_floor.c)\n")
    if not os.access(ZMQ_FLOOR, os.X_OK):
        out(f"zmq_floor not built ({ZMQ_FLOOR}): skipped.\n")
        return
    p = subprocess.run([ZMQ_FLOOR, "10000", str(REPS)], stdout=subprocess.PIPE, text=True)
    out(p.stdout)
    out("A function node costs zdag at least one such round trip (TASK out, RESULT back) "
        "unless tasks are pipelined or batched; 1 / ping-pong is the ceiling for one executor "
        "with one task in flight.\n")


def first_line(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return cpu, load


def main():
    for path in (ZDAG, BENCH_FN):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} is missing: build first (make build)")
    t_start = time.time()
    cpu, load = machine()
    out("# zdag benchmarks (`make bench`)\n")
    out(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    out(f"- machine: {os.cpu_count()} CPUs (nproc {first_line(['nproc'])}), {cpu}, "
        f"Linux {platform.release()}")
    out(f"- load average at start (1, 5, 15 min): {load}")
    rev = first_line(["git", "-C", ROOT, "log", "-1", "--format=%h %s"])
    out(f"- zdag: {first_line([ZDAG, '--version'])}, tree {rev}")
    out(f"- peers: {first_line(['make', '--version'])}; ninja {first_line(['ninja', '--version'])}; "
        f"{first_line(['xargs', '--version'])}; {first_line(['parallel', '--version'])}; "
        f"{PY}: {first_line([PY, '--version'])}; Dask distributed "
        f"{first_line([PY, '-c', 'import distributed; print(distributed.__version__)'])}")
    out(f"- settings: BENCH_REPS={REPS} (1-node: {ONE_REPS}), BENCH_JOBS={JOBS}, "
        f"BENCH_FN_N={FN_N}, BENCH_DASK_N={DASK_N}, BENCH_CMD_N={CMD_N}, "
        f"BENCH_SCALE=\"{' '.join(map(str, SCALE))}\", BENCH_CHECK=\"{' '.join(map(str, CHECK))}\", "
        f"BENCH_OBS_N={OBS_N}")
    out("- each table: contenders interleaved round by round; min and median of the rounds; "
        "ratio = the peer's median time per node / zdag's (> 1: zdag is faster)\n")
    tmp = tempfile.mkdtemp(prefix="zdag-bench-")
    try:
        if "fn" in ONLY:
            bench_fn(tmp, "flat")
            bench_fn(tmp, "chain")
        if "cmd" in ONLY:
            bench_cmd(tmp, False)
            bench_cmd(tmp, True)
            bench_spawn()
        if "map" in ONLY:
            bench_map(tmp)
        if "one" in ONLY:
            bench_one(tmp)
        if "scale" in ONLY:
            bench_scale(tmp)
        if "obs" in ONLY:
            bench_obs(tmp)
        if "zmq" in ONLY:
            bench_zmq()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _, load = machine()
    out(f"Load average at the end: {load}; the whole bench took "
        f"{(time.time() - t_start) / 60:.1f} min.")


if __name__ == "__main__":
    main()
