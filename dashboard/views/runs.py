"""A project's runs (filtered, paginated) and one run's detail: every test, failures, worker timeline."""

from __future__ import annotations

from flask import Blueprint, request

from dashboard.analysis import runs as analysis
from dashboard.charts import figure_json
from dashboard.charts.runs import runs_figure, worker_timeline_figure
from dashboard.db import get_session
from dashboard.errors import BadRequest, NotFound
from dashboard.views.common import filters, listing, page, pagination, project_or_404
from ingest.records import OUTCOMES

bp = Blueprint("runs", __name__)


def _list_charts(data: dict) -> dict:
    rows = data["_rows"]
    return {"runs": figure_json(runs_figure(rows))} if rows else {}


@page(bp, "/projects/<project>/runs", "runs/list.html", charts=_list_charts)
def run_list(project: str) -> dict:
    """The project's runs, newest first, filtered by ?suite= &branch= &since= &until=."""
    proj = project_or_404(project)
    session = get_session()
    f = filters()
    limit, offset = pagination()
    rows, total = analysis.list_runs(session, proj.id, f.window, suite=f.suite, branch=f.branch,
                                     limit=limit, offset=offset)
    return listing(proj, f, total, limit, offset, runs=[r.as_dict() for r in rows], _rows=rows,
                   _suites=analysis.suite_names(session, proj.id),
                   _branches=analysis.branch_names(session, proj.id))


def _detail_charts(data: dict) -> dict:
    bars = data["_timeline"]
    return {"timeline": figure_json(worker_timeline_figure(bars))} if bars else {}


@page(bp, "/projects/<project>/runs/<int:run_id>", "runs/detail.html", charts=_detail_charts)
def run_page(project: str, run_id: int) -> dict:
    """One run: totals, phase times, failures with messages, every test (?sort= &outcome= &page=)."""
    proj = project_or_404(project)
    session = get_session()
    detail = analysis.run_detail(session, proj.id, run_id)
    if detail is None:
        raise NotFound(f"project {proj.name!r} has no run {run_id}")
    sort = request.args.get("sort") or "failures"
    if sort not in analysis.SORTS:
        raise BadRequest(f"?sort= must be one of {', '.join(analysis.SORTS)}, not {sort!r}")
    direction = request.args.get("dir") or None
    if direction not in (None, "asc", "desc"):
        raise BadRequest(f"?dir= must be asc or desc, not {direction!r}")
    outcome = request.args.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"?outcome= must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    limit, offset = pagination()
    results, total = analysis.run_results(
        session, run_id, sort=sort, descending=None if direction is None else direction == "desc",
        outcome=outcome, limit=limit, offset=offset)
    timeline = analysis.worker_timeline(session, run_id)
    return {
        "project": proj.name,
        "run": {
            **detail.run.as_dict(), "random_seed": detail.random_seed, "formats": detail.formats,
            "sources": detail.sources, "environment": detail.environment, "warnings": detail.warnings,
            "previous_id": detail.previous_id, "next_id": detail.next_id,
        },
        "phases": {"setup_s": detail.setup_time_s, "call_s": detail.call_time_s,
                   "teardown_s": detail.teardown_time_s, "tests_s": detail.run.test_time_s},
        "failures": analysis.run_failures(session, run_id),
        "workers": analysis.worker_summary(session, run_id),
        "outcomes": analysis.outcome_counts(session, run_id),
        "sort": sort,
        "dir": direction,
        "outcome": outcome,
        "total": total,
        "limit": limit,
        "offset": offset,
        "results": results,
        "_timeline": timeline,
        "_sorts": analysis.SORTS,
    }
