"""A worker killed with SIGKILL in the middle of a refresh loses nothing: the next one redoes the work.

The kill lands at a point the test holds the worker at, with real database locks:
- SQLite: the test holds the write lock, so the worker has computed the analysis and waits to store it;
- PostgreSQL: the test holds an uncommitted ``analysed_runs`` row of one of the new runs, so the
  worker has already written the new flake states and signatures in its transaction and waits on
  that row's key.
Afterwards nothing of the killed refresh is stored, and ``suitehealth worker --once`` stores what
an analysis of the whole history from scratch stores.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import uuid

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session
from stored_analysis import from_scratch, stored_analysis
from synthetic_ci import _meta, unit_and_xdist_history

from dashboard.worker import run_once
from ingest.analysis_models import AnalysedRun
from ingest.db import ENV_VAR
from ingest.models import Project, Run
from ingest.store import store_cases

PROJECT = "killed"
HANG_GUARD_S = 300  # how long a wait may last before the test fails instead of hanging the whole run


def _store(engine, items) -> list[int]:
    return [store_cases(engine, _meta(PROJECT, suite, index), cases, content_hash=f"{suite}-{index}").run_id
            for suite, index, cases in items]


class WorkerProcess:
    """A real `suitehealth worker` process whose log lines the test can wait for."""

    def __init__(self, url: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "worker", "--interval", "0.2"],
            env={**os.environ, ENV_VAR: url}, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.claimed: set[int] = set()  # indexes in seen of the lines wait_for has returned
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for(self, fragment: str) -> str:
        """Return the first line holding ``fragment`` that no earlier wait returned, waiting for it.

        Lines read while waiting for something else count too: a serve's worker may say "watching"
        before gunicorn says "Booting worker".
        """
        for index, line in enumerate(self.seen):
            if index not in self.claimed and fragment in line:
                self.claimed.add(index)
                return line
        while True:
            try:  # a guard against a hung run, not a speed check: nothing here takes minutes
                line = self.lines.get(timeout=HANG_GUARD_S)
            except queue.Empty:
                seen = "".join(self.seen)
                raise AssertionError(f"no {fragment!r} after {HANG_GUARD_S} s:\n{seen}") from None
            self.seen.append(line)
            if not line:
                raise AssertionError(f"the worker exited before {fragment!r}:\n{''.join(self.seen)}")
            if fragment in line:
                self.claimed.add(len(self.seen) - 1)
                return line

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait() == -signal.SIGKILL


def _project_id(engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == PROJECT))


def _worker_url(engine, label: str) -> str:
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        url += f"&application_name={label}"  # to find the worker's backend in pg_stat_activity
    return url


def _hold_sqlite_write_lock(engine):
    conn = engine.connect()
    conn.info["write"] = True  # ingest.db then begins with BEGIN IMMEDIATE: the write lock, now
    conn.begin()
    conn.info.pop("write")
    return conn


def _hold_an_analysed_runs_key(engine, run_id: int, project_id: int):
    """Insert, without committing, the analysed_runs row of ``run_id``: the worker's insert of it waits."""
    conn = engine.connect()
    suite_id, started_at = conn.execute(select(Run.suite_id, Run.started_at).where(Run.id == run_id)).one()
    conn.execute(insert(AnalysedRun).values(run_id=run_id, project_id=project_id, suite_id=suite_id,
                                            started_at=started_at, outage=False, sequence={}))
    return conn


def _wait_until_blocked_on_analysed_runs(engine, label: str, worker: WorkerProcess) -> None:
    """Return once the worker's backend waits for a lock inside its INSERT INTO analysed_runs."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :label "
                 "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO analysed_runs%'")
    with engine.connect() as conn:
        while not conn.execute(query, {"label": label}).scalar():
            assert worker.proc.poll() is None, "the worker stopped instead of waiting for the held key"
            conn.execute(text("SELECT pg_sleep(0.05)"))
            conn.rollback()


def test_a_worker_killed_mid_refresh_loses_nothing_and_the_next_run_equals_from_scratch(engine):
    history = unit_and_xdist_history(40, seed=21)
    _store(engine, [next(history) for _ in range(40)])
    project_id = _project_id(engine)
    run_once(engine)
    before = stored_analysis(engine, project_id)
    new_ids = _store(engine, history)
    assert before["watermark"] < min(new_ids)

    label = "sh-kill-" + uuid.uuid4().hex[:8]
    if engine.dialect.name == "sqlite":
        holder = _hold_sqlite_write_lock(engine)
    else:
        holder = _hold_an_analysed_runs_key(engine, max(new_ids), project_id)
    worker = WorkerProcess(_worker_url(engine, label))
    try:
        worker.wait_for(f"project {project_id}: storing the analysis of")
        if engine.dialect.name == "postgresql":
            # Its flake states and signatures are written by now, uncommitted.
            _wait_until_blocked_on_analysed_runs(engine, label, worker)
        worker.kill()
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
        holder.rollback()
        holder.close()

    assert stored_analysis(engine, project_id) == before  # nothing of the killed refresh was stored
    url = engine.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-m", "dashboard.cli", "worker", "--once"],
                          env={**os.environ, ENV_VAR: url}, capture_output=True, text=True, check=True)
    assert "Analysed" in done.stderr

    after = stored_analysis(engine, project_id)
    assert after["watermark"] == max(new_ids)
    assert after["suspects"], "the planted polluters give the comparison something to compare"
    assert after == from_scratch(engine, project_id)
