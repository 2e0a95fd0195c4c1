"""SUITEHEALTH_AUTH=token: people sign in at /signin with a read (or upload) token.

The session is Flask's signed cookie. It holds only the token's id, a check value derived from the
token's stored hash (so a reused id cannot inherit a session), the sign-in time and a CSRF token;
every request looks the token up again, so revoking it ends its sessions. The cookie is HttpOnly,
SameSite=Lax and Secure when the public base URL is https (SUITEHEALTH_COOKIE_SECURE).

API clients may send the token itself instead (``Authorization: Bearer`` or ``X-Suitehealth-Token``).
The token-guarded POSTs (upload, verdicts, quarantine export) check their upload token themselves and
never look at the cookie, so they need no CSRF token; every other unsafe request does.

A reader of project A gets the same 404 on project B's pages as on a project that does not exist.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)

from dashboard.db import get_engine
from dashboard.errors import error_response, wants_json
from ingest.tokens import Reader, session_reader, sign_in, verify_reader

bp = Blueprint("signin", __name__)

COOKIE_NAME = "suitehealth_session"
# Browsers only accept a __Host- cookie that is Secure, for path / and without a Domain: no sibling
# subdomain can then plant or overwrite it.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
MIN_SECRET_CHARS = 32
MAX_NEXT_CHARS = 2000
MAX_TOKEN_CHARS = 200
TOKEN_HEADER = "X-Suitehealth-Token"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class SignInConfigError(ValueError):
    """The token mode's settings do not make sense (raised as auth.AuthConfigError's subclass)."""


def cookie_secure(config) -> bool:
    """Return whether the session cookie is marked Secure under ``config``."""
    raw = str(config.get("COOKIE_SECURE") or "auto").strip().lower()
    if raw == "auto":
        return str(config.get("BASE_URL") or "").lower().startswith("https://")
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SignInConfigError(f"SUITEHEALTH_COOKIE_SECURE must be auto, true or false, not {raw!r}")


def cookie_name(config) -> str:
    return SECURE_COOKIE_NAME if cookie_secure(config) else COOKIE_NAME


def init_app(app: Flask, error_class: type[Exception]) -> None:
    """Turn on sign-in: the session settings, /signin and /signout, and the checks before every request."""
    try:
        secure = cookie_secure(app.config)
    except SignInConfigError as exc:
        raise error_class(str(exc)) from None
    hours = float(app.config.get("SESSION_HOURS") or 0)
    if not 0 < hours <= 24 * 366:
        raise error_class(f"SUITEHEALTH_SESSION_HOURS must be between 0 and 8784, not {hours}")
    app.secret_key = _secret_key(app, error_class)
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name(app.config),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
        # The lifetime counts from the sign-in: using the dashboard does not extend it.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.register_blueprint(bp)
    app.before_request(_check_csrf)
    app.before_request(_require_reader)
    app.after_request(_private)
    app.context_processor(lambda: {"signin": _template_state()})


def _secret_key(app: Flask, error_class: type[Exception]) -> str:
    configured = app.config.get("SECRET_KEY")
    if configured:
        if len(str(configured)) < MIN_SECRET_CHARS:
            raise error_class(f"SUITEHEALTH_SECRET_KEY is too short: give at least {MIN_SECRET_CHARS} random "
                              "characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return str(configured)
    from sqlalchemy.exc import DBAPIError

    from ingest.shared_secrets import SESSION_KEY, shared_secret

    try:
        return shared_secret(app.extensions["suitehealth_engine"], SESSION_KEY)
    except DBAPIError as exc:
        raise error_class("SUITEHEALTH_AUTH=token needs a key to sign session cookies and could not "
                          f"store one in the database ({str(exc.orig).splitlines()[0][:200]}); set "
                          "SUITEHEALTH_SECRET_KEY (the same on every server)") from None


# ---- who is asking ---------------------------------------------------------------------------

def _header_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or ""
    if TOKEN_HEADER in request.headers:
        return request.headers.get(TOKEN_HEADER, "").strip()
    return None


def current_reader() -> Reader | None:
    """Return who this request reads as: a token in a header, else the signed-in session; None if nobody."""
    token = _header_token()
    if token is not None:
        # A token that does not check out is refused, not replaced by the cookie.
        return verify_reader(get_engine(), token)
    token_id, check, since = session.get("tid"), session.get("chk"), session.get("at")
    if token_id is None:
        return None
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(since, int | float) or not 0 <= time.time() - since <= lifetime:
        _forget()
        return None
    reader = session_reader(get_engine(), token_id, check)
    if reader is None:  # revoked (or gone): the session ends here
        _forget()
    return reader


def _forget() -> None:
    for key in ("tid", "chk", "at"):
        session.pop(key, None)


def _open_request() -> bool:
    from dashboard.auth import _open_path

    if _open_path() or request.blueprint == "signin":
        return True
    # The token-guarded JSON POSTs authenticate with the upload token in their Authorization header,
    # never with the cookie (dashboard/views/upload.py, confirm.py, quarantine.py, ci.py).
    return request.method == "POST" and request.path.startswith("/api/")


def _require_reader():
    if _open_request():
        return None
    reader = current_reader()
    if reader is None:
        if wants_json():
            body = jsonify({"error": "sign in: send a read token ('Authorization: Bearer <token>') or the "
                                     "session cookie of /signin", "status": 401})
            return body, 401, {"WWW-Authenticate": 'Bearer realm="suitehealth"'}
        return redirect("/signin?next=" + quote(_this_path(), safe="/"), 303)
    g.reader = reader
    project = (request.view_args or {}).get("project")
    if isinstance(project, str) and not reader.may_read(project):
        # The very answer a project that does not exist gets (views/common.py project_or_404).
        return error_response(404, f"no project named {project!r}")
    return None


def _this_path() -> str:
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def safe_next(value: str | None) -> str:
    """Return ``value`` if it is a path on this site, else "/" (no open redirect)."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/") or value.startswith("//"):
        return "/"
    # Browsers read a backslash as a slash ("/\\evil.example") and drop tabs and newlines.
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# ---- CSRF ------------------------------------------------------------------------------------

def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf():
    if request.method not in UNSAFE_METHODS or request.path.startswith("/api/"):
        return None
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(
            sent.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")):
        return error_response(400, "the form expired or did not come from this site (CSRF check failed); "
                                   "reload the page and try again")
    return None


def _template_state() -> dict:
    reader = g.get("reader")
    signed_in = reader is not None and "tid" in session
    return {"signed_in": signed_in, "reader": reader, "csrf_token": csrf_token if signed_in else None}


def _private(response):
    # Pages of a signed-in reader are theirs: no shared cache may keep them.
    if g.get("reader") is not None or request.blueprint == "signin":
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


# ---- the pages -------------------------------------------------------------------------------

@bp.get("/signin")
def signin_form():
    return _form()


def _form(error: str | None = None, status: int = 200):
    target = safe_next(request.values.get("next"))
    return render_template("signin/signin.html", next=target, error=error, csrf=csrf_token(),
                           no_json=True), status


@bp.post("/signin")
def signin_submit():
    token = (request.form.get("token") or "").strip()
    found = sign_in(get_engine(), token) if 0 < len(token) <= MAX_TOKEN_CHARS else None
    if found is None:
        return _form("That token is unknown or revoked.", 401)
    reader, check = found
    # A new session: nothing from before the sign-in (its CSRF token included) carries over.
    session.clear()
    session.permanent = True
    session.update(tid=reader.token_id, chk=check, at=int(time.time()), csrf=secrets.token_urlsafe(32))
    return redirect(safe_next(request.form.get("next")), 303)


@bp.post("/signout")
def signout():
    session.clear()
    return redirect("/signin", 303)
