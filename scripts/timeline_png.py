#!/usr/bin/env python3
"""Makes docs/timeline.png, the README's picture of the HTML timeline: runs the seed example
(examples/quickstart.yaml) with --html, opens the page in headless chromium, clicks node E's bar
(its details and deps), moves the pointer away and takes a screenshot of the whole page.

    python3 scripts/timeline_png.py build/zdag docs/timeline.png
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import browser  # noqa: E402


def main(zdag, out):
    with tempfile.TemporaryDirectory(prefix="zdag-png-") as tmp:
        page = os.path.join(tmp, "timeline.html")
        subprocess.run([zdag, "run", "examples/quickstart.yaml", "-q", "--state-dir",
                        os.path.join(tmp, "state"), "--html", page], cwd=ROOT, check=True)
        with browser.Browser(width=1280, height=860) as b:
            tab = b.open("file://" + page, ready="window.zdagTimeline && zdagTimeline.ready")
            r = tab.evaluate("zdagTimeline.barRect('E', 1)")
            x, y = r["x"] + r["w"] / 2, r["y"] + r["h"] / 2
            for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
                tab.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                      "button": "left", "clickCount": 1})
            tab.wait_for("document.getElementById('details').innerText.indexOf('E') >= 0")
            tab.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 5, "y": 5})
            tab.wait_for("document.getElementById('tip').hidden")
            tab.screenshot(out)
            if tab.problems:
                sys.exit(f"the page said: {tab.problems}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: timeline_png.py ZDAG OUT.png")
    main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
