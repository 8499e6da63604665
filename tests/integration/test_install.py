"""libzdag installed in a staging prefix: a program outside the tree builds with
`cc prog.c $(pkg-config --cflags --libs zdag)` and with CMake's find_package(zdag), and runs;
the man page zdag.1 and the bash completion are installed beside the binary; every example
builds as strict ISO C11 (-std=c11 -Wall -Wextra -Werror -pedantic, no _GNU_SOURCE from us)
against the installed header; the Python module installs with it (cmake --install) and with
`pip install --no-build-isolation` against the installed libzdag, and runs a graph."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ.get("ZDAG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ZDAG_BUILD_DIR", os.path.join(SOURCE, "build"))
SANITIZE = os.environ.get("ZDAG_SANITIZE") == "ON"
HELLO = os.path.join(SOURCE, "examples", "hello.c")


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="zdag-install-")
        cls.prefix = os.path.join(cls.dir, "prefix")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], check=True,
                       capture_output=True)
        libdir = next(os.path.join(cls.prefix, d) for d in ("lib", "lib64",
                      "lib/x86_64-linux-gnu") if os.path.exists(
                          os.path.join(cls.prefix, d, "pkgconfig", "zdag.pc")))
        cls.env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"),
                       LD_LIBRARY_PATH=libdir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_hello(self, exe):
        work = tempfile.mkdtemp(dir=self.dir)
        p = subprocess.run([exe], cwd=work, env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "sum = 42\n")

    def test_installed_files(self):
        for rel in ("include/zdag.h", "bin/zdag", "share/man/man1/zdag.1",
                    "share/bash-completion/completions/zdag"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, rel)), rel)

    def test_pkg_config(self):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "zdag"], env=self.env,
                               check=True, capture_output=True, text=True).stdout.split()
        self.assertIn("-lzdag", flags)
        exe = os.path.join(self.dir, "hello-pc")
        san = ["-fsanitize=address,undefined"] if SANITIZE else []
        subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", HELLO, *flags, *san, "-o", exe],
                       env=self.env, check=True)
        self.run_hello(exe)

    def test_examples_build_as_strict_c11(self):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "zdag"], env=self.env,
                               check=True, capture_output=True, text=True).stdout.split()
        strict = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
        san = ["-fsanitize=address,undefined"] if SANITIZE else []
        examples = sorted(glob.glob(os.path.join(SOURCE, "examples", "*.c")))
        self.assertIn(os.path.join(SOURCE, "examples", "seed.c"), examples)
        for src in examples:
            exe = os.path.join(self.dir, "strict-" + os.path.basename(src)[:-2])
            p = subprocess.run(["cc", *strict, src, *flags, *san, "-o", exe], env=self.env,
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, f"{src}:\n{p.stderr}")
        plugin = os.path.join(SOURCE, "examples", "plugin", "nodes.c")
        p = subprocess.run(["cc", *strict, "-shared", "-fPIC", plugin, *flags, "-o",
                            os.path.join(self.dir, "strict-plugin.so")], env=self.env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, f"{plugin}:\n{p.stderr}")
        # The strict seed runs (a short summation loop: its 1 s fetch dominates).
        work = tempfile.mkdtemp(dir=self.dir)
        p = subprocess.run([os.path.join(self.dir, "strict-seed"), "1000"], cwd=work,
                           env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("jobs = 3:", p.stdout)

    def run_python(self, pythonpath):
        """Runs a 3-node graph with the zdag module found on pythonpath; returns its module
        path. Under ASan the interpreter needs the ASan runtime preloaded (libzdag has it)."""
        env = dict(self.env, PYTHONPATH=pythonpath)
        env.pop("LD_LIBRARY_PATH")  # the extension finds libzdag by its run path
        if SANITIZE:
            asan = subprocess.run(["cc", "-print-file-name=libasan.so"], check=True,
                                  capture_output=True, text=True).stdout.strip()
            env.update(LD_PRELOAD=asan, ASAN_OPTIONS="detect_leaks=0")
        code = ("import os, zdag\n"
                "g = zdag.Graph()\n"
                "a, b = g.call(abs, -20), g.call(abs, -1)\n"
                "t = g.call(sum, [a, b])\n"
                "run = g.run(state_dir='state')\n"
                "print(run[t], zdag.__file__)\n")
        work = tempfile.mkdtemp(dir=self.dir)
        p = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        total, where = p.stdout.split()
        self.assertEqual(total, "21")
        return where

    def test_python_module_installed(self):
        found = glob.glob(os.path.join(self.prefix, "lib", "python3*", "dist-packages", "zdag"))
        if not found and not os.path.exists(os.path.join(BUILD, "python", "zdag")):
            self.skipTest("the build has no Python module (ZDAG_PYTHON_MODULE=OFF)")
        self.assertEqual(len(found), 1, found)
        where = self.run_python(os.path.dirname(found[0]))
        self.assertTrue(where.startswith(found[0]), where)

    def test_python_module_with_pip(self):
        if subprocess.run([sys.executable, "-m", "pip", "--version"],
                          capture_output=True).returncode != 0:
            self.skipTest(f"no pip for {sys.executable} (Debian: python3-pip)")
        src = os.path.join(self.dir, "python-src")  # pip builds in the tree: not in ours
        shutil.copytree(os.path.join(SOURCE, "python"), src,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        target = os.path.join(self.dir, "pip-target")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                            "--no-index", "--target", target, src], env=self.env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        where = self.run_python(target)
        self.assertTrue(where.startswith(os.path.join(target, "zdag")), where)

    def test_find_package(self):
        build = os.path.join(self.dir, "cmake-build")
        san = ["-DCMAKE_C_FLAGS=-fsanitize=address,undefined"] if SANITIZE else []
        subprocess.run(["cmake", "-S", os.path.join(os.path.dirname(__file__), "install_project"),
                        "-B", build, f"-DCMAKE_PREFIX_PATH={self.prefix}",
                        f"-DHELLO_SOURCE={HELLO}", *san], env=self.env, check=True,
                       capture_output=True)
        subprocess.run(["cmake", "--build", build], env=self.env, check=True,
                       capture_output=True)
        self.run_hello(os.path.join(build, "hello"))


if __name__ == "__main__":
    unittest.main()
