"""The weekly review page and its JSON twin: /projects/<p>/weekly?week=YYYY-Www."""

from __future__ import annotations

from flask import Blueprint, request

from dashboard.analysis.freshness import analysis_status
from dashboard.analysis.week_findings import review_source
from dashboard.analysis.week_parts import parts_source
from dashboard.analysis.weekly import cached_weekly_review
from dashboard.analysis.weeks import Week, last_complete_week, parse_week
from dashboard.analysis.window import Window
from dashboard.charts import figure_json
from dashboard.charts.weekly import week_days_figure
from dashboard.db import get_session
from dashboard.errors import BadRequest
from dashboard.settings import current_settings
from dashboard.urls import public_urls
from dashboard.views.common import page, project_or_404
from dashboard.weekly_render import review_json

bp = Blueprint("weekly", __name__)


def week_arg() -> Week | None:
    """Read ?week=YYYY-Www (absent: the last complete week), refusing junk with a 400."""
    raw = request.args.get("week")
    if raw in (None, ""):
        return None
    try:
        return parse_week(raw)
    except ValueError as exc:
        raise BadRequest(f"?week= {exc}") from None


def _charts(data: dict) -> dict:
    review = data["_r"]
    return {} if review.empty else {"days": figure_json(week_days_figure(review.days))}


@page(bp, "/projects/<project>/weekly", "weekly/weekly.html", charts=_charts)
def weekly(project: str) -> dict:
    """The review of one ISO week: runs, budgets, slowdowns, flakiness, suspects, skips, pyramid, actions."""
    proj = project_or_404(project)
    session = get_session()
    week = week_arg() or last_complete_week()
    settings = current_settings()
    review = cached_weekly_review(session, proj.id, Window.of_week(week), settings)
    # Whether the flakiness and suspects shown, and the parts summarised from results (slowdowns,
    # pyramid drift, skips, failures), come from what the worker stored, from rows it is storing again
    # after late runs (too big to recompute here), or were computed for this request.
    analysis = {**analysis_status(session, proj.id).as_json(),
                "weekly_findings": review_source(session, proj.id, week, settings),
                "weekly_parts": parts_source(session, proj.id, week, settings)}
    return {"project": proj.name, **review_json(review, public_urls().base), "analysis": analysis,
            "_r": review}

