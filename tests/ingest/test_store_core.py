"""The store writes runs through SQLAlchemy's Core: what it stores reads back the same through the ORM."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import store
from ingest.db import ensure_schema, make_engine
from ingest.models import Project, Result, Run, Suite, Test
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_stores_table_names_are_the_models():
    assert (store.RUNS, store.TESTS, store.RESULTS) == (
        Run.__tablename__, Test.__tablename__, Result.__tablename__)


def test_a_run_stored_through_core_reads_back_through_the_orm_and_its_duplicate_says_the_same(engine):
    started = datetime(2026, 3, 4, 12, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    meta = RunMeta(project="owner/repo", suite="unit", branch="main", commit="abc123", build_id="7",
                   build_url="https://ci.example/7", started_at=started, duration_s=12.5,
                   environment={"ci": "github", "python": "3.11"})
    cases = [CaseRecord("t.py::a", "passed", duration_s=0.5), CaseRecord("t.py::b", "failed", message="boom"),
             CaseRecord("t.py::a", "passed", duration_s=0.25)]
    summary = store_cases(engine, meta, cases, content_hash="h1")
    with Session(engine) as session:
        run = session.get(Run, summary.run_id)
        assert run.project.name == "owner/repo" and run.suite.name == "unit"
        assert (run.branch, run.commit, run.build_id, run.build_url) == ("main", "abc123", "7", "https://ci.example/7")
        assert run.started_at == started and run.started_at.tzinfo is not None
        assert run.ingested_at.tzinfo is not None
        assert abs(run.ingested_at - datetime.now(UTC)) < timedelta(minutes=5)
        assert run.environment == {"ci": "github", "python": "3.11"}
        assert run.sources == ["records"] and run.formats == "records" and run.warnings is None
        assert (run.tests, run.passed, run.failed, run.reruns, run.rerun_passed) == (2, 1, 1, 1, 1)
        assert (run.duration_s, run.test_time_s, run.workers, run.content_hash) == (12.5, 0.75, 1, "h1")
        assert session.scalars(select(Project.name)).all() == ["owner/repo"]
        assert session.scalars(select(Suite.name)).all() == ["unit"]
    again = store.find_duplicate(engine, meta, "h1")
    assert again.as_dict() == {**summary.as_dict(), "duplicate": True}
    assert datetime.fromisoformat(again.started_at) == started


def test_a_second_suite_of_a_known_project_gets_its_own_row(engine):
    first = store_cases(engine, RunMeta(project="p", suite="unit"), [CaseRecord("t.py::a", "passed")])
    second = store_cases(engine, RunMeta(project="p", suite="e2e"), [CaseRecord("t.py::a", "passed")])
    with Session(engine) as session:
        runs = {r.id: (r.project_id, r.suite.name) for r in session.scalars(select(Run))}
    assert runs[first.run_id][0] == runs[second.run_id][0]
    assert {runs[first.run_id][1], runs[second.run_id][1]} == {"unit", "e2e"}


def test_the_ingest_command_loads_neither_the_orm_nor_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    ensure_schema(engine)  # a migrated database, as in CI after the first run
    engine.dispose()
    probe = (
        "import sys\nfrom dashboard.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='suitehealth')\n"
        "except SystemExit as exc:\n    assert not exc.code\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy.orm', 'ingest.models') if m in sys.modules))\n"
    )
    report = DATA / "upload" / "python-xunit-pytest.xml"
    proc = subprocess.run(
        [sys.executable, "-c", probe, "--db", url, "ingest", "--project", "p", str(report)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Stored run 1" in proc.stdout
    assert "LOADED []" in proc.stdout
