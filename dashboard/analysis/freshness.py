"""How far a project's stored analyses lag behind its runs (read only: pages show it, the worker acts on it).

A run is waiting when it has no ``analysed_runs`` row and its id is above ``last_run_id -
LATE_RUN_WINDOW``: on PostgreSQL run ids come from a sequence, and an upload that took its id
first may commit after a later run was analysed; its run then sits below the watermark. Only
uploads in flight at the same time can do that, so a window of ids, not the whole history, is
searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ingest.analysis_models import AnalysedRun, AnalysisState
from ingest.models import Project, Run

LATE_RUN_WINDOW = 1000


@dataclass(frozen=True)
class AnalysisStatus:
    """What a page says about the stored analysis it shows."""

    runs_behind: int
    updated_at: datetime | None

    @property
    def up_to_date(self) -> bool:
        return self.runs_behind == 0

    def as_json(self, now: datetime | None = None) -> dict:
        """Return what the JSON twins carry (and templates show) about the stored analysis."""
        return {"runs_behind": self.runs_behind, "updated_at": self.updated_at,
                "up_to_date": self.up_to_date, "message": self.describe(now)}

    def describe(self, now: datetime | None = None) -> str:
        """Return e.g. "analysis 3 runs behind, updated 40 s ago" (or "analysis up to date, ...")."""
        runs = f"{self.runs_behind} run{'s' * (self.runs_behind != 1)}"
        lag = "up to date" if self.up_to_date else f"{runs} behind"
        if self.updated_at is None:
            return f"analysis {lag}, not run yet"
        seconds = max(0, int(((now or datetime.now(UTC)) - self.updated_at).total_seconds()))
        return f"analysis {lag}, updated {_ago(seconds)}"


def _ago(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def unanalysed_runs(project_id: int, watermark: int) -> Select:
    """Return the query of the project's run ids that no refresh has analysed yet."""
    return select(Run.id).where(
        Run.project_id == project_id,
        Run.id > watermark - LATE_RUN_WINDOW,
        ~select(AnalysedRun.run_id).where(AnalysedRun.run_id == Run.id).exists(),
    )


def _watermark(session: Session, project_id: int) -> tuple[int, datetime | None]:
    row = session.execute(
        select(AnalysisState.last_run_id, AnalysisState.updated_at)
        .where(AnalysisState.project_id == project_id)
    ).one_or_none()
    return (row[0], row[1]) if row else (0, None)


def needs_refresh(session: Session, project_id: int) -> bool:
    """Return whether runs arrived since the project was last analysed (two indexed lookups)."""
    watermark, _ = _watermark(session, project_id)
    return session.scalar(unanalysed_runs(project_id, watermark).exists().select()) or False


def analysis_status(session: Session, project_id: int) -> AnalysisStatus:
    """Return how many runs the stored analysis lacks and when it was last stored."""
    watermark, updated_at = _watermark(session, project_id)
    waiting = unanalysed_runs(project_id, watermark).subquery()
    behind = session.scalar(select(func.count()).select_from(waiting))
    return AnalysisStatus(int(behind or 0), updated_at)


def projects_behind(session: Session) -> list[int]:
    """Return the ids of the projects with runs not analysed yet, oldest project first."""
    waiting = select(Run.id).where(
        Run.project_id == Project.id,
        Run.id > func.coalesce(AnalysisState.last_run_id, 0) - LATE_RUN_WINDOW,
        ~select(AnalysedRun.run_id).where(AnalysedRun.run_id == Run.id).exists(),
    )
    query = (
        select(Project.id)
        .outerjoin(AnalysisState, AnalysisState.project_id == Project.id)
        .where(waiting.exists())
        .order_by(Project.id)
    )
    return list(session.scalars(query))
