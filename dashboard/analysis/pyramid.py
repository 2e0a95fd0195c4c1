"""Is the test pyramid healthy? Tests and test time per level, the shape verdict and its weekly trend.

The recent window is the last ``WINDOW_DAYS`` days up to ``until`` (default: the project's newest
run), bounded to the newest ``RUNS_PER_SUITE`` runs of each suite so a page never reads more than
a few dozen runs' results. A level's ``tests`` counts the distinct tests seen in that window; its
``time_s`` adds up each test's typical duration there (what one pass over the level costs): the mean
without the fastest and the slowest run, which is the median for three runs and shrugs off one timeout.

Shape rule (on test counts u, i, e of unit, integration, e2e; "unknown" is left out):

* no tests: "empty"; only one level present: "unit only" / "integration only" / "e2e only";
* i is the strict maximum: "diamond" (integration-heavy);
* i is the strict minimum (u > i and e > i): "hourglass" (many unit and e2e, few in between);
* u >= i >= e: "pyramid" (healthy);
* otherwise e >= i >= u: "ice-cream cone" (inverted: e2e-heavy).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Text, case, func, select
from sqlalchemy.orm import Session

from dashboard.analysis import window_stats
from dashboard.analysis.levels import (
    LEVELS,
    UNKNOWN,
    classify,
    duration_level,
    level_rules,
    rule_level,
)
from dashboard.analysis.window import ALL_TIME, Window
from dashboard.settings import Settings
from ingest.analysis_models import TestWindowStats
from ingest.models import Result, Run, Test

__all__ = ["LevelStats", "Pyramid", "TestLevel", "as_utc_datetime", "classify", "level_rules",
           "pyramid_levels", "pyramid_shape"]

WINDOW_DAYS = 14
RUNS_PER_SUITE = 10
TREND_WEEKS = 16


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
    typical_s: float | None


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


def pyramid_levels(session: Session, project_id: int, window: Window = ALL_TIME,
                   settings: Settings | None = None) -> Pyramid:
    """Return tests and test time per level over ``window`` (default: the last ``WINDOW_DAYS`` days up
    to the newest run), the shape and its weekly trend; the level rules come from ``settings``."""
    rules = (settings or Settings.from_environment()).level_rules()
    bounds = window_bounds(session, project_id, window)
    empty = {lvl: LevelStats() for lvl in LEVELS}
    if bounds is None:
        return Pyramid(empty, "empty", None, None, 0, 0, rules=rules.describe(), rules_source=rules.source)
    start, end = bounds

    run_ids = window_run_ids(session, project_id, start, end)
    weeks, index_of = trend_sample(session, project_id, end)
    rows, spans = _window_tests(session, project_id, run_ids, index_of)

    classified = []
    levels = {lvl: LevelStats() for lvl in LEVELS}
    level_of: dict[int, str] = {}
    # Markers and path globs only see the test's file, class and marks: decide once per such group.
    decided: dict[tuple, tuple[str, str] | None] = {}
    for row in rows:
        tid, nodeid, file, classname, markers, typical = row[0], row[1], row[2], row[3], row[4], row[5]
        key = (nodeid.split("::", 1)[0], file, classname, markers)
        if key not in decided:
            decided[key] = rule_level(nodeid, _markers(markers), rules, file=file, classname=classname)
        level, reason = decided[key] or duration_level(typical, rules)
        level_of[tid] = level
        classified.append(TestLevel(nodeid, level, reason, typical))
        stats = levels.setdefault(level, LevelStats())
        stats.tests += 1
        stats.time_s += typical or 0.0
    _fill_shares(levels)
    rank = {lvl: i for i, lvl in enumerate(LEVELS)}
    classified.sort(key=lambda t: (rank.get(t.level, 9), t.nodeid))
    shape = pyramid_shape(levels["unit"].tests, levels["integration"].tests, levels["e2e"].tests)
    trend = _weekly_trend(weeks, spans, level_of)
    return Pyramid(levels, shape, start, end, len(run_ids), len(classified), trend, rules.describe(),
                   rules.source, classified)


def _fill_shares(levels: dict[str, LevelStats]) -> None:
    tests = sum(s.tests for s in levels.values())
    seconds = sum(s.time_s for s in levels.values())
    for stats in levels.values():
        stats.time_s = round(stats.time_s, 6)
        stats.share_tests = stats.tests / tests if tests else 0.0
        stats.share_time = stats.time_s / seconds if seconds else 0.0


def window_bounds(session: Session, project_id: int,
                  window: Window = ALL_TIME) -> tuple[datetime, datetime] | None:
    """Return the recent window's (start, end), both included, or None when the project has no run."""
    # The last moment inside the window: the queries compare with <=.
    end = window.last_moment
    if end is None:
        end = session.scalar(select(func.max(Run.started_at)).where(Run.project_id == project_id))
    if end is None:
        return None
    return window.since or end - timedelta(days=WINDOW_DAYS), end


def window_run_ids(session: Session, project_id: int, start: datetime, end: datetime) -> list[int]:
    """Return the ids of the newest ``RUNS_PER_SUITE`` runs of each suite started in [start, end]."""
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
    return run_ids


# What the pyramid reads of a test; markers as stored text: most tests have none, and json.loads
# per row adds up.
_TEST_COLUMNS = (Test.nodeid, Test.file, Test.classname, Test.__table__.c.markers.cast(Text))


def _typical_statement(run_ids: list[int]):
    """Return the statement of (test id, *_TEST_COLUMNS, typical duration) per test of ``run_ids``.

    One GROUP BY joined to the tests, in test id order. The refresh runs this very statement for
    what it stores, so the database adds each test's durations up in the same order either way.
    """
    d = Result.duration_s
    n = func.count(d)
    typical = case((n >= 3, (func.sum(d) - func.max(d) - func.min(d)) / (n - 2)), else_=func.avg(d))
    per_test = (
        select(Result.test_id.label("test_id"), typical.label("typical"))
        .where(Result.run_id.in_(run_ids), Result.final).group_by(Result.test_id).subquery()
    )
    return (select(Test.id, *_TEST_COLUMNS, per_test.c.typical)
            .join(per_test, per_test.c.test_id == Test.id).order_by(Test.id))


def window_key(run_ids: list[int], index_of: dict[int, int]) -> str:
    """Return the fingerprint of a pyramid window: its runs and its trend's sampled runs and weeks."""
    return window_stats.fingerprint([sorted(run_ids), sorted(index_of.items())])


def default_window(session: Session, project_id: int) -> tuple[list[int], dict[int, int]] | None:
    """Return the run ids and trend sample of the window the page shows without ?since= / ?until=."""
    bounds = window_bounds(session, project_id)
    if bounds is None:
        return None
    start, end = bounds
    return window_run_ids(session, project_id, start, end), trend_sample(session, project_id, end)[1]


def window_rows(session: Session, run_ids: list[int], index_of: dict[int, int]) -> list[dict]:
    """Return per test of ``run_ids`` its typical duration and trend span: what the refresh stores."""
    if not run_ids:
        return []
    rows, spans = _computed_tests(session, run_ids, index_of)
    span_of = {tid: (first, last) for tid, first, last in spans}
    out = []
    for row in rows:
        first, last = span_of.get(row[0], (None, None))
        out.append({"test_id": row[0], "typical_s": row[5], "first_week": first, "last_week": last})
    return out


def _window_tests(session: Session, project_id: int, run_ids: list[int],
                  index_of: dict[int, int]) -> tuple[list, list]:
    """Return the window's tests and their trend spans.

    Tests: (test id, nodeid, file, classname, stored markers, typical duration) per test of
    ``run_ids``, in test id order, so sums over them add up in the same order. The typical
    duration is the mean without the fastest and slowest run (equal to the median for three runs).
    Spans: (test id, first week index, last week index) in the trend sample ``index_of``.

    The refresh stores both per test for the default window (``window_stats``); any other window
    is computed by the database: one GROUP BY joined to the tests, so only one row per test comes
    back however many runs the window holds, and one GROUP BY for the spans.
    """
    if not run_ids:
        return [], []
    found = window_stats.stored(
        session, project_id, window_stats.PYRAMID, window_key(run_ids, index_of),
        (*_TEST_COLUMNS, TestWindowStats.typical_s, TestWindowStats.first_week, TestWindowStats.last_week),
        joins=((Test, Test.id == TestWindowStats.test_id),), order_by=(TestWindowStats.test_id,))
    if found is not None:
        return found, [(row[0], row[6], row[7]) for row in found if row[6] is not None]
    return _computed_tests(session, run_ids, index_of)


def _computed_tests(session: Session, run_ids: list[int], index_of: dict[int, int]) -> tuple[list, list]:
    """``_window_tests`` computed from the results (what the refresh stores, and the fallback)."""
    rows = [(tid, nodeid, file, classname, markers, float(value) if value is not None else None)
            for tid, nodeid, file, classname, markers, value
            in session.connection().execute(_typical_statement(run_ids))]
    return rows, trend_spans(session, index_of) if index_of else []


def _markers(stored: str | None) -> list[str]:
    if not stored or stored in ("[]", "null"):
        return []
    return json.loads(stored) or []


def _weekly_trend(weeks: list[date], spans: list[tuple[int, int, int]],
                  level_of: dict[int, str]) -> list[dict]:
    """Return per ISO week the window's tests per level, counted from the week each first ran to its last.

    Each suite's last run of each week is sampled (``trend_sample``); ``spans`` holds one (first,
    last) week pair per test, so the work on the Python side is one row per test, not per result.
    Tests are counted with the level they have now; tests gone before the window are left out (the
    trend shows the growth of the current suite, and the share each level held as it grew).
    """
    if not weeks or not level_of:
        return []
    rows = spans
    # Difference arrays: +1 in a test's first week, -1 after its last, then running sums.
    steps = {lvl: [0] * (len(weeks) + 1) for lvl in (*LEVELS, UNKNOWN)}
    for test_id, first, final in rows:
        level = level_of.get(test_id)
        if level is not None:
            steps[level][first] += 1
            steps[level][final + 1] -= 1
    running = dict.fromkeys(steps, 0)
    trend = []
    for i, week in enumerate(weeks):
        for lvl in steps:
            running[lvl] += steps[lvl][i]
        row = dict(running)
        total = sum(row.values())
        trend.append({
            "week": week, **row,
            **{f"share_{lvl}": (row[lvl] / total if total else 0.0) for lvl in LEVELS},
            "shape": pyramid_shape(row["unit"], row["integration"], row["e2e"]),
        })
    return trend


def trend_sample(session: Session, project_id: int, end: datetime) -> tuple[list[date], dict[int, int]]:
    """Return the trend's weeks and {run id: week index} of each suite's last run of each week."""
    first_week = (end - timedelta(weeks=TREND_WEEKS)).date()
    first_week -= timedelta(days=first_week.weekday())
    runs = session.execute(
        select(Run.id, Run.suite_id, Run.started_at)
        .where(Run.project_id == project_id,
               Run.started_at >= datetime.combine(first_week, time.min, UTC), Run.started_at <= end)
        .order_by(Run.started_at, Run.id)
    ).all()
    last: dict[tuple[date, int], int] = {}
    for run_id, suite_id, started_at in runs:
        last[(_week(started_at), suite_id)] = run_id  # ordered by time, so the last assignment wins
    weeks = sorted({week for week, _suite in last})
    position = {week: i for i, week in enumerate(weeks)}
    return weeks, {run_id: position[week] for (week, _suite), run_id in last.items()}


def trend_spans(session: Session, index_of: dict[int, int]) -> list[tuple[int, int, int]]:
    """Return (test id, first week index, last week index) per test of the sampled runs ``index_of``."""
    by_id = [index_of[run_id] for run_id in sorted(index_of)]
    if all(a <= b for a, b in zip(by_id, by_id[1:], strict=False)):
        # Runs stored in time order (the usual case): a test's first and last run id are its first
        # and last week, and the database need not map every row through a CASE of all the runs.
        return [(test_id, index_of[first], index_of[final]) for test_id, first, final in
                session.connection().execute(
                    select(Result.test_id, func.min(Result.run_id), func.max(Result.run_id))
                    .where(Result.run_id.in_(list(index_of)), Result.final).group_by(Result.test_id))]
    # The database maps each sampled run to its week's index and keeps the first and last per test.
    week_index = case(index_of, value=Result.run_id)
    return [tuple(row) for row in session.connection().execute(
        select(Result.test_id, func.min(week_index), func.max(week_index))
        .where(Result.run_id.in_(list(index_of)), Result.final)
        .group_by(Result.test_id)
    )]


def _week(moment: datetime) -> date:
    return moment.date() - timedelta(days=moment.weekday())

