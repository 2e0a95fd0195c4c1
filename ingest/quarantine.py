"""Read and change a project's quarantine list; every change is also written to its history.

Functions take a Session and leave the transaction to the caller (the CLI, the refresh's policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.models import Run
from ingest.quarantine_list import (
    ListedTest,
    QuarantineListError,
    absolute_url,
    check_nodeid,
    clean_reason,
    document,
    safe_url,
)
from ingest.quarantine_models import QuarantineEntry, QuarantineEvent

HISTORY_LIMIT = 500


@dataclass(frozen=True)
class Change:
    """One line of a quarantine entry's history."""

    nodeid: str
    suite: str | None
    action: str
    actor: str
    reason: str | None
    evidence_url: str | None
    at: datetime
    details: dict = field(default_factory=dict)


def add_entry(session: Session, project_id: int, nodeid: str, *, actor: str, suite: str | None = None,
              reason: str | None = None, evidence_url: str | None = None, automatic: bool = False,
              details: dict | None = None, now: datetime | None = None) -> tuple[QuarantineEntry, bool]:
    """Quarantine ``nodeid``; return (entry, whether it was added). An existing entry is left as it is."""
    check_nodeid(nodeid)
    if evidence_url and safe_url(evidence_url) is None:
        raise QuarantineListError(f"evidence link {evidence_url[:80]!r} is not an http(s) URL")
    existing = entry_for(session, project_id, nodeid)
    if existing is not None:
        return existing, False
    now = now or datetime.now(UTC)
    entry = QuarantineEntry(project_id=project_id, nodeid=nodeid, suite=suite, reason=clean_reason(reason),
                            added_by=actor[:200], added_at=now, evidence_url=evidence_url,
                            automatic=automatic)
    session.add(entry)
    session.add(QuarantineEvent(project_id=project_id, nodeid=nodeid, suite=suite, action="added",
                                actor=actor[:200], reason=entry.reason, evidence_url=evidence_url, at=now,
                                details=details or {}))
    session.flush()
    return entry, True


def remove_entry(session: Session, project_id: int, nodeid: str, *, actor: str, reason: str | None = None,
                 details: dict | None = None, now: datetime | None = None) -> QuarantineEntry | None:
    """Release ``nodeid`` from quarantine; return the removed entry (None when it was not quarantined)."""
    entry = entry_for(session, project_id, nodeid)
    if entry is None:
        return None
    # The newest run at removal: the policy re-quarantines only for a flake in a later run.
    last_run_id = session.scalar(select(func.max(Run.id)).where(Run.project_id == project_id))
    details = {**(details or {}), "last_run_id": last_run_id}
    session.delete(entry)
    session.add(QuarantineEvent(project_id=project_id, nodeid=nodeid, suite=entry.suite, action="removed",
                                actor=actor[:200], reason=clean_reason(reason),
                                evidence_url=entry.evidence_url, at=now or datetime.now(UTC),
                                details=details or {}))
    session.flush()
    return entry


def entry_for(session: Session, project_id: int, nodeid: str) -> QuarantineEntry | None:
    return session.scalars(
        select(QuarantineEntry)
        .where(QuarantineEntry.project_id == project_id, QuarantineEntry.nodeid == nodeid)
    ).first()


def entries(session: Session, project_id: int) -> list[QuarantineEntry]:
    """Return the project's quarantined tests, by node id."""
    return list(session.scalars(
        select(QuarantineEntry)
        .where(QuarantineEntry.project_id == project_id)
        .order_by(QuarantineEntry.nodeid)
    ))


def history(session: Session, project_id: int, *, nodeid: str | None = None,
            limit: int = HISTORY_LIMIT) -> list[Change]:
    """Return the project's quarantine changes, newest first (of one test when ``nodeid`` is given)."""
    query = select(QuarantineEvent).where(QuarantineEvent.project_id == project_id)
    if nodeid is not None:
        query = query.where(QuarantineEvent.nodeid == nodeid)
    rows = session.scalars(query.order_by(QuarantineEvent.at.desc(), QuarantineEvent.id.desc()).limit(limit))
    return [Change(r.nodeid, r.suite, r.action, r.actor, r.reason, safe_url(r.evidence_url), r.at,
                   dict(r.details or {})) for r in rows]


def default_evidence(project: str, nodeid: str) -> str:
    """Return the dashboard path of the test's history: the evidence when nobody gave a link."""
    return f"/projects/{quote(project, safe='')}/tests?nodeid={quote(nodeid, safe='')}"


def listed_tests(session: Session, project_id: int, project: str,
                 base_url: str | None = None) -> list[ListedTest]:
    """Return the list as its readers see it, links made absolute with ``base_url`` when given."""
    return [
        ListedTest(nodeid=e.nodeid, suite=e.suite, reason=e.reason, added_by=e.added_by,
                   added_at=e.added_at.isoformat(),
                   url=absolute_url(e.evidence_url or default_evidence(project, e.nodeid), base_url))
        for e in entries(session, project_id)
    ]


def export_document(session: Session, project_id: int, project: str, base_url: str | None = None) -> dict:
    """Return the JSON document of the project's list (what the plugin reads)."""
    return document(project, listed_tests(session, project_id, project, base_url),
                    datetime.now(UTC).isoformat(timespec="seconds"))
