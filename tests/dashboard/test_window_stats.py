"""The per-test window statistics the refresh stores (pyramid and its trend, slowest tests, regressions)
equal a computation from the results: after many incremental worker passes, after one pass from
scratch, and as the pages show them with and without the stored rows. Both backends.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import timedelta

import pytest
from history import START, case, store_run
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from dashboard.analysis import run_cache, window_stats
from dashboard.analysis.budget import duration_regressions, slowest_tests
from dashboard.analysis.pyramid import pyramid_levels
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.window import Window
from dashboard.analysis.window_refresh import current_windows, window_rows
from dashboard.worker import run_once
from ingest.analysis_models import StatWindow, TestWindowStats
from ingest.db import write_transaction
from ingest.models import Project, Test

SUITES = ("unit", "e2e")
UNIT = [f"tests/unit/test_m{i // 4}.py::test_{i}" for i in range(12)]
E2E = [f"tests/e2e/test_flow.py::test_{i}" for i in range(5)]
SHARED = "tests/test_shared.py::test_in_both_suites"
GROWS = "tests/e2e/test_flow.py::test_3"  # steps from ~1 s to ~3 s half-way: a regression


def _store_runs(engine, days: range, rng: random.Random, *, project: str = "shop") -> list[int]:
    """Store a unit run and an e2e run per day of ``days``: durations vary, one e2e test regresses,
    some results fail or are skipped, and one test runs in both suites."""
    ids = []
    for day in days:
        at = START + timedelta(days=day)
        unit = [case(n, "skipped", 0.0) if i == 5 else case(n, duration=round(rng.uniform(0.01, 0.2), 4))
                for i, n in enumerate(UNIT)]
        unit.append(case(SHARED, duration=round(rng.uniform(0.5, 1.5), 4)))
        if day % 7 == 3:
            unit[2] = case(UNIT[2], "failed", 0.3, message="AssertionError: flaky")
        ids.append(store_run(engine, project, "unit", unit, started_at=at, duration_s=5.0))
        e2e = []
        for n in E2E:
            base = 3.0 if n == GROWS and day >= 40 else 1.0
            e2e.append(case(n, duration=round(base * rng.uniform(0.9, 1.1), 4)))
        e2e.append(case(SHARED, duration=round(rng.uniform(2.0, 4.0), 4)))
        ids.append(store_run(engine, project, "e2e", e2e, started_at=at + timedelta(hours=2),
                             duration_s=20.0))
    return ids


def _project_id(engine, name: str = "shop") -> int:
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == name))


def stored_windows(engine, project_id: int) -> dict:
    """Return the project's stored windows comparably: (kind, fingerprint) -> (runs, rows by node id)."""
    with Session(engine) as s:
        names = dict(s.execute(select(Test.id, Test.nodeid)).all())
        out = {}
        for w in s.scalars(select(StatWindow).where(StatWindow.project_id == project_id)):
            rows = sorted(
                (names[r.test_id], r.runs, r.typical_s, r.mean_s, r.median_s, r.first_week, r.last_week,
                 r.before_s, r.after_s, r.step_run_id)
                for r in s.scalars(select(TestWindowStats).where(TestWindowStats.window_id == w.id)))
            out[(w.kind, w.fingerprint)] = (w.runs, rows)
    return out


def page_numbers(engine, project_id: int, since=None, until=None) -> dict:
    """Return what the pyramid and budget pages show of the per-test statistics (?since= &until= days)."""
    window = Window.from_dates(since, until)
    with Session(engine) as s:
        return {
            "pyramid": asdict(pyramid_levels(s, project_id, window)),
            **{f"slowest {suite}": slowest_tests(s, project_id, window, suite=suite) for suite in SUITES},
            **{f"regressions {suite}": duration_regressions(s, project_id, window, suite=suite)
               for suite in SUITES},
        }


def _drop_windows(engine, project_id: int) -> None:
    with write_transaction(engine) as s:
        s.execute(delete(StatWindow).where(StatWindow.project_id == project_id))


def test_windows_after_incremental_worker_passes_equal_one_pass_from_scratch(engine):
    rng = random.Random(11)
    for first in range(0, 84, 12):  # twelve days of uploads between worker passes, then one more day
        _store_runs(engine, range(first, first + 12), rng)
        run_once(engine)
    pid = _project_id(engine)
    incremental = stored_windows(engine, pid)
    # Only the current windows are kept: the pyramid (with its trend), two windows per suite.
    per_suite = [window_stats.SLOWEST, window_stats.REGRESSIONS] * 2
    assert sorted(kind for kind, _key in incremental) == sorted([window_stats.PYRAMID, *per_suite])
    assert all(rows for (kind, _key), (_runs, rows) in incremental.items()
               if kind != window_stats.REGRESSIONS)
    regressed = [row[0] for (kind, _key), (_runs, rows) in incremental.items()
                 if kind == window_stats.REGRESSIONS for row in rows]
    assert regressed == [GROWS]

    _drop_windows(engine, pid)
    refresh_project(engine, pid)
    assert stored_windows(engine, pid) == incremental

    # And each stored row is what the statistics computed from the results are now.
    with Session(engine) as s:
        for window in current_windows(s, pid):
            computed = window_rows(s, pid, window)
            found = window_stats.stored(s, pid, window.kind, window.key, (TestWindowStats.runs,))
            assert found is not None and sorted(r[0] for r in found) == sorted(r["test_id"] for r in computed)


def test_pages_show_the_same_numbers_from_stored_windows_as_from_the_results(engine):
    _store_runs(engine, range(0, 70), random.Random(5))
    pid = _project_id(engine)
    computed = page_numbers(engine, pid)  # nothing stored yet: from the results
    run_once(engine)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(StatWindow)) == 5
    assert page_numbers(engine, pid) == computed
    assert computed["regressions e2e"][0].nodeid == GROWS
    assert {t.nodeid for t in computed["slowest unit"]} >= {SHARED}


def test_pages_read_the_stored_rows_when_their_window_matches(engine):
    """Proof that the stored path is taken: a stored value changed by hand shows on the page."""
    _store_runs(engine, range(0, 30), random.Random(3))
    run_once(engine)
    pid = _project_id(engine)
    with Session(engine) as s:
        slow = s.scalar(select(StatWindow.id).where(StatWindow.kind == window_stats.SLOWEST).limit(1))
        shared_id = s.scalar(select(Test.id).where(Test.nodeid == SHARED))
        typical = s.scalar(select(StatWindow.id).where(StatWindow.kind == window_stats.PYRAMID))
    with write_transaction(engine) as s:
        s.execute(update(TestWindowStats).where(TestWindowStats.window_id == slow,
                                                TestWindowStats.test_id == shared_id)
                  .values(mean_s=1e6, median_s=1e6))
        s.execute(update(TestWindowStats).where(TestWindowStats.window_id == typical,
                                                TestWindowStats.test_id == shared_id)
                  .values(typical_s=1e6))
    numbers = page_numbers(engine, pid)
    assert 1e6 in [t.median_s for suite in SUITES for t in numbers[f"slowest {suite}"]]
    assert 1e6 in [t["typical_s"] for t in numbers["pyramid"]["classified"]]


def test_a_window_not_stored_is_computed_from_the_results(engine):
    rng = random.Random(7)
    _store_runs(engine, range(0, 50), rng)
    run_once(engine)
    pid = _project_id(engine)
    # Another window than the default one, and a run the worker has not analysed yet.
    other = {"since": (START + timedelta(days=10)).date(), "until": (START + timedelta(days=45)).date()}
    with_stored = page_numbers(engine, pid, **other)
    _store_runs(engine, range(50, 51), rng)
    behind = page_numbers(engine, pid)
    _drop_windows(engine, pid)
    assert page_numbers(engine, pid, **other) == with_stored
    assert page_numbers(engine, pid) == behind


@pytest.mark.parametrize("page", ["pyramid", "budget?suite=e2e", "budget?suite=unit"])
def test_json_twins_agree_before_and_after_the_worker_stored_the_windows(engine, client, page):
    _store_runs(engine, range(0, 45), random.Random(9))
    url = f"/api/v1/projects/shop/{page}"
    run_cache.clear()
    before = client.get(url).get_json()
    run_once(engine)
    run_cache.clear()
    after = client.get(url).get_json()
    assert after == before
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(StatWindow)) == 5
    html = client.get(url.replace("/api/v1", ""))
    assert html.status_code == 200


def test_a_worker_fills_in_missing_windows_without_waiting_for_a_new_run(engine):
    """A database upgraded to stored windows (or whose windows were dropped) gets them on the next pass."""
    _store_runs(engine, range(0, 20), random.Random(13))
    run_once(engine)
    pid = _project_id(engine)
    stored = stored_windows(engine, pid)
    _drop_windows(engine, pid)
    refreshed = run_once(engine)
    assert [r.run_ids for r in refreshed] == [()]  # no run to analyse, yet the windows are back
    assert stored_windows(engine, pid) == stored
