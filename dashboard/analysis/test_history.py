"""One test's history: its outcome in each run, durations by phase, failure messages, first/last seen.

Everything comes through the (test_id, run_id) index on results; a test has one row per run (plus
reruns), so even the biggest history is a few thousand rows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis.runs import pass_rate, where_run_matches
from dashboard.analysis.window import ALL_TIME, Window
from ingest.models import Result, Run, Suite, Test
from ingest.records import BAD_OUTCOMES


@dataclass(frozen=True)
class TestRun:
    """The test in one run: the final outcome, attempts and the final attempt's timings."""

    run_id: int
    suite: str
    branch: str | None
    commit: str | None
    started_at: datetime
    outcome: str
    attempts: int
    duration_s: float | None
    setup_s: float | None
    call_s: float | None
    teardown_s: float | None
    worker_id: str | None
    message: str | None


@dataclass(frozen=True)
class TestHistory:
    """A test's identity and its recent runs (oldest first) with summary numbers."""

    nodeid: str
    file: str | None
    classname: str | None
    name: str
    markers: list
    first_seen_at: datetime | None
    first_seen_run_id: int | None
    last_seen_at: datetime | None
    last_seen_run_id: int | None
    total_runs: int
    runs: list[TestRun]
    outcomes: dict[str, int] = field(default_factory=dict)
    pass_rate: float | None = None
    reruns: int = 0
    median_s: float | None = None
    median_setup_s: float | None = None
    median_call_s: float | None = None
    median_teardown_s: float | None = None
    failures: list[TestRun] = field(default_factory=list)


def find_test(session: Session, project_id: int, nodeid: str) -> Test | None:
    """Return the project's test with this node id, or None."""
    return session.scalars(select(Test).where(Test.project_id == project_id, Test.nodeid == nodeid)).first()


def search_tests(session: Session, project_id: int, query: str | None = None, *, limit: int = 50,
                 offset: int = 0) -> tuple[list[dict], int]:
    """Return one page of the project's tests whose node id contains ``query``, and the total."""
    base = select(Test.id, Test.nodeid, Test.file, Test.markers).where(Test.project_id == project_id)
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        base = base.where(Test.nodeid.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(Test.nodeid).limit(limit).offset(offset))
    return [{"nodeid": r.nodeid, "file": r.file, "markers": r.markers or []} for r in rows], total


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def test_history(session: Session, test: Test, window: Window = ALL_TIME, *, suite: str | None = None,
                 branch: str | None = None, limit: int = 100) -> TestHistory:
    """Return the last ``limit`` runs of ``test`` in ``window`` matching the filters, oldest first.

    Outcome counts, pass rate and medians describe the runs shown; first/last seen cover all runs.
    """
    seen = session.execute(
        select(func.min(Run.started_at), func.max(Run.started_at), func.count(func.distinct(Result.run_id)))
        .select_from(Result).join(Run, Run.id == Result.run_id).where(Result.test_id == test.id)
    ).one()
    first_at, last_at, total_runs = seen
    first_id = last_id = None
    if first_at is not None:
        ids = select(Result.run_id).join(Run, Run.id == Result.run_id).where(Result.test_id == test.id)
        first_id = session.scalar(ids.where(Run.started_at == first_at).order_by(Result.run_id).limit(1))
        last_id = session.scalar(ids.where(Run.started_at == last_at).order_by(Result.run_id.desc()).limit(1))

    query = (
        select(Result.run_id, Suite.name.label("suite"), Run.branch, Run.commit, Run.started_at,
               Result.outcome, Result.attempt.label("attempts"), Result.duration_s, Result.setup_s,
               Result.call_s, Result.teardown_s, Result.worker_id, Result.message)
        .join(Run, Run.id == Result.run_id).join(Suite, Suite.id == Run.suite_id)
        .where(Result.test_id == test.id, Result.final)
    )
    query = where_run_matches(query, window, suite=suite, branch=branch)
    rows = session.execute(query.order_by(Run.started_at.desc(), Result.run_id.desc()).limit(limit)).all()
    # The final attempt's number is the run's attempt count: the store numbers attempts 1..n.
    runs = [TestRun(**r._asdict()) for r in reversed(rows)]
    retried = [r.run_id for r in runs if r.attempts > 1 and not r.message]
    if retried:
        # A test that passed on a rerun has no final message: show why the earlier attempt failed.
        earlier = dict(session.execute(
            select(Result.run_id, Result.message)
            .where(Result.test_id == test.id, Result.run_id.in_(retried), Result.final.is_(False),
                   Result.message.is_not(None))
            .order_by(Result.run_id, Result.attempt)
        ).all())
        runs = [replace(r, message=earlier.get(r.run_id)) if r.run_id in earlier else r for r in runs]

    outcomes: dict[str, int] = {}
    for r in runs:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    ran = sum(n for o, n in outcomes.items() if o not in ("skipped", "xfailed"))
    timed = [r for r in runs if r.outcome not in ("skipped",)]
    return TestHistory(
        nodeid=test.nodeid, file=test.file, classname=test.classname, name=test.name,
        markers=test.markers or [],
        first_seen_at=first_at, first_seen_run_id=first_id, last_seen_at=last_at, last_seen_run_id=last_id,
        total_runs=total_runs or 0, runs=runs, outcomes=outcomes,
        pass_rate=pass_rate(outcomes.get("passed", 0), ran),
        reruns=sum(r.attempts - 1 for r in runs),
        median_s=_median([r.duration_s for r in timed]),
        median_setup_s=_median([r.setup_s for r in timed]),
        median_call_s=_median([r.call_s for r in timed]),
        median_teardown_s=_median([r.teardown_s for r in timed]),
        failures=[r for r in reversed(runs) if r.outcome in BAD_OUTCOMES or r.attempts > 1][:20],
    )


# Keep pytest from collecting these when a test module imports them.
TestRun.__test__ = False  # type: ignore[attr-defined]
TestHistory.__test__ = False  # type: ignore[attr-defined]
test_history.__test__ = False  # type: ignore[attr-defined]
