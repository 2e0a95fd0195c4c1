"""Map domain errors to HTTP statuses: JSON under /api/, an HTML page elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from dashboard.analysis.levels import ConfigError
from ingest.errors import IngestError


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


def init_app(app: Flask) -> None:
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
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        from flask import g

        session = g.get("db_session")
        if session is not None:
            session.rollback()
        return error_response(500, "internal error; the server log has the details")
