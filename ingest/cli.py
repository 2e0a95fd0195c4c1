"""The ``suitehealth`` command line: a thin click wrapper over the ingest library.

Web-facing commands (serve, demo, report) are added by ``dashboard.cli``, which is the console
script's entry point; this module never imports Flask.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ingest.ci_env import ci_metadata
from ingest.db import database_url, ensure_schema, make_engine, open_current_sqlite, upgrade
from ingest.errors import IngestError, MetadataError, SettingError
from ingest.formats.values import utc_in_range
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.summary import outcome_line

if TYPE_CHECKING:
    from ingest.models import Run

# The commands import the ORM models and the store when they run: `suitehealth --help`, `--version`
# and `upload` then start with SQLAlchemy's core only (see benchmarks/startup.py).


class AppContext:
    """Lazily-created engine for the URL given by --db / $SUITEHEALTH_DATABASE_URL."""

    def __init__(self, url: str | None):
        self.url = database_url(url)
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = make_engine(self.url)
            try:
                ensure_schema(self._engine)
            except Exception as exc:  # unreachable server, bad URL, permissions ...
                raise click.ClickException(
                    f"cannot open database {self.safe_url}: {database_error_line(exc)}") from exc
        return self._engine

    def ingest_target(self):
        """Where ``ingest`` stores: a bare sqlite3 connection when the URL names an SQLite file at the
        newest schema (no SQLAlchemy import, the common CI case), else the engine (migrates first)."""
        if self._engine is None:
            fast = open_current_sqlite(self.url)
            if fast is not None:
                click.get_current_context().call_on_close(fast.close)
                return fast
        return self.engine

    @property
    def safe_url(self) -> str:
        if self.url.startswith("sqlite"):  # no password to hide; and no SQLAlchemy import for it
            return self.url
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)


pass_app = click.make_pass_decorator(AppContext)


def database_error_line(exc: BaseException) -> str:
    """Return the driver's first line of a database error, without SQL or SQLAlchemy's links."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's (bare sqlite3's, on ingest's fast path, or SQLAlchemy's)."""
    if isinstance(exc, sqlite3.Error):
        return True
    # Only code that imported SQLAlchemy can raise its errors: a command that did not import it
    # (ingest into an up-to-date SQLite file) must not pay ~0.2 s to find out.
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.DBAPIError)


class _Commands(click.Group):
    """The command group; a database that is missing, read-only or down is one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _is_database_error(exc):
                where = ctx.obj.safe_url if isinstance(ctx.obj, AppContext) else "the database"
                raise click.ClickException(f"database {where}: {database_error_line(exc)}") from exc
            if isinstance(exc, SettingError):  # a bad SUITEHEALTH_* value: one line naming it
                raise click.ClickException(str(exc)) from exc
            if isinstance(exc, OSError) and exc.filename is not None:
                # e.g. the SQLite file's folder cannot be created
                raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from exc
            raise


@click.group(cls=_Commands,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db_url", envvar="SUITEHEALTH_DATABASE_URL", metavar="URL",
              help="Database URL [env SUITEHEALTH_DATABASE_URL; default sqlite:///suitehealth.db].")
@click.version_option(package_name="suitehealth")
@click.pass_context
def main(ctx: click.Context, db_url: str | None) -> None:
    """suitehealth: test-suite profiler and flakiness dashboard.

    \b
    Example:
      suitehealth ingest report.xml --project shop --suite unit
      suitehealth serve
    """
    ctx.obj = AppContext(db_url)


# ---- metadata options shared by ingest and upload -------------------------------------------

def metadata_options(func):
    """Add the run-metadata flags (--suite, --branch, --commit ...) to a command."""
    options = [
        click.option("--suite",
                     help="CI job name, e.g. unit or integration [default: from CI, else 'default']."),
        click.option("--branch", help="Branch name [default: from the CI environment]."),
        click.option("--commit", help="Commit SHA [default: from the CI environment]."),
        click.option("--build-id", help="CI build/job id [default: from the CI environment]."),
        click.option("--build-url", help="Link to the CI build [default: from the CI environment]."),
        click.option("--started-at", metavar="ISO8601",
                     help="When the run started [default: from CI, then the report's timestamp, then now]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_started_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MetadataError(f"--started-at {value!r} is not an ISO 8601 timestamp") from exc
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if utc_in_range(parsed) is None:  # year 9999 at -05:00 is year 10000 in UTC
        raise MetadataError(f"--started-at {value!r} is not between 1970 and tomorrow")
    return parsed


def build_run_meta(project: str | None, suite: str | None, branch: str | None, commit: str | None,
                   build_id: str | None, build_url: str | None, started_at: str | None,
                   env: dict | None = None) -> RunMeta:
    """Combine flags with the CI environment (flags win) into a RunMeta."""
    ci = ci_metadata(env)
    project = project or ci.get("project")
    if not project:
        raise click.UsageError("--project is required (no CI environment names one).")
    environment = {"ci": ci["provider"]} if ci.get("provider") else {}
    return RunMeta(
        project=project, suite=suite or ci.get("suite") or "default",
        branch=branch or ci.get("branch"), commit=commit or ci.get("commit"),
        build_id=build_id or ci.get("build_id"), build_url=build_url or ci.get("build_url"),
        started_at=parse_started_at(started_at), environment=environment,
    )


# ---- ingest ---------------------------------------------------------------------------------

@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", help="Project name [default: from the CI environment].")
@metadata_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--fail-on", "fail_on", multiple=True, type=click.Choice(("new-flaky", "new-failure")),
              help="Exit 1 if the run has a new failure / a newly flaky test (not known flakes). Repeatable.")
@click.option("--summary/--no-summary", "step_summary", default=None,
              help="Write the Markdown job summary to $GITHUB_STEP_SUMMARY (printed when unset) "
                   "[default: only when $GITHUB_STEP_SUMMARY is set].")
@pass_app
def ingest(app: AppContext, files, project, suite, branch, commit, build_id, build_url, started_at, as_json,
           fail_on=(), step_summary=None):
    """Store report FILES (JUnit XML, pytest JSON/JSONL, --durations text; gzip ok) as ONE run.

    Shards of one CI job given together are merged into one run. Ingesting the same content again
    is recognised and not stored twice.

    \b
    Example:
      suitehealth ingest reports/junit-*.xml --project shop --suite integration --branch main
    """
    from ingest.store import ingest_sources

    for path in files:
        if not path.is_file():
            raise click.ClickException(f"{path}: no such file")
    try:
        meta = build_run_meta(project, suite, branch, commit, build_id, build_url, started_at)
        summary = ingest_sources(app.ingest_target(), [ReportSource.from_path(p) for p in files], meta)
    except IngestError as exc:
        # One line on stderr naming the file (and line/column); the transaction stored nothing.
        raise click.ClickException(" ".join(str(exc).split("\n"))) from exc
    except OSError as exc:  # unreadable file, vanished shard ...
        raise click.ClickException(f"{exc.filename or files[0]}: {exc.strerror or exc}") from exc
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    elif summary.duplicate:
        click.echo(f"Already stored as run {summary.run_id} ({summary.project}/{summary.suite}); "
                   "nothing added.")
    else:
        click.echo(f"Stored run {summary.run_id} ({summary.project}/{summary.suite}): "
                   f"{outcome_line(summary.as_dict())}")
    if step_summary is None:
        step_summary = bool(os.environ.get("GITHUB_STEP_SUMMARY"))
    if fail_on or step_summary:
        _summary_and_gate(app, summary.project, summary.run_id, step_summary, fail_on)


# The verdicts on a stored run need the analyses, which live in ``dashboard``: it sets this
# (engine, project, run_id) -> verdicts dict when it loads the CLI. Without it there is no gate.
run_verdicts_provider = None


def _summary_and_gate(app: AppContext, project: str, run_id: int, summary: bool, fail_on) -> None:
    from ingest.ci_markdown import write_step_summary
    from ingest.ci_summary import gate, summary_markdown

    if run_verdicts_provider is None:
        raise click.ClickException("--fail-on and --summary need the dashboard package (suitehealth)")
    verdicts = run_verdicts_provider(app.engine, project, run_id)
    if summary:
        write_step_summary(summary_markdown(verdicts), lambda text: click.echo(text, err=True))
    reasons = gate(verdicts, fail_on)
    if reasons:
        raise click.ClickException("failing the job (--fail-on): " + "; ".join(reasons))


# ---- runs -----------------------------------------------------------------------------------

def run_as_dict(run: Run) -> dict:
    return {
        "id": run.id, "suite": run.suite.name, "branch": run.branch, "commit": run.commit,
        "build_id": run.build_id, "build_url": run.build_url, "started_at": run.started_at.isoformat(),
        "duration_s": run.duration_s, "tests": run.tests, "passed": run.passed, "failed": run.failed,
        "errors": run.errors, "skipped": run.skipped, "xfailed": run.xfailed, "xpassed": run.xpassed,
        "reruns": run.reruns,
    }


@main.command()
@click.option("--project", required=True, help="Project name.")
@click.option("--suite", help="Only runs of this suite.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000),
              help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]}, newest first.')
@pass_app
def runs(app: AppContext, project, suite, limit, as_json):
    """List stored runs of a project, newest first.

    \b
    Example:
      suitehealth runs --project shop --suite integration --limit 5
    """
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ingest.models import Project, Run, Suite

    with Session(app.engine) as session:
        proj = session.scalars(select(Project).where(Project.name == project)).first()
        if proj is None:
            raise click.ClickException(f"no project named {project!r}")
        query = select(Run).where(Run.project_id == proj.id).order_by(Run.started_at.desc(), Run.id.desc())
        if suite:
            query = query.join(Suite).where(Suite.name == suite)
        rows = [run_as_dict(r) for r in session.scalars(query.limit(limit))]
    if as_json:
        click.echo(json.dumps({"runs": rows}))
        return
    if not rows:
        click.echo("No runs stored yet.", err=True)
        return
    click.echo(runs_table(rows))


def runs_table(rows: list[dict]) -> str:
    """The runs as aligned text. Suite and branch columns are as wide as their longest value, so
    names are shown whole (a long one makes the line wrap in a narrow terminal, never cut)."""
    suite_w = max(5, *(len(r["suite"]) for r in rows))
    branch_w = max(6, *(len(r["branch"] or "-") for r in rows))
    lines = [f"{'id':>6}  {'suite':<{suite_w}} {'branch':<{branch_w}} {'started (UTC)':<17} {'wall':>8}  "
             f"{'tests':>6} {'pass':>6} {'fail':>5} {'err':>4} {'skip':>5} {'xfail':>5} {'xpass':>5}"]
    for r in rows:
        wall = f"{r['duration_s']:.1f}s" if r["duration_s"] is not None else "-"
        lines.append(f"{r['id']:>6}  {r['suite']:<{suite_w}} {(r['branch'] or '-'):<{branch_w}} "
                     f"{r['started_at'][:16].replace('T', ' '):<17} {wall:>8}  "
                     f"{r['tests']:>6} {r['passed']:>6} {r['failed']:>5} {r['errors']:>4} {r['skipped']:>5} "
                     f"{r['xfailed']:>5} {r['xpassed']:>5}")
    return "\n".join(lines)


# ---- db -------------------------------------------------------------------------------------

@main.group()
def db():
    """Database maintenance."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: AppContext):
    """Create the schema or migrate it to the newest version.

    \b
    Example:
      suitehealth --db postgresql://postgres@127.0.0.1/suitehealth db upgrade
    """
    engine = make_engine(app.url)
    try:
        upgrade(engine)
    except Exception as exc:
        raise click.ClickException(f"cannot migrate {app.safe_url}: {exc}") from exc
    click.echo(f"Database {app.safe_url} is at the newest schema.")


def _register_extensions() -> None:
    """Attach command modules that live beside this one (backfill, tokens, upload)."""
    from ingest import cli_backfill, cli_suites, cli_tokens  # noqa: F401  (they register on import)
    from ingest.cli_reindex import reindex

    main.add_command(reindex)


_register_extensions()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
