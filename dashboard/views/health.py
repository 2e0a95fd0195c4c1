"""GET /healthz: "ok" when the database answers and takes writes, "read-only" (200) when it only
answers reads, 503 "unavailable" otherwise."""

from __future__ import annotations

from flask import Blueprint, jsonify

from dashboard.db import get_engine
from dashboard.db_status import READ_ONLY, database_problem
from dashboard.errors import RETRY_AFTER_S

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    problem = database_problem(get_engine())
    if problem == READ_ONLY:
        # Pages are still served (a read-only replica is a valid deployment), so this instance stays
        # in rotation; the status says that uploads are refused.
        return jsonify({"status": "read-only", "error": f"{problem}; uploads are refused"})
    if problem is not None:
        # Only the reason: the database's host, port and name are not for anonymous callers.
        return jsonify({"status": "unavailable", "error": problem}), 503, {"Retry-After": str(RETRY_AFTER_S)}
    return jsonify({"status": "ok"})
