"""GET /healthz: 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from dashboard.db import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy"
        return jsonify({"status": "unavailable", "error": str(exc).splitlines()[0]}), 503
    return jsonify({"status": "ok"})
