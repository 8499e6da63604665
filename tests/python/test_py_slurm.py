"""@dag(slurm=...) on a real Slurm cluster: with no local executor (workers=0) the script's
own functions run in Slurm worker jobs, each job running this script again with this Python
(it finds ZDAG_WORKER_* set, and serves); results come back; at the end no job is left in the
queue, no process and no STATE_DIR/slurm-PID behind. Skips, saying why, only where no cluster
answers (slurmtest.py). Oracles: what the nodes return (their job id, host, pid), the report."""
import glob
import json
import os
import sys

from zdagpytest import PyTestCase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from slurmtest import cluster_or_skip, jobs_named, main, wait_until  # noqa: E402
from zdagtest import free_port  # noqa: E402

SCRIPT = """
import json, os, socket, sys
from zdag import dag, xn

@xn
def where(i):
    return os.environ.get("SLURM_JOB_ID"), os.environ.get("ZDAG_WORKER_HOST_ID"), os.getpid(), i * i

@xn
def total(parts):
    return sum(p[3] for p in parts)

@dag(workers=0, slurm="", listen=sys.argv[1], slurm_max_jobs=2, slurm_idle=5,
     report="report.json", state_dir="state")
def pipeline(n):
    parts = [where(i) for i in range(n)]
    return {"parts": parts, "total": total(parts)}

print(json.dumps({"value": pipeline(int(sys.argv[2])), "pid": os.getpid()}))
"""


class SlurmScriptTest(PyTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = cluster_or_skip()

    def tearDown(self):
        wait_until(lambda: not jobs_named("zdag-worker"), "zdag worker jobs left in squeue")
        super().tearDown()

    def test_a_scripts_functions_run_in_its_slurm_worker_jobs(self):
        r = self.script("slurm_dag.py", SCRIPT, f"tcp://0.0.0.0:{free_port()}", "5",
                        timeout=240)
        out = json.loads(r.stdout)
        value = out["value"]
        self.assertEqual(value["total"], sum(i * i for i in range(5)))
        with open(self.path("report.json")) as f:
            report = json.load(f)
        joined = {j["id"] for j in report["slurm"]["jobs"] if j["joined_s"] is not None}
        for job, host, pid, _ in value["parts"]:
            self.assertIn(job, joined)  # it ran in a worker job of this run
            self.assertIn(host, self.nodes)  # ... which said its Slurm node
            self.assertNotEqual(pid, out["pid"])
        for n in report["nodes"]:
            self.assertIn(n["host"], self.nodes)
        self.assertEqual(glob.glob(self.path("state", "slurm-*")), [])
        for job in joined:  # each job ran the script as a worker, which joined the run
            with open(self.path("state", "logs", f"slurm-{job}.out")) as f:
                self.assertIn("joined tcp://", f.read())

    def test_slurm_without_listen_is_refused(self):
        r = self.script("no_listen.py", "from zdag import dag, xn\n"
                        "@xn\ndef one():\n    return 1\n"
                        "@dag(slurm='-p debug')\ndef p():\n    return one()\n"
                        "try:\n    p()\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
        self.assertIn("slurm (automatic workers) needs listen", r.stdout)


if __name__ == "__main__":
    main()
