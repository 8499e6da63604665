"""foreach (issue 12 section 1) end to end: a glob over real files fans a node out, item-wise
deps pair the instances, a total node reads $ZDAG_DEPS_COUNT, --target takes NAME and NAME[I],
and zdag check reports a misuse where it is written. Judged from the report and the files the
commands wrote, never from timing."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

PIPE = """
nodes:
  compress:
    foreach: {glob: "logs/*.log"}
    cmd: gzip -kf {item}
  count:
    foreach: {glob: "logs/*.log"}
    cmd: "zcat {item}.gz | wc -l | tr -d ' ' | tee {item}.n"
    deps: ["compress[{index}]"]
  total:
    cmd: "cat $ZDAG_DEPS_COUNT > order.txt; xargs cat < $ZDAG_DEPS_COUNT | paste -sd+ | bc > total.txt"
    deps: [count]
  grid:
    foreach: {matrix: {size: [s, m], seed: [1, 2]}}
    cmd: [sh, -c, "echo {size}{seed} > grid-{index}.txt"]
"""

# Written in an order that is not the sorted one: instances follow the sorted glob.
LOGS = {"c.log": 7, "a.log": 3, "b.log": 5}


class ForeachTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        os.mkdir(self.path("logs"))
        for name, lines in LOGS.items():
            self.write(os.path.join("logs", name), "".join(f"{i}\n" for i in range(lines)))
        self.write(os.path.join("logs", "notes.txt"), "not matched\n")

    def read(self, *parts):
        with open(self.path(*parts)) as f:
            return f.read()

    def test_glob_item_wise_and_total(self):
        _, r = self.run_pipeline(PIPE, "-w", "2")
        self.assertEqual(r["status"], "succeeded")
        names = [n["name"] for n in r["nodes"]]
        self.assertEqual(names, ["compress[0]", "compress[1]", "compress[2]", "count[0]",
                                 "count[1]", "count[2]", "total", "grid[0]", "grid[1]",
                                 "grid[2]", "grid[3]"])
        for n in r["nodes"]:
            self.assertEqual(n["status"], "succeeded", n)
        for i, name in enumerate(sorted(LOGS)):
            self.assertTrue(os.path.exists(self.path("logs", name + ".gz")))
            self.assertEqual(self.read("logs", name + ".n"), f"{LOGS[name]}\n")
        self.assertEqual(self.read("total.txt"), f"{sum(LOGS.values())}\n")
        # $ZDAG_DEPS_COUNT lists one result file per instance (their contents: next test).
        files = self.read("order.txt").split()
        self.assertEqual(len(set(files)), 3)
        self.assertEqual([self.read("grid-%d.txt" % i) for i in range(4)],
                         ["s1\n", "s2\n", "m1\n", "m2\n"])

    def test_deps_list_is_in_index_order(self):
        pipe = PIPE.replace("cat $ZDAG_DEPS_COUNT > order.txt",
                            "xargs cat < $ZDAG_DEPS_COUNT > order.txt")
        self.run_pipeline(pipe, "-w", "2")
        self.assertEqual(self.read("order.txt").split(),
                         [str(LOGS[name]) for name in sorted(LOGS)])

    def test_target_name_and_instance(self):
        _, r = self.run_pipeline(PIPE, "-w", "2", "--target", "count[1]")
        ran = [n["name"] for n in r["nodes"] if n["status"] == "succeeded"]
        self.assertEqual(ran, ["compress[1]", "count[1]"])
        self.assertTrue(os.path.exists(self.path("logs", "b.log.n")))
        self.assertFalse(os.path.exists(self.path("logs", "a.log.n")))
        _, r = self.run_pipeline(PIPE, "-w", "2", "--target", "compress")
        ran = [n["name"] for n in r["nodes"] if n["status"] == "succeeded"]
        self.assertEqual(ran, ["compress[0]", "compress[1]", "compress[2]"])
        _, r = self.run_pipeline(PIPE, "-w", "2", "--exclude", "grid")
        self.assertEqual(nodes_by_name(r)["grid[3]"]["status"], "excluded")

    def test_check_reports_misuse_where_written(self):
        pipe = self.write("bad.yaml", "nodes:\n"
                                      "  a:\n"
                                      "    foreach: {glob: \"logs/*.log\"}\n"
                                      "    cmd: \"gzip {iten}\"\n"
                                      "  b:\n"
                                      "    foreach: {list: [x, y]}\n"
                                      "    cmd: \"true\"\n"
                                      "    deps: [\"a[{index}]\"]\n")
        p = self.zdag("check", pipe)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{pipe}:4:10: error: unknown placeholder \"{{iten}}\"", p.stderr)
        self.assertIn(f"{pipe}:8:12: error: node \"b\" depends on \"a[{{index}}]\" item by item, "
                      "but it has 2 instances and \"a\" has 3", p.stderr)

    def test_function_gets_the_instances_results_as_one_array(self):
        plugin = os.environ["ZDAG_PLUGIN"]
        pipe = (f"plugins: [{plugin}]\n"
                "nodes:\n"
                "  part: {foreach: {list: [a, b, c]}, fn: calls}\n"
                "  total: {fn: sum, args: {of: part}, deps: [part]}\n")
        self.write("fn.yaml", pipe)
        results = self.path("results.json")
        self.zdag("run", "fn.yaml", "-w", "2", "--results", results, check=0)
        with open(results) as f:
            got = json.load(f)
        parts = [got[f"part[{i}]"] for i in range(3)]
        self.assertTrue(all(isinstance(p, int) and p > 0 for p in parts), got)
        self.assertEqual(got["total"], sum(parts))

    def test_each_instance_is_up_to_date_on_its_own_files(self):
        pipe = ("nodes:\n"
                "  z:\n"
                "    foreach: {glob: \"logs/*.log\"}\n"
                "    cmd: gzip -kf {item}\n"
                "    inputs: [\"{item}\"]\n"
                "    outputs: [\"{item}.gz\"]\n")
        self.run_pipeline(pipe)
        _, r = self.run_pipeline(pipe)
        self.assertEqual([n["status"] for n in r["nodes"]], ["up-to-date"] * 3)
        gz = self.path("logs", "b.log.gz")
        st = os.stat(gz)
        os.utime(self.path("logs", "b.log"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        _, r = self.run_pipeline(pipe)
        self.assertEqual([n["status"] for n in r["nodes"]],
                         ["up-to-date", "succeeded", "up-to-date"])

    def test_no_match_is_zero_instances(self):
        pipe = ("nodes:\n"
                "  none: {foreach: {glob: \"logs/*.zip\"}, cmd: \"false\"}\n"
                "  after: {cmd: \"echo $ZDAG_DEPS_NONE > after.txt\", deps: [none]}\n")
        _, r = self.run_pipeline(pipe)
        self.assertEqual([n["name"] for n in r["nodes"]], ["after"])
        self.assertEqual(self.read("after.txt"), "\n")


if __name__ == "__main__":
    unittest.main()
