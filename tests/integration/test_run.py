"""zdag run: parallel execution on forked executors, priorities, failures, report, results."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name, overlaps  # noqa: E402

SEED = """
nodes:
  A: {cmd: sleep 0.4}
  B: {cmd: sleep 0.4, deps: [A]}
  C: {cmd: sleep 0.4, deps: [A]}
  D: {cmd: sleep 0.4, deps: [A]}
  E: {cmd: sleep 0.4, deps: [C, D]}
"""

REPORT_KEYS = {"pipeline", "status", "exit_code", "started_at", "wall_s", "jobs", "nodes"}
NODE_KEYS = {"name", "status", "attempts", "host", "executor", "start_s", "end_s",
             "exit_code", "error", "deps", "history"}


class RunTest(ZdagTestCase):
    def test_seed_priority_example_takes_three_steps(self):
        """The seed: C and D start before B, so B and E share the last step."""
        _, r = self.run_pipeline(SEED, "-j", "2", "-w", "2")
        n = nodes_by_name(r)
        self.assertEqual(r["status"], "succeeded")
        self.assertTrue(all(x["status"] == "succeeded" for x in r["nodes"]))
        self.assertLess(n["C"]["start_s"], n["B"]["start_s"])
        self.assertLess(n["D"]["start_s"], n["B"]["start_s"])
        self.assertTrue(overlaps(n["C"], n["D"]))
        self.assertTrue(overlaps(n["B"], n["E"]), "B and E should run side by side")
        for x in "BCD":
            self.assertGreaterEqual(n[x]["start_s"], n["A"]["end_s"])
        self.assertGreaterEqual(n["E"]["start_s"], max(n["C"]["end_s"], n["D"]["end_s"]))

    def test_user_priority_order_with_one_executor(self):
        """Tawazi's example: a(p1) -> b(p2) -> c(p2), a -> d(p1), one slot: a b c d."""
        text = """
nodes:
  d: {cmd: "true", priority: 1, deps: [a]}
  c: {cmd: "true", priority: 2, deps: [b]}
  b: {cmd: "true", priority: 2, deps: [a]}
  a: {cmd: "true", priority: 1}
"""
        for mode in ("user", "compound", "critical-path"):
            _, r = self.run_pipeline(text, "-w", "1", "--priority", mode)
            order = [x["name"] for x in sorted(r["nodes"], key=lambda x: x["start_s"])]
            self.assertEqual(order, ["a", "b", "c", "d"], mode)

    def test_report_deps_name_what_each_node_waited_for(self):
        """A node's "deps": its deps in the pipeline's order, instances of a foreach node (made
        before or during the run) in its place."""
        text = """
nodes:
  list: {cmd: 'printf "x\\ny\\n"'}
  each: {foreach: {list: [a, b]}, cmd: 'true'}
  late: {foreach: {result_lines: list}, cmd: 'true'}
  join: {cmd: 'true', deps: [late, each, list]}
"""
        _, r = self.run_pipeline(text, "-w", "2")
        deps = {n["name"]: n["deps"] for n in r["nodes"]}
        self.assertEqual(deps["join"], ["late[0]", "late[1]", "each[0]", "each[1]", "list"])
        self.assertEqual(deps["late"], ["list"])
        self.assertEqual(deps["late[1]"], [])
        self.assertEqual(deps["each[0]"], [])

    def test_report_format(self):
        _, r = self.run_pipeline("nodes:\n  one: {cmd: echo hi}\n", "-w", "1")
        self.assertEqual(set(r), REPORT_KEYS)
        self.assertEqual(r["pipeline"], self.path("pipe.yaml"))
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual(r["jobs"], 1)
        self.assertRegex(r["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        node = r["nodes"][0]
        self.assertEqual(set(node), NODE_KEYS)
        self.assertEqual(node["attempts"], 1)
        self.assertEqual(node["executor"], 0)
        self.assertEqual(node["host"], os.uname().nodename)
        self.assertEqual(node["exit_code"], 0)
        self.assertIsNone(node["error"])
        self.assertEqual(node["deps"], [])
        self.assertLessEqual(0, node["start_s"])
        self.assertLessEqual(node["start_s"], node["end_s"])
        self.assertLessEqual(node["end_s"], r["wall_s"])

    def test_failure_stops_new_work_and_lets_running_nodes_finish(self):
        text = """
nodes:
  slow: {cmd: "sleep 1; echo done"}
  bad: {cmd: "sleep 0.2; echo oops >&2; exit 3"}
  after_bad: {cmd: "true", deps: [bad]}
  after_slow: {cmd: "true", deps: [slow]}
"""
        p, r = self.run_pipeline(text, "-w", "2", check=1)
        n = nodes_by_name(r)
        self.assertEqual(r["status"], "failed")
        self.assertEqual(r["exit_code"], 1)
        self.assertEqual(n["bad"]["status"], "failed")
        self.assertEqual(n["bad"]["exit_code"], 3)
        self.assertIn("status 3", n["bad"]["error"])
        self.assertEqual(n["slow"]["status"], "succeeded")  # running: allowed to finish
        self.assertEqual(n["after_bad"]["status"], "skipped")
        self.assertEqual(n["after_slow"]["status"], "skipped")  # not started after the failure
        self.assertIsNone(n["after_bad"]["start_s"])
        self.assertIn('node "bad" failed', p.stderr)
        with open(self.path(".zdag", "logs", "bad.log")) as f:
            self.assertIn("oops", f.read())

    def test_keep_going_runs_everything_not_depending_on_a_failure(self):
        text = """
nodes:
  bad: {cmd: "exit 1"}
  child: {cmd: "true", deps: [bad]}
  grandchild: {cmd: "true", deps: [child]}
  other: {cmd: "sleep 0.3"}
  after_other: {cmd: "true", deps: [other]}
  late: {cmd: "true", deps: [after_other]}
"""
        _, r = self.run_pipeline(text, "-w", "1", "-k", check=1)
        n = nodes_by_name(r)
        self.assertEqual(r["status"], "failed")
        self.assertEqual(n["bad"]["status"], "failed")
        for name in ("child", "grandchild"):
            self.assertEqual(n[name]["status"], "skipped")
            self.assertEqual(n[name]["error"], "a dependency failed")
        for name in ("other", "after_other", "late"):
            self.assertEqual(n[name]["status"], "succeeded")
        # the failure came first (one executor), yet the rest was still started after it
        self.assertGreaterEqual(n["late"]["start_s"], n["bad"]["end_s"])

    def test_environment_results_and_logs(self):
        text = """
env: {GREETING: hello}
nodes:
  producer:
    cmd: 'printf "%s %s %s" "$GREETING" "$ZDAG_NODE" "$ZDAG_ATTEMPT"; echo to-stderr >&2'
  my-dep.x:
    cmd: [printf, "%s", "list form"]
  consumer:
    cmd: 'cat "$ZDAG_DEP_PRODUCER"; printf " / "; cat "$ZDAG_DEP_MY_DEP_X"; printf " / %s" "$ZDAG_RUN_ID"'
    deps: [producer, my-dep.x]
    env: {GREETING: overridden}
"""
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "-w", "2", "--results", results)
        with open(results) as f:
            res = json.load(f)
        self.assertEqual(res["producer"], "hello producer 1")
        self.assertEqual(res["my-dep.x"], "list form")
        produced, listed, run_id = res["consumer"].split(" / ")
        self.assertEqual(produced, "hello producer 1")
        self.assertEqual(listed, "list form")
        self.assertRegex(run_id, r"^[0-9a-f]{16}$")
        with open(self.path(".zdag", "logs", "producer.log")) as f:
            log = f.read()
        self.assertIn("hello producer 1", log)
        self.assertIn("to-stderr", log)

    def test_output_is_whole(self):
        """Once cut at 1 MiB: a command's whole stdout is its result."""
        text = "nodes:\n  big: {cmd: 'head -c 3000000 /dev/zero | tr \"\\\\0\" x'}\n"
        results = self.path("results.json")
        self.run_pipeline(text, "-w", "1", "--results", results)
        with open(results) as f:
            self.assertEqual(json.load(f)["big"], "x" * 3000000)

    def test_workdir_and_state_dir(self):
        os.mkdir(self.path("sub"))
        text = "nodes:\n  w: {cmd: pwd, workdir: sub}\n"
        results = self.path("results.json")
        state = self.path("elsewhere")
        self.run_pipeline(text, "-w", "1", "--results", results, "--state-dir", state)
        with open(results) as f:
            self.assertEqual(json.load(f)["w"].strip(), self.path("sub"))
        self.assertTrue(os.path.exists(os.path.join(state, "logs", "w.log")))

    def test_killed_executor_is_replaced_and_node_rerun(self):
        """kill -9 of the executor running a node: the run succeeds, the node ran twice."""
        pidfile = self.path("executor.pid")
        text = f"""
nodes:
  victim:
    cmd: 'if [ "$ZDAG_ATTEMPT" = 1 ]; then echo $PPID > {pidfile}; sleep 30; fi; echo ok'
  other: {{cmd: "sleep 0.5"}}
"""
        pipe = self.write("pipe.yaml", text)
        report = self.path("report.json")
        proc = self.start("run", pipe, "-w", "2", "--report", report)
        self.wait_for_file(pidfile)
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        with open(report) as f:
            n = nodes_by_name(json.load(f))
        self.assertEqual(n["victim"]["status"], "succeeded")
        self.assertEqual(n["victim"]["attempts"], 2)
        self.assertIn("died", err)

    def test_node_failing_with_every_executor_it_kills(self):
        """A node that kills its executor each time fails after 3 losses with a clear error."""
        text = "nodes:\n  killer: {cmd: 'kill -9 $PPID; sleep 5'}\n  fine: {cmd: 'true'}\n"
        _, r = self.run_pipeline(text, "-w", "1", "-k", check=1)
        n = nodes_by_name(r)
        self.assertEqual(n["killer"]["status"], "failed")
        self.assertEqual(n["killer"]["attempts"], 3)
        self.assertIn("executor died: signal 9", n["killer"]["error"])
        self.assertEqual(n["fine"]["status"], "succeeded")

    def test_retries_count_attempts(self):
        text = """
defaults: {retries: 2}
nodes:
  flaky: {cmd: '[ "$ZDAG_ATTEMPT" -ge 2 ] && echo ok'}
  hopeless: {cmd: 'exit 5', retries: 1}
"""
        _, r = self.run_pipeline(text, "-w", "2", "-k", check=1)
        n = nodes_by_name(r)
        self.assertEqual(n["flaky"]["status"], "succeeded")
        self.assertEqual(n["flaky"]["attempts"], 2)
        self.assertEqual(n["hopeless"]["status"], "failed")
        self.assertEqual(n["hopeless"]["attempts"], 2)
        with open(self.path(".zdag", "logs", "flaky.log")) as f:
            self.assertIn("--- zdag: attempt 2 ---", f.read())

    def test_timeout_kills_the_whole_tree(self):
        text = f"nodes:\n  slow: {{cmd: 'sleep 100 & sleep 100', timeout: 0.5}}\n"
        _, r = self.run_pipeline(text, "-w", "1", check=1)
        node = r["nodes"][0]
        self.assertEqual(node["status"], "failed")
        self.assertEqual(node["error"], "timed out after 0.5 s")
        self.assertLess(node["end_s"] - node["start_s"], 10)
        # tearDown checks that neither sleep survived.

    def test_sigint_interrupts_cleanly(self):
        started = self.path("started")
        text = f"nodes:\n  long: {{cmd: 'touch {started}; sleep 60'}}\n  next: {{cmd: 'true', deps: [long]}}\n"
        pipe = self.write("pipe.yaml", text)
        report = self.path("report.json")
        proc = self.start("run", pipe, "-w", "1", "--report", report)
        deadline = time.time() + 30
        while not os.path.exists(started) and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 130, err)
        with open(report) as f:
            r = json.load(f)
        self.assertEqual(r["status"], "interrupted")
        n = nodes_by_name(r)
        self.assertEqual(n["long"]["status"], "skipped")
        self.assertEqual(n["long"]["error"], "interrupted")
        self.assertEqual(n["next"]["status"], "skipped")


if __name__ == "__main__":
    unittest.main()
