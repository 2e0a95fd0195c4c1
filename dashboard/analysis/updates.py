"""Bring a project's stored flakiness and interference analyses up to date, incrementally.

The one writer of the analysis tables: ``suitehealth worker`` (``dashboard.worker``) calls
``refresh_project``; pages only read what it stored (``freshness`` tells them how far behind).

Each run is analysed exactly once: the per-project watermark (``analysis_state.last_run_id``)
says which runs are done. A refresh reads only the new runs' results, advances the per-test state
machines stored in ``test_flake_stats``, appends the runs' compact execution orders to
``analysed_runs`` and re-derives the suspects of the suites that got new runs from those compact
orders (never from the results table). With nothing new it costs two small queries.

Runs are taken in arrival (id) order per refresh, sorted by start time within one refresh; a run
uploaded late (older than runs already analysed) is applied after them. A run is "new" when it has
no ``analysed_runs`` row and its id is above ``last_run_id - LATE_RUN_WINDOW``, so a PostgreSQL
upload that committed after a higher-numbered run was analysed is not skipped.

Concurrency: a refresh computes in a read transaction (no write lock, so uploads are not held up)
and stores the result in a short write transaction that re-checks the watermark row's version
(last_run_id, updated_at) it started from, locked (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on
SQLite). If another refresher stored first, the work is discarded and redone: no run is applied
twice or lost.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dashboard.analysis import interference, quarantine_policy, week_findings, week_parts, window_refresh
from dashboard.analysis import store as analysis_store
from dashboard.analysis.freshness import LATE_RUN_WINDOW
from dashboard.analysis.history import Analyzer, RunInfo, iter_results, iter_runs, load_commit_outcomes
from ingest.analysis_models import AnalysisState
from ingest.db import ensure_schema, write_transaction

log = logging.getLogger(__name__)

# A refresh computes without the write lock and then commits if nobody advanced the watermark
# meanwhile. Each failed attempt means another refresher committed (progress was made); after
# this many the refresh computes inside the write transaction instead, so it cannot starve.
OPTIMISTIC_ATTEMPTS = 3


@dataclass
class PendingRefresh:
    """An analysis of the runs after ``watermark``, computed but not stored yet."""

    project_id: int
    watermark: int
    # (last_run_id, updated_at) of the watermark row when the analysis started: every store
    # changes it, also one that only analysed late runs and left last_run_id where it was.
    version: tuple[int, datetime | None]
    runs: list[RunInfo]
    analyzer: Analyzer
    existing_states: set[tuple[int, int]]
    existing_signatures: set[tuple[int, int, str]]
    suspects: dict[int, dict[int, tuple[list[dict], str | None]]] = field(default_factory=dict)

    @property
    def last_run_id(self) -> int:
        return max(self.watermark, *(run.id for run in self.runs))


@dataclass(frozen=True)
class Refreshed:
    """What one refresh of a project did: the runs it stored, and analyses it threw away."""

    project_id: int
    run_ids: tuple[int, ...]
    # Attempts computed and then discarded because another refresher stored first (double work).
    discarded: int = 0


def refresh_project(engine: Engine, project_id: int, *, wait: bool = True) -> Refreshed | None:
    """Analyse the project's runs not analysed yet and store the results; cheap when nothing is new.

    The analysis reads in a plain read transaction (no write lock: concurrent uploads go on) and
    writes in a short one that first re-checks the watermark it started from; when another
    refresher advanced it meanwhile the work is discarded and redone from the new watermark, so no
    run is applied twice or skipped. With ``wait=False`` a project another refresher is working on
    is left to it and None comes back.
    """
    ensure_schema(engine)
    with _one_analyser(engine, project_id, wait=wait) as mine:
        if not mine:
            return None
        refreshed = _refresh(engine, project_id)
        # The pages' per-test window statistics (pyramid, slowest tests, regressions) follow.
        window_refresh.refresh_windows(engine, project_id)
        # And the weekly review's as-of findings at the week boundaries the runs cross, and the
        # parts it summarises from the results of its recent weeks.
        week_findings.refresh_week_findings(engine, project_id)
        week_parts.refresh_week_parts(engine, project_id)
        return refreshed


def _refresh(engine: Engine, project_id: int) -> Refreshed:
    """Store the analysis of the runs not analysed yet; the caller holds ``_one_analyser``."""
    for attempt in range(OPTIMISTIC_ATTEMPTS):
        pending = analyse_pending(engine, project_id)
        if pending is None:
            return Refreshed(project_id, (), attempt)
        log.info("project %s: storing the analysis of %d run(s)", project_id, len(pending.runs))
        if apply_pending(engine, pending):
            return Refreshed(project_id, _run_ids(pending), attempt)
    with write_transaction(engine) as session:
        watermark = _lock_watermark(session, project_id)
        pending = _compute(session, project_id, (watermark.last_run_id, watermark.updated_at))
        if pending is not None:
            _store(session, pending, watermark)
    return Refreshed(project_id, _run_ids(pending) if pending else (), OPTIMISTIC_ATTEMPTS)


def _run_ids(pending: PendingRefresh) -> tuple[int, ...]:
    return tuple(sorted(run.id for run in pending.runs))


@contextmanager
def _one_analyser(engine: Engine, project_id: int, *, wait: bool) -> Iterator[bool]:
    """Let one refresher at a time compute a project, across processes; yield whether we may.

    Workers on one PostgreSQL database take a project each and skip the ones another worker
    holds (``wait=False``), so no analysis is computed twice; the holder's next pass finds any
    run that arrived meanwhile. Correctness never depends on this lock (the watermark check does
    that), and waiting holds no database lock. A killed holder's lock goes with its process or
    connection. SQLite: an flock on a file beside the database (one writer there anyway);
    PostgreSQL: a session advisory lock per project; otherwise nothing.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).expanduser().resolve()
        try:
            handle = open(path.with_name(path.name + ".refresh-lock"), "a+b")  # noqa: SIM115
        except OSError:  # a read-only directory: go without, the watermark check still holds
            yield True
            return
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True  # the lock goes when the file is closed
    elif url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            # Advisory locks are per database, not per schema: two installations (or two test runs)
            # in schemas of one database must not share "project 1", so the schema names the space.
            space = conn.scalar(text("SELECT hashtext(:prefix || current_schema())"),
                                {"prefix": _LOCK_PREFIX})
            key = {"space": space, "key": project_id}
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:space, :key)"), key)
                mine = True
            else:
                mine = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:space, :key)"), key))
            conn.commit()
            if not mine:
                yield False
                return
            try:
                yield True
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), key)
                conn.commit()
    else:
        yield True


# suitehealth's PostgreSQL advisory locks: the first key hashes this and the schema, the second is
# the project id.
_LOCK_PREFIX = "suitehealth:"


def analyse_pending(engine: Engine, project_id: int) -> PendingRefresh | None:
    """Return the analysis of the runs after the stored watermark, or None when nothing is new.

    Reads from one snapshot (a deferred SQLite read transaction; REPEATABLE READ on PostgreSQL)
    and takes no lock.
    """
    with _read_session(engine) as session:
        version = session.execute(
            select(AnalysisState.last_run_id, AnalysisState.updated_at)
            .where(AnalysisState.project_id == project_id)
        ).one_or_none()
        return _compute(session, project_id, tuple(version) if version else (0, None))


def apply_pending(engine: Engine, pending: PendingRefresh) -> bool:
    """Store ``pending`` if the watermark is still where it started; return whether it was stored."""
    with write_transaction(engine) as session:
        watermark = _lock_watermark(session, pending.project_id)
        if (watermark.last_run_id, watermark.updated_at) != pending.version:
            return False  # another refresher stored an analysis first: ours is out of date
        _store(session, pending, watermark)
        return True


@contextmanager
def _read_session(engine: Engine) -> Iterator[Session]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every read, like SQLite's read transaction: the watermark, the
            # stored states and the new runs must agree with each other.
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with Session(bind=conn) as session, session.begin():
            yield session


def _compute(
    session: Session, project_id: int, version: tuple[int, datetime | None]
) -> PendingRefresh | None:
    watermark = version[0]
    runs = iter_runs(session, project_id, after_id=watermark - LATE_RUN_WINDOW, unanalysed_only=True)
    if not runs:
        return None
    analyzer = Analyzer(project_id)
    rows = analysis_store.load_states(session, project_id)
    analyzer.states = {k: _thaw(r.state) for k, r in rows.items()}
    signatures = analysis_store.load_signatures(session, project_id)
    analysis_store.seed_signatures(analyzer, signatures)
    analyzer.commits = load_commit_outcomes(session, project_id, runs, watermark)
    for run, results in iter_results(session, runs):
        analyzer.process(run, results)
    pending = PendingRefresh(project_id, watermark, version, runs, analyzer, set(rows), set(signatures))
    nodeids = interference.project_nodeids(session, project_id)
    for suite_id in sorted({run.suite_id for run in runs}):
        victims, windows = interference.victims_and_windows(analyzer.states, suite_id)
        new = [(run.id, run.started_at, seq) for run, outage, seq in analyzer.processed
               if run.suite_id == suite_id and not outage]
        sequences = analysis_store.load_sequences(session, suite_id, interference.HISTORY_RUNS, new)
        sigs = interference.suite_signatures(analyzer.signatures, suite_id)
        pending.suspects[suite_id] = interference.compute_suite(sequences, victims, windows, nodeids, sigs)
    return pending


def _store(session: Session, pending: PendingRefresh, watermark: AnalysisState) -> None:
    analyzer = pending.analyzer
    analysis_store.save_states(session, analyzer, pending.existing_states)
    analysis_store.save_signatures(
        session, analyzer, pending.existing_signatures, {run.id for run in pending.runs}
    )
    analysis_store.save_runs(session, analyzer)
    for suite_id, results in pending.suspects.items():
        analysis_store.replace_suspects(session, pending.project_id, suite_id, results)
    quarantine_policy.refresh_hook(session, pending.project_id)
    watermark.last_run_id = pending.last_run_id
    now = datetime.now(UTC)
    previous = watermark.updated_at
    # A new version even if the clock did not move: apply_pending compares it.
    watermark.updated_at = (
        now if previous is None or now > previous else previous + timedelta(microseconds=1)
    )


def _thaw(state: dict) -> dict:
    return {k: ([list(e) for e in v] if k == "episodes" else v) for k, v in state.items()}


def _lock_watermark(session: Session, project_id: int) -> AnalysisState:
    """Return the project's watermark row, locked so concurrent writers of it take turns."""
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
