"""GET /api/v1/projects/<p>/runs/<id>/verdicts: what a run's failures mean, for the CI job that
uploaded it (summary and gate of `suitehealth upload`); needs the project's upload token."""

from __future__ import annotations

from flask import Blueprint, jsonify

from dashboard.analysis.run_verdicts import run_verdicts
from dashboard.db import get_session
from dashboard.errors import NotFound
from dashboard.settings import current_settings
from dashboard.urls import caller_urls
from dashboard.views.quarantine import project_token

bp = Blueprint("ci", __name__)


@bp.post("/api/v1/projects/<path:project>/runs/<int:run_id>/verdicts")
def verdicts(project: str, run_id: int):
    verified, refusal = project_token(project)
    if refusal:
        return refusal
    try:
        found = run_verdicts(get_session(), verified.project_id, verified.project, run_id,
                             settings=current_settings())
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    url = caller_urls().run(verified.project, run_id)
    return jsonify(found.as_dict(url))
