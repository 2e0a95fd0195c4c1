"""Map domain errors to HTTP statuses: JSON under /api/, an HTML page elsewhere.

Requests no view could answer sensibly (a NUL in the URL, an id past 64 bits) are refused here
before any view runs, and a database that is down, read-only or gone is a 503 the client may
retry, not a 500.
"""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from dashboard.analysis.levels import ConfigError
from ingest.errors import IngestError

# Seconds a client should wait before retrying when the database is unavailable.
RETRY_AFTER_S = 30
# PostgreSQL error codes that mean "the database cannot serve now", not "this request is wrong":
# connection exceptions, read-only transaction, shutdown/crash, too many connections, no such
# database, and a schema that is gone.
_UNAVAILABLE_SQLSTATES = ("08", "25006", "57P", "53", "3D000", "3F000", "42P01")


class NotFound(Exception):
    """A named thing (project, run, test) does not exist."""

    status = 404


class BadRequest(Exception):
    """A query parameter is invalid."""

    status = 400


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str):
    if wants_json():
        return jsonify({"error": message, "status": status}), status
    return render_template("error.html", status=status, message=message), status


def database_unavailable(exc: BaseException) -> bool:
    """Return whether ``exc`` says the database is down, read-only or gone (rather than a bug)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or ""
        return state.startswith(_UNAVAILABLE_SQLSTATES)
    return False


def init_app(app: Flask) -> None:
    from dashboard.views.common import BoundedIntConverter

    # Before any blueprint adds its rules: every <int:...> in a route is then bounded.
    app.url_map.converters["int"] = BoundedIntConverter

    @app.before_request
    def _refuse_nul():
        # PostgreSQL cannot compare text with NUL in it, and no name or parameter needs one.
        args = request.args.items(multi=True)
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in args):
            return error_response(400, "the URL contains a NUL character (%00)")
        return None

    @app.errorhandler(NotFound)
    @app.errorhandler(BadRequest)
    @app.errorhandler(IngestError)
    def _domain_error(exc):
        return error_response(getattr(exc, "status", 400), str(exc))

    @app.errorhandler(ConfigError)
    def _config_error(exc: ConfigError):
        # A broken [tool.suitehealth] table is the operator's to fix; say what is wrong, on any page.
        return error_response(400, f"suitehealth configuration: {exc}")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body, status = error_response(exc.code or 500, exc.description or exc.name)
        # Keep the exception's own headers (Allow on a 405, WWW-Authenticate ...), not its body's.
        headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")}
        return body, status, headers

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        _rollback()
        if not database_unavailable(exc):
            return _unexpected(exc)
        app.logger.warning("database unavailable on %s: %s", request.path, str(exc.orig).splitlines()[:1])
        body, status = error_response(503, "database unavailable; try again shortly")
        return body, status, {"Retry-After": str(RETRY_AFTER_S)}

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path, exc_info=exc)
        _rollback()
        return error_response(500, "internal error; the server log has the details")


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # the connection itself may be gone; the session is closed at teardown
            pass
