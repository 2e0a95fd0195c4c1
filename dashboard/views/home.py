"""The home page (every project) and a project's overview."""

from __future__ import annotations

from flask import Blueprint

from dashboard.analysis.freshness import analysis_status
from dashboard.analysis.overview import project_overview, projects_overview, suite_trend
from dashboard.analysis.runs import shallow_dict
from dashboard.auth import may_read
from dashboard.charts import figure_json
from dashboard.charts.runs import suite_trend_figure
from dashboard.db import get_session
from dashboard.settings import current_settings
from dashboard.views.common import page, project_or_404

bp = Blueprint("home", __name__)


@page(bp, "/", "home/index.html", api_rule="/projects")
def projects() -> dict:
    """Every project with its last run and a one-line health summary."""
    # With sign-in, only the projects the reader's token reads (the others are not even named).
    summaries = [s for s in projects_overview(get_session()) if may_read(s.name)]
    return {"projects": [
        {**shallow_dict(s), "last_run": s.last_run.as_dict() if s.last_run else None} for s in summaries
    ]}


def _overview_charts(data: dict) -> dict:
    rows = data["_trend"]
    if not rows:
        return {}
    budgets = {s["name"]: s["budget_s"] for s in data["suites"]}
    return {"trend": figure_json(suite_trend_figure(rows, budgets))}


@page(bp, "/projects/<project>", "home/overview.html", charts=_overview_charts)
def overview(project: str) -> dict:
    """A project's suites (latest run, pass rate, budget status), top problems and latest runs."""
    proj = project_or_404(project)
    session = get_session()
    ov = project_overview(session, proj.id, proj.name, settings=current_settings())
    return {
        "project": proj.name,
        "tests": ov.tests,
        "runs": ov.runs,
        "suites": [
            {**shallow_dict(s), "latest": s.latest.as_dict()} for s in ov.suites
        ],
        "problems": ov.problems,
        "analysis": analysis_status(session, proj.id).as_json(),  # how current the flaky/broken problems are
        "recent_runs": [r.as_dict() for r in ov.recent_runs],
        "_trend": suite_trend(session, proj.id) if ov.runs else [],
    }
