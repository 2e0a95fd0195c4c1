"""Cold page loads in Chromium: bytes over the wire and time until every chart is drawn (issue 11).

    .venv/bin/python benchmarks/bench_page_weight.py [--days 60] [--repeat 3]

Writes the demo history into a temporary SQLite file, serves it with `suitehealth serve` (real
gunicorn), and loads each page in a fresh browser context (empty cache) --repeat times. Bytes are the
encoded (compressed) sizes Chromium received for the page and everything it loaded; time runs from
navigation start until the HTML arrived (the server's share) and until every chart on the page is
drawn. Prints medians; never asserts.
Targets from the issue: <= 600 KB and <= 1 s per cold load.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PAGES = ["/", "/projects/{p}", "/projects/{p}/runs", "/projects/{p}/runs/{run}", "/projects/{p}/pyramid",
         "/projects/{p}/budget", "/projects/{p}/flaky", "/projects/{p}/suspects", "/projects/{p}/weekly"]
CHROMIUM = "/usr/bin/chromium"


def cold_load(browser, url: str) -> tuple[int, float, float]:
    """Load ``url`` in a new context; return (bytes received, ms until the HTML arrived, ms until every
    chart is drawn)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    received: list[float] = []
    cdp.on("Network.loadingFinished", lambda e: received.append(e["encodedDataLength"]))
    page.goto(url)
    page.wait_for_function("[...document.querySelectorAll('[data-chart]')].every(e => "
                           "e.classList.contains('chart-ready') && e.querySelector('.main-svg'))")
    ms = page.evaluate("performance.now()")
    html_ms = page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
    page.wait_for_load_state("networkidle")
    context.close()
    return int(sum(received)), html_ms, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from dashboard.demo import write_demo
    from ingest.db import ensure_schema, make_engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-weight-"))
    db = f"sqlite:///{tmp / 'demo.db'}"
    engine = make_engine(db)
    ensure_schema(engine)
    write_demo(engine, project="acme-shop", days=args.days)
    from sqlalchemy import text

    with engine.connect() as conn:
        run = conn.execute(text("SELECT max(id) FROM runs")).scalar()
    engine.dispose()

    port = 8765
    exe = str(Path(sys.executable).parent / "suitehealth")
    server = subprocess.Popen([exe, "--db", db, "serve", "--port", str(port), "--workers", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            print(f"{'page (medians)':34} {'KB':>6} {'ms to HTML':>11} {'ms to charts':>13}")
            for template in PAGES:
                path = template.format(p="acme-shop", run=run)
                cold_load(browser, base + path)  # warm the server's caches, not the browser's
                sizes, html, charts = zip(*(cold_load(browser, base + path) for _ in range(args.repeat)),
                                          strict=True)
                print(f"{path:34} {statistics.median(sizes) / 1024:6.0f} {statistics.median(html):11.0f} "
                      f"{statistics.median(charts):13.0f}")
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
