"""zdag's exceptions, and a failed node's exception rebuilt in the process that ran the graph."""
import builtins
import importlib
import os
import pickle
import re

from . import _zdag

RunError = _zdag.Error  # the run could not start or go on (libzdag's error code and detail)


class ForkSafetyError(RunError):
    """The run would fork executors from a process where that is unsafe (other threads)."""


class NodeError(RuntimeError):
    """A node failed for a reason that is not a Python exception of its own (its executor
    died, it timed out, a dependency failed), or whose exception type cannot be found here."""

    def __init__(self, node, error):
        super().__init__(f"node {node!r}: {error}")
        self.node = node
        self.error = error


class RemoteTraceback(Exception):
    """The traceback of a node's exception, as its executor formatted it (the __cause__ of
    the exception raised again here)."""

    def __str__(self):
        return self.args[0] if self.args else ""


_HEAD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ?(.*)$")


def _find_type(module, qualname):
    try:
        obj = builtins if module == "builtins" else importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None


def _make(cls, message):
    try:
        return cls(message)
    except Exception:
        return None


def _attach(exc, node, tb_text):
    """Puts the remote traceback in exc's text (its message when that is a plain string, else
    a note) and makes it exc's __cause__."""
    text = f"\n\nRemote traceback (zdag node {node!r}):\n{tb_text.rstrip()}"
    plain = type(exc).__str__ is BaseException.__str__ and (
        not exc.args or (len(exc.args) == 1 and isinstance(exc.args[0], str)))
    if plain:
        exc.args = ((exc.args[0] if exc.args else "") + text,)
    else:
        exc.add_note(text.strip())
    exc.__cause__ = RemoteTraceback(tb_text)
    exc.zdag_node = node
    exc.zdag_traceback = tb_text
    return exc


def _from_record(node, record):
    exc = None
    if record.get("exception") is not None:
        try:
            exc = pickle.loads(record["exception"])
        except Exception:
            exc = None
    if exc is None:
        cls = _find_type(*record["type"])
        exc = _make(cls, record["message"]) if cls else None
    if exc is None:
        exc = NodeError(node, f"{'.'.join(record['type'])}: {record['message']}")
    return _attach(exc, node, record["traceback"])


def _from_text(node, error):
    """A remote node's exception from its error text ('TYPE: message' and traceback lines)."""
    first, _, rest = error.partition("\n")
    m = _HEAD.match(first)
    if m:
        module, _, qualname = m.group(1).rpartition(".")
        cls = _find_type(module or "builtins", qualname)
        exc = _make(cls, m.group(2)) if cls else None
        if exc is not None:
            return _attach(exc, node, rest or "(no traceback: the node ran on a remote worker)")
    return NodeError(node, error)


def rebuild(node, error, attempts, failure_dir):
    """The exception a failed node raised (its own type, the remote traceback in its text),
    or a NodeError when it failed otherwise."""
    record = None
    if failure_dir:
        try:
            with open(os.path.join(failure_dir, f"{node}.{attempts}"), "rb") as f:
                record = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError):
            record = None
    # The record is that of the last attempt only when that attempt failed in Python (not
    # when it timed out or its executor died after writing it).
    if record is not None and record.get("text") == error:
        return _from_record(node, record)
    return _from_text(node, error)
