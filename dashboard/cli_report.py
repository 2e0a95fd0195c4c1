"""``suitehealth report weekly``: the weekly review for chat (Markdown), mail (HTML) or scripts (JSON)."""

from __future__ import annotations

import json

import click
from sqlalchemy.orm import Session

from dashboard.analysis.weeks import parse_week
from dashboard.config import load_config
from ingest.cli import AppContext, pass_app

# Links need an absolute base; without --base-url or SUITEHEALTH_BASE_URL we point at `suitehealth serve`.
DEFAULT_BASE_URL = "http://localhost:8000"


@click.group()
def report():
    """Reports to paste or mail (the weekly review).

    \b
    Example:
      suitehealth report weekly --project shop --base-url https://health.example.com
    """


def _week(_ctx, _param, value):
    if value is None:
        return None
    try:
        return parse_week(value)
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
@pass_app
def weekly(app: AppContext, project, week, fmt, base_url, output):
    """Print the weekly suite-health review of PROJECT.

    \b
    Example:
      suitehealth report weekly --project shop --week 2026-W07 --base-url https://health.example.com
      suitehealth report weekly --project shop --format html -o review.html
    """
    from dashboard.analysis.weekly import cached_weekly_review, find_project
    from dashboard.weekly_render import render_html, render_markdown, review_json

    config = load_config()
    base_url = (base_url or config.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    with Session(app.engine) as session:
        proj = find_project(session, project)
        if proj is None:
            raise click.ClickException(f"no project named {project!r}")
        review = cached_weekly_review(session, proj, week, config=config)
    if fmt == "json":
        text = json.dumps(review_json(review, base_url), indent=2) + "\n"
    elif fmt == "html":
        text = render_html(review, base_url)
    else:
        text = render_markdown(review, base_url)
    output.write(text)
