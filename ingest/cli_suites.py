"""``suitehealth suite ...``: per-suite settings such as the wall-time budget."""

from __future__ import annotations

import json

import click

from ingest.cli import AppContext, main, pass_app

# Each command imports the ORM when it runs: registering it must not slow down `suitehealth --help`.


@main.group()
def suite():
    """Suites of a project and their wall-time budgets."""


@suite.command("budget")
@click.option("--project", required=True, help="Project name.")
@click.option("--suite", "suite_name", required=True, help="Suite name (created if new).")
@click.argument("seconds", required=False, type=click.FloatRange(min=0, min_open=True))
@click.option("--clear", is_flag=True, help="Forget the suite's own budget (back to config file / 300 s).")
@pass_app
def suite_budget(app: AppContext, project: str, suite_name: str, seconds: float | None, clear: bool) -> None:
    """Set the wall-time budget of a suite to SECONDS (or --clear it).

    Without its own budget a suite uses [tool.suitehealth.budgets] of the config file, then the
    dashboard's BUDGET_S (300 s, the 5-minute rule).

    \b
    Example:
      suitehealth suite budget --project shop --suite integration 420
      suitehealth suite budget --project shop --suite integration --clear
    """
    if clear == (seconds is not None):
        raise click.UsageError("give either SECONDS or --clear")
    from sqlalchemy import select

    from ingest.db import write_transaction
    from ingest.models import Project
    from ingest.store import get_or_create_suite

    with write_transaction(app.engine) as session:
        proj = session.scalars(select(Project).where(Project.name == project)).first()
        if proj is None:
            raise click.ClickException(f"no project named {project!r}")
        row = get_or_create_suite(session, proj.id, suite_name)
        row.budget_s = None if clear else seconds
    if clear:
        click.echo(f"{project}/{suite_name}: own budget cleared (the config file or the default applies).")
    else:
        click.echo(f"{project}/{suite_name}: budget set to {seconds:g} s.")


@suite.command("list")
@click.option("--project", required=True, help="Project name.")
@click.option("--json", "as_json", is_flag=True, help='Print {"suites": [...]}.')
@pass_app
def suite_list(app: AppContext, project: str, as_json: bool) -> None:
    """List a project's suites with their own budgets, run counts and latest wall time.

    \b
    Example:
      suitehealth suite list --project shop
    """
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from ingest.models import Project, Run, Suite

    with Session(app.engine) as session:
        proj = session.scalars(select(Project).where(Project.name == project)).first()
        if proj is None:
            raise click.ClickException(f"no project named {project!r}")
        latest = (select(Run.suite_id, func.max(Run.started_at).label("at"), func.count().label("runs"))
                  .where(Run.project_id == proj.id).group_by(Run.suite_id).subquery())
        rows = session.execute(
            select(Suite.name, Suite.budget_s, latest.c.runs, Run.duration_s)
            .outerjoin(latest, latest.c.suite_id == Suite.id)
            .outerjoin(Run, (Run.suite_id == Suite.id) & (Run.started_at == latest.c.at))
            .where(Suite.project_id == proj.id).order_by(Suite.name)
        ).all()
    suites: dict[str, dict] = {}
    for name, budget, runs, wall in rows:  # two runs at the same instant: keep one
        suites.setdefault(name, {"name": name, "budget_s": budget, "runs": runs or 0,
                                 "latest_duration_s": wall})
    if as_json:
        click.echo(json.dumps({"suites": list(suites.values())}))
        return
    if not suites:
        click.echo(f"Project {project!r} has no suites yet.", err=True)
        return
    click.echo(f"{'suite':<24} {'own budget':>11} {'runs':>6} {'latest wall':>12}")
    for s in suites.values():
        budget = f"{s['budget_s']:g} s" if s["budget_s"] is not None else "default"
        wall = f"{s['latest_duration_s']:.1f} s" if s["latest_duration_s"] is not None else "-"
        click.echo(f"{s['name'][:24]:<24} {budget:>11} {s['runs']:>6} {wall:>12}")
