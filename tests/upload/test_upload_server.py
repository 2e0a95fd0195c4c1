"""Uploads against the real server (gunicorn, several workers) on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import http.server
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from upload_helpers import GOOD, RERUNS, TRUNCATED, gzip_bomb, stored_runs, variant

from ingest.db import ensure_schema, make_engine
from ingest.sources import ReportSource
from ingest.store import combined_hash
from ingest.tokens import create_token
from ingest.upload_client import UploadError, upload_reports

pytestmark = pytest.mark.server

MAX_REPORT = 256 * 1024


@dataclass
class Served:
    server: object
    engine: Engine
    db_url: str

    def tokens(self, project: str) -> tuple[str, str]:
        """Return a token of ``project`` and one of another project."""
        return create_token(self.engine, project, "ci")[1], create_token(self.engine, project + "-other")[1]


def test_real_server_stores_each_sent_run_once_under_concurrent_retried_and_hostile_uploads(
        db_url, server_factory, tmp_path):
    """One 3-worker gunicorn per backend (a start costs seconds) runs every scenario below.

    Each scenario uses its own projects, so none sees another's runs.
    """
    engine = make_engine(db_url)
    ensure_schema(engine)
    server = server_factory(db_url, workers=3, env={"SUITEHEALTH_MAX_REPORT_BYTES": str(MAX_REPORT)})
    served = Served(server, engine, db_url)
    try:
        for scenario in (check_concurrent_uploads_and_retries_store_each_run_exactly_once,
                         check_refused_uploads_store_nothing_while_good_ones_go_through,
                         check_upload_command_retries_through_503s_and_prints_the_run_url,
                         check_upload_command_fails_cleanly_on_a_refusal,
                         check_a_refused_report_is_named_as_the_user_named_it):
            folder = tmp_path / scenario.__name__
            folder.mkdir()
            scenario(served, folder)
    finally:
        engine.dispose()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _attempt(server, token, project, path, suite="unit", retries=3):
    """Upload and return (status, run_id or error message)."""
    try:
        result = upload_reports(server.url, token, project, [path], {"suite": suite}, retries=retries,
                                backoff_s=0.2, timeout_s=60)
    except UploadError as exc:
        return exc.status, str(exc)
    return result.status, result.run_id


def check_concurrent_uploads_and_retries_store_each_run_exactly_once(served: Served, tmp_path: Path) -> None:
    server, engine = served.server, served.engine
    token, _ = served.tokens("concurrent")
    # 12 distinct CI runs, each sent three times by different clients at once (CI retries, re-runs).
    reports = [_write(tmp_path, f"run{i}.xml", variant(i, GOOD if i % 2 else RERUNS)) for i in range(12)]
    jobs = [path for path in reports for _ in range(3)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda p: (p, _attempt(server, token, "concurrent", p)), jobs))

    by_report: dict[Path, list[tuple[int, int]]] = {}
    for path, answer in answers:
        by_report.setdefault(path, []).append(answer)
    for path, seen in by_report.items():
        statuses = Counter(status for status, _ in seen)
        assert statuses == {201: 1, 200: 2}, (path.name, seen)  # never "database is locked" (a 500)
        assert len({run_id for _, run_id in seen}) == 1, (path.name, seen)

    runs = stored_runs(engine, "concurrent")
    assert len(runs) == len(reports)
    expected = {combined_hash([ReportSource.from_path(p)]) for p in reports}
    assert {content_hash for _, _, content_hash in runs} == expected
    assert {run_id for run_id, _, _ in runs} == {seen[0][1] for seen in by_report.values()}


def check_refused_uploads_store_nothing_while_good_ones_go_through(served: Served, tmp_path: Path) -> None:
    server, engine = served.server, served.engine
    token, other = served.tokens("shop")
    good = [_write(tmp_path, f"good{i}.xml", variant(100 + i)) for i in range(6)]
    truncated = _write(tmp_path, "truncated.xml", TRUNCATED.read_bytes())
    bomb = _write(tmp_path, "bomb.xml.gz", gzip_bomb(20 * 1024 * 1024))
    oversized = _write(tmp_path, "huge.xml", GOOD.read_bytes() + b"<!--" + b"x" * (2 << 20) + b"-->")
    hostile = [
        ("no token", lambda: _attempt(server, "", "shop", good[0], retries=0), 401),
        ("wrong token", lambda: _attempt(server, "sh_wrong", "shop", good[0], retries=0), 401),
        ("foreign token", lambda: _attempt(server, other, "shop", good[0], retries=0), 403),
        ("truncated", lambda: _attempt(server, token, "shop", truncated, retries=0), 422),
        ("gzip bomb", lambda: _attempt(server, token, "shop", bomb, retries=0), 413),
        ("oversized body", lambda: _attempt(server, token, "shop", oversized, retries=0), 413),
    ]
    calls = [(name, fn, status) for name, fn, status in hostile] + [
        (f"good {i}", (lambda p=p: _attempt(server, token, "shop", p)), 201) for i, p in enumerate(good)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda c: (c[0], c[2], c[1]()), calls))
    for name, expected, (status, detail) in results:
        assert status == expected, (name, status, detail)
    assert dict((n, d) for n, _, (_, d) in results)["truncated"].count("truncated.xml") == 1
    assert len(stored_runs(engine, "shop")) == len(good)
    assert stored_runs(engine, "shop-other") == []


class _FlakyGateway(http.server.ThreadingHTTPServer):
    """A real HTTP gateway in front of the server that answers 503 to the first ``failures`` POSTs.

    It stands in for a load balancer while the dashboard restarts.
    """

    def __init__(self, upstream: str, failures: int):
        self.upstream = upstream
        self.failures = failures
        self.seen = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _GatewayHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802  (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.seen += 1
            fail = self.server.seen <= self.server.failures
        if fail:
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "restarting"}')
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        request = urllib.request.Request(self.server.upstream + self.path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def check_upload_command_retries_through_503s_and_prints_the_run_url(served: Served, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dashboard.cli import main

    server, engine, db_url = served.server, served.engine, served.db_url
    token, _ = served.tokens("retried")
    gateway = _FlakyGateway(server.url, failures=2)
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    report = _write(tmp_path, "junit.xml", variant(7))
    env = {"SUITEHEALTH_URL": gateway.url, "SUITEHEALTH_TOKEN": token, "GITHUB_STEP_SUMMARY": None}
    try:
        runner = CliRunner()
        first = runner.invoke(main, ["--db", db_url, "upload", "--project", "retried", "--suite", "unit",
                                     "--branch", "main", str(report)], env=env, catch_exceptions=False)
        again = runner.invoke(main, ["--db", db_url, "upload", "--project", "retried", "--suite", "unit",
                                     str(report)], env=env, catch_exceptions=False)
    finally:
        gateway.shutdown()
        gateway.server_close()
    assert first.exit_code == 0, first.output
    # two 503s, the upload and its job-summary verdicts, then the repeat and its verdicts
    assert gateway.seen == 6
    # No $GITHUB_STEP_SUMMARY: the job summary is printed (before the run's URL, which stays last).
    assert "### suitehealth: retried / unit" in first.output
    runs = stored_runs(engine, "retried")
    assert len(runs) == 1
    run_id = runs[0][0]
    # No SUITEHEALTH_BASE_URL: the server answers a path, and the client puts it under the URL it called.
    assert first.output.strip().splitlines()[-1] == f"{gateway.url}/projects/retried/runs/{run_id}"
    assert again.exit_code == 0 and "Already stored" in again.output
    assert again.output.strip().splitlines()[-1].endswith(f"/projects/retried/runs/{run_id}")


def check_upload_command_fails_cleanly_on_a_refusal(served: Served, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dashboard.cli import main

    _, other = served.tokens("refused")
    report = _write(tmp_path, "junit.xml", variant(8))
    result = CliRunner().invoke(main, ["upload", "--server", served.server.url, "--token", other,
                                       "--project", "refused", str(report)])
    assert result.exit_code == 1
    assert "403" in result.output and "refused-other" in result.output
    assert stored_runs(served.engine, "refused") == []


def check_a_refused_report_is_named_as_the_user_named_it(served: Served, tmp_path: Path) -> None:
    """The client gzips a plain report on the wire; the 422 still names the file the user sent."""
    from click.testing import CliRunner

    from dashboard.cli import main

    token, _ = served.tokens("named")
    plain = _write(tmp_path, "my-report.xml", TRUNCATED.read_bytes())
    packed = _write(tmp_path, "my-other-report.xml.gz", gzip.compress(TRUNCATED.read_bytes()))
    for report in (plain, packed):
        result = CliRunner().invoke(main, ["upload", "--server", served.server.url, "--token", token,
                                           "--project", "named", str(report)])
        assert result.exit_code == 1
        assert f"HTTP 422: {report.name}:11:22: invalid XML" in result.output, result.output
    assert stored_runs(served.engine, "named") == []
