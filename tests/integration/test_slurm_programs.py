"""Automatic workers from a libzdag program (zdag_options.slurm) on a real Slurm cluster:
examples/hello.c runs with no local executor (local_workers < 0), each worker job runs the
program itself as its worker (zdag_options.slurm_worker, the job's ZDAG_WORKER_* read by
zdag_worker_options_from_env()), so its C functions run in the jobs; at the end no job is
left in the queue, no process and no STATE_DIR/slurm-PID behind. Skips, saying why, only where
no cluster answers (slurmtest.py). Oracles: the program's output, its report, the jobs' logs."""
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, free_port, nodes_by_name  # noqa: E402
from slurmtest import cluster_or_skip, jobs_named, main, wait_until  # noqa: E402

HELLO = os.environ.get("ZDAG_HELLO") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "examples", "zdag_hello")
JOB_NAME = "zdag-worker"


class SlurmProgramTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = cluster_or_skip()
        self.report = self.path("report.json")

    def tearDown(self):
        wait_until(lambda: not jobs_named(JOB_NAME), "zdag worker jobs left in squeue")
        super().tearDown()

    def hello(self, *args):
        return subprocess.run([HELLO, *args], cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=240)

    def test_a_programs_functions_run_in_its_slurm_worker_jobs(self):
        p = self.hello("--slurm", "", "--listen", f"tcp://0.0.0.0:{free_port()}", "--report",
                       self.report)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "sum = 42\n")  # answer() twice, add(): the program's own
        with open(self.report) as f:
            report = json.load(f)
        self.assertEqual(report["status"], "succeeded", p.stderr)
        jobs = {j["id"]: j for j in report["slurm"]["jobs"]}
        joined = {i for i, j in jobs.items() if j["joined_s"] is not None}
        self.assertTrue(joined, p.stderr)
        for name, n in nodes_by_name(report).items():
            self.assertEqual(n["status"], "succeeded", name)
            self.assertIn(n["host"], self.nodes)  # the Slurm node name the job's worker gave
        for j in jobs.values():
            self.assertIn(j["state"], ("ended", "cancelled"), j)
        for i in joined:
            self.assertIn(f"(allocation {i})", p.stderr)  # each joined as its job
        # The jobs ran this program, not `zdag worker`: its log says it joined, and the job
        # script names it.
        for i in joined:
            with open(self.path(".zdag", "logs", f"slurm-{i}.out")) as f:
                self.assertIn("joined tcp://", f.read())
        self.assertEqual(glob.glob(self.path(".zdag", "slurm-*")), [],
                         "the run's keys and job script were not removed")

    def test_slurm_without_listen_is_refused(self):
        p = self.hello("--slurm", "-p debug")
        self.assertEqual(p.returncode, 1)
        self.assertIn("zdag: slurm (automatic workers) needs listen", p.stderr)
        self.assertFalse(os.path.exists(self.path(".zdag")))


if __name__ == "__main__":
    main()
