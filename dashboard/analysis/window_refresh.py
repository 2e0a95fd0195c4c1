"""Store the per-test window statistics that pages show by default (the writer of ``window_stats``).

Run by the refresh (``updates.refresh_project``) after the flakiness analysis: for the project's
default pyramid window (with its trend sample), and each suite's slowest-tests and regression windows, the
statistics are computed from the results once and stored under the window's fingerprint. Windows
stored before and no longer current are deleted; a window already stored is not computed again
(the results of a run never change, and ``reindex``, which rewrites them, deletes the windows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from dashboard.analysis import budget, pyramid, window_stats
from ingest.analysis_models import StatWindow, TestWindowStats
from ingest.db import write_transaction
from ingest.models import Suite


@dataclass(frozen=True)
class StoredWindow:
    """A window of runs the pages show by default: what it is, its fingerprint, and how to compute its
    rows (a set of runs, unlike ``analysis.window.Window``, a time range)."""

    kind: str
    key: str
    runs: int
    inputs: tuple


def current_windows(session: Session, project_id: int) -> Iterator[StoredWindow]:
    """Yield the windows the pages of the project show by default, as they would choose them now."""
    default = pyramid.default_window(session, project_id)
    if default is not None and default[0]:
        run_ids, index_of = default
        yield StoredWindow(window_stats.PYRAMID, pyramid.window_key(run_ids, index_of), len(run_ids),
                     (tuple(run_ids), tuple(sorted(index_of.items()))))
    for suite in session.scalars(select(Suite.name).where(Suite.project_id == project_id).order_by(Suite.id)):
        slow = [r[0] for r in budget._window_runs(session, project_id, suite, None, None, budget.SLOW_RUNS)]
        if slow:
            yield StoredWindow(window_stats.SLOWEST, window_stats.fingerprint(sorted(slow)), len(slow),
                               tuple(slow))
        order = [r[0] for r in budget._window_runs(session, project_id, suite, None, None,
                                                   budget.REGRESSION_RUNS)]
        if order:
            yield StoredWindow(window_stats.REGRESSIONS, window_stats.fingerprint(order), len(order),
                               tuple(order))


def window_rows(session: Session, project_id: int, window: StoredWindow) -> list[dict]:
    """Return the test rows of ``window``, computed from the results."""
    if window.kind == window_stats.PYRAMID:
        run_ids, index_of = window.inputs
        return pyramid.window_rows(session, list(run_ids), dict(index_of))
    if window.kind == window_stats.SLOWEST:
        return [{"test_id": tid, "mean_s": mean, "median_s": median, "runs": n}
                for tid, mean, median, n in budget.slow_stats(session, list(window.inputs))]
    if window.kind == window_stats.REGRESSIONS:
        return [{"test_id": tid, "before_s": before, "after_s": after, "step_run_id": run_id, "runs": n}
                for tid, before, after, run_id, n in budget.regressions_found(session, list(window.inputs))]
    raise ValueError(f"unknown window kind {window.kind!r}")


def stored_keys(session: Session, project_id: int) -> dict[tuple[str, str], int]:
    """Return {(kind, fingerprint): window id} of the project's stored windows."""
    rows = session.execute(select(StatWindow.kind, StatWindow.fingerprint, StatWindow.id)
                           .where(StatWindow.project_id == project_id))
    return {(kind, key): window_id for kind, key, window_id in rows}


def refresh_windows(engine: Engine, project_id: int) -> int:
    """Compute and store the project's current windows not stored yet, drop the others; return how many.

    Computes in a read transaction and writes in a short one; a window another refresher stored
    meanwhile is not stored twice.
    """
    with Session(engine) as session, session.begin():
        have = stored_keys(session, project_id)
        current = list(current_windows(session, project_id))
        new = [(w, window_rows(session, project_id, w)) for w in current if (w.kind, w.key) not in have]
    wanted = {(w.kind, w.key) for w in current}
    if not new and wanted.issuperset(have):
        return 0
    with write_transaction(engine) as session:
        have = stored_keys(session, project_id)
        stale = [window_id for key, window_id in have.items() if key not in wanted]
        if stale:
            session.execute(delete(TestWindowStats).where(TestWindowStats.window_id.in_(stale)))
            session.execute(delete(StatWindow).where(StatWindow.id.in_(stale)))
        now = datetime.now(UTC)
        for window, rows in new:
            if (window.kind, window.key) in have:
                continue
            window_id = session.scalar(
                insert(StatWindow).values(project_id=project_id, kind=window.kind, fingerprint=window.key,
                                          runs=window.runs, computed_at=now).returning(StatWindow.id))
            if rows:
                session.execute(insert(TestWindowStats), [{"window_id": window_id, **row} for row in rows])
    return len(new)
