"""Function nodes from a plugin in a pipeline file: args, msgpack results along the edges,
JSON for commands, stdout as a string for functions, one plugin load per executor."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase, nodes_by_name  # noqa: E402

PLUGIN = os.environ.get("ZDAG_PLUGIN", "")


class PluginTest(ZdagTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(PLUGIN), f"the example plugin was not built: {PLUGIN!r}")

    def test_example_pipeline(self):
        src = os.path.join(os.environ["ZDAG_SOURCE_DIR"], "examples", "plugin", "pipeline.yaml")
        with open(src) as f:
            text = f.read().replace("../../build/examples/plugin/libzdag_example_plugin.so", PLUGIN)
        results = self.path("results.json")
        _, r = self.run_pipeline(text, "-w", "2", "--results", results)
        self.assertEqual(r["status"], "succeeded")
        with open(results) as f:
            res = json.load(f)
        self.assertEqual(res["evens"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        self.assertEqual(res["sum_evens"], 55)
        self.assertEqual(res["sum_odds"], 45)
        self.assertEqual(res["summary"], {"evens": 55, "odds": 45, "total": 100})
        # a command depending on a function reads its result as JSON
        self.assertEqual(json.loads(res["show"]), {"evens": 55, "odds": 45, "total": 100})

    def test_command_output_reaches_a_function_as_a_string(self):
        text = f"""
plugins: [{PLUGIN}]
nodes:
  text: {{cmd: printf hello}}
  len: {{fn: length, deps: [text]}}
"""
        results = self.path("results.json")
        self.run_pipeline(text, "-w", "1", "--results", results)
        with open(results) as f:
            self.assertEqual(json.load(f)["len"], 5)

    def test_plugin_is_loaded_once_per_executor(self):
        lines = [f"plugins: [{PLUGIN}]", "nodes:"]
        lines += [f"  c{i}: {{fn: calls}}" for i in range(5)]
        results = self.path("results.json")
        self.run_pipeline("\n".join(lines) + "\n", "-w", "1", "--results", results)
        with open(results) as f:
            res = json.load(f)
        self.assertEqual(sorted(res[f"c{i}"] for i in range(5)), [1, 2, 3, 4, 5])

    def test_bad_args_and_unknown_functions_fail_clearly(self):
        text = f"""
plugins: [{PLUGIN}]
nodes:
  bad: {{fn: range, args: {{from: 5}}}}
  missing: {{fn: no_such_function}}
"""
        _, r = self.run_pipeline(text, "-w", "2", "-k", check=1)
        n = nodes_by_name(r)
        self.assertIn("range needs args", n["bad"]["error"])
        self.assertIn('no function named "no_such_function"', n["missing"]["error"])

    def test_missing_plugin_file(self):
        text = "plugins: [./nope.so]\nnodes:\n  f: {fn: range}\n"
        _, r = self.run_pipeline(text, "-w", "1", check=1)
        # Relative plugin paths resolve from the pipeline file's directory.
        self.assertIn("cannot load plugin " + self.path("nope.so"), r["nodes"][0]["error"])

    def test_fn_without_plugins_is_refused_before_the_run(self):
        p = self.zdag("run", self.write("p.yaml", "nodes:\n  f: {fn: range}\n"), check=2)
        self.assertIn('node "f" calls function "range"', p.stderr)


if __name__ == "__main__":
    unittest.main()
