"""--resume knows code: a plugin rebuilt with changed code runs again (rebuilt unchanged, it stays
cached), with or without an ELF build-id; a libzdag program rebuilt with changed code runs its
functions again; a `version` change re-runs a node and its dependents; two programs in one
directory keep separate journals. Plugins and programs are compiled here with cc, as a user
would."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

SOURCE = os.environ.get("ZDAG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ZDAG_BUILD_DIR", os.path.join(SOURCE, "build"))
SANITIZE = ["-fsanitize=address,undefined"] if os.environ.get("ZDAG_SANITIZE") == "ON" else []
PROGRAM = os.path.join(os.path.dirname(__file__), "code_prog.c")


def msgpack_flags():
    for name in ("msgpack-c", "msgpack"):
        p = subprocess.run(["pkg-config", "--cflags", "--libs", name], capture_output=True,
                           text=True)
        if p.returncode == 0:
            return p.stdout.split()
    return ["-lmsgpackc"]


PLUGIN_SOURCE = """#include <zdag.h>
int value(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_int(out, %d);
}
"""


class CodeIdentityTest(ZdagTestCase):
    def build_plugin(self, value, *ldflags, name="plug", fn="value"):
        """Compiles a plugin whose function fn returns value, into self.dir/NAME.so."""
        src = self.write(name + ".c", PLUGIN_SOURCE.replace("value", fn) % value)
        out = self.path(name + ".so")
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", f"-I{SOURCE}/include", src,
                        *msgpack_flags(), *ldflags, "-o", out], check=True)
        return out

    def build_program(self, variant, out):
        """Compiles code_prog.c with VARIANT=variant against the built libzdag, into out."""
        lib = os.path.join(BUILD, "libzdag.so")
        subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", f"-DVARIANT={variant}",
                        f"-I{SOURCE}/include", PROGRAM, lib, *msgpack_flags(),
                        f"-Wl,-rpath,{BUILD}", *SANITIZE, "-o", out + ".tmp"], check=True)
        os.replace(out + ".tmp", out)  # as `make` would: a new file under the old name

    def run_program(self, exe, *args):
        """Runs exe in self.dir; returns {node: (status, result)}."""
        p = subprocess.run([exe, *args], cwd=self.dir, env=self.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return {w[0]: (w[1], int(w[2])) for w in (line.split() for line in p.stdout.splitlines())}

    def resume(self, text):
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "-w", "1", "--resume", "--results", results)
        with open(results) as f:
            return {n: s["status"] for n, s in nodes_by_name(r).items()}, json.load(f)

    def plugin_pipeline(self, plugin):
        return f"""
plugins: [{plugin}]
nodes:
  v: {{fn: value}}
  show: {{cmd: 'cat "$ZDAG_DEP_V"', deps: [v]}}
  other: {{cmd: 'echo other'}}
"""

    def check_plugin_rebuilds(self, *ldflags):
        text = self.plugin_pipeline(self.build_plugin(1, *ldflags))
        status, res = self.resume(text)
        self.assertEqual(set(status.values()), {"succeeded"})
        self.assertEqual(res["v"], 1)
        # Rebuilt from the same code (a new file, a new mtime): still cached.
        self.build_plugin(1, *ldflags)
        status, res = self.resume(text)
        self.assertEqual(set(status.values()), {"cached"})
        self.assertEqual(res["v"], 1)
        # Rebuilt with changed code: the function and its dependent run again, nothing else.
        self.build_plugin(2, *ldflags)
        status, res = self.resume(text)
        self.assertEqual(status, {"v": "succeeded", "show": "succeeded", "other": "cached"})
        self.assertEqual(res["v"], 2)
        self.assertEqual(res["show"], "2")
        status, _ = self.resume(text)
        self.assertEqual(set(status.values()), {"cached"})

    def test_rebuilt_plugin_reruns_on_resume(self):
        self.check_plugin_rebuilds()
        p = subprocess.run(["readelf", "-n", self.path("plug.so")], capture_output=True,
                           text=True)
        if p.returncode == 0:  # the identity came from the build-id
            self.assertIn("Build ID", p.stdout)

    def test_rebuilt_plugin_without_build_id_reruns(self):
        self.check_plugin_rebuilds("-Wl,--build-id=none")
        p = subprocess.run(["readelf", "-n", self.path("plug.so")], capture_output=True,
                           text=True)
        if p.returncode == 0:  # the identity came from the content
            self.assertNotIn("Build ID", p.stdout)

    def test_each_function_knows_its_own_plugin(self):
        first = self.build_plugin(1, name="first", fn="value")
        second = self.build_plugin(10, name="second", fn="other")
        text = f"""
plugins: [{first}, {second}]
nodes:
  v: {{fn: value}}
  o: {{fn: other}}
"""
        status, res = self.resume(text)
        self.assertEqual((status, res), ({"v": "succeeded", "o": "succeeded"}, {"v": 1, "o": 10}))
        # The second plugin changed: only its function runs again.
        self.build_plugin(20, name="second", fn="other")
        status, res = self.resume(text)
        self.assertEqual((status, res), ({"v": "cached", "o": "succeeded"}, {"v": 1, "o": 20}))
        # The first changed: its function, and the second's too (whose lookup passes through
        # the first plugin, which might supply it through a library it loads).
        self.build_plugin(2, name="first", fn="value")
        status, res = self.resume(text)
        self.assertEqual((status, res), ({"v": "succeeded", "o": "succeeded"}, {"v": 2, "o": 20}))

    def test_version_key_reruns(self):
        side = self.path("side")

        def pipeline(version):
            v = f", version: {version}" if version is not None else ""
            return f"""
nodes:
  a: {{cmd: 'echo a >> {side}; echo A'{v}}}
  b: {{cmd: 'echo b >> {side}; cat "$ZDAG_DEP_A"', deps: [a]}}
  c: {{cmd: 'echo c >> {side}'}}
"""
        status, _ = self.resume(pipeline(None))
        self.assertEqual(set(status.values()), {"succeeded"})
        status, _ = self.resume(pipeline(None))
        self.assertEqual(set(status.values()), {"cached"})
        status, _ = self.resume(pipeline(1))
        self.assertEqual(status, {"a": "succeeded", "b": "succeeded", "c": "cached"})
        status, _ = self.resume(pipeline("'1'"))  # the same version, written as a string
        self.assertEqual(set(status.values()), {"cached"})
        status, _ = self.resume(pipeline("2024-06 data"))
        self.assertEqual(status, {"a": "succeeded", "b": "succeeded", "c": "cached"})
        with open(side) as f:
            self.assertEqual(sorted(f.read().split()), ["a", "a", "a", "b", "b", "b", "c"])
        # A bad version is a positioned load error, before anything runs.
        p = self.zdag("check", self.write("bad.yaml", pipeline("true")), check=2)
        self.assertIn("bad.yaml:3:", p.stderr)
        self.assertIn('"version" in node "a" must be a string or a number', p.stderr)

    def test_rebuilt_program_reruns_its_functions(self):
        prog = self.path("prog")
        self.build_program(1, prog)
        self.assertEqual(self.run_program(prog), {"work": ("succeeded", 1)})
        self.assertEqual(self.run_program(prog), {"work": ("cached", 1)})
        self.build_program(1, prog)  # the same code rebuilt: the same build-id
        self.assertEqual(self.run_program(prog), {"work": ("cached", 1)})
        self.build_program(2, prog)  # changed code
        self.assertEqual(self.run_program(prog), {"work": ("succeeded", 2)})
        self.assertEqual(self.run_program(prog), {"work": ("cached", 2)})
        # zdag_node_set_version(): a new version runs again, the same one is cached.
        self.assertEqual(self.run_program(prog, "-v", "x"), {"work": ("succeeded", 2)})
        self.assertEqual(self.run_program(prog, "-v", "x"), {"work": ("cached", 2)})
        self.assertEqual(self.run_program(prog, "-v", "y"), {"work": ("succeeded", 2)})

    def test_two_programs_keep_separate_journals(self):
        first, second = self.path("first"), self.path("second")
        self.build_program(1, first)
        shutil.copy(first, second)  # even the same code: another program, another journal
        self.assertEqual(self.run_program(first), {"work": ("succeeded", 1)})
        self.assertEqual(self.run_program(second), {"work": ("succeeded", 1)})
        self.assertEqual(self.run_program(first), {"work": ("cached", 1)})
        self.assertEqual(self.run_program(second), {"work": ("cached", 1)})
        # A changed first program does not disturb the second's history.
        self.build_program(3, first)
        self.assertEqual(self.run_program(first), {"work": ("succeeded", 3)})
        self.assertEqual(self.run_program(second), {"work": ("cached", 1)})
        journals = sorted(n for n in os.listdir(self.path(".zdag")) if "journal" in n)
        self.assertEqual(len(journals), 2, journals)
        self.assertTrue(any("first" in n for n in journals), journals)
        self.assertTrue(any("second" in n for n in journals), journals)
        # zdag_options.name: the caller's own identity, shared on purpose.
        self.assertEqual(self.run_program(first, "-n", "second"), {"work": ("succeeded", 3)})
        self.assertEqual(self.run_program(second), {"work": ("succeeded", 1)})


if __name__ == "__main__":
    unittest.main()
