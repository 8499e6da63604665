"""Ground truth for lease tests (test_stall.py, test_partition.py, scripts/chaos.py): a node's own
command writes ticks, and the process tree in /proc says who runs it.

A lease holder's command is `exec python3 TICKER TICKS TOKEN COUNT MARKS` (see holder_cmd()): it
appends "TOKEN MONOTONIC_NS" to TICKS every 50 ms, COUNT times, each line one O_APPEND write
(never torn), then creates MARKS/done.TOKEN and prints "done TOKEN" (its result). TOKEN is
"NODE:ATTEMPT:PID" ($ZDAG_NODE, $ZDAG_ATTEMPT, $$), so that two attempts, even two copies of the
same attempt, are told apart; since the shell execs python, PID is the ticking process itself,
whose parent is the executor and grandparent the agent. CLOCK_MONOTONIC is the same clock for
every process of the machine (network namespaces included), so ticks of different holders
compare directly.

Two holders of one lease were alive at once ("a double holder") when the tick intervals
[first, last] of two tokens overlap."""
import os
import signal
import time

TICK_S = 0.05

TICKER = r'''
import os, sys, time
path, token, count, marks = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(count):
    if i:
        time.sleep(%r)
    os.write(fd, ("%%s %%d\n" %% (token, time.monotonic_ns())).encode())
os.close(fd)
open(os.path.join(marks, "done." + token), "w").close()
sys.stdout.write("done %%s\n" %% token)
''' % TICK_S


def write_ticker(directory):
    """Writes the ticker script into directory; returns its path."""
    path = os.path.join(directory, "ticker.py")
    with open(path, "w") as f:
        f.write(TICKER)
    return path


def holder_cmd(ticker, ticks, marks, seconds):
    """The shell command of a lease-holding node: ticks for about `seconds`."""
    count = max(1, int(round(seconds / TICK_S)))
    return f'exec python3 {ticker} {ticks} "$ZDAG_NODE:$ZDAG_ATTEMPT:$$" {count} {marks}'


def read_ticks(path):
    """{token: [ns, ...]} from a ticks file (missing file: {})."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    out.setdefault(parts[0], []).append(int(parts[1]))
    except FileNotFoundError:
        pass
    return out


def token_pid(token):
    return int(token.rsplit(":", 1)[1])


def token_node(token):
    return token.split(":", 1)[0]


def completions(marks, node=None):
    """Tokens whose command completed (MARKS/done.TOKEN), optionally of one node."""
    try:
        names = os.listdir(marks)
    except FileNotFoundError:
        return []
    done = [n[len("done."):] for n in names if n.startswith("done.")]
    return sorted(t for t in done if node is None or token_node(t) == node)


def double_holders(ticks, residual_after=None, residual_tokens=(), residual_max=1):
    """Pairs of tokens whose tick intervals overlap, as readable strings, and the residual
    problems. residual_after (ns) and residual_tokens: ticks of those tokens after that instant
    (a whole frozen host thawing) are left out of the overlap check, at most residual_max each;
    more is reported as a problem."""
    problems = []
    spans = {}
    for tok, ns in ticks.items():
        keep = ns
        if residual_after is not None and tok in residual_tokens:
            late = [t for t in ns if t > residual_after]
            if len(late) > residual_max:
                problems.append(f"{tok} ticked {len(late)} times after the thaw "
                                f"(at most {residual_max} allowed)")
            keep = [t for t in ns if t <= residual_after]
        if keep:
            spans[tok] = (min(keep), max(keep))
    order = sorted(spans, key=lambda t: spans[t][0])
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if spans[b][0] <= spans[a][1]:
                problems.append(f"{a} and {b} held the lease at once for "
                                f"{(spans[a][1] - spans[b][0]) / 1e9:.3f} s")
    return problems


# ---- processes ---------------------------------------------------------------------------------

def ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def ancestry(pid):
    """pid, its parent, ... up to (not including) 0."""
    chain = []
    while pid and pid not in chain:
        chain.append(pid)
        pid = ppid_of(pid)
    return chain


def descendants(root):
    """root and every live process below it, parents before children."""
    children = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            pp = ppid_of(int(p))
            if pp is not None:
                children.setdefault(pp, []).append(int(p))
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return out


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def freeze(pids):
    """SIGSTOPs pids, children first (so that no parent sees a child stop while it runs)."""
    signal_all(list(reversed(pids)), signal.SIGSTOP)


def thaw(pids):
    """SIGCONTs pids, parents first. Returns the CLOCK_MONOTONIC instant (ns) just before."""
    t = time.monotonic_ns()
    signal_all(pids, signal.SIGCONT)
    return t


def wait_until(predicate, timeout, step=0.01):
    """Polls predicate until true (returns its value) or timeout (returns None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


def first_tick(ticks_path, node):
    """The token of the first attempt of node that ticked, or None."""
    for tok in read_ticks(ticks_path):
        if token_node(tok) == node:
            return tok
    return None
