"""A real project's real order-dependent tests, found from its CI-like history alone.

tests/data/realworld/alphanum_code/ holds 40 JUnit reports of alphanum-code 0.1.1's own test suite
run here in random order (tools/realworld/run_alphanum_code.sh). iPFlakies reported its
test_next_code as brittle with state-setter test_init_code, found by re-running; we must name the
same pair (and the mirror image: test_next_code pollutes test_init_code) from the reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.flaky import flaky_tests
from dashboard.analysis.interference import suspects_and_notes
from dashboard.worker import run_once
from ingest.models import Project
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

REPORTS = Path(__file__).resolve().parents[1] / "data" / "realworld" / "alphanum_code"
INIT = "tests/test_alphanum_code.py::test_init_code"
NEXT = "tests/test_alphanum_code.py::test_next_code"


def _ingest_all(engine) -> int:
    reports = sorted(REPORTS.glob("run-*.xml"))
    assert len(reports) >= 30
    for i, path in enumerate(reports):
        meta = RunMeta(
            project="alphanum-code",
            suite="tests",
            branch="main",
            commit="v0.1.1",
            started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i),
        )
        ingest_sources(engine, [ReportSource.from_path(path)], meta)
    run_once(engine)
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == "alphanum-code"))


def test_known_state_setter_and_polluter_of_alphanum_code_are_found_from_reports(engine):
    project_id = _ingest_all(engine)
    with Session(engine) as s:
        suspects, notes = suspects_and_notes(s, project_id)
        flaky = {t.nodeid: t for t in flaky_tests(s, project_id)}
    found = {(x.victim, x.kind, tuple(x.polluters)) for x in suspects}
    assert found == {(NEXT, "state-setter", (INIT,)), (INIT, "polluter", (NEXT,))}
    assert all(x.confidence > 0.95 and x.evidence["consistent"] for x in suspects)
    assert notes == []
    # Same commit, passing and failing: both are flaky, never broken.
    assert set(flaky) == {INIT, NEXT}
    assert all(t.same_commit_flakes + t.flakes > 0 for t in flaky.values())
