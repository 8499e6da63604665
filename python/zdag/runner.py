"""Running a graph: fork safety, the run options, libzdag's run, the Run it returns; and
@dag, which builds a graph from a function's xn calls and runs it."""
import functools
import io
import json
import logging
import os
import pickle
import shutil
import sys
import tempfile
import threading

from . import _zdag, errors, runtime
from . import graph as _graph
from . import node as _node
from . import remote as _worker

_log = logging.getLogger("zdag")
_log.addHandler(logging.NullHandler())  # a library prints nothing unless logging is set up

# Run options: name -> the key of zdag._zdag.run()'s options (None: handled here).
_RUN_OPTIONS = {
    "max_concurrency": "jobs", "jobs": "jobs", "workers": "local_workers",
    "local_workers": "local_workers", "cpus": "cpus", "priority": "priority",
    "keep_going": "keep_going", "resume": "resume", "state_dir": "state_dir",
    "report": "report_path", "trace": "trace_path", "name": "name",
    "max_result_mb": "max_result_mb", "targets": None, "exclude": None, "pools": None,
    "allow_threads": None, "listen": "listen", "curve_secret": "curve_secret",
    "authorized_keys": "authorized_keys", "insecure": "insecure", "slurm": "slurm",
    "slurm_max_jobs": "slurm_max_jobs", "slurm_idle": "slurm_idle",
}
_STATUS_OK = ("succeeded", "cached")


def check_run_options(options):
    for key in options:
        if key not in _RUN_OPTIONS:
            raise TypeError(f"unknown run option {key!r} (options: {', '.join(_RUN_OPTIONS)})")
    return dict(options)


def _check_fork_safety(allow_threads):
    if runtime.in_executor:
        raise errors.RunError("a node cannot start a run of its own (it runs in an executor)")
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others and not allow_threads:
        raise errors.ForkSafetyError(
            f"zdag forks its executors from this process, and {len(others)} other thread(s) "
            f"run in it ({', '.join(others[:5])}): a forked child has only this thread, and a "
            "lock another thread holds stays locked there forever. Start the run before those "
            "threads, or pass allow_threads=True (they then pause for the whole run, and must "
            "keep SIGCHLD, SIGINT and SIGTERM blocked: signal.pthread_sigmask)")


def _default_name():
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "py-" + (script or "python").replace("/", "_")[:200]


class Run:
    """A finished run: each node's status, result and error, the report, the log.

    run[handle] or run["name"] gives a node's result (raising its exception when it failed);
    run.value the @dag function's return value with its handles replaced by their results.
    """

    def __init__(self, graph, exit_code, outcomes, log, report_text, failure_dir):
        self.graph = graph
        self.exit_code = exit_code
        self.log = log
        self._report_text = report_text
        self._report = None
        self.statuses = {}
        self.attempts = {}
        self.errors = {}
        self._raw = {}
        self._values = {}
        for name, status, error, attempts, value in outcomes:
            self.statuses[name] = status
            self.attempts[name] = attempts
            if status in _STATUS_OK:
                self._raw[name] = value
            elif status == "failed":
                self.errors[name] = errors.rebuild(name, error or "failed", attempts,
                                                   failure_dir)
            elif error:
                self.errors[name] = errors.NodeError(name, error)

    @property
    def ok(self):
        return self.exit_code == 0

    @property
    def report(self):
        """The run's report (README, "The report") as a dict; None if none was written."""
        if self._report is None and self._report_text:
            self._report = json.loads(self._report_text)
        return self._report

    @property
    def status(self):
        """The report's status of the run: succeeded, failed, interrupted, error."""
        return self.report.get("status") if self.report else None

    def _result(self, name):
        if name not in self._values:
            raw = self._raw[name]
            self._values[name] = pickle.loads(raw) if isinstance(raw, bytes) else raw
        return self._values[name]

    def __getitem__(self, key):
        if isinstance(key, _node.Handle) and key.graph is not self.graph:
            raise KeyError(f"{key!r} is a node of another graph than this run's")
        name = key.name if hasattr(key, "name") and not isinstance(key, str) else key
        if name in self._raw:
            return self._result(name)
        if name in self.errors:
            raise self.errors[name]
        if name in self.statuses:
            raise errors.NodeError(name, self.statuses[name])
        raise KeyError(name)

    @property
    def results(self):
        """{name: result} of every node that succeeded (or was cached)."""
        return {name: self._result(name) for name in self._raw}

    def node(self, name):
        """The report's entry for node `name` (start_s, end_s, attempts, history...)."""
        for n in (self.report or {}).get("nodes", ()):
            if n["name"] == name:
                return n
        raise KeyError(name)

    def first_failure(self):
        """The exception of the node that failed first (by end time), or None."""
        failed = [n for n in self.errors if self.statuses.get(n) == "failed"]
        if not failed:
            return None
        def ended(n):
            try:
                return self.node(n).get("end_s") or 0
            except KeyError:
                return 0
        return self.errors[min(failed, key=ended)]

    @property
    def value(self):
        """The @dag function's return value, its handles replaced by their results. Raises
        the first failed node's exception when a node failed."""
        first = self.first_failure()
        if first is not None:
            raise first
        if self.graph.output is None:
            return None
        run = self

        class Resolver(pickle.Unpickler):
            def persistent_load(self, name):
                return run[name]
        return Resolver(io.BytesIO(self.graph.output)).load()

    def __repr__(self):
        return f"<zdag Run exit_code={self.exit_code} nodes={len(self.statuses)}>"


def _c_options(options, report_path):
    out = {"quiet": True, "report_path": report_path, "name": _default_name()}
    for key, value in options.items():
        target = _RUN_OPTIONS[key]
        if target is not None and value is not None:
            out[target] = value
    if options.get("report"):
        out["report_path"] = os.fspath(options["report"])
    if options.get("workers", options.get("local_workers")) == 0:
        out.pop("local_workers", None)
        out["remote_only"] = True
    for key in ("state_dir", "trace_path", "curve_secret", "authorized_keys"):
        if out.get(key) is not None:
            out[key] = os.fspath(out[key])
    if out.get("slurm") is not None:
        out["slurm_worker"] = _worker_command()
    return out


def _worker_command():
    """What a Slurm worker job runs: this script again, with this Python and these arguments
    (it sees ZDAG_WORKER_CONNECT, and serves: see run_graph())."""
    if not sys.argv or not sys.argv[0] or sys.argv[0] == "-c" or not os.path.exists(sys.argv[0]):
        raise errors.RunError("slurm= needs the run to come from a script file (python "
                              "SCRIPT.py): each worker job runs that script to serve its "
                              "functions")
    return [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]


def run_graph(graph, options):
    """Runs graph with the run options; returns a Run. A process started as a remote worker
    (ZDAG_WORKER_CONNECT) serves the coordinator instead and exits."""
    options = check_run_options(options)
    if _worker.from_environment():
        sys.exit(_worker.serve_from_environment())
    _check_fork_safety(options.get("allow_threads", False))
    for pool, capacity in (options.get("pools") or {}).items():
        graph.pool(pool, capacity)
    names = graph.selected(options.get("targets"), options.get("exclude"))
    dag = _zdag.build(graph.c_nodes(names), graph.pools)
    tmp = tempfile.mkdtemp(prefix="zdag-py-")
    try:
        failures = os.path.join(tmp, "failures")
        os.mkdir(failures)
        c_opts = _c_options(options, os.path.join(tmp, "report.json"))
        runtime.failure_dir = failures
        # The executors inherit this process's buffers: empty them so nothing prints twice.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        exit_code, outcomes, log = _zdag.run(dag, c_opts)
        try:
            with open(c_opts["report_path"], "rb") as f:
                report = f.read()  # parsed when asked for
        except OSError:
            report = None
        run = Run(graph, exit_code, outcomes, log, report, failures)
    finally:
        runtime.failure_dir = None
        shutil.rmtree(tmp, ignore_errors=True)
    for level, message in log:
        _log.log((logging.ERROR, logging.WARNING, logging.INFO)[min(level, 2)], "%s", message)
    if exit_code == 130:
        raise KeyboardInterrupt("the zdag run was interrupted (SIGINT)")
    return run


class DagFunction:
    """A function made a DAG by @dag: calling it builds the graph from its xn calls and runs
    it with zdag, returning its return value with each handle replaced by its node's result.
    """

    def __init__(self, fn, options):
        self.fn = fn
        self.options = check_run_options(options)
        functools.update_wrapper(self, fn)

    def graph(self, *args, **kwargs):
        """The graph the function builds with these arguments (not run)."""
        g = _graph.Graph(self.options.get("pools"))
        with g:
            out = self.fn(*args, **kwargs)
        g.output = g.pickle_with_handles(out)[0]
        return g

    def run(self, *args, **kwargs):
        """Builds and runs the graph; returns the Run (results, errors, report)."""
        options = dict(self.options)
        if "name" not in options:
            module = self.fn.__module__
            if module == "__main__":
                module = _default_name()[3:]
            options["name"] = f"py-{module}.{self.fn.__qualname__}".replace("/", "_")[:255]
        options.pop("pools", None)
        return run_graph(self.graph(*args, **kwargs), options)

    def with_options(self, **options):
        """The same DAG with some run options changed."""
        merged = dict(self.options)
        merged.update(options)
        return DagFunction(self.fn, merged)

    def __call__(self, *args, **kwargs):
        outer = _graph.building()
        if outer is not None:  # a DAG called inside another is a part of it, its pools too
            for pool, capacity in (self.options.get("pools") or {}).items():
                outer.pool(pool, capacity)
            return self.fn(*args, **kwargs)
        return self.run(*args, **kwargs).value


def dag(fn=None, **options):
    """@dag or @dag(max_concurrency=, workers=, cpus=, priority=, keep_going=, resume=,
    state_dir=, report=, trace=, name=, pools=, targets=, exclude=, allow_threads=, listen=,
    curve_secret=, authorized_keys=, insecure=, slurm=, slurm_max_jobs=, slurm_idle=)."""
    if fn is None:
        check_run_options(options)
        return lambda f: DagFunction(f, options)
    return DagFunction(fn, options)
