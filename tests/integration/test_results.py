"""Results of any size: never cut, a node over max_result fails naming the limit, stored by
content hash (STATE_DIR/results), uploaded and fetched in chunks by remote workers without the
coordinator holding them in memory, and checked by hash before --resume trusts them."""
import glob
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402
from test_remote import free_port  # noqa: E402

PLUGIN = os.environ.get("ZDAG_PLUGIN", "")
SANITIZED = os.environ.get("ZDAG_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES")

PRODUCE_300K = """
nodes:
  produce: {cmd: 'seq 1 300000'%s}
  consume: {cmd: 'wc -l < "$ZDAG_DEP_PRODUCE" > %s; tail -n 1 "$ZDAG_DEP_PRODUCE" >> %s',
            deps: [produce]%s}
"""


def peak_rss_kib(pid):
    """VmHWM of a live process, in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Watcher(threading.Thread):
    """Polls a process's VmHWM until it exits; .peak holds the last (largest) value."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.peak = proc, 0

    def run(self):
        while self.proc.poll() is None:
            self.peak = max(self.peak, peak_rss_kib(self.proc.pid))
            time.sleep(0.02)


class LocalResultsTest(ZdagTestCase):
    def test_a_300000_line_result_reaches_its_consumer_whole(self):
        out = self.path("count.txt")
        p, r = self.run_pipeline(PRODUCE_300K % ("", out, out, ""))
        with open(out) as f:
            self.assertEqual(f.read().split(), ["300000", "300000"])
        # stored once, by the SHA-256 of its bytes, and the journal refers to it
        files = glob.glob(self.path(".zdag", "results", "*"))
        self.assertEqual(len(files), 1, files)
        self.assertEqual(os.path.getsize(files[0]), len("\n".join(
            str(i) for i in range(1, 300001))) + 1)

    def test_results_file_has_the_whole_result(self):
        results = self.path("results.json")
        self.run_pipeline("nodes:\n  big: {cmd: 'seq 1 300000'}\n  small: {cmd: 'echo hi'}\n",
                          "--results", results)
        with open(results) as f:
            got = json.load(f)
        self.assertEqual(got["big"], "".join(f"{i}\n" for i in range(1, 300001)))
        self.assertEqual(got["small"], "hi\n")

    def test_command_over_max_result_fails_naming_the_limit(self):
        text = """
max_result: 64KiB
nodes:
  flood: {cmd: 'yes'}
  fits: {cmd: 'seq 1 10000'}
  own: {cmd: 'seq 1 10000', max_result: 1000}
  after: {cmd: 'true', deps: [flood]}
"""
        p, r = self.run_pipeline(text, "-k", check=1)
        n = nodes_by_name(r)
        self.assertEqual(n["flood"]["status"], "failed")
        self.assertIn("result is over max_result (64 KiB)", n["flood"]["error"])
        self.assertEqual(n["fits"]["status"], "succeeded")
        self.assertEqual(n["own"]["status"], "failed")
        self.assertIn("result is over max_result (1000 bytes)", n["own"]["error"])
        self.assertEqual(n["after"]["status"], "skipped")
        self.assertIn("over max_result", p.stderr)

    def test_function_over_max_result_fails_naming_the_limit(self):
        self.assertTrue(os.path.exists(PLUGIN), PLUGIN)
        results = self.path("results.json")
        text = f"""
plugins: [{PLUGIN}]
nodes:
  big: {{fn: range, args: {{from: 0, to: 100000}}, max_result: 100KiB}}
  fits: {{fn: range, args: {{from: 0, to: 100000}}}}
  total: {{fn: sum, args: {{of: fits}}, deps: [fits]}}
"""
        p, r = self.run_pipeline(text, "-k", "--results", results, check=1)
        n = nodes_by_name(r)
        self.assertEqual(n["big"]["status"], "failed")
        self.assertIn("result is over max_result (100 KiB)", n["big"]["error"])
        # a function's stored result reaches a dependent function and --results whole
        with open(results) as f:
            got = json.load(f)
        self.assertEqual(got["total"], sum(range(100001)))
        self.assertEqual(got["fits"], list(range(100001)))

    def test_bad_max_result_values_are_positioned_errors(self):
        for value in ("0", "-5", "lots", "2TiB", "[1]", "1.5GiB"):
            pipe = self.write("bad.yaml", f"nodes:\n  a: {{cmd: 'true', max_result: {value}}}\n")
            p = self.zdag("check", pipe, check=2)
            self.assertIn("bad.yaml:2:", p.stderr, value)
            self.assertIn("max_result", p.stderr, value)
        pipe = self.write("top.yaml", "max_result: nope\nnodes:\n  a: {cmd: 'true'}\n")
        p = self.zdag("check", pipe, check=2)
        self.assertIn("top.yaml:1:", p.stderr)
        for value in ("512", "64MiB", "'1 GiB'", "10kB"):
            pipe = self.write("good.yaml", f"max_result: {value}\nnodes:\n  a: {{cmd: 'true'}}\n")
            self.zdag("check", pipe, check=0)

    def test_resume_rechecks_a_stored_result(self):
        out = self.path("count.txt")
        text = PRODUCE_300K % ("", out, out, "")
        self.run_pipeline(text)
        _, r = self.run_pipeline(text, "--resume")
        self.assertEqual({n["status"] for n in r["nodes"]}, {"cached"})
        # one byte of the stored file changes (same size): the hash no longer matches
        (stored,) = glob.glob(self.path(".zdag", "results", "*"))
        os.chmod(stored, 0o644)
        with open(stored, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(b"9" if b != b"9" else b"8")
        os.unlink(out)
        _, r = self.run_pipeline(text, "--resume")
        n = nodes_by_name(r)
        self.assertEqual(n["produce"]["status"], "succeeded")  # ran again
        self.assertEqual(n["consume"]["status"], "succeeded")  # and so did its dependent
        with open(out) as f:
            self.assertEqual(f.read().split(), ["300000", "300000"])
        # a missing file is not trusted either
        for path in glob.glob(self.path(".zdag", "results", "*")):
            os.unlink(path)
        _, r = self.run_pipeline(text, "--resume")
        self.assertEqual(nodes_by_name(r)["produce"]["status"], "succeeded")


class RemoteResultsTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.procs = []
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
        super().tearDown()

    def spawn(self, *args):
        p = subprocess.Popen([ZDAG, *args], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def coordinator(self, text, *args, heartbeat="0.2"):
        pipe = self.write("pipe.yaml", text)
        self.report = self.path("report.json")
        return self.spawn("run", pipe, "-w", "0", "--listen", self.endpoint, "--report",
                          self.report, "--insecure", "--heartbeat", heartbeat, *args)

    def worker(self, host, *resources):
        args = ["worker", "--connect", self.endpoint, "--host-id", host, "--slots", "1",
                "--cpus", "1", "--insecure"]
        for r in resources:
            args += ["--resource", r]
        return self.spawn(*args)

    def finish(self, coord, expect=0):
        out, err = coord.communicate(timeout=300)
        self.assertEqual(coord.returncode, expect, err)
        with open(self.report) as f:
            return nodes_by_name(json.load(f)), err

    def test_300000_lines_across_workers(self):
        """The producer runs on one worker, its consumer on another: the result goes up in
        chunks and down again by FETCH."""
        out = self.path("count.txt")
        coord = self.coordinator(PRODUCE_300K % (", resources: {a: 1}", out, out,
                                                 ", resources: {b: 1}"))
        workers = [self.worker("hostA", "a=1"), self.worker("hostB", "b=1")]
        n, _ = self.finish(coord)
        for w in workers:
            w.communicate(timeout=30)
        self.assertEqual(n["produce"]["host"], "hostA")
        self.assertEqual(n["consume"]["host"], "hostB")
        with open(out) as f:
            self.assertEqual(f.read().split(), ["300000", "300000"])
        self.assertEqual(len(glob.glob(self.path(".zdag", "results", "*"))), 1)

    def test_300000_lines_on_one_worker(self):
        out = self.path("count.txt")
        coord = self.coordinator(PRODUCE_300K % ("", out, out, ""))
        w = self.worker("hostA")
        n, _ = self.finish(coord)
        w.communicate(timeout=30)
        with open(out) as f:
            self.assertEqual(f.read().split(), ["300000", "300000"])

    def test_over_max_result_on_a_worker(self):
        self.assertTrue(os.path.exists(PLUGIN), PLUGIN)
        text = f"""
plugins: [{PLUGIN}]
max_result: 10KiB
nodes:
  flood: {{cmd: 'yes'}}
  big: {{fn: range, args: {{from: 0, to: 100000}}}}
"""
        coord = self.coordinator(text, "-k")
        w = self.worker("hostA")
        n, _ = self.finish(coord, expect=1)
        w.communicate(timeout=30)
        for name in ("flood", "big"):
            self.assertEqual(n[name]["status"], "failed", name)
            self.assertIn("result is over max_result (10 KiB)", n[name]["error"], name)
            self.assertEqual(n[name]["host"], "hostA")

    def test_a_200_MB_result_between_workers_keeps_the_coordinator_small(self):
        size = 20_000_000 if SANITIZED else 200_000_000
        out = self.path("size.txt")
        text = f"""
nodes:
  big: {{cmd: 'head -c {size} /dev/zero | tr "\\\\0" x', resources: {{a: 1}}}}
  use: {{cmd: 'wc -c < "$ZDAG_DEP_BIG" > {out}', deps: [big], resources: {{b: 1}}}}
"""
        t0 = time.time()
        # the default heartbeat (T_fence 3 s): a sanitized build on a loaded machine is slow
        coord = self.coordinator(text, heartbeat="1")
        watch = Watcher(coord)
        watch.start()
        workers = [self.worker("hostA", "a=1"), self.worker("hostB", "b=1")]
        n, _ = self.finish(coord)
        elapsed = time.time() - t0
        watch.join(timeout=10)
        for w in workers:
            w.communicate(timeout=30)
        self.assertEqual(n["big"]["host"], "hostA")
        self.assertEqual(n["use"]["host"], "hostB")
        with open(out) as f:
            self.assertEqual(int(f.read()), size)
        (stored,) = glob.glob(self.path(".zdag", "results", "*"))
        self.assertEqual(os.path.getsize(stored), size)
        print(f"\n{size} bytes between workers: {elapsed:.1f} s, coordinator VmHWM "
              f"{watch.peak / 1024:.1f} MiB", file=sys.stderr)
        if not SANITIZED:
            self.assertGreater(watch.peak, 0)
            self.assertLess(watch.peak, 100 * 1024, "coordinator peak RSS over 100 MB")


if __name__ == "__main__":
    unittest.main()
