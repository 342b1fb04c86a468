#!/usr/bin/env python3
"""Usage Analysis page benchmark: time to first chart and page weight.

1. Unless --lake already holds one: `usagelake demo --generate-only` writes
   --events Segment events over --days days ending --end-date, `usagelake
   ingest` turns them into a lake and `usagelake run metrics --date END`
   derives the metric tables (not timed, but printed).
2. `usagelake ui` serves the lake on a loopback port. Debian's chromium,
   driven by chromedriver through the W3C WebDriver HTTP API (no client
   library), opens /ui/ --repeat times, each in a new browser session with
   an empty profile (nothing cached). The page notes performance.now()
   (milliseconds since navigation began) when it draws its first chart
   (window.__ui.firstChartMs) and when the first tab is complete
   (window.__ui.readyMs). The first load after the server starts is
   reported on its own (the lake's first queries); the others as a median.
   Each tab is then opened once and timed from the click until it is
   complete.
3. Page weight from Resource Timing: the bytes of every file and API answer
   as sent (encodedBodySize: gzip, chromium accepts it) and decoded
   (decodedBodySize), for the overview as first opened.
4. `usagelake report` for the same lake: wall time and file size.

  cargo build --release --locked
  python3 bench/ui.py --events 10000000 --workdir /tmp/ui-bench
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from ingest import timed

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TABS = ["overview", "features", "engagement", "retention", "data_products", "platform"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read() or b"null")


class Browser:
    """One chromedriver and a fresh chromium session per `session()`."""

    def __init__(self):
        self.port = free_port()
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while True:
            try:
                if http("GET", self.base + "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("chromedriver did not start")
            time.sleep(0.1)
        self.session = None
        self.profile = None

    def start(self):
        self.profile = tempfile.mkdtemp(prefix="usagelake-ui-bench-profile-")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={self.profile}"]}}}}
        created = http("POST", self.base + "/session", caps)
        self.session = f"{self.base}/session/{created['value']['sessionId']}"
        # Also notes the first chart's canvas from outside the page, for a
        # binary whose page does not record window.__ui.firstChartMs.
        self.call("POST", "/goog/cdp/execute", {"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": FIRST_CANVAS}})
        return created["value"]["capabilities"].get("browserVersion", "?")

    def stop(self):
        if self.session:
            http("DELETE", self.session)
            self.session = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method, path, body=None):
        value = http(method, self.session + path, body)["value"]
        if isinstance(value, dict) and "error" in value:
            sys.exit(f"webdriver {path}: {value}")
        return value

    def exec(self, script):
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def wait_ready(self, timeout=600):
        deadline = time.time() + timeout
        while True:
            state = self.exec("return document.body.dataset.state")
            if state == "ready":
                return
            if state == "failed":
                sys.exit("page failed: " + self.exec("return document.getElementById('status').textContent"))
            if time.time() > deadline:
                sys.exit("page not ready in time")
            time.sleep(0.02)

    def quit(self):
        self.stop()
        os.killpg(self.driver.pid, signal.SIGTERM)
        self.driver.wait()


FIRST_CANVAS = """
new MutationObserver(function (changes, observer) {
  if (document.querySelector('.chart canvas')) { window.__firstCanvasMs = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""

WEIGHT = """
var nav = performance.getEntriesByType('navigation')[0];
var all = [nav].concat(performance.getEntriesByType('resource'));
return all.map(function (e) {
  return {name: e.name.replace(location.origin, ''), sent: e.encodedBodySize, decoded: e.decodedBodySize};
});
"""


def build_lake(args, work, lake):
    data = os.path.join(work, "data")
    run = lambda *a: timed([args.bin, "--lake", lake] + list(a))
    if not os.path.isdir(os.path.join(data, "segment-logs")):
        secs, rss, _, _ = run("demo", "--generate-only", "--events", str(args.events), "--days", str(args.days),
                              "--end-date", args.end_date, "--data", data)
        print(f"generated {args.events:,} events over {args.days} days: {secs:.1f} s")
    secs, rss, _, _ = run("ingest", os.path.join(data, "segment-logs"))
    print(f"ingest: {secs:.1f} s, {rss:,.0f} MiB")
    secs, rss, _, _ = run("run", "metrics", "--date", args.end_date)
    print(f"metrics job for {args.end_date}: {secs:.1f} s, {rss:,.0f} MiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--end-date", default="2026-11-20")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--workdir", default=None, help="kept between runs: the lake is built once")
    ap.add_argument("--repeat", type=int, default=5, help="page loads, each in a fresh browser session")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="usagelake-ui-bench-")
    os.makedirs(work, exist_ok=True)
    lake = os.path.join(work, f"lake-{args.events}")
    print(f"machine: {os.cpu_count()} cores; usagelake {args.bin}; workdir {work}")
    if not os.path.isdir(os.path.join(lake, "tables", "dau")):
        build_lake(args, work, lake)
    out = subprocess.run([args.bin, "--lake", lake, "tables"], capture_output=True, text=True, check=True, cwd=work)
    print(out.stdout)

    server = subprocess.Popen([args.bin, "--lake", lake, "ui", "--listen", "127.0.0.1:0"], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    if "listening on" not in line:
        sys.exit(f"usagelake ui did not start: {line!r}")
    url = line.split("listening on ")[1].strip()
    browser = Browser()
    try:
        loads = []
        for i in range(args.repeat):
            version = browser.start()
            browser.call("POST", "/url", {"url": url})
            browser.wait_ready()
            first = browser.exec("return window.__ui.firstChartMs === undefined ? window.__firstCanvasMs : window.__ui.firstChartMs")
            ready = browser.exec("return window.__ui.readyMs === undefined ? performance.now() : window.__ui.readyMs")
            loads.append((first, ready))
            if i == 0:
                weights = browser.exec(WEIGHT)
                tabs = []
                for tab in TABS[1:] + TABS[:1]:
                    started = time.perf_counter()
                    browser.call("POST", "/element/" + browser.call(
                        "POST", "/element", {"using": "css selector", "value": f"#tab-{tab}"}
                    )["element-6066-11e4-a52e-4f735466cecf"] + "/click", {})
                    browser.wait_ready()
                    tabs.append((tab, (time.perf_counter() - started) * 1000))
            browser.stop()
        print(f"chromium {version}, {args.repeat} loads of /ui/ (overview), each in a new profile")
        print(f"first load after the server started: first chart {loads[0][0]:,.0f} ms, tab complete {loads[0][1]:,.0f} ms")
        if len(loads) > 1:
            rest = loads[1:]
            print(f"later loads, median: first chart {statistics.median(l[0] for l in rest):,.0f} ms, "
                  f"tab complete {statistics.median(l[1] for l in rest):,.0f} ms "
                  f"(min {min(l[0] for l in rest):,.0f}, max {max(l[0] for l in rest):,.0f})")
        print("tab switches (click to complete): " + ", ".join(f"{t} {ms:,.0f} ms" for t, ms in tabs))
        sent = sum(w["sent"] for w in weights)
        decoded = sum(w["decoded"] for w in weights)
        print("page weight of the overview as first opened (bytes sent / decoded):")
        for w in weights:
            print(f"  {w['name']:<60} {w['sent']:>10,} {w['decoded']:>10,}")
        print(f"  {'total':<60} {sent:>10,} {decoded:>10,}  ({decoded / max(sent, 1):.1f}x smaller sent)")
    finally:
        browser.quit()
        server.terminate()
        server.wait()

    report = os.path.join(work, "usage.html")
    secs, rss, _, _ = timed([args.bin, "--lake", lake, "report", "--out", report])
    print(f"usagelake report: {secs:.1f} s, {rss:,.0f} MiB, {os.path.getsize(report):,} bytes")


if __name__ == "__main__":
    main()
