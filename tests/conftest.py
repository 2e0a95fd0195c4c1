"""Shared fixtures: real SQLite files, a private PostgreSQL schema per test, the app, the CLI,
a real gunicorn server and a real Chromium.

PostgreSQL: $SUITEHEALTH_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Every test that uses it gets its own schema, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ingest.db import ensure_schema, make_engine

# pytester drives the suitehealth pytest plugin in tests/plugin (it must be declared at the top level).
pytest_plugins = ["pytester"]

PG_URL = os.environ.get("SUITEHEALTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("SUITEHEALTH_TEST_CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()) or "db_url" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            if callspec and callspec.params.get("db_url") == "postgresql":
                item.add_marker(pytest.mark.postgres)


# ---- databases ------------------------------------------------------------------------------

def _pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'suitehealth.db'}"


class PgAdmin:
    """Autocommitted statements on the test PostgreSQL server, and the URLs of its other databases."""

    def __init__(self):
        self.engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")

    def execute(self, sql: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(text(sql))

    def database_url(self, name: str) -> str:
        return PG_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_admin():
    """A PgAdmin: pg_admin.execute('CREATE DATABASE ...'), pg_admin.database_url(name)."""
    admin = PgAdmin()
    yield admin
    admin.engine.dispose()


@pytest.fixture
def pg_url(pg_admin):
    """URL of a fresh PostgreSQL schema, dropped after the test."""
    schema = "t_" + uuid.uuid4().hex[:16]
    pg_admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_schema_url(schema)
    finally:
        pg_admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """A fresh database URL, once per backend: tests using it run on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database (both backends)."""
    eng = make_engine(db_url)
    ensure_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    eng = make_engine(sqlite_url)
    ensure_schema(eng)
    yield eng
    eng.dispose()


# ---- app, client, CLI -----------------------------------------------------------------------

@pytest.fixture
def app(engine):
    from dashboard import create_app

    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(db_url):
    """Invoke the suitehealth CLI against the test database: cli("ingest", "x.xml", "--project", "p")."""
    from dashboard.cli import main

    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, ["--db", db_url, *map(str, args)], catch_exceptions=False, **kwargs)

    return invoke


# ---- real server and browser ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webhook_receiver():
    """A real local HTTP server recording every POST: .url, .requests [(path, content type, JSON body)],
    .bodies [JSON body]. A POST to /broken answers 500."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    seen = SimpleNamespace(requests=[], bodies=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.requests.append((self.path, self.headers["Content-Type"], body))
            seen.bodies.append(body)
            self.send_response(500 if self.path == "/broken" else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield seen
    server.shutdown()


@pytest.fixture
def tcp_port() -> int:
    """A free loopback port (a fixture: test modules cannot import this conftest by name reliably)."""
    return free_port()


class Server:
    """A `suitehealth serve` process (real gunicorn) on a loopback port (a free one unless given)."""

    def __init__(self, db_url: str, workers: int = 2, env: dict | None = None, port: int | None = None,
                 no_worker: bool = False, host: str = "127.0.0.1"):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")
        self.proc = subprocess.Popen(
            [exe, "--db", db_url, "serve", "--host", host, "--port", str(self.port),
             "--workers", str(workers), *(["--no-worker"] if no_worker else [])],
            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Its own process group: stop() ends gunicorn's workers and the analysis worker too,
            # so no orphan keeps the output pipe open.
            start_new_session=True,
        )
        self._wait_ready()

    # Generous: on a loaded 2-CPU machine a cold start (imports, migrations) can take a while.
    def _wait_ready(self, attempts: int = 1200) -> None:
        for _ in range(attempts):
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.proc.stdout.read().decode(errors="replace"))
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _kill_group(self.proc.pid)
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""


def _kill_group(pgid: int) -> None:
    """Kill whatever is left of a server's process group (the master has exited by now)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def server_factory():
    """Start real servers: server_factory(db_url, workers=4); all are stopped after the test.

    ``port`` restarts a server where a stopped one listened; ``no_worker`` starts no analysis worker;
    ``host`` is the address it binds (it is always reached on 127.0.0.1).
    """
    started: list[Server] = []

    def start(db_url: str, workers: int = 2, env: dict | None = None, port: int | None = None,
              no_worker: bool = False, host: str = "127.0.0.1") -> Server:
        server = Server(db_url, workers, env, port, no_worker, host)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()
