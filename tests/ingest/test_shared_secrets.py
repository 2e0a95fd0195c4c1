"""The session-signing key is generated once per database: servers starting together agree on it
(both backends)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.db import make_engine
from ingest.models import DashboardSecret
from ingest.shared_secrets import SESSION_KEY, shared_secret


def test_servers_starting_together_share_one_generated_key(engine, db_url):
    # Each "server" has its own engine (its own connections), as separate processes would.
    engines = [make_engine(db_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            keys = list(pool.map(lambda eng: shared_secret(eng, SESSION_KEY), engines))
    finally:
        for eng in engines:
            eng.dispose()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    assert shared_secret(engine, SESSION_KEY) == keys[0]  # and it stays
    assert shared_secret(engine, "another") != keys[0]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(DashboardSecret)) == 2
