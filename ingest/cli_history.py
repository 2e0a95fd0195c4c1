"""``suitehealth export`` / ``suitehealth import``: a project's history as JSON Lines."""

from __future__ import annotations

import click

from ingest.cli import AppContext, pass_app


@click.command("export")
@click.option("--project", required=True, help="Project name.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file [default: standard output].")
@pass_app
def export_history(app: AppContext, project, output):
    """Write a project's runs, suites and quarantine list as JSON Lines.

    \b
    Example:
      suitehealth --db ci.db export --project shop -o shop.jsonl
      suitehealth --db postgresql://... import shop.jsonl
    """
    from ingest.history_io import HistoryError, export_lines

    try:
        for line in export_lines(app.engine, project):
            output.write(line)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--project", help="Store under this project name [default: the file's].")
@pass_app
def import_history(app: AppContext, file, project):
    """Store the runs of a history file written by `suitehealth export` (runs already stored are skipped).

    \b
    Example:
      suitehealth --db merged.db import team-a.jsonl && suitehealth --db merged.db import team-b.jsonl
    """
    from ingest.history_io import HistoryError, import_lines

    try:
        counts = import_lines(app.engine, file, project)
    except HistoryError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    click.echo(f"Imported {counts.runs} runs ({counts.duplicates} already stored), "
               f"{counts.quarantined} quarantine entries.")
