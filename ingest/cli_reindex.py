"""``suitehealth reindex``: give stored runs today's test identities (see ingest.reindex)."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.cli import AppContext, pass_app


@click.command()
@click.argument("reports", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", help="Only this project [default: every project].")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@pass_app
def reindex(app: AppContext, reports: tuple[Path, ...], project: str | None, dry_run: bool) -> None:
    """Re-derive test identities of stored runs after an upgrade; nothing stored is lost.

    A run whose original report is among REPORTS (matched by content) is read again with today's
    rules. Other JUnit runs are repaired from their stored results: testcases that were stored as
    reruns of a same-named test become tests of their own (id, id#2 ...). Derived analyses are
    cleared and recomputed by the next refresh.

    \b
    Example:
      suitehealth reindex --project shop --dry-run
      suitehealth reindex --project shop ci-artifacts/*/junit.xml
    """
    from ingest.reindex import reindex as run_reindex
    from ingest.sources import ReportSource

    result = run_reindex(app.engine, project=project, reports=[ReportSource.from_path(p) for p in reports],
                         dry_run=dry_run)
    verb = "would rewrite" if dry_run else "rewrote"
    click.echo(
        f"Checked {result.runs_checked} runs; {verb} {result.runs_changed} "
        f"({result.runs_from_reports} from their reports, {result.runs_from_stored_results} from stored "
        f"results): {result.results_rewritten} results kept, {result.tests_created} tests created, "
        f"{result.tests_deleted} emptied tests removed."
    )
    if result.runs_changed and not dry_run:
        click.echo("Flaky-test and interference analyses of those projects were cleared; the next "
                   "`suitehealth worker` pass recomputes them.")
    for name in result.unmatched_reports:
        click.echo(f"{name}: no stored run has this content; not used.", err=True)
