"""The API of `suitehealth confirm` beyond the suspects listing.

POST /api/v1/projects/<p>/verdicts records what re-running a suspect showed; it is guarded by the
project's upload token, like uploads: whoever may add runs may add verdicts.

GET /api/v1/projects/<p>/unexplained lists the flaky tests without a suspect, with the stored orders
`confirm --unexplained` re-runs; it is read like every other GET (a read token or the project's
upload token under SUITEHEALTH_AUTH=token).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from dashboard.analysis.confirmations import record_verdict
from dashboard.analysis.freshness import analysis_status
from dashboard.analysis.unexplained import DEFAULT_VICTIMS, MAX_VICTIMS, NotFlaky, unexplained_victims
from dashboard.db import get_engine, get_session
from dashboard.errors import BadRequest, NotFound
from dashboard.views.common import arg_int, jsonable, project_or_404
from ingest.tokens import verify_token

bp = Blueprint("confirm", __name__)
MAX_BODY = 1 << 20


@bp.get("/api/v1/projects/<path:project>/unexplained")
def unexplained(project: str):
    """Flaky tests without a suspect or verdict and their stored orders (?victim= &again=1 &limit=)."""
    proj = project_or_404(project)
    session = get_session()
    victim = request.args.get("victim") or None
    again = arg_int("again", 0, minimum=0, maximum=1) == 1
    limit = arg_int("limit", DEFAULT_VICTIMS, minimum=1, maximum=MAX_VICTIMS)
    try:
        found = unexplained_victims(session, proj.id, victim=victim, again=again, limit=limit)
    except NotFlaky as exc:
        raise NotFound(str(exc)) from None
    return jsonify(jsonable({"project": proj.name, **found.as_json(),
                             "analysis": analysis_status(session, proj.id).as_json()}))


@bp.post("/api/v1/projects/<path:project>/verdicts")
def add_verdict(project: str):
    """Store one confirm verdict for ``project``; 201 with the verdict and its text."""
    engine = get_engine()
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    verified = verify_token(engine, secret.strip() or None) if scheme.lower() == "bearer" else None
    if verified is None:
        return (jsonify({"error": "missing, unknown or revoked token (send 'Authorization: Bearer <token>')",
                         "status": 401}), 401, {"WWW-Authenticate": 'Bearer realm="suitehealth"'})
    if verified.project != project:
        return jsonify({"error": f"this token belongs to project {verified.project!r}, not {project!r}",
                        "status": 403}), 403
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest(f"body larger than {MAX_BODY:,} bytes")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object: victim, kind, tested, culprits, verdict, commit, detail")
    try:
        with Session(engine) as session, session.begin():
            verdict = record_verdict(
                session, verified.project_id, victim=body.get("victim"), kind=body.get("kind"),
                tested=body.get("tested") or [], culprits=body.get("culprits") or [],
                verdict=body.get("verdict"), commit=body.get("commit"), detail=body.get("detail"))
    except (ValueError, TypeError) as exc:
        raise BadRequest(str(exc)) from exc
    return jsonify(verdict.as_dict()), 201
