"""Every stored analysis row of a project in comparable form, and the same computed from scratch."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from ingest.analysis_models import (
    AnalysedRun,
    AnalysisState,
    FailureSignature,
    FlakeStats,
    InterferenceSuspect,
)
from ingest.db import write_transaction
from ingest.models import Test


def stored_analysis(engine, project_id: int) -> dict:
    """Return every stored analysis row of the project in a comparable form (no surrogate ids)."""
    with Session(engine) as s:
        names = dict(s.execute(select(Test.id, Test.nodeid).where(Test.project_id == project_id)).all())
        stats = sorted(
            (r.suite_id, names[r.test_id], r.runs, r.failures, r.flakes, r.broken, r.score,
             r.last_flake_at, repr(r.state))
            for r in s.scalars(select(FlakeStats).where(FlakeStats.project_id == project_id))
        )
        signatures = sorted(
            (r.suite_id, names[r.test_id], r.signature_hash, r.signature, r.example, r.count,
             r.last_run_id, r.last_seen_at)
            for r in s.scalars(select(FailureSignature).where(FailureSignature.test_id.in_(names)))
        )
        runs = sorted(
            (r.run_id, r.suite_id, r.started_at, r.outage, repr(r.sequence))
            for r in s.scalars(select(AnalysedRun).where(AnalysedRun.project_id == project_id))
        )
        suspects = sorted(
            (r.suite_id, names[r.victim_id], r.rank, r.kind, r.confidence, repr(r.evidence),
             r.first_seen_at, r.last_seen_at)
            for r in s.scalars(
                select(InterferenceSuspect).where(InterferenceSuspect.project_id == project_id)
            )
        )
        watermark = s.scalar(select(AnalysisState.last_run_id).where(AnalysisState.project_id == project_id))
    return {"stats": stats, "signatures": signatures, "runs": runs, "suspects": suspects,
            "watermark": watermark}


def from_scratch(engine, project_id: int) -> dict:
    """Drop the project's stored analyses, analyse its whole history in one pass, return the result."""
    with write_transaction(engine) as s:
        test_ids = select(Test.id).where(Test.project_id == project_id)
        s.execute(delete(InterferenceSuspect).where(InterferenceSuspect.project_id == project_id))
        s.execute(delete(FailureSignature).where(FailureSignature.test_id.in_(test_ids)))
        s.execute(delete(FlakeStats).where(FlakeStats.project_id == project_id))
        s.execute(delete(AnalysedRun).where(AnalysedRun.project_id == project_id))
        s.execute(delete(AnalysisState).where(AnalysisState.project_id == project_id))
    refresh_project(engine, project_id)
    return stored_analysis(engine, project_id)
