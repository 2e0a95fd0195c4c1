"""``suitehealth token ...`` and ``suitehealth upload``: CI upload commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ingest.ci_summary import GATES
from ingest.cli import AppContext, build_run_meta, main, metadata_options, pass_app
from ingest.errors import IngestError, MetadataError
from ingest.summary import outcome_line

# The token commands import ingest.tokens (the ORM) and upload imports the HTTP client when they
# run: a CI step's `suitehealth upload` never loads the database layer's models.

# ---- tokens ---------------------------------------------------------------------------------


@main.group()
def token():
    """Per-project upload tokens and read tokens (only their SHA-256 is stored)."""


@token.command("create")
@click.option("--project", help="Project the token may upload to (created if new).  [required, except "
                                "with --read --all-projects]")
@click.option("--label", help="A note to tell tokens apart, e.g. 'github-actions'.")
@click.option("--read", "read", is_flag=True,
              help="A read-only token (sign-in with SUITEHEALTH_AUTH=token) for --project; it cannot upload.")
@click.option("--all-projects", is_flag=True, help="With --read: the token reads every project.")
@pass_app
def token_create(app: AppContext, project: str | None, label: str | None, read: bool,
                 all_projects: bool) -> None:
    """Create an upload token for PROJECT (or a read token) and print it as the LAST line (shown only once).

    An upload token also reads its own project when SUITEHEALTH_AUTH=token.

    \b
    Example:
      suitehealth token create --project shop --label github-actions
      suitehealth token create --project shop --read --label alice
      suitehealth token create --read --all-projects --label lead
    """
    from ingest.tokens import READ, UPLOAD, create_token

    if all_projects and not read:
        raise click.UsageError("--all-projects is for read tokens: add --read (upload tokens: one project)")
    if all_projects and project:
        raise click.UsageError("give --project or --all-projects, not both")
    if not project and not all_projects:
        raise click.UsageError("Missing option '--project'.")
    try:
        info, secret = create_token(app.engine, None if all_projects else project, label,
                                    access=READ if read else UPLOAD)
    except MetadataError as exc:
        raise click.ClickException(str(exc)) from exc
    if read:
        scope = "every project" if info.project is None else f"project {info.project!r}"
        click.echo(f"Created read token {info.id} ({info.prefix}…) for {scope}"
                   + (f" [{info.label}]" if info.label else "") + ".", err=True)
        click.echo("Sign in with it on the dashboard's /signin page; it cannot be shown again.", err=True)
    else:
        click.echo(f"Created token {info.id} ({info.prefix}…) for project {info.project!r}"
                   + (f" [{info.label}]" if info.label else "") + ".", err=True)
        click.echo("Store it as the CI secret SUITEHEALTH_TOKEN; it cannot be shown again.", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--project", help="Only tokens of this project.")
@click.option("--json", "as_json", is_flag=True, help='Print {"tokens": [...]}.')
@pass_app
def token_list(app: AppContext, project: str | None, as_json: bool) -> None:
    """List tokens (prefix, label, last use; never the secret); read tokens say "read-only".

    \b
    Example:
      suitehealth token list --project shop
    """
    from ingest.tokens import list_tokens

    tokens = list_tokens(app.engine, project)
    if as_json:
        click.echo(json.dumps({"tokens": [t.as_dict() for t in tokens]}))
        return
    if not tokens:
        click.echo("No tokens yet. Create one: suitehealth token create --project NAME", err=True)
        return
    click.echo(f"{'id':>4}  {'prefix':<12} {'project':<20} {'label':<18} {'created':<16} "
               f"{'last used':<16} status")
    for t in tokens:
        project = "(all projects)" if t.project is None else t.project[:20]
        click.echo(f"{t.id:>4}  {t.prefix:<12} {project:<20} {(t.label or '-')[:18]:<18} "
                   f"{_short(t.created_at):<16} {_short(t.last_used_at):<16} "
                   f"{'active' if t.active else 'revoked ' + _short(t.revoked_at)}"
                   + ("  read-only" if t.access != "upload" else ""))


@token.command("revoke")
@click.argument("ident", metavar="ID|PREFIX")
@pass_app
def token_revoke(app: AppContext, ident: str) -> None:
    """Revoke a token by its id or the prefix shown by `token list`; uploads with it get 401 and its
    sign-in sessions end.

    \b
    Example:
      suitehealth token revoke 3
      suitehealth token revoke sh_Xk2f
    """
    from ingest.tokens import TokenError, revoke_token

    try:
        info = revoke_token(app.engine, ident)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    owner = "every project" if info.project is None else f"project {info.project!r}"
    click.echo(f"Revoked token {info.id} ({info.prefix}…) of {owner}.")


def _short(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


# ---- upload ---------------------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", envvar="SUITEHEALTH_URL", required=True, metavar="URL",
              help="Dashboard base URL, e.g. https://suitehealth.example.com [env SUITEHEALTH_URL].")
@click.option("--token", "token_", envvar="SUITEHEALTH_TOKEN", required=True, metavar="TOKEN",
              help="Upload token of the project [env SUITEHEALTH_TOKEN].")
@click.option("--project", envvar="SUITEHEALTH_PROJECT",
              help="Project name [env SUITEHEALTH_PROJECT; default: from the CI environment].")
@metadata_options
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 20),
              help="Retries on connection errors and 5xx answers (exponential backoff).")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(1),
              help="Seconds per attempt.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as one JSON object.")
@click.option("--fail-on", "fail_on", multiple=True, type=click.Choice(GATES),
              help="Fail (exit 1) if this run has a new failure / a newly flaky test; known flaky and "
                   "quarantined tests never fail it. Repeatable.")
@click.option("--summary/--no-summary", default=None,
              help="Write the Markdown job summary to $GITHUB_STEP_SUMMARY, or print it on stderr when that "
                   "is unset [default: on, except with --json].")
def upload(files, server, token_, project, suite, branch, commit, build_id, build_url, started_at, retries,
           timeout, as_json, fail_on, summary):
    """Upload report FILES (gzipped on the way) to a suitehealth server as ONE run.

    Metadata comes from the flags, then the CI environment, like `ingest`. Re-sending the same
    content is safe: the server answers with the run it already stored.

    \b
    Example:
      SUITEHEALTH_URL=https://suitehealth.example.com SUITEHEALTH_TOKEN=sh_... \\
        suitehealth upload --project shop --suite unit junit.xml
    """
    for path in files:
        if not path.exists():
            raise click.ClickException(f"{path}: no such file")
    try:
        meta = build_run_meta(project, suite, branch, commit, build_id, build_url, started_at)
    except IngestError as exc:
        raise click.ClickException(str(exc)) from exc
    fields = {"suite": meta.suite, "branch": meta.branch, "commit": meta.commit, "build_id": meta.build_id,
              "build_url": meta.build_url, "ci": (meta.environment or {}).get("ci"),
              "started_at": meta.started_at.isoformat() if meta.started_at else None}
    from ingest.upload_client import UploadError, upload_reports

    try:
        result = upload_reports(server, token_, meta.project, files, fields, retries=retries,
                                timeout_s=timeout)
    except UploadError as exc:
        raise click.ClickException(f"upload to {server} failed: {exc}") from exc
    if summary is None:
        # The job summary is the point of uploading from CI: on by default, in the step summary
        # file when there is one, else on stderr. --json keeps the output to the one object.
        summary = not as_json or bool(os.environ.get("GITHUB_STEP_SUMMARY"))
    verdicts = _verdicts(server, token_, meta.project, result.run_id, summary, fail_on, timeout)
    if as_json:
        click.echo(json.dumps(result.body))
    else:
        body = result.body
        if result.duplicate:
            click.echo(f"Already stored as run {result.run_id} ({body.get('project')}/{body.get('suite')}).",
                       err=True)
        else:
            click.echo(f"Stored run {result.run_id} ({body.get('project')}/{body.get('suite')}): "
                       f"{outcome_line(body)}.", err=True)
        # The run's URL stays the last line, for scripts.
        click.echo(result.url or f"run {result.run_id}")
    if verdicts is not None and fail_on:
        from ingest.ci_summary import gate

        reasons = gate(verdicts, fail_on)
        if reasons:
            raise click.ClickException("failing the job (--fail-on): " + "; ".join(reasons))


def _verdicts(server, token, project, run_id, summary, fail_on, timeout):
    """Fetch the server's verdicts on the run when a summary or a gate needs them; write the summary."""
    if not (summary or fail_on):
        return None
    from ingest.ci_markdown import write_step_summary
    from ingest.ci_summary import fetch_verdicts, summary_markdown

    try:
        verdicts = fetch_verdicts(server, token, project, run_id, timeout_s=timeout)
    except (OSError, ValueError) as exc:
        # The run is stored; a summary we cannot get must not fail the job (nor pass a gate silently).
        click.echo(f"suitehealth: no verdicts for run {run_id} ({exc}): no summary"
                   + (", --fail-on not applied" if fail_on else ""), err=True)
        return None
    if summary:
        write_step_summary(summary_markdown(verdicts), lambda text: click.echo(text, err=True))
    return verdicts
