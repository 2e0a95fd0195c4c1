"""Per-test statistics over a window of runs, as the refresh stored them (``stat_windows``).

The pyramid and the budget's slowest tests and duration regressions summarise thousands of results
per test. The analysis worker computes them for the windows pages show by default
(``window_refresh``) and stores one row per test; a page looks its window up by the fingerprint of
exactly what the statistics are computed from (the window's run ids, in the order that matters) and
computes them from the results only when nothing matches: another window (?since=, ?until=), or runs
the worker has not caught up with yet. Either way the numbers are the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ingest.analysis_models import StatWindow, TestWindowStats

PYRAMID = "pyramid"
SLOWEST = "slowest"
REGRESSIONS = "regressions"


def fingerprint(inputs: Sequence) -> str:
    """Return a hash naming ``inputs`` (run ids, or (run id, week) pairs), as stored and looked up."""
    return hashlib.sha256(json.dumps(list(inputs), separators=(",", ":")).encode()).hexdigest()


def stored(session: Session, project_id: int, kind: str, key: str, columns: Sequence[ColumnElement], *,
           joins: Sequence[tuple] = (), order_by: Sequence[ColumnElement] = (),
           limit: int | None = None) -> list[tuple] | None:
    """Return (test id, *columns) of the stored window's test rows, or None when no such window is stored.

    One statement (the window outer-joined to its rows), so a refresh replacing windows meanwhile
    cannot leave a page holding a window without its rows. ``columns`` may name TestWindowStats
    and the tables in ``joins``, (table, on clause) pairs outer-joined after it (e.g. Test).
    """
    query = (
        select(TestWindowStats.test_id, *columns)
        .select_from(StatWindow)
        .outerjoin(TestWindowStats, TestWindowStats.window_id == StatWindow.id)
    )
    for table, on in joins:
        query = query.outerjoin(table, on)
    query = query.where(StatWindow.project_id == project_id, StatWindow.kind == kind,
                        StatWindow.fingerprint == key)
    for clause in order_by:
        query = query.order_by(clause)
    if limit is not None:
        query = query.limit(limit)
    rows = session.connection().execute(query).all()
    if not rows:
        return None
    # A stored window without rows comes back as one row of NULLs. The others are returned as they
    # came: thousands of rows, where copying them costs more than the query.
    return [] if rows[0][0] is None else rows
