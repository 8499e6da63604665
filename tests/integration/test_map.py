"""zdag map: GNU parallel's one-liner. Replacement strings and quoting, argument sources, output
printed whole per job (in completion or argument order), the joblog, and parallel's exit status,
each checked against GNU parallel itself on the same arguments where it is installed."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402

PARALLEL = shutil.which("parallel")
# Arguments a shell would mangle if they were pasted in unquoted.
TRICKY = ["plain", "two words", "it's", 'say "hi"', "$HOME", "a;b", "*", "dir/sub/file.tar.gz",
          "noext", ".hidden", "-n"]


class MapTest(ZdagTestCase):
    def map(self, *args, check=None, stdin=None):
        p = subprocess.run([os.environ.get("ZDAG") or self.zdag_path(), "map", *args],
                           cwd=self.dir, env=self.env, input=stdin, capture_output=True,
                           text=True, timeout=120)
        if check is not None and p.returncode != check:
            self.fail(f"zdag map {args} exited {p.returncode}, expected {check}\n"
                      f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def zdag_path(self):
        from zdagtest import ZDAG
        return ZDAG

    def parallel(self, *args, stdin=None):
        return subprocess.run([PARALLEL, "--will-cite", *args], cwd=self.dir, env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=120)

    def test_replacement_strings_and_quoting(self):
        cmd = "printf '%s|%s|%s|%s|%s|%s\\n' {} {.} {/} {//} {/.} {#}"
        got = self.map("--keep-order", "-j", "2", cmd, ":::", *TRICKY, check=0).stdout
        lines = got.splitlines()
        self.assertEqual(len(lines), len(TRICKY))
        self.assertEqual(lines[1], "two words|two words|two words|.|two words|2")
        self.assertEqual(lines[7], "dir/sub/file.tar.gz|dir/sub/file.tar|file.tar.gz|dir/sub|"
                                   "file.tar|8")
        self.assertEqual(lines[4], "$HOME|$HOME|$HOME|.|$HOME|5")
        if PARALLEL:
            self.assertEqual(got, self.parallel("-k", "-j", "2", cmd, ":::", *TRICKY).stdout)

    def test_no_replacement_string_appends_the_argument(self):
        got = self.map("--keep-order", "echo", "x", ":::", "a b", "c", check=0).stdout
        self.assertEqual(got, "x a b\nx c\n")
        if PARALLEL:
            self.assertEqual(got, self.parallel("-k", "echo", "x", ":::", "a b", "c").stdout)

    def test_options_end_at_the_command(self):
        """The command's own -h and -n are its own, not map's --help or anything else."""
        self.write("hay", "needle\n")
        got = self.map("-j", "1", "grep", "-h", "-n", "needle", ":::", "hay", check=0).stdout
        self.assertEqual(got, "1:needle\n")

    def test_argument_sources(self):
        self.write("args.txt", "one\ntwo words\n\nthree\n")
        by_file = self.map("--keep-order", "echo", "[{}]", "::::", "args.txt", check=0).stdout
        self.assertEqual(by_file, "[one]\n[two words]\n[]\n[three]\n")
        by_stdin = self.map("--keep-order", "echo", "[{}]", stdin="one\ntwo words\n\nthree\n",
                            check=0).stdout
        self.assertEqual(by_stdin, by_file)
        if PARALLEL:
            self.assertEqual(by_file, self.parallel("-k", "echo", "[{}]", "::::",
                                                    "args.txt").stdout)

    def test_each_output_is_printed_whole(self):
        """Two jobs at once, each printing three lines with pauses between: the lines of one
        job are never split by another's."""
        cmd = "echo {}-1; sleep 0.02; echo {}-2; sleep 0.02; echo {}-3"
        lines = self.map("-j", "2", cmd, ":::", *"abcdef", check=0).stdout.splitlines()
        self.assertEqual(sorted(lines), sorted(f"{x}-{i}" for x in "abcdef" for i in (1, 2, 3)))
        for k in range(0, len(lines), 3):
            job = lines[k].split("-")[0]
            self.assertEqual(lines[k:k + 3], [f"{job}-1", f"{job}-2", f"{job}-3"], lines)

    def test_completion_order_and_keep_order(self):
        """Job 1 waits for a file the test makes only once zdag map has printed job 2's line,
        so job 2 has ended first: the order comes from zdag's own output, not from timing."""
        cmd = "if [ {} = 1 ]; then while [ ! -e mark ]; do sleep 0.01; done; fi; echo {}"
        p = self.background("map", "-j", "2", cmd, ":::", "1", "2")
        first = p.stdout.readline()
        open(self.path("mark"), "w").close()
        rest, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(first + rest, "2\n1\n")
        os.unlink(self.path("mark"))
        # --keep-order: job 1's line first, though job 2 ends first.
        cmd = ("if [ {} = 1 ]; then while [ ! -e mark ]; do sleep 0.01; done; "
               "else touch mark; fi; echo {}")
        self.assertEqual(self.map("-j", "2", "--keep-order", cmd, ":::", "1", "2",
                                  check=0).stdout, "1\n2\n")

    def test_exit_status_counts_failed_jobs(self):
        for args, want in ((["0", "0"], 0), (["0", "1", "2", "0", "3"], 3)):
            got = self.map("-j", "2", "exit {}", ":::", *args).returncode
            self.assertEqual(got, want, args)
            if PARALLEL:
                self.assertEqual(self.parallel("-j", "2", "exit {}", ":::", *args).returncode,
                                 want)
        many = [str(i) for i in range(1, 106)]
        self.assertEqual(self.map("exit 1", ":::", *many).returncode, 101)
        if PARALLEL:
            self.assertEqual(self.parallel("exit 1", ":::", *many).returncode, 101)

    def test_joblog(self):
        self.map("-j", "2", "--joblog", "jobs.log", "printf %s {}; exit {}", ":::", "0", "3",
                 "0", check=1)
        with open(self.path("jobs.log")) as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        self.assertEqual(rows[0], ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive",
                                   "Exitval", "Signal", "Command"])
        by_seq = {int(r[0]): r for r in rows[1:]}
        self.assertEqual(sorted(by_seq), [1, 2, 3])
        for seq, arg in ((1, "0"), (2, "3"), (3, "0")):
            r = by_seq[seq]
            self.assertEqual(len(r), 9, r)
            float(r[2]), float(r[3])
            self.assertEqual((r[6], r[7], r[8]), (arg, "0", f"printf %s {arg}; exit {arg}"))
        self.assertEqual(by_seq[1][5], "1")  # the bytes of a succeeded job's output

    def test_killed_job_in_the_joblog(self):
        self.map("--joblog", "jobs.log", "kill -9 $$", ":::", "x", check=1)
        with open(self.path("jobs.log")) as f:
            row = f.read().splitlines()[1].split("\t")
        self.assertEqual((row[6], row[7]), ("0", "9"))

    def test_mistakes(self):
        p = self.map("echo", stdin="")  # no ::: and no line on stdin: no job, as parallel
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        p = self.map(":::", "a")
        self.assertEqual(p.returncode, 255)
        self.assertIn("usage: zdag map", p.stderr)
        p = self.map("echo", ":::", "a", ":::", "b")
        self.assertEqual(p.returncode, 255)
        self.assertIn("one argument source only", p.stderr)
        p = self.map("echo", "::::", "missing.txt")
        self.assertEqual(p.returncode, 255)
        self.assertIn("cannot read missing.txt", p.stderr)
        p = self.map("--jobs", "zero", "echo", ":::", "a")
        self.assertEqual(p.returncode, 255)
        self.assertIn("--jobs takes a whole number", p.stderr)

    def test_run_options_apply(self):
        """--report names each job; --resume runs only the jobs that did not succeed."""
        self.map("--report", "r.json", "echo {} >> ran; test {} != b", ":::", "a", "b", "c",
                 check=1)
        import json
        with open(self.path("r.json")) as f:
            nodes = {n["name"]: n["status"] for n in json.load(f)["nodes"]}
        self.assertEqual(nodes, {"job1": "succeeded", "job2": "failed", "job3": "succeeded"})
        self.map("--resume", "echo {} >> ran; test {} != b", ":::", "a", "b", "c", check=1)
        with open(self.path("ran")) as f:
            ran = f.read().split()
        self.assertEqual(sorted(ran[:3]), ["a", "b", "c"])
        self.assertEqual(ran[3:], ["b"])

    def test_retries_and_timeout(self):
        self.map("--retries", "2", "echo {} >> tries; exit 1", ":::", "x", check=1)
        with open(self.path("tries")) as f:
            self.assertEqual(f.read(), "x\nx\nx\n")
        self.map("--timeout", "0.2", "--report", "r.json", "sleep {}", ":::", "60", check=1)
        import json
        with open(self.path("r.json")) as f:
            node = json.load(f)["nodes"][0]
        self.assertEqual((node["status"], node["error"]), ("failed", "timed out after 0.2 s"))
        p = self.map("--retries", "x", "echo", ":::", "a")
        self.assertEqual(p.returncode, 255)
        self.assertIn("--retries takes a whole number", p.stderr)

    def test_jobs_on_a_remote_worker(self):
        """-w 0 --listen: every job runs on a worker that joined (its host id in the joblog),
        and the outputs come back to map's stdout."""
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            endpoint = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        from zdagtest import ZDAG
        coord = subprocess.Popen([ZDAG, "map", "-w", "0", "--listen", endpoint, "--insecure",
                                  "--keep-order", "--joblog", "jobs.log", "echo {}", ":::", "a",
                                  "b", "c"], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        worker = subprocess.Popen([ZDAG, "worker", "--connect", endpoint, "--insecure",
                                   "--host-id", "far", "--slots", "2"], cwd=self.dir,
                                  env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        out, err = coord.communicate(timeout=120)
        _, werr = worker.communicate(timeout=60)  # it leaves when the run ends
        self.assertEqual((coord.returncode, out), (0, "a\nb\nc\n"), err)
        self.assertEqual(worker.returncode, 0, werr)
        with open(self.path("jobs.log")) as f:
            hosts = {line.split("\t")[1] for line in f.read().splitlines()[1:]}
        self.assertEqual(hosts, {"far"})


if __name__ == "__main__":
    unittest.main()
