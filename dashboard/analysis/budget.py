"""Will the suite blow its wall-time budget, and when? Trend, forecast, slow tests, regressions, what-if.

How a suite's runs are read (all from per-run totals on ``runs``; no results are scanned):

* a run is *excluded* from the trend, and shown marked, when it has no wall time ("no-duration"), when
  its share of skipped tests is ``SKIP_SURGE`` or more above the suite's usual share ("skip-surge":
  e.g. "database not available" skips everything and the run is short), when its share of failed or
  errored tests is ``FAILURE_SURGE`` above usual ("failure-surge": an outage aborts tests early), or
  when its wall time is an outlier: further from the centred rolling median of ``OUTLIER_WINDOW`` runs
  than ``OUTLIER_Z`` robust standard deviations (1.4826 x MAD of the residuals) and than
  ``OUTLIER_MIN_REL`` of that median;
* the *rolling median* is the trailing median of the last ``ROLLING`` included runs; the suite's
  current level (``median_s``) is its latest value, and the status is "over" when it exceeds the budget;
* the *trend* is the Theil–Sen slope of wall time against time over the included runs of the last
  ``TREND_DAYS`` days (robust to the outliers that remain); the *forecast* is the date the Theil–Sen
  line reaches the budget, or None (with ``forecast_note`` saying why) when the suite is already over,
  the trend is flat or falling, or there are fewer than ``MIN_TREND_RUNS`` runs.
* the *what-if* schedules the latest included run's per-test durations on N workers with LPT (longest
  processing time first, each test to the least-loaded worker) and adds the run's fixed overhead
  (wall time minus test time / workers, never negative).

Budgets come from ``Suite.budget_s``, then ``[tool.suitehealth.budgets]`` in the config file, then the
app's ``BUDGET_S`` (300 s).
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from scipy.stats import theilslopes
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis import window_stats
from dashboard.analysis.pyramid import as_utc_datetime
from dashboard.analysis.window import ALL_TIME, Window
from dashboard.settings import Settings
from ingest.analysis_models import TestWindowStats
from ingest.models import Result, Run, Suite, Test

MAX_RUNS = 400
ROLLING = 7
OUTLIER_WINDOW = 7
OUTLIER_Z = 3.5
OUTLIER_MIN_REL = 0.2
SKIP_SURGE = 0.15
FAILURE_SURGE = 0.5
TREND_DAYS = 56
MIN_TREND_RUNS = 5
AT_RISK_DAYS = 30
AT_RISK_SHARE = 0.9
MAX_FORECAST_DAYS = 5 * 365
WHATIF_WORKERS = (1, 2, 3, 4, 6, 8, 12, 16)
MAX_WORKERS = 64
# Per-test analyses read only the newest runs: bounded work whatever the history's length.
SLOW_RUNS = 20
REGRESSION_RUNS = 60
MIN_HISTORY = 8
MIN_SEGMENT = 3
REGRESSION_RATIO = 1.5
REGRESSION_MIN_S = 0.05


@dataclass
class SuiteBudget:
    suite: str
    budget_s: float
    budget_source: str
    latest_s: float | None
    latest_run_id: int | None
    latest_at: datetime | None
    median_s: float | None
    trend_s_per_week: float | None
    forecast_breach_date: date | None
    forecast_note: str
    status: str
    runs: list[dict] = field(default_factory=list)
    workers_needed: int | None = None
    latest_workers: int | None = None
    overhead_s: float | None = None
    whatif: list[dict] = field(default_factory=list)
    whatif_run_id: int | None = None
    phases: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)

    @property
    def usage(self) -> float | None:
        """Current level as a share of the budget (1.0 = exactly at budget)."""
        return self.median_s / self.budget_s if self.median_s is not None and self.budget_s else None


@dataclass(frozen=True)
class Regression:
    nodeid: str
    before_s: float
    after_s: float
    ratio: float
    began_run_id: int
    began_at: datetime
    runs: int
    suite: str | None = None


@dataclass(frozen=True)
class SlowTest:
    nodeid: str
    median_s: float
    runs: int
    share_of_suite: float | None


# ---- budgets ---------------------------------------------------------------------------------

def own_budgets(session: Session, project_id: int) -> tuple[tuple[str, float | None], ...]:
    """Return (suite, Suite.budget_s) pairs: part of any cache key, since budgets change without runs."""
    return tuple((name, secs) for name, secs in session.execute(
        select(Suite.name, Suite.budget_s).where(Suite.project_id == project_id).order_by(Suite.name)))


def resolve_budget(session: Session, project_id: int, suite: str,
                   settings: Settings | None = None) -> tuple[float, str]:
    """Return (budget seconds, where it came from): the suite's own, the config file, the default."""
    own = session.scalar(select(Suite.budget_s).where(Suite.project_id == project_id, Suite.name == suite))
    if own is not None:
        return float(own), "suite setting"
    # Called without settings (scripts, benchmarks): the same defaults and environment the app uses.
    settings = settings or Settings.from_environment()
    budgets = settings.budgets
    if suite in budgets:
        return float(budgets[suite]), f"{settings.source or 'config file'} [tool.suitehealth.budgets]"
    return float(settings.budget_s), "default"


# ---- the suite's wall time against its budget -------------------------------------------------

def suite_budget(session: Session, project_id: int, window: Window = ALL_TIME,
                 settings: Settings | None = None, *, suite: str, budget_s: float | None = None,
                 branch: str | None = None, whatif: bool = True, whatif_table: bool = True,
                 summary_only: bool = False) -> SuiteBudget:
    """Return the suite's runs in ``window`` against its budget, the trend, the breach forecast, the what-if.

    ``summary_only`` leaves out ``runs``, ``phases`` and the what-if (for overviews of many suites);
    ``whatif_table=False`` keeps of the what-if only the fewest workers that meet the budget.
    """
    if budget_s is None:
        budget_s, source = resolve_budget(session, project_id, suite, settings)
    else:
        source = "given"
    query = (
        select(Run.id, Run.started_at, Run.branch, Run.duration_s, Run.tests, Run.skipped, Run.failed,
               Run.errors, Run.test_time_s, Run.setup_time_s, Run.call_time_s, Run.teardown_time_s,
               Run.workers)
        .join(Suite, Suite.id == Run.suite_id)
        .where(Run.project_id == project_id, Suite.name == suite)
        .order_by(Run.started_at.desc(), Run.id.desc()).limit(MAX_RUNS)
    )
    start, end = window.since, window.last_moment
    if start is not None:
        query = query.where(Run.started_at >= start)
    if end is not None:
        query = query.where(Run.started_at <= end)
    if branch:
        query = query.where(Run.branch == branch)
    # Plain lists, not pandas: a few hundred runs, where DataFrame overhead would dominate.
    runs = [r._asdict() for r in session.execute(query)][::-1]
    result = SuiteBudget(suite, float(budget_s), source, None, None, None, None, None, None,
                         "no runs yet", "ok")
    if not runs:
        return result
    _mark_exclusions(runs)
    if not summary_only:
        result.runs = [_run_dict(r) for r in runs]
    counts: dict[str, int] = defaultdict(int)
    for r in runs:
        if r["excluded"]:
            counts[r["excluded"]] += 1
    result.excluded = dict(counts)
    timed = [r for r in runs if r["duration_s"] is not None]
    if timed:
        last = timed[-1]
        result.latest_s, result.latest_run_id, result.latest_at = (
            float(last["duration_s"]), int(last["id"]), last["started_at"])
    included = [r for r in runs if not r["excluded"]]
    if included:
        result.median_s = included[-1]["rolling_median_s"]
    _trend_and_forecast(result, included)
    if summary_only:
        return result
    result.phases = _phases(runs, included)
    if whatif and included:
        _what_if(session, result, included[-1], table=whatif_table)
    return result


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _mark_exclusions(runs: list[dict]) -> None:
    """Set ``excluded`` (reason or None), ``outlier`` and ``rolling_median_s`` on each run dict."""
    skip = [_share(r["skipped"], r["tests"]) for r in runs]
    fail = [_share(r["failed"] + r["errors"], r["tests"]) for r in runs]
    usual_skip, usual_fail = statistics.median(skip), statistics.median(fail)
    for r, s_share, f_share in zip(runs, skip, fail, strict=True):
        r["excluded"] = None
        if r["duration_s"] is None:
            r["excluded"] = "no-duration"
        elif s_share - usual_skip >= SKIP_SURGE:
            r["excluded"] = "skip-surge"
        elif f_share - usual_fail >= FAILURE_SURGE:
            r["excluded"] = "failure-surge"
    candidates = [r for r in runs if not r["excluded"]]
    if len(candidates) >= 3:
        values = np.array([r["duration_s"] for r in candidates], dtype=float)
        half = OUTLIER_WINDOW // 2
        centred = _rolling_median(values, half, half)
        residual = np.abs(values - centred)
        scale = 1.4826 * float(np.median(residual))
        limit = np.maximum(OUTLIER_Z * scale, OUTLIER_MIN_REL * centred)
        for r, is_outlier in zip(candidates, residual > limit, strict=True):
            if is_outlier:
                r["excluded"] = "outlier"
    # Trailing median over included runs only, carried forward across excluded ones.
    kept = [r for r in runs if not r["excluded"]]
    trailing = _rolling_median(np.array([r["duration_s"] for r in kept], dtype=float), ROLLING - 1, 0)
    for r, value in zip(kept, trailing, strict=True):
        r["rolling_median_s"] = float(value)
    current = None
    for r in runs:
        current = r.get("rolling_median_s", current)
        r["rolling_median_s"] = current
        r["outlier"] = r["excluded"] == "outlier"


def _rolling_median(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """Median of each value with ``before`` values before and ``after`` after it (fewer at the ends)."""
    if values.size == 0:
        return values
    padded = np.concatenate([np.full(before, np.nan), values, np.full(after, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, before + after + 1)
    return np.nanmedian(windows, axis=1)


def _run_dict(r: dict) -> dict:
    return {
        "id": r["id"], "started_at": r["started_at"], "branch": r["branch"], "duration_s": r["duration_s"],
        "tests": r["tests"], "skipped": r["skipped"], "failed": r["failed"], "errors": r["errors"],
        "test_time_s": r["test_time_s"], "setup_s": r["setup_time_s"], "call_s": r["call_time_s"],
        "teardown_s": r["teardown_time_s"], "workers": r["workers"],
        "rolling_median_s": r["rolling_median_s"], "outlier": r["outlier"], "excluded": r["excluded"],
    }


def _trend_and_forecast(result: SuiteBudget, included: list[dict]) -> None:
    level, budget = result.median_s, result.budget_s
    if not included:
        result.forecast_note = "no run with a usable wall time yet"
        return
    latest = included[-1]["started_at"]
    recent = [r for r in included if r["started_at"] >= latest - timedelta(days=TREND_DAYS)]
    over = level is not None and level > budget
    if len(recent) >= MIN_TREND_RUNS:
        origin = recent[0]["started_at"]
        days = np.array([(r["started_at"] - origin).total_seconds() / 86400.0 for r in recent])
        if np.ptp(days) > 0:
            slope, intercept, _lo, _hi = theilslopes(np.array([r["duration_s"] for r in recent], float), days)
            result.trend_s_per_week = float(slope) * 7.0
            _forecast(result, float(slope), float(intercept), origin, latest, over)
        else:
            result.forecast_note = "all runs share one timestamp; no trend"
    else:
        result.forecast_note = (f"needs at least {MIN_TREND_RUNS} runs in the last {TREND_DAYS} days "
                                f"for a trend (has {len(recent)})")
    if over:
        result.status = "over"
        result.forecast_note = f"already over budget: rolling median {level:.1f} s > {budget:g} s"
    elif (level is not None and level >= AT_RISK_SHARE * budget) or (
            result.forecast_breach_date is not None
            and result.forecast_breach_date <= (latest + timedelta(days=AT_RISK_DAYS)).date()):
        result.status = "at-risk"
    else:
        result.status = "ok"


def _forecast(result: SuiteBudget, slope: float, intercept: float, origin: datetime, latest: datetime,
              over: bool) -> None:
    if over:
        return
    if slope <= 0:
        result.forecast_note = f"not growing (trend {slope * 7:+.1f} s/week): no breach expected"
        return
    crossing_days = (result.budget_s - intercept) / slope
    if crossing_days - (latest - origin).total_seconds() / 86400.0 > MAX_FORECAST_DAYS:
        result.forecast_note = f"growing slowly ({slope * 7:+.1f} s/week): no breach within 5 years"
        return
    crossing = origin + timedelta(days=crossing_days)
    if crossing < latest:
        crossing = latest
        result.forecast_note = "the trend line has reached the budget; the rolling median has not yet"
    else:
        result.forecast_note = f"trend line ({slope * 7:+.1f} s/week) reaches {result.budget_s:g} s"
    result.forecast_breach_date = crossing.date()


def _phases(runs: list[dict], included: list[dict]) -> dict:
    """Setup vs call vs teardown: the latest run's sums and the medians over included runs."""
    cols = {"setup_s": "setup_time_s", "call_s": "call_time_s", "teardown_s": "teardown_time_s"}
    frame = included or runs

    def median(col: str) -> float | None:
        values = [r[col] for r in frame if r[col] is not None]
        return statistics.median(values) if values else None

    return {
        "latest": {k: runs[-1][c] for k, c in cols.items()},
        "median": {k: median(c) for k, c in cols.items()},
    }


def lpt_makespan(durations: Sequence[float], workers: int) -> float:
    """Return the wall time of ``durations`` on ``workers`` workers scheduled longest-first (LPT)."""
    return _lpt(sorted(durations, reverse=True), workers)


def _lpt(longest_first: Sequence[float], workers: int) -> float:
    """``lpt_makespan`` of durations already sorted longest first (sorting once serves many counts)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if not longest_first:
        return 0.0
    loads = [0.0] * min(workers, len(longest_first))
    for d in longest_first:
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


def what_if(durations: Sequence[float], overhead_s: float, budget_s: float,
            workers: Sequence[int] = WHATIF_WORKERS) -> tuple[list[dict], int | None]:
    """Return predicted wall times per worker count, and the fewest workers that meet the budget."""
    longest_first = sorted(durations, reverse=True)
    table = []
    for n in workers:
        wall = _lpt(longest_first, n) + overhead_s
        table.append({"workers": n, "wall_s": wall, "meets_budget": wall <= budget_s})
    return table, fewest_workers(longest_first, overhead_s, budget_s)


def fewest_workers(durations: Sequence[float], overhead_s: float, budget_s: float,
                   limit: int = MAX_WORKERS) -> int | None:
    """Return the fewest workers (<= ``limit``) whose LPT wall time plus overhead meets the budget."""
    room = budget_s - overhead_s
    if not durations:
        return 1 if room >= 0 else None
    longest_first = sorted(durations, reverse=True)
    if room < longest_first[0]:
        return None  # the longest test alone (plus overhead) does not fit
    # No schedule beats total / n, so start the search there.
    first = max(1, math.ceil(sum(durations) / room - 1e-9)) if room > 0 else 1
    for n in range(first, limit + 1):
        if _lpt(longest_first, n) <= room + 1e-9:
            return n
    return None


def _what_if(session: Session, result: SuiteBudget, run: dict, *, table: bool = True) -> None:
    run_id = int(run["id"])
    durations = [float(d) for (d,) in session.execute(
        select(func.sum(Result.duration_s)).where(Result.run_id == run_id, Result.duration_s.is_not(None))
        .group_by(Result.test_id)
    )]
    workers = int(run["workers"]) or 1
    wall = run["duration_s"]
    overhead = max(0.0, wall - sum(durations) / workers) if wall is not None else 0.0
    result.whatif_run_id, result.latest_workers, result.overhead_s = run_id, workers, overhead
    if table:
        result.whatif, result.workers_needed = what_if(durations, overhead, result.budget_s)
    else:
        result.workers_needed = fewest_workers(durations, overhead, result.budget_s)


def suite_budgets(session: Session, project_id: int, window: Window = ALL_TIME,
                  settings: Settings | None = None, *, branch: str | None = None) -> list[SuiteBudget]:
    """Return every suite's budget summary (no runs list, no what-if), most over / closest to budget first."""
    names = session.scalars(select(Suite.name).where(Suite.project_id == project_id).order_by(Suite.name))
    out = [suite_budget(session, project_id, window, settings, suite=name, branch=branch, summary_only=True)
           for name in names]
    return sorted(out, key=lambda b: (-(b.usage if b.usage is not None else -1.0), b.suite))


# ---- per-test views: slowest tests and duration regressions ----------------------------------

def _window_runs(session: Session, project_id: int, suite: str | None, since, until,
                 per_suite: int) -> list[tuple[int, int, datetime, float]]:
    """Return (run id, suite id, started_at, test time) of the newest ``per_suite`` runs of each suite."""
    query = (select(Run.id, Run.suite_id, Run.started_at, Run.test_time_s)
             .where(Run.project_id == project_id).order_by(Run.started_at.desc(), Run.id.desc()))
    if suite:
        query = query.join(Suite, Suite.id == Run.suite_id).where(Suite.name == suite).limit(per_suite)
    else:
        # Bounded even without a suite: no project has more suites than this is generous for.
        query = query.limit(per_suite * 50)
    start, end = as_utc_datetime(since, end_of_day=False), as_utc_datetime(until, end_of_day=True)
    if start is not None:
        query = query.where(Run.started_at >= start)
    if end is not None:
        query = query.where(Run.started_at <= end)
    counts: dict[int, int] = defaultdict(int)
    picked = []
    for run_id, suite_id, started_at, test_time in session.execute(query):
        if counts[suite_id] < per_suite:
            counts[suite_id] += 1
            picked.append((run_id, suite_id, started_at, test_time or 0.0))
    return picked[::-1]


def slowest_tests(session: Session, project_id: int, window: Window = ALL_TIME,
                  settings: Settings | None = None, *, suite: str | None = None,
                  limit: int = 20) -> list[SlowTest]:
    """Return the tests with the longest median duration over each suite's newest runs in ``window``."""
    runs = _window_runs(session, project_id, suite, window.since, window.last_moment, SLOW_RUNS)
    if not runs:
        return []
    run_ids = [r[0] for r in runs]
    # The tests with the highest mean, with their exact median and number of runs.
    picked = window_stats.stored(
        session, project_id, window_stats.SLOWEST, window_stats.fingerprint(sorted(run_ids)),
        (TestWindowStats.median_s, TestWindowStats.runs),
        order_by=(TestWindowStats.mean_s.desc(), TestWindowStats.test_id), limit=limit * 3 + 10)
    if picked is None:
        picked = _slow_candidates(session, run_ids, limit * 3 + 10)
    ids = [row[0] for row in picked]
    if not ids:
        return []
    names = dict(session.execute(select(Test.id, Test.nodeid).where(Test.id.in_(ids))).all())
    per_suite_time: dict[int, list[float]] = defaultdict(list)
    for _rid, suite_id, _at, test_time in runs:
        per_suite_time[suite_id].append(test_time)
    denominator = sum(statistics.median(v) for v in per_suite_time.values())
    out = []
    for test_id, median, n in picked:
        share = median / denominator if denominator else None
        out.append(SlowTest(names[test_id], median, n, share))
    out.sort(key=lambda t: (-t.median_s, t.nodeid))
    return out[:limit]


def _slow_candidates(session: Session, run_ids: list[int], limit: int) -> list[tuple]:
    """Return (test id, median, runs) of the ``limit`` tests of ``run_ids`` with the highest mean.

    SQL ranks by mean to pick candidates; exact medians are then taken over those few tests only.
    """
    candidates = session.execute(
        select(Result.test_id, func.avg(Result.duration_s).label("mean"))
        .where(Result.run_id.in_(run_ids), Result.final, Result.duration_s.is_not(None))
        .group_by(Result.test_id).order_by(func.avg(Result.duration_s).desc(), Result.test_id).limit(limit)
    ).all()
    ids = [c[0] for c in candidates]
    series = _durations(session, run_ids, Result.test_id.in_(ids))
    return [(test_id, statistics.median(series[test_id]), len(series[test_id])) for test_id in ids]


def _durations(session: Session, run_ids: list[int], *where) -> dict[int, list[float]]:
    series: dict[int, list[float]] = defaultdict(list)
    for test_id, duration in session.connection().execute(
        select(Result.test_id, Result.duration_s)
        .where(Result.run_id.in_(run_ids), Result.final, Result.duration_s.is_not(None), *where)
    ):
        series[test_id].append(duration)
    return series


def slow_stats(session: Session, run_ids: list[int]) -> list[tuple[int, float, float, int]]:
    """Return (test id, mean, median, runs) of every test of ``run_ids``: what the refresh stores."""
    if not run_ids:
        return []
    means = dict(session.execute(
        select(Result.test_id, func.avg(Result.duration_s))
        .where(Result.run_id.in_(run_ids), Result.final, Result.duration_s.is_not(None))
        .group_by(Result.test_id)).all())
    return [(test_id, float(means[test_id]), statistics.median(values), len(values))
            for test_id, values in sorted(_durations(session, run_ids).items())]


def step_change(values: Sequence[float], min_segment: int = MIN_SEGMENT) -> tuple[int, float, float] | None:
    """Return (index where the new level starts, median before, median after) of the best single step.

    The split minimises the squared error of a two-level fit (cumulative sums, so it is O(n));
    None when the history is too short.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2 * min_segment:
        return None
    csum, csq = np.cumsum(x), np.cumsum(x * x)
    ks = np.arange(min_segment, n - min_segment + 1)
    left_n, right_n = ks, n - ks
    left_sum, right_sum = csum[ks - 1], csum[-1] - csum[ks - 1]
    left_sq, right_sq = csq[ks - 1], csq[-1] - csq[ks - 1]
    cost = (left_sq - left_sum ** 2 / left_n) + (right_sq - right_sum ** 2 / right_n)
    k = int(ks[int(np.argmin(cost))])
    return k, float(np.median(x[:k])), float(np.median(x[k:]))


def duration_regressions(session: Session, project_id: int, window: Window = ALL_TIME,
                         settings: Settings | None = None, *, suite: str | None = None,
                         limit: int = 20) -> list[Regression]:
    """Return tests whose duration stepped up and stayed up, biggest added seconds first.

    Each test's passing durations over its suite's newest ``REGRESSION_RUNS`` runs are split at the
    best single step; a regression needs ``MIN_HISTORY`` runs, ``MIN_SEGMENT`` on each side, an after/
    before ratio of ``REGRESSION_RATIO`` and ``REGRESSION_MIN_S`` more seconds, and most runs after the
    step above the midpoint between the two levels (a lone spike is not a step).
    """
    runs = _window_runs(session, project_id, suite, window.since, window.last_moment, REGRESSION_RUNS)
    if not runs:
        return []
    position = {r[0]: (i, r[2], r[1]) for i, r in enumerate(runs)}
    order = [r[0] for r in runs]
    found = window_stats.stored(
        session, project_id, window_stats.REGRESSIONS, window_stats.fingerprint(order),
        (TestWindowStats.before_s, TestWindowStats.after_s, TestWindowStats.step_run_id,
         TestWindowStats.runs))
    if found is None:
        found = regressions_found(session, order)
    # Ties (equal added seconds) in test id order, whichever way the rows came.
    found = sorted(found, key=lambda f: (-(f[2] - f[1]), f[0]))[:limit]
    ids = [f[0] for f in found]
    names = dict(session.execute(select(Test.id, Test.nodeid).where(Test.id.in_(ids))).all()) if ids else {}
    suites = dict(session.execute(select(Suite.id, Suite.name).where(Suite.project_id == project_id)).all())
    return [
        Regression(names[tid], before, after, after / before, run_id, position[run_id][1], n,
                   suites.get(position[run_id][2]))
        for tid, before, after, run_id, n in found
    ]


def regressions_found(session: Session, order: list[int]) -> list[tuple[int, float, float, int, int]]:
    """Return (test id, before, after, run id the step began, runs) of each test that regressed.

    ``order`` is the window's run ids, oldest first: the refresh stores what this returns.
    """
    position = {run_id: i for i, run_id in enumerate(order)}
    passing = (Result.run_id.in_(order), Result.final, Result.outcome == "passed",
               Result.duration_s.is_not(None))
    # SQL keeps only tests whose range could hold such a step; most tests never leave this query.
    candidates = select(Result.test_id).where(*passing).group_by(Result.test_id).having(
        func.count() >= MIN_HISTORY,
        func.max(Result.duration_s) >= REGRESSION_RATIO * func.min(Result.duration_s),
        func.max(Result.duration_s) - func.min(Result.duration_s) >= REGRESSION_MIN_S,
    )
    history: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for test_id, run_id, duration in session.connection().execute(
        select(Result.test_id, Result.run_id, Result.duration_s)
        .where(*passing, Result.test_id.in_(candidates))
    ):
        history[test_id].append((position[run_id], run_id, duration))
    found: list[tuple[int, float, float, int, int]] = []
    for test_id, points in sorted(history.items()):
        if len(points) < MIN_HISTORY:
            continue
        points.sort()
        values = [p[2] for p in points]
        step = step_change(values)
        if step is None:
            continue
        k, before, after = step
        if before <= 0 or after / before < REGRESSION_RATIO or after - before < REGRESSION_MIN_S:
            continue
        midpoint = (before + after) / 2
        if sum(v > midpoint for v in values[k:]) < 0.8 * (len(values) - k):
            continue
        found.append((test_id, before, after, points[k][1], len(values)))
    return found
