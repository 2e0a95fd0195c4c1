"""Secrets every web server of one database shares (the session-signing key), generated once.

The first server to need one stores it; the others (other gunicorn workers, other machines on the
same PostgreSQL) read the same row, so a cookie signed by one is good on all of them.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.db import ensure_schema, write_transaction
from ingest.models import DashboardSecret

SESSION_KEY = "session-key"


def shared_secret(engine: Engine, name: str, nbytes: int = 32) -> str:
    """Return the secret called ``name``, creating a random one of ``nbytes`` bytes the first time."""
    ensure_schema(engine)
    found = _stored(engine, name)
    if found:
        return found
    try:
        with write_transaction(engine) as session:
            session.add(DashboardSecret(name=name, value=secrets.token_urlsafe(nbytes),
                                        created_at=datetime.now(UTC)))
    except IntegrityError:
        pass  # another server stored one between our read and our write: theirs is the one
    found = _stored(engine, name)
    if not found:
        raise RuntimeError(f"secret {name!r} could not be stored")
    return found


def _stored(engine: Engine, name: str) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(DashboardSecret.value).where(DashboardSecret.name == name))
