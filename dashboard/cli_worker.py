"""`suitehealth worker`: keep the stored analyses up to date (the pages only read them)."""

from __future__ import annotations

import logging
import os
import signal
import threading

import click

from ingest.cli import AppContext, pass_app

# Set by `serve` for the worker it starts (see dashboard.worker_process).
PARENT_PID_ENV = "SUITEHEALTH_WORKER_PARENT_PID"


@click.command()
@click.option("--once", is_flag=True, help="Bring every project up to date, then exit.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between looks for new runs when there was nothing to do.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one goes (serve's worker).")
@pass_app
def worker(app: AppContext, once: bool, interval: float, exit_with_parent: bool) -> None:
    """Analyse new runs of every project (flaky tests, interference) and keep doing so.

    `suitehealth serve` starts one beside the web server; run more on other machines against the
    same PostgreSQL database if one cannot keep up. On SQLite one worker at a time does the work.

    \b
    Example:
      suitehealth --db postgresql://postgres@db/suitehealth worker
      suitehealth worker --once
    """
    logging.basicConfig(level=logging.INFO, format="suitehealth worker[%(process)d]: %(message)s")
    from dashboard.worker import parent_alive, run_forever, run_once

    engine = app.engine
    if once:
        refreshed = run_once(engine)
        runs = sum(len(r.run_ids) for r in refreshed)
        click.echo(f"Analysed {runs} new run(s) in {len({r.project_id for r in refreshed if r.run_ids})} "
                   "project(s); every project is up to date.", err=True)
        return
    stop = threading.Event()
    # SIGTERM (serve stopping, a container stopping): finish the project at hand, then leave.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The parent's pid comes from the parent itself: asking os.getppid() here would be too late if
    # the parent already died while this process was starting (we would adopt init as "parent").
    parent = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    keep_going = parent_alive(parent) if exit_with_parent else (lambda: True)
    try:
        run_forever(engine, interval_s=interval, stop=stop, keep_going=keep_going)
    except KeyboardInterrupt:
        pass
