"""``suitehealth quarantine add|remove|list|export``: the project's quarantine list from the shell."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING

import click

from ingest.cli import AppContext, pass_app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
from ingest.quarantine_list import EXPORT_FORMATS, QuarantineListError


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return f"{getpass.getuser()} (cli)"
    except Exception:  # no user name in a bare container
        return "cli"


def _project_id(session: Session, name: str) -> int:
    from sqlalchemy import select

    from ingest.models import Project

    found = session.scalar(select(Project.id).where(Project.name == name))
    if found is None:
        raise click.ClickException(f"no project named {name!r}")
    return found


def _up_to_date(app: AppContext, project: str) -> None:
    """Analyse runs that arrived since the last refresh and apply the policy as configured now."""

    from sqlalchemy.orm import Session

    from dashboard.analysis.quarantine_policy import refresh_hook
    from dashboard.analysis.updates import refresh_project
    from ingest.db import write_transaction

    with Session(app.engine) as session:
        project_id = _project_id(session, project)
    refresh_project(app.engine, project_id)
    # Also without new runs: the [tool.suitehealth.quarantine] settings may have just changed.
    with write_transaction(app.engine) as session:
        refresh_hook(session, project_id)


@click.group()
def quarantine():
    """Quarantine flaky tests: they still run, but their failures do not turn the build red.

    \b
    Example:
      suitehealth quarantine add 'tests/test_x.py::test_y' --project shop --reason 'races the cache'
      suitehealth quarantine export --project shop --format json -o quarantine.json
      pytest --suitehealth-quarantine=quarantine.json
    """


@quarantine.command("add")
@click.argument("nodeid")
@click.option("--project", required=True, help="Project name.")
@click.option("--suite", help="Suite (CI job) where the test flakes; informational.")
@click.option("--reason", help="Why; shown in the xfail reason and on the dashboard.")
@click.option("--evidence", "evidence_url", metavar="URL",
              help="Link to the evidence (issue, CI log) [default: the test's dashboard page].")
@click.option("--by", help="Who is adding it [default: your user name].")
@pass_app
def add(app: AppContext, nodeid, project, suite, reason, evidence_url, by):
    """Put NODEID in quarantine.

    \b
    Example:
      suitehealth quarantine add 'tests/test_cart.py::test_total' --project shop --reason 'flaky clock'
    """

    from ingest.db import write_transaction
    from ingest.quarantine import add_entry

    try:
        with write_transaction(app.engine) as session:
            _, added = add_entry(session, _project_id(session, project), nodeid, actor=_actor(by),
                                 suite=suite, reason=reason, evidence_url=evidence_url)
    except QuarantineListError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Quarantined {nodeid}." if added else f"{nodeid} was already quarantined.")


@quarantine.command("remove")
@click.argument("nodeid")
@click.option("--project", required=True, help="Project name.")
@click.option("--reason", help="Why it is released (kept in the history).")
@click.option("--by", help="Who is removing it [default: your user name].")
@pass_app
def remove(app: AppContext, nodeid, project, reason, by):
    """Release NODEID from quarantine.

    \b
    Example:
      suitehealth quarantine remove 'tests/test_cart.py::test_total' --project shop
    """

    from ingest.db import write_transaction
    from ingest.quarantine import remove_entry

    with write_transaction(app.engine) as session:
        project_id = _project_id(session, project)
        removed = remove_entry(session, project_id, nodeid, actor=_actor(by), reason=reason)
    if removed is None:
        raise click.ClickException(f"{nodeid} is not quarantined in {project!r}")
    click.echo(f"Released {nodeid} from quarantine.")


@quarantine.command("list")
@click.option("--project", required=True, help="Project name.")
@click.option("--json", "as_json", is_flag=True, help="Print the export document (as export --format json).")
@pass_app
def list_(app: AppContext, project, as_json):
    """List the quarantined tests of a project.

    \b
    Example:
      suitehealth quarantine list --project shop --json
    """

    from sqlalchemy.orm import Session

    from ingest.quarantine import export_document

    _up_to_date(app, project)
    with Session(app.engine) as session:
        doc = export_document(session, _project_id(session, project), project)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    if not doc["tests"]:
        click.echo(f"No test of {project!r} is quarantined.", err=True)
        return
    for t in doc["tests"]:
        click.echo(f"{t['nodeid']}\n    {t['added_at'][:16].replace('T', ' ')}  by {t['added_by']}"
                   f"{'  in ' + t['suite'] if t['suite'] else ''}: {t['reason'] or '(no reason given)'}")


@quarantine.command("export")
@click.option("--project", required=True, help="Project name.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="json (for --suitehealth-quarantine), pytest (node ids) or deselect (--deselect=...), "
                   "the last two as argument files: pytest @FILE.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file [default: standard output].")
@click.option("--base-url", envvar="SUITEHEALTH_BASE_URL", metavar="URL",
              help="Dashboard URL that makes evidence links absolute [env SUITEHEALTH_BASE_URL].")
@pass_app
def export(app: AppContext, project, fmt, output, base_url):
    """Write the quarantine list for pytest.

    \b
    Example:
      suitehealth quarantine export --project shop --format json -o quarantine.json
      pytest --suitehealth-quarantine=quarantine.json
      suitehealth quarantine export --project shop --format deselect -o deselect.txt && pytest @deselect.txt
    """

    from sqlalchemy.orm import Session

    from ingest.quarantine import export_document
    from ingest.quarantine_list import render

    _up_to_date(app, project)
    with Session(app.engine) as session:
        doc = export_document(session, _project_id(session, project), project, base_url)
    output.write(render(doc, fmt))
