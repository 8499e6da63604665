"""A real browser for tests: Debian's chromium, headless, driven over the DevTools protocol on a
pipe (--remote-debugging-pipe: commands in on fd 3, answers out on fd 4, each a JSON message
ended by a NUL byte). Standard library only.

    with Browser() as b:
        page = b.open("file:///.../timeline.html", ready="window.zdagTimeline.ready")
        page.evaluate("window.zdagTimeline.bars")
        page.screenshot("shot.png")
        page.problems  # console errors, uncaught exceptions, requests that are not file://
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    """The path of a chromium to run, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    pass


class Page:
    """One tab, attached in flat mode (its messages carry its sessionId)."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session
        self.problems = []  # what a page that works says nothing of
        self.requests = []  # every URL the page asked for
        self.loaded = False

    def send(self, method, params=None, timeout=60):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def on_event(self, method, params):
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.problems.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            what = d.get("exception", {}).get("description") or d.get("text")
            self.problems.append(f"uncaught exception at {d.get('lineNumber')}:"
                                 f"{d.get('columnNumber')}: {what}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.problems.append(f"log error: {params['entry'].get('text')} "
                                 f"({params['entry'].get('url', '')})")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            self.requests.append(url)
            if not url.startswith(("file://", "data:", "about:")):
                self.problems.append(f"network request: {url}")
        elif method == "Page.loadEventFired":
            self.loaded = True

    def evaluate(self, expression, timeout=60):
        """The JSON value of a JavaScript expression (promises awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=60):
        """Waits until expression is truthy; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.evaluate(f"!!({expression})", timeout=timeout):
                return time.monotonic() - start
            time.sleep(0.05)
        raise BrowserError(f"{expression} still false after {timeout} s; problems: "
                           f"{self.problems}")

    def screenshot(self, path, full_page=True):
        """Writes a PNG of the page (the whole of it with full_page) to path."""
        params = {"format": "png"}
        if full_page:
            size = self.evaluate("[document.documentElement.scrollWidth,"
                                 " document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data


class Browser:
    """A headless chromium of its own (its own profile directory), ended by close()."""

    def __init__(self, path=None, width=1400, height=900):
        self.path = path or find_chromium()
        if not self.path:
            raise BrowserError("no chromium found")
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="zdag-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():  # the child's fd 3 reads commands, fd 4 writes answers
            a = os.dup(to_browser_r)
            b = os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # As root (CI), chromium needs --no-sandbox; --headless needs no display.
        args = [self.path, "--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only", "--mute-audio",
                f"--window-size={width},{height}", "about:blank"]
        self.log = open(os.path.join(self.profile, "stderr.log"), "w+")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, preexec_fn=fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b""
        self.pages = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise BrowserError("chromium did not answer in time")
            import select
            ready, _, _ = select.select([self.from_browser], [], [], 0.5)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    self.log.seek(0)
                    raise BrowserError("chromium closed its pipe: " + self.log.read()[-2000:])
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=None, timeout=60):
        """Sends a command; handles events until its answer comes; returns its result."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.to_browser, data):]
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if "id" not in m:
                page = self.pages.get(m.get("sessionId"))
                if page:
                    page.on_event(m["method"], m.get("params", {}))
                continue
            if m["id"] == self.next_id:
                if "error" in m:
                    raise BrowserError(f"{method}: {m['error']}")
                return m.get("result", {})

    def open(self, url, ready=None, timeout=120):
        """A new tab showing url, its problems recorded from the start. With ready, waits
        until that expression is truthy (and raises when it never is)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Runtime", "Log", "Page", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False})
        page.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not page.loaded:
            page.evaluate("1", timeout=max(1, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not load in {timeout} s")
        if ready:
            page.wait_for(ready, timeout=max(1, deadline - time.monotonic()))
        return page

    def close(self):
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", timeout=10)
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_browser, self.from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
