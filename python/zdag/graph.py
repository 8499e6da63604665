"""The explicit graph builder: nodes, their calls pickled, their dependencies, their options."""
import io
import pickle
import re

from . import node as _node

_building = []  # the graphs whose xn calls are being recorded, innermost last
_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_PLAIN = frozenset((int, float, str, bytes, bool, type(None)))  # arguments that hold no Handle
_NO_KWARGS = {}
_plain = {}  # plain functions given to Graph.add -> their XN (made once)


def building():
    """The graph xn calls add nodes to now, or None (then they just run)."""
    return _building[-1] if _building else None


class _CallPickler(pickle.Pickler):
    """Pickles a call's arguments with every Handle in them replaced by its node's name; the
    names found are the node's dependencies."""

    def __init__(self, buf, graph):
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self.graph = graph
        self.deps = {}

    def persistent_id(self, obj):
        if type(obj) is not _node.Handle:
            return None
        if obj.graph is not self.graph:
            raise ValueError(f"{obj!r} belongs to another graph")
        self.deps[obj.name] = None
        return obj.name


def base_name(qualname):
    name = _BAD.sub("_", qualname.replace("<locals>.", "").replace("<lambda>", "lambda"))
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name
    return name[:200]


class Graph:
    """A DAG of Python calls, built explicitly (graphs made in a loop) or by the xn calls of a
    @dag function.

        g = Graph()
        parts = [g.call(crunch, i) for i in range(10)]
        total = g.call(add_up, parts)
        run = g.run(jobs=2)
        print(run[total])
    """

    def __init__(self, pools=None):
        self.nodes = {}        # name -> the tuple zdag._zdag.build() takes for it
        self.pools = {}
        for pool, capacity in (pools or {}).items():
            self.pool(pool, capacity)
        self._counts = {}      # base name -> calls so far
        self.tags = {}         # name -> its tags (nodes with tags only)
        self.output = None     # the pickled return value of a @dag function (or None)

    def __len__(self):
        return len(self.nodes)

    def __enter__(self):
        _building.append(self)
        return self

    def __exit__(self, *exc):
        _building.remove(self)
        return False

    def pool(self, name, capacity):
        """Declares a pool of `capacity` units; nodes with pool=name hold one while they run."""
        _node.check_name("pool", name)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"pool {name} needs a capacity of 1 or more, got {capacity!r}")
        self.pools[name] = capacity

    def _new_name(self, base):
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        name = base if n == 0 else f"{base}.{n}"
        while name in self.nodes:
            n += 1
            self._counts[base] = n + 1
            name = f"{base}.{n}"
        return name

    def pickle_with_handles(self, value):
        """value pickled with its Handles as references; returns (bytes, dep names)."""
        buf = io.BytesIO()
        p = _CallPickler(buf, self)
        p.dump(value)
        return buf.getvalue(), list(p.deps)

    def call(self, fn, *args, **kwargs):
        """Adds a node calling fn(*args, **kwargs); Handles among the arguments (anywhere in
        them) make it depend on their nodes. Returns its Handle."""
        return self.add(fn, args, kwargs)

    def add(self, fn, args=(), kwargs=None, name=None, after=(), **options):
        """Adds a node calling fn(*args, **kwargs), named `name` (default: fn's name, then
        name.1, name.2 ...), after the nodes in `after` too (Handles or names), with node
        options that override those of @xn. Returns its Handle."""
        if not isinstance(fn, _node.XN):
            if not callable(fn):
                raise TypeError(f"a node calls a function, not {fn!r}")
            fn = _plain.get(fn) or _plain.setdefault(fn, _node.XN(fn, {}))
        if options:
            merged = dict(fn.options)
            merged.update(_node.check_options(options))
            opts, tags = _node.option_tuple(merged, fn.identity), merged.get("tags")
        else:
            opts, tags = fn.option_tuple, fn.options.get("tags")
        if name is None:
            name = self._new_name(fn.base_name)
        elif name in self.nodes:
            raise ValueError(f"node {name!r} already exists")
        else:
            _node.check_name("node", name)
        if kwargs or not all(type(a) in _PLAIN for a in args):
            payload, deps = self.pickle_with_handles((args, kwargs or {}))
        else:
            payload, deps = pickle.dumps((args, _NO_KWARGS), pickle.HIGHEST_PROTOCOL), []
        for a in after:
            dep = a.name if isinstance(a, _node.Handle) else str(a)
            if dep not in self.nodes:
                raise ValueError(f"node {name!r} comes after unknown node {dep!r}")
            if dep not in deps:
                deps.append(dep)
        self.nodes[name] = (name, fn.key[0], fn.key[1], payload, deps, opts)
        if tags:
            self.tags[name] = tags
        return _node.Handle(self, name)

    def selected(self, targets=None, exclude=None):
        """The names of the nodes a run takes: `targets` (names or tags) and their ancestors
        (all when None), less `exclude` (names or tags) and their descendants."""
        def matching(keys):
            keys = {keys} if isinstance(keys, str) else set(keys)
            found = {n for n in self.nodes if n in keys or keys & set(self.tags.get(n, ()))}
            unknown = {k for k in keys if k not in self.nodes and
                       not any(k in tags for tags in self.tags.values())}
            if unknown:
                raise ValueError(f"no node or tag named {', '.join(sorted(unknown))}")
            return found
        chosen = set(self.nodes)
        if targets is not None:
            chosen, todo = set(), list(matching(targets))
            while todo:
                n = todo.pop()
                if n not in chosen:
                    chosen.add(n)
                    todo.extend(self.nodes[n][4])
        if exclude is not None:
            out = matching(exclude)
            for n in self.nodes:  # insertion order: deps come before their dependents
                if n in out or any(d in out for d in self.nodes[n][4]):
                    out.add(n)
            chosen -= out
        return [n for n in self.nodes if n in chosen]

    def c_nodes(self, names):
        """The node tuples zdag._zdag.build() takes, for `names`."""
        if len(names) == len(self.nodes):
            return list(self.nodes.values())
        return [self.nodes[name] for name in names]

    def run(self, **options):
        """Runs the graph (run options as for @dag); returns a Run."""
        from .runner import run_graph
        return run_graph(self, options)
