"""Leases and limits, checked on the report's intervals: sequential nodes run alone, pools cap
their nodes, CPU-bound nodes never exceed the host's CPU units while IO-bound ones flow."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name, overlaps  # noqa: E402


def max_overlap(nodes):
    """The largest number of the given report nodes running at one instant."""
    events = sorted([(n["start_s"], 1) for n in nodes] + [(n["end_s"], -1) for n in nodes],
                    key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


class LimitsTest(ZdagTestCase):
    def test_tawazi_sequential(self):
        """100 nodes each hold a marker file for 10 ms; the sequential node fails if it sees
        one. At -j 10 it must pass every time, and no interval overlaps its own."""
        markers = self.path("markers")
        os.mkdir(markers)
        lines = ["nodes:"]
        for i in range(100):
            lines.append(f"  n{i}: {{cmd: 'touch {markers}/n{i}; sleep 0.01; rm {markers}/n{i}',"
                         " cpus: 0}")
        lines.append(f"  seq: {{cmd: '[ -z \"$(ls -A {markers})\" ]', sequential: true,"
                     " priority: 5}")
        lines.append(f"  seq2: {{cmd: '[ -z \"$(ls -A {markers})\" ]', sequential: true}}")
        _, r = self.run_pipeline("\n".join(lines) + "\n", "-j", "10", "-w", "10")
        n = nodes_by_name(r)
        self.assertEqual(r["status"], "succeeded")
        for s in ("seq", "seq2"):
            for other in r["nodes"]:
                if other["name"] != s:
                    self.assertFalse(overlaps(n[s], other), f"{other['name']} overlaps {s}")
        self.assertGreater(max_overlap(r["nodes"]), 1)  # the others did run in parallel

    def test_sequential_waits_for_running_nodes_and_is_not_starved(self):
        """A high-priority sequential node becomes ready while others run: it starts when
        they end, before any lower-priority node that became ready meanwhile."""
        text = """
nodes:
  long: {cmd: "sleep 0.6", cpus: 0}
  trigger: {cmd: "sleep 0.1", cpus: 0}
  alone: {cmd: "sleep 0.2", sequential: true, priority: 10, deps: [trigger]}
  later1: {cmd: "true", cpus: 0, deps: [trigger]}
  later2: {cmd: "true", cpus: 0, deps: [trigger]}
"""
        _, r = self.run_pipeline(text, "-w", "4")
        n = nodes_by_name(r)
        self.assertGreaterEqual(n["alone"]["start_s"], n["long"]["end_s"])
        for late in ("later1", "later2"):
            self.assertGreaterEqual(n[late]["start_s"], n["alone"]["end_s"])

    def test_pool_of_two(self):
        text = "pools: {db: 2}\nnodes:\n" + "".join(
            f"  p{i}: {{cmd: 'sleep 0.2', pool: db, cpus: 0}}\n" for i in range(8)) + \
            "  free1: {cmd: 'sleep 0.2', cpus: 0}\n  free2: {cmd: 'sleep 0.2', cpus: 0}\n"
        _, r = self.run_pipeline(text, "-w", "4")
        n = nodes_by_name(r)
        pooled = [n[f"p{i}"] for i in range(8)]
        self.assertEqual(max_overlap(pooled), 2)
        # the rest of the run still flows beside the pool
        self.assertTrue(any(overlaps(n["free1"], p) for p in pooled))
        self.assertTrue(any(overlaps(n["free2"], p) for p in pooled))

    def test_cpu_bound_held_back_io_bound_flows(self):
        """cpus=2 locally, three `cpus: 1` busy nodes and four `cpus: 0` sleepers at -w 6."""
        text = "nodes:\n" + "".join(
            f"  cpu{i}: {{cmd: 'sleep 0.4', cpus: 1}}\n" for i in range(3)) + "".join(
            f"  io{i}: {{cmd: 'sleep 0.4', cpus: 0}}\n" for i in range(4))
        _, r = self.run_pipeline(text, "-w", "6", "--cpus", "2")
        n = nodes_by_name(r)
        cpu = [n[f"cpu{i}"] for i in range(3)]
        io = [n[f"io{i}"] for i in range(4)]
        self.assertEqual(max_overlap(cpu), 2)
        for node in io:
            self.assertTrue(any(overlaps(node, c) for c in cpu), node["name"])

    def test_two_cpu_node_runs_without_other_cpu_work(self):
        text = """
nodes:
  big: {cmd: "sleep 0.5", cpus: 2, priority: 5}
  small1: {cmd: "sleep 0.3", cpus: 1}
  small2: {cmd: "sleep 0.3", cpus: 1}
  io1: {cmd: "sleep 0.4", cpus: 0}
  io2: {cmd: "sleep 0.4", cpus: 0}
"""
        _, r = self.run_pipeline(text, "-w", "5", "--cpus", "2")
        n = nodes_by_name(r)
        for s in ("small1", "small2"):
            self.assertFalse(overlaps(n["big"], n[s]), s)
        self.assertTrue(overlaps(n["big"], n["io1"]) or overlaps(n["big"], n["io2"]))

    def test_blocked_big_node_is_not_starved_by_small_ones(self):
        """A 2-cpu node waiting behind running 1-cpu nodes gets the CPUs as they free up, before
        lower-priority 1-cpu nodes that are ready too."""
        text = "nodes:\n  first: {cmd: 'sleep 0.3', cpus: 1, priority: 9}\n" \
               "  big: {cmd: 'sleep 0.2', cpus: 2, priority: 5}\n" + "".join(
                   f"  s{i}: {{cmd: 'sleep 0.2', cpus: 1}}\n" for i in range(6))
        _, r = self.run_pipeline(text, "-w", "4", "--cpus", "2")
        n = nodes_by_name(r)
        for i in range(6):
            s = n[f"s{i}"]
            self.assertFalse(overlaps(n["big"], s))
            # no small node starts between the first node's end and the big node's start
            self.assertFalse(n["first"]["end_s"] <= s["start_s"] < n["big"]["start_s"])

    def test_node_bigger_than_any_host_is_an_error_before_the_run(self):
        text = "nodes:\n  huge: {cmd: 'true', cpus: 64}\n  gpu: {cmd: 'true', resources: {gpu: 1}, cpus: 0}\n"
        pipe = self.write("pipe.yaml", text)
        p = self.zdag("run", pipe, "--cpus", "2", check=2)
        self.assertIn('node "huge" needs 64 cpus; the most any host offers is 2', p.stderr)
        self.assertIn('node "gpu" needs 1 gpu; the most any host offers is 0', p.stderr)
        self.assertFalse(os.path.exists(self.path(".zdag", "logs")))


if __name__ == "__main__":
    unittest.main()
