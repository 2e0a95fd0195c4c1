"""The parts of a weekly review that summarise results, stored by the worker, read by the review.

Besides the as-of findings (``week_findings``), a review of week W summarises the results of W and
the weeks before it: the tests that got slower in W (over a six-week lookback), W's slowest tests,
the pyramid's drift against four weeks earlier, skip surges (against a four-week baseline), suites
that lost tests, each test's failures in W, and each busy suite's budget picture at W's end (its
trend over the runs before, and the fewest workers that meet the budget on its latest run). At
millions of results each is a scan of hundreds of thousands of rows, so a request computing them
takes seconds; here:

* ``refresh_week_parts`` (called by ``updates.refresh_project`` under the per-project refresh lock)
  computes them for each week with runs, the current week included, and stores one JSON row per
  week (``week_parts``).
* A row names what it was computed from: the runs started before W's end (count, sum and max of
  their ids), the settings and the suites' own budgets. A new run before W's end (every run of the
  live week, a late upload), a deleted run, another configuration or ``suitehealth budget`` changes
  that, and the row is no longer used: the review computes the parts itself until the worker
  stores them again.
* ``parts_of`` answers from a valid row, otherwise by computing; ``compute_parts`` is the one
  computation both use, so stored and computed parts are the same by construction.

What the review adds per request stays cheap: run totals per week, suite and day, budgets (one row
per run), and the as-of findings.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.analysis import budget, pyramid, skips
from dashboard.analysis.history import iter_runs
from dashboard.analysis.week_findings import (
    iso,
    parsed_row,
    replace_rows,
    runs_before,
    runs_before_each,
    too_big_to_replay,
    utc,
)
from dashboard.analysis.weeks import Week, week_of
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from dashboard.urls import Urls
from ingest.analysis_models import WeekPartsRow
from ingest.models import Project, Result, Run, Suite, Test
from ingest.records import BAD_OUTCOMES

log = logging.getLogger(__name__)

# How many slowest tests / regressions the review shows.
TOP_N = 10
# Pyramid drift compares level shares with this many weeks earlier.
DRIFT_WEEKS = 4
# Slowdowns are found over this many weeks before the reviewed one (a step needs a "before").
REGRESSION_LOOKBACK_WEEKS = 6
# The JSON form's version: a row written by another version is not used (and is stored anew).
FORMAT = 2

# The review stores relative links; renderers put them under the base URL (``Urls(base).path``).
LINKS = Urls()


@dataclass
class WeekParts:
    """What a review of ``week`` shows that is summarised from results (None: the week had no runs)."""

    week: str
    failures: dict[str, int] = field(default_factory=dict)
    slower_tests: list[dict] | None = None
    slowest_tests: list[dict] | None = None
    pyramid: dict | None = None
    skip_surges: list[skips.SkipSurge] = field(default_factory=list)
    count_drops: list[skips.CountDrop] = field(default_factory=list)
    # suite -> its budget picture at the week's end (``BUDGET_FIELDS``), for the suites that ran.
    budgets: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> WeekParts:
        surges = [skips.SkipSurge(**{**s, "examples": [skips.SkippedTest(**e) for e in s["examples"]]})
                  for s in data["skip_surges"]]
        return cls(week=data["week"], failures=dict(data["failures"]), slower_tests=data["slower_tests"],
                   slowest_tests=data["slowest_tests"], pyramid=data["pyramid"], skip_surges=surges,
                   count_drops=[skips.CountDrop(**d) for d in data["count_drops"]],
                   budgets=dict(data["budgets"]))


# ---- computing ------------------------------------------------------------------------------

def compute_parts(session: Session, project_id: int, project: str, week: Week,
                  settings: Settings) -> WeekParts:
    """Compute the parts of the review of ``week`` from the results (``project`` names the links)."""
    failures = failures_by_test(session, project_id, week)
    busy = session.scalar(select(Run.id).where(*week_runs(project_id, week)).limit(1)) is not None
    if not busy:
        # An empty week shows only where the runs are; the analyses would find nothing new.
        return WeekParts(week=week.label, failures=failures)
    this_week = Window.of_week(week)
    # A step needs runs on both sides, so look back before the week and keep the steps that
    # began inside it: "got slower this week", not "was slower all week".
    lookback = Window.weeks(week.shifted(-REGRESSION_LOOKBACK_WEEKS), week)
    slower = [_regression(r, project) for r in budget.duration_regressions(
        session, project_id, lookback, settings, limit=TOP_N * 5)
        if this_week.contains(r.began_at)][:TOP_N]
    slowest = [_slow(t, project) for t in budget.slowest_tests(
        session, project_id, this_week, settings, limit=TOP_N)]
    return WeekParts(
        week=week.label, failures=failures, slower_tests=slower, slowest_tests=slowest,
        pyramid=_pyramid_drift(session, project_id, week, settings),
        skip_surges=skips.skip_surges(session, project_id, this_week, settings),
        count_drops=skips.count_drops(session, project_id, this_week, settings),
        budgets=_budgets(session, project_id, week, settings))


BUDGET_FIELDS = ("budget_s", "latest_s", "trend_s_per_week", "forecast_breach_date", "workers_needed",
                 "status")


def _budgets(session: Session, project_id: int, week: Week, settings: Settings) -> dict[str, dict]:
    """Return each suite that ran in ``week``: its budget picture as of the week's end."""
    ran = session.scalars(select(Suite.name).distinct().join(Run, Run.suite_id == Suite.id)
                          .where(*week_runs(project_id, week)).order_by(Suite.name))
    out = {}
    for suite in ran:
        # The review shows the fewest workers that meet the budget, not the what-if table.
        b = budget.suite_budget(session, project_id, Window.before(week.end), settings, suite=suite,
                                whatif_table=False)
        out[suite] = {name: getattr(b, name) for name in BUDGET_FIELDS}
        out[suite]["forecast_breach_date"] = iso(b.forecast_breach_date)
    return out


def week_runs(project_id: int, week: Week) -> tuple:
    """The WHERE clauses of the project's runs started in ``week``."""
    return (Run.project_id == project_id, Run.started_at >= week.start, Run.started_at < week.end)


def failures_by_test(session: Session, project_id: int, week: Week) -> dict[str, int]:
    """nodeid -> failed/errored attempts (reruns included) in the week's runs."""
    rows = session.execute(
        select(Test.nodeid, func.count())
        .join(Result, Result.test_id == Test.id).join(Run, Run.id == Result.run_id)
        .where(*week_runs(project_id, week), Result.outcome.in_(BAD_OUTCOMES))
        .group_by(Test.nodeid)
    ).all()
    return {nodeid: int(n) for nodeid, n in rows}


def _regression(r: budget.Regression, project: str) -> dict:
    return {
        "nodeid": r.nodeid, "before_s": r.before_s, "after_s": r.after_s, "ratio": r.ratio,
        "began_run_id": r.began_run_id, "began_at": iso(r.began_at), "suite": r.suite,
        "link": LINKS.test(project, r.nodeid), "run_link": LINKS.run(project, r.began_run_id),
    }


def _slow(t: budget.SlowTest, project: str) -> dict:
    return {"nodeid": t.nodeid, "median_s": t.median_s, "runs": t.runs, "share_of_suite": t.share_of_suite,
            "link": LINKS.test(project, t.nodeid)}


def _pyramid_drift(session: Session, project_id: int, week: Week, settings: Settings) -> dict:
    """Level shares (tests and time) this week against ``DRIFT_WEEKS`` weeks earlier."""
    then = week.shifted(-DRIFT_WEEKS)
    snapshots = {}
    for label, w in (("now", week), ("then", then)):
        p = pyramid.pyramid_levels(session, project_id, Window.of_week(w), settings)
        # The pyramid's shares are 0.0 in an empty week; here "no tests" must not read as a 0% share.
        timed = any(v.time_s for v in p.levels.values())
        snapshots[label] = {
            "week": w.label, "shape": p.shape,
            "levels": {k: {"tests": v.tests, "time_s": v.time_s,
                           "test_share": v.share_tests if p.tests else None,
                           "time_share": v.share_time if timed else None}
                       for k, v in p.levels.items()},
        }
    names = [n for n in ("unit", "integration", "e2e", "unknown")
             if n in snapshots["now"]["levels"] or n in snapshots["then"]["levels"]]
    drift = []
    for n in names:
        a = snapshots["now"]["levels"].get(n, {}).get("test_share")
        b = snapshots["then"]["levels"].get(n, {}).get("test_share")
        drift.append({"level": n, "share_now": a, "share_then": b,
                      "change": (a - b) if a is not None and b is not None else None})
    return {"now": snapshots["now"], "then": snapshots["then"], "drift": drift}


# ---- which runs and settings a week's parts come from ---------------------------------------

def inputs_of(session: Session, project_id: int, week: Week, settings: Settings) -> str:
    """Return the fingerprint of what the parts of ``week`` are computed from (two indexed queries)."""
    return _fingerprint(runs_before(session, project_id, week.end), _config(session, project_id, settings))


def _config(session: Session, project_id: int, settings: Settings) -> str:
    # The settings and budgets go in as a hash: their repr can be long, the column holds 64 characters.
    config = repr((settings.cache_key, budget.own_budgets(session, project_id)))
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def _fingerprint(runs: tuple[int, int, int | None], config: str) -> str:
    count, id_sum, id_max = runs
    return f"{FORMAT}:{count}:{id_sum}:{id_max or 0}:{config}"


# ---- reading --------------------------------------------------------------------------------

def is_stored(session: Session, project_id: int, week: Week, settings: Settings) -> bool:
    """Return whether a stored row of ``week`` describes exactly today's runs and settings."""
    return stored_parts(session, project_id, week, settings) is not None


def stored_parts(session: Session, project_id: int, week: Week, settings: Settings, *,
                 stale: bool = False) -> WeekParts | None:
    """Return the stored parts of ``week`` if they describe exactly today's runs and settings (with
    ``stale``, whatever they describe); None too for a row not in the shape this version writes."""
    where = (WeekPartsRow.project_id == project_id, WeekPartsRow.week_start == week.start)
    row = session.execute(select(WeekPartsRow.fingerprint, WeekPartsRow.computed_at).where(*where)
                          ).one_or_none()
    if row is None or (not stale and row[0] != inputs_of(session, project_id, week, settings)):
        return None
    # The source, the review and the page each ask: the JSON is read and parsed once per session.
    memo = session.info.setdefault("week_parts", {})
    key = (project_id, week.start, *row)
    if key not in memo:
        memo[key] = parsed_row(session.scalar(select(WeekPartsRow.parts).where(*where)), FORMAT,
                               WeekParts.from_json)
    return memo[key]


def parts_of(session: Session, project_id: int, project: str, week: Week, settings: Settings
             ) -> tuple[WeekParts, str]:
    """Return the parts of ``week`` and where they came from (``parts_source``)."""
    found, source = _stored_or_stale(session, project_id, week, settings)
    if found is None:
        return compute_parts(session, project_id, project, week, settings), source
    return found, source


def parts_source(session: Session, project_id: int, week: Week, settings: Settings) -> str:
    """Return "stored" when the parts of ``week`` are read as stored, "computed" when the review
    computes them, "stale" when it reads the row the worker is storing again (a late run, a budget
    changed) because computing them is too much for a request (``week_findings.too_big_to_replay``)."""
    return _stored_or_stale(session, project_id, week, settings)[1]


def _stored_or_stale(session: Session, project_id: int, week: Week, settings: Settings
                     ) -> tuple[WeekParts | None, str]:
    found = stored_parts(session, project_id, week, settings)
    if found is not None:
        return found, "stored"
    if too_big_to_replay(session, project_id, week.end, settings):
        found = stored_parts(session, project_id, week, settings, stale=True)
        if found is not None:
            return found, "stale"
    return None, "computed"


def stored_version(session: Session, project_id: int, week: Week) -> tuple:
    """Return what changes when the worker stores the parts of ``week``."""
    return tuple(session.execute(
        select(WeekPartsRow.fingerprint, WeekPartsRow.computed_at)
        .where(WeekPartsRow.project_id == project_id, WeekPartsRow.week_start == week.start)).all())


# ---- storing (the worker) -------------------------------------------------------------------

def wanted_weeks(starts: list[datetime]) -> list[Week]:
    """Return the weeks with runs, oldest first."""
    return sorted({week_of(s) for s in starts})


def refresh_week_parts(engine: Engine, project_id: int, settings: Settings | None = None) -> int:
    """Store the parts of the project's weeks that are missing or out of date; return how many.

    The caller holds the project's refresh lock (``updates._one_analyser``). Rows of weeks without
    runs any more are deleted.
    """
    settings = settings or Settings.from_environment()
    with Session(engine) as session, session.begin():
        runs = iter_runs(session, project_id)
        weeks = wanted_weeks([r.started_at for r in runs])
        stored = dict(session.execute(select(WeekPartsRow.week_start, WeekPartsRow.fingerprint)
                                      .where(WeekPartsRow.project_id == project_id)).all())
        stored = {utc(k): v for k, v in stored.items()}
        config = _config(session, project_id, settings)
        counts = runs_before_each(runs, [w.end for w in weeks])
        current = {w.start: _fingerprint(counts[w.end], config) for w in weeks}
        missing = [w for w in weeks if stored.get(w.start) != current[w.start]]
        stale = [start for start in stored if start not in current]
        if not missing and not stale:
            return 0
        name = _project_name(session, project_id)
        computed = [(w, compute_parts(session, project_id, name, w, settings)) for w in missing]
    stamp = datetime.now(UTC)
    replace_rows(engine, WeekPartsRow.week_start, project_id, stale + [w.start for w in missing],
                 [{"project_id": project_id, "week_start": w.start, "fingerprint": current[w.start],
                   "parts": parts.to_json(), "computed_at": stamp} for w, parts in computed])
    if computed:
        log.info("project %s: stored the review parts of %d week%s", project_id, len(computed),
                 "" if len(computed) == 1 else "s")
    return len(computed)


def _project_name(session: Session, project_id: int) -> str:
    return session.scalar(select(Project.name).where(Project.id == project_id))
