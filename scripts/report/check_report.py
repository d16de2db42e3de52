#!/usr/bin/env python3
"""Opens an `rnnkit report` page in headless Chromium, as a person would, and checks it.

Drives Debian's `chromium` over the DevTools protocol on a pipe (--remote-debugging-pipe), so it
needs nothing from PyPI. Checks, and prints as JSON on standard output:

- the file is at most --max-bytes long;
- the page loads with no console error, no uncaught exception and no request other than the file
  itself (the report must be self-contained: no network, no CDN);
- every heatmap (`svg.heatmap`) has a non-empty bounding box, and there are at least
  --min-heatmaps of them;
- every chart SVG (`svg.chart`) has a non-empty bounding box;
- pointing at the first heatmap makes the page name the block under the pointer.

With --png it saves a screenshot (the whole page, or --clip-height pixels from --clip-top or from
the top of the --clip-from element down).
Exits 0 when every check passes, 1 when one fails, 2 when Chromium cannot be run.

Usage: check_report.py REPORT.html [--png OUT.png] [--min-heatmaps N] [--max-bytes B]
                       [--width 1200] [--clip-height PX] [--timeout 120]
"""

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    """A headless Chromium talking the DevTools protocol over fds 3 (commands) and 4 (replies)."""

    def __init__(self, executable, timeout):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()

        def wire():
            # Move both ends above the low fds first, so the dup2 calls cannot clobber each other.
            high_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            high_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        arguments = [
            executable,
            "--headless=new",
            "--remote-debugging-pipe",
            # Root in a container has no user namespace for the sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # Nothing may be fetched: any host name resolves to nothing.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--allow-file-access-from-files",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        """Sends a command and waits for its reply, keeping every event that arrives meanwhile."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, deadline):
        """Waits for an event called `method` (it may have arrived already)."""
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} event")
            self.events.append(self.receive(deadline))

    def receive(self, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"Chromium closed the pipe: {error.strip()[-2000:]}")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


CHECK_SCRIPT = """
(() => {
  const boxes = (selector) => Array.from(document.querySelectorAll(selector)).map((svg) => {
    const box = svg.getBoundingClientRect();
    return {id: svg.id || svg.getAttribute('aria-label') || '', width: box.width, height: box.height};
  });
  return JSON.stringify({
    title: document.title,
    heatmaps: boxes('svg.heatmap'),
    charts: boxes('svg.chart'),
    sections: Array.from(document.querySelectorAll('section > h2')).map((h) => h.textContent),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  });
})()
"""


POINT_SCRIPT = """
(() => {
  const svg = document.querySelector('svg.heatmap');
  svg.scrollIntoView({block: 'center'});
  const box = svg.getBoundingClientRect();
  return JSON.stringify({x: box.left + box.width / 2, y: box.top + box.height / 2, probe: svg.id + '-probe'});
})()
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("--png")
    parser.add_argument("--min-heatmaps", type=int, default=1)
    parser.add_argument("--max-bytes", type=int, default=5_000_000)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--clip-height", type=int, default=0, help="screenshot only PX pixels of height (0: all)")
    parser.add_argument("--clip-top", type=int, default=0, help="the screenshot starts this far down the page")
    parser.add_argument("--clip-from", help="the screenshot starts at the top of this CSS selector's element")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("chromium is not installed (scripts/bootstrap.sh --python installs Debian's chromium)", file=sys.stderr)
        return 2

    path = os.path.abspath(args.report)
    size = os.path.getsize(path)
    failures = []
    if size > args.max_bytes:
        failures.append(f"the page is {size} bytes, over the bound of {args.max_bytes}")

    browser = Browser(executable, args.timeout)
    try:
        started = time.monotonic()
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": args.width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.events.clear()
        url = "file://" + path
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired", time.monotonic() + args.timeout)
        load_seconds = time.monotonic() - started
        result = json.loads(
            browser.send("Runtime.evaluate", {"expression": CHECK_SCRIPT, "returnByValue": True}, session=session)[
                "result"
            ]["value"]
        )
        # Point at the middle of the first heatmap, as a person would, and read what the page says.
        hover = None
        if result["heatmaps"]:
            box = json.loads(
                browser.send("Runtime.evaluate", {"expression": POINT_SCRIPT, "returnByValue": True}, session=session)[
                    "result"
                ]["value"]
            )
            browser.send(
                "Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box["x"], "y": box["y"]}, session=session
            )
            hover = browser.send(
                "Runtime.evaluate",
                {"expression": "document.getElementById(" + json.dumps(box["probe"]) + ").textContent", "returnByValue": True},
                session=session,
            )["result"]["value"]
            if not hover.startswith("rows "):
                failures.append(f"pointing at a heatmap shows {hover!r}, not the block under the pointer")
            browser.send("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"}, session=session)

        # Events that arrived after the load (a late script error, say) are collected by one more
        # round trip.
        browser.send("Runtime.evaluate", {"expression": "1"}, session=session)

        console_errors = []
        requests = []
        for event in browser.events:
            method = event.get("method")
            params = event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                console_errors.append(details.get("exception", {}).get("description") or details.get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                console_errors.append(params["entry"].get("text"))
            elif method == "Network.requestWillBeSent":
                requested = params.get("request", {}).get("url", "")
                if requested != url and not requested.startswith("data:"):
                    requests.append(requested)

        if console_errors:
            failures.append(f"console errors: {console_errors}")
        if requests:
            failures.append(f"the page requested other resources: {requests}")
        if len(result["heatmaps"]) < args.min_heatmaps:
            failures.append(f"{len(result['heatmaps'])} heatmaps, expected at least {args.min_heatmaps}")
        for kind in ("heatmaps", "charts"):
            for box in result[kind]:
                if not (box["width"] > 0 and box["height"] > 0):
                    failures.append(f"{kind[:-1]} {box['id']!r} has an empty bounding box {box}")

        if args.png:
            top = args.clip_top
            if args.clip_from:
                top = browser.send(
                    "Runtime.evaluate",
                    {
                        "expression": "Math.round(document.querySelector("
                        + json.dumps(args.clip_from)
                        + ").getBoundingClientRect().top + window.scrollY)",
                        "returnByValue": True,
                    },
                    session=session,
                )["result"]["value"]
            top = min(max(top, 0), result["height"] - 1)
            left = result["height"] - top
            height = left if args.clip_height <= 0 else min(args.clip_height, left)
            shot = browser.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": top, "width": args.width, "height": height, "scale": 1},
                },
                session=session,
            )
            with open(args.png, "wb") as out:
                out.write(base64.b64decode(shot["data"]))
    finally:
        browser.close()

    print(
        json.dumps(
            {
                "bytes": size,
                "load_seconds": round(load_seconds, 3),
                "title": result["title"],
                "sections": result["sections"],
                "heatmaps": result["heatmaps"],
                "charts": len(result["charts"]),
                "hover": hover,
                "page_height": result["height"],
                "console_errors": console_errors,
                "requests": requests,
                "failures": failures,
            },
            indent=1,
        )
    )
    for failure in failures:
        print(f"check_report: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
