"""`suitehealth ingest` into an up-to-date SQLite file runs on bare sqlite3, without importing
SQLAlchemy, and stores byte for byte what the SQLAlchemy path stores; anything else (a fresh or
outdated file, PostgreSQL, an unusual URL) still goes through SQLAlchemy, which migrates."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_helpers import CORPUS

from ingest.db import ensure_schema, head_revision, make_engine, open_current_sqlite, upgrade
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.sqlexec import SqliteExecutor
from ingest.store import ingest_sources

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = DATA / "upload" / "python-xunit-pytest.xml"
# SQLAlchemy's SQLite DateTime text, which both paths must write.
SA_DATETIME = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}'")


def _hostile_json() -> bytes:
    """A pytest-json report that hits the limits: NUL, a 9 KB node id, huge messages, bad numbers."""
    report = json.loads((CORPUS / "pytest-json-report" / "sample_report.json").read_bytes())
    tests = report["tests"]
    tests[0]["nodeid"] = "t.py::test_\x00nul"
    tests[0]["keywords"] = ["slow\x00", "m" * 300, *(f"k{i}" for i in range(150))]
    tests[1]["nodeid"] = "t.py::test_b[" + "測" * 3000 + "]"
    tests[1]["call"]["longrepr"] = "E   " + "x" * 100_000
    tests[1]["call"]["crash"]["message"] = "boom " * 2_000
    tests[2]["setup"]["duration"] = -5
    tests[2]["call"]["duration"] = 1e300
    tests.append(dict(tests[1]))  # the same (clipped) test again: a rerun
    report["created"] = 4e10  # far in the future: unknown, not stored
    report["root"] = "/src\x00/app"
    return json.dumps(report).encode()


# (files, run metadata) ingested one after another into one database: several dialects, shards of
# one run, reruns, known tests on a second run of a project, markers, workers, hosts, warnings, limits.
RUNS = [
    (["pytest/python-xunit-pytest.xml"], {"project": "shop", "suite": "unit", "branch": "main",
                                          "commit": "a" * 40, "build_url": "https://ci.example/1"}),
    (["maven-surefire/surefire2-rerunFailure.xml", "maven-surefire/surefire3-FlakyTest-mixed.xml"],
     {"project": "shop", "suite": "java"}),
    (["jest-junit/jest-junit.xml"], {"project": "web", "suite": "js"}),
    (["go-junit-report/go-junit-report-v2.xml"], {"project": "svc", "suite": "go"}),
    (["cargo-nextest/fixture-project-junit.xml"], {"project": "svc", "suite": "rust"}),
    (["../upload/pytest-xunit2-setup-teardown-errors-reruns.xml"], {"project": "shop", "suite": "unit"}),
    (["pytest-json-report/PythonBasicTools-xdist.report.json"], {"project": "shop", "suite": "unit"}),
    (["pytest-reportlog/launchable-report-log.json"], {"project": "shop", "suite": "log"}),
    (["playwright/report.xml"], {"project": "web", "suite": "e2e"}),
    (["handwritten/junit.multiresult.xml"], {"project": "web", "suite": "e2e"}),
    (["mocha-junit-reporter/02-example.xml"], {"project": "web", "suite": "js"}),  # a warning
    (["hostile.json"], {"project": "shop", "suite": "unit", "branch": "b" * 500,
                        "environment": {"ci": "gh\x00", "big": "v" * 5000}}),
    (["pytest/python-xunit-pytest.xml"], {"project": "shop", "suite": "unit"}),  # the same content again
]


def _sources(files: list[str]) -> list[ReportSource]:
    return [ReportSource.from_bytes(name, _hostile_json()) if name == "hostile.json"
            else ReportSource.from_path(CORPUS / name) for name in files]


def _migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    return url


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, each value as SQLite's quote() spells it (type and bytes)."""
    conn = sqlite3.connect(path)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        dump = {}
        for table in tables:
            columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'quote("{c}")' for c in columns)
            rows = conn.execute(f'SELECT {quoted} FROM "{table}" ORDER BY rowid').fetchall()
            dump[table] = [dict(zip(columns, row, strict=True)) for row in rows]
        return dump
    finally:
        conn.close()


def _without_clock(dump: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Replace the values that are the wall clock at ingest time, after checking their format.

    runs.ingested_at and projects.created_at are "now" when stored, so they differ between two
    ingests of the same report; runs.started_at is "now" too (the very same value as ingested_at)
    when neither the caller nor the report names a start. Nothing else is ignored.
    """
    for run in dump["runs"]:
        assert SA_DATETIME.fullmatch(run["ingested_at"]) and SA_DATETIME.fullmatch(run["started_at"])
        if run["started_at"] == run["ingested_at"]:
            run["started_at"] = "<now>"
        run["ingested_at"] = "<now>"
    for project in dump["projects"]:
        assert SA_DATETIME.fullmatch(project["created_at"])
        project["created_at"] = "<now>"
    return dump


def test_the_fast_path_stores_exactly_what_the_sqlalchemy_path_stores(tmp_path):
    fast_db, core_db = tmp_path / "fast.db", tmp_path / "core.db"
    fast_url = _migrated(fast_db)
    engine = make_engine(_migrated(core_db))
    fast = open_current_sqlite(fast_url)
    assert isinstance(fast, SqliteExecutor)
    try:
        for files, meta in RUNS:
            one = ingest_sources(fast, _sources(files), RunMeta(**meta))
            other = ingest_sources(engine, _sources(files), RunMeta(**meta))
            # started_at is compared in the rows below (it may be "now", which differs between the two).
            assert one.as_dict() | {"started_at": None} == other.as_dict() | {"started_at": None}
    finally:
        fast.close()
        engine.dispose()
    fast_rows, core_rows = _without_clock(_dump(fast_db)), _without_clock(_dump(core_db))
    assert fast_rows.keys() == core_rows.keys()
    for table in fast_rows:
        assert fast_rows[table] == core_rows[table], table
    # The corpus really exercised what the comparison is about.
    runs = fast_rows["runs"]
    assert len(runs) == len(RUNS) - 1  # the last one is a duplicate
    assert len(fast_rows["projects"]) == 3 and len(fast_rows["suites"]) == 7
    assert any(r["reruns"] != "0" for r in runs) and any(r["warnings"] != "NULL" for r in runs)
    assert any("hostnames" in r["environment"] for r in runs)
    assert any(t["markers"] not in ("'[]'", "NULL") for t in fast_rows["tests"])
    assert any(r["final"] == "0" for r in fast_rows["results"])
    assert any("␀" in t["nodeid"] for t in fast_rows["tests"])
    assert any("characters cut" in r["details"] for r in fast_rows["results"])
    assert any(r["started_at"] != "<now>" for r in runs) and any(r["started_at"] == "<now>" for r in runs)


def _cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run the console script's group in a fresh interpreter; return it and the SQL libraries it loaded."""
    probe = (
        "import sys\nfrom dashboard.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='suitehealth')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "loaded = [m for m in ('sqlalchemy', 'alembic') if m in sys.modules]\n"
        "print('LOADED ' + ','.join(loaded), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)
    line = next(line for line in proc.stderr.splitlines() if line.startswith("LOADED "))
    return proc, list(filter(None, line[len("LOADED "):].split(",")))


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_ingest_into_an_up_to_date_file_imports_no_sqlalchemy_and_is_idempotent(tmp_path):
    url = _migrated(tmp_path / "existing.db")
    args = ("--db", url, "ingest", str(SMALL), "--project", "shop", "--suite", "unit")
    proc, loaded = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 0 and "Stored run 1 (shop/unit): 10 tests" in proc.stdout, proc.stderr
    assert loaded == []
    proc, loaded = _cli(*args, "--json", cwd=tmp_path)
    assert proc.returncode == 0 and loaded == [], proc.stderr
    again = json.loads(proc.stdout)
    assert again | {"started_at": None, "duration_s": None} == {
        "run_id": 1, "project": "shop", "suite": "unit", "tests": 10, "passed": 6, "failed": 2, "errors": 0,
        "skipped": 1, "xfailed": 1, "xpassed": 0, "reruns": 0, "duration_s": None, "started_at": None,
        "duplicate": True, "files": 1}
    assert (_count(tmp_path / "existing.db", "runs"), _count(tmp_path / "existing.db", "results")) == (1, 10)


def test_bad_input_on_the_fast_path_names_the_file_exits_non_zero_and_stores_nothing(tmp_path):
    db = tmp_path / "existing.db"
    url = _migrated(db)
    bad = DATA / "upload" / "truncated-pytest.xml"
    # A good shard with a bad one: the one transaction stores neither (nor the new project).
    proc, loaded = _cli("--db", url, "ingest", str(SMALL), str(bad), "--project", "shop", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and "truncated-pytest.xml:" in error[0] and "invalid XML" in error[0]
    assert "Traceback" not in proc.stderr and loaded == []
    assert {t: _count(db, t) for t in ("projects", "suites", "runs", "tests", "results")} == dict.fromkeys(
        ("projects", "suites", "runs", "tests", "results"), 0)


def test_a_locked_database_on_the_fast_path_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dashboard.cli import main

    db = tmp_path / "existing.db"
    url = _migrated(db)
    monkeypatch.setattr("ingest.db.SQLITE_BUSY_TIMEOUT_MS", 200)  # wait 0.2 s for the lock, not 30
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for longer than we wait
        probe = open_current_sqlite(url)  # the lock does not turn ingest away from the fast path
        assert probe is not None
        probe.close()
        result = CliRunner().invoke(main, ["--db", url, "ingest", str(SMALL), "--project", "p"])
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: database {url}: database is locked"
    assert _count(db, "runs") == 0


def test_the_fast_path_is_taken_only_for_an_up_to_date_sqlite_file(tmp_path, pg_url):
    current = _migrated(tmp_path / "current.db")
    fast = open_current_sqlite(current)
    assert fast is not None
    fast.close()
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    sqlite3.connect(tmp_path / "empty.db").close()
    outdated = tmp_path / "outdated.db"
    engine = make_engine(f"sqlite:///{outdated}")
    upgrade(engine, _previous_revision())
    engine.dispose()
    for url in (f"sqlite:///{tmp_path / 'missing.db'}", f"sqlite:///{tmp_path / 'garbage.db'}",
                f"sqlite:///{tmp_path / 'empty.db'}", f"sqlite:///{outdated}", current + "?timeout=5",
                "sqlite://", "sqlite:///:memory:", pg_url, str(tmp_path)):
        assert open_current_sqlite(url) is None, url
    assert not (tmp_path / "missing.db").exists()  # looking did not create it


def _previous_revision() -> str:
    from alembic.script import ScriptDirectory

    from ingest.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(None))
    return script.get_revision(head_revision()).down_revision


@pytest.mark.parametrize("state", ["fresh", "outdated"])
def test_a_fresh_or_outdated_file_is_migrated_by_the_sqlalchemy_path(tmp_path, state):
    db = tmp_path / "suitehealth.db"
    if state == "outdated":
        engine = make_engine(f"sqlite:///{db}")
        upgrade(engine, _previous_revision())
        engine.dispose()
    proc, loaded = _cli("--db", f"sqlite:///{db}", "ingest", str(SMALL), "--project", "shop", cwd=tmp_path)
    assert proc.returncode == 0 and "Stored run 1 (shop/unit)" not in proc.stdout  # suite defaults
    assert "Stored run 1 (shop/default): 10 tests" in proc.stdout, proc.stderr
    assert "sqlalchemy" in loaded and "alembic" in loaded
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    finally:
        conn.close()
    # Now up to date: the next ingest takes the fast path.
    other = tmp_path / "other.xml"
    other.write_bytes(SMALL.read_bytes() + b"\n<!-- another run -->\n")
    proc, loaded = _cli("--db", f"sqlite:///{db}", "ingest", str(other), "--project", "shop", cwd=tmp_path)
    assert proc.returncode == 0 and "Stored run 2 (shop/default)" in proc.stdout and loaded == [], proc.stderr


@pytest.mark.parametrize("name", ["with space/a.db", "u@h:1/a.db", "a+b/=c.db"])
def test_the_fast_path_opens_the_file_sqlalchemy_opens_for_the_same_url(tmp_path, name):
    path = tmp_path / name
    url = _migrated(path)  # make_engine creates the folder, SQLAlchemy creates and migrates the file
    assert path.is_file()
    fast = open_current_sqlite(url)
    assert fast is not None
    try:
        assert fast.conn.execute("PRAGMA database_list").fetchone()[2] == str(path)
    finally:
        fast.close()


def test_concurrent_fast_path_ingests_of_one_report_store_it_once(tmp_path):
    db = tmp_path / "existing.db"
    url = _migrated(db)
    argv = [sys.executable, "-m", "dashboard.cli", "--db", url, "ingest", str(SMALL), "--project", "shop"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(4)]
    outputs = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    assert [code for _, _, code in outputs] == [0] * 4, outputs
    said = sorted(out.split(":")[0].strip() for out, _, _ in outputs)
    already = "Already stored as run 1 (shop/default); nothing added."
    assert said == [already] * 3 + ["Stored run 1 (shop/default)"]
    assert (_count(db, "runs"), _count(db, "tests"), _count(db, "results")) == (1, 10, 10)
