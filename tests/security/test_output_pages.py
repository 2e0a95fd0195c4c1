"""What pages send back stays inert: safe links only, security headers on every answer, bidi controls
shown, no URL built from the Host header, and no database details from /healthz. Both backends.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from output_helpers import BIDI, BUILD_URLS, WEEK, build_hostile_history
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import create_app
from dashboard.analysis.updates import refresh_project
from dashboard.filters import http_url
from dashboard.security_headers import HEADERS
from ingest.models import Project

# ---- links -----------------------------------------------------------------------------------

NOT_LINKS = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
    "java\rscript:alert(1)", " javascript:alert(1)", "\x01javascript:alert(1)", "javascript&colon;alert(1)",
    "data:text/html,<script>alert(1)</script>", "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x", "/relative/path", "http:evil",
    "https:/evil", "http://", "ftp://ci.example/1", "https://ci.example/a b", "https://ci.example/\u202e",
    "", None, "\\\\evil.example\\share", "jav&#x09;ascript:alert(1)",
]
LINKS = ["https://ci.example/build/1", "HTTP://CI.EXAMPLE/1", "https://ci.example:8443/x?a=1&b=\"<>",
         "http://[::1]:8080/job/1"]


def test_only_absolute_http_urls_may_become_links():
    tried = [*NOT_LINKS, *LINKS]
    passed = [u for u in NOT_LINKS if http_url(u) is None] + [u for u in LINKS if http_url(u) == u]
    print(f"links (filter): {len(passed)}/{len(tried)} classified right")
    assert len(passed) == len(tried)


# ---- pages over a hostile history ------------------------------------------------------------

@pytest.fixture
def hostile(engine, tmp_path):
    h = build_hostile_history(engine, str(tmp_path / "PWNED"))
    with Session(engine) as s:
        refresh_project(engine, s.scalars(select(Project.id)).one())
    return h


def _app(engine, **config):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       **config})


def _pages(h) -> list[str]:
    p = quote(h.project, safe="")
    victim = quote(h.nodeids["victim"], safe="")
    return ["/", f"/projects/{p}", f"/projects/{p}/runs", f"/projects/{p}/pyramid", f"/projects/{p}/budget",
            f"/projects/{p}/flaky", f"/projects/{p}/suspects", f"/projects/{p}/weekly?week={WEEK}",
            f"/projects/{p}/tests", f"/projects/{p}/tests?nodeid={victim}",
            *(f"/projects/{p}/runs/{r}" for r in h.run_ids[: len(BUILD_URLS)])]


def test_build_urls_link_only_when_http(engine, hostile):
    client = _app(engine).test_client()
    p = quote(hostile.project, safe="")
    tried = passed = 0
    for run_id, url in list(hostile.build_urls.items())[: len(BUILD_URLS)]:
        page = client.get(f"/projects/{p}/runs/{run_id}").get_data(as_text=True)
        hrefs = re.findall(r'href="([^"]*)"', page)
        external = [h for h in hrefs if not h.startswith(("/", "?"))]
        tried += 1
        if url.startswith("https://"):
            assert len(external) == 1 and external[0].startswith("https://ci.example/build/7?q=&#34;&gt;")
        else:
            assert external == [], (url, external)
            assert "CI build" in page and 'class="untrusted-url"' in page
        passed += 1
    print(f"links (run pages): {passed}/{tried} build URLs rendered safely")


def test_every_page_sends_the_security_headers_and_no_inline_script(engine, hostile):
    client = _app(engine).test_client()
    pages = _pages(hostile)
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        for name, value in HEADERS.items():
            assert resp.headers.get(name) == value, (url, name)
        body = resp.get_data(as_text=True)
        # Every <script> is either a file of ours or a JSON island: nothing for CSP to have to block.
        for tag in re.findall(r"<script\b[^>]*>", body):
            assert re.fullmatch(r'<script src="/assets/[\w.-]+\?v=\w+">|<script type="application/json" '
                                r'id="[\w-]+">', tag), (url, tag)
        assert "<img src=x" not in body and "<svg onload" not in body and "<script>alert" not in body, url
        # Chart JSON islands hold names too: no "<" inside, so no "</script>" can end one early.
        for island in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', body, re.S):
            assert "<" not in island, url
    policy = HEADERS["Content-Security-Policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'self'" in script_src and "unsafe-inline" not in script_src
    assert "frame-ancestors 'none'" in policy
    for url in ("/api/v1/projects", "/healthz", "/nope"):
        assert client.get(url).headers["X-Content-Type-Options"] == "nosniff"
    print(f"headers: {len(pages)}/{len(pages)} pages with CSP, nosniff, Referrer-Policy, frame-ancestors")


def test_bidi_controls_are_shown_escaped_on_pages(engine, hostile):
    client = _app(engine).test_client()
    raw = re.compile("[\u202a-\u202e\u2066-\u2069]")
    tried = passed = 0
    for url in _pages(hostile):
        body = client.get(url).get_data(as_text=True)
        tried += 1
        # Raw controls may only appear inside the JSON islands, where charts.js escapes them.
        outside = re.sub(r'<script type="application/json".*?</script>', "", body, flags=re.S)
        assert not raw.search(outside), url
        passed += 1
    run = client.get(f"/projects/{quote(hostile.project, safe='')}/runs/{hostile.run_ids[0]}")
    assert "&lt;U+202E&gt;" in run.get_data(as_text=True)
    print(f"bidi (pages): {passed}/{tried} pages without a raw bidi control")
    assert BIDI


# ---- Host header and /healthz ----------------------------------------------------------------

def test_weekly_base_url_never_comes_from_the_host_header(engine, hostile):
    p = quote(hostile.project, safe="")
    url = f"/api/v1/projects/{p}/weekly?week={WEEK}"
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    plain = _app(engine).test_client().get(url, headers=evil).get_json()
    assert plain["base_url"] is None
    configured_app = _app(engine, BASE_URL="https://dash.example/")
    configured = configured_app.test_client().get(url, headers=evil).get_json()
    assert configured["base_url"] == "https://dash.example"
    trusted = _app(engine, TRUSTED_HOSTS="dash.example, dash.internal").test_client()
    assert trusted.get(url, headers=evil).status_code == 400
    assert trusted.get(url, headers={"Host": "dash.internal"}).get_json()["base_url"] == "http://dash.internal"
    for resp in (plain, configured):
        assert "evil.example" not in str(resp)


@pytest.mark.parametrize("down", ["postgresql", "sqlite"])
def test_healthz_says_only_database_unavailable(down, engine, tmp_path):
    from ingest.db import make_engine

    secret_dir = tmp_path / "secretdb.sqlite"
    secret_dir.mkdir()  # a directory where the database file should be: SQLite cannot open it
    url = {"postgresql": "postgresql+psycopg://secretuser:secretpw@127.0.0.1:1/secretdb?connect_timeout=2",
           "sqlite": f"sqlite:///{secret_dir}"}[down]
    app = _app(engine)
    # The database goes away under a running app: its engine now points at nothing that answers.
    app.extensions["suitehealth_engine"].dispose()
    app.extensions["suitehealth_engine"] = make_engine(url)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503 and resp.headers.get("Retry-After")
    assert resp.get_json() == {"status": "unavailable", "error": "database unavailable"}
    assert not re.search("secret|127.0.0.1|psycopg|sqlite", resp.get_data(as_text=True))
