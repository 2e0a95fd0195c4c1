"""The CLI commands a CI step runs start without the dashboard's heavy libraries: `suitehealth --help`,
`--version`, `ingest` of a small report and `upload` import none of pandas, scipy, plotly or Flask
(each command imports those only when it runs, e.g. `report weekly`, `serve`, `worker`); nor does
`ingest` into an SQLite file already at the newest schema import SQLAlchemy."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[1] / "data" / "upload" / "python-xunit-pytest.xml"
HEAVY = ("pandas", "scipy", "plotly", "flask", "numpy")
SQL = ("sqlalchemy", "alembic")
# Runs the console script's group in a fresh interpreter, then prints the heavy modules it loaded.
PROBE = (
    "import sys\nfrom dashboard.cli import main\n"
    "try:\n    main(sys.argv[1:], prog_name='suitehealth')\n"
    "except SystemExit as exit:\n    code = exit.code\n"
    f"print('LOADED ' + ','.join(m for m in {HEAVY + SQL!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _loaded(*args: str, sql: bool = False) -> tuple[set[str], subprocess.CompletedProcess]:
    """Return the heavy modules (and with ``sql``, SQLAlchemy and Alembic) a command loaded."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    line = next(line for line in proc.stderr.splitlines() if line.startswith("LOADED "))
    loaded = set(filter(None, line[len("LOADED "):].split(",")))
    return (loaded if sql else loaded - set(SQL)), proc


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"run_id": 7, "project": "shop", "suite": "unit", "tests": 10, "duplicate": False,
                           "url": "http://ci.example/projects/shop/runs/7"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("worker", "--help"), ("serve", "--help")])
def test_help_and_version_import_no_heavy_library(args):
    loaded, proc = _loaded(*args, sql=True)
    assert proc.returncode == 0, proc.stderr
    assert loaded == set()


def test_ingest_of_a_small_report_imports_no_heavy_library(tmp_path):
    loaded, proc = _loaded("--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "ingest", str(REPORT),
                           "--project", "shop", "--suite", "unit")
    assert proc.returncode == 0 and "Stored run 1 (shop/unit)" in proc.stdout, proc.stderr
    assert loaded == set()


def test_ingest_into_an_up_to_date_sqlite_file_imports_no_sqlalchemy(tmp_path):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    loaded, proc = _loaded("--db", db, "db", "upgrade", sql=True)  # as after a CI job's first ingest
    assert proc.returncode == 0 and {"sqlalchemy", "alembic"} <= loaded, proc.stderr
    loaded, proc = _loaded("--db", db, "ingest", str(REPORT), "--project", "shop", "--suite", "unit",
                           sql=True)
    assert proc.returncode == 0 and "Stored run 1 (shop/unit)" in proc.stdout, proc.stderr
    assert loaded == set()


def test_upload_imports_no_heavy_library(receiver):
    loaded, proc = _loaded("upload", "--server", receiver, "--token", "sh_x", "--project", "shop",
                           "--retries", "0", str(REPORT), sql=True)
    assert proc.returncode == 0 and "run 7" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert loaded == set()


def test_a_command_that_needs_them_still_gets_them(tmp_path):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    loaded, proc = _loaded("--db", db, "report", "weekly", "--project", "x")
    assert proc.returncode == 1 and "no project named 'x'" in proc.stderr
    assert "scipy" in loaded  # imported when the command ran (the probe does see them), not at start-up
