"""``suitehealth demo``: write the demo history (and optionally serve the dashboard on it)."""

from __future__ import annotations

import time

import click

from ingest.cli import AppContext, pass_app


@click.command()
@click.option("--serve", "then_serve", is_flag=True, help="Start the dashboard afterwards (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (with --serve).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to serve on (with --serve).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn workers (with --serve).")
@click.option("--force", is_flag=True, help="Replace the demo project if it already exists.")
@click.option("--project", default="acme-shop", show_default=True, help="Name of the demo project.")
@click.option("--days", default=120, show_default=True, type=click.IntRange(14, 365),
              help="Length of the history, ending today.")
@pass_app
def demo(app: AppContext, then_serve: bool, host: str, port: int, workers: int | None, force: bool,
         project: str, days: int) -> None:
    """Write four months of realistic CI history for a made-up shop, then (--serve) show it.

    Nothing is written when the project already exists (use --force to replace it), so running
    it twice is harmless. The history ends today and is the same every time (fixed seed).

    \b
    Example:
      suitehealth demo --serve --port 8000
    """
    from dashboard.demo import write_demo
    from dashboard.urls import Urls

    began = time.perf_counter()
    summary = write_demo(app.engine, project=project, force=force, days=days)
    url = Urls(f"http://{host}:{port}").project(project)
    if summary is None:
        click.echo(f"Project {project!r} already exists in {app.safe_url}; nothing written "
                   "(--force replaces it).")
    else:
        suites = ", ".join(f"{n} {s}" for s, n in sorted(summary.runs_by_suite.items()))
        took = time.perf_counter() - began
        click.echo(f"Wrote demo project {project!r} to {app.safe_url} in {took:.1f} s: "
                   f"{summary.runs} runs ({suites}), {summary.results:,} results, "
                   f"{summary.first_day} to {summary.last_day}.")
        click.echo(f"  integration slows past its 300 s budget; test_checkout_applies_coupon got 5x slower "
                   f"from run {summary.regression_run_id} ({summary.regression_day});")
        surge = ", ".join(map(str, summary.skip_surge_run_ids)) or "-"
        click.echo(f"  outage run {summary.outage_run_id}, slow-runner outlier run {summary.outlier_run_id}, "
                   f"skip surge runs {surge} (last ISO week);")
        click.echo("  flaky tests at 3/8/15/25 %, a polluter->victim and a state-setter->brittle pair, "
                   "a concurrent clash on xdist workers, a 4-day real breakage.")
        # Analyse now, so the first page view does not pay for the whole history.
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from dashboard.analysis.updates import refresh_project
        from ingest.models import Project

        began = time.perf_counter()
        with Session(app.engine) as session:
            project_id = session.scalars(select(Project.id).where(Project.name == project)).one()
        refresh_project(app.engine, project_id)
        click.echo(f"Analysed flakiness and interference in {time.perf_counter() - began:.1f} s.")
    if not then_serve:
        click.echo(f"Serve it with: suitehealth serve --port {port}   then open {url}")
        return
    from dashboard.cli_serve import resolve_sign_in, serve_app
    from dashboard.worker_process import worker_beside

    auth = resolve_sign_in(host)
    click.echo(f"Serving the dashboard: open {url}  (Ctrl+C stops)")
    with worker_beside(app.url):  # like `serve`: runs uploaded later get analysed
        serve_app(app.url, host=host, port=port, workers=workers, auth=auth)
