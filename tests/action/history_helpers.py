"""Small CI histories stored through the real ingest path, for the tests in tests/action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def case(nodeid: str, outcome: str = "passed", message: str | None = None, order: int = 0) -> CaseRecord:
    return CaseRecord(nodeid=nodeid, outcome=outcome, name=nodeid.rsplit("::", 1)[-1],
                      file=nodeid.split("::", 1)[0], duration_s=0.2, order_index=order,
                      message=message if outcome != "passed" else None)


def store_run(engine, project: str, suite: str, outcomes: dict[str, str], index: int,
              duration_s: float = 60.0) -> int:
    """Store one run (``index`` sets its time and commit) with ``outcomes`` {nodeid: outcome}."""
    started = START + timedelta(hours=6 * index)
    meta = RunMeta(project=project, suite=suite, branch="main", commit=f"c{index:05d}", started_at=started,
                   duration_s=duration_s, build_url=f"https://ci.example.com/builds/{index}")
    cases = [case(nodeid, outcome, f"AssertionError: {nodeid} failed", order)
             for order, (nodeid, outcome) in enumerate(outcomes.items())]
    # A hash per (suite, index), as a report's content hash would be: the same run in two databases.
    return store_cases(engine, meta, cases, content_hash=f"{suite}-{index}").run_id
