"""Concurrent analysis refreshes: computed without the write lock, stored once, never a run lost."""

from __future__ import annotations

import threading

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session
from stored_analysis import from_scratch, stored_analysis
from synthetic_ci import _meta, unit_and_xdist_history

from dashboard.analysis.freshness import needs_refresh
from dashboard.analysis.updates import analyse_pending, apply_pending, refresh_project
from ingest.db import write_transaction
from ingest.models import Project, Result, Run
from ingest.store import store_cases

PROJECT = "race"


def _store(engine, suite: str, index: int, cases) -> int:
    meta = _meta(PROJECT, suite, index)
    return store_cases(engine, meta, cases, content_hash=f"{suite}-{index}").run_id


def _project_id(engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == PROJECT))


def test_two_refreshers_racing_uploads_store_the_same_analysis_as_one_passfrom_scratch(engine):
    history = unit_and_xdist_history(24, seed=11)
    first = next(history)
    run_ids = [_store(engine, *first)]
    project_id = _project_id(engine)
    done = threading.Event()
    errors: list[BaseException] = []

    def uploader() -> None:
        try:
            for item in history:
                run_ids.append(_store(engine, *item))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def refresher() -> None:
        try:
            while not done.is_set():
                refresh_project(engine, project_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=uploader)] + [threading.Thread(target=refresher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    refresh_project(engine, project_id)  # the runs stored after the refreshers' last pass

    incremental = stored_analysis(engine, project_id)
    assert [r[0] for r in incremental["runs"]] == sorted(run_ids)  # each run analysed exactly once
    assert incremental["watermark"] == max(run_ids)
    assert incremental["suspects"], "the planted polluters must give the comparison something to compare"
    assert incremental == from_scratch(engine, project_id)


def test_a_refresh_overtaken_by_another_is_discarded_and_nothing_is_applied_twice(engine):
    history = unit_and_xdist_history(10, seed=5)
    for _ in range(8):
        _store(engine, *next(history))
    project_id = _project_id(engine)
    stale = analyse_pending(engine, project_id)
    assert stale is not None

    for item in history:  # more uploads, and another refresher stores everything first
        _store(engine, *item)
    refresh_project(engine, project_id)
    before = stored_analysis(engine, project_id)

    assert apply_pending(engine, stale) is False
    assert stored_analysis(engine, project_id) == before
    with Session(engine) as s:
        total_runs = s.scalar(select(func.count(Run.id)).where(Run.project_id == project_id))
    assert len(before["runs"]) == total_runs
    assert before == from_scratch(engine, project_id)


def test_a_pending_refresh_nobody_overtook_is_stored_and_advances_the_watermark(engine):
    history = unit_and_xdist_history(6, seed=3)
    ids = [_store(engine, *item) for item in history]
    project_id = _project_id(engine)

    pending = analyse_pending(engine, project_id)
    assert pending is not None and pending.watermark == 0
    assert apply_pending(engine, pending) is True
    assert analyse_pending(engine, project_id) is None
    stored = stored_analysis(engine, project_id)
    assert stored["watermark"] == max(ids)
    assert stored == from_scratch(engine, project_id)


def _renumber_run(engine, old_id: int, new_id: int) -> None:
    """Give a stored run a lower id, as when its upload took its id first but committed last."""
    runs, results = Run.__table__, Result.__table__
    with write_transaction(engine) as s:
        row = dict(s.execute(select(runs).where(runs.c.id == old_id)).mappings().one())
        s.execute(update(runs).where(runs.c.id == old_id).values(content_hash=row["content_hash"] + "-old"))
        s.execute(insert(runs).values({**row, "id": new_id}))
        s.execute(update(results).where(results.c.run_id == old_id).values(run_id=new_id))
        s.execute(delete(runs).where(runs.c.id == old_id))


def test_a_run_committed_below_the_watermark_is_still_analysed_once(engine):
    history = unit_and_xdist_history(4, seed=9)
    ids = [_store(engine, *next(history)) for _ in range(3)]
    project_id = _project_id(engine)
    with write_transaction(engine) as s:  # leave a gap in the ids, like a rolled-back upload
        s.execute(delete(Run).where(Run.id == ids[1]))
    refresh_project(engine, project_id)
    assert stored_analysis(engine, project_id)["watermark"] == ids[2]

    late = _store(engine, *next(history))
    _renumber_run(engine, late, ids[1])
    with Session(engine) as s:
        assert needs_refresh(s, project_id)
    refresh_project(engine, project_id)

    stored = stored_analysis(engine, project_id)
    assert [r[0] for r in stored["runs"]] == sorted([ids[0], ids[1], ids[2]])
    with Session(engine) as s:
        assert not needs_refresh(s, project_id)
    assert analyse_pending(engine, project_id) is None
