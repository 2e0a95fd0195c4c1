"""Database trouble: missing, read-only, or gone under a running gunicorn. One clear line on the
command line; 503 with Retry-After from the server, and /healthz not "ok"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from input_helpers import NobodyServer, as_user, pytest_json

from ingest.db import ensure_schema, make_engine
from ingest.tokens import create_token

NOBODY = 65534
EXE = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")

pytestmark = pytest.mark.server


def _cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*as_user(user), EXE, *args], capture_output=True, text=True,
                          env={**os.environ, "HOME": "/tmp"}, timeout=600)


def _one_clear_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert all(w in errors[0] for w in words), errors[0]
    assert "sqlalche.me" not in result.stderr


@pytest.fixture
def pg_database(pg_admin):
    """A whole PostgreSQL database (not a schema), so that it can be dropped under a server."""
    name = "sh_" + uuid.uuid4().hex[:12]
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, pg_admin.database_url(name)
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def readonly_sqlite():
    """A migrated SQLite file that user nobody may read but not write (its WAL files may be made).

    A folder of its own in /tmp: pytest's folders are private to root, and nobody must reach it.
    """
    folder = Path(tempfile.mkdtemp(prefix="suitehealth-ro-"))
    try:
        yield _readonly_sqlite(folder)
    finally:
        shutil.rmtree(folder)


def _readonly_sqlite(folder: Path) -> tuple[str, str, Path]:
    os.chmod(folder, 0o777)
    path = folder / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    token = create_token(engine, "shop")[1]
    engine.dispose()
    os.chmod(path, 0o444)
    report = folder / "r.json"
    report.write_bytes(pytest_json())
    os.chmod(report, 0o644)
    return f"sqlite:///{path}", token, report


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here",
                                 "sqlite:////proc/no/such/folder/x.db"])
@pytest.mark.parametrize("extra", [[], ["--no-worker"]])
def test_serve_with_a_missing_database_prints_one_line(url, extra):
    result = _cli("--db", url, "serve", "--port", "1", *extra)
    _one_clear_line(result, "no" if "sqlite" in url else "does not exist")


def test_ingest_into_a_read_only_sqlite_file_is_one_line(readonly_sqlite):
    url, _, report = readonly_sqlite
    result = _cli("--db", url, "ingest", str(report), "--project", "shop", user=NOBODY)
    _one_clear_line(result, "readonly database")


def test_ingest_into_a_read_only_postgresql_database_is_one_line(pg_database, pg_admin):
    name, url = pg_database
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    pg_admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    report = Path(f"/tmp/{name}.json")
    report.write_bytes(pytest_json())
    try:
        result = _cli("--db", url, "ingest", str(report), "--project", "shop")
    finally:
        report.unlink()
    _one_clear_line(result, "read-only transaction")


def test_upload_to_a_read_only_sqlite_file_is_503_and_healthz_says_read_only(readonly_sqlite):
    url, token, report = readonly_sqlite
    server = NobodyServer(url, user=NOBODY)
    try:
        health = server.get("/healthz")
        upload = server.post("/api/v1/projects/shop/runs", files={"file": ("r.json", report.read_bytes())},
                             headers={"Authorization": f"Bearer {token}"})
        page = server.get("/api/v1/projects")
    finally:
        log = server.stop()
    # Not "ok": pages are still served, uploads are refused.
    assert (health.status_code, health.json()["status"]) == (200, "read-only"), log
    assert upload.status_code == 503, log
    assert upload.headers["Retry-After"] == "30"
    assert upload.json()["error"] == "database unavailable; try again shortly"
    assert page.status_code == 200  # reading still works
    assert "Traceback" not in log


def test_database_gone_under_a_running_server_is_503_with_retry_after(pg_database, pg_admin):
    name, url = pg_database
    engine = make_engine(url)
    ensure_schema(engine)
    token = create_token(engine, "shop")[1]
    engine.dispose()
    server = NobodyServer(url, workers=2)
    try:
        before = [server.get(p).status_code for p in ("/healthz", "/", "/api/v1/projects")]
        pg_admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        paths = ["/", "/api/v1/projects", "/projects/shop", "/api/v1/projects/shop/runs", "/healthz"]
        after = {p: server.get(p) for p in paths}
        upload = server.post("/api/v1/projects/shop/runs", files={"file": ("r.json", pytest_json())},
                             headers={"Authorization": f"Bearer {token}"})
    finally:
        log = server.stop()
    assert before == [200, 200, 200]
    assert {p: a.status_code for p, a in after.items()} == dict.fromkeys(paths, 503), log
    assert all(a.headers.get("Retry-After") == "30" for a in after.values())
    assert after["/healthz"].json() == {"status": "unavailable", "error": "database unavailable"}
    assert name not in after["/healthz"].text
    assert (upload.status_code, upload.headers.get("Retry-After")) == (503, "30")
