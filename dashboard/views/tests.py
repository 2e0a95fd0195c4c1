"""One test's history (?nodeid=), or a searchable list of the project's tests without it."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from dashboard.analysis import interference
from dashboard.analysis import runs as runs_analysis
from dashboard.analysis import test_history as analysis
from dashboard.analysis.freshness import analysis_status
from dashboard.charts import figure_json
from dashboard.charts.tests import duration_figure
from dashboard.db import get_session
from dashboard.errors import NotFound
from dashboard.views.common import arg_int, filters, page, pagination, project_or_404

bp = Blueprint("tests", __name__)
# Runs shown in a test's history by default (?limit= up to MAX_LIMIT).
HISTORY_RUNS = 100


# Runs listed beside a collapsed failure message.
SHOWN_PER_MESSAGE = 8


def failure_groups(failures) -> list[dict]:
    """Group failures by identical message, the most recent group first (pages, not the JSON)."""
    groups: dict[str | None, list] = {}
    for f in sorted(failures, key=lambda f: (f.started_at, f.run_id), reverse=True):
        groups.setdefault(f.message, []).append(f)
    return [{"latest": runs[0], "count": len(runs), "others": runs[1:SHOWN_PER_MESSAGE]}
            for runs in groups.values()]


def _charts(data: dict) -> dict:
    history = data.get("test")
    if history is None or not history.runs:
        return {}
    return {"durations": figure_json(duration_figure(history.runs))}


@page(bp, "/projects/<project>/tests", "tests/test.html", charts=_charts)
def test_page(project: str) -> dict:
    """?nodeid=X: that test's history; otherwise the project's tests matching ?q=, paginated."""
    proj = project_or_404(project)
    session = get_session()
    nodeid = request.args.get("nodeid")
    if not nodeid:
        limit, offset = pagination()
        query = (request.args.get("q") or "").strip()
        rows, total = analysis.search_tests(session, proj.id, query or None, limit=limit, offset=offset)
        return {"project": proj.name, "q": query, "total": total, "limit": limit, "offset": offset,
                "tests": rows}
    test = analysis.find_test(session, proj.id, nodeid)
    if test is None:
        raise NotFound(f"project {proj.name!r} has no test {nodeid!r}")
    f = filters()
    limit = arg_int("limit", HISTORY_RUNS, minimum=1, maximum=current_app.config["MAX_LIMIT"])
    history = analysis.test_history(session, test, f.window, suite=f.suite, branch=f.branch, limit=limit)
    return {
        "project": proj.name,
        "filters": f,
        "limit": limit,
        "test": history,
        "_failure_groups": failure_groups(history.failures),
        # Interference in both directions: what makes this test fail, and what it makes fail.
        "suspects": interference.suspects_for_test(session, proj.id, test.nodeid),
        "analysis": analysis_status(session, proj.id).as_json(),  # how current the suspects are
        "_filters": f,
        "_suites": runs_analysis.suite_names(session, proj.id),
        "_branches": runs_analysis.branch_names(session, proj.id),
    }
