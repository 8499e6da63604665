#!/usr/bin/env python3
"""make chaos: the lease scenarios of tests/integration/scenarios.py, each repeated N times.

  scripts/chaos.py [--zdag build/zdag] [-n 20] [--only FAULT,...] [--keep DIR]

Scenarios: SIGSTOP of the lease holder's agent, of its executor, of its whole worker tree (10
heartbeats); a network-namespace partition of its host (8 heartbeats; skipped, saying why, where
namespaces cannot be made: it needs root and iproute2); kill -9 of its agent, of its executor.
Trials alternate a `sequential` holder and a holder of a pool of capacity 1. --heartbeat 0.2.

Prints one row per scenario:
  trials           runs of it
  faults injected  faults actually injected (a trial that could not get that far injects none)
  double holders   trials where two holders of the lease ticked at the same time (ground truth:
                   the holder's own ticks; a thawed frozen tree may tick once: the README's
                   residual)
  nodes lost       nodes that did not succeed, summed over trials
  duplicates       nodes whose command completed more than once (completion marks), summed:
                   informative only, an ordinary node whose result a fault cut off runs again
                   (at least once); a lease holder completing twice also shows as a double holder
  hangs            runs not over after 60 s
Exits 1 if any double holder, lost node, hang or a trial that could not be carried out; the logs
of such trials are kept in --keep (default: build/chaos)."""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import scenarios  # noqa: E402

ORDER = ("agent", "executor", "tree", "partition", "kill-agent", "kill-executor")
LABEL = {"agent": "stall agent", "executor": "stall executor", "tree": "stall tree",
         "partition": "partition", "kill-agent": "kill -9 agent",
         "kill-executor": "kill -9 executor"}


def stray(marker):
    """Kills processes of a finished trial that are still around (there should be none)."""
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    left.append(int(pid))
        except OSError:
            pass
    for pid in left:
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def one_trial(zdag, fault, lease, netns, keep, index):
    workdir = tempfile.mkdtemp(prefix=f"zdag-chaos-{fault}-")
    tmp = os.path.join(workdir, "tmp")
    os.mkdir(tmp)
    marker = "zdagchaos" + os.path.basename(workdir).replace("-", "")
    env = dict(os.environ, TMPDIR=tmp, ZDAG_TEST_MARKER=marker)
    env.pop("XDG_RUNTIME_DIR", None)
    t = scenarios.Trial(zdag, workdir, env, fault, lease, netns=netns)
    try:
        t.run()
    except Exception as e:  # the harness itself: count it, keep going
        t.error = f"{type(e).__name__}: {e}"
    row = {"injected": t.injected, "double": 1 if t.double_holders() else 0,
           "lost": len(t.lost_nodes()), "dups": len(t.duplicates()), "hang": 1 if t.hang else 0,
           "error": t.error}
    left = stray(marker)
    bad = row["double"] or row["lost"] or row["hang"] or row["error"]
    if bad:
        dest = os.path.join(keep, f"{fault}-{lease}-{index}")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns("tmp"))
        with open(os.path.join(dest, "summary.txt"), "w") as f:
            f.write(t.summary() + "\n")
            if left:
                f.write(f"stray processes killed afterwards: {left}\n")
        print(f"  BAD {t.summary()} (kept in {dest})", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zdag", default=os.path.join(ROOT, "build", "zdag"))
    ap.add_argument("-n", type=int, default=int(os.environ.get("N") or 20),
                    help="trials per scenario (default 20)")
    ap.add_argument("--only", default="", help="comma-separated faults: " + ",".join(ORDER))
    ap.add_argument("--keep", default=os.path.join(ROOT, "build", "chaos"))
    a = ap.parse_args()
    if not os.access(a.zdag, os.X_OK):
        sys.exit(f"chaos: {a.zdag} is not built (make build)")
    chosen = [f for f in ORDER if not a.only or f in a.only.split(",")]
    os.makedirs(a.keep, exist_ok=True)
    netns, skipped = None, None
    if "partition" in chosen:
        netns = scenarios.Netns(f"zc{os.getpid() % 100000}", "10.213.11")
        try:
            netns.setup()
        except scenarios.Netns.Unavailable as e:
            netns, skipped = None, f"partition skipped: no network namespaces: {e}"
            chosen.remove("partition")
            print(f"chaos: {skipped}", flush=True)
    table = []
    try:
        for fault in chosen:
            totals = {"trials": 0, "injected": 0, "double": 0, "lost": 0, "dups": 0, "hang": 0,
                      "errors": 0}
            started = time.monotonic()
            for i in range(a.n):
                lease = scenarios.LEASES[i % 2]
                row = one_trial(a.zdag, fault, lease, netns, a.keep, i)
                totals["trials"] += 1
                for k in ("injected", "double", "lost", "dups", "hang"):
                    totals[k] += row[k]
                totals["errors"] += 1 if row["error"] else 0
            print(f"chaos: {LABEL[fault]}: {a.n} trials in {time.monotonic() - started:.0f} s",
                  flush=True)
            table.append((LABEL[fault], totals))
    finally:
        if netns:
            netns.teardown()
    head = ("scenario", "trials", "faults injected", "double holders", "nodes lost",
            "duplicates", "hangs")
    rows = [head] + [(name, *(str(t[k]) for k in ("trials", "injected", "double", "lost",
                                                     "dups", "hang"))) for name, t in table]
    width = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print()
    for j, r in enumerate(rows):
        print("| " + " | ".join(c.ljust(width[i]) if i == 0 else c.rjust(width[i])
                               for i, c in enumerate(r)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    if skipped:
        print(f"\n({skipped})")
    errors = sum(t["errors"] for _, t in table)
    if errors:
        print(f"\n{errors} trial(s) could not be carried out (see {a.keep})")
    bad = errors or any(t["double"] or t["lost"] or t["hang"] for _, t in table)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
