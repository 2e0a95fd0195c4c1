"""Remember heavy per-project analyses until the project's runs change.

Pages recompute nothing while no run was added or removed: the key includes the newest run id and
the number of runs, read with one indexed query. Each gunicorn worker keeps its own small cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.models import Run

T = TypeVar("T")
MAX_ENTRIES = 64

_cache: OrderedDict[tuple, object] = OrderedDict()
_lock = threading.Lock()


def runs_version(session: Session, project_id: int) -> tuple:
    """Return what changes whenever a run of the project is stored or deleted."""
    newest, count = session.execute(
        select(func.max(Run.id), func.count(Run.id)).where(Run.project_id == project_id)
    ).one()
    return (str(session.get_bind().url), project_id, newest, count)


def cached_per_runs(session: Session, project_id: int, key: Hashable, compute: Callable[[], T]) -> T:
    """Return ``compute()``, reusing the last answer for ``key`` while the project's runs are unchanged."""
    full_key = (runs_version(session, project_id), key)
    with _lock:
        if full_key in _cache:
            _cache.move_to_end(full_key)
            return _cache[full_key]  # type: ignore[return-value]
    value = compute()
    with _lock:
        _cache[full_key] = value
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _cache.clear()
