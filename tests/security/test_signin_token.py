"""SUITEHEALTH_AUTH=token: sign-in with read tokens, the session cookie's flags, CSRF, per-project 404s,
filtered listings, no open redirect, revocation ending sessions and cookies that never upload
(Flask test client, both backends)."""

from __future__ import annotations

import io
import re
import time

import pytest
from input_helpers import json_test, pytest_json
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import create_app
from dashboard.auth import AuthConfigError, open_to_the_network_warning
from ingest.models import DashboardSecret, Run
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
from ingest.tokens import READ, create_token, revoke_token

LOCAL = "http://localhost"


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _app(engine, **config):
    return create_app({"DATABASE_URL": _url(engine), "TESTING": True, "AUTH": "token",
                       "REFRESH_AFTER_UPLOAD": False, **config})


def _store(engine, project: str) -> int:
    report = pytest_json([json_test("t.py::test_ok"), json_test("t.py::test_bad", "failed")])
    return ingest_sources(engine, [ReportSource.from_bytes("r.json", report)],
                          RunMeta(project=project, suite="unit", branch="main")).run_id


@pytest.fixture
def world(engine):
    """Projects "alpha" (a run) and "beta" (a run); a read token of alpha, one of every project, and
    alpha's upload token."""
    runs = {"alpha": _store(engine, "alpha"), "beta": _store(engine, "beta")}
    tokens = {"alpha_read": create_token(engine, "alpha", "alice", access=READ)[1],
              "all_read": create_token(engine, None, "lead", access=READ)[1],
              "alpha_upload": create_token(engine, "alpha", "ci")[1]}
    return runs, tokens


def _csrf(page_text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert found, page_text[:500]
    return found.group(1)


def sign_in(client, token: str, next_path: str | None = None, base_url: str = LOCAL):
    form = client.get("/signin" + (f"?next={next_path}" if next_path else ""), base_url=base_url)
    assert form.status_code == 200
    data = {"token": token, "csrf_token": _csrf(form.text)}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/signin", data=data, base_url=base_url)


def _signed_in(client) -> bool:
    with client.session_transaction() as session:
        return "tid" in session


# ---- signing in ------------------------------------------------------------------------------

def test_pages_redirect_to_signin_and_json_answers_401(engine, world):
    client = _app(engine).test_client()
    page = client.get("/projects/alpha/runs?branch=main")
    assert page.status_code == 303
    assert page.headers["Location"] == "/signin?next=/projects/alpha/runs%3Fbranch%3Dmain"
    api = client.get("/api/v1/projects/alpha/runs")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get_json()["status"] == 401
    assert client.get("/").status_code == 303
    assert client.get("/api/v1/projects").status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 401


def test_health_assets_and_token_uploads_stay_open(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/favicon.ico").status_code == 200
    assert client.get("/assets/style.css").status_code == 200
    headers = {"Authorization": f"Bearer {tokens['alpha_upload']}"}
    upload = client.post("/api/v1/projects/alpha/runs", headers=headers,
                         data={"file": (io.BytesIO(pytest_json()), "r.json"), "suite": "other"})
    assert upload.status_code == 201, upload.get_json()


def test_good_token_signs_in_and_lands_on_the_page_asked_for(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    answer = sign_in(client, tokens["alpha_read"], "/projects/alpha/flaky")
    assert answer.status_code == 303 and answer.headers["Location"] == "/projects/alpha/flaky"
    page = client.get("/projects/alpha/flaky")
    assert page.status_code == 200 and "Sign out" in page.text
    assert client.get("/api/v1/projects/alpha/runs").status_code == 200  # the JSON twin with the cookie


@pytest.mark.parametrize("which", ["unknown", "revoked", "empty", "huge"])
def test_bad_and_revoked_tokens_do_not_sign_in(engine, world, which):
    _, tokens = world
    if which == "revoked":
        revoke_token(engine, tokens["alpha_read"][:10])
    token = {"unknown": "sh_" + "x" * 43, "revoked": tokens["alpha_read"], "empty": "",
             "huge": "sh_" + "y" * 5000}[which]
    client = _app(engine).test_client()
    answer = sign_in(client, token, "/projects/alpha")
    assert answer.status_code == 401 and "unknown or revoked" in answer.text
    assert not _signed_in(client)
    assert client.get("/projects/alpha").status_code == 303


def test_the_session_cookie_is_httponly_samesite_and_not_secure_on_plain_http(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    answer = sign_in(client, tokens["alpha_read"])
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("suitehealth_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Domain" not in cookie
    assert "Expires=" in cookie


@pytest.mark.parametrize("config", [{"BASE_URL": "https://dash.example"},
                                    {"BASE_URL": "http://dash.example", "COOKIE_SECURE": "true"}])
def test_the_session_cookie_is_secure_behind_https(engine, world, config):
    _, tokens = world
    client = _app(engine, **config).test_client()
    answer = sign_in(client, tokens["alpha_read"], base_url="https://localhost")
    cookie = answer.headers["Set-Cookie"]
    # __Host-: a Secure, host-only cookie for / that no sibling subdomain can set or overwrite.
    assert cookie.startswith("__Host-suitehealth_session=")
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/projects/alpha", base_url="https://localhost").status_code == 200


def test_an_https_base_url_with_cookie_secure_false_keeps_plain_cookies(engine, world):
    _, tokens = world
    client = _app(engine, BASE_URL="https://dash.example", COOKIE_SECURE="false").test_client()
    assert "Secure" not in sign_in(client, tokens["alpha_read"]).headers["Set-Cookie"]


def test_the_cookie_holds_only_the_token_id_and_a_check_value(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    sign_in(client, tokens["alpha_read"])
    with client.session_transaction() as session:
        assert set(session) == {"tid", "chk", "at", "csrf", "_permanent"}
        assert tokens["alpha_read"] not in repr(dict(session))


def test_a_session_ends_after_its_lifetime(engine, world):
    _, tokens = world
    client = _app(engine, SESSION_HOURS=2.0).test_client()
    sign_in(client, tokens["alpha_read"])
    assert client.get("/projects/alpha").status_code == 200
    with client.session_transaction() as session:
        session["at"] = int(time.time()) - 2 * 3600 - 5  # signed in just over two hours ago
    assert client.get("/projects/alpha").status_code == 303
    assert not _signed_in(client)


def test_revoking_the_token_ends_its_sessions(engine, world, cli):
    _, tokens = world
    client = _app(engine).test_client()
    sign_in(client, tokens["alpha_read"])
    assert client.get("/api/v1/projects/alpha").status_code == 200
    assert cli("token", "revoke", tokens["alpha_read"][:10]).exit_code == 0
    assert client.get("/api/v1/projects/alpha").status_code == 401
    assert client.get("/projects/alpha").status_code == 303


def test_a_forged_or_stale_check_value_is_refused(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    sign_in(client, tokens["alpha_read"])
    with client.session_transaction() as session:
        session["tid"] = session["tid"] + 1  # another token's id, with this token's check value
    assert client.get("/api/v1/projects/alpha").status_code == 401


# ---- CSRF ------------------------------------------------------------------------------------

@pytest.mark.parametrize("csrf", [None, "", "wrong", "é"])
def test_signin_without_the_right_csrf_token_is_a_400_and_signs_nobody_in(engine, world, csrf):
    _, tokens = world
    client = _app(engine).test_client()
    client.get("/signin")  # the session (and its CSRF token) exists; the form field is what is missing
    data = {"token": tokens["alpha_read"]}
    if csrf is not None:
        data["csrf_token"] = csrf
    answer = client.post("/signin", data=data)
    assert answer.status_code == 400 and "CSRF" in answer.text
    assert not _signed_in(client)


def test_signin_with_another_sessions_csrf_token_is_refused(engine, world):
    _, tokens = world
    app = _app(engine)
    theirs = _csrf(app.test_client().get("/signin").text)
    mine = app.test_client()
    mine.get("/signin")
    assert mine.post("/signin", data={"token": tokens["alpha_read"], "csrf_token": theirs}).status_code == 400
    fresh = app.test_client()  # no session at all: nothing to compare with
    answer = fresh.post("/signin", data={"token": tokens["alpha_read"], "csrf_token": theirs})
    assert answer.status_code == 400


def test_signout_needs_the_csrf_token_and_then_ends_the_session(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    sign_in(client, tokens["alpha_read"])
    page = client.get("/projects/alpha")
    assert client.post("/signout").status_code == 400
    assert client.post("/signout", data={"csrf_token": "forged"}).status_code == 400
    assert _signed_in(client) and client.get("/projects/alpha").status_code == 200
    out = client.post("/signout", data={"csrf_token": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["Location"] == "/signin"
    assert not _signed_in(client)
    assert client.get("/projects/alpha").status_code == 303


def test_signing_in_replaces_the_csrf_token(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    before = _csrf(client.get("/signin").text)
    sign_in(client, tokens["alpha_read"])
    after = _csrf(client.get("/projects/alpha").text)
    assert before != after
    assert client.post("/signout", data={"csrf_token": before}).status_code == 400


# ---- what a reader sees ----------------------------------------------------------------------

def _project_urls(app, project: str, run_id: int) -> list[str]:
    """Every GET route of the app that names a project, filled with ``project`` and ``run_id``."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and "<path:project>" in rule.rule:
            urls.append(rule.rule.replace("<path:project>", project).replace("<int:run_id>", str(run_id)))
    return urls


def test_a_reader_of_one_project_gets_404_on_every_route_of_another(engine, world):
    runs, tokens = world
    app = _app(engine)
    client = app.test_client()
    sign_in(client, tokens["alpha_read"])
    own = _project_urls(app, "alpha", runs["alpha"])
    foreign = _project_urls(app, "beta", runs["beta"])
    missing = _project_urls(app, "gamma", runs["beta"])
    assert len(foreign) >= 20  # every page and its JSON twin
    for url in own:
        assert client.get(url).status_code == 200, url
    for url, nowhere in zip(foreign, missing, strict=True):
        answer, absent = client.get(url), client.get(nowhere)
        assert answer.status_code == 404, url
        # Exactly what a project that does not exist gets: beta's existence is not revealed.
        if url.startswith("/api/"):
            assert answer.get_json() == {"error": "no project named 'beta'", "status": 404}
            assert absent.get_json() == {"error": "no project named 'gamma'", "status": 404}
        else:
            assert answer.text.replace("beta", "gamma") == absent.text
        assert "test_bad" not in answer.text
    # A Bearer read token gets the same answers as the cookie.
    bearer = app.test_client()
    headers = {"Authorization": f"Bearer {tokens['alpha_read']}"}
    assert bearer.get(f"/api/v1/projects/beta/runs/{runs['beta']}", headers=headers).status_code == 404
    assert bearer.get(f"/api/v1/projects/alpha/runs/{runs['alpha']}", headers=headers).status_code == 200


def test_listings_show_only_the_projects_the_token_reads(engine, world):
    _, tokens = world
    app = _app(engine)
    alice = app.test_client()
    sign_in(alice, tokens["alpha_read"])
    assert [p["name"] for p in alice.get("/api/v1/projects").get_json()["projects"]] == ["alpha"]
    home = alice.get("/").text
    assert "alpha" in home and "beta" not in home
    lead = app.test_client()
    sign_in(lead, tokens["all_read"])
    assert [p["name"] for p in lead.get("/api/v1/projects").get_json()["projects"]] == ["alpha", "beta"]
    assert lead.get("/projects/beta").status_code == 200


def test_an_upload_token_reads_its_own_project_only(engine, world):
    runs, tokens = world
    client = _app(engine).test_client()
    headers = {"Authorization": f"Bearer {tokens['alpha_upload']}"}
    assert client.get(f"/api/v1/projects/alpha/runs/{runs['alpha']}", headers=headers).status_code == 200
    assert client.get("/api/v1/projects/beta", headers=headers).status_code == 404
    listed = client.get("/api/v1/projects", headers=headers).get_json()["projects"]
    assert [p["name"] for p in listed] == ["alpha"]
    browser = _app(engine).test_client()
    assert sign_in(browser, tokens["alpha_upload"]).status_code == 303
    assert browser.get("/projects/alpha").status_code == 200
    assert browser.get("/projects/beta").status_code == 404


@pytest.mark.parametrize("header", ["Authorization", "X-Suitehealth-Token"])
def test_api_clients_may_send_the_read_token_instead_of_the_cookie(engine, world, header):
    _, tokens = world
    client = _app(engine).test_client()
    value = tokens["all_read"] if header == "X-Suitehealth-Token" else f"Bearer {tokens['all_read']}"
    assert client.get("/api/v1/projects/beta", headers={header: value}).status_code == 200
    assert client.get("/api/v1/projects/beta", headers={header: value + "x"}).status_code == 401


def test_a_wrong_bearer_token_is_refused_even_with_a_good_cookie(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    sign_in(client, tokens["all_read"])
    assert client.get("/api/v1/projects/beta").status_code == 200
    assert client.get("/api/v1/projects/beta", headers={"Authorization": "Bearer sh_nope"}).status_code == 401


# ---- no open redirect ------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
    "evil.example", "/\r\nLocation: https://evil.example", "/\t/evil.example", "///evil.example",
    "http:/evil.example", "/" + "a" * 3000,
])
def test_next_may_only_be_a_local_path(engine, world, target):
    _, tokens = world
    client = _app(engine).test_client()
    form = client.get("/signin", query_string={"next": target})
    assert 'name="next" value="/"' in form.text
    answer = client.post("/signin", data={"token": tokens["alpha_read"], "csrf_token": _csrf(form.text),
                                          "next": target})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_a_local_next_with_a_query_is_kept(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    target = "/projects/alpha/runs?branch=main&page=1"
    assert sign_in(client, tokens["alpha_read"], target).headers["Location"] == target


# ---- cookies never upload, read tokens never upload ------------------------------------------

def _guarded_operations(client, headers) -> list[tuple[str, str]]:
    doc = client.get("/api/v1/openapi.json", headers=headers).get_json()
    return [(method.upper(), path.replace("{project}", "alpha").replace("{run_id}", "1"))
            for path, item in doc["paths"].items() for method, op in item.items()
            if op.get("security") and "bearerToken" in op["security"][0]]


def test_a_signed_in_cookie_alone_never_authorises_a_token_guarded_post(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    # Signed in with alpha's *upload* token: the cookie still must not upload, nor record verdicts.
    sign_in(client, tokens["alpha_upload"])
    operations = _guarded_operations(client, {})
    assert len(operations) >= 4
    for method, path in operations:
        answer = client.open(path, method=method, json={"victim": "t::a", "kind": "polluter"})
        assert answer.status_code == 401, (method, path)
    upload = client.post("/api/v1/projects/alpha/runs", data={"file": (io.BytesIO(pytest_json()), "r.json"),
                                                              "suite": "sneaky"})
    assert upload.status_code == 401
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 2


def test_a_read_token_cannot_upload(engine, world):
    _, tokens = world
    client = _app(engine).test_client()
    for token in (tokens["alpha_read"], tokens["all_read"]):
        upload = client.post("/api/v1/projects/alpha/runs", headers={"Authorization": f"Bearer {token}"},
                             data={"file": (io.BytesIO(pytest_json()), "r.json"), "suite": "sneaky"})
        assert upload.status_code == 401
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 2


# ---- settings --------------------------------------------------------------------------------

def test_the_generated_key_is_stored_once_and_shared_by_every_app(engine, world):
    _, tokens = world
    first, second = _app(engine), _app(engine)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(DashboardSecret)) == 1
    # A cookie signed by one server (or worker) is good on the other.
    client = first.test_client()
    sign_in(client, tokens["alpha_read"])
    cookie = client.get_cookie("suitehealth_session").value
    other = second.test_client()
    other.set_cookie("suitehealth_session", cookie)
    assert other.get("/api/v1/projects/alpha").status_code == 200


def test_a_configured_secret_key_is_used_and_a_short_one_refused(engine):
    key = "k" * 40
    assert _app(engine, SECRET_KEY=key).secret_key == key
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(DashboardSecret)) == 0
    with pytest.raises(AuthConfigError, match="SUITEHEALTH_SECRET_KEY is too short"):
        _app(engine, SECRET_KEY="short")


@pytest.mark.parametrize("config,message", [
    ({"COOKIE_SECURE": "sometimes"}, "SUITEHEALTH_COOKIE_SECURE"),
    ({"SESSION_HOURS": 0.0}, "SUITEHEALTH_SESSION_HOURS"),
    ({"SESSION_HOURS": -1.0}, "SUITEHEALTH_SESSION_HOURS"),
])
def test_nonsense_settings_are_refused_at_start(engine, config, message):
    with pytest.raises(AuthConfigError, match=message):
        _app(engine, **config)


def test_token_mode_is_configured_from_the_environment(engine, world, monkeypatch):
    _, tokens = world
    monkeypatch.setenv("SUITEHEALTH_AUTH", "token")
    monkeypatch.setenv("SUITEHEALTH_SECRET_KEY", "e" * 48)
    monkeypatch.setenv("SUITEHEALTH_SESSION_HOURS", "1.5")
    app = create_app({"DATABASE_URL": _url(engine), "TESTING": True})
    assert app.secret_key == "e" * 48 and app.permanent_session_lifetime.total_seconds() == 5400
    client = app.test_client()
    assert client.get("/").status_code == 303
    assert sign_in(client, tokens["alpha_read"]).status_code == 303


def test_serve_warns_only_without_sign_in():
    assert open_to_the_network_warning("0.0.0.0", "token") is None
    assert "SUITEHEALTH_AUTH=token" in open_to_the_network_warning("0.0.0.0", "none")


def test_the_openapi_document_describes_the_read_security_in_token_mode(engine, world):
    _, tokens = world
    doc = _app(engine).test_client().get(
        "/api/v1/openapi.json", headers={"Authorization": f"Bearer {tokens['alpha_read']}"}).get_json()
    assert doc["security"] == [{"readToken": []}, {"sessionCookie": []}]
    schemes = doc["components"]["securitySchemes"]
    cookie = schemes["sessionCookie"]
    assert (cookie["in"], cookie["name"]) == ("cookie", "suitehealth_session")
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert "401" in doc["paths"]["/api/v1/projects/{project}/runs"]["get"]["responses"]
    assert doc["paths"]["/api/v1/projects/{project}/runs"]["post"]["security"] == [{"bearerToken": []}]
    default = create_app({"DATABASE_URL": _url(engine), "TESTING": True}).test_client()
    plain = default.get("/api/v1/openapi.json").get_json()
    assert "security" not in plain and "sessionCookie" not in plain["components"]["securitySchemes"]
