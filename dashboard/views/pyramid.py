"""The pyramid page and its JSON twin: tests and time per level, the shape, its trend, the rules in use."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, request

from dashboard.analysis.levels import LEVELS, UNKNOWN
from dashboard.analysis.pyramid import pyramid_levels
from dashboard.analysis.run_cache import cached_per_runs
from dashboard.charts import figure_json
from dashboard.charts.pyramid import levels_figure, shares_figure
from dashboard.db import get_session
from dashboard.errors import BadRequest
from dashboard.settings import current_settings
from dashboard.views.common import filters, page, pagination, project_or_404

bp = Blueprint("pyramid", __name__)


def _charts(data: dict) -> dict:
    if not data["total_tests"]:
        return {}
    charts = {"levels": figure_json(levels_figure(data["levels"]))}
    if len(data["trend"]) > 1:
        charts["shares"] = figure_json(shares_figure(data["trend"]))
    return charts


@page(bp, "/projects/<project>/pyramid", "pyramid/index.html", charts=_charts)
def pyramid_page(project: str) -> dict:
    """Tests and test time per level over the recent window (?since= &until=), filtered list by ?level=."""
    proj = project_or_404(project)
    f = filters()
    settings = current_settings()
    rules = settings.level_rules()  # a broken config file is a 400
    session = get_session()
    result = cached_per_runs(
        session, proj.id, ("pyramid", f.window.key, repr(rules)),
        lambda: pyramid_levels(session, proj.id, f.window, settings))
    level = request.args.get("level") or None
    if level is not None and level not in (*LEVELS, UNKNOWN):
        raise BadRequest(f"?level= must be one of unit, integration, e2e, unknown, not {level!r}")
    limit, offset = pagination()
    chosen = [t for t in result.classified if level is None or t.level == level]
    levels = {name: asdict(stats) for name, stats in result.levels.items()
              if name in LEVELS or stats.tests}
    return {
        "project": proj.name,
        "levels": levels,
        "shape": result.shape,
        "since": result.since,
        "until": result.until,
        "runs": result.runs,
        "total_tests": result.tests,
        "trend": result.trend,
        "rules": result.rules,
        "rules_source": result.rules_source,
        "level": level,
        "classified": {"total": len(chosen), "limit": limit, "offset": offset,
                       "tests": [asdict(t) for t in chosen[offset:offset + limit]]},
        "_filters": f,
    }
