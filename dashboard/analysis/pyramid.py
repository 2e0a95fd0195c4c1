"""Is the test pyramid healthy? Tests and test time per level, the shape verdict and its weekly trend.

The recent window is the last ``WINDOW_DAYS`` days up to ``until`` (default: the project's newest
run), bounded to the newest ``RUNS_PER_SUITE`` runs of each suite so a page never reads more than
a few dozen runs' results. A level's ``tests`` counts the distinct tests seen in that window; its
``time_s`` adds up each test's median duration there (what one pass over the level costs).

Shape rule (on test counts u, i, e of unit, integration, e2e; "unknown" is left out):

* no tests: "empty"; only one level present: "unit only" / "integration only" / "e2e only";
* i is the strict maximum: "diamond" (integration-heavy);
* i is the strict minimum (u > i and e > i): "hourglass" (many unit and e2e, few in between);
* u >= i >= e: "pyramid" (healthy);
* otherwise e >= i >= u: "ice-cream cone" (inverted: e2e-heavy).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis.levels import (
    LEVELS,
    UNKNOWN,
    Rules,
    classify,
    classify_with_reason,
    level_rules,
)
from ingest.models import Result, Run, Test

__all__ = ["LevelStats", "Pyramid", "TestLevel", "as_utc_datetime", "classify", "level_rules",
           "pyramid_levels", "pyramid_shape"]

WINDOW_DAYS = 14
RUNS_PER_SUITE = 20
TREND_WEEKS = 26


@dataclass
class LevelStats:
    tests: int = 0
    time_s: float = 0.0
    share_tests: float = 0.0
    share_time: float = 0.0


@dataclass(frozen=True)
class TestLevel:
    """One test's level and the rule that decided it."""

    nodeid: str
    level: str
    reason: str
    median_s: float | None


@dataclass
class Pyramid:
    levels: dict[str, LevelStats]
    shape: str
    since: datetime | None
    until: datetime | None
    runs: int
    tests: int
    trend: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    rules_source: str = ""
    classified: list[TestLevel] = field(default_factory=list)


def pyramid_shape(unit: int, integration: int, e2e: int) -> str:
    """Name the shape of the level counts (see the module docstring for the rule)."""
    u, i, e = unit, integration, e2e
    present = [name for name, n in (("unit", u), ("integration", i), ("e2e", e)) if n > 0]
    if not present:
        return "empty"
    if len(present) == 1:
        return f"{present[0]} only"
    if i > u and i > e:
        return "diamond"
    if i < u and i < e:
        return "hourglass"
    if u >= i >= e:
        return "pyramid"
    return "ice-cream cone"


def as_utc_datetime(value: date | datetime | None, *, end_of_day: bool) -> datetime | None:
    """Return ``value`` as an aware UTC datetime; a date means its first (or last) moment."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    moment = datetime.combine(value, time.max if end_of_day else time.min, tzinfo=UTC)
    return moment


def pyramid_levels(session: Session, project_id: int, *, since: date | datetime | None = None,
                   until: date | datetime | None = None, rules: Rules | None = None) -> Pyramid:
    """Return tests and test time per level over the recent window, the shape and its weekly trend."""
    rules = rules or level_rules()
    end = as_utc_datetime(until, end_of_day=True)
    if end is None:
        end = session.scalar(select(func.max(Run.started_at)).where(Run.project_id == project_id))
    empty = {lvl: LevelStats() for lvl in LEVELS}
    if end is None:
        return Pyramid(empty, "empty", None, None, 0, 0, rules=rules.describe(), rules_source=rules.source)
    start = as_utc_datetime(since, end_of_day=False) or end - timedelta(days=WINDOW_DAYS)

    runs = session.execute(
        select(Run.id, Run.suite_id).where(Run.project_id == project_id, Run.started_at >= start,
                                           Run.started_at <= end)
        .order_by(Run.started_at.desc(), Run.id.desc())
    ).all()
    per_suite: dict[int, int] = defaultdict(int)
    run_ids = []
    for run_id, suite_id in runs:
        if per_suite[suite_id] < RUNS_PER_SUITE:
            per_suite[suite_id] += 1
            run_ids.append(run_id)

    durations = _durations(session, run_ids)
    medians = {tid: statistics.median(ds) if ds else None for tid, ds in durations.items()}
    info = _test_info(session, list(medians))
    classified = []
    levels = {lvl: LevelStats() for lvl in LEVELS}
    level_of: dict[int, str] = {}
    for tid, (nodeid, file, classname, markers) in info.items():
        level, reason = classify_with_reason(nodeid, markers, medians[tid], rules, file=file,
                                             classname=classname)
        level_of[tid] = level
        classified.append(TestLevel(nodeid, level, reason, medians[tid]))
        stats = levels.setdefault(level, LevelStats())
        stats.tests += 1
        stats.time_s += medians[tid] or 0.0
    _fill_shares(levels)
    classified.sort(key=lambda t: (LEVELS.index(t.level) if t.level in LEVELS else 9, t.nodeid))
    shape = pyramid_shape(levels["unit"].tests, levels["integration"].tests, levels["e2e"].tests)
    trend = _weekly_trend(session, project_id, end, rules, level_of)
    return Pyramid(levels, shape, start, end, len(run_ids), len(classified), trend, rules.describe(),
                   rules.source, classified)


def _fill_shares(levels: dict[str, LevelStats]) -> None:
    tests = sum(s.tests for s in levels.values())
    seconds = sum(s.time_s for s in levels.values())
    for stats in levels.values():
        stats.time_s = round(stats.time_s, 6)
        stats.share_tests = stats.tests / tests if tests else 0.0
        stats.share_time = stats.time_s / seconds if seconds else 0.0


def _durations(session: Session, run_ids: list[int]) -> dict[int, list[float]]:
    """Return test id -> durations of its final attempts in ``run_ids`` (a bounded set of runs)."""
    out: dict[int, list[float]] = defaultdict(list)
    if not run_ids:
        return out
    rows = session.connection().execute(
        select(Result.test_id, Result.duration_s).where(Result.run_id.in_(run_ids), Result.final)
    )
    for test_id, duration in rows:
        bucket = out[test_id]
        if duration is not None:
            bucket.append(duration)
    return out


def _test_info(session: Session, test_ids: list[int]) -> dict[int, tuple]:
    info: dict[int, tuple] = {}
    for chunk_start in range(0, len(test_ids), 5000):
        chunk = test_ids[chunk_start:chunk_start + 5000]
        for tid, nodeid, file, classname, markers in session.connection().execute(
            select(Test.id, Test.nodeid, Test.file, Test.classname, Test.markers).where(Test.id.in_(chunk))
        ):
            info[tid] = (nodeid, file, classname, markers or [])
    return info


def _weekly_trend(session: Session, project_id: int, end: datetime, rules: Rules,
                  level_of: dict[int, str]) -> list[dict]:
    """Return per ISO week the tests per level, counted in each suite's last run of that week."""
    first_week = (end - timedelta(weeks=TREND_WEEKS)).date()
    first_week -= timedelta(days=first_week.weekday())
    runs = session.execute(
        select(Run.id, Run.suite_id, Run.started_at)
        .where(Run.project_id == project_id,
               Run.started_at >= datetime.combine(first_week, time.min, UTC),
               Run.started_at <= end)
        .order_by(Run.started_at, Run.id)
    ).all()
    last: dict[tuple[date, int], int] = {}
    for run_id, suite_id, started_at in runs:
        week = started_at.date() - timedelta(days=started_at.weekday())
        last[(week, suite_id)] = run_id  # ordered by time, so the last assignment wins
    run_week = {run_id: week for (week, _suite), run_id in last.items()}
    if not run_week:
        return []
    seen: dict[date, dict[int, float | None]] = defaultdict(dict)
    # Core rows, not ORM rows: tens of thousands of tuples, and the ORM layer would double the cost.
    rows = session.connection().execute(
        select(Result.run_id, Result.test_id, Result.duration_s)
        .where(Result.run_id.in_(list(run_week)), Result.final)
    )
    for run_id, test_id, duration in rows:
        seen[run_week[run_id]][test_id] = duration
    # Tests of the window keep their level; only older tests are classified here (by that run's time).
    level_of = dict(level_of)
    info = _test_info(session, list({tid for tests in seen.values() for tid in tests} - level_of.keys()))
    trend = []
    for week in sorted(seen):
        counts = dict.fromkeys((*LEVELS, UNKNOWN), 0)
        for tid, duration in seen[week].items():
            if tid not in level_of:
                nodeid, file, classname, markers = info[tid]
                level_of[tid] = classify_with_reason(nodeid, markers, duration, rules, file=file,
                                                     classname=classname)[0]
            counts[level_of[tid]] += 1
        total = sum(counts.values())
        trend.append({
            "week": week, **counts,
            **{f"share_{lvl}": (counts[lvl] / total if total else 0.0) for lvl in LEVELS},
            "shape": pyramid_shape(counts["unit"], counts["integration"], counts["e2e"]),
        })
    return trend
