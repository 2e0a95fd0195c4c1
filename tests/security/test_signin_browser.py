"""Real gunicorn (two workers, SUITEHEALTH_AUTH=token, key generated in the database, and a second server on
the same database) and real Chromium:
a page sends you to /signin, you type your read token, land on that page, see only your project, and
sign out (both backends)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from input_helpers import json_test, pytest_json

from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
from ingest.tokens import READ, create_token

pytestmark = [pytest.mark.browser, pytest.mark.server]


def _store(engine, project: str) -> None:
    report = pytest_json([json_test("t.py::test_ok"), json_test("t.py::test_bad", "failed")])
    ingest_sources(engine, [ReportSource.from_bytes("r.json", report)],
                   RunMeta(project=project, suite="unit"))


def test_sign_in_in_a_real_browser_shows_only_the_readable_project(engine, db_url, server_factory, browser):
    _store(engine, "alpha")
    _store(engine, "beta-secret")
    _, token = create_token(engine, "alpha", "alice", access=READ)
    server = server_factory(db_url, workers=2, env={"SUITEHEALTH_AUTH": "token"})
    # Without a session, the JSON API says 401 (urllib does not follow into the sign-in page).
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + "/api/v1/projects", timeout=30)
    assert refused.value.code == 401

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + "/projects/alpha/runs")
        assert page.url == server.url + "/signin?next=/projects/alpha/runs"
        page.fill("input[name=token]", "sh_wrong-token")
        page.click("button[type=submit]")
        assert "unknown or revoked" in page.inner_text("main")

        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/projects/alpha/runs")
        assert "alpha" in page.inner_text("header")
        cookie = next(c for c in context.cookies() if c["name"] == "suitehealth_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
        # The page's own script cannot read the session cookie.
        assert "suitehealth_session" not in page.evaluate("document.cookie")

        page.goto(server.url + "/")  # two workers: whichever answers knows the shared key
        names = page.locator("table.projects tbody tr td:first-child").all_inner_texts()
        assert names == ["alpha"]
        assert "beta-secret" not in page.content()
        assert page.goto(server.url + "/projects/beta-secret").status == 404

        # A second server on the same database (cookies ignore ports): the key is shared through it.
        other = server_factory(db_url, workers=1, env={"SUITEHEALTH_AUTH": "token"})
        assert page.goto(other.url + "/projects/alpha").status == 200
        assert page.url == other.url + "/projects/alpha"

        page.goto(server.url + "/projects/alpha")
        page.click("form.signout button[type=submit]")
        page.wait_for_url(server.url + "/signin")
        page.goto(server.url + "/projects/alpha")
        assert page.url == server.url + "/signin?next=/projects/alpha"
    finally:
        context.close()
