"""The real thing: `suitehealth serve` (gunicorn, 2 workers) answering every page and JSON twin."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from history import build_history

pytestmark = pytest.mark.server

# Every page of the dashboard, with its JSON twin (None: the page has none). Placeholders are filled
# from tests/dashboard/history.py: {p} project, {run} a run id, {nodeid} a test, {suite} a suite.
# Extend this list when a page is added.
PAGES = [
    ("/", "/api/v1/projects"),
    ("/projects/{p}", "/api/v1/projects/{p}"),
    ("/projects/{p}/runs", "/api/v1/projects/{p}/runs"),
    ("/projects/{p}/runs?suite={suite}&branch=main&since=2026-03-01&until=2026-12-31&limit=1000",
     "/api/v1/projects/{p}/runs?suite={suite}&branch=main&since=2026-03-01&until=2026-12-31&limit=1000"),
    ("/projects/{p}/runs/{run}", "/api/v1/projects/{p}/runs/{run}"),
    ("/projects/{p}/runs/{run}?sort=duration&page=1", "/api/v1/projects/{p}/runs/{run}?sort=duration&page=1"),
    ("/projects/{p}/tests", "/api/v1/projects/{p}/tests"),
    ("/projects/{p}/tests?nodeid={nodeid}", "/api/v1/projects/{p}/tests?nodeid={nodeid}"),
    ("/projects/{p}/pyramid", "/api/v1/projects/{p}/pyramid"),
    ("/projects/{p}/budget?suite={suite}", "/api/v1/projects/{p}/budget?suite={suite}"),
    ("/projects/{p}/flaky", "/api/v1/projects/{p}/flaky"),
    ("/projects/{p}/suspects", "/api/v1/projects/{p}/suspects"),
    ("/projects/{p}/weekly", "/api/v1/projects/{p}/weekly"),
    ("/healthz", None),
]


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def fill(template: str, history) -> str:
    return template.format(p="shop", run=history.timed_run, suite="integration",
                           nodeid=quote(history.integration_tests[0], safe=""))


def test_serve_answers_every_page_twin_404_and_local_plotly(engine, db_url, server_factory):
    history = build_history(engine)
    server = server_factory(db_url, workers=2)
    failures = []
    for page, api in PAGES:
        status, ctype, body = fetch(server.url + fill(page, history))
        if status != 200 or not ctype.startswith(("text/html", "application/json")):
            failures.append((page, status, body[:300]))
        if api is not None:
            status, ctype, body = fetch(server.url + fill(api, history))
            if status != 200 or ctype != "application/json":
                failures.append((api, status, body[:300]))
            else:
                json.loads(body)
    assert failures == []

    status, ctype, body = fetch(server.url + "/projects/nope")
    assert status == 404 and ctype.startswith("text/html") and b"nope" in body
    status, ctype, body = fetch(server.url + "/api/v1/projects/shop/runs/999999")
    assert status == 404 and json.loads(body)["status"] == 404
    html = fetch(server.url + "/projects/shop")[2].decode()
    script = html.split('<script src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/assets/plotly-")
    status, ctype, body = fetch(server.url + script)
    assert status == 200 and "javascript" in ctype and b"Plotly" in body[:5000] + body[-5000:]
