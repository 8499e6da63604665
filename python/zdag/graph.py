"""The explicit graph builder: nodes, their calls pickled, their dependencies, their options."""
import io
import pickle
import re

from . import node as _node

_building = []  # the graphs whose xn calls are being recorded, innermost last
_BAD = re.compile(r"[^A-Za-z0-9_.-]")


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


def _base_name(qualname):
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
        self.nodes = {}        # name -> (key, payload, deps, options, identity)
        self.pools = dict(pools or {})
        self._counts = {}      # base name -> calls so far
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
        self.pools[str(name)] = int(capacity)

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
        if isinstance(fn, _node.XN):
            key, identity, merged = fn.key, fn.identity, dict(fn.options)
        elif callable(fn):
            key, identity, merged = _node.register(fn), _node.code_identity(fn), {}
        else:
            raise TypeError(f"a node calls a function, not {fn!r}")
        merged.update(_node.check_options(options))
        if name is None:
            name = self._new_name(_base_name(key[1]))
        elif name in self.nodes:
            raise ValueError(f"node {name!r} already exists")
        payload, deps = self.pickle_with_handles((args, kwargs or {}))
        for a in after:
            dep = a.name if isinstance(a, _node.Handle) else str(a)
            if dep not in self.nodes:
                raise ValueError(f"node {name!r} comes after unknown node {dep!r}")
            if dep not in deps:
                deps.append(dep)
        self.nodes[name] = (key, payload, deps, merged, identity)
        return _node.Handle(self, name)

    def selected(self, targets=None, exclude=None):
        """The names of the nodes a run takes: `targets` (names or tags) and their ancestors
        (all when None), less `exclude` (names or tags) and their descendants."""
        def matching(keys):
            keys = {keys} if isinstance(keys, str) else set(keys)
            found = {n for n, v in self.nodes.items()
                     if n in keys or keys & set(v[3].get("tags") or ())}
            unknown = {k for k in keys if k not in self.nodes and
                       not any(k in (v[3].get("tags") or ()) for v in self.nodes.values())}
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
                    todo.extend(self.nodes[n][2])
        if exclude is not None:
            out = matching(exclude)
            for n in self.nodes:  # insertion order: deps come before their dependents
                if n in out or any(d in out for d in self.nodes[n][2]):
                    out.add(n)
            chosen -= out
        return [n for n in self.nodes if n in chosen]

    def c_nodes(self, names):
        """The node tuples zdag._zdag.build() takes, for `names`."""
        out = []
        for name in names:
            key, payload, deps, options, identity = self.nodes[name]
            out.append((name, key[0], key[1], payload, deps,
                        _node.option_tuple(options, identity)))
        return out

    def run(self, **options):
        """Runs the graph (run options as for @dag); returns a Run."""
        from .runner import run_graph
        return run_graph(self, options)
