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

# Callables that are not plain functions, and a default that is one.
CALLABLES = """
import functools, json, sys
from zdag import Graph, xn

def logged(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        return f(*a, **k)
    return wrapper

@xn
@logged
def decorated(n):
    return BODY

@functools.lru_cache
def cached(n):
    return n + 1

class Scale:
    def __init__(self, k):
        self.k = k

    def __call__(self, n):
        return n * self.k

def helper():
    pass

def with_default(n, fn=helper):
    return n

g = Graph()
g.add(decorated, (2,), name="decorated")
g.add(cached, (2,), name="cached")
g.add(functools.partial(with_default, 3), name="partial")
g.add(Scale(3), (2,), name="instance")
g.add(with_default, (1,), name="default")
run = g.run(state_dir=sys.argv[1], resume=True)
print(json.dumps({"statuses": run.statuses, "results": run.results}))
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

    def test_callables_that_are_not_plain_functions(self):
        def run(body):
            r = self.script("callables.py", CALLABLES.replace("BODY", body), self.state)
            return json.loads(r.stdout)
        first = run("n * 10")
        self.assertEqual(set(first["statuses"].values()), {"succeeded"})
        self.assertEqual(first["results"], {"decorated": 20, "cached": 3, "partial": 3,
                                            "instance": 6, "default": 1})
        self.assertEqual(set(run("n * 10")["statuses"].values()), {"cached"})
        changed = run("n * 100")  # the body under @functools.wraps
        self.assertEqual(changed["statuses"], {"decorated": "succeeded", "cached": "cached",
                                               "partial": "cached", "instance": "cached",
                                               "default": "cached"})
        self.assertEqual(changed["results"]["decorated"], 200)


if __name__ == "__main__":
    unittest.main()
