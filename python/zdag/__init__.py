"""zdag for Python: functions as nodes of a DAG that zdag runs in separate processes.

    from zdag import dag, xn

    @xn(priority=10, cpus=0)
    def fetch(url): ...

    @xn
    def crunch(n): ...

    @dag(max_concurrency=3)
    def pipeline(url):
        return fetch(url), crunch(10_000_000)

    print(pipeline("https://example.org"))
"""
from . import _zdag
from .errors import ForkSafetyError, NodeError, RemoteTraceback, RunError
from .graph import Graph
from .node import Handle, code_identity, xn
from .runner import DagFunction, Run, dag, run_graph
from .remote import worker
from . import runtime as _runtime  # registers the executors' entry point with _zdag

__version__ = _zdag.LIBZDAG_VERSION
LIBZDAG_VERSION = _zdag.LIBZDAG_VERSION


def run(graph, **options):
    """Runs a Graph with run options (as for @dag); returns a Run."""
    return run_graph(graph, options)


__all__ = ["dag", "xn", "Graph", "Handle", "Run", "DagFunction", "run", "worker",
           "code_identity", "NodeError", "RunError", "ForkSafetyError", "RemoteTraceback",
           "LIBZDAG_VERSION"]
