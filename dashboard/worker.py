"""The analysis worker: the one process that writes the stored flakiness and interference analyses.

What needs doing is read from the data itself (a project's runs without an ``analysed_runs`` row
above its watermark, see ``freshness``), never from memory: a worker killed at any point loses
nothing, because the next one finds the same runs waiting and the killed refresh's transaction
never committed.

On PostgreSQL any number of workers may share a database: each takes a project under an advisory
lock and skips projects another worker holds (``refresh_project(wait=False)``). On SQLite one
long-running worker holds an flock beside the database file; a second one waits for it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.alerts import announce
from dashboard.analysis.freshness import projects_behind
from dashboard.analysis.updates import Refreshed, refresh_project
from dashboard.weekly_delivery import send_due_reviews_safely
from ingest.db import ensure_schema
from ingest.models import Project

log = logging.getLogger("suitehealth.worker")

# After a pass that failed, wait this much longer than the polling interval before the next one.
ERROR_BACKOFF_S = 10.0


def refresh_all(engine: Engine, *, wait: bool, every_project: bool = False) -> list[Refreshed]:
    """Refresh every project with runs waiting (``every_project``: every project); return what each did.

    ``wait=False`` skips the projects another worker is refreshing right now. A worker's first pass
    looks at every project: stored analyses added by an upgrade (the pages' window statistics) are
    filled in without waiting for a new run.
    """
    with Session(engine) as session:
        project_ids = (list(session.scalars(select(Project.id).order_by(Project.id))) if every_project
                       else projects_behind(session))
    done = []
    for project_id in project_ids:
        began = time.perf_counter()
        refreshed = refresh_project(engine, project_id, wait=wait)
        if refreshed is None:
            log.info("project %s: another worker is on it", project_id)
            continue
        done.append(refreshed)
        if refreshed.run_ids:
            announce(engine, project_id)
        if refreshed.run_ids or refreshed.discarded:
            log.info("project %s: analysed %d run(s) (ids %s), discarded %d attempt(s), in %.2f s",
                     project_id, len(refreshed.run_ids), id_ranges(refreshed.run_ids), refreshed.discarded,
                     time.perf_counter() - began)
    return done


def run_once(engine: Engine) -> list[Refreshed]:
    """Bring every project up to date, waiting for projects other workers hold; return the refreshes."""
    ensure_schema(engine)
    done: list[Refreshed] = []
    first = True
    while True:
        refreshed = refresh_all(engine, wait=True, every_project=first)
        first = False
        done.extend(refreshed)
        # Runs that arrived during this pass are left to another pass, until one finds nothing.
        if not any(r.run_ids for r in refreshed):
            send_due_reviews_safely(engine)
            return done


def run_forever(engine: Engine, *, interval_s: float, stop: threading.Event,
                keep_going: Callable[[], bool] = lambda: True) -> None:
    """Refresh every project, then look again every ``interval_s`` seconds until ``stop`` is set.

    ``keep_going`` is asked before each pass (the serve command's worker stops with its parent).
    """
    ensure_schema(engine)
    with _sole_sqlite_worker(engine, stop):
        log.info("watching %s for new runs", engine.url.render_as_string(hide_password=True))
        first = True
        while not stop.is_set() and keep_going():
            try:
                refreshed = refresh_all(engine, wait=False, every_project=first)
                first = False
                send_due_reviews_safely(engine)
            except Exception:  # a database hiccup must not end the worker; the next pass retries
                log.exception("refreshing the analyses failed; trying again")
                stop.wait(interval_s + ERROR_BACKOFF_S)
                continue
            if not any(r.run_ids for r in refreshed):
                stop.wait(interval_s)


@contextmanager
def _sole_sqlite_worker(engine: Engine, stop: threading.Event) -> Iterator[None]:
    """On an SQLite file, hold ``<db>.worker-lock`` for the worker's life; elsewhere do nothing."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    path = Path(url.database).expanduser().resolve()
    path = path.with_name(path.name + ".worker-lock")
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another worker holds %s; waiting for it to stop", path)
            while not stop.is_set():
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    stop.wait(1.0)
        yield  # released when the file is closed, also when the process is killed


def parent_alive(parent_pid: int) -> Callable[[], bool]:
    """Return a check that the process that started us still runs (we were not re-parented)."""
    return lambda: os.getppid() == parent_pid


def id_ranges(ids: tuple[int, ...] | list[int]) -> str:
    """Return sorted ids as compact ranges: 1-4,7,9-10 (a long refresh stays one log line)."""
    out: list[str] = []
    ordered = sorted(ids)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out) or "-"
