"""Absurd GET parameters on every route in the URL map, on both backends: a 4xx or a page, never 5xx."""

from __future__ import annotations

import re

import pytest
from input_helpers import json_test, pytest_json

from dashboard import create_app
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

HUGE = "99999999999999999999"
# Every query parameter any view reads, each with values that overflow, underflow or carry NUL.
ABSURD_QUERIES = [
    "until=9999-12-31", "since=9999-12-31", "since=0001-01-01", "until=0001-01-01", "since=10000-01-01",
    f"page={HUGE}", f"offset={HUGE}", f"limit={HUGE}", "page=-1", "offset=-5", "limit=0", f"page=-{HUGE}",
    "week=9999-W52", "week=0001-W01", "week=2026-W99", "week=0000-W00", "week=9999W1",
    "sort=%00", "dir=%00", "outcome=%00", "nodeid=%00", "q=%00", "suite=%00", "branch=%00", "week=%00",
    "since=%00", "page=%00", "%00=1", "nodeid=" + "x" * 5000, "q=" + "%25" * 100, "suite=" + "s" * 3000,
    "page=1e3", "limit=1.5", "sort=duration&dir=sideways", "outcome=exploded", "sort=" + "a" * 300,
]
ABSURD_PROJECTS = ["%00", "p%00", "a" * 3000, "%2F%2F", "..%2F..", "%FF%FE", "%E2%80%AE"]


def _app(engine):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       "REFRESH_AFTER_UPLOAD": False})


def _urls(app, run_id: int) -> list[str]:
    """Every GET rule of the app, filled with real and absurd path values, times absurd queries."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        path = rule.rule
        if "<path:filename>" in path or "<name>" in path:  # static files and vendored assets
            for name in ("%00", "..%2F..%2Fetc%2Fpasswd", "x" * 300):
                urls.append(re.sub(r"<[^>]+>", name, path))
            continue
        projects = ["p", *ABSURD_PROJECTS] if "<path:project>" in path else [None]
        run_ids = [str(run_id), HUGE, "0", "-1", str(2**63)] if "<int:run_id>" in path else [None]
        for project in projects:
            for rid in run_ids:
                filled = path.replace("<path:project>", project or "").replace("<int:run_id>", rid or "")
                urls.append(filled)
                if project == "p" and rid in (None, str(run_id)):
                    urls += [f"{filled}?{query}" for query in ABSURD_QUERIES]
    return urls


def test_every_route_answers_absurd_parameters_without_5xx(engine):
    summary = ingest_sources(engine, [ReportSource.from_bytes("r.json", pytest_json(
        [json_test("t.py::test_ok"), json_test("t.py::test_bad", "failed")]))], RunMeta(project="p"))
    app = _app(engine)
    client = app.test_client()
    urls = _urls(app, summary.run_id)
    answers = {url: client.get(url).status_code for url in urls}
    server_errors = {url: status for url, status in answers.items() if status >= 500}
    assert len(urls) > 500
    assert server_errors == {}
    # The absurd values are refused (400/404), the ordinary ones still served.
    assert answers[f"/projects/p/runs/{summary.run_id}"] == 200
    assert answers["/api/v1/projects/p/runs?until=9999-12-31"] == 400
    assert answers[f"/api/v1/projects/p/runs?page={HUGE}"] == 400
    assert answers[f"/api/v1/projects/p/runs/{HUGE}"] == 404
    assert answers["/api/v1/projects/p/weekly?week=9999-W52"] == 400
    assert answers["/api/v1/projects/p/weekly?week=0001-W01"] == 400
    assert answers["/api/v1/projects/%00"] == 400


@pytest.mark.parametrize("where", ["path", "query", "key"])
def test_nul_anywhere_in_the_url_is_a_400_naming_it(engine, where):
    client = _app(engine).test_client()
    url = {"path": "/api/v1/projects/a%00b/runs", "query": "/api/v1/projects/p/runs?branch=a%00b",
           "key": "/api/v1/projects/p/runs?a%00b=1"}[where]
    answer = client.get(url)
    assert answer.status_code == 400
    assert "NUL" in answer.get_json()["error"]


def test_405_answers_name_the_allowed_methods(engine):
    client = _app(engine).test_client()
    answer = client.delete("/api/v1/projects/p/runs")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert client.post("/healthz").headers["Allow"].replace(" ", "").split(",").count("GET") == 1

