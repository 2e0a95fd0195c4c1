"""Bring a project's stored flakiness and interference analyses up to date, incrementally.

Each run is analysed exactly once: the per-project watermark (``analysis_state.last_run_id``)
says which runs are done. A refresh reads only the new runs' results, advances the per-test state
machines stored in ``test_flake_stats``, appends the runs' compact execution orders to
``analysed_runs`` and re-derives the suspects of the suites that got new runs from those compact
orders (never from the results table). With nothing new it costs two small queries.

Runs are taken in arrival (id) order per refresh, sorted by start time within one refresh; a run
uploaded late (older than runs already analysed) is applied after them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dashboard.analysis import interference
from dashboard.analysis import store as analysis_store
from dashboard.analysis.history import Analyzer, iter_results, iter_runs, load_commit_outcomes
from ingest.analysis_models import AnalysisState
from ingest.db import ensure_schema, write_transaction
from ingest.models import Run


def needs_refresh(session: Session, project_id: int) -> bool:
    """Return whether runs arrived since the project was last analysed (two indexed lookups)."""
    done = (
        session.scalar(select(AnalysisState.last_run_id).where(AnalysisState.project_id == project_id)) or 0
    )
    latest = session.scalar(select(func.max(Run.id)).where(Run.project_id == project_id))
    return latest is not None and latest > done


def refresh_project(engine: Engine, project_id: int) -> None:
    """Analyse the project's runs not analysed yet and store the results; cheap when nothing is new."""
    ensure_schema(engine)
    with Session(engine) as session:
        if not needs_refresh(session, project_id):
            return
    with write_transaction(engine) as session:
        watermark = _lock_watermark(session, project_id)
        runs = iter_runs(session, project_id, after_id=watermark.last_run_id)
        if not runs:
            return
        analyzer = Analyzer(project_id)
        rows = analysis_store.load_states(session, project_id)
        analyzer.states = {k: _thaw(r.state) for k, r in rows.items()}
        signatures = analysis_store.load_signatures(session, project_id)
        analysis_store.seed_signatures(analyzer, signatures)
        analyzer.commits = load_commit_outcomes(session, project_id, runs, watermark.last_run_id)
        for run, results in iter_results(session, runs):
            analyzer.process(run, results)
        analysis_store.save_states(session, analyzer, rows)
        analysis_store.save_signatures(session, analyzer, signatures)
        analysis_store.save_runs(session, analyzer)
        session.flush()
        for suite_id in sorted({run.suite_id for run in runs}):
            victims, windows = interference.victims_and_windows(analyzer.states, suite_id)
            sequences = analysis_store.load_sequences(session, suite_id, interference.HISTORY_RUNS)
            results = interference.compute_suite(sequences, victims, windows)
            analysis_store.replace_suspects(session, project_id, suite_id, results)
        watermark.last_run_id = max(run.id for run in runs)
        watermark.updated_at = datetime.now(UTC)


def _thaw(state: dict) -> dict:
    return {k: ([list(e) for e in v] if k == "episodes" else v) for k, v in state.items()}


def _lock_watermark(session: Session, project_id: int) -> AnalysisState:
    """Return the project's watermark row, locked so concurrent refreshes take turns."""
    dialect = session.get_bind().dialect.name
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        ins(AnalysisState)
        .values(project_id=project_id, last_run_id=0)
        .on_conflict_do_nothing(index_elements=["project_id"])
    )
    query = select(AnalysisState).where(AnalysisState.project_id == project_id)
    if dialect == "postgresql":
        query = query.with_for_update()  # SQLite's BEGIN IMMEDIATE already serialises writers
    return session.scalars(query).one()


def catch_up(session: Session, project_id: int, *, end_read: bool = True) -> bool:
    """Refresh the project if runs arrived; return whether it did.

    ``end_read`` commits ``session`` first so that its next read sees the refreshed tables (an
    SQLite read transaction keeps its snapshot): right for the pages' read-only request session.
    Callers that do not own the session pass False and read through a new session when True
    comes back.
    """
    bind = session.get_bind()
    if not isinstance(bind, Engine) or not needs_refresh(session, project_id):
        return False
    if end_read:
        session.commit()
    refresh_project(bind, project_id)
    return True
