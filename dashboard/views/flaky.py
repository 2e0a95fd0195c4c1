"""Flaky and broken tests (/flaky) and interference suspects (/suspects), with their JSON twins.

Both read what the analysis worker stored and only read: when runs are waiting for the worker,
the page says how far behind its numbers are (``analysis``) instead of computing them itself.
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy.orm import Session

from dashboard import shell
from dashboard.analysis import week_findings
from dashboard.analysis.freshness import analysis_status
from dashboard.analysis.history import live_answers
from dashboard.analysis.runs import suite_names
from dashboard.analysis.unexplained import without_suspect
from dashboard.analysis.window import Window
from dashboard.charts import figure_json
from dashboard.charts.flaky import flaky_scores_figure
from dashboard.db import get_session
from dashboard.settings import current_settings
from dashboard.views.common import Filters, filters, listing, page, pagination, project_or_404
from ingest.models import Project

bp = Blueprint("flaky", __name__)
# Flaky tests without a suspect the suspects page lists (most flaky first; the JSON says how many).
NO_SUSPECT_SHOWN = 10


def _charts(data: dict) -> dict:
    tests = data["_all"]
    return {"flaky": figure_json(flaky_scores_figure(tests))} if tests else {}


def _listing_request(project: str) -> tuple[Project, Session, Filters, int, int]:
    """Return the project, session, filters, limit and offset of a listing page."""
    proj = project_or_404(project)
    f = filters()
    limit, offset = pagination()
    return proj, get_session(), f, limit, offset


def _analysis(session: Session, project_id: int, f: Filters) -> dict | None:
    # With ?until= a day that has passed, the page judges the history before it (replayed or stored
    # at a week boundary): nothing stored to lag. Today or later is the live, stored analysis.
    live = live_answers(f.window.until)
    return analysis_status(session, project_id).as_json() if live else None


@page(bp, "/projects/<project>/flaky", "flaky/index.html", charts=_charts)
def flaky(project: str) -> dict:
    """Flaky tests, most flaky first (?suite= &since= &until= &page=), and broken tests apart."""
    proj, session, f, limit, offset = _listing_request(project)
    settings = current_settings()
    # ?until= a day the worker stored (any midnight of a recent complete week) reads that row; one
    # too far back to replay in a request answers for the nearest stored point before it, saying so.
    as_of = week_findings.as_of_point(session, proj.id, f.window.until, settings)
    window = Window(f.window.since, as_of.answered)
    tests, broken = week_findings.flaky_and_broken_as_of(session, proj.id, window, settings, suite=f.suite)
    return listing(proj, f, len(tests), limit, offset, tests=tests[offset : offset + limit], broken=broken,
                   analysis=_analysis(session, proj.id, f), as_of=as_of.as_json(), _all=tests,
                   _suites=suite_names(session, proj.id))


@page(bp, "/projects/<project>/suspects", "flaky/suspects.html")
def suspects(project: str) -> dict:
    """Interference suspects, the strongest suspect of each victim first (?since= &until= &page=)."""
    proj, session, f, limit, offset = _listing_request(project)
    settings = current_settings()
    # ?until= a week's last day reads the worker's stored findings at that boundary, as /flaky does.
    as_of = week_findings.as_of_point(session, proj.id, f.window.until, settings, suspects=True)
    window = Window(f.window.since, as_of.answered)
    found, notes = week_findings.suspects_and_notes_as_of(session, proj.id, window, settings)
    if f.suite:
        found = [s for s in found if s.suite == f.suite]
        notes = [n for n in notes if n.suite == f.suite]
    # Live: the flaky tests the history names no cause for, with the command that re-runs to find one.
    # (Those whose order never changed are listed with the notes above: re-running cannot tell.)
    undecided = {n.victim for n in notes}
    quiet = [] if not live_answers(f.window.until) else [
        t for t in without_suspect(session, proj.id)
        if t.nodeid not in undecided and (not f.suite or t.suite == f.suite)]
    no_suspect = {"total": len(quiet), "tests": [
        {"nodeid": t.nodeid, "suite": t.suite, "score": t.score, "failures": t.failures, "runs": t.runs,
         "confirm": shell.command("suitehealth", "confirm", "--project", proj.name, "--unexplained",
                                  "--victim", t.nodeid)}
        for t in quiet[:NO_SUSPECT_SHOWN]]}
    return listing(proj, f, len(found), limit, offset, suspects=found[offset : offset + limit],
                   undecidable=notes, without_suspect=no_suspect, analysis=_analysis(session, proj.id, f),
                   as_of=as_of.as_json(), _suites=suite_names(session, proj.id))
