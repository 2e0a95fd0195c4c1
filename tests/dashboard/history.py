"""Small synthetic histories for dashboard tests, stored through ``ingest.store.store_cases``.

Import from tests under tests/dashboard with ``from history import build_history``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from dashboard.worker import run_once
from ingest.db import ensure_schema, make_engine
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

PG_URL = os.environ.get("SUITEHEALTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Parameters for a module-scoped fixture that runs its tests on both backends.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# A failure message that would run script if a page forgot to escape it.
HOSTILE_MESSAGE = "AssertionError: <script>alert('x')</script> & 1 < 2"
HOSTILE_NODEID = "tests/unit/test_html.py::test_renders[<b>bold</b>]"


@dataclass
class History:
    """What ``build_history`` stored, so tests can check pages against known numbers."""

    project: str
    run_ids: dict[str, list[int]] = field(default_factory=dict)  # suite -> run ids, oldest first
    branches: dict[int, str] = field(default_factory=dict)
    unit_tests: list[str] = field(default_factory=list)
    integration_tests: list[str] = field(default_factory=list)
    failing_run: int = 0  # the unit run where test_total failed with HOSTILE_MESSAGE
    rerun_run: int = 0  # the unit run where test_flaky failed, then passed on a rerun
    timed_run: int = 0  # the latest integration run (xdist workers with start/stop)

    @property
    def latest(self) -> dict[str, int]:
        return {suite: ids[-1] for suite, ids in self.run_ids.items()}


def case(nodeid: str, outcome: str = "passed", duration: float = 0.1, **kw) -> CaseRecord:
    """A CaseRecord with a setup/call/teardown split of ``duration`` (10% / 80% / 10%)."""
    file = nodeid.split("::", 1)[0]
    return CaseRecord(
        nodeid=nodeid, outcome=outcome, name=nodeid.rsplit("::", 1)[-1], file=file, duration_s=duration,
        setup_s=round(duration * 0.1, 6), call_s=round(duration * 0.8, 6),
        teardown_s=round(duration * 0.1, 6),
        **kw,
    )


def store_run(engine, project: str, suite: str, cases: Iterable[CaseRecord], *, started_at: datetime,
              branch: str = "main", commit: str | None = None, duration_s: float | None = None) -> int:
    """Store one run of ``cases`` and return its id."""
    meta = RunMeta(project=project, suite=suite, branch=branch, commit=commit or f"c{started_at:%m%d%H}",
                   started_at=started_at, duration_s=duration_s)
    return store_cases(engine, meta, list(cases)).run_id


def build_history(engine, project: str = "shop", days: int = 6) -> History:
    """Store ``days`` daily unit runs and integration runs of ``project``.

    unit: 5 tests; ``test_total`` fails on day 3 with HOSTILE_MESSAGE; ``test_flaky`` fails then
    passes on a rerun on day 2; HOSTILE_NODEID always passes; ``test_skip`` is skipped.
    integration: 4 tests on two xdist workers with start/stop times, ~2 s each; the last day fails
    ``test_api`` and runs on branch feature/x.
    """
    h = History(project=project, run_ids={"unit": [], "integration": []})
    unit = [f"tests/unit/test_cart.py::test_{n}" for n in ("add", "total", "flaky")]
    unit += [HOSTILE_NODEID, "tests/unit/test_cart.py::test_skip"]
    integ = [f"tests/integration/test_api.py::test_{n}" for n in ("api", "login", "orders", "search")]
    h.unit_tests, h.integration_tests = unit, integ
    for day in range(days):
        at = START + timedelta(days=day)
        cases = [case(unit[0], duration=0.05 + 0.01 * day)]
        if day == 3:
            cases.append(case(unit[1], "failed", 0.2, message=HOSTILE_MESSAGE, details="Traceback ..."))
        else:
            cases.append(case(unit[1], duration=0.2))
        if day == 2:
            cases.append(case(unit[2], "failed", 0.3, message="TimeoutError: flaky"))
        cases.append(case(unit[2], duration=0.3))
        cases.append(case(unit[3], duration=0.01))
        cases.append(case(unit[4], "skipped", 0.0, message="database not available"))
        run_id = store_run(engine, project, "unit", cases, started_at=at, duration_s=1.0 + day * 0.1)
        h.run_ids["unit"].append(run_id)
        h.branches[run_id] = "main"
        if day == 3:
            h.failing_run = run_id
        if day == 2:
            h.rerun_run = run_id

        branch = "feature/x" if day == days - 1 else "main"
        t0 = at.timestamp() + 3600
        icases = []
        for i, nodeid in enumerate(integ):
            worker = f"gw{i % 2}"
            start = t0 + (i // 2) * 2.0
            outcome = "failed" if (nodeid.endswith("test_api") and day == days - 1) else "passed"
            icases.append(case(nodeid, outcome, 2.0, worker_id=worker, start=start, stop=start + 2.0,
                               message="assert 500 == 200" if outcome == "failed" else None))
        run_id = store_run(engine, project, "integration", icases, started_at=at + timedelta(hours=1),
                           branch=branch)
        h.run_ids["integration"].append(run_id)
        h.branches[run_id] = branch
    h.timed_run = h.run_ids["integration"][-1]
    run_once(engine)  # what the analysis worker does after uploads: the pages only read its results
    return h


@dataclass
class Shop:
    """A database holding ``build_history`` and a test client of an app on it."""

    url: str
    engine: object
    client: object
    history: History


def shared_history_fixtures():
    """Return the fixtures ``shop``, ``client`` and ``history`` over one history per backend and module.

    Read-only test modules bind them at top level: ``shop, client, history = shared_history_fixtures()``
    (``client`` then shadows the per-test app client of tests/conftest.py in that module).
    """

    @pytest.fixture(name="shop", scope="module", params=BACKENDS)
    def shop(request, tmp_path_factory) -> Iterator[Shop]:
        yield from shared_history(request, tmp_path_factory)

    @pytest.fixture(name="client")
    def client(shop: Shop):
        return shop.client

    @pytest.fixture(name="history")
    def history(shop: Shop) -> History:
        return shop.history

    return shop, client, history


def shared_history(request, tmp_path_factory) -> Iterator[Shop]:
    """Body of a module-scoped fixture: build the history once per backend for read-only tests."""
    from dashboard import create_app

    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path_factory.mktemp('shop') / 'suitehealth.db'}", None
    else:
        schema = "t_" + uuid.uuid4().hex[:16]
        with create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        history = build_history(engine)
        app = create_app({"DATABASE_URL": url, "TESTING": True})
        yield Shop(url=url, engine=engine, client=app.test_client(), history=history)
        app.extensions["suitehealth_engine"].dispose()
    finally:
        engine.dispose()
        if schema:
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
