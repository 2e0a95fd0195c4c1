"""Who may read: SUITEHEALTH_AUTH=none (default, meant for localhost), proxy or token.

``proxy``: an authenticating reverse proxy (oauth2-proxy, nginx auth_request ...) signs people in and
passes their name in a header (SUITEHEALTH_AUTH_USER_HEADER, default X-Forwarded-User). The header is
believed only from SUITEHEALTH_TRUSTED_PROXIES (default: loopback), since anyone else could send it.
Uploads keep their own per-project tokens; /healthz and the static assets stay open.

``token``: people sign in at /signin with a read token (`suitehealth token create --read`) or an upload
token, and see only the projects it reads (dashboard/signin.py).
"""

from __future__ import annotations

import ipaddress

from flask import Flask, g, request

from dashboard.errors import error_response
from dashboard.settings import Settings, current_settings

MODES = ("none", "proxy", "token")
LOOPBACK = "127.0.0.1,::1"


class AuthConfigError(ValueError):
    """SUITEHEALTH_AUTH and friends do not make sense together."""


def _networks(raw: str) -> list:
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise AuthConfigError(f"SUITEHEALTH_TRUSTED_PROXIES: {exc}") from None


def _open_path() -> bool:
    path = request.path
    return (path == "/healthz" or path.startswith("/assets/") or path == "/favicon.ico"
            # Uploads authenticate with their project token (views/upload.py).
            or (request.method == "POST" and path.startswith("/api/v1/projects/") and path.endswith("/runs")))


def init_app(app: Flask) -> None:
    mode = Settings.from_config(app.config).auth
    if mode not in MODES:
        raise AuthConfigError(f"SUITEHEALTH_AUTH must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "none":
        return
    if mode == "token":
        from dashboard import signin

        signin.init_app(app, AuthConfigError)
        return
    header = app.config.get("AUTH_USER_HEADER") or "X-Forwarded-User"
    proxies = _networks(app.config.get("TRUSTED_PROXIES") or LOOPBACK)

    @app.before_request
    def _require_proxy_user():
        if _open_path():
            return None
        try:
            peer = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            peer = None
        user = request.headers.get(header, "").strip()
        if peer is None or not any(peer in net for net in proxies) or not user:
            return error_response(401, "sign in through the dashboard's proxy")
        g.user = user
        return None


def may_read(project: str) -> bool:
    """Return whether this request may see ``project``: only what its token reads in token mode."""
    if current_settings().auth != "token":
        return True
    reader = g.get("reader")
    return reader is not None and reader.may_read(project)


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is reachable only from this machine (a host name counts as not)."""
    try:
        return host in ("localhost", "") or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_mode(host: str) -> str:
    """The sign-in mode `serve` uses when SUITEHEALTH_AUTH is not set: off only on loopback."""
    return "none" if is_loopback(host) else "token"


def open_to_the_network_warning(host: str, auth: str | None) -> str | None:
    """The warning `serve` prints when it listens beyond loopback with no sign-in, else None."""
    if (auth or "none").lower() != "none" or is_loopback(host):
        return None
    return (f"WARNING: listening on {host} with SUITEHEALTH_AUTH=none: anyone who can reach this port "
            "can read every project, failure message and build URL. Set SUITEHEALTH_AUTH=token (sign-in with "
            "read tokens), SUITEHEALTH_AUTH=proxy behind an authenticating proxy, or bind to 127.0.0.1.")


def signin_default_note(host: str) -> str:
    """What `serve` says when it turned sign-in on by itself because it listens beyond loopback."""
    return (f"suitehealth: listening on {host}, so sign-in is on (SUITEHEALTH_AUTH=token by default beyond "
            "127.0.0.1). Give readers a read token: "
            "suitehealth token create --read --all-projects --label NAME (or --project NAME). "
            "To turn sign-in off, set SUITEHEALTH_AUTH=none explicitly.")
