"""``suitehealth report weekly``: the weekly review for chat (Markdown), mail (HTML) or scripts (JSON)."""

from __future__ import annotations

import json

import click

from dashboard.analysis.weeks import parse_week
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from dashboard.urls import DEFAULT_REPORT_BASE_URL
from ingest.cli import AppContext, pass_app

# Links need an absolute base; without --base-url or SUITEHEALTH_BASE_URL we point at `suitehealth serve`.
DEFAULT_BASE_URL = DEFAULT_REPORT_BASE_URL


@click.group()
def report():
    """Reports to paste or mail (the weekly review).

    \b
    Example:
      suitehealth report weekly --project shop --base-url https://health.example.com
    """


def _week(_ctx, _param, value):
    """--week YYYY-Www as the window of that ISO week."""
    if value is None:
        return None
    try:
        return Window.of_week(parse_week(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@report.command("weekly")
@click.option("--project", required=True, help="Project name.")
@click.option("--week", callback=_week, metavar="YYYY-Www",
              help="ISO week, e.g. 2026-W07 [default: the last complete week].")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True,
              help="Markdown for chat/issues, self-contained HTML for mail/archive, or JSON.")
@click.option("--base-url", metavar="URL",
              help=f"Dashboard URL for links [env SUITEHEALTH_BASE_URL; default {DEFAULT_BASE_URL}].")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file instead of standard output.")
@click.option("--send", is_flag=True,
              help="Deliver the review to the webhooks and mail of [tool.suitehealth.notify] instead of "
                   "printing it (exit 1 if any destination failed; the others are still tried).")
@pass_app
def weekly(app: AppContext, project, week, fmt, base_url, output, send):
    """Print the weekly suite-health review of PROJECT.

    \b
    Example:
      suitehealth report weekly --project shop --week 2026-W07 --base-url https://health.example.com
      suitehealth report weekly --project shop --format html -o review.html
      suitehealth report weekly --project shop --send
    """
    from sqlalchemy.orm import Session

    from dashboard.analysis.weekly import cached_weekly_review, find_project
    from dashboard.weekly_render import render_html, render_markdown, review_json

    settings = Settings.from_environment()
    base_url = settings.report_urls(base_url).base
    with Session(app.engine) as session:
        proj = find_project(session, project)
        if proj is None:
            raise click.ClickException(f"no project named {project!r}")
        review = cached_weekly_review(session, proj.id, week, settings)
    if send:
        _send(review, base_url, settings)
        return
    if fmt == "json":
        text = json.dumps(review_json(review, base_url), indent=2) + "\n"
    elif fmt == "html":
        text = render_html(review, base_url)
    else:
        text = render_markdown(review, base_url)
    output.write(text)


def _send(review, base_url: str, settings: Settings) -> None:
    from dashboard.analysis.levels import ConfigError
    from dashboard.notify import deliver, destinations
    from dashboard.weekly_delivery import weekly_message

    try:
        dest = destinations(settings.table)
    except ConfigError as exc:
        raise click.ClickException(f"cannot send the review: {exc}") from exc
    if not dest:
        raise click.ClickException(
            "nowhere to send the review: add webhooks or email under [tool.suitehealth.notify] "
            "in the config file (see README, Weekly review)")
    message = weekly_message(review, base_url)
    outcomes = deliver(dest, message)
    for outcome in outcomes:
        verdict = "sent" if outcome.ok else "FAILED"
        click.echo(f"{verdict}: {outcome.destination} ({outcome.detail})", err=True)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(outcomes)} destinations failed")
