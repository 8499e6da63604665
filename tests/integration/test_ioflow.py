"""IO-bound nodes flow: `cpus: 0` nodes are not held by the executors forked for the cores
(more are started on demand, --io-slots), while CPU units keep CPU-bound nodes to the cores."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402
from test_limits import max_overlap  # noqa: E402


class IoFlowTest(ZdagTestCase):
    def pipeline(self, n_io, n_cpu, together):
        """IO nodes leave a mark and wait until `together` marks exist (a barrier that only
        passes when that many IO nodes run at once; it gives up after 60 s and fails). CPU
        nodes count the CPU marks present while they run and fail above 2."""
        io, cpu = self.path("io"), self.path("cpu")
        os.mkdir(io)
        os.mkdir(cpu)
        lines = ["nodes:"]
        for i in range(n_io):
            lines.append(
                f"  io{i}: {{cpus: 0, cmd: 'touch {io}/{i}; t=0; while [ $(ls {io} | wc -l) -lt "
                f"{together} ]; do t=$((t+1)); [ $t -gt 3000 ] && exit 7; sleep 0.02; done'}}")
        for i in range(n_cpu):
            lines.append(
                f"  cpu{i}: {{cmd: 'touch {cpu}/{i}; sleep 0.05; a=$(ls {cpu} | wc -l); "
                f"sleep 0.05; b=$(ls {cpu} | wc -l); rm {cpu}/{i}; [ $a -le 2 ] && [ $b -le 2 ]'}}")
        return "\n".join(lines) + "\n"

    def test_io_nodes_flow_beside_cpu_bound_ones(self):
        """200 IO nodes and 20 CPU-bound ones on 2 CPU units: 8 IO nodes run at once (their
        barrier passes), never more than 2 CPU-bound ones (by their own count, and by the
        report's intervals, which contain each attempt's real run)."""
        _, r = self.run_pipeline(self.pipeline(200, 20, 8), "--cpus", "2", "-w", "2")
        self.assertEqual(r["status"], "succeeded")
        cpu = [n for n in r["nodes"] if n["name"].startswith("cpu")]
        self.assertLessEqual(max_overlap(cpu), 2)
        io = [n for n in r["nodes"] if n["name"].startswith("io")]
        self.assertGreaterEqual(max_overlap(io), 8)

    def test_io_slots_zero_holds_io_nodes_to_the_executors(self):
        """--io-slots 0: the two executors are all there is: 3 IO nodes can never meet (the
        barrier gives up, exit 7) — so the barrier above proves the extra executors."""
        text = self.pipeline(3, 0, 3).replace("$t -gt 3000", "$t -gt 25")
        p, r = self.run_pipeline(text, "--cpus", "2", "-w", "2", "--io-slots", "0", "-k",
                                 check=1)
        self.assertGreaterEqual(sum(n["status"] == "failed" for n in r["nodes"]), 1)
        self.assertLessEqual(max_overlap(r["nodes"]), 2)


if __name__ == "__main__":
    unittest.main()
