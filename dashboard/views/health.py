"""GET /healthz: 200 when the database answers and takes writes, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, jsonify

from dashboard.db import get_engine
from dashboard.db_status import database_problem
from dashboard.errors import RETRY_AFTER_S

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    problem = database_problem(get_engine())
    if problem is not None:
        # Only the reason: the database's host, port and name are not for anonymous callers.
        status = "read-only" if "read-only" in problem else "unavailable"
        return jsonify({"status": status, "error": problem}), 503, {"Retry-After": str(RETRY_AFTER_S)}
    return jsonify({"status": "ok"})
