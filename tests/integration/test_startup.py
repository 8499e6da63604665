"""Start-up (issue 11): no more local executors are forked than the pipeline can keep busy at
once (-w, -j, and its width: never more than the nodes off its longest dependency path plus
one), and they are all up (gated until the coordinator listens) when the first node starts.

Each node reports how many executors the coordinator has: its command's parent is its
executor, whose parent is the coordinator; /proc lists the coordinator's children."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402

COUNT = ("cat /proc/$(awk '/^PPid:/ {print $2}' /proc/$PPID/status)/task/*/children "
         "| wc -w")


def node(name, deps=()):
    d = f", deps: [{', '.join(deps)}]" if deps else ""
    return f"  {name}: {{cmd: \"{COUNT}\"{d}}}\n"


class StartupTest(ZdagTestCase):
    def executors(self, text, *args):
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "--results", results, *args)
        self.assertEqual(r["status"], "succeeded")
        with open(results) as f:
            return {k: int(v) for k, v in json.load(f).items()}

    def test_one_node_one_executor(self):
        self.assertEqual(self.executors("nodes:\n" + node("one"), "-w", "4"), {"one": 1})

    def test_a_chain_needs_one(self):
        text = "nodes:\n" + node("a") + node("b", ["a"]) + node("c", ["b"])
        self.assertEqual(set(self.executors(text, "-w", "4").values()), {1})

    def test_a_fork_needs_two(self):
        """a -> {b, c}: the longest path has 2 of the 3 nodes, so at most 2 run at once."""
        text = "nodes:\n" + node("a") + node("b", ["a"]) + node("c", ["a"])
        self.assertEqual(set(self.executors(text, "-w", "4").values()), {2})

    def test_jobs_bound_the_executors(self):
        text = "nodes:\n" + "".join(node(f"n{i}") for i in range(4))
        self.assertEqual(set(self.executors(text, "-w", "4", "-j", "3").values()), {3})

    def test_workers_bound_the_executors(self):
        text = "nodes:\n" + "".join(node(f"n{i}") for i in range(4))
        self.assertEqual(set(self.executors(text, "-w", "2").values()), {2})


if __name__ == "__main__":
    unittest.main()
