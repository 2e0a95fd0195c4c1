"""``suitehealth flaky`` and ``suitehealth suspects``: the verdicts from the database, no server needed."""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from ingest.ci_markdown import md_code, md_text, reproduce_commands, suspect_line
from ingest.cli import AppContext, pass_app

FORMATS = ("table", "json", "md")


def _project_id(app: AppContext, name: str) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ingest.models import Project

    with Session(app.engine) as session:
        found = session.scalar(select(Project.id).where(Project.name == name))
    if found is None:
        raise click.ClickException(f"no project named {name!r}")
    return found


def _refreshed(app: AppContext, project: str) -> int:
    """Bring the stored analyses up to date (cheap when nothing is new) and return the project id."""
    from dashboard.analysis.updates import refresh_project

    project_id = _project_id(app, project)
    refresh_project(app.engine, project_id)
    return project_id


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _quarantined(app: AppContext, project_id: int) -> dict:
    from sqlalchemy.orm import Session

    from ingest.quarantine import entries

    with Session(app.engine) as session:
        return {e.nodeid: e for e in entries(session, project_id)}


common_options = [
    click.option("--project", required=True, help="Project name."),
    click.option("--suite", help="Only this suite."),
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                 help="A table for people, JSON for scripts, Markdown for issues and chat."),
]


def _options(func):
    for option in reversed(common_options):
        func = option(func)
    return func


@click.command()
@_options
@pass_app
def flaky(app: AppContext, project, suite, fmt):
    """Print the flaky and broken tests of a project, most flaky first.

    \b
    Example:
      suitehealth flaky --project shop --suite unit --format md
    """

    from dataclasses import asdict

    from sqlalchemy.orm import Session

    from dashboard.analysis.flaky import broken_tests, flaky_tests
    from ingest.quarantine_list import covering

    project_id = _refreshed(app, project)
    with Session(app.engine) as session:
        tests = flaky_tests(session, project_id, suite=suite)
        broken = broken_tests(session, project_id, suite=suite)
    listed = _quarantined(app, project_id)
    rows = [{**asdict(t), "quarantined": covering(t.nodeid, listed) is not None} for t in tests]
    if fmt == "json":
        click.echo(json.dumps({"project": project, "suite": suite, "flaky": rows,
                               "broken": [asdict(b) for b in broken]}, default=_json_default))
        return
    if fmt == "md":
        click.echo(flaky_markdown(project, rows, broken))
        return
    if not rows and not broken:
        click.echo(f"No flaky or broken test in {project!r}{' / ' + suite if suite else ''}.", err=True)
        return
    if rows:
        click.echo(f"{'score':>6} {'runs':>5} {'flakes':>6} {'status':<7} {'suite':<12} "
                   f"{'last flake':<10}  test")
        for r in rows:
            mark = "  [quarantined]" if r["quarantined"] else ""
            click.echo(f"{r['score']:>6.1%} {r['runs']:>5} {r['flakes']:>6} {r['status']:<7} "
                       f"{_clip(r['suite'], 12):<12} {_day(r['last_flake']):<10}  {r['nodeid']}{mark}")
    if broken:
        click.echo(f"\nBroken now ({len(broken)}):")
        for b in broken:
            click.echo(f"  {b.consecutive_failures:>3} failures in a row since {_day(b.since_at)}  "
                       f"{b.suite}  {b.nodeid}")


def flaky_markdown(project: str, rows: list[dict], broken) -> str:
    lines = [f"### Flaky tests of {md_text(project)}", ""]
    if rows:
        lines += ["| Test | Suite | Status | Score | Runs | Flakes | Last flake |",
                  "|---|---|---|---:|---:|---:|---|"]
        for r in rows:
            status = r["status"] + (", quarantined" if r["quarantined"] else "")
            lines.append(f"| {md_code(r['nodeid'])} | {md_text(r['suite'])} | {status} | {r['score']:.1%} | "
                         f"{r['runs']} | {r['flakes']} | {_day(r['last_flake'])} |")
    else:
        lines.append("No flaky test.")
    if broken:
        lines += ["", "#### Broken now", "", "| Test | Suite | Failures in a row | Since |",
                  "|---|---|---:|---|"]
        lines += [f"| {md_code(b.nodeid)} | {md_text(b.suite)} | {b.consecutive_failures} | "
                  f"{_day(b.since_at)} |" for b in broken]
    return "\n".join(lines)


@click.command()
@_options
@pass_app
def suspects(app: AppContext, project, suite, fmt):
    """Print the interference suspects of a project: which test makes another one fail.

    \b
    Example:
      suitehealth suspects --project shop --format md
    """

    from sqlalchemy.orm import Session

    from dashboard.analysis.interference import suspects_and_notes

    project_id = _refreshed(app, project)
    with Session(app.engine) as session:
        found, notes = suspects_and_notes(session, project_id)
    if suite:
        found = [s for s in found if s.suite == suite]
        notes = [n for n in notes if n.suite == suite]
    rows = [{"victim": s.victim, "causes": list(s.polluters), "kind": s.kind, "confidence": s.confidence,
             "suite": s.suite, "rank": s.rank, "first_seen_at": s.first_seen_at,
             "last_seen_at": s.last_seen_at, "commands": reproduce_commands(s.kind, s.polluters, s.victim)}
            for s in found]
    if fmt == "json":
        click.echo(json.dumps({"project": project, "suite": suite, "suspects": rows,
                               "undecidable": [{"victim": n.victim, "suite": n.suite, "note": n.note}
                                               for n in notes]}, default=_json_default))
        return
    if fmt == "md":
        click.echo(suspects_markdown(project, rows))
        return
    if not rows:
        click.echo(f"No interference suspect in {project!r}.", err=True)
        return
    for r in rows:
        causes = ", ".join(r["causes"][:3]) + (f" (+{len(r['causes']) - 3})" if len(r["causes"]) > 3 else "")
        click.echo(f"{r['confidence']:>4.0%} {r['kind']:<12} {r['victim']}\n      caused by {causes}")
        for command in r["commands"]:
            click.echo(f"      $ {command}")


def suspects_markdown(project: str, rows: list[dict]) -> str:
    lines = [f"### Interference suspects of {md_text(project)}", ""]
    if not rows:
        return "\n".join([*lines, "No suspect."])
    for r in rows:
        lines.append(suspect_line(r["victim"], r["causes"], r["kind"], r["confidence"]))
        for command in r["commands"]:
            lines.append(f"  - reproduce: {md_code(command, limit=2000)}")
    return "\n".join(lines)
