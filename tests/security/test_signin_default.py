"""Sign-in is off by default only on loopback: `serve --host 0.0.0.0` without SUITEHEALTH_AUTH asks for
a token (issue 12), and an explicit SUITEHEALTH_AUTH=none there is kept but warned about. Real gunicorn."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from dashboard.auth import default_mode

pytestmark = pytest.mark.server


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _status(url: str) -> tuple[int, str]:
    """GET ``url`` without following redirects; return (status, Location)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Location", "")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", "")


@pytest.mark.parametrize("host,mode", [("0.0.0.0", "token"), ("::", "token"), ("192.0.2.4", "token"),
                                       ("dash.example", "token"), ("127.0.0.1", "none"),
                                       ("localhost", "none"), ("::1", "none")])
def test_the_default_mode_is_sign_in_beyond_loopback(host, mode):
    assert default_mode(host) == mode


def test_serve_on_all_interfaces_without_a_mode_asks_for_a_token(sqlite_url, server_factory, monkeypatch):
    monkeypatch.delenv("SUITEHEALTH_AUTH", raising=False)
    server = server_factory(sqlite_url, workers=1, no_worker=True, host="0.0.0.0")
    assert _status(server.url + "/") == (303, "/signin?next=/")
    assert _status(server.url + "/api/v1/projects")[0] == 401
    assert _status(server.url + "/healthz")[0] == 200
    output = server.stop()
    assert "sign-in is on" in output and "token create --read" in output
    assert "WARNING" not in output


def test_an_explicit_none_on_all_interfaces_stays_open_and_warns(sqlite_url, server_factory):
    server = server_factory(sqlite_url, workers=1, no_worker=True, host="0.0.0.0",
                            env={"SUITEHEALTH_AUTH": "none"})
    assert _status(server.url + "/") == (200, "")
    output = server.stop()
    assert "WARNING: listening on 0.0.0.0 with SUITEHEALTH_AUTH=none" in output
    assert "sign-in is on" not in output


def test_serve_on_loopback_without_a_mode_stays_open_and_quiet(sqlite_url, server_factory, monkeypatch):
    monkeypatch.delenv("SUITEHEALTH_AUTH", raising=False)
    server = server_factory(sqlite_url, workers=1, no_worker=True)
    assert _status(server.url + "/") == (200, "")
    output = server.stop()
    assert "sign-in is on" not in output and "WARNING" not in output
