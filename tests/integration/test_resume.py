"""The journal and --resume: unchanged nodes that succeeded are cached, a changed definition
re-runs the node and its descendants, a torn journal tail is ignored, a state directory in use
is refused, a coordinator killed at random moments loses nothing, duration history steers
critical-path priority."""
import hashlib
import json
import os
import random
import signal
import struct
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, journal_succeeded, nodes_by_name  # noqa: E402


def chain_pipeline(side, n, cmd="sleep 0.05"):
    lines = ["nodes:"]
    for i in range(n):
        deps = f", deps: [n{i - 1}]" if i % 4 else ""
        lines.append(f"  n{i}: {{cmd: 'echo $ZDAG_NODE $ZDAG_RUN_ID ${{FINAL:-0}} >> {side}; "
                     f"{cmd}; echo out{i}', cpus: 0{deps}}}")
    return "\n".join(lines) + "\n"


class ResumeTest(ZdagTestCase):
    def test_changed_node_reruns_with_its_descendants_only(self):
        side = self.path("side")
        text = f"""
nodes:
  a: {{cmd: 'echo a >> {side}; echo A'}}
  b: {{cmd: 'echo b >> {side}; cat "$ZDAG_DEP_A"', deps: [a]}}
  c: {{cmd: 'echo c >> {side}', deps: [b]}}
  d: {{cmd: 'echo d >> {side}'}}
"""
        self.run_pipeline(text, "-w", "2")
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "-w", "2", "--resume", "--results", results)
        self.assertEqual({n["status"] for n in r["nodes"]}, {"cached"})
        self.assertTrue(all(n["attempts"] == 0 and n["start_s"] is None for n in r["nodes"]))
        with open(results) as f:
            self.assertEqual(json.load(f)["b"], "A\n")  # the restored result
        with open(side) as f:
            self.assertEqual(sorted(f.read().split()), ["a", "b", "c", "d"])
        _, r = self.run_pipeline(text.replace("echo b >>", "echo B >>"), "-w", "2", "--resume")
        n = nodes_by_name(r)
        self.assertEqual(n["a"]["status"], "cached")
        self.assertEqual(n["d"]["status"], "cached")
        self.assertEqual(n["b"]["status"], "succeeded")
        self.assertEqual(n["c"]["status"], "succeeded")
        with open(side) as f:
            self.assertEqual(sorted(f.read().split()), ["B", "a", "b", "c", "c", "d"])
        # Without --resume everything runs again.
        _, r = self.run_pipeline(text, "-w", "2")
        self.assertEqual({n["status"] for n in r["nodes"]}, {"succeeded"})

    def test_failed_nodes_run_again(self):
        flag = self.path("ok")
        text = f"nodes:\n  f: {{cmd: 'test -e {flag}'}}\n  g: {{cmd: 'true'}}\n"
        self.run_pipeline(text, "-w", "1", "-k", check=1)
        open(flag, "w").close()
        _, r = self.run_pipeline(text, "-w", "1", "--resume")
        n = nodes_by_name(r)
        self.assertEqual(n["f"]["status"], "succeeded")
        self.assertEqual(n["g"]["status"], "cached")

    def test_torn_journal_tail_is_ignored(self):
        text = "nodes:\n  a: {cmd: 'echo a'}\n  b: {cmd: 'echo b', deps: [a]}\n"
        self.run_pipeline(text, "-w", "1")
        journal = self.path(".zdag", "pipe.yaml.journal")
        with open(journal, "ab") as f:
            f.write(b"\x40\x00\x00\x00\x12\x34")  # a record header cut short by a crash
        _, r = self.run_pipeline(text, "-w", "1", "--resume")
        self.assertEqual({n["status"] for n in r["nodes"]}, {"cached"})
        # the torn bytes were cut away: the journal still works afterwards
        _, r = self.run_pipeline(text.replace("echo b", "echo bb"), "-w", "1", "--resume")
        self.assertEqual(nodes_by_name(r)["b"]["status"], "succeeded")

    def test_corrupt_journal_and_other_pipeline_are_clear_errors(self):
        text = "nodes:\n  a: {cmd: 'echo a'}\n  b: {cmd: 'echo b'}\n"
        self.run_pipeline(text, "-w", "1")
        os.makedirs(self.path("other"))
        other = self.write(os.path.join("other", "pipe.yaml"), text)
        p = self.zdag("run", other, "--state-dir", self.path(".zdag"), check=3)
        self.assertIn("belongs to pipeline", p.stderr)
        journal = self.path(".zdag", "pipe.yaml.journal")
        with open(journal, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0xFF  # inside a record, not at the tail
            f.seek(0)
            f.write(data)
        p = self.zdag("run", self.path("pipe.yaml"), "--resume", check=3)
        self.assertIn("corrupt record at byte offset", p.stderr)

    def test_state_dir_in_use_is_refused(self):
        started = self.path("started")
        pipe = self.write("pipe.yaml", f"nodes:\n  s: {{cmd: 'touch {started}; sleep 30'}}\n")
        first = self.start("run", pipe, "-w", "1")
        deadline = time.time() + 30
        while not os.path.exists(started):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        p = self.zdag("run", pipe, "-w", "1", check=3)
        self.assertIn(f"is in use by another zdag run (pid {first.pid})", p.stderr)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)

    def test_killed_coordinator_loses_nothing(self):
        """kill -9 the coordinator at random moments; --resume then finishes the run. Every
        node ran at least once, and no node cached by a resumed run ran in that run."""
        side = self.path("side")
        pipe = self.write("pipe.yaml", chain_pipeline(side, 24))
        rng = random.Random(1234)
        for _ in range(4):
            p = self.start("run", pipe, "-w", "2", "--resume", "-q")
            time.sleep(rng.uniform(0.1, 0.5))
            p.kill()
            p.communicate(timeout=30)
            time.sleep(0.1)  # the executors notice their parent's death and stop
        report = self.path("report.json")
        # The final run marks its commands' lines (the environment is not part of a node's
        # definition, so this changes no cache decision).
        self.env["FINAL"] = "1"
        self.zdag("run", pipe, "-w", "2", "--resume", "--report", report, check=0)
        with open(report) as f:
            r = json.load(f)
        self.assertEqual({n["status"] for n in r["nodes"]} - {"succeeded", "cached"}, set())
        lines = self.side_lines(side)
        self.assertEqual({line[0] for line in lines}, {f"n{i}" for i in range(24)})
        ran_last = {line[0] for line in lines if line[2] == "1"}
        for n in r["nodes"]:
            # a cached node did not run in the final run; a succeeded one did
            self.assertEqual(n["name"] in ran_last, n["status"] == "succeeded", n["name"])
        self.assertTrue(any(n["status"] == "cached" for n in r["nodes"]))


    def test_killed_while_the_journal_thread_syncs_loses_no_durable_record(self):
        """fdatasync runs in the journal's own thread while nodes keep ending. The coordinator
        is killed with -9 once the journal file holds a's records (k waits for them, then
        kills); every record that reached the file is whole and trusted by --resume, and what
        it shows succeeded is cached, nothing else."""
        side = self.path("side")
        journal = self.path(".zdag", "pipe.yaml.journal")
        lock = self.path(".zdag", "lock")
        n = 60
        lines = ["nodes:"]
        lines += [f"  a{i}: {{cmd: 'echo a{i} >> {side}'}}" for i in range(n)]
        lines += [f"  b{i}: {{cmd: 'echo b{i} >> {side}; sleep 0.01'}}" for i in range(n)]
        deps = ", ".join(f"a{i}" for i in range(n))
        # k waits until every a's record is in the journal (synced by the thread), then kills
        # the coordinator while the b nodes are still ending.
        wait = " && ".join(f"grep -q a{i} {journal}" for i in range(n))
        killed = self.path("killed")
        lines.append(f"  k: {{cmd: 'echo k >> {side}; [ -e {killed} ] && exit 0; "
                     f"until {wait}; do sleep 0.02; done; touch {killed}; "
                     f"kill -9 $(cat {lock})', deps: [{deps}]}}")
        pipe = self.write("pipe.yaml", "\n".join(lines) + "\n")
        p = self.start("run", pipe, "-w", "2", "-j", "2", "-q")
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        time.sleep(0.1)  # the executors notice their parent's death and stop
        durable = journal_succeeded(journal)
        self.assertTrue({f"a{i}" for i in range(n)} <= durable)
        self.assertNotIn("k", durable)
        first = self.side_lines(side)
        report = self.path("report.json")
        self.env["FINAL"] = "1"
        self.zdag("run", pipe, "-w", "2", "--resume", "--report", report, "-q", check=0)
        with open(report) as f:
            status = {x["name"]: x["status"] for x in json.load(f)["nodes"]}
        self.assertEqual({x for x, st in status.items() if st == "cached"}, durable)
        self.assertEqual({x for x, st in status.items() if st == "succeeded"},
                         set(status) - durable)
        ran = [line[0] for line in self.side_lines(side)[len(first):]]
        self.assertEqual(sorted(ran), sorted(set(status) - durable))  # each once, none cached

    def slow_disk(self, ms):
        """Journal writes and syncs of the next runs take ms milliseconds each (LD_PRELOAD)."""
        self.preload(os.environ["ZDAG_TEST_SLOWDISK"])
        self.env["ZDAG_TEST_SLOW_MS"] = str(ms)

    def fast_disk(self):
        self.env.pop("LD_PRELOAD", None)

    @unittest.skipUnless(os.environ.get("ZDAG_TEST_SLOWDISK"), "needs the slow-disk shim")
    def test_killed_once_the_report_is_written_keeps_every_reported_success(self):
        """The report, written after the run, says what succeeded: that is acknowledged, so it
        must be durable by then. On a slow disk (each journal write and fdatasync 300 ms, the
        last group still in the journal thread when the nodes are done), kill -9 the
        coordinator the moment the report appears; --resume caches every node the report says
        succeeded."""
        side = self.path("side")
        pipe = self.write("pipe.yaml", "nodes:\n" + "".join(
            f"  n{i}: {{cmd: 'echo n{i} >> {side}'}}\n" for i in range(150)))
        report = self.path("report.json")
        self.slow_disk(300)
        p = self.start("run", pipe, "-w", "2", "-j", "2", "-q", "--report", report)
        while not os.path.exists(report) and p.poll() is None:
            time.sleep(0.001)
        p.kill()
        p.communicate(timeout=30)
        self.fast_disk()
        time.sleep(0.1)
        with open(report) as f:
            done = {x["name"] for x in json.load(f)["nodes"] if x["status"] == "succeeded"}
        self.assertEqual(len(done), 150)
        _, r = self.run_pipeline(open(pipe).read(), "-w", "2", "--resume")
        self.assertEqual({x["name"] for x in r["nodes"] if x["status"] == "cached"}, done)

    @unittest.skipUnless(os.environ.get("ZDAG_TEST_SLOWDISK"), "needs the slow-disk shim")
    def test_dependents_start_while_the_journal_is_written(self):
        """fdatasync is off the event loop: while the journal thread is still writing
        first_of_chain's record (each journal write and sync takes 1.5 s here), b's result is
        taken and c starts (c sees no record of first_of_chain in the file yet). Inline, the
        loop would have sat in the write, and c would have started after it. The run still
        ends with every record durable: --resume caches all three."""
        journal = self.path(".zdag", "pipe.yaml.journal")
        seen = self.path("seen")
        text = f"""
nodes:
  first_of_chain: {{cmd: 'true'}}
  b: {{cmd: 'sleep 0.2', deps: [first_of_chain]}}
  c: {{cmd: 'if grep -q first_of_chain {journal}; then echo late; else echo early; fi > {seen}',
       deps: [b]}}
"""
        self.write("pipe.yaml", text)
        self.zdag("check", self.path("pipe.yaml"), check=0)
        self.slow_disk(1500)
        self.run_pipeline(text, "-w", "1")
        self.fast_disk()
        with open(seen) as f:
            self.assertEqual(f.read().strip(), "early")
        _, r = self.run_pipeline(text, "-w", "1", "--resume")
        self.assertEqual({n["status"] for n in r["nodes"]}, {"cached"})

    def test_node_built_on_an_older_dependency_result_runs_again(self):
        """d runs again and its new record is durable; the coordinator is killed while a (which
        consumes d) runs. a's latest record is still the one built from the old d: --resume must
        not cache it (its inputs hash is not that of d's current result)."""
        marker, started, never = self.path("marker"), self.path("started"), self.path("never")
        dval = self.path("dval")
        text = f"""
nodes:
  d: {{cmd: 'v=$(date +%s%N); echo $v > {dval}.tmp; mv {dval}.tmp {dval}; echo $v'}}
  a: {{cmd: 'cat "$ZDAG_DEP_D"; if [ -e {marker} ]; then echo 1 > {started};
         while [ ! -e {never} ]; do sleep 0.02; done; fi', deps: [d]}}
"""
        self.run_pipeline(text, "-w", "2")
        with open(dval) as f:
            old = f.read().strip()
        os.unlink(dval)
        open(marker, "w").close()
        pipe = self.path("pipe.yaml")
        journal = self.path(".zdag", "pipe.yaml.journal")
        p = self.start("run", pipe, "-w", "2", "-q")
        try:
            self.wait_for_file(started)
            self.wait_for_file(dval)
            with open(dval) as f:
                new = f.read().strip()
            self.assertNotEqual(new, old)
            deadline = time.time() + 30
            while True:  # d's new record is in the journal file (synced)
                with open(journal, "rb") as f:
                    if (new + "\n").encode() in f.read():
                        break
                self.assertLess(time.time(), deadline, "d's record never reached the journal")
                time.sleep(0.02)
        finally:
            p.kill()
            p.communicate(timeout=30)
            open(never, "w").close()  # a's command, wherever it is, ends
        os.unlink(marker)
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "-w", "2", "--resume", "--results", results)
        n = nodes_by_name(r)
        self.assertEqual(n["d"]["status"], "cached")
        self.assertEqual(n["a"]["status"], "succeeded")
        with open(results) as f:
            res = json.load(f)
        self.assertEqual(res["d"], new + "\n")
        self.assertEqual(res["a"], new + "\n")
        # Now a's record is built from d's current result: both are cached.
        _, r = self.run_pipeline(text, "-w", "2", "--resume")
        self.assertEqual({n["status"] for n in r["nodes"]}, {"cached"})

    def test_old_large_inline_result_moves_into_the_store_once(self):
        """A version 1 journal (zdag 0.1) holds a result over 4 KiB inline. --resume moves it into
        the store and journals the moved result, so that the store keeps the file and the next
        resume neither loses nor copies it; a move that fails says why (not "out of memory")."""
        text = "nodes:\n  big: {cmd: 'head -c 10000 /dev/zero | tr \"\\\\0\" x'}\n"
        self.run_pipeline(text, "-w", "1")
        journal = self.path(".zdag", "pipe.yaml.journal")
        results = self.path(".zdag", "results")
        with open(journal, "rb") as f:
            data = f.read()
        hlen = struct.unpack_from("<I", data, 0)[0]
        header = bytearray(data[8:8 + hlen])
        magic = b"\xaczdag-journal"
        at = header.index(magic) + len(magic)
        self.assertIn(header[at], (2, 3))  # the current version
        header[at] = 1
        at = data.index(b"\xa3big\xc4\x20") + 6
        defhash = data[at:at + 32]
        big = b"x" * 10000
        node = (b"\x9a\x02\xa3big\xc4\x20" + defhash + b"\x00\xc5" + struct.pack(">H", len(big))
                + big + b"\xc2\xcb" + struct.pack(">d", 1.0) + b"\x01\xa1r\xcb"
                + struct.pack(">d", 1.7e9))

        def frame(payload):
            return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload

        def old_journal():
            with open(journal, "wb") as f:
                f.write(frame(bytes(header)) + frame(node))
            for name in os.listdir(results):
                os.unlink(os.path.join(results, name))

        stored = os.path.join(results, hashlib.sha256(big).hexdigest())
        out = self.path("results.json")
        if os.getuid() != 0:  # root writes into a read-only directory anyway
            old_journal()
            os.chmod(results, 0o500)
            try:
                p = self.zdag("run", self.path("pipe.yaml"), "--resume", check=3)
            finally:
                os.chmod(results, 0o700)
            self.assertIn("cannot move the result of node \"big\" into the result store", p.stderr)
            self.assertIn("Permission denied", p.stderr)
            self.assertNotIn("out of memory", p.stderr)
        old_journal()
        _, r = self.run_pipeline(text, "-w", "1", "--resume", "--results", out)
        self.assertEqual(nodes_by_name(r)["big"]["status"], "cached")
        self.assertTrue(os.path.exists(stored), "the moved result was removed at close")
        ino = os.stat(stored).st_ino
        with open(out) as f:
            self.assertEqual(json.load(f)["big"], big.decode())
        _, r = self.run_pipeline(text, "-w", "1", "--resume", "--results", out)
        self.assertEqual(nodes_by_name(r)["big"]["status"], "cached")
        self.assertEqual(os.stat(stored).st_ino, ino, "the result was copied again")
        with open(out) as f:
            self.assertEqual(json.load(f)["big"], big.decode())

    def test_duration_history_steers_critical_path(self):
        """a is estimated long but runs short; b the opposite. The first run trusts the
        estimates (a first); later runs trust the recorded medians (b first)."""
        text = """
nodes:
  a: {cmd: "sleep 0.01", estimate: 10}
  b: {cmd: "sleep 0.4", estimate: 0.001}
"""

        def first():
            _, r = self.run_pipeline(text, "-w", "1")
            return min(r["nodes"], key=lambda n: n["start_s"])["name"]

        self.assertEqual(first(), "a")
        self.assertEqual(first(), "b")


if __name__ == "__main__":
    unittest.main()
