"""Chromium walks the dashboard served by real gunicorn: charts render, links lead overview -> run -> test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from history import build_history

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHART_DRAWN = ".chart-ready .main-svg"


def shoot(page, tmp_path: Path, name: str) -> None:
    """Save a full-page screenshot (also to $SUITEHEALTH_SCREENSHOT_DIR when set, for humans)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    extra = os.environ.get("SUITEHEALTH_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(extra) / f"{name}.png"), full_page=True)


def test_walk_from_overview_to_a_run_to_a_test_with_charts_drawn_and_names_escaped(
        sqlite_engine, sqlite_url, server_factory, page, tmp_path):
    history = build_history(sqlite_engine)
    server = server_factory(sqlite_url, workers=2)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(server.url + "/")
    page.click("text=shop")
    page.wait_for_url(lambda url: url.endswith("/projects/shop"))
    page.wait_for_selector(CHART_DRAWN)
    assert page.locator(".suite-card").count() == 2
    shoot(page, tmp_path, "overview")

    page.click(f'.suite-card a[href="/projects/shop/runs/{history.timed_run}"]')
    page.wait_for_url(lambda url: url.endswith(f"/projects/shop/runs/{history.timed_run}"))
    page.wait_for_selector(CHART_DRAWN)
    assert page.locator("#chart-timeline .main-svg").count() >= 1
    assert "Run #" in page.locator("h1").inner_text()
    shoot(page, tmp_path, "run")

    page.click(".failure a.nodeid")
    page.wait_for_url(lambda url: "/projects/shop/tests?nodeid=" in url)
    page.wait_for_selector(CHART_DRAWN)
    assert page.locator("h1").inner_text() == history.integration_tests[0]
    assert page.locator(".strip .cell").count() == len(history.run_ids["integration"])
    shoot(page, tmp_path, "test")
    assert errors == []

    # Test names and failure messages stay text: no injected element, no script run.
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/projects/shop/runs/{history.failing_run}")
    assert "<script>alert('x')</script>" in page.locator(".failure pre").first.inner_text()
    assert page.locator("td.nodeid b").count() == 0
    assert "<b>bold</b>" in page.locator("td.nodeid", has_text="test_renders").inner_text()
    assert dialogs == [] and errors == []
