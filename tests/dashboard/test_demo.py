"""The demo history: written once, deterministic, and every planted story shows up in the analyses."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis.budget import duration_regressions, suite_budget
from dashboard.analysis.pyramid import pyramid_levels
from dashboard.demo import BROKEN, E2E_BUDGET_S, REGRESSED, VICTIM, write_demo
from dashboard.settings import Settings
from ingest import models
from ingest.models import Project, Result, Run, Suite

TODAY = date(2026, 11, 26)  # a Thursday: the last complete ISO week is 2026-11-16 .. 2026-11-22


def run_rows(engine) -> list[tuple]:
    with Session(engine) as session:
        return session.execute(
            select(Suite.name, Run.branch, Run.started_at, Run.duration_s, Run.tests, Run.failed, Run.errors,
                   Run.skipped, Run.reruns, Run.random_seed)
            .join(Suite, Suite.id == Run.suite_id).order_by(Run.started_at, Suite.name, Run.branch)
        ).all()


def test_full_demo_plants_every_story_where_the_summary_says(sqlite_engine):
    summary = write_demo(sqlite_engine, today=TODAY)
    assert summary.first_day == TODAY - timedelta(days=120) and summary.last_day == TODAY - timedelta(days=1)
    assert summary.runs > 250
    with Session(sqlite_engine) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "acme-shop"))
        settings = Settings(budget_s=300.0, file_table={})
        integration = suite_budget(session, project_id, settings=settings, suite="integration")
        e2e = suite_budget(session, project_id, settings=settings, suite="e2e")
        regressions = duration_regressions(session, project_id, suite="integration")
        pyramid = pyramid_levels(session, project_id)
        surge_days = {r.started_at.date() for r in session.scalars(
            select(Run).where(Run.id.in_(summary.skip_surge_run_ids)))}
        victim_failures = session.scalar(
            select(func.count()).select_from(Result).join(models.Test)
            .where(models.Test.nodeid == VICTIM, Result.outcome == "failed"))
        broken_days = sorted({r.started_at.date() for r in session.scalars(
            select(Run).join(Result).join(models.Test)
            .where(models.Test.nodeid == BROKEN, Result.outcome == "failed"))})
    # The integration suite has crossed its 300 s budget; two workers would bring it back under.
    assert integration.status == "over" and integration.forecast_breach_date is None
    assert integration.runs[0]["duration_s"] < 200 < 300 < integration.median_s
    assert integration.workers_needed == 2
    excluded = {r["id"]: r["excluded"] for r in integration.runs if r["excluded"]}
    assert excluded == {**{i: "skip-surge" for i in summary.skip_surge_run_ids},
                        summary.outage_run_id: "failure-surge", summary.outlier_run_id: "outlier"}
    assert surge_days == {date(2026, 11, 17), date(2026, 11, 18)}
    # e2e has its own budget and a forecast.
    assert e2e.budget_s == E2E_BUDGET_S and e2e.budget_source.startswith("suite setting")
    assert e2e.forecast_breach_date is not None and e2e.status in ("ok", "at-risk")
    assert regressions[0].nodeid == REGRESSED and regressions[0].began_run_id == summary.regression_run_id
    assert regressions[0].ratio > 4
    assert pyramid.shape == "pyramid" and pyramid.levels["e2e"].tests > 20
    assert victim_failures > 5
    assert broken_days == list(summary.broken_days)
    rows = run_rows(sqlite_engine)
    assert all(r.random_seed for r in rows if r.name in ("unit", "e2e"))
    assert sum(r.reruns for r in rows) > 0


def test_demo_command_writes_once_replaces_with_force_and_is_deterministic(engine, cli):
    first = cli("demo", "--days", "21")
    assert first.exit_code == 0, first.output
    assert "Wrote demo project 'acme-shop'" in first.output and "/projects/acme-shop" in first.output
    before = run_rows(engine)
    assert {r.name for r in before} == {"unit", "integration", "e2e"}
    again = cli("demo", "--days", "21")
    assert again.exit_code == 0 and "nothing written" in again.output
    assert len(run_rows(engine)) == len(before)
    forced = cli("demo", "--days", "21", "--force")
    assert forced.exit_code == 0, forced.output
    assert run_rows(engine) == before
