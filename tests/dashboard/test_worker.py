"""`suitehealth worker`: finds the projects whose runs wait for analysis, brings them up to date, and
on SQLite lets one long-running worker at a time do it (another waits and takes over)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta

from history import START, case, store_run
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_worker_kill import HANG_GUARD_S, WorkerProcess

from dashboard.analysis.freshness import analysis_status, projects_behind
from dashboard.worker import id_ranges, run_once
from ingest.db import ENV_VAR
from ingest.models import Project


def _runs(engine, project: str, first_day: int, days: int) -> list[int]:
    return [store_run(engine, project, "unit",
                      [case("tests/test_a.py::test_x", "failed" if day % 3 == 1 else "passed")],
                      started_at=START + timedelta(days=day)) for day in range(first_day, first_day + days)]


def _project_ids(engine) -> dict[str, int]:
    with Session(engine) as s:
        return dict(s.execute(select(Project.name, Project.id)).all())


def test_each_project_is_judged_against_its_own_watermark(engine):
    big = _runs(engine, "big", 0, 6)
    small = _runs(engine, "small", 0, 2)
    ids = _project_ids(engine)
    with Session(engine) as s:
        assert projects_behind(s) == sorted(ids.values())
        assert analysis_status(s, ids["big"]).runs_behind == 6

    refreshed = run_once(engine)
    assert {r.project_id: r.run_ids for r in refreshed if r.run_ids} == {
        ids["big"]: tuple(big), ids["small"]: tuple(small)}
    assert all(r.discarded == 0 for r in refreshed)
    with Session(engine) as s:
        assert projects_behind(s) == []

    later = _runs(engine, "small", 2, 1)  # below big's watermark, above small's
    with Session(engine) as s:
        assert projects_behind(s) == [ids["small"]]
        status = analysis_status(s, ids["small"])
    assert status.runs_behind == 1 and status.updated_at is not None
    forty_s_later = status.updated_at + timedelta(seconds=40)
    assert status.describe(forty_s_later) == "analysis 1 run behind, updated 40 s ago"
    assert [r.run_ids for r in run_once(engine) if r.run_ids] == [tuple(later)]
    assert [r for r in run_once(engine) if r.run_ids] == []  # nothing left: a no-op pass


def test_worker_once_command_analyses_and_reports(engine, cli):
    _runs(engine, "shop", 0, 4)
    result = cli("worker", "--once")
    assert result.exit_code == 0
    assert "Analysed 4 new run(s) in 1 project(s)" in result.output
    assert "Analysed 0 new run(s)" in cli("worker", "--once").output


def test_on_sqlite_a_second_worker_waits_for_the_first_and_takes_over_when_it_dies(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    _runs(sqlite_engine, "shop", 0, 2)
    first = WorkerProcess(url)
    second = None
    try:
        first.wait_for("analysed 2 run(s)")
        second = WorkerProcess(url)
        second.wait_for("another worker holds")
        late = _runs(sqlite_engine, "shop", 2, 1)
        first.wait_for(f"analysed 1 run(s) (ids {late[0]})")  # the holder does the work
        first.kill()
        second.wait_for("watching")  # the lock went with the killed process
        again = _runs(sqlite_engine, "shop", 3, 1)
        second.wait_for(f"analysed 1 run(s) (ids {again[0]})")
    finally:
        for worker in (first, second):
            if worker is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
                worker.proc.wait()
    assert second.proc.returncode == 0  # SIGTERM: it finished its pass and left cleanly


class ServeProcess(WorkerProcess):
    """`suitehealth serve` on a free port; its output (gunicorn's and its worker's) read line by line."""

    def __init__(self, url: str, *args: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.base = f"http://127.0.0.1:{s.getsockname()[1]}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "serve", "--port", self.base.rsplit(":", 1)[1],
             "--workers", "1", *args],
            env={**os.environ, ENV_VAR: url}, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
        self.proc.stderr = self.proc.stdout
        self.lines, self.seen, self.claimed = queue.Queue(), [], set()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("Booting worker")

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.base + path, timeout=HANG_GUARD_S) as answer:
            return json.load(answer)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=HANG_GUARD_S)
            while (line := self.lines.get(timeout=HANG_GUARD_S)) != "":
                self.seen.append(line)
        except (subprocess.TimeoutExpired, queue.Empty):
            self.proc.kill()
            raise AssertionError(f"serve did not stop:\n{''.join(self.seen)}") from None
        return "".join(self.seen)


def _until(condition, output: WorkerProcess) -> None:
    """Poll ``condition`` until it holds; fail (instead of hanging the run) after HANG_GUARD_S."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {HANG_GUARD_S} s:\n{''.join(output.seen)}")
        time.sleep(0.1)


def _worker_pid(line: str) -> int:
    return int(re.search(r"suitehealth worker\[(\d+)\]", line).group(1))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_serve_runs_a_worker_beside_gunicorn_restarts_it_and_stops_it(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    server = ServeProcess(url)
    try:
        pid = _worker_pid(server.wait_for("watching"))
        _runs(sqlite_engine, "shop", 0, 3)
        # The three runs may land in one pass or straddle two: wait for the page to say so.
        flaky = "/api/v1/projects/shop/flaky"
        _until(lambda: server.get_json(flaky)["analysis"]["up_to_date"], output=server)

        os.kill(pid, signal.SIGKILL)  # serve notices and starts another
        replacement = _worker_pid(server.wait_for("watching"))
        assert replacement != pid
        late = _runs(sqlite_engine, "shop", 3, 1)
        server.wait_for(f"analysed 1 run(s) (ids {late[0]})")
    finally:
        output = server.stop()
    assert server.proc.returncode == 0, output
    _until(lambda: _gone(replacement), output=server)  # serve stops its worker on the way out


def test_serve_no_worker_leaves_the_analysis_to_a_worker_elsewhere(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    server = ServeProcess(url, "--no-worker")
    try:
        _runs(sqlite_engine, "shop", 0, 2)
        analysis = server.get_json("/api/v1/projects/shop")["analysis"]
        assert analysis["runs_behind"] == 2 and analysis["message"] == "analysis 2 runs behind, not run yet"
    finally:
        output = server.stop()
    assert "suitehealth worker[" not in output


def test_id_ranges_keep_a_long_refresh_on_one_line():
    assert id_ranges([7, 1, 2, 3, 9, 10]) == "1-3,7,9-10"
    assert id_ranges([]) == "-"
