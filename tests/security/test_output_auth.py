"""Optional sign-in: SUITEHEALTH_AUTH=proxy believes the user header only from trusted proxy addresses;
`serve` warns when it listens beyond loopback with no sign-in.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dashboard import create_app
from dashboard.auth import AuthConfigError, open_to_the_network_warning

PROXY = {"REMOTE_ADDR": "127.0.0.1"}
STRANGER = {"REMOTE_ADDR": "203.0.113.9"}
USER = {"X-Forwarded-User": "alice@example.com"}


def _client(sqlite_url, **config):
    return create_app({"DATABASE_URL": sqlite_url, "TESTING": True, **config}).test_client()


@pytest.mark.parametrize("path", ["/", "/api/v1/projects", "/projects/shop/runs", "/api/v1/openapi.json"])
def test_proxy_mode_reads_only_with_a_user_from_a_trusted_proxy(sqlite_url, path):
    client = _client(sqlite_url, AUTH="proxy")
    assert client.get(path, environ_base=STRANGER, headers=USER).status_code == 401  # header from anyone
    assert client.get(path, environ_base=PROXY).status_code == 401  # the proxy, but nobody signed in
    assert client.get(path, environ_base=PROXY, headers={"X-Forwarded-User": "  "}).status_code == 401
    assert client.get(path, environ_base=PROXY, headers=USER).status_code in (200, 404)


def test_proxy_mode_keeps_health_assets_and_token_uploads_open(sqlite_url):
    client = _client(sqlite_url, AUTH="proxy", TRUSTED_PROXIES="10.0.0.0/8")
    assert client.get("/healthz", environ_base=STRANGER).status_code == 200
    assert client.get("/favicon.ico", environ_base=STRANGER).status_code == 200
    upload = client.post("/api/v1/projects/shop/runs", environ_base=STRANGER)
    assert upload.status_code == 401 and "proxy" not in upload.get_json()["error"]  # the token check's answer
    inside = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/api/v1/projects", environ_base=inside, headers=USER).status_code == 200


def test_a_custom_user_header_and_the_default_open_mode(sqlite_url):
    client = _client(sqlite_url, AUTH="proxy", AUTH_USER_HEADER="X-Auth-Request-Email")
    assert client.get("/", environ_base=PROXY, headers=USER).status_code == 401
    assert client.get("/", environ_base=PROXY, headers={"X-Auth-Request-Email": "a@b"}).status_code == 200
    assert _client(sqlite_url).get("/", environ_base=STRANGER).status_code == 200


def test_unknown_modes_are_refused(sqlite_url):
    with pytest.raises(AuthConfigError):
        _client(sqlite_url, AUTH="tokne")
    from dashboard.cli import main

    result = CliRunner(env={"SUITEHEALTH_AUTH": "tokne"}).invoke(main, ["--db", sqlite_url, "serve"])
    assert result.exit_code != 0 and "SUITEHEALTH_AUTH must be one of" in result.output


@pytest.mark.parametrize("host,auth,warns", [
    ("0.0.0.0", "none", True), ("::", None, True), ("192.0.2.4", "none", True),
    ("dash.example", "none", True),
    ("127.0.0.1", "none", False), ("localhost", "none", False), ("::1", "none", False),
    ("0.0.0.0", "proxy", False),
])
def test_serve_warns_when_open_to_the_network_without_sign_in(host, auth, warns):
    warning = open_to_the_network_warning(host, auth)
    assert (warning is not None) == warns
    if warns:
        assert host in warning and "SUITEHEALTH_AUTH" in warning
