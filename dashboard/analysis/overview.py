"""The morning view: every project's last run and health line; one project's suites and top problems.

Reads only the per-run totals on ``runs`` (GROUP BY in SQL) plus the failing results of each
suite's latest run. Budget status and flaky/broken tests come from ``dashboard.analysis.budget``
and ``dashboard.analysis.flaky``, with the app's budget default and configuration file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis import budget, flaky
from dashboard.analysis.budget import SuiteBudget
from dashboard.analysis.run_cache import cached_per_runs
from dashboard.analysis.runs import RunRow, filtered_runs, pass_rate, run_row
from dashboard.settings import Settings
from ingest.models import Project, Result, Run, Suite, Test
from ingest.records import BAD_OUTCOMES

# "Recent" = the runs of this many days before the project's latest run (not before *now*:
# a project that stopped uploading still gets a meaningful summary of its last stretch).
RECENT_DAYS = 14
# Runs per suite drawn in the overview's trend chart.
TREND_RUNS = 120
TOP_PROBLEMS = 5


@dataclass(frozen=True)
class ProjectSummary:
    """One line of the home page."""

    name: str
    suites: int
    runs: int
    tests: int
    last_run: RunRow | None
    recent_pass_rate: float | None
    failing_suites: list[str]
    health: str
    # The window recent_pass_rate covers: RECENT_DAYS days up to the project's last run.
    recent_window_days: int = RECENT_DAYS
    recent_window_until: datetime | None = None


@dataclass(frozen=True)
class SuiteStatus:
    """A suite on the overview: its latest run, recent pass rate and budget verdict."""

    name: str
    latest: RunRow
    recent_runs: int
    recent_pass_rate: float | None
    budget_s: float
    budget_status: str  # "ok" | "at-risk" | "over"
    median_s: float | None
    forecast_breach_date: date | None


@dataclass(frozen=True)
class Problem:
    """Something worth a look, best first: a broken or flaky test, a suite over budget, a failure now."""

    kind: str  # "broken" | "flaky" | "budget" | "failing"
    title: str
    detail: str
    suite: str | None = None
    nodeid: str | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class ProjectOverview:
    name: str
    suites: list[SuiteStatus]
    problems: list[Problem]
    recent_runs: list[RunRow]
    tests: int
    runs: int


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _latest_runs(session: Session, project_id: int | None = None) -> list[tuple[int, RunRow]]:
    """Return (project id, run) for the latest run of every suite (of one project, or of all)."""
    newest = select(Run.suite_id, func.max(Run.started_at).label("at")).group_by(Run.suite_id)
    if project_id is not None:
        newest = newest.where(Run.project_id == project_id)
    newest = newest.subquery()
    query = (
        filtered_runs(project_id).add_columns(Run.project_id)
        .join(newest, (newest.c.suite_id == Run.suite_id) & (newest.c.at == Run.started_at))
        .order_by(Suite.name, Run.id.desc())
    )
    latest: dict[tuple[int, str], tuple[int, RunRow]] = {}
    for row in session.execute(query):
        data = row._asdict()
        owner = data.pop("project_id")
        # Two runs of a suite at the same instant: the first (highest id) wins.
        latest.setdefault((owner, data["suite"]), (owner, RunRow(**data)))
    return list(latest.values())


def _recent_totals(session: Session, project_id: int | None = None) -> dict[tuple[int, str], tuple]:
    """Return (project id, suite) -> (runs, passed, ran) over each project's recent window."""
    last = select(Run.project_id, func.max(Run.started_at)).group_by(Run.project_id)
    if project_id is not None:
        last = last.where(Run.project_id == project_id)
    ran_expr = Run.tests - Run.skipped - Run.xfailed
    out = {}
    # One small GROUP BY per project: the window's start is computed here, portable across databases.
    # (The SQL expression and the loop's values have different names on purpose: reusing one name
    # made every project after the first sum a constant.)
    for pid, at in session.execute(last).all():
        rows = session.execute(
            select(Suite.name, func.count(), func.sum(Run.passed), func.sum(ran_expr))
            .join(Suite, Suite.id == Run.suite_id)
            .where(Run.project_id == pid, Run.started_at > at - timedelta(days=RECENT_DAYS))
            .group_by(Suite.name)
        )
        for suite, n, passed, ran in rows:
            out[(pid, suite)] = (n, int(passed or 0), int(ran or 0))
    return out


def recent_window_phrase(last_run_at: datetime, now: datetime) -> str:
    """Name the recent window: the 14 days up to the last run, with its end date when that is not today."""
    if (now - last_run_at) < timedelta(days=1):
        return f"over the last {RECENT_DAYS} days"
    return f"over the {RECENT_DAYS} days up to its last run ({last_run_at.date().isoformat()})"


def projects_overview(session: Session, now: datetime | None = None) -> list[ProjectSummary]:
    """Return every project with its last run and a one-line health summary, by name."""
    now = now or datetime.now(UTC)
    projects = session.execute(select(Project.id, Project.name).order_by(Project.name)).all()
    counts = dict(session.execute(select(Run.project_id, func.count()).group_by(Run.project_id)).all())
    suites = dict(session.execute(select(Suite.project_id, func.count()).group_by(Suite.project_id)).all())
    tests = dict(session.execute(select(Test.project_id, func.count()).group_by(Test.project_id)).all())
    latest = _latest_runs(session)
    recent = _recent_totals(session)

    summaries = []
    for pid, name in projects:
        mine = [r for owner, r in latest if owner == pid]
        last_run = max(mine, key=lambda r: (r.started_at, r.id), default=None)
        failing = sorted(r.suite for r in mine if r.status == "failed")
        totals = [v for (p, _), v in recent.items() if p == pid]
        rate = pass_rate(sum(t[1] for t in totals), sum(t[2] for t in totals))
        if last_run is None:
            health = "no runs yet — ingest a report to see this project's health"
        else:
            green = len(mine) - len(failing)
            parts = [f"{green} of {len(mine)} suites green"]
            if failing:
                parts[0] += f" ({', '.join(failing)} failing)"
            parts.append(f"last run {_ago(last_run.started_at, now)}")
            if rate is not None:
                parts.append(f"{rate * 100:.1f}% of tests passed "
                             f"{recent_window_phrase(last_run.started_at, now)}")
            health = " · ".join(parts)
        summaries.append(ProjectSummary(
            name=name, suites=suites.get(pid, 0), runs=counts.get(pid, 0), tests=tests.get(pid, 0),
            last_run=last_run, recent_pass_rate=rate, failing_suites=failing, health=health,
            recent_window_until=last_run.started_at if last_run else None,
        ))
    return summaries


def suite_trend(session: Session, project_id: int, per_suite: int = TREND_RUNS) -> list[dict]:
    """Return the last ``per_suite`` runs of each suite (suite, id, started_at, duration_s, tests, failed)."""
    newest_first = (Run.started_at.desc(), Run.id.desc())
    ranked = (
        select(Suite.name.label("suite"), Run.id, Run.started_at, Run.duration_s, Run.tests,
               (Run.failed + Run.errors).label("failed"),
               func.row_number().over(partition_by=Run.suite_id, order_by=newest_first).label("rank"))
        .join(Suite, Suite.id == Run.suite_id).where(Run.project_id == project_id)
    ).subquery()
    rows = session.execute(
        select(ranked.c.suite, ranked.c.id, ranked.c.started_at, ranked.c.duration_s, ranked.c.tests,
               ranked.c.failed)
        .where(ranked.c.rank <= per_suite).order_by(ranked.c.suite, ranked.c.started_at)
    )
    return [r._asdict() for r in rows]


def failing_now(session: Session, runs: list[RunRow], limit: int = 20) -> list[Problem]:
    """Return the failed/errored tests of the given (latest) runs, with their messages."""
    failed_runs = {r.id: r for r in runs if r.status == "failed"}
    if not failed_runs:
        return []
    rows = session.execute(
        select(Result.run_id, Test.nodeid, Result.outcome, Result.message)
        .join(Test, Test.id == Result.test_id)
        .where(Result.run_id.in_(list(failed_runs)), Result.final, Result.outcome.in_(BAD_OUTCOMES))
        .order_by(Result.run_id, Result.order_index).limit(limit)
    )
    return [
        Problem(kind="failing", title=nodeid, nodeid=nodeid, suite=failed_runs[run_id].suite, run_id=run_id,
                detail=f"{outcome} in the latest {failed_runs[run_id].suite} run"
                + (f": {(message or '').strip().splitlines()[0][:200]}" if (message or "").strip() else ""))
        for run_id, nodeid, outcome, message in rows
    ]


def _flaky_problems(session: Session, project_id: int) -> list[Problem]:
    """Return the top broken tests, then the top tests still flaky (not yet "fixed")."""
    problems: list[Problem] = []
    # One read of the stored states for both lists.
    flaky_now, broken_now = flaky.flaky_and_broken(session, project_id)
    for b in broken_now[:TOP_PROBLEMS]:
        message = (b.message or "").strip().splitlines()
        problems.append(Problem(
            kind="broken", title=b.nodeid, nodeid=b.nodeid, run_id=b.since_run_id, suite=b.suite,
            detail=f"broken: failed the last {b.consecutive_failures} runs"
            + (f" — {message[0][:200]}" if message else "")))
    active = [f for f in flaky_now if f.status != "fixed"]
    for f in active[:TOP_PROBLEMS]:
        detail = "flaky" + (f" ({f.status})" if f.status != "flaky" else "")
        detail += f": {f.flakes} flaky result{'s' if f.flakes != 1 else ''} in {f.runs} runs"
        if f.rerun_flakes:
            detail += f", {f.rerun_flakes} passed only on a rerun"
        problems.append(Problem(kind="flaky", title=f.nodeid, nodeid=f.nodeid, detail=detail, suite=f.suite))
    return problems


def _analyses(session: Session, project_id: int, suites: list[str],
              settings: Settings) -> tuple[dict[str, SuiteBudget], list[Problem]]:
    """Return (budgets by suite, flaky/broken problems), kept until the runs or the budgets change."""
    # Budgets change without a new run (a suite's own, the file, the app default): they join the key.
    own = budget.own_budgets(session, project_id)
    key = ("overview", tuple(suites), own, settings.cache_key)

    def compute() -> tuple[dict[str, SuiteBudget], list[Problem]]:
        budgets = {name: budget.suite_budget(session, project_id, settings=settings, suite=name,
                                             summary_only=True)
                   for name in suites}
        return budgets, _flaky_problems(session, project_id)

    return cached_per_runs(session, project_id, key, compute)


def project_overview(session: Session, project_id: int, name: str, *,
                     settings: Settings | None = None) -> ProjectOverview:
    """Return the overview of one project: suites with status, top problems and the latest runs.

    ``settings`` (default: from the environment) hold the budgets of the file and the app's default.
    """
    latest = sorted((r for _, r in _latest_runs(session, project_id)), key=lambda r: r.suite)
    recent = _recent_totals(session, project_id)
    budgets, flaky_problems = _analyses(session, project_id, [r.suite for r in latest],
                                        settings or Settings.from_environment())

    suites = []
    problems: list[Problem] = []
    for run in latest:
        n, passed, ran = recent.get((project_id, run.suite), (0, 0, 0))
        b = budgets[run.suite]
        suites.append(SuiteStatus(
            name=run.suite, latest=run, recent_runs=n, recent_pass_rate=pass_rate(passed, ran),
            budget_s=b.budget_s, budget_status=b.status, median_s=b.median_s,
            forecast_breach_date=b.forecast_breach_date,
        ))
        if b.status in ("over", "at-risk"):
            detail = (f"median {b.median_s:.0f} s against a {b.budget_s:.0f} s budget" if b.median_s
                      else "over budget")
            if b.status == "at-risk" and b.forecast_breach_date:
                detail += f"; forecast to cross it on {b.forecast_breach_date}"
            problems.append(Problem(kind="budget", title=f"{run.suite} suite is {b.status}", suite=run.suite,
                                    detail=detail))
    problems.extend(flaky_problems)
    # A broken test already says it is failing; a flaky one failing right now is still news.
    broken = {p.nodeid for p in problems if p.kind == "broken"}
    problems.extend(p for p in failing_now(session, latest) if p.nodeid not in broken)

    recent_runs = [
        run_row(r) for r in session.execute(
            filtered_runs(project_id).order_by(Run.started_at.desc(), Run.id.desc()).limit(10))
    ]
    return ProjectOverview(
        name=name, suites=suites, problems=problems, recent_runs=recent_runs,
        tests=session.scalar(select(func.count(Test.id)).where(Test.project_id == project_id)) or 0,
        runs=session.scalar(select(func.count(Run.id)).where(Run.project_id == project_id)) or 0,
    )
