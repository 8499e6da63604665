"""Serving a remote coordinator: this script's functions, run for another host's zdag."""
import os

from . import _zdag

ENV_CONNECT = "ZDAG_WORKER_CONNECT"


def worker(connect, curve_secret=None, coordinator_key=None, insecure=False, slots=0, cpus=None,
           host_id=None, forever=False, quiet=False, idle_exit=None, allocation=None):
    """Serves the coordinator at `connect` (e.g. tcp://10.0.0.1:7700) with this process's
    functions until its run ends (`forever`: wait for the next one). Import or define every
    node's function first (run the same script). `idle_exit`: leave after that many seconds
    without a node to run; `allocation`: this worker's own share of its host (a Slurm job id).
    Returns the exit status of `zdag worker`."""
    from . import runner
    runner._check_fork_safety(False)
    options = {"connect": connect, "curve_secret": curve_secret,
               "coordinator_key": coordinator_key, "insecure": insecure, "slots": slots,
               "cpus": cpus, "host_id": host_id, "forever": forever, "quiet": quiet,
               "idle_exit": idle_exit, "allocation": allocation}
    return _zdag.serve({k: v for k, v in options.items() if v is not None})


def from_environment():
    """True when this process was started as a remote worker (ZDAG_WORKER_CONNECT set)."""
    return bool(os.environ.get(ENV_CONNECT))


def _number(name, kind):
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None


def serve_from_environment():
    """worker() with the settings of ZDAG_WORKER_CONNECT, ZDAG_WORKER_CURVE_SECRET,
    ZDAG_WORKER_COORDINATOR_KEY, ZDAG_WORKER_INSECURE=1, ZDAG_WORKER_SLOTS, ZDAG_WORKER_CPUS,
    ZDAG_WORKER_HOST_ID, ZDAG_WORKER_ALLOCATION, ZDAG_WORKER_IDLE_EXIT (what a Slurm worker
    job of a run with slurm= sets, as zdag_worker_options_from_env() reads them)."""
    env = os.environ
    return worker(env[ENV_CONNECT], curve_secret=env.get("ZDAG_WORKER_CURVE_SECRET") or None,
                  coordinator_key=env.get("ZDAG_WORKER_COORDINATOR_KEY") or None,
                  insecure=env.get("ZDAG_WORKER_INSECURE") == "1",
                  slots=_number("ZDAG_WORKER_SLOTS", int) or 0,
                  cpus=_number("ZDAG_WORKER_CPUS", float),
                  host_id=env.get("ZDAG_WORKER_HOST_ID") or None,
                  allocation=env.get("ZDAG_WORKER_ALLOCATION") or None,
                  idle_exit=_number("ZDAG_WORKER_IDLE_EXIT", float))
