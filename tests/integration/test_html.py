"""The HTML timeline (zdag run --html, zdag report --html; issue 13): the page of a real run,
loaded in a real browser (Debian's chromium, headless), draws exactly one bar per attempt of the
report, per node and per outcome (retried, failed and lost attempts included), shows a node's
details and deps on hover and click, says nothing on the console, fetches nothing, and a
100,000-node report loads and draws within a generous bound."""
import json
import os
import random
import struct
import subprocess
import sys
import time
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, nodes_by_name  # noqa: E402
import browser  # noqa: E402

CHROMIUM = browser.find_chromium()
NO_CHROMIUM = ("chromium is not installed and could not be (scripts/install-deps.sh installs "
               "Debian's chromium; CI runs it)")
READY = "window.zdagTimeline && window.zdagTimeline.ready"


def attempts_by_node(report):
    """{node: {outcome: attempts}} from the report's histories."""
    return {n["name"]: dict(Counter(a["outcome"] for a in n["history"]))
            for n in report["nodes"] if n["history"]}


def png_size(data):
    """(width, height) of a PNG, after checking its signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR", "no IHDR"
    return struct.unpack(">II", data[16:24])


@unittest.skipUnless(CHROMIUM, NO_CHROMIUM)
class HtmlTimelineTest(ZdagTestCase):
    def run_with_faults(self):
        """A real run with a retry, a failure, a skipped node and a lost attempt (the node kills
        its own executor with kill -9 on its first attempt). Returns (report, page path)."""
        count = self.path("count")
        # The pipeline's path has what could end the script element the report is put in.
        os.makedirs(self.path("odd<!--<", "script>"))
        text = f"""
nodes:
  prepare: {{cmd: 'sleep 0.2'}}
  flaky:
    cmd: 'n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; [ $n -ge 2 ]'
    retries: 2
    deps: [prepare]
  broken: {{cmd: 'exit 3', deps: [prepare]}}
  victim:
    cmd: 'if [ "$ZDAG_ATTEMPT" = 1 ]; then kill -9 $PPID; sleep 5; fi; sleep 0.1'
    deps: [prepare]
  after: {{cmd: 'sleep 0.1', deps: [flaky, victim]}}
  blocked: {{cmd: 'true', deps: [broken]}}
"""
        pipe = os.path.join("odd<!--<", "script>", "pipe.yaml")
        self.write(pipe, text)
        report, page = self.path("report.json"), self.path("timeline.html")
        p = self.zdag("run", pipe, "-k", "-w", "2", "--report", report, "--html", page, check=1)
        self.assertIn("broken", p.stderr)
        with open(report) as f:
            r = json.load(f)
        n = nodes_by_name(r)
        self.assertEqual([a["outcome"] for a in n["flaky"]["history"]], ["failed", "succeeded"])
        self.assertEqual([a["outcome"] for a in n["broken"]["history"]], ["failed"])
        self.assertEqual([a["outcome"] for a in n["victim"]["history"]], ["lost", "succeeded"])
        self.assertEqual(n["blocked"]["status"], "skipped")
        self.assertEqual(n["after"]["deps"], ["flaky", "victim"])
        return r, page

    def test_page_of_a_run_draws_every_attempt(self):
        r, page = self.run_with_faults()
        with browser.Browser() as b:
            tab = b.open("file://" + page, ready=READY)
            t = tab.evaluate("({bars: zdagTimeline.bars, drawn: zdagTimeline.drawn,"
                             " lanes: zdagTimeline.lanes, hosts: zdagTimeline.hosts,"
                             " critical: zdagTimeline.critical,"
                             " byNode: zdagTimeline.drawnByNode(),"
                             " byClass: zdagTimeline.drawnByClass(),"
                             " pipeline: document.getElementById('pipeline').textContent,"
                             " summary: document.getElementById('summary').innerText})")
            total = sum(len(n["history"]) for n in r["nodes"])
            self.assertEqual(t["bars"], total)
            self.assertEqual(t["drawn"], total)
            self.assertEqual(t["byNode"], attempts_by_node(r))
            self.assertEqual(t["byClass"], {"ok": 4, "retried": 1, "failed": 1, "lost": 1})
            self.assertEqual(t["pipeline"], r["pipeline"])  # "</script>" did not end the JSON
            lanes = {(a["host"], a["executor"]) for n in r["nodes"] for a in n["history"]}
            self.assertEqual(t["lanes"], len(lanes))
            self.assertEqual(t["hosts"], sorted({h for h, _ in lanes}))
            # The critical path: a chain of deps ending with the node that ended last.
            crit, n = t["critical"], nodes_by_name(r)
            self.assertEqual(crit[-1], max(r["nodes"], key=lambda x: x["end_s"] or -1)["name"])
            for a, b_ in zip(crit, crit[1:]):
                self.assertIn(a, n[b_]["deps"])
            self.assertEqual(crit[0], "prepare")
            self.assertIn("6", t["summary"])  # six nodes
            self.hover_and_click(tab)
            png = tab.screenshot(os.environ.get("ZDAG_TEST_SHOT") or self.path("shot.png"))
            w, h = png_size(png)
            self.assertGreaterEqual((w, h), (1000, 600))
            self.assertGreater(len(png), 20000)
            self.assertEqual(tab.problems, [])
            self.assertEqual(tab.requests, ["file://" + page])

    def hover_and_click(self, tab):
        """Hovering over victim's lost attempt tells of it; a click shows its deps."""
        rect = tab.evaluate("zdagTimeline.barRect('victim', 1)")
        self.assertIsNotNone(rect)
        x, y = rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2
        tab.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        tab.wait_for("!document.getElementById('tip').hidden", timeout=10)
        tip = tab.evaluate("document.getElementById('tip').innerText")
        self.assertIn("victim", tip)
        self.assertIn("attempt 1/2, lost", tip)
        self.assertIn("deps: prepare", tip)
        for kind in ("mousePressed", "mouseReleased"):
            tab.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                  "button": "left", "clickCount": 1})
        tab.wait_for("document.getElementById('details').innerText.indexOf('victim') >= 0",
                     timeout=10)
        details = tab.evaluate("document.getElementById('details').innerText")
        self.assertIn("deps\tprepare", details.replace("\n", "\t"))
        self.assertIn("dependents\tafter", details.replace("\n", "\t"))
        self.assertIn("lost", details)

    def test_report_command_writes_the_same_page(self):
        r, page = self.run_with_faults()
        again = self.path("again.html")
        self.zdag("report", self.path("report.json"), "--html", again, check=0)
        with open(page) as a, open(again) as b_:
            self.assertEqual(a.read(), b_.read())

    def test_page_of_a_run_that_could_not_start(self):
        """Every run that writes --report writes --html: here the state directory is a file."""
        self.write("pipe.yaml", "nodes:\n  a: {cmd: 'true'}\n")
        self.write("state", "not a directory")
        page = self.path("t.html")
        self.zdag("run", "pipe.yaml", "--state-dir", "state", "--html", page, check=3)
        with browser.Browser() as b:
            tab = b.open("file://" + page, ready=READY)
            self.assertEqual(tab.evaluate("zdagTimeline.bars"), 0)
            self.assertEqual(tab.evaluate("document.getElementById('status').textContent"),
                             "error")
            self.assertIn("state", tab.evaluate("document.getElementById('run-error')"
                                                ".textContent"))
            self.assertEqual(tab.problems, [])

    def test_100k_nodes(self):
        """A synthesized report of 100,000 nodes on 16 executors of two hosts, chained so that
        the critical path is long, with retries and lost attempts: zdag report writes it, the
        page loads, draws every bar and answers a zoom within generous bounds."""
        rnd = random.Random(13)
        nodes, free = [], [0.0] * 16
        for i in range(100000):
            lane = i % 16
            deps = [f"n{i - 16}"] if i >= 16 else []
            history = []
            tries = 3 if i % 997 == 0 else 2 if i % 101 == 0 else 1
            for k in range(tries):
                ready = free[lane]
                start = ready + rnd.random() * 0.002
                end = start + 0.001 + rnd.random() * 0.01
                free[lane] = end
                outcome = ("succeeded" if k == tries - 1 else
                           "lost" if i % 997 == 0 and k == 0 else "failed")
                history.append({"attempt": k + 1, "host": f"host{lane // 8}",
                                "executor": lane % 8, "ready_s": ready, "start_s": start,
                                "end_s": end, "outcome": outcome})
            last = history[-1]
            nodes.append({"name": f"n{i}", "status": "succeeded", "attempts": tries,
                          "host": last["host"], "executor": last["executor"],
                          "start_s": last["start_s"], "end_s": last["end_s"], "exit_code": 0,
                          "error": None, "deps": deps, "history": history})
        report = {"pipeline": "big.yaml", "status": "succeeded", "exit_code": 0,
                  "started_at": "2026-12-03T00:00:00Z", "wall_s": max(free), "jobs": 16,
                  "nodes": nodes}
        path, page = self.path("big.json"), self.path("big.html")
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
        start = time.monotonic()
        self.zdag("report", path, "--html", page, check=0, timeout=300)
        self.assertLess(time.monotonic() - start, 120)
        total = sum(len(n["history"]) for n in nodes)
        with browser.Browser() as b:
            start = time.monotonic()
            tab = b.open("file://" + page, ready=READY, timeout=180)
            loaded = time.monotonic() - start
            self.assertLess(loaded, 120, "the page took too long to load and draw")
            t = tab.evaluate("({bars: zdagTimeline.bars, drawn: zdagTimeline.drawn,"
                             " lanes: zdagTimeline.lanes, loadMs: zdagTimeline.loadMs,"
                             " critical: zdagTimeline.critical.length,"
                             " byClass: zdagTimeline.drawnByClass(),"
                             " elements: document.getElementsByTagName('*').length})")
            self.assertEqual(t["bars"], total)
            self.assertEqual(t["drawn"], total)
            self.assertEqual(t["lanes"], 16)
            self.assertEqual(t["critical"], 100000 // 16)  # one lane's chain
            retried = sum(1 for n in nodes for a in n["history"] if a["outcome"] == "failed")
            lost = sum(1 for n in nodes for a in n["history"] if a["outcome"] == "lost")
            self.assertEqual(t["byClass"], {"ok": 100000, "retried": retried, "lost": lost})
            self.assertLess(t["elements"], 2000, "the page made DOM elements per node")
            by_node = tab.evaluate("zdagTimeline.drawnByNode()")
            self.assertEqual(by_node, attempts_by_node(report))
            # Zoomed in to a tenth, the page draws about a tenth, quickly.
            tab.evaluate("document.getElementById('zoom-in').click();"
                         " new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
            z = tab.evaluate("({drawn: zdagTimeline.drawn, ms: zdagTimeline.drawMs})")
            self.assertLess(z["drawn"], total)
            self.assertLess(z["ms"], 5000)
            self.assertEqual(tab.problems, [])
        print(f"100k nodes: page loaded in {loaded:.1f} s (script {t['loadMs'] / 1000:.1f} s), "
              f"zoomed redraw {z['ms']:.0f} ms", file=sys.stderr)


class HtmlOptionsTest(ZdagTestCase):
    """What needs no browser: the paths checked before the run, bad reports refused."""

    def test_unwritable_html_path_stops_the_run_before_any_node(self):
        mark = self.path("ran")
        self.write("pipe.yaml", f"nodes:\n  a: {{cmd: 'touch {mark}'}}\n")
        p = self.zdag("run", "pipe.yaml", "--html", "/nonexistent/t.html", check=2)
        self.assertIn("cannot write the HTML timeline /nonexistent/t.html: its directory "
                      "/nonexistent", p.stderr)
        self.assertFalse(os.path.exists(mark))
        os.mkdir(self.path("dir.html"))
        p = self.zdag("run", "pipe.yaml", "--html", "dir.html", check=2)
        self.assertIn("cannot write the HTML timeline dir.html: it is a directory", p.stderr)
        self.assertFalse(os.path.exists(mark))

    def test_html_without_report(self):
        """--html alone: the page holds the report --report would have written."""
        self.write("pipe.yaml", "nodes:\n  a: {cmd: 'true'}\n  b: {cmd: 'exit 4', deps: [a]}\n")
        self.zdag("run", "pipe.yaml", "--html", "t.html", check=1)
        with open(self.path("t.html")) as f:
            page = f.read()
        start = page.index('<script type="application/json" id="zdag-report">')
        text = page[page.index(">", start) + 1:page.index("</script>", start)]
        r = json.loads(text)
        self.assertEqual(r["status"], "failed")
        self.assertEqual([(n["name"], n["status"], n["deps"]) for n in r["nodes"]],
                         [("a", "succeeded", []), ("b", "failed", ["a"])])
        self.assertFalse(os.path.exists(self.path("report.json")))

    def test_report_refuses_what_is_not_a_report(self):
        self.write("bad.json", '{"nodes": [\n  {"name": "a"},\n  {"name": }\n]}\n')
        p = self.zdag("report", "bad.json", "--html", "t.html", check=2)
        self.assertRegex(p.stderr, r"bad.json:3:12: error: not JSON: ")
        self.write("other.json", '{"traceEvents": []}')
        p = self.zdag("report", "other.json", "--html", "t.html", check=2)
        self.assertIn('other.json: error: not a zdag report: it has no "nodes" list', p.stderr)
        p = self.zdag("report", "missing.json", "--html", "t.html", check=2)
        self.assertIn("cannot read the report missing.json", p.stderr)
        p = self.zdag("report", "other.json", check=2)
        self.assertIn("usage: zdag report REPORT.json --html FILE", p.stderr)
        self.assertFalse(os.path.exists(self.path("t.html")))
        self.write("ok.json", '{"nodes": []}')
        p = self.zdag("report", "ok.json", "--html", "/nonexistent/t.html", check=3)
        self.assertIn("cannot write the HTML timeline /nonexistent/t.html", p.stderr)


if __name__ == "__main__":
    unittest.main()
