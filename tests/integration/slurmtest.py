"""Helpers for the Slurm tests: find the cluster, ask it about jobs.

The tests run against the cluster that SLURM_CONF names (scripts/slurm-cluster.sh start prints
the line to export; CI starts one around `make test`), or the machine's own configuration. They
skip, saying why, only where no Slurm cluster answers."""
import os
import shutil
import sys
import socket
import subprocess
import time
import unittest

START_HINT = ("start one with `scripts/slurm-cluster.sh start` (as root) and export the "
              "SLURM_CONF=... line it prints")


def slurm(*args, timeout=30, check=True):
    """Runs a Slurm client command; returns its stdout."""
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def cluster_or_skip():
    """The names of the cluster's idle or usable nodes; raises SkipTest, saying why, when no
    cluster answers."""
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        raise unittest.SkipTest(f"Slurm is not installed here (no sinfo/sbatch): {START_HINT}")
    try:
        p = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True,
                           timeout=30)
    except subprocess.TimeoutExpired:
        raise unittest.SkipTest(f"no Slurm cluster answers (sinfo timed out): {START_HINT}")
    if p.returncode != 0:
        raise unittest.SkipTest(f"no Slurm cluster answers ({p.stderr.strip()}): {START_HINT}")
    nodes = [w[0] for w in (line.split() for line in p.stdout.splitlines())
             if len(w) == 2 and w[1].rstrip("*") in ("idle", "mix", "alloc")]
    if not nodes:
        raise unittest.SkipTest(f"the Slurm cluster has no usable node: {p.stdout.strip()}")
    return nodes


def job_nodes(job_id):
    """The node names of a job (also shortly after it ended), as Slurm lists them."""
    nodelist = slurm("squeue", "-h", "-t", "all", "-j", str(job_id), "-o", "%N").strip()
    return slurm("scontrol", "show", "hostnames", nodelist).split()


def jobs_named(name):
    """(job id, state) of the user's jobs named name that are pending or running."""
    out = slurm("squeue", "-h", "--me", "-n", name, "-o", "%i %T")
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]


def wait_until(cond, what, timeout=60):
    """Waits for cond() to be true (a condition, not a duration); fails naming what."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def short_hostname():
    return socket.gethostname().split(".")[0]


SKIPPED = 77  # the exit status ctest is told means "skipped" (SKIP_RETURN_CODE)


def main():
    """unittest.main(), exiting SKIPPED when every test skipped (no cluster answers), so that
    ctest shows the test as skipped rather than passed."""
    prog = unittest.main(exit=False)
    r = prog.result
    if r.testsRun and len(r.skipped) == r.testsRun and r.wasSuccessful():
        print(f"all {r.testsRun} tests skipped: {r.skipped[0][1]}", file=sys.stderr)
        sys.exit(SKIPPED)
    sys.exit(0 if r.wasSuccessful() else 1)
