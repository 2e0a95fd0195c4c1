"""Chromium loads every page of a history whose every field is an XSS payload, served by real gunicorn:
no dialog opens, no script error, no live link to a non-http URL, the CSP header is on and reports no
violation (so nothing needed, or tried, inline script), and every chart is still drawn.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from output_helpers import BUILD_URLS, WEEK, build_hostile_history
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from ingest.models import Project

pytestmark = [pytest.mark.browser, pytest.mark.server]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
INERT_DOM = """() => ({
  handlers: document.querySelectorAll('[onerror],[onload],[onmouseover],[onclick],[onfocus]').length,
  images: document.querySelectorAll('img, iframe, object, embed').length,
  badLinks: [...document.links].filter(a => !/^https?:/i.test(a.href)).map(a => a.href),
  charts: document.querySelectorAll('[data-chart]').length,
})"""


def _pages(h) -> list[str]:
    p = quote(h.project, safe="")
    victim = quote(h.nodeids["victim"], safe="")
    brittle = quote(h.nodeids["brittle"], safe="")
    return ["/", f"/projects/{p}", f"/projects/{p}/runs", f"/projects/{p}/pyramid", f"/projects/{p}/budget",
            f"/projects/{p}/flaky", f"/projects/{p}/suspects", f"/projects/{p}/weekly?week={WEEK}",
            f"/projects/{p}/tests", f"/projects/{p}/tests?nodeid={victim}",
            f"/projects/{p}/tests?nodeid={brittle}",
            *(f"/projects/{p}/runs/{r}" for r in h.run_ids[: len(BUILD_URLS)]),
            "/projects/" + quote("<script>alert('404')</script>", safe="")]


def test_hostile_history_opens_no_dialog_and_every_chart_draws(engine, db_url, server_factory, browser,
                                                                  tmp_path):
    hostile = build_hostile_history(engine, str(tmp_path / "PWNED"))
    with Session(engine) as s:
        refresh_project(engine, s.scalars(select(Project.id)).one())
    server = server_factory(db_url, workers=2)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    pages = _pages(hostile)
    clean = charts = 0
    try:
        for url in pages:
            resp = page.goto(server.url + url)
            assert resp is not None and "script-src 'self'" in resp.headers["content-security-policy"], url
            dom = page.evaluate(INERT_DOM)
            if dom["charts"]:
                page.wait_for_function("n => document.querySelectorAll('.chart-ready .main-svg').length >= n",
                                       arg=dom["charts"])
                charts += dom["charts"]
            assert dom["handlers"] == 0 and dom["images"] == 0 and dom["badLinks"] == [], (url, dom)
            assert page.evaluate("window.__csp") == [], (url, page.evaluate("window.__csp"))
            assert dialogs == [] and errors == [], (url, dialogs, errors)
            clean += 1
        # CSP really is enforced: markup injected now (as a missed escape would) cannot run.
        page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                      "'<img src=x onerror=\"alert(1)\"><a id=js href=\"javascript:alert(2)\">x</a>')")
        page.click("#js")
        page.wait_for_function("window.__csp.length >= 2")
        blocked = page.evaluate("window.__csp")
    finally:
        context.close()
    print(f"browser XSS: {clean}/{len(pages)} pages without dialog, script error or CSP violation; "
          f"{charts} charts drawn; injected handler and javascript: link blocked: {blocked}")
    assert dialogs == [] and clean == len(pages) and charts > 0
