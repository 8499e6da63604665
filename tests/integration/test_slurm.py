"""deploy/slurm/zdag.sbatch on a real Slurm cluster: one allocation, the coordinator on its first
node, a worker on every node under its Slurm node name, the job's own keys in a private
directory that no command line gives away. Skips, saying why, only where no cluster answers
(slurmtest.py)."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402
from slurmtest import cluster_or_skip, job_nodes, main  # noqa: E402

TEMPLATE = os.path.join(os.environ.get("ZDAG_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..")), "deploy", "slurm", "zdag.sbatch")


class SbatchTemplateTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = cluster_or_skip()

    def sbatch(self, *args):
        """sbatch --wait of the template; returns (exit status, job id, the job's output)."""
        out = self.path("job-%j.out")
        p = subprocess.run(["sbatch", "--wait", "--parsable", "-N", "1", "-c", "2",
                            f"--output={out}", TEMPLATE, *args], cwd=self.dir, env=self.env,
                           capture_output=True, text=True, timeout=180)
        job = p.stdout.strip().split(";")[0]
        self.assertTrue(job.isdigit(), f"sbatch said: {p.stdout} {p.stderr}")
        with open(out.replace("%j", job)) as f:
            return p.returncode, job, f.read()

    def test_a_run_over_one_allocation(self):
        # Every node writes where it ran; the last one what the job's processes show of
        # themselves and the keys, to check that no secret is on a command line.
        text = "nodes:\n" + "".join(
            f"  n{i}: {{cmd: 'hostname -s > ran-$ZDAG_NODE; sleep 0.2'}}\n" for i in range(6))
        text += ("  look: {cmd: 'stat -c %a $ZDAG_JOB_DIR > keydir-mode; "
                 "cat $ZDAG_JOB_DIR/worker.key $ZDAG_JOB_DIR/coord.key > keys; "
                 "ps -eo args > ps.txt', deps: [n0, n1, n2, n3, n4, n5]}\n")
        self.write("pipe.yaml", text)
        rc, job, log = self.sbatch("pipe.yaml", "--report", self.path("report.json"), "-q")
        self.assertEqual(rc, 0, log)
        with open(self.path("report.json")) as f:
            report = json.load(f)
        self.assertEqual(report["status"], "succeeded", log)
        allocated = job_nodes(job)
        by_name = nodes_by_name(report)
        for name, n in by_name.items():
            self.assertEqual(n["status"], "succeeded", name)
            self.assertIn(n["host"], allocated, name)  # the worker's host is the Slurm node name
        for i in range(6):
            with open(self.path(f"ran-n{i}")) as f:
                self.assertEqual(f.read().strip(), by_name[f"n{i}"]["host"])
        self.assertIn(f"worker 1 joined from host {allocated[0]} (allocation {job})", log)
        # The keys were the job's own, in a private directory, removed at the end.
        with open(self.path("keydir-mode")) as f:
            self.assertEqual(f.read().strip(), "700")
        self.assertFalse(os.path.exists(self.path(f".zdag-job-{job}")))
        with open(self.path("keys")) as f:
            secrets = [line.split()[1] for line in f if line.startswith("secret:")]
        self.assertEqual(len(secrets), 2)
        with open(self.path("ps.txt")) as f:
            ps = f.read()
        self.assertIn("--curve-secret", ps)  # the workers were there to be seen ...
        for s in secrets:
            self.assertNotIn(s, ps)  # ... and their keys were not

    def test_a_failed_node_fails_the_job(self):
        self.write("pipe.yaml", "nodes:\n  bad: {cmd: 'exit 3'}\n")
        rc, job, log = self.sbatch("pipe.yaml", "-q")
        self.assertEqual(rc, 1, log)  # zdag run's exit status is the job's
        self.assertFalse(os.path.exists(self.path(f".zdag-job-{job}")))


if __name__ == "__main__":
    main()
