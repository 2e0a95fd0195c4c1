"""Runs of a project: the filtered run list, one run's summary, its tests and its worker timeline.

Lists read the per-run totals on ``runs``; one run's tests come through the (run_id, order_index)
index, one page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from dashboard.analysis.window import ALL_TIME, Window
from dashboard.settings import Settings
from ingest.models import Result, Run, Suite, Test
from ingest.records import BAD_OUTCOMES

# Server-side sort keys of a run's test table -> ORDER BY columns (ties broken by execution order).
SORTS = ("failures", "duration", "outcome", "order", "name")
# Outcome severity for sorting: problems first.
_SEVERITY = {"error": 0, "failed": 1, "xpassed": 2, "skipped": 3, "xfailed": 4, "passed": 5}
# The timeline draws at most this many bars; the longest tests are kept (they shape the picture).
TIMELINE_MAX_BARS = 1000


def shallow_dict(obj) -> dict:
    """Return a dataclass's fields as a dict without copying values (``asdict`` deep-copies: slow)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def pass_rate(passed: int, ran: int) -> float | None:
    """Return passed / tests that ran (not skipped or xfailed); None when nothing ran."""
    return passed / ran if ran > 0 else None


@dataclass(frozen=True)
class RunRow:
    """One run as listed: identity, when, how long, and its outcome totals."""

    id: int
    suite: str
    branch: str | None
    commit: str | None
    build_id: str | None
    build_url: str | None
    started_at: datetime
    duration_s: float | None
    test_time_s: float
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    xfailed: int
    xpassed: int
    reruns: int
    workers: int

    @property
    def status(self) -> str:
        """'failed' if any test failed or errored, 'empty' without tests, else 'passed'."""
        if self.failed or self.errors:
            return "failed"
        return "empty" if not self.tests else "passed"

    @property
    def pass_rate(self) -> float | None:
        return pass_rate(self.passed, self.tests - self.skipped - self.xfailed)

    def as_dict(self) -> dict:
        """The fields plus ``status`` and ``pass_rate``, for JSON."""
        return {**shallow_dict(self), "status": self.status, "pass_rate": self.pass_rate}


@dataclass(frozen=True)
class RunDetail:
    """A run's row plus what only the detail page shows."""

    run: RunRow
    setup_time_s: float | None
    call_time_s: float | None
    teardown_time_s: float | None
    random_seed: str | None
    formats: str
    sources: list
    environment: dict
    previous_id: int | None
    next_id: int | None
    # What ingest decided for the user (e.g. repeated test names kept apart as #2, #3 ...).
    warnings: list = field(default_factory=list)


@dataclass(frozen=True)
class ResultRow:
    """One attempt of one test in a run."""

    nodeid: str
    outcome: str
    duration_s: float | None
    setup_s: float | None
    call_s: float | None
    teardown_s: float | None
    order_index: int
    worker_id: str | None
    attempt: int
    final: bool
    message: str | None


_RUN_COLUMNS = (
    Run.id, Suite.name.label("suite"), Run.branch, Run.commit, Run.build_id, Run.build_url, Run.started_at,
    Run.duration_s, Run.test_time_s, Run.tests, Run.passed, Run.failed, Run.errors, Run.skipped, Run.xfailed,
    Run.xpassed, Run.reruns, Run.workers,
)


_RESULT_COLUMNS = (
    Test.nodeid, Result.outcome, Result.duration_s, Result.setup_s, Result.call_s, Result.teardown_s,
    Result.order_index, Result.worker_id, Result.attempt, Result.final, Result.message,
)


def run_row(row) -> RunRow:
    """Return a RunRow from a row of ``filtered_runs``."""
    return RunRow(**row._asdict())


def filtered_runs(project_id: int | None, window: Window = ALL_TIME, *, suite: str | None = None,
                  branch: str | None = None) -> Select:
    """SELECT of the project's (None: every project's) runs in ``window`` matching the filters."""
    query = select(*_RUN_COLUMNS).join(Suite, Suite.id == Run.suite_id)
    if project_id is not None:
        query = query.where(Run.project_id == project_id)
    return where_run_matches(query, window, suite=suite, branch=branch)


def where_run_matches(query: Select, window: Window = ALL_TIME, *, suite: str | None = None,
                      branch: str | None = None) -> Select:
    """Narrow a SELECT joining Run and Suite to the runs started in ``window`` matching the filters."""
    if suite:
        query = query.where(Suite.name == suite)
    if branch:
        query = query.where(Run.branch == branch)
    if window.since is not None:
        query = query.where(Run.started_at >= window.since)
    if window.until is not None:
        query = query.where(Run.started_at < window.until)
    return query


def list_runs(session: Session, project_id: int, window: Window = ALL_TIME,
              settings: Settings | None = None, *, suite: str | None = None, branch: str | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[RunRow], int]:
    """Return one page of the runs started in ``window``, newest first, and how many match in all."""
    query = filtered_runs(project_id, window, suite=suite, branch=branch)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit).offset(offset))
    return [run_row(r) for r in rows], total


def suite_names(session: Session, project_id: int) -> list[str]:
    """Return the project's suite names, sorted."""
    query = select(Suite.name).where(Suite.project_id == project_id).order_by(Suite.name)
    return list(session.scalars(query))


def branch_names(session: Session, project_id: int, limit: int = 200) -> list[str]:
    """Return the project's branches, most recently run first (capped: pick lists stay usable)."""
    rows = session.execute(
        select(Run.branch, func.max(Run.started_at).label("last"))
        .where(Run.project_id == project_id, Run.branch.is_not(None))
        .group_by(Run.branch).order_by(func.max(Run.started_at).desc()).limit(limit)
    )
    return [r.branch for r in rows]


def run_detail(session: Session, project_id: int, run_id: int) -> RunDetail | None:
    """Return the run with its phase totals and neighbours in its suite, or None if not in the project."""
    row = session.execute(
        select(*_RUN_COLUMNS, Run.suite_id, Run.setup_time_s, Run.call_time_s, Run.teardown_time_s,
               Run.random_seed, Run.formats, Run.sources, Run.environment, Run.warnings)
        .join(Suite, Suite.id == Run.suite_id)
        .where(Run.id == run_id, Run.project_id == project_id)
    ).first()
    if row is None:
        return None
    data = row._asdict()
    suite_id = data.pop("suite_id")
    extra = {k: data.pop(k) for k in ("setup_time_s", "call_time_s", "teardown_time_s", "random_seed",
                                      "formats", "sources", "environment", "warnings")}
    run = RunRow(**data)
    same_suite = select(Run.id).where(Run.suite_id == suite_id)
    at, rid = run.started_at, run.id
    previous_id = session.scalar(
        same_suite.where((Run.started_at < at) | ((Run.started_at == at) & (Run.id < rid)))
        .order_by(Run.started_at.desc(), Run.id.desc()).limit(1))
    next_id = session.scalar(
        same_suite.where((Run.started_at > at) | ((Run.started_at == at) & (Run.id > rid)))
        .order_by(Run.started_at, Run.id).limit(1))
    return RunDetail(run=run, previous_id=previous_id, next_id=next_id, sources=extra.pop("sources") or [],
                     environment=extra.pop("environment") or {}, formats=extra.pop("formats") or "",
                     warnings=extra.pop("warnings") or [], **extra)


def _severity():
    return case(_SEVERITY, value=Result.outcome, else_=9)


def run_results(session: Session, run_id: int, *, sort: str = "failures", descending: bool | None = None,
                outcome: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[ResultRow], int]:
    """Return one page of the run's results (every attempt) in ``sort`` order, and the total.

    ``failures`` (the default) puts errors and failures first, then execution order; ``duration``
    is slowest first unless ``descending`` is False.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    base = select(Result).where(Result.run_id == run_id)
    if outcome:
        base = base.where(Result.outcome == outcome)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = {
        "failures": [_severity(), Result.order_index],
        "duration": [func.coalesce(Result.duration_s, 0.0).desc() if descending is not False
                     else func.coalesce(Result.duration_s, 0.0), Result.order_index],
        "outcome": [_severity().desc() if descending else _severity(), Result.order_index],
        "order": [Result.order_index.desc() if descending else Result.order_index],
        "name": [Test.nodeid.desc() if descending else Test.nodeid, Result.order_index],
    }[sort]
    query = (
        select(*_RESULT_COLUMNS)
        .join(Test, Test.id == Result.test_id).where(Result.run_id == run_id)
    )
    if outcome:
        query = query.where(Result.outcome == outcome)
    rows = session.execute(query.order_by(*order).limit(limit).offset(offset))
    return [ResultRow(**r._asdict()) for r in rows], total


def run_failures(session: Session, run_id: int, limit: int = 50) -> list[ResultRow]:
    """Return the run's failed and errored attempts (reruns included) in execution order, with messages."""
    rows = session.execute(
        select(*_RESULT_COLUMNS)
        .join(Test, Test.id == Result.test_id)
        .where(Result.run_id == run_id, Result.outcome.in_(BAD_OUTCOMES))
        .order_by(Result.final.desc(), Result.order_index).limit(limit)
    )
    return [ResultRow(**r._asdict()) for r in rows]


def outcome_counts(session: Session, run_id: int) -> dict[str, int]:
    """Return attempts per outcome in the run (reruns included), for the outcome filter."""
    rows = session.execute(
        select(Result.outcome, func.count()).where(Result.run_id == run_id).group_by(Result.outcome))
    return {outcome: n for outcome, n in rows}


def worker_summary(session: Session, run_id: int) -> list[dict]:
    """Per worker: tests, busy time and first start/last stop (empty when no worker ids were recorded)."""
    rows = session.execute(
        select(Result.worker_id, func.count().label("tests"),
               func.coalesce(func.sum(Result.duration_s), 0.0).label("busy_s"),
               func.min(Result.start_ts).label("first_start"), func.max(Result.stop_ts).label("last_stop"))
        .where(Result.run_id == run_id, Result.worker_id.is_not(None))
        .group_by(Result.worker_id).order_by(Result.worker_id)
    )
    return [r._asdict() for r in rows]


def worker_timeline(session: Session, run_id: int, max_bars: int = TIMELINE_MAX_BARS) -> list[dict]:
    """Return bars (worker, nodeid, outcome, start/stop epoch seconds) for attempts that have them.

    Empty unless the report recorded start/stop times (xdist, reportlog). At most ``max_bars``,
    the longest first: short tests are invisible slivers at any useful zoom anyway.
    """
    rows = session.execute(
        select(Result.test_id, Result.worker_id.label("worker"), Result.outcome,
               Result.start_ts.label("start"), Result.stop_ts.label("stop"), Result.attempt)
        .where(Result.run_id == run_id, Result.start_ts.is_not(None), Result.stop_ts.is_not(None))
        .order_by((Result.stop_ts - Result.start_ts).desc()).limit(max_bars)
    ).all()
    # Names in a second, primary-key query: joining tests into the sort costs more than the sort.
    ids = sorted({r.test_id for r in rows})
    names: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        names.update(session.execute(select(Test.id, Test.nodeid).where(Test.id.in_(ids[i:i + 500]))).all())
    return [
        {"worker": r.worker or "main", "nodeid": names.get(r.test_id, "?"), "outcome": r.outcome,
         "start": r.start, "stop": r.stop, "attempt": r.attempt}
        for r in rows
    ]
