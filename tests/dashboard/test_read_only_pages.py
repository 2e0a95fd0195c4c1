"""No request handler writes: every page and JSON twin is served by an app whose database connection
refuses writes (SQLite opened with mode=ro, PostgreSQL with default_transaction_read_only).

The app's rules are enumerated, so a page added later is covered without editing this test (a
new kind of URL argument makes it fail with the name of the argument to add).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from history import START, build_history, case, store_run
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from synthetic_ci import build_history as build_planted_history

from dashboard import create_app
from ingest.models import Project, Run

PROJECTS = ("shop", "synth")
# Query strings each page is also asked with: its filters, the as-of (?until=) analyses, one test.
QUERIES = ("", "?since=2026-01-01&until=2026-12-31", "?suite=unit&branch=main&page=2&limit=3",
           "?week=2026-W23", "?nodeid=tests/unit/test_cart.py::test_flaky",
           "?nodeid=tests/test_m6.py::test_brittle")
HTML_LINK = re.compile(r'(?:src|href)="(/(?:static|assets)/[^"?#]+)')


def _read_only_url(engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    # The test schema's URL already carries options=-csearch_path=...; add a second setting.
    return url.render_as_string(hide_password=False).replace(
        "options=-csearch_path", "options=-cdefault_transaction_read_only%3Don%20-csearch_path")


@pytest.fixture
def read_only_client(engine):
    """A client of an app on a read-only connection to a database holding two analysed projects,
    one of which got a run after the last analysis."""
    build_history(engine, project="shop")
    build_planted_history(engine, project="synth", runs=24, suites=("unit", "xdist"))
    store_run(engine, "shop", "unit", [case("tests/unit/test_cart.py::test_add", "failed", message="late")],
              started_at=START + timedelta(days=9))  # not analysed: the pages must say so
    app = create_app({"DATABASE_URL": _read_only_url(engine), "TESTING": True})
    ro_engine = app.extensions["suitehealth_engine"]
    with ro_engine.connect() as conn, pytest.raises(DBAPIError):  # it really refuses writes
        conn.execute(text("DELETE FROM projects"))
    with Session(engine) as s:
        query = select(Project.name, func.min(Run.id)).join(Run).group_by(Project.name)
        first_runs = dict(s.execute(query).all())
    yield app.test_client(), app, first_runs
    ro_engine.dispose()


def _page_urls(app, first_runs: dict[str, int]) -> tuple[list[str], set[str]]:
    """Return every GET page and twin URL for PROJECTS, and the endpoints only reachable by links."""
    urls, by_link = [], set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        args = set(rule.arguments)
        if args - {"project", "run_id"}:
            by_link.add(rule.endpoint)  # static files and assets: fetched from the pages' links
            continue
        for project in PROJECTS if "project" in args else (None,):
            path = rule.rule.replace("<path:project>", quote(project or "", safe=""))
            path = path.replace("<int:run_id>", str(first_runs.get(project)))
            urls += [path + query for query in QUERIES]
    return urls, by_link


def test_every_page_and_json_twin_is_served_on_a_read_only_connection(read_only_client):
    client, app, first_runs = read_only_client
    urls, by_link = _page_urls(app, first_runs)
    links: set[str] = set()
    for url in urls:
        answer = client.get(url)  # TESTING: a write attempt raises here instead of answering 500
        # Without a query every page exists (token-guarded twins answer 401); with one, a test the
        # project lacks is a 404. /healthz says the database takes no writes (200 "read-only": reads work).
        expected = (200, 401) if "?" not in url else (200, 401, 404)
        if url.startswith("/healthz"):
            expected = (200,)
        assert answer.status_code in expected, (url, answer.status_code, answer.get_data(as_text=True)[:300])
        if url.startswith("/healthz"):
            assert answer.get_json()["status"] == "read-only"
        if answer.mimetype == "text/html":
            links |= set(HTML_LINK.findall(answer.get_data(as_text=True)))
    # Flask's own /static route, when no page links to it any more: one of its files.
    links.add("/static/" + sorted(p.name for p in Path(app.static_folder).iterdir() if p.is_file())[0])
    adapter = app.url_map.bind("localhost")
    fetched = set()
    for link in sorted(links):
        assert client.get(link).status_code == 200, link
        fetched.add(adapter.match(link)[0])
    assert by_link <= fetched, f"no page links to {by_link - fetched}: give them a URL here"


def test_pages_say_how_far_the_stored_analysis_is_behind(read_only_client):
    client, _, _ = read_only_client
    for path in ("", "/flaky", "/suspects"):
        twin = client.get(f"/api/v1/projects/shop{path}").get_json()
        assert twin["analysis"]["runs_behind"] == 1 and not twin["analysis"]["up_to_date"]
        assert twin["analysis"]["message"].startswith("analysis 1 run behind, updated ")
        html = client.get(f"/projects/shop{path}").get_data(as_text=True)
        assert "analysis 1 run behind, updated " in html
    test_page = client.get("/api/v1/projects/shop/tests?nodeid=tests/unit/test_cart.py::test_add").get_json()
    assert test_page["analysis"]["runs_behind"] == 1
    synth = client.get("/api/v1/projects/synth/flaky").get_json()
    assert synth["analysis"]["up_to_date"] and synth["tests"]
    assert "behind" not in client.get("/projects/synth/flaky").get_data(as_text=True)
    # An as-of page of a day that has passed judges the history before it: nothing stored can lag
    # behind it. A day still to come is the live question: the stored analysis, with its lag.
    assert client.get("/api/v1/projects/shop/flaky?until=2001-01-31").get_json()["analysis"] is None
    ahead = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    live = client.get(f"/api/v1/projects/shop/flaky?until={ahead}").get_json()
    assert live["analysis"]["runs_behind"] == 1
    assert live["tests"] == client.get("/api/v1/projects/shop/flaky").get_json()["tests"]
