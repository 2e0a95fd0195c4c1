"""GET /healthz: 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from dashboard.db import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy"
        # The driver's message names the host, port, database and user: for the log, not for anyone
        # who can reach the port.
        current_app.logger.warning("healthz: database unavailable", exc_info=True)
        return jsonify({"status": "unavailable", "error": "database unavailable"}), 503, {"Retry-After": "5"}
    return jsonify({"status": "ok"})
