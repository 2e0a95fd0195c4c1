"""Chromium draws every chart of every page from the one house theme, with no script error."""

from __future__ import annotations

import pytest
from history import START, build_history

from dashboard.analysis.weeks import week_of
from dashboard.worker import run_once

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_every_chart_on_every_page_is_drawn(sqlite_engine, sqlite_url, server_factory, page):
    history = build_history(sqlite_engine)
    run_once(sqlite_engine)  # the stored flake states behind /flaky's chart
    server = server_factory(sqlite_url, workers=1, no_worker=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    week = week_of(START).label
    pages = ["/projects/shop", "/projects/shop/runs", f"/projects/shop/runs/{history.timed_run}",
             f"/projects/shop/tests?nodeid={history.integration_tests[0]}", "/projects/shop/pyramid",
             "/projects/shop/budget?suite=integration", "/projects/shop/flaky",
             f"/projects/shop/weekly?week={week}"]
    drawn = {}
    for path in pages:
        page.goto(server.url + path)
        charts = page.locator("[data-chart]")
        expected = charts.count()
        if expected:
            page.wait_for_function("n => document.querySelectorAll('[data-chart].chart-ready .main-svg')"
                                   ".length >= n", arg=expected)
        drawn[path] = expected
        # Every drawn figure carries the house font.
        fonts = page.evaluate("() => Array.from(document.querySelectorAll('[data-chart].chart-ready'))"
                              ".map(el => el.layout.font.family)")
        assert len(set(fonts)) <= 1 and all("system-ui" in f for f in fonts), (path, fonts)
    assert errors == []
    assert all(drawn[p] for p in pages), drawn

