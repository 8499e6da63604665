"""zdag run --slurm on a real Slurm cluster: worker jobs submitted when nodes wait for hosts,
joining under their Slurm node names, leaving when idle; a job killed with scancel loses
nothing; a job that cannot start is reported; a node too big for the jobs' size waits visibly;
at the end no worker job is left in the queue. Skips, saying why, only where no cluster answers
(slurmtest.py). Oracles: the report, `zdag status`, and files the nodes write."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402
from slurmtest import cluster_or_skip, jobs_named, main, slurm, wait_until  # noqa: E402
from test_remote import free_port  # noqa: E402

JOB_NAME = "zdag-worker"


class SlurmWorkersTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = cluster_or_skip()
        self.listen = f"tcp://0.0.0.0:{free_port()}"
        self.report = self.path("report.json")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=60)
        # The run's end cancelled what was queued; the workers that joined were told to go.
        wait_until(lambda: not jobs_named(JOB_NAME), "zdag worker jobs left in squeue")
        super().tearDown()

    def run_args(self, pipe, *args):
        return ["run", pipe, "--listen", self.listen, "--report", self.report, "-q", *args]

    def start_run(self, text, *args):
        pipe = self.write("pipe.yaml", text)
        p = self.start(*self.run_args(pipe, *args))
        self.procs.append(p)
        return p

    def finish(self, p, expect=0):
        out, err = p.communicate(timeout=240)
        self.assertEqual(p.returncode, expect, err)
        with open(self.report) as f:
            return json.load(f), err

    def assert_no_run_dir_left(self):
        left = [n for n in os.listdir(self.path(".zdag")) if n.startswith("slurm-")]
        self.assertEqual(left, [], "the run's keys were not removed")

    def test_workers_from_slurm_run_the_pipeline(self):
        text = "nodes:\n" + "".join(
            f"  n{i}: {{cmd: 'echo $SLURM_JOB_ID > job-$ZDAG_NODE; sleep 0.3'}}\n"
            for i in range(6))
        text += "  last: {cmd: 'true', deps: [n0, n1, n2, n3, n4, n5]}\n"
        p = self.start_run(text, "-w", "0", "--slurm", "", "--slurm-max-jobs", "2",
                           "--slurm-idle", "1", "--heartbeat", "0.2")
        report, err = self.finish(p)
        self.assertEqual(report["status"], "succeeded", err)
        jobs = {j["id"]: j for j in report["slurm"]["jobs"]}
        joined = {i for i, j in jobs.items() if j["joined_s"] is not None}
        self.assertTrue(joined, err)
        for n in report["nodes"]:
            self.assertEqual(n["status"], "succeeded")
            self.assertIn(n["host"], self.nodes)  # the Slurm node name, as the worker said
        for i in range(6):
            with open(self.path(f"job-n{i}")) as f:
                self.assertIn(f.read().strip(), joined)  # each ran in a worker job of the run
        for j in jobs.values():
            self.assertIn(j["state"], ("ended", "cancelled"), j)
            self.assertLessEqual(j["cpus"], 1)
            if j["joined_s"] is not None:
                self.assertIn(j["host"], self.nodes)
        self.assertLessEqual(len(jobs), 2 + len([j for j in jobs.values()
                                                 if j["state"] == "ended"]))
        self.assertIn("submitted Slurm worker job", err)
        self.assert_no_run_dir_left()

    def test_a_job_killed_with_scancel_loses_nothing(self):
        # `hold` keeps its worker job busy until the test has cancelled that job and seen it
        # leave the queue; then it may end, wherever it runs again. Every node notes its end.
        go, started = self.path("go"), self.path("started")
        done = self.path("done")
        note = f"echo $ZDAG_NODE >> {done}"
        text = f"""
nodes:
  hold: {{cmd: 'echo $SLURM_JOB_ID >> {started}; while [ ! -f {go} ]; do sleep 0.05; done; {note}'}}
  a: {{cmd: '{note}'}}
  b: {{cmd: '{note}', deps: [a]}}
  after: {{cmd: '{note}', deps: [hold, b]}}
"""
        p = self.start_run(text, "-w", "0", "--slurm", "", "--slurm-max-jobs", "2",
                           "--slurm-idle", "30", "--heartbeat", "0.2")
        self.wait_for_file(started, timeout=120)
        with open(started) as f:
            victim = f.read().split()[0]
        slurm("scancel", victim)
        wait_until(lambda: victim not in {j for j, s in jobs_named(JOB_NAME)},
                   f"job {victim} still in the queue after scancel", timeout=120)
        with open(go, "w"):
            pass
        report, err = self.finish(p)
        self.assertEqual(report["status"], "succeeded", err)
        with open(done) as f:
            ends = sorted(f.read().split())
        self.assertEqual(ends, ["a", "after", "b", "hold"])  # every node done exactly once
        n = nodes_by_name(report)
        self.assertTrue(all(x["status"] == "succeeded" for x in n.values()))
        self.assertIn("lost", [h["outcome"] for h in n["hold"]["history"]])
        self.assertEqual(n["hold"]["history"][-1]["outcome"], "succeeded")
        with open(started) as f:
            self.assertNotEqual(f.read().split()[-1], victim)  # it ran again in another job
        jobs = {j["id"]: j for j in report["slurm"]["jobs"]}
        self.assertEqual(jobs[victim]["why"], "its worker was stopped (scancel, a time limit)")
        self.assertIn("left the run (stopped: what it ran runs elsewhere)", err)
        self.assertTrue(all(x["host"] in self.nodes for x in n.values()))

    def test_a_job_that_cannot_start_is_reported(self):
        # A local executor runs `wait` until the run's status shows the failed job; `other`
        # waits for it meanwhile, so a worker job is asked for, and it cannot start (Slurm
        # cannot open its output file: JobLaunchFailure).
        state = self.path(".zdag")
        text = f"""
nodes:
  wait: {{cmd: 'i=0; until {ZDAG} status --json --state-dir {state} | grep -q "\\"state\\": \\"failed\\""; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.1; done'}}
  other: {{cmd: 'true'}}
"""
        # (--cpus 1: `wait` takes the local host's CPU unit, `other` does not fit beside it)
        p = self.start_run(text, "-w", "1", "--cpus", "1", "--slurm",
                           "--output=/nonexistent-zdag-dir/job.out", "--slurm-max-jobs", "1")
        report, err = self.finish(p)
        self.assertEqual(report["status"], "succeeded", err)  # the local executor did it all
        failed = [j for j in report["slurm"]["jobs"] if j["state"] == "failed"]
        self.assertTrue(failed, report["slurm"])
        self.assertEqual(failed[0]["error"],
                         "it ended before its worker joined: FAILED (JobLaunchFailure)")
        self.assertIn(f"Slurm worker job {failed[0]['id']} did not start: it ended before its "
                      "worker joined: FAILED (JobLaunchFailure)", err)

    def test_no_worker_at_all_gives_up(self):
        p = self.start_run("nodes:\n  a: {cmd: 'true'}\n", "-w", "0", "--slurm",
                           "--partition=no-such-partition")
        report, err = self.finish(p, expect=3)
        self.assertEqual(report["status"], "error")
        self.assertIn("no Slurm worker could be started (3 jobs failed: sbatch: ", report["error"])
        jobs = report["slurm"]["jobs"]
        self.assertEqual([j["state"] for j in jobs], ["failed"] * 3)
        self.assertIn("invalid partition", jobs[0]["error"].lower())
        self.assertIn("the run cannot go on", err)

    def test_a_node_no_worker_fits_gets_a_job_of_its_size(self):
        text = """
nodes:
  small: {cmd: 'true'}
  big: {cmd: 'echo $SLURM_JOB_ID $SLURM_CPUS_ON_NODE > big-ran', cpus: 2, deps: [small]}
"""
        p = self.start_run(text, "-w", "0", "--slurm", "", "--slurm-idle", "0.5")
        report, err = self.finish(p)
        self.assertEqual(report["status"], "succeeded", err)
        with open(self.path("big-ran")) as f:
            job, cpus = f.read().split()
        self.assertEqual(cpus, "2")
        jobs = {j["id"]: j for j in report["slurm"]["jobs"]}
        self.assertEqual(jobs[job]["cpus"], 2)
        self.assertEqual(jobs[job]["host"], nodes_by_name(report)["big"]["host"])

    def test_a_node_bigger_than_the_jobs_size_waits_visibly(self):
        text = "nodes:\n  big: {cmd: 'true', cpus: 2}\n"
        p = self.start_run(text, "-w", "0", "--slurm", "-c 1")
        state = self.path(".zdag")
        why = {}

        def says_why():
            s = self.zdag("status", "--json", "--state-dir", state)
            if s.returncode != 0:
                return False
            st = json.loads(s.stdout)
            why.update({n["name"]: n["why"] for n in st["waiting"]})
            return "no Slurm worker job will fit it" in why.get("big", "")

        wait_until(says_why, "big's status never said why it waits", timeout=60)
        self.assertIn("--slurm sets -c 1", why["big"])
        p.send_signal(signal.SIGTERM)
        report, err = self.finish(p, expect=143)
        self.assertIn('node "big" needs 2 cpus and 0 mem_mb, more than any host offers, and no '
                      'Slurm worker job will fit it (--slurm sets -c 1)', err)
        self.assertEqual(report["slurm"]["jobs"], [])  # none was asked for in vain


if __name__ == "__main__":
    main()
