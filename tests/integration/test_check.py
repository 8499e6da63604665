"""zdag check is zdag run without running: every invalid file exits 2, at once, with each error
as FILE:LINE:COL: error: ..., sorted by position; plugins are opened and fn nodes looked up."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase  # noqa: E402

PLUGIN = os.environ.get("ZDAG_PLUGIN", "")
SLOW = os.environ.get("ZDAG_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE")

# (what, file bytes, LINE:COL of the first error, part of its message)
INVALID = [
    ("unknown key", b"nodes:\n  a: {cmd: x, colour: red}\n", "2:15", 'unknown key "colour"'),
    ("misspelt key", b"nodes:\n  a: {cmd: x}\n  b: {cmd: y, dpes: [a]}\n", "3:15",
     'did you mean "deps"?'),
    ("misspelt top key", b"node:\n  a: {cmd: x}\n", "1:1", 'did you mean "nodes"?'),
    ("bad type", b"nodes:\n  a: {cmd: x, priority: high}\n", "2:25", "must be an integer"),
    ("cycle", b"nodes:\n  a: {cmd: x, deps: [b]}\n  b: {cmd: x, deps: [a]}\n", "2:3",
     "cycle: a -> b -> a"),
    ("unknown dep", b"nodes:\n  compile: {cmd: x}\n  t: {cmd: x, deps: [complie]}\n", "3:22",
     'did you mean "compile"?'),
    ("duplicate node", b"nodes:\n  a: {cmd: x}\n  a: {cmd: y}\n", "3:3", 'duplicate node "a"'),
    ("bad name", b"nodes:\n  'a b': {cmd: x}\n", "2:3", 'invalid node "a b"'),
    ("negative cpus", b"nodes:\n  a: {cmd: x, cpus: -1}\n", "2:21", "must be a number >= 0"),
    ("retries -1", b"nodes:\n  a: {cmd: x, retries: -1}\n", "2:24", "must be an integer >= 0"),
    ("timeout 0", b"nodes:\n  a: {cmd: x, timeout: 0}\n", "2:24", "must be a number > 0"),
    ("timeout negative", b"nodes:\n  a: {cmd: x, timeout: -5}\n", "2:24", "must be a number > 0"),
    ("empty nodes", b"nodes: {}\n", "1:8", '"nodes" is empty'),
    ("empty file", b"", "1:1", "the file is empty"),
    ("deps not a list", b"nodes:\n  a: {cmd: x}\n  b: {cmd: x, deps: a}\n", "3:21",
     "must be a list of node names"),
    ("pool undeclared", b"nodes:\n  a: {cmd: x, pool: db}\n", "2:21", 'undeclared pool "db"'),
    ("pool capacity 0", b"pools: {db: 0}\nnodes:\n  a: {cmd: x, pool: db}\n", "1:13",
     "must be an integer >= 1"),
    ("pool too large", b"pools: {db: 2000000000}\nnodes:\n  a: {cmd: x, pool: db}\n", "1:13",
     "must be at most 1000000"),
    ("sequential not bool", b"nodes:\n  a: {cmd: x, sequential: yes}\n", "2:27",
     "must be true or false"),
    ("tab indentation", b"nodes:\n\ta: {cmd: x}\n", "2:1", "tabs are not allowed for indentation"),
    ("not UTF-8", b"nodes:\n  a: {cmd: caf\xe9}\n", "2:15", "not valid UTF-8"),
    ("no command", b"nodes:\n  a: {priority: 1}\n", "2:3", 'has neither "cmd" nor "fn"'),
    ("empty program", b"nodes:\n  a: {cmd: ['', x]}\n", "2:13", "program name"),
    ("dep variables collide",
     b"nodes:\n  a-b: {cmd: x}\n  a_b: {cmd: x}\n  c: {cmd: x, deps: [a-b, a_b]}\n", "4:27",
     "both passed as $ZDAG_DEP_A_B"),
    ("fn without plugins", b"nodes:\n  f: {fn: range}\n", "2:11", "lists no plugins"),
    ("missing plugin", b"plugins: [./nope.so]\nnodes:\n  f: {fn: range}\n", "1:11",
     "cannot load plugin"),
    ("syntax error", b"nodes:\n  a: {cmd: x\n", "3:1", "invalid YAML"),
]

POSITIONED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: ")


class CheckTest(ZdagTestCase):
    def check_invalid(self, pipe, at, says):
        start = time.monotonic()
        p = subprocess.run([ZDAG, "check", pipe], cwd=self.dir, env=self.env,
                           capture_output=True, text=True, timeout=10, errors="replace")
        took = time.monotonic() - start
        self.assertEqual(p.returncode, 2, p.stderr)
        lines = p.stderr.splitlines()
        self.assertTrue(lines, "no message")
        self.assertTrue(lines[0].startswith(f"{pipe}:{at}: error: "), p.stderr)
        self.assertIn(says, lines[0])
        positions = []
        for line in lines:
            m = POSITIONED.match(line)
            self.assertIsNotNone(m, f"not FILE:LINE:COL: {line!r}")
            self.assertEqual(m["file"], pipe)
            positions.append((int(m["line"]), int(m["col"])))
        self.assertEqual(positions, sorted(positions), "errors out of line order")
        self.assertLess(took, 3.0 if SLOW else 1.0)

    def test_every_invalid_file_exits_2_with_a_position(self):
        for i, (what, text, at, says) in enumerate(INVALID):
            with self.subTest(what):
                pipe = self.path(f"bad{i}.yaml")
                with open(pipe, "wb") as f:
                    f.write(text)
                self.check_invalid(pipe, at, says)

    def test_fifo_is_refused_without_blocking(self):
        fifo = self.path("p.yaml")
        os.mkfifo(fifo)
        self.check_invalid(fifo, "1:1", "cannot read a FIFO: a pipeline must be a regular file")

    def test_directory_is_refused(self):
        os.mkdir(self.path("d.yaml"))
        self.check_invalid(self.path("d.yaml"), "1:1", "a directory")

    def test_errors_sorted_and_no_cascade(self):
        text = ("pools: {db: 0}\n"
                "nodes:\n"
                "  b: {cmd: x, pool: db, deps: [zz]}\n"
                "  a: {cmd: x, prority: 1}\n")
        pipe = self.write("p.yaml", text)
        p = self.zdag("check", pipe, check=2)
        self.assertEqual(p.stderr.splitlines(), [
            f'{pipe}:1:13: error: "db" in pools must be an integer >= 1',
            f'{pipe}:3:32: error: node "b" depends on unknown node "zz"',
            f'{pipe}:4:15: error: unknown key "prority" in node "a"; did you mean "priority"?',
        ])

    def test_remote_allows_fn_without_plugins(self):
        pipe = self.write("p.yaml", "nodes:\n  f: {fn: range}\n")
        self.zdag("check", pipe, check=2)
        p = self.zdag("check", pipe, "--remote", check=0)
        self.assertEqual(p.stderr, "")
        self.zdag("check", pipe, "--bogus", check=2)

    @unittest.skipUnless(PLUGIN, "the example plugin was not built")
    def test_plugin_functions_are_looked_up(self):
        shutil.copy(PLUGIN, self.path("plugin.so"))
        ok = "plugins: [plugin.so]\nnodes:\n  e: {fn: range, args: {from: 0, to: 1}}\n"
        self.zdag("check", self.write("ok.yaml", ok), check=0)
        bad = "plugins: [plugin.so]\nnodes:\n  e: {fn: range}\n  f: {fn: no_such_fn}\n"
        pipe = self.write("bad.yaml", bad)
        p = self.zdag("check", pipe, check=2)
        self.assertIn(f'{pipe}:4:11: error: node "f" calls function "no_such_fn", '
                      "which no plugin exports", p.stderr)
        self.zdag("check", pipe, "--remote", check=0)

    @unittest.skipUnless(PLUGIN, "the example plugin was not built")
    def test_relative_paths_resolve_from_the_file(self):
        os.mkdir(self.path("sub"))
        os.mkdir(self.path("sub", "work"))
        shutil.copy(PLUGIN, self.path("sub", "plugin.so"))
        text = ("plugins: [./plugin.so]\n"
                "nodes:\n"
                "  e: {fn: range, args: {from: 0, to: 1}}\n"
                "  w: {cmd: pwd, workdir: work}\n")
        pipe = self.write(os.path.join("sub", "p.yaml"), text)
        self.zdag("check", pipe, check=0)  # from self.dir, not sub/
        results = self.path("results.json")
        self.zdag("run", pipe, "-w", "1", "-q", "--results", results, check=0)
        with open(results) as f:
            self.assertEqual(f.read().count(os.path.realpath(self.path("sub", "work"))), 1)

    @unittest.skipUnless(PLUGIN and "ZDAG_SOURCE_DIR" in os.environ
                         and "ZDAG_BUILD_DIR" in os.environ, "needs the source tree")
    def test_example_plugin_pipeline_from_any_directory(self):
        src = os.environ["ZDAG_SOURCE_DIR"]
        if os.path.realpath(os.environ["ZDAG_BUILD_DIR"]) != os.path.realpath(
                os.path.join(src, "build")):
            self.skipTest("the example expects the build in ./build")
        example = os.path.join(src, "examples", "plugin", "pipeline.yaml")
        for cwd in (src, os.path.dirname(example), self.dir):
            p = subprocess.run([ZDAG, "check", example], cwd=cwd, env=self.env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, f"from {cwd}: {p.stderr}")


if __name__ == "__main__":
    unittest.main()
