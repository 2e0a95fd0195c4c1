"""The fast store paths: batch boundaries, a project's first run, sparse columns, schema check."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import db as ingest_db
from ingest import models as m
from ingest import store
from ingest.models import Result, Run
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases


def _results(engine, run_id: int) -> list[tuple]:
    with Session(engine) as session:
        return [tuple(r) for r in session.execute(
            select(m.Test.nodeid, Result.order_index, Result.attempt, Result.final, Result.outcome,
                   Result.worker_id, Result.message)
            .join(m.Test, m.Test.id == Result.test_id).where(Result.run_id == run_id)
            .order_by(Result.order_index)
        ).all()]


def test_reruns_across_batches_of_a_projects_first_run_are_numbered(engine, monkeypatch):
    # Batches of 2: the repeats of "a" land in later batches, after "a" was created by this run.
    monkeypatch.setattr(store, "BATCH_SIZE", 2)
    cases = [
        CaseRecord("t.py::a", "failed"), CaseRecord("t.py::b", "passed"),
        CaseRecord("t.py::c", "passed"), CaseRecord("t.py::a", "failed"),
        CaseRecord("t.py::a", "passed"), CaseRecord("t.py::d", "skipped"),
    ]
    summary = store_cases(engine, RunMeta(project="fresh"), cases)
    assert (summary.tests, summary.passed, summary.skipped, summary.reruns) == (4, 3, 1, 2)
    assert _results(engine, summary.run_id) == [
        ("t.py::a", 0, 1, False, "failed", None, None),
        ("t.py::b", 1, 1, True, "passed", None, None),
        ("t.py::c", 2, 1, True, "passed", None, None),
        ("t.py::a", 3, 2, False, "failed", None, None),
        ("t.py::a", 4, 3, True, "passed", None, None),
        ("t.py::d", 5, 1, True, "skipped", None, None),
    ]
    with Session(engine) as session:
        assert session.scalar(select(Run.rerun_passed).where(Run.id == summary.run_id)) == 1
        assert sorted(session.scalars(select(m.Test.nodeid))) == ["t.py::a", "t.py::b", "t.py::c", "t.py::d"]


def test_a_second_run_reuses_known_tests_and_creates_only_new_ones(engine, monkeypatch):
    monkeypatch.setattr(store, "BATCH_SIZE", 2)
    first = store_cases(engine, RunMeta(project="p"), [CaseRecord("t.py::a", "passed"),
                                                       CaseRecord("t.py::b", "passed")])
    with Session(engine) as session:
        ids = dict(session.execute(select(m.Test.nodeid, m.Test.id)).all())
    second = store_cases(engine, RunMeta(project="p"), [
        CaseRecord("t.py::new", "passed"), CaseRecord("t.py::b", "failed", message="boom"),
        CaseRecord("t.py::a", "passed", markers=("slow",)),
    ])
    assert second.run_id != first.run_id and (second.tests, second.failed) == (3, 1)
    with Session(engine) as session:
        after = dict(session.execute(select(m.Test.nodeid, m.Test.id)).all())
        markers = session.scalar(select(m.Test.markers).where(m.Test.nodeid == "t.py::a"))
    assert {n: after[n] for n in ids} == ids and set(after) == {"t.py::a", "t.py::b", "t.py::new"}
    assert markers == ["slow"]
    assert [r[0] for r in _results(engine, second.run_id)] == ["t.py::new", "t.py::b", "t.py::a"]


def test_columns_present_in_only_some_batches_are_stored_where_given(engine, monkeypatch):
    # One batch has worker ids, phases and a message, the next has none: both must land right.
    monkeypatch.setattr(store, "BATCH_SIZE", 2)
    cases = [
        CaseRecord("t.py::a", "failed", worker_id="gw0", setup_s=0.5, call_s=1.0, teardown_s=0.25,
                   start=100.0, stop=101.75, message="E  assert 1 == 2", duration_s=1.75),
        CaseRecord("t.py::b", "passed", worker_id="gw1", start=100.5, stop=102.0, duration_s=1.5),
        CaseRecord("t.py::c", "passed"),
        CaseRecord("t.py::d", "passed", duration_s=0.5),
    ]
    summary = store_cases(engine, RunMeta(project="p"), cases)
    with Session(engine) as session:
        run = session.get(Run, summary.run_id)
        assert (run.workers, run.test_time_s, run.setup_time_s, run.call_time_s) == (2, 3.75, 0.5, 1.0)
        assert run.duration_s == 2.0  # the span from the first start to the last stop
        rows = session.execute(
            select(Result.worker_id, Result.setup_s, Result.start_ts, Result.message, Result.duration_s)
            .where(Result.run_id == summary.run_id).order_by(Result.order_index)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("gw0", 0.5, 100.0, "E  assert 1 == 2", 1.75),
        ("gw1", None, 100.5, None, 1.5),
        (None, None, None, None, None),
        (None, None, None, None, 0.5),
    ]


def test_long_messages_are_clipped_keeping_head_and_tail(engine):
    text = "head " + "x" * 10_000 + " tail"
    summary = store_cases(engine, RunMeta(project="p"), [CaseRecord("t.py::a", "failed", message=text)])
    with Session(engine) as session:
        stored = session.scalar(select(Result.message).where(Result.run_id == summary.run_id))
    assert stored.startswith("head ") and stored.endswith(" tail") and len(stored) < 4_100


def test_head_revision_read_from_the_files_equals_alembics_head(engine):
    from alembic.script import ScriptDirectory

    alembic_head = ScriptDirectory.from_config(ingest_db.alembic_config(engine)).get_current_head()
    assert ingest_db.head_revision() == alembic_head
    assert ingest_db.current_revision(engine) == alembic_head


def test_ensure_schema_on_an_empty_database_migrates_it(tmp_path):
    engine = ingest_db.make_engine(f"sqlite:///{tmp_path}/new.sqlite")
    assert ingest_db.current_revision(engine) is None
    ingest_db.ensure_schema(engine)
    assert ingest_db.current_revision(engine) == ingest_db.head_revision()
    assert ingest_db.has_schema(engine)
