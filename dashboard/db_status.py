"""Whether the database can serve: reachable, its schema present, and taking writes.

A read-only database still shows pages but refuses every upload, so it is not healthy: /healthz
says so and load balancers or Docker's HEALTHCHECK can act on it.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, text

UNAVAILABLE = "database unavailable"
READ_ONLY = "database is read-only"


def database_problem(engine: Engine) -> str | None:
    """Return None when the database answers and takes writes, else a short reason (no host names)."""
    try:
        with engine.connect() as conn:
            # A table of ours, not SELECT 1: a dropped schema or a recreated empty file is not healthy.
            conn.execute(text("SELECT 1 FROM projects WHERE 1 = 0"))
            if engine.dialect.name == "postgresql":
                setting = conn.execute(text("SELECT current_setting('transaction_read_only')")).scalar()
                read_only = setting == "on"
            else:
                read_only = not _sqlite_writable(engine)
    except Exception:  # any driver error means "not healthy"
        return UNAVAILABLE
    return READ_ONLY if read_only else None


def _sqlite_writable(engine: Engine) -> bool:
    """SQLite takes BEGIN IMMEDIATE on a read-only file and fails only at the first write: ask the OS."""
    url = engine.url
    if url.query.get("mode") == "ro" or url.query.get("immutable") == "1":
        return False
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return True
    return os.access(path, os.W_OK) and os.access(os.path.dirname(os.path.abspath(path)) or ".", os.W_OK)
