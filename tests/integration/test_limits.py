"""Leases and limits, checked on ticks that the nodes' own commands write (zdagtest.ticked), not
on the report's wall-clock intervals: sequential nodes run alone, pools cap their nodes, CPU-bound
nodes never exceed the host's CPU units while IO-bound ones flow."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import Ticks, ZdagTestCase, ticked  # noqa: E402


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
    """Each node's command writes ticks (zdagtest.ticked): the assertions read the order of
    those lines, not the report's wall-clock intervals."""

    def setUp(self):
        super().setUp()
        self.ticks = self.path("ticks")

    def node(self, name, body, extra=""):
        return f"  {name}: {{cmd: '{ticked(self.ticks, name, body)}'{extra}}}"

    def test_tawazi_sequential(self):
        """100 nodes each hold a marker file for 10 ms; the sequential node fails if it sees
        one. At -j 10 it must pass every time, and nothing runs while it does."""
        markers = self.path("markers")
        os.mkdir(markers)
        lines = ["nodes:"]
        for i in range(100):
            lines.append(self.node(f"n{i}", f"touch {markers}/n{i}; sleep 0.01; rm {markers}/n{i}",
                                   ", cpus: 0"))
        lines.append(self.node("seq", f'[ -z "$(ls -A {markers})" ]',
                               ", sequential: true, priority: 5"))
        lines.append(self.node("seq2", f'[ -z "$(ls -A {markers})" ]', ", sequential: true"))
        _, r = self.run_pipeline("\n".join(lines) + "\n", "-j", "10", "-w", "10")
        self.assertEqual(r["status"], "succeeded")
        t = Ticks(self.ticks)
        self.assertEqual(len(t.span), 102)
        for s in ("seq", "seq2"):
            self.assertTrue(t.alone(s), f"another node ran while {s} did")
        self.assertGreater(t.peak(t.span), 1)  # the others did run in parallel

    def test_sequential_waits_for_running_nodes_and_is_not_starved(self):
        """A high-priority sequential node becomes ready while others run: it starts when
        they end, before any lower-priority node that became ready meanwhile."""
        text = "\n".join([
            "nodes:",
            self.node("long", "sleep 0.6", ", cpus: 0"),
            self.node("trigger", "sleep 0.1", ", cpus: 0"),
            self.node("alone", "sleep 0.2", ", sequential: true, priority: 10, deps: [trigger]"),
            self.node("later1", "true", ", cpus: 0, deps: [trigger]"),
            self.node("later2", "true", ", cpus: 0, deps: [trigger]")]) + "\n"
        self.run_pipeline(text, "-w", "4")
        t = Ticks(self.ticks)
        self.assertTrue(t.alone("alone"))
        self.assertTrue(t.before("long", "alone"))
        for late in ("later1", "later2"):
            self.assertTrue(t.before("alone", late), late)

    def test_pool_of_two(self):
        lines = ["pools: {db: 2}", "nodes:"]
        lines += [self.node(f"p{i}", "sleep 0.2", ", pool: db, cpus: 0") for i in range(8)]
        lines += [self.node(f"free{i}", "sleep 0.2", ", cpus: 0") for i in (1, 2)]
        self.run_pipeline("\n".join(lines) + "\n", "-w", "4")
        t = Ticks(self.ticks)
        pooled = [f"p{i}" for i in range(8)]
        self.assertLessEqual(t.peak(pooled), 2)  # never more holders than units
        self.assertEqual(t.peak(pooled), 2)  # and both units were used
        # the rest of the run still flows beside the pool
        for free in ("free1", "free2"):
            self.assertTrue(any(t.together(free, p) for p in pooled), free)

    def test_cpu_bound_held_back_io_bound_flows(self):
        """cpus=2 locally, three `cpus: 1` busy nodes and four `cpus: 0` sleepers at -w 6."""
        lines = ["nodes:"]
        lines += [self.node(f"cpu{i}", "sleep 0.4", ", cpus: 1") for i in range(3)]
        lines += [self.node(f"io{i}", "sleep 0.4", ", cpus: 0") for i in range(4)]
        self.run_pipeline("\n".join(lines) + "\n", "-w", "6", "--cpus", "2")
        t = Ticks(self.ticks)
        cpu = [f"cpu{i}" for i in range(3)]
        self.assertLessEqual(t.peak(cpu), 2)
        self.assertEqual(t.peak(cpu), 2)
        for io in (f"io{i}" for i in range(4)):
            self.assertTrue(any(t.together(io, c) for c in cpu), io)

    def test_two_cpu_node_runs_without_other_cpu_work(self):
        text = "\n".join([
            "nodes:",
            self.node("big", "sleep 0.5", ", cpus: 2, priority: 5"),
            self.node("small1", "sleep 0.3", ", cpus: 1"),
            self.node("small2", "sleep 0.3", ", cpus: 1"),
            self.node("io1", "sleep 0.4", ", cpus: 0"),
            self.node("io2", "sleep 0.4", ", cpus: 0")]) + "\n"
        self.run_pipeline(text, "-w", "5", "--cpus", "2")
        t = Ticks(self.ticks)
        for s in ("small1", "small2"):
            self.assertFalse(t.together("big", s), s)
        self.assertTrue(t.together("big", "io1") or t.together("big", "io2"))

    def test_blocked_big_node_is_not_starved_by_small_ones(self):
        """A 2-cpu node waiting behind running 1-cpu nodes gets the CPUs as they free up, before
        lower-priority 1-cpu nodes that are ready too."""
        lines = ["nodes:", self.node("first", "sleep 0.3", ", cpus: 1, priority: 9"),
                 self.node("big", "sleep 0.2", ", cpus: 2, priority: 5")]
        lines += [self.node(f"s{i}", "sleep 0.2", ", cpus: 1") for i in range(6)]
        self.run_pipeline("\n".join(lines) + "\n", "-w", "4", "--cpus", "2")
        t = Ticks(self.ticks)
        for i in range(6):
            s = f"s{i}"
            self.assertFalse(t.together("big", s), s)
            # no small node starts between the first node's end and the big node's start
            self.assertFalse(t.span["first"][1] < t.span[s][0] < t.span["big"][0], s)

    def test_node_bigger_than_any_host_is_an_error_before_the_run(self):
        text = "nodes:\n  huge: {cmd: 'true', cpus: 64}\n  gpu: {cmd: 'true', resources: {gpu: 1}, cpus: 0}\n"
        pipe = self.write("pipe.yaml", text)
        p = self.zdag("run", pipe, "--cpus", "2", check=2)
        self.assertIn('node "huge" needs 64 cpus; the most any host offers is 2', p.stderr)
        self.assertIn('node "gpu" needs 1 gpu; the most any host offers is 0', p.stderr)
        self.assertFalse(os.path.exists(self.path(".zdag", "logs")))


if __name__ == "__main__":
    unittest.main()
