"""Uploads survive `kill -9` of gunicorn's workers and of its master (issue 12).

A real `suitehealth serve` (gunicorn, three workers) takes 40 distinct reports, each sent twice by
different client threads, while the test kills workers with SIGKILL several times and once the
master itself, then starts the server again on the same port and database. The clients retry
(``ingest.upload_client``) until each upload is answered. Afterwards exactly the 40 runs are stored,
each once and whole, and the analysis worker analyses them all.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.analysis_models import AnalysedRun
from ingest.db import ENV_VAR, ensure_schema, make_engine
from ingest.models import Project, Result, Run
from ingest.sources import ReportSource
from ingest.store import combined_hash
from ingest.tokens import create_token
from ingest.upload_client import upload_reports

pytestmark = pytest.mark.server

PROJECT = "durable"
RUNS = 40
CLIENTS = 5
WORKERS = 3
# Retries outlast a master restart on a loaded 2-CPU machine: 400 attempts whose waits are capped
# at 0.5-1.5 s are several minutes of retrying, while a restart takes seconds.
RETRIES = 400
MAX_WAIT_S = 1.0
# Kills happen after this many answered uploads (of 80): workers, the master, then workers again.
WORKER_KILLS_BEFORE = (6, 14, 22)
MASTER_KILL_AT = 30
WORKER_KILLS_AFTER = (42, 54, 66)


def junit_report(run: int) -> tuple[bytes, int]:
    """Return a distinct JUnit report of CI run ``run`` and its number of test cases."""
    rng = random.Random(run)
    count = 600 + 13 * run  # hundreds of cases: a store takes long enough for kills to land inside it
    cases = []
    for i in range(count):
        name = f'classname="tests.test_mod{i % 20}" name="test_case_{i}" time="{rng.uniform(0, 0.2):.4f}"'
        roll = rng.random()
        if roll < 0.03:
            cases.append(f'<testcase {name}><failure message="assert {run}">E  assert {run}</failure>'
                         "</testcase>")
        elif roll < 0.06:
            cases.append(f'<testcase {name}><skipped message="not on CI"/></testcase>')
        else:
            cases.append(f"<testcase {name}/>")
    body = "\n    ".join(cases)
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest" tests="{count}" '
           f'timestamp="2026-11-{1 + run % 28:02d}T10:{run % 60:02d}:00" hostname="ci-{run}">\n    {body}\n'
           "</testsuite></testsuites>\n")
    return xml.encode(), count


class Progress:
    """Counts answered uploads; the killer waits for counts, never for wall time."""

    def __init__(self):
        self.answered = 0
        self.changed = threading.Condition()

    def add(self) -> None:
        with self.changed:
            self.answered += 1
            self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.answered >= count)


def _children(pid: int) -> list[int]:
    """Return the live child processes of ``pid`` (read from /proc: no psutil needed)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry))
    return found


def _group_alive(pgid: int) -> bool:
    """Return whether any process of group ``pgid`` still runs (zombies waiting to be reaped do not)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill_a_worker(master: int) -> int:
    """SIGKILL one gunicorn worker of ``master`` (waiting for one to be there); return its pid."""
    while not (workers := _children(master)):
        time.sleep(0.05)
    victim = random.Random(len(workers)).choice(workers)
    os.kill(victim, signal.SIGKILL)
    return victim


def _kill_the_master(server) -> None:
    """SIGKILL the master; wait until its orphaned workers have let go of the port (or kill them)."""
    server.proc.send_signal(signal.SIGKILL)
    assert server.proc.wait() == -signal.SIGKILL
    # Orphaned gthread workers notice within a second or two that their parent is gone and exit.
    for _ in range(600):
        if not _group_alive(server.proc.pid):
            return
        time.sleep(0.05)
    os.killpg(server.proc.pid, signal.SIGKILL)
    while _group_alive(server.proc.pid):
        time.sleep(0.05)


def _upload(url: str, token: str, path: Path):
    return upload_reports(url, token, PROJECT, [path], {"suite": "unit"}, retries=RETRIES, backoff_s=0.2,
                          timeout_s=120, sleep=lambda s: time.sleep(min(s, MAX_WAIT_S)))


def test_uploads_through_kill_9_of_workers_and_master_store_each_run_once_and_whole(
        db_url, server_factory, tmp_path):
    engine = make_engine(db_url)
    ensure_schema(engine)
    try:
        token = create_token(engine, PROJECT, "ci")[1]
        reports: list[Path] = []
        cases: dict[str, int] = {}
        for run in range(RUNS):
            data, count = junit_report(run)
            path = tmp_path / f"junit-{run}.xml"
            path.write_bytes(data)
            reports.append(path)
            cases[combined_hash([ReportSource.from_path(path)])] = count
        assert len(cases) == RUNS  # distinct content

        server = server_factory(db_url, workers=WORKERS, no_worker=True)
        url = server.url
        # Each report twice, by two different clients (a CI job and its re-run), at different times.
        queues: list[list[Path]] = [[] for _ in range(CLIENTS)]
        for i, path in enumerate(reports):
            queues[i % CLIENTS].append(path)
            queues[(i + 2) % CLIENTS].insert(0, path)
        progress = Progress()
        answers: dict[Path, list] = defaultdict(list)
        lock = threading.Lock()

        def client(paths: list[Path]) -> None:
            for path in paths:
                result = _upload(url, token, path)
                with lock:
                    answers[path].append(result)
                progress.add()

        killed: list[int] = []
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client, paths) for paths in queues]
            for count in WORKER_KILLS_BEFORE:
                progress.wait_for(count)
                killed.append(_kill_a_worker(server.proc.pid))
            progress.wait_for(MASTER_KILL_AT)
            _kill_the_master(server)
            server = server_factory(db_url, workers=WORKERS, port=server.port, no_worker=True)
            for count in WORKER_KILLS_AFTER:
                progress.wait_for(count)
                killed.append(_kill_a_worker(server.proc.pid))
            for future in futures:
                future.result()  # an upload that gave up raises UploadError here

        assert len(set(killed)) == len(WORKER_KILLS_BEFORE) + len(WORKER_KILLS_AFTER)
        # The master's death cut uploads short: some had to be retried (so the kills really landed).
        assert any(r.attempts > 1 for seen in answers.values() for r in seen)
        for path, seen in answers.items():
            assert len(seen) == 2 and {r.status for r in seen} <= {200, 201}, (path.name, seen)
            assert seen[0].run_id == seen[1].run_id, (path.name, seen)

        with Session(engine) as session:
            project_id = session.scalar(select(Project.id).where(Project.name == PROJECT))
            stored = session.execute(
                select(Run.id, Run.content_hash, Run.tests, func.count(Result.id))
                .outerjoin(Result, Result.run_id == Run.id).where(Run.project_id == project_id)
                .group_by(Run.id, Run.content_hash, Run.tests)
            ).all()
            all_results = session.scalar(select(func.count(Result.id)))
        assert len(stored) == RUNS  # no duplicate
        assert {h for _, h, _, _ in stored} == set(cases)
        assert {run_id for run_id, _, _, _ in stored} == {seen[0].run_id for seen in answers.values()}
        for run_id, content_hash, tests, results in stored:  # no partial run
            assert tests == results == cases[content_hash], (run_id, tests, results)
        assert all_results == sum(cases.values())  # and no stray result of a rolled-back upload

        done = subprocess.run([sys.executable, "-m", "dashboard.cli", "worker", "--once"],
                              env={**os.environ, ENV_VAR: db_url}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f"Analysed {RUNS} new run(s) in 1 project(s)" in done.stderr
        with Session(engine) as session:
            analysed = set(session.scalars(
                select(AnalysedRun.run_id).where(AnalysedRun.project_id == project_id)))
        assert analysed == {run_id for run_id, _, _, _ in stored}
    finally:
        engine.dispose()
