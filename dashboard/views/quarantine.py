"""The quarantine list and its history (/projects/<p>/quarantine + JSON twin), and the token-guarded
export the pytest plugin reads (/api/v1/projects/<p>/quarantine/export)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from dashboard.analysis.quarantine_policy import policy_from_settings
from dashboard.db import get_engine, get_session
from dashboard.settings import current_settings
from dashboard.urls import caller_urls
from dashboard.views.common import page, project_or_404
from ingest.quarantine import default_evidence, entries, export_document, history
from ingest.quarantine_list import safe_url
from ingest.tokens import verify_token

bp = Blueprint("quarantine", __name__)


@page(bp, "/projects/<project>/quarantine", "quarantine/index.html")
def quarantine(project: str) -> dict:
    """The project's quarantined tests, the policy in force and every change, newest first."""
    proj = project_or_404(project)
    session = get_session()

    tests = [
        {"nodeid": e.nodeid, "suite": e.suite, "reason": e.reason, "added_by": e.added_by,
         "added_at": e.added_at, "automatic": e.automatic,
         "evidence_url": safe_url(e.evidence_url or default_evidence(proj.name, e.nodeid))}
        for e in entries(session, proj.id)
    ]
    changes = history(session, proj.id)
    policy = policy_from_settings(current_settings().table)
    return {"project": proj.name, "policy": policy, "tests": tests, "history": changes}


def project_token(project: str):
    """Return (Verified, None) for a request carrying ``project``'s token, else (None, refusal)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    verified = verify_token(get_engine(), token.strip() if scheme.lower() == "bearer" else None)
    if verified is None:
        return None, (jsonify({"error": "missing, unknown or revoked token (send 'Authorization: Bearer "
                                        "<token>')", "status": 401}),
                      401, {"WWW-Authenticate": 'Bearer realm="suitehealth"'})
    if verified.project != project:
        return None, (jsonify({"error": f"this token belongs to project {verified.project!r}, not "
                                        f"{project!r}", "status": 403}), 403)
    return verified, None


# POST, not GET: a credentialed call, not a page (every GET page and twin answers without a token).
@bp.post("/api/v1/projects/<path:project>/quarantine/export")
def quarantine_export(project: str):
    """The list as ``quarantine export --format json`` writes it; needs the project's upload token."""
    verified, refusal = project_token(project)
    if refusal:
        return refusal
    return jsonify(export_document(get_session(), verified.project_id, verified.project, caller_urls().base))
