"""Fan-out at run time (issue 12 section 1, `foreach: {result_lines: NODE}`) end to end: a
listing node's result decides how many instances follow; they run under the pipeline's limits
and priorities, a dependent reads them all through $ZDAG_DEPS_NAME, a function gets one array,
and a coordinator killed with -9 in the middle of the fan-out loses nothing on --resume. Judged
from the report, the journal and the lines the commands write, never from timing."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import (ZDAG, Ticks, ZdagTestCase, journal_succeeded, nodes_by_name,  # noqa: E402
                      ticked)


class RuntimeFanTest(ZdagTestCase):
    def read(self, *parts):
        with open(self.path(*parts)) as f:
            return f.read()

    def test_listing_decides_the_instances(self):
        # Three names (a blank line and a CR are not items), each made into a file.
        pipe = ("nodes:\n"
                "  list: {cmd: \"printf 'ant\\\\nbee\\\\r\\\\n\\\\ncat\\\\n'\"}\n"
                "  each:\n"
                "    foreach: {result_lines: list}\n"
                "    cmd: 'echo {index}:{item} > out-{item}.txt; echo {item}-done'\n"
                "  total:\n"
                "    cmd: 'xargs cat < $ZDAG_DEPS_EACH > total.txt'\n"
                "    deps: [each]\n")
        _, r = self.run_pipeline(pipe, "-w", "2")
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual([n["name"] for n in r["nodes"]],
                         ["list", "each", "total", "each[0]", "each[1]", "each[2]"])
        nodes = nodes_by_name(r)
        self.assertEqual(nodes["each"]["status"], "succeeded")
        self.assertEqual(nodes["each"]["instances"], 3)
        self.assertEqual(nodes["each"]["attempts"], 0)
        for i, item in enumerate(["ant", "bee", "cat"]):
            self.assertEqual(nodes[f"each[{i}]"]["status"], "succeeded")
            self.assertEqual(self.read(f"out-{item}.txt"), f"{i}:{item}\n")
        # Every instance ended before total started, and it read them in index order.
        self.assertEqual(self.read("total.txt"), "ant-done\nbee-done\ncat-done\n")
        for i in range(3):
            self.assertLessEqual(nodes[f"each[{i}]"]["end_s"], nodes["total"]["start_s"])

    def test_instances_get_the_listing_only_when_they_list_it(self):
        # An instance is given its item; the listing's whole result only with `deps: [list]`.
        pipe = ("nodes:\n"
                "  list: {cmd: 'seq 2'}\n"
                "  each: {foreach: {result_lines: list},"
                " cmd: 'echo ${{ZDAG_DEP_LIST:-none}} > a{item}'}\n"
                "  both: {foreach: {result_lines: list}, deps: [list],"
                " cmd: 'cat $ZDAG_DEP_LIST | paste -sd, > b{item}'}\n")
        self.run_pipeline(pipe)
        self.assertEqual([self.read(f"a{i}") for i in (1, 2)], ["none\n", "none\n"])
        self.assertEqual([self.read(f"b{i}") for i in (1, 2)], ["1,2\n", "1,2\n"])

    def test_workdir_resolves_once_substituted(self):
        # As for a static foreach: a relative item from the pipeline's directory, an absolute
        # one as it is. zdag runs from elsewhere (its own tmp directory).
        os.mkdir(self.path("sub"))
        pipe = self.write("pipe.yaml",
                          "nodes:\n"
                          f"  list: {{cmd: 'printf \"sub\\\\n{self.tmp}\\\\n\"'}}\n"
                          "  each: {foreach: {result_lines: list}, workdir: '{item}',"
                          f" cmd: 'pwd > {self.dir}/pwd{{index}}'}}\n")
        p = subprocess.run([ZDAG, "run", pipe], cwd=self.tmp, env=self.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.read("pwd0"), os.path.realpath(self.path("sub")) + "\n")
        self.assertEqual(self.read("pwd1"), os.path.realpath(self.tmp) + "\n")

    def test_empty_listing_is_zero_instances(self):
        pipe = ("nodes:\n"
                "  list: {cmd: 'true'}\n"
                "  each: {foreach: {result_lines: list}, cmd: 'false'}\n"
                "  after: {cmd: 'echo \"[$ZDAG_DEPS_EACH]\" > after.txt', deps: [each]}\n")
        _, r = self.run_pipeline(pipe)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(nodes_by_name(r)["each"]["instances"], 0)
        self.assertEqual(self.read("after.txt"), "[]\n")

    def test_instances_keep_the_limits_and_the_priorities(self):
        # At -j 3 with 3 executors, the instances share a pool of one: never two at once. The
        # urgent node is ready with them and outranks them: it starts before any of them.
        ticks = self.path("ticks")
        each = ticked(ticks, "each{index}", "sleep 0.05")
        pipe = ("pools: {one: 1}\n"
                "nodes:\n"
                "  list: {cmd: 'seq 1 5'}\n"
                f"  each: {{foreach: {{result_lines: list}}, pool: one, cmd: '{each}'}}\n"
                f"  urgent: {{priority: 10, deps: [list], pool: one,"
                f" cmd: '{ticked(ticks, 'urgent', 'true')}'}}\n")
        _, r = self.run_pipeline(pipe, "-w", "3", "-j", "3")
        self.assertEqual(r["status"], "succeeded")
        t = Ticks(ticks)
        names = [f"each{i}" for i in range(5)]
        self.assertEqual(sorted(t.span), sorted(names + ["urgent"]))
        self.assertEqual(t.peak(names + ["urgent"]), 1)
        for name in names:
            self.assertTrue(t.before("urgent", name), name)

    def test_function_items_and_results(self):
        # A function's result fans out too (an array: one item per entry); each instance is a
        # function node and its dependent gets their results as one array.
        plugin = os.environ["ZDAG_PLUGIN"]
        pipe = (f"plugins: [{plugin}]\n"
                "nodes:\n"
                "  list: {fn: range, args: {from: 4, to: 6}}\n"
                "  part: {foreach: {result_lines: list}, fn: calls}\n"
                "  total: {fn: sum, args: {of: part}, deps: [part]}\n")
        self.write("fn.yaml", pipe)
        results = self.path("results.json")
        self.zdag("run", "fn.yaml", "-w", "2", "--results", results, check=0)
        with open(results) as f:
            got = json.load(f)
        parts = [got[f"part[{i}]"] for i in range(3)]
        self.assertNotIn("part[3]", got)
        self.assertTrue(all(isinstance(p, int) and p > 0 for p in parts), got)
        self.assertEqual(got["total"], sum(parts))

    def test_killed_coordinator_resumes_mid_fan_out(self):
        """kill -9 of the coordinator once the journal holds the listing and three instances
        (the fourth instance waits for them, then kills): --resume takes exactly what the
        journal holds as done, runs the rest once each, and a third run runs nothing."""
        side = self.path("side")
        journal = self.path(".zdag", "pipe.yaml.journal")
        lock = self.path(".zdag", "lock")
        killed = self.path("killed")
        wait = " && ".join(f"grep -qF \"each[{i}]\" {journal}" for i in range(3))
        kill = (f"if [ {{index}} = 3 ] && [ ! -e {killed} ]; then until {wait}; do sleep 0.02;"
                f" done; touch {killed}; kill -9 $(cat {lock}); sleep 5; fi")
        pipe = ("nodes:\n"
                f"  list: {{cmd: 'echo list >> {side}; seq 11 16'}}\n"
                "  each:\n"
                "    foreach: {result_lines: list}\n"
                f"    cmd: '{kill}; echo each[{{index}}] >> {side}; echo $(({{item}} * 2))'\n"
                f"  total: {{cmd: 'echo total >> {side}; xargs cat < $ZDAG_DEPS_EACH"
                f" | paste -sd+ | bc > total.txt', deps: [each]}}\n")
        pipe = self.write("pipe.yaml", pipe)
        p = self.start("run", pipe, "-w", "1", "-j", "1", "-q")
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        time.sleep(0.1)  # the executors notice their parent's death and stop
        durable = journal_succeeded(journal)
        self.assertTrue({"list", "each[0]", "each[1]", "each[2]"} <= durable, durable)
        self.assertNotIn("total", durable)
        first = len(self.side_lines(side))
        report = self.path("report.json")
        self.zdag("run", pipe, "-w", "1", "--resume", "--report", report, "-q", check=0)
        with open(report) as f:
            status = {x["name"]: x["status"] for x in json.load(f)["nodes"]}
        self.assertEqual(set(status), {"list", "each", "total"} | {f"each[{i}]" for i in range(6)})
        self.assertEqual({x for x, st in status.items() if st == "cached"}, durable)
        ran = set(status) - durable - {"each"}  # the template never runs itself
        self.assertEqual({x for x, st in status.items() if st == "succeeded"}, ran | {"each"})
        again = [line[0] for line in self.side_lines(side)[first:]]
        self.assertEqual(sorted(again), sorted(ran))  # each once, none of the cached
        self.assertEqual(self.read("total.txt"), f"{2 * sum(range(11, 17))}\n")
        self.zdag("run", pipe, "-w", "1", "--resume", "--report", report, "-q", check=0)
        with open(report) as f:
            self.assertEqual({x["status"] for x in json.load(f)["nodes"]}, {"cached"})
        self.assertEqual(len(self.side_lines(side)), first + len(again))

    def test_check_reports_misuse_where_written(self):
        pipe = self.write("bad.yaml",
                          "nodes:\n"
                          "  list: {cmd: 'seq 3'}\n"
                          "  each: {foreach: {result_lines: lsit}, cmd: 'echo {item}'}\n"
                          "  pick: {cmd: 'true', deps: [\"each[0]\"]}\n")
        p = self.zdag("check", pipe)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{pipe}:3:34: error: node \"each\" takes result_lines from unknown node "
                      "\"lsit\"; did you mean \"list\"?", p.stderr)
        self.assertIn(f"{pipe}:4:30: error: node \"pick\" depends on \"each[0]\", but \"each\" "
                      "fans out at run time (result_lines): depend on \"each\", all its instances",
                      p.stderr)


if __name__ == "__main__":
    unittest.main()
