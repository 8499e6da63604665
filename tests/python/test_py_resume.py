"""zdag for Python: resume keeps what succeeded, and the code is part of a node's definition."""
import json
import unittest

from zdagpytest import PyTestCase

SCRIPT = """
import json, sys
from zdag import dag, xn

@xn(version=VERSION)
def produce(n):
    return BODY

@xn
def consume(x):
    return x + 1

@xn
def apart():
    return "apart"

@dag(state_dir=sys.argv[1], resume=True)
def pipeline():
    return consume(produce(2)), apart()

run = pipeline.run()
print(json.dumps({"statuses": run.statuses, "value": run.value}))
"""


class ResumeTest(PyTestCase):
    def run_version(self, body="n * 10", version="None"):
        r = self.script("pipe.py", SCRIPT.replace("BODY", body).replace("VERSION", version),
                        self.state)
        return json.loads(r.stdout)

    def test_second_run_is_cached_with_results_restored(self):
        first = self.run_version()
        self.assertEqual(first["statuses"], {"produce": "succeeded", "consume": "succeeded",
                                             "apart": "succeeded"})
        self.assertEqual(first["value"], [21, "apart"])
        again = self.run_version()
        self.assertEqual(set(again["statuses"].values()), {"cached"})
        self.assertEqual(again["value"], [21, "apart"])

    def test_changed_body_reruns_the_node_and_its_dependents(self):
        self.run_version()
        changed = self.run_version(body="n * 100")
        self.assertEqual(changed["statuses"], {"produce": "succeeded", "consume": "succeeded",
                                               "apart": "cached"})
        self.assertEqual(changed["value"], [201, "apart"])
        self.assertEqual(set(self.run_version(body="n * 100")["statuses"].values()), {"cached"})

    def test_changed_constant_name_or_version_reruns(self):
        self.run_version(body="n * 10")
        self.assertEqual(self.run_version(body="n * 11")["statuses"]["produce"], "succeeded")
        self.assertEqual(self.run_version(body="abs(n) * 11")["statuses"]["produce"],
                         "succeeded")
        self.assertEqual(self.run_version(body="abs(n) * 11")["statuses"]["produce"], "cached")
        v2 = self.run_version(body="abs(n) * 11", version="'2'")
        self.assertEqual(v2["statuses"]["produce"], "succeeded")
        self.assertEqual(v2["value"], [23, "apart"])

    def test_a_comment_does_not_rerun(self):
        self.run_version(body="n * 10")
        r = self.run_version(body="n * 10  # the same code, a comment more")
        self.assertEqual(set(r["statuses"].values()), {"cached"})


if __name__ == "__main__":
    unittest.main()
