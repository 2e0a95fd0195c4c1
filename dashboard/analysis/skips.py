"""Skip surges and shrinking suites: a suite that silently stops testing still looks green.

Counting runs in SQL (GROUP BY test, message); Python only normalises skip reasons and compares
this week's rates with the weeks before.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dashboard.analysis.levels import classify
from dashboard.analysis.weeks import Week
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from ingest.models import Result, Run, Suite, Test

# A test "surges" when its skip rate rose by at least this much over its baseline ...
SURGE_MIN_RATE_RISE = 0.25
# ... and it was skipped at most this often before (a test skipped on purpose all along is no news).
SURGE_MAX_BASELINE_RATE = 0.2
# Weeks before the reviewed one that form the baseline.
BASELINE_WEEKS = 4
# A suite "shrank" when its typical test count fell by at least this share and this many tests.
DROP_MIN_SHARE = 0.1
DROP_MIN_TESTS = 2
MAX_EXAMPLES = 10

_PREFIX_RE = re.compile(r"^\s*(?:skipped|skip|reason)\s*[:\-]\s*", re.IGNORECASE)
_LOCATION_RE = re.compile(r"^\s*(?:[\w./\\-]+\.py):\d+:\s*")
# pytest's junit "message" for a skip can be the repr of (file, line, "Skipped: reason").
_TUPLE_RE = re.compile(r"""^\(\s*['"][^'"]*['"]\s*,\s*\d+\s*,\s*['"](.*)['"]\s*\)\s*$""", re.DOTALL)
_VOLATILE = [
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<host>"),
    (re.compile(r"\b(?:localhost|127\.0\.0\.1):\d+\b"), "<host>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
]
NO_REASON = "(no reason given)"


def normalise_skip_reason(message: str | None) -> str:
    """Reduce a skip message to its reason, so "db down at 10.0.0.5:5432" and "...:5433" group together."""
    if not message or not message.strip():
        return NO_REASON
    text = message.strip()
    tuple_match = _TUPLE_RE.match(text)
    if tuple_match:
        text = tuple_match.group(1)
    text = text.splitlines()[0]
    for _ in range(2):  # "Skipped: path.py:12: reason" carries both prefixes
        text = _LOCATION_RE.sub("", _PREFIX_RE.sub("", text))
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    return text[:200] or NO_REASON


@dataclass(frozen=True)
class SkippedTest:
    nodeid: str
    suite: str
    level: str
    skipped: int
    runs: int
    baseline_rate: float


@dataclass(frozen=True)
class SkipSurge:
    """Tests that started being skipped this week, grouped by one normalised reason."""

    reason: str
    tests: int
    skipped_results: int
    integration_tests: int
    suites: list[str]
    examples: list[SkippedTest] = field(default_factory=list)


@dataclass(frozen=True)
class CountDrop:
    """A suite whose typical number of tests per run fell against the previous week."""

    suite: str
    before: int
    after: int
    dropped: int
    missing: list[str] = field(default_factory=list)
    missing_total: int = 0


def guess_level(nodeid: str, markers: list | None, suite: str) -> str:
    """Return "integration", "e2e" or "unit" from markers, suite name and path (a cheap, local rule)."""
    words = {str(m).lower() for m in (markers or [])} | {suite.lower()}
    path = nodeid.lower().split("::", 1)[0]
    for level, names in (("e2e", ("e2e", "end_to_end", "browser", "ui")),
                         ("integration", ("integration", "integ", "it", "db", "django_db"))):
        if words & set(names) or any(f"/{n}/" in f"/{path}" or f"test_{n}" in path for n in names[:2]):
            return level
    return "unit"


def _test_rates(session: Session, project_id: int, start: datetime, end: datetime) -> dict[int, tuple]:
    """test_id -> (runs, skipped) over final results of runs started in [start, end)."""
    skipped = func.sum(case((Result.outcome == "skipped", 1), else_=0))
    rows = session.execute(
        select(Result.test_id, func.count(), skipped)
        .join(Run, Run.id == Result.run_id)
        .where(Run.project_id == project_id, Run.started_at >= start, Run.started_at < end, Result.final)
        .group_by(Result.test_id)
    ).all()
    return {tid: (int(n), int(s or 0)) for tid, n, s in rows}


def level_function(settings: Settings) -> Callable[[str, list | None, str], str]:
    """Return level_of(nodeid, markers, suite): the pyramid's rules, then a guess from the suite name."""
    rules = settings.level_rules()

    def level_of(nodeid: str, markers: list | None, suite: str) -> str:
        level = classify(nodeid, markers, None, rules)
        return level if level in ("unit", "integration", "e2e") else guess_level(nodeid, markers, suite)

    return level_of


def skip_surges(session: Session, project_id: int, window: Window, settings: Settings | None = None, *,
                baseline_weeks: int = BASELINE_WEEKS) -> list[SkipSurge]:
    """Return the skip surges of ``window`` (one ISO week), biggest first (integration tests weigh most).

    A test's level comes from the pyramid's rules in ``settings``, then a guess from its suite's name.
    """
    week = window.week()
    level_of = level_function(settings or Settings.from_environment())
    now = _test_rates(session, project_id, week.start, week.end)
    before = _test_rates(session, project_id, week.shifted(-baseline_weeks).start, week.start)
    surged: dict[int, float] = {}
    for tid, (runs, skipped) in now.items():
        if not skipped or tid not in before:
            continue  # a brand-new test that skips is not a change in what the suite tests
        base_runs, base_skipped = before[tid]
        base_rate = base_skipped / base_runs if base_runs else 0.0
        if base_rate <= SURGE_MAX_BASELINE_RATE and skipped / runs - base_rate >= SURGE_MIN_RATE_RISE:
            surged[tid] = base_rate
    if not surged:
        return []
    rows = _skipped_rows(session, project_id, week, list(surged))
    # Each test goes under its most frequent reason this week.
    per_test: dict[int, dict] = {}
    for tid, nodeid, markers, suite, message, count in rows:
        info = per_test.setdefault(tid, {"nodeid": nodeid, "markers": markers, "suite": suite,
                                         "reasons": defaultdict(int), "skipped": 0})
        info["reasons"][normalise_skip_reason(message)] += int(count)
        info["skipped"] += int(count)
    groups: dict[str, list[SkippedTest]] = defaultdict(list)
    for tid, info in per_test.items():
        reason = max(info["reasons"].items(), key=lambda kv: (kv[1], kv[0]))[0]
        groups[reason].append(SkippedTest(
            nodeid=info["nodeid"], suite=info["suite"],
            level=level_of(info["nodeid"], info["markers"], info["suite"]),
            skipped=info["skipped"], runs=now[tid][0], baseline_rate=round(surged[tid], 3),
        ))
    surges = []
    for reason, tests in groups.items():
        tests.sort(key=lambda t: (t.level != "integration", -t.skipped, t.nodeid))
        surges.append(SkipSurge(
            reason=reason, tests=len(tests), skipped_results=sum(t.skipped for t in tests),
            integration_tests=sum(t.level == "integration" for t in tests),
            suites=sorted({t.suite for t in tests}), examples=tests[:MAX_EXAMPLES],
        ))
    surges.sort(key=lambda s: (-s.integration_tests, -s.tests, -s.skipped_results, s.reason))
    return surges


def _skipped_rows(session: Session, project_id: int, week: Week, test_ids: list[int]) -> list[tuple]:
    """(test_id, nodeid, markers, suite, message, count) of this week's skips of ``test_ids``.

    Markers are fetched apart: PostgreSQL cannot GROUP BY a json column.
    """
    counts = session.execute(
        select(Result.test_id, Suite.name, Result.message, func.count())
        .join(Run, Run.id == Result.run_id)
        .join(Suite, Suite.id == Run.suite_id)
        .where(Run.project_id == project_id, Run.started_at >= week.start, Run.started_at < week.end,
               Result.final, Result.outcome == "skipped", Result.test_id.in_(test_ids))
        .group_by(Result.test_id, Suite.name, Result.message)
    ).all()
    tests = {tid: (nodeid, markers) for tid, nodeid, markers in session.execute(
        select(Test.id, Test.nodeid, Test.markers).where(Test.id.in_(test_ids))).all()}
    return [(tid, *tests[tid], suite, message, n) for tid, suite, message, n in counts]


def count_drops(session: Session, project_id: int, window: Window,
                settings: Settings | None = None) -> list[CountDrop]:
    """Return suites whose median tests per run fell in ``window`` (one ISO week) against the week before."""
    week = window.week()
    prev = week.previous
    medians = {}
    for label, w in (("before", prev), ("after", week)):
        rows = session.execute(
            select(Suite.name, Run.tests).join(Suite, Suite.id == Run.suite_id)
            .where(Run.project_id == project_id, Run.started_at >= w.start, Run.started_at < w.end)
        ).all()
        per_suite: dict[str, list[int]] = defaultdict(list)
        for suite, tests in rows:
            per_suite[suite].append(int(tests or 0))
        medians[label] = {s: _median_int(v) for s, v in per_suite.items()}
    drops = []
    for suite, before in medians["before"].items():
        after = medians["after"].get(suite)
        if after is None:
            continue  # the suite did not run at all; the runs table shows that
        dropped = before - after
        if dropped >= DROP_MIN_TESTS and dropped >= DROP_MIN_SHARE * before:
            missing = _missing_tests(session, project_id, suite, prev, week)
            drops.append(CountDrop(suite=suite, before=before, after=after, dropped=dropped,
                                   missing=missing[:MAX_EXAMPLES], missing_total=len(missing)))
    drops.sort(key=lambda d: (-d.dropped, d.suite))
    return drops


def _missing_tests(session: Session, project_id: int, suite: str, prev: Week, week: Week) -> list[str]:
    """Node ids run in ``suite`` last week but never this week."""

    def seen(w: Week) -> set[str]:
        return set(session.scalars(
            select(Test.nodeid).distinct().join(Result, Result.test_id == Test.id)
            .join(Run, Run.id == Result.run_id).join(Suite, Suite.id == Run.suite_id)
            .where(Run.project_id == project_id, Suite.name == suite,
                   Run.started_at >= w.start, Run.started_at < w.end)
        ))

    return sorted(seen(prev) - seen(week))


def _median_int(values: list[int]) -> int:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else round((ordered[mid - 1] + ordered[mid]) / 2)
