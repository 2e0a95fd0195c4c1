"""Helpers of the hostile-input tests: report builders, what was stored, and pages that must not 500."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest.models import Project, Result, Run, Test

WEEK_S = 7 * 24 * 3600.0
NOW = datetime.now(UTC)


def pytest_json(tests: list | None = None, **top) -> bytes:
    """Return a pytest-json-report document (one passing and one failing test unless ``tests``)."""
    doc = {"created": NOW.timestamp(), "duration": 1.5, "exitcode": 1, "root": "/src/app",
           "summary": {"passed": 1, "failed": 1, "total": 2}, **top}
    doc["tests"] = tests if tests is not None else [json_test("t.py::test_ok"),
                                                    json_test("t.py::test_bad", "failed")]
    return json.dumps(doc, allow_nan=True).encode()


def json_test(nodeid: str, outcome: str = "passed", **fields) -> dict:
    test = {"nodeid": nodeid, "lineno": 1, "outcome": outcome, "keywords": [nodeid.split("::")[-1], "t.py"],
            "setup": {"duration": 0.001, "outcome": "passed"},
            "call": {"duration": 0.5, "outcome": outcome},
            "teardown": {"duration": 0.001, "outcome": "passed"}}
    if outcome == "failed":
        test["call"].update(crash={"path": "t.py", "lineno": 3, "message": "AssertionError: no"},
                            longrepr="def test_bad():\n>   assert 0\nE   AssertionError: no")
    test.update(fields)
    return test


def reportlog(*lines: dict, session: dict | None = None) -> bytes:
    """Return a pytest-reportlog file: SessionStart, ``lines``, SessionFinish."""
    start = {"$report_type": "SessionStart", "pytest_version": "8.3.0"}
    if session:
        start.update(session)
    rows = [start, *lines, {"$report_type": "SessionFinish", "exitstatus": 0}]
    return "\n".join(json.dumps(r, allow_nan=True) for r in rows).encode() + b"\n"


def log_phases(nodeid: str = "t.py::test_a", outcome: str = "passed", **fields) -> list[dict]:
    """Return the setup/call/teardown lines of one test; ``fields`` go into every line."""
    t = NOW.timestamp()
    lines = []
    for i, when in enumerate(("setup", "call", "teardown")):
        line = {"$report_type": "TestReport", "nodeid": nodeid, "location": ["t.py", 1, "test_a"],
                "keywords": {"test_a": 1, "t.py": 1}, "outcome": outcome if when == "call" else "passed",
                "longrepr": None, "when": when, "duration": 0.01, "start": t + i, "stop": t + i + 0.01}
        line.update(fields)
        lines.append(line)
    return lines


def junit(case_attrs: str = 'classname="t" name="test_a" time="0.1"', suite_attrs: str = "") -> bytes:
    return (f'<?xml version="1.0"?><testsuites><testsuite name="s" tests="1" {suite_attrs}>'
            f"<testcase {case_attrs}/></testsuite></testsuites>").encode()


def stored_values_are_sane(engine: Engine) -> list[str]:
    """Return what is out of bounds in the database: NaN/inf/negative/over-a-week times, odd dates."""
    problems = []
    latest = datetime.now(UTC) + timedelta(days=1)
    earliest = datetime(1970, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        for row in session.execute(select(Result.duration_s, Result.setup_s, Result.call_s, Result.teardown_s)):
            for value in row:
                if value is not None and not (math.isfinite(value) and 0 <= value <= WEEK_S):
                    problems.append(f"result time {value!r}")
        for row in session.execute(select(Result.start_ts, Result.stop_ts)):
            for value in row:
                if value is not None and not (math.isfinite(value) and 0 <= value <= latest.timestamp()):
                    problems.append(f"result moment {value!r}")
        for run in session.scalars(select(Run)):
            if not earliest <= run.started_at <= latest:
                problems.append(f"run started {run.started_at!r}")
            for value in (run.duration_s, run.test_time_s, run.setup_time_s, run.call_time_s,
                          run.teardown_time_s):
                if value is not None and not math.isfinite(value):
                    problems.append(f"run time {value!r}")
    return problems


def project_paths(engine: Engine) -> list[str]:
    """Return the page paths (HTML and JSON) of every stored project, run and test."""
    paths = []
    with Session(engine) as session:
        for project in session.scalars(select(Project)):
            p = quote(project.name, safe="")
            base = [f"/projects/{p}", f"/projects/{p}/runs", f"/projects/{p}/flaky", f"/projects/{p}/budget",
                    f"/projects/{p}/pyramid", f"/projects/{p}/weekly", f"/projects/{p}/tests"]
            for run_id in session.scalars(select(Run.id).where(Run.project_id == project.id)):
                base.append(f"/projects/{p}/runs/{run_id}")
            for nodeid in session.scalars(select(Test.nodeid).where(Test.project_id == project.id).limit(5)):
                base.append(f"/projects/{p}/tests?nodeid={quote(nodeid, safe='')}")
            paths += base + ["/api/v1" + path for path in base]
    return paths


def failing_pages(client, engine: Engine) -> list[tuple[str, int]]:
    """Return (path, status) of every project page that answers 5xx."""
    bad = []
    for path in ["/", "/api/v1/projects", *project_paths(engine)]:
        status = client.get(path).status_code
        if status >= 500:
            bad.append((path, status))
    return bad


def as_user(uid: int | None) -> list[str]:
    """Return the command prefix that runs a command as ``uid`` (util-linux setpriv; root needed)."""
    if uid is None:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


class NobodyServer:
    """`suitehealth serve` under real gunicorn, run as ``user`` (e.g. nobody, for a read-only file)."""

    def __init__(self, db_url: str, user: int | None = None, workers: int = 1):
        import os
        import shutil
        import socket
        import subprocess
        import sys
        from pathlib import Path

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")
        self.proc = subprocess.Popen(
            [*as_user(user), exe, "--db", db_url, "serve", "--no-worker", "--port", str(self.port),
             "--workers", str(workers)],
            env={**os.environ, "HOME": "/tmp"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        import time
        import urllib.error
        import urllib.request

        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.proc.stdout.read().decode(errors="replace"))
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return
            except urllib.error.HTTPError:  # up, whatever it thinks of the database
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def get(self, path: str, **kwargs):
        import requests

        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs):
        import requests

        return requests.post(self.url + path, timeout=30, **kwargs)

    def stop(self) -> str:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read().decode(errors="replace")
