"""The budget page and its JSON twin: a suite's wall time against its budget, forecast, what-if."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint

from dashboard.analysis.budget import (
    duration_regressions,
    own_budgets,
    slowest_tests,
    suite_budget,
    suite_budgets,
)
from dashboard.analysis.run_cache import cached_per_runs
from dashboard.analysis.runs import branch_names, shallow_dict
from dashboard.charts import figure_json
from dashboard.charts.budget import phases_figure, wall_time_figure, whatif_figure
from dashboard.db import get_session
from dashboard.errors import NotFound
from dashboard.settings import current_settings
from dashboard.views.common import filters, page, pagination, project_or_404

bp = Blueprint("budget", __name__)


def _charts(data: dict) -> dict:
    if not data["runs"]:
        return {}
    charts = {
        "wall": figure_json(wall_time_figure(data["runs"], data["budget_s"], data["forecast_breach_date"])),
    }
    if any(r["setup_s"] is not None or r["call_s"] is not None for r in data["runs"]):
        charts["phases"] = figure_json(phases_figure(data["runs"][-60:]))
    if data["whatif"]:
        charts["whatif"] = figure_json(whatif_figure(data["whatif"], data["budget_s"]))
    return charts


@page(bp, "/projects/<project>/budget", "budget/index.html", charts=_charts)
def budget_page(project: str) -> dict:
    """One suite (?suite=, default: the one closest to or most over budget) against its budget."""
    proj = project_or_404(project)
    session = get_session()
    f = filters()
    settings = current_settings()
    default_budget = settings.budget_s
    # Budgets can change without a new run, so the suites' own budgets and the settings join the key.
    key = (own_budgets(session, proj.id), repr(settings.table.get("budgets")), settings.source,
           default_budget, f.window.key, f.branch)
    overview = cached_per_runs(
        session, proj.id, ("budgets", key),
        lambda: suite_budgets(session, proj.id, f.window, settings, branch=f.branch))
    names = [b.suite for b in overview]
    suite = f.suite or next((b.suite for b in overview if b.latest_at), names[0] if names else None)
    if f.suite and f.suite not in names:
        raise NotFound(f"project {proj.name!r} has no suite {f.suite!r}")
    branches = branch_names(session, proj.id)
    suites = [{"suite": b.suite, "status": b.status, "budget_s": b.budget_s, "median_s": b.median_s,
               "latest_s": b.latest_s, "usage": b.usage, "forecast_breach_date": b.forecast_breach_date,
               "trend_s_per_week": b.trend_s_per_week} for b in overview]
    limit, offset = pagination(default=20)
    if suite is None:
        return {"project": proj.name, "suite": None, "suites": [], "runs": [], "whatif": [],
                "budget_s": default_budget, "forecast_breach_date": None, "_filters": f,
                "_suites": names, "_branches": branches, "_limit": limit, "_offset": offset}
    detail = cached_per_runs(
        session, proj.id, ("budget", suite, key),
        lambda: suite_budget(session, proj.id, f.window, settings, suite=suite, branch=f.branch))
    # Shallow: asdict() would deep-copy hundreds of run dicts for nothing.
    data = shallow_dict(detail)
    data["usage"] = detail.usage
    # The per-test analyses read results, so they are kept until the project's runs change.
    slowest = cached_per_runs(session, proj.id, ("slowest", suite, f.window.key),
                              lambda: slowest_tests(session, proj.id, f.window, settings, suite=suite))
    regressions = cached_per_runs(
        session, proj.id, ("regressions", suite, f.window.key),
        lambda: duration_regressions(session, proj.id, f.window, settings, suite=suite))
    return {
        "project": proj.name,
        **data,
        "slowest": [asdict(t) for t in slowest],
        "regressions": [asdict(r) for r in regressions],
        "suites": suites,
        "_filters": f,
        "_suites": names,
        "_branches": branches,
        "_limit": limit,
        "_offset": offset,
    }
