"""Python functions as zdag nodes: the @xn decorator, code identity, lazy handles."""
import functools
import hashlib
import re
import types

# (module, qualname) -> the function, for the executors: they are forked after the graph is
# built, and a remote worker imports the same script, so every node's function is here by name.
REGISTRY = {}

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")  # libzdag's node, pool and resource names
_OPTION_NAMES = ("priority", "sequential", "pool", "cpus", "resources", "retries", "timeout",
                 "version", "estimate", "tags")


def register(fn):
    """Registers fn under (module, qualname) and returns that key. Functions that share a
    module and qualname (closures or lambdas made in a loop, a name defined again) are told
    apart: each later one gets a '#N' suffix, so every node calls its own function."""
    module = getattr(fn, "__module__", None) or "__main__"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "fn")
    key = (module, qualname)
    n = 1
    while REGISTRY.get(key, fn) is not fn:
        key = (module, f"{qualname}#{n}")
        n += 1
    REGISTRY[key] = fn
    return key


def _feed_code(h, code):
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _feed_code(h, c)
        elif isinstance(c, frozenset):
            h.update(repr(sorted(repr(x) for x in c)).encode())
        else:
            h.update(repr(c).encode())


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # in reprs: differs in every process


def _feed_value(h, value):
    """A value's repr without the object addresses in it (the same in every process)."""
    h.update(_ADDRESS.sub("", repr(value)).encode())


def _feed_callable(h, fn, depth=0):
    if depth > 32:
        return
    if isinstance(fn, functools.partial):
        h.update(b"partial:")
        _feed_callable(h, fn.func, depth + 1)
        _feed_value(h, (fn.args, sorted(fn.keywords.items())))
        return
    code = getattr(fn, "__code__", None)
    if code is not None:
        _feed_code(h, code)
        _feed_value(h, getattr(fn, "__defaults__", None))
        _feed_value(h, sorted((getattr(fn, "__kwdefaults__", None) or {}).items()))
    else:
        call = getattr(getattr(type(fn), "__call__", None), "__code__", None)
        if call is not None:  # an instance of a class with __call__: its code and state
            h.update(type(fn).__qualname__.encode())
            _feed_code(h, call)
            _feed_value(h, sorted(getattr(fn, "__dict__", {}).items()))
        elif getattr(fn, "__wrapped__", None) is None:
            _feed_value(h, fn)  # a builtin
    wrapped = getattr(fn, "__wrapped__", None)
    if wrapped is not None and wrapped is not fn:  # functools.wraps, lru_cache: the body too
        h.update(b"wraps:")
        _feed_callable(h, wrapped, depth + 1)


def code_identity(fn):
    """A hash of what fn does: its code object (bytecode, constants, names, nested code) and
    its default arguments; for a decorated function (functools.wraps) the wrapped one's too,
    for a partial its function and arguments, for a callable instance its class's __call__
    and its attributes. Part of a node's definition, so --resume runs it again when its body
    changes."""
    h = hashlib.sha256()
    _feed_callable(h, fn)
    return h.hexdigest()[:32]


def check_options(options):
    """Checks the node options' names and types; returns them as a dict."""
    if not options:
        return {}
    for name in options:
        if name not in _OPTION_NAMES:
            raise TypeError(f"unknown node option {name!r} (options: {', '.join(_OPTION_NAMES)})")
    out = dict(options)
    for name in ("priority", "retries"):
        if out.get(name) is not None and not isinstance(out[name], int):
            raise TypeError(f"{name} must be an int, got {out[name]!r}")
    for name in ("cpus", "timeout", "estimate"):
        if out.get(name) is not None:
            out[name] = float(out[name])
    if out.get("pool") is not None and not isinstance(out["pool"], str):
        raise TypeError(f"pool must be a pool's name (a str), got {out['pool']!r}")
    if out.get("resources") is not None:
        out["resources"] = {str(k): float(v) for k, v in out["resources"].items()}
    _check_ranges(out)
    if out.get("version") is not None:
        out["version"] = str(out["version"])
    if out.get("tags") is not None:
        tags = out["tags"]
        out["tags"] = (tags,) if isinstance(tags, str) else tuple(str(t) for t in tags)
    return out


def check_name(what, name):
    """Raises ValueError unless name is a valid node, pool or resource name."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"{name!r} is not a valid {what} name (a letter or _, then letters, "
                         "digits, _ . -)")


def _check_ranges(out):
    """The values libzdag would refuse at run time, refused here by name."""
    if out.get("priority") is not None and not -2**63 <= out["priority"] < 2**63:
        raise ValueError(f"priority must fit in 64 bits, got {out['priority']}")
    if out.get("retries") is not None and not 0 <= out["retries"] < 2**31:
        raise ValueError(f"retries must be >= 0, got {out['retries']}")
    for name in ("cpus", "estimate"):
        if out.get(name) is not None and not out[name] >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {out[name]}")
    if out.get("timeout") is not None and not out["timeout"] > 0:
        raise ValueError(f"timeout must be above 0 seconds, got {out['timeout']}")
    if out.get("pool") is not None:
        check_name("pool", out["pool"])
    for name, amount in (out.get("resources") or {}).items():
        check_name("resource", name)
        if not amount >= 0:
            raise ValueError(f"resource {name} must be an amount >= 0, got {amount}")


def option_tuple(options, identity):
    """The C module's 9-tuple of node options; the version is the code identity, with the
    user's version after it."""
    version = f"py:{identity}"
    if options.get("version") is not None:
        version += f"/{options['version']}"
    return (options.get("priority"), options.get("sequential"), options.get("pool"),
            options.get("cpus"), options.get("resources"), options.get("retries"),
            options.get("timeout"), version, options.get("estimate"))


class Handle:
    """A node of a graph being built: what calling an xn function in a dag returns. Pass it
    to other xn calls (also inside lists, dicts, ...) to make them depend on it."""

    __slots__ = ("graph", "name")

    def __init__(self, graph, name):
        self.graph = graph
        self.name = name

    def __repr__(self):
        return f"<zdag node {self.name}>"

    def __reduce__(self):
        raise TypeError(f"zdag node {self.name} is a handle of a graph being built, not a value")

    def __bool__(self):
        raise TypeError(f"zdag node {self.name} has no value while the graph is built: pass it "
                        "to another xn function instead of testing it")


class XN:
    """A function made a node by @xn. Called inside a @dag function (or a Graph's `with`
    block) it adds a node and returns its Handle; called anywhere else it just runs."""

    def __init__(self, fn, options):
        self.fn = fn
        self.options = check_options(options)
        self.key = register(fn)
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "fn")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", None)
        self.__doc__ = getattr(fn, "__doc__", None)
        self._identity = None
        self._option_tuple = None
        self._base_name = None

    @property
    def identity(self):
        if self._identity is None:
            self._identity = code_identity(self.fn)
        return self._identity

    @property
    def option_tuple(self):
        """The C module's options of this function's nodes (made once)."""
        if self._option_tuple is None:
            self._option_tuple = option_tuple(self.options, self.identity)
        return self._option_tuple

    @property
    def base_name(self):
        """The name of this function's first node (the next are NAME.1, NAME.2 ...)."""
        if self._base_name is None:
            from .graph import base_name
            self._base_name = base_name(self.key[1])
        return self._base_name

    def __call__(self, *args, **kwargs):
        from . import graph
        g = graph.building()
        if g is None:
            return self.fn(*args, **kwargs)
        return g.call(self, *args, **kwargs)

    def __repr__(self):
        return f"<zdag xn {self.__qualname__}>"

    def __reduce__(self):
        return (_find_xn, self.key)


def _find_xn(module, qualname):
    from .runtime import lookup
    return lookup(module, qualname)


def xn(fn=None, **options):
    """Makes fn a node: @xn, or @xn(priority=, sequential=, pool=, cpus=, resources=,
    retries=, timeout=, tags=, version=, estimate=)."""
    if fn is None:
        check_options(options)
        return lambda f: XN(f, options)
    if not callable(fn):
        raise TypeError("xn() takes a function, or node options as keyword arguments")
    return XN(fn, options)
