"""What runs in an executor: one node's call, from its pickled arguments to its pickled
result, or its exception written down for the coordinator's process."""
import importlib
import io
import os
import pickle
import sys
import traceback

from . import _zdag
from . import node as _node

# Set by the process that runs the graph before zdag forks its executors: where a failing
# call leaves its exception (pickled) and full traceback for that process to raise again.
failure_dir = None
# True in a process that has run a node: a node cannot start a run of its own.
in_executor = False

_ERROR_MAX = _zdag.ERROR_MAX - 1  # bytes of a node's error message libzdag keeps


def lookup(module, qualname):
    """The function registered under (module, qualname), else found by importing module."""
    fn = _node.REGISTRY.get((module, qualname))
    if fn is None:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        fn = obj.fn if isinstance(obj, _node.XN) else obj
        _node.REGISTRY[(module, qualname)] = fn
    return fn


def _call_args(payload, deps):
    """(args, kwargs) of a call, each node reference in them replaced by that node's result.
    A call with no dependencies holds no reference: plain pickle.loads, the common case, at a
    fifth of an Unpickler's cost (made per call, since each call has its own deps)."""
    if not deps:
        return pickle.loads(payload)
    values = {}

    def persistent_load(name):
        if name not in values:
            raw = deps[name]
            values[name] = pickle.loads(raw) if isinstance(raw, bytes) else raw
        return values[name]

    unpickler = pickle.Unpickler(io.BytesIO(payload))
    unpickler.persistent_load = persistent_load
    return unpickler.load()


def _type_name(exc):
    t = type(exc)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _record_failure(node, attempt, exc, tb_text, text):
    """Writes FAILURE_DIR/NODE.ATTEMPT: the exception pickled (when it pickles) and the
    traceback, atomically."""
    if not failure_dir:
        return
    try:
        exc_bytes = pickle.dumps(exc)
        pickle.loads(exc_bytes)
    except Exception:
        exc_bytes = None
    record = {"type": (type(exc).__module__, type(exc).__qualname__), "exception": exc_bytes,
              "message": str(exc), "traceback": tb_text, "text": text}
    path = os.path.join(failure_dir, f"{node}.{attempt}")
    try:
        with open(path + ".tmp", "wb") as f:
            pickle.dump(record, f)
        os.rename(path + ".tmp", path)
    except OSError:
        pass


def _failure_text(exc, tb_text):
    """The node's error message, what a remote worker's coordinator gets (a local run has the
    exception itself too): 'TYPE: message' on one line, then the whole traceback; within
    libzdag's ZDAG_ERROR_MAX, the traceback's first lines cut when it is longer."""
    # backslashreplace: a message may hold surrogate escapes (a file name that is not UTF-8),
    # which neither UTF-8 nor libzdag can carry.
    head = f"{_type_name(exc)}: {exc}".replace("\n", " ").encode(errors="backslashreplace")
    head = head[:_ERROR_MAX // 4]
    tail = tb_text.encode(errors="backslashreplace")
    room = _ERROR_MAX - len(head) - 1
    if len(tail) > room:  # the innermost frames and the exception line matter most: keep them
        mark = b"  ... (the outer frames are cut)\n"
        tail = mark + tail[len(tail) - room + len(mark):]
    return (head + b"\n" + tail).decode(errors="ignore")


def execute(node, attempt, module, qualname, payload, deps):
    """Runs one node's call. Returns (True, pickled result) or (False, error text)."""
    global in_executor
    in_executor = True
    try:
        fn = lookup(module, qualname)
        args, kwargs = _call_args(payload, deps)
        result = fn(*args, **kwargs)
        return True, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # a node's SystemExit or KeyboardInterrupt fails it too
        # The traceback from the node's function down (without this frame).
        exc.__traceback__ = exc.__traceback__.tb_next or exc.__traceback__
        tb_text = "".join(traceback.format_exception(exc))
        text = _failure_text(exc, tb_text)
        _record_failure(node, attempt, exc, tb_text, text)
        return False, text
    finally:
        # An executor ends with _exit(): what the node printed must leave its buffers now.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass


_zdag.set_runtime(execute)
