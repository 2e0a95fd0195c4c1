"""The weekly suite-health review: what changed this ISO week against the one before, with evidence.

Own facts (runs and pass rates per week, suite and day) come from SQL here. What is summarised from
results (failures, slowdowns, slowest tests, pyramid drift, skip surges, shrinking suites, budgets)
comes from ``week_parts``, and flakiness and interference as of the week's ends from
``week_findings``: each reads what the analysis worker stored when it is still valid, and otherwise
asks the analysis modules the same way, ``question(session, project_id, window, settings)`` with a
half-open ``Window`` (this week, or everything before this week's end and before the previous one's).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dashboard.analysis import budget, flaky, interference, skips, week_findings, week_parts
from dashboard.analysis.run_cache import cached_per_runs
from dashboard.analysis.runs import pass_rate
from dashboard.analysis.week_findings import iso
from dashboard.analysis.week_parts import LINKS, week_runs
from dashboard.analysis.weeks import Week, last_complete_week, week_of
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from ingest.models import Project, Run, Suite

# How many actions the review shows.
MAX_ACTIONS = 8


# ---- the review's parts ----------------------------------------------------------------------

@dataclass
class Totals:
    """Run totals of one week (all suites, or one suite)."""

    runs: int = 0
    red_runs: int = 0
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    reruns: int = 0

    @property
    def pass_rate(self) -> float | None:
        return pass_rate(self.passed, self.tests - self.skipped - self.xfailed)


@dataclass
class SuiteWeek:
    """One suite this week against last week, with its budget picture."""

    suite: str
    runs: int
    runs_before: int
    pass_rate: float | None
    pass_rate_before: float | None
    median_tests: int | None
    median_wall_s: float | None
    median_wall_s_before: float | None
    failed: int
    skipped: int
    link: str
    budget_s: float | None = None
    latest_s: float | None = None
    trend_s_per_week: float | None = None
    forecast_breach_date: str | None = None
    workers_needed: int | None = None
    status: str | None = None


@dataclass
class Action:
    """A recommended action; ``payoff`` orders them (see ``recommended_actions``)."""

    title: str
    evidence: str
    link: str
    payoff: float
    kind: str
    # The test or suite the title names (renderers set it in code type).
    subject: str | None = None


@dataclass
class WeeklyReview:
    project: str
    week: str
    week_start: str
    week_end: str
    previous_week: str
    next_week: str | None
    complete: bool
    generated_at: str
    empty: bool
    latest_week_with_runs: str | None
    runs: int
    runs_before: int
    red_runs: int
    pass_rate: float | None
    pass_rate_before: float | None
    reruns: int
    suites: list[SuiteWeek]
    # One entry per day of the week: runs, red runs, pass rate.
    days: list[dict]
    slower_tests: list[dict] | None
    slowest_tests: list[dict] | None
    new_flaky: list[dict] | None
    no_longer_flaky: list[dict] | None
    broken: list[dict] | None
    new_suspects: list[dict] | None
    skip_surges: list[skips.SkipSurge]
    count_drops: list[skips.CountDrop]
    pyramid: dict | None
    actions: list[Action]
    links: dict[str, str]


# ---- assembling -----------------------------------------------------------------------------

def weekly_review(session: Session, project_id: int, window: Window | None = None,
                  settings: Settings | None = None, *, now: datetime | None = None) -> WeeklyReview:
    """Build the review of the ISO week ``window`` (None: the last complete week) for ``project_id``."""
    now = now or datetime.now(UTC)
    project = _project(session, project_id)
    week = window.week() if window is not None else last_complete_week(now)
    this_week = Window.of_week(week)
    prev = week.previous
    name = project.name

    totals_now = _totals(session, project.id, week)
    totals_before = _totals(session, project.id, prev)
    suites = _suite_weeks(session, project, week)
    settings = settings or Settings.from_environment()
    # What summarises results (failures, slowdowns, slowest tests, pyramid drift, skips): stored by
    # the worker when it is up to date, else computed here.
    parts, _ = week_parts.parts_of(session, project.id, name, week, settings)
    failures = parts.failures
    # An empty week shows only where the runs are; the analyses below would find nothing new.
    busy = totals_now.runs > 0
    if busy:
        _add_budgets(suites, parts.budgets)

    # The as-of questions judge the history before the week's end, and before the previous week's.
    until_now, until_then = Window.before(week.end), Window.before(prev.end)
    new_flaky = no_longer = broken = None
    # Everything still flaky or suspected at the week's end: ongoing problems that failed this
    # week deserve an action as much as new ones.
    flaky_now: list[dict] = []
    suspects_now: list[dict] = []
    if busy:
        # A test counts as flaky while its analysis does not call it "fixed" (clean for long enough).
        # As of each boundary: stored by the worker when it is up to date, else replayed here.
        now_flaky = {f.nodeid: f for f in week_findings.flaky_as_of(session, project.id, until_now,
                                                                    settings) if f.status != "fixed"}
        then_flaky = {f.nodeid: f for f in week_findings.flaky_as_of(session, project.id, until_then,
                                                                     settings) if f.status != "fixed"}
        new_flaky = [_flaky(f, name, failures) for n, f in now_flaky.items() if n not in then_flaky]
        no_longer = [_flaky(f, name, failures) for n, f in then_flaky.items() if n not in now_flaky]
        flaky_now = [_flaky(f, name, failures) for f in now_flaky.values()]
        # A breakage is new when its streak of failures began this week (no second replay needed).
        broken = [_broken(b, name, this_week.contains(b.since_at), failures)
                  for b in week_findings.broken_as_of(session, project.id, until_now, settings)]

    new_suspects = None
    if busy:
        before = {_suspect_key(s)
                  for s in week_findings.suspects_as_of(session, project.id, until_then, settings)}
        current_suspects = week_findings.suspects_as_of(session, project.id, until_now, settings)
        suspects_now = [_suspect(s, name, failures) for s in current_suspects]
        new_suspects = [s for s, raw in zip(suspects_now, current_suspects, strict=True)
                        if _suspect_key(raw) not in before]

    current = week_of(now)
    latest = _latest_week_with_runs(session, project.id)
    review = WeeklyReview(
        project=name, week=week.label, week_start=week.first_day.isoformat(),
        week_end=week.last_day.isoformat(), previous_week=prev.label,
        next_week=week.next.label if week.next <= current else None,
        complete=week.end <= now, generated_at=now.isoformat(timespec="seconds"),
        empty=totals_now.runs == 0,
        latest_week_with_runs=latest.label if latest else None,
        runs=totals_now.runs, runs_before=totals_before.runs, red_runs=totals_now.red_runs,
        pass_rate=totals_now.pass_rate, pass_rate_before=totals_before.pass_rate, reruns=totals_now.reruns,
        suites=suites, days=_days(session, project.id, week), slower_tests=parts.slower_tests,
        slowest_tests=parts.slowest_tests,
        new_flaky=new_flaky,
        no_longer_flaky=no_longer, broken=broken, new_suspects=new_suspects, skip_surges=parts.skip_surges,
        count_drops=parts.count_drops, pyramid=parts.pyramid, actions=[],
        links={
            "review": LINKS.weekly(name, week), "previous": LINKS.weekly(name, prev),
            "next": LINKS.weekly(name, week.next), "runs": LINKS.runs(
                name, **this_week.page_params()),
            "budget": LINKS.project(name, "budget"), "flaky": LINKS.project(name, "flaky"),
            "suspects": LINKS.project(name, "suspects"), "pyramid": LINKS.project(name, "pyramid"),
            **({"latest": LINKS.weekly(name, latest)} if latest else {}),
        },
    )
    if not review.empty:
        review.actions = recommended_actions(review, failures, flaky_now=flaky_now,
                                             suspects_now=suspects_now)
    return review


def cached_weekly_review(session: Session, project_id: int, window: Window | None = None,
                         settings: Settings | None = None, *, now: datetime | None = None) -> WeeklyReview:
    """Return ``weekly_review(...)``, reusing the one built while the project's runs were the same.

    The as-of analyses replay the history, which takes seconds on a big project; a review only
    changes when runs are added or removed (``run_cache`` watches those), budgets change or the
    configuration file does (part of the key here).
    """
    now = now or datetime.now(UTC)
    week = window.week() if window is not None else last_complete_week(now)
    settings = settings or Settings.from_environment()
    budgets = budget.own_budgets(session, project_id)
    key = ("weekly", project_id, week.label, week_of(now).label, week.end <= now, budgets,
           settings.cache_key, week_findings.stored_version(session, project_id, week),
           week_parts.stored_version(session, project_id, week))
    window = Window.of_week(week)
    return cached_per_runs(session, project_id, key,
                           lambda: weekly_review(session, project_id, window, settings, now=now))


def _project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise LookupError(f"no project with id {project_id}")
    return project


def _totals(session: Session, project_id: int, week: Week) -> Totals:
    row = session.execute(
        select(func.count(), func.sum(Run.tests), func.sum(Run.passed), func.sum(Run.failed),
               func.sum(Run.errors), func.sum(Run.skipped), func.sum(Run.xfailed), func.sum(Run.reruns),
               func.sum(case(((Run.failed + Run.errors) > 0, 1), else_=0)))
        .where(*week_runs(project_id, week))
    ).one()
    runs, tests, passed, failed, errors, skipped, xfailed, reruns, red = (int(v or 0) for v in row)
    return Totals(runs=runs, red_runs=red, tests=tests, passed=passed, failed=failed, errors=errors,
                  skipped=skipped, xfailed=xfailed, reruns=reruns)


def _suite_weeks(session: Session, project: Project, week: Week) -> list[SuiteWeek]:
    """Per-suite totals of this and the previous week (GROUP BY suite), walls medians per suite."""

    def per_suite(w: Week) -> dict[str, tuple[Totals, list[float], list[int]]]:
        rows = session.execute(
            select(Suite.name, Run.tests, Run.passed, Run.failed, Run.errors, Run.skipped, Run.xfailed,
                   Run.duration_s)
            .join(Suite, Suite.id == Run.suite_id).where(*week_runs(project.id, w))
        ).all()
        out: dict[str, tuple[Totals, list[float], list[int]]] = {}
        for suite, tests, passed, failed, errors, skipped, xfailed, wall in rows:
            totals, walls, counts = out.setdefault(suite, (Totals(), [], []))
            totals.runs += 1
            totals.red_runs += int(bool(failed or errors))
            totals.tests += tests or 0
            totals.passed += passed or 0
            totals.failed += (failed or 0) + (errors or 0)
            totals.skipped += skipped or 0
            totals.xfailed += xfailed or 0
            if wall is not None:
                walls.append(float(wall))
            counts.append(int(tests or 0))
        return out

    now, before = per_suite(week), per_suite(week.previous)
    result = []
    for suite in sorted(set(now) | set(before)):
        t, walls, counts = now.get(suite, (Totals(), [], []))
        tb, walls_b, _ = before.get(suite, (Totals(), [], []))
        result.append(SuiteWeek(
            suite=suite, runs=t.runs, runs_before=tb.runs, pass_rate=t.pass_rate,
            pass_rate_before=tb.pass_rate, median_tests=_median(counts, whole=True),
            median_wall_s=_median(walls), median_wall_s_before=_median(walls_b),
            failed=t.failed, skipped=t.skipped,
            link=LINKS.runs(project.name, suite=suite, **Window.of_week(week).page_params()),
        ))
    return result


def _days(session: Session, project_id: int, week: Week) -> list[dict]:
    """Runs, red runs and pass rate per UTC day (a week's runs are few: bucketed here, not in SQL)."""
    days = {week.first_day + timedelta(days=i): Totals() for i in range(7)}
    for started, tests, passed, failed, errors, skipped, xfailed in session.execute(
        select(Run.started_at, Run.tests, Run.passed, Run.failed, Run.errors, Run.skipped, Run.xfailed)
        .where(*week_runs(project_id, week))
    ):
        t = days[started.astimezone(UTC).date()]
        t.runs += 1
        t.red_runs += int(bool(failed or errors))
        t.tests += tests or 0
        t.passed += passed or 0
        t.skipped += skipped or 0
        t.xfailed += xfailed or 0
    return [{"day": day.isoformat(), "runs": t.runs, "red_runs": t.red_runs, "pass_rate": t.pass_rate}
            for day, t in days.items()]


def _median(values: list, whole: bool = False):
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(value) if whole else value


def _latest_week_with_runs(session: Session, project_id: int) -> Week | None:
    latest = session.scalar(select(func.max(Run.started_at)).where(Run.project_id == project_id))
    return week_of(latest) if latest else None


# ---- adapters over the other analyses (their dataclasses -> the review's JSON-ready dicts) ------

def _add_budgets(suites: list[SuiteWeek], budgets: dict[str, dict]) -> None:
    for s in suites:
        for name, value in budgets.get(s.suite, {}).items():
            setattr(s, name, value)


def _flaky(f: flaky.FlakyTest, project: str, failures: dict[str, int]) -> dict:
    return {"nodeid": f.nodeid, "score": f.score, "failure_rate": f.failure_rate, "flip_rate": f.flip_rate,
            "runs": f.runs, "failures": f.failures, "failures_this_week": failures.get(f.nodeid, 0),
            "status": f.status, "first_seen": iso(f.first_seen), "last_flake": iso(f.last_flake),
            "link": LINKS.test(project, f.nodeid)}


def _broken(b: flaky.BrokenTest, project: str, new: bool, failures: dict[str, int]) -> dict:
    return {"nodeid": b.nodeid, "new": new, "since_run_id": b.since_run_id, "since_at": iso(b.since_at),
            "consecutive_failures": b.consecutive_failures, "message": b.message,
            "failures_this_week": failures.get(b.nodeid, 0), "link": LINKS.test(project, b.nodeid),
            "run_link": LINKS.run(project, b.since_run_id)}


def _suspect_key(s: interference.Suspect) -> tuple:
    return (s.victim, s.kind, s.polluters[0] if s.polluters else None)


def _passes_only(s: dict) -> str:
    """What a brittle victim needs to have run first, in words."""
    def first_three(names: list[str]) -> str:
        return ", ".join(names[:3]) + (" …" if len(names) > 3 else "")

    if s.get("modules"):
        return (f"it passes only when the last module to write shared state before it was one of "
                f"{plural(len(s['modules']), 'module')} ({first_three(s['modules'])})")
    return f"it passes only after {first_three(s['polluters'])} has run"


def _verdict_note(s: dict) -> str:
    """', proven on … at …' from `suitehealth confirm`, or ', likely' for a cause not yet significant."""
    if s.get("verdict"):
        return f" ({s['verdict']['text']})"
    return " (likely, not yet proven)" if s.get("tier") == "likely" else ""


def _suspect(s: interference.Suspect, project: str, failures: dict[str, int]) -> dict:
    return {"victim": s.victim, "polluters": list(s.polluters), "kind": s.kind, "confidence": s.confidence,
            # "Last writer wins" groups are whole modules: the review names those, not 80 tests.
            "modules": list(s.evidence.get("modules") or []),
            "tier": s.tier, "verdict": s.verdict,
            "reproduce": s.reproduce, "evidence": s.evidence, "first_seen_at": iso(s.first_seen_at),
            "last_seen_at": iso(s.last_seen_at), "victim_failures_this_week": failures.get(s.victim, 0),
            "link": LINKS.test(project, s.victim), "suspects_link": LINKS.project(project, "suspects")}


# ---- recommended actions --------------------------------------------------------------------

def recommended_actions(review: WeeklyReview, failures: dict[str, int], *,
                        flaky_now: list[dict] | None = None,
                        suspects_now: list[dict] | None = None) -> list[Action]:
    """Rank what to do next by payoff this week.

    Payoff is counted in results a fix gives back: one point per red attempt it would prevent, one
    per test result a suite silently did not produce (skips, missing tests), one per CI minute
    over budget or lost to a slowdown. Coarse, but the same unit across kinds, so they sort.
    """
    p = review.project
    actions: list[Action] = []
    covered: set[str] = set()

    by_polluter: dict[str, list[dict]] = defaultdict(list)
    new_polluters = {s["polluters"][0] for s in review.new_suspects or [] if s["polluters"]}
    new_brittle = {s["victim"] for s in review.new_suspects or [] if s["kind"] == "state-setter"}
    for s in suspects_now if suspects_now is not None else review.new_suspects or []:
        if s["kind"] == "state-setter":
            # The setter did nothing wrong: the brittle victim relies on state it never creates.
            n = failures.get(s["victim"], 0)
            if not n or s["victim"] in covered:
                continue
            covered.add(s["victim"])
            new = " (new this week)" if s["victim"] in new_brittle else ""
            actions.append(Action(
                title=f"make brittle test {s['victim']} create its own state",
                evidence=f"{plural(n, 'failure')} this week; " + _passes_only(s) + _verdict_note(s) + new,
                link=s["link"], payoff=float(n), kind="suspect", subject=s["victim"]))
        elif s["polluters"]:
            by_polluter[s["polluters"][0]].append(s)
    for polluter, found in by_polluter.items():
        victims = sorted({s["victim"] for s in found})
        n = sum(failures.get(v, 0) for v in victims)
        if not n:
            continue  # suspected, but it cost nothing this week
        covered.update(victims)
        kind = found[0]["kind"] or "polluter"
        new = " (new this week)" if polluter in new_polluters else ""
        verb = "runs at the same time as" if kind == "concurrent" else "leaks state into"
        actions.append(Action(
            title=f"fix {kind} {polluter}",
            evidence=f"{plural(n, 'failure')} of {plural(len(victims), 'test')} this week; it {verb} "
                     + ", ".join(victims[:3]) + (" …" if len(victims) > 3 else "") + _verdict_note(found[0])
                     + new,
            link=LINKS.test(p, polluter), payoff=float(n), kind="suspect", subject=polluter))

    for b in review.broken or []:
        if b["nodeid"] in covered:
            continue
        covered.add(b["nodeid"])
        n = b["failures_this_week"]
        since = f" since run {b['since_run_id']}" if b["since_run_id"] is not None else ""
        actions.append(Action(
            title=f"fix or quarantine broken test {b['nodeid']}",
            evidence=(f"failing{since}: {b['consecutive_failures']} runs in a row, "
                      f"{plural(n, 'failure')} this week"),
            link=b["link"], payoff=float(n), kind="broken", subject=b["nodeid"]))

    new_flaky = {f["nodeid"] for f in review.new_flaky or []}
    for f in flaky_now if flaky_now is not None else review.new_flaky or []:
        if f["nodeid"] in covered or not f["failures_this_week"]:
            continue
        actions.append(Action(
            title=f"stabilise flaky test {f['nodeid']}",
            evidence=f"{plural(f['failures_this_week'], 'failure')} this week"
                     + (f", fails {f['failure_rate'] * 100:.0f}% of runs" if f["failure_rate"] else "")
                     + (" (new this week)" if f["nodeid"] in new_flaky else ""),
            link=f["link"], payoff=float(f["failures_this_week"]), kind="flaky", subject=f["nodeid"]))

    for s in review.skip_surges:
        suites = ", ".join(s.suites)
        where = "the integration tests" if s.integration_tests else f"suite {suites}"
        actions.append(Action(
            title=f"restore what {where} need: \u201c{s.reason}\u201d",
            evidence=f"{s.tests} tests skipped ({s.skipped_results} skipped results, "
                     f"{s.integration_tests} integration) in {suites}",
            link=_week_runs_path(review, s.suites[0] if len(s.suites) == 1 else None),
            payoff=float(s.skipped_results), kind="skips"))

    runs_by_suite = {s.suite: s.runs for s in review.suites}
    for d in review.count_drops:
        actions.append(Action(
            title=f"find the {d.dropped} tests missing from suite {d.suite}",
            evidence=f"median {d.before} → {d.after} tests per run; {d.missing_total} tests ran last week "
                     "but not this week",
            link=_week_runs_path(review, d.suite),
            payoff=float(d.dropped * runs_by_suite.get(d.suite, 1)),
            kind="count-drop"))

    for s in review.suites:
        if s.status not in ("over", "at-risk") or not s.budget_s:
            continue
        wall = s.median_wall_s or s.latest_s or 0.0
        over_min = max(0.0, wall - s.budget_s) * s.runs / 60
        if s.status == "over":
            how = (f"{s.workers_needed} workers meet the budget" if s.workers_needed
                   else "no worker count meets the budget")
            title = f"split or parallelise suite {s.suite}"
            evidence = f"median wall time {wall:.0f} s vs budget {s.budget_s:.0f} s; {how}"
        else:
            title = f"keep suite {s.suite} under its budget"
            evidence = (f"median {wall:.0f} s of {s.budget_s:.0f} s"
                        + (f", +{s.trend_s_per_week:.0f} s/week" if s.trend_s_per_week else "")
                        + (f"; forecast to cross on {s.forecast_breach_date}"
                           if s.forecast_breach_date else ""))
        actions.append(Action(title=title, evidence=evidence, link=LINKS.project(p, "budget", suite=s.suite),
                              payoff=max(over_min, 0.5), kind="budget"))

    for r in review.slower_tests or []:
        if r["after_s"] is None or r["before_s"] is None:
            continue
        extra = r["after_s"] - r["before_s"]
        runs = max((s.runs for s in review.suites if s.suite == r.get("suite")), default=1)
        ratio = f"{r['ratio']:.1f}× " if r["ratio"] else ""
        began = f" since run {r['began_run_id']}" if r["began_run_id"] is not None else ""
        actions.append(Action(
            title=f"find why {r['nodeid']} got slower",
            evidence=f"{ratio}slower{began}: {r['before_s']:.1f} s → {r['after_s']:.1f} s per run",
            link=r["link"], payoff=extra * runs / 60, kind="slowdown", subject=r["nodeid"]))

    actions.sort(key=lambda a: (-a.payoff, a.kind, a.title))
    return actions[:MAX_ACTIONS]


def _week_runs_path(review: WeeklyReview, suite: str | None) -> str:
    return LINKS.runs(review.project, suite=suite, since=review.week_start, until=review.week_end)


def find_project(session: Session, name: str) -> Project | None:
    return session.scalars(select(Project).where(Project.name == name)).first()


def plural(n: int, noun: str) -> str:
    """Return "1 failure" / "3 failures": the count with its noun."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
