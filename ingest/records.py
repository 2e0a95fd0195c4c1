"""Frozen records the format parsers return: the runs, cases and timings of a report.

Parsers produce these and nothing else; ``ingest.store`` turns them into rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

# Outcomes as stored. ``error`` is a failure outside the test body (setup/teardown/collection).
PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
XFAILED = "xfailed"
XPASSED = "xpassed"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED)
# Outcomes that mean "this test did not do its job" for flakiness and pass rates.
BAD_OUTCOMES = (FAILED, ERROR)


class CaseRecord(NamedTuple):
    """One attempt of one test in a report.

    A rerun test yields several records with the same ``nodeid`` and increasing ``attempt``;
    only the last attempt has ``final=True`` and counts towards the run's totals.

    A NamedTuple rather than a frozen dataclass: parsers build one per testcase, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost ~5x more than the whole
    C-level tuple construction. Same field names, defaults and keyword construction; immutable
    like before; copy with ``record._replace(...)``.
    """

    nodeid: str
    outcome: str
    name: str = ""
    classname: str | None = None
    file: str | None = None
    duration_s: float | None = None
    setup_s: float | None = None
    call_s: float | None = None
    teardown_s: float | None = None
    # Position in execution order within the whole run (0-based, across merged files).
    order_index: int = 0
    worker_id: str | None = None
    # Wall-clock start/stop as Unix epoch seconds, where the format records them.
    start: float | None = None
    stop: float | None = None
    message: str | None = None
    details: str | None = None
    attempt: int = 1
    final: bool = True
    markers: tuple[str, ...] = ()
    # Extra per-case facts (e.g. properties, fixtures) kept as a small JSON-able mapping.
    extra: dict | None = None


@dataclass(frozen=True, slots=True)
class ReportMeta:
    """What a report says about the session as a whole (all optional)."""

    format: str
    source: str
    started_at: datetime | None = None
    duration_s: float | None = None
    hostname: str | None = None
    # Every hostname the report names (JUnit suites; Playwright writes its project names there).
    hostnames: tuple[str, ...] = ()
    properties: dict = field(default_factory=dict)
    random_seed: str | None = None
    # Counts the report claims (suite attributes); kept for diagnostics only, never trusted.
    claimed_tests: int | None = None
    # What the reader had to decide for the user (e.g. repeated test names kept apart), for the run page.
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedReport:
    """A parsed report: its metadata and a *stream* of cases.

    ``cases`` is an iterator so that a 100,000-case file never lives in memory as a whole.
    ``meta`` may be refined while the stream is consumed (e.g. a trailing session-finish line),
    so read ``meta_after()`` once the cases are exhausted.
    """

    meta: ReportMeta
    cases: Iterator[CaseRecord]
    _late_meta: dict = field(default_factory=dict)

    def meta_after(self) -> ReportMeta:
        """Return the metadata including facts only known after the last case."""
        if not self._late_meta:
            return self.meta
        from dataclasses import replace

        return replace(self.meta, **self._late_meta)


@dataclass(frozen=True, slots=True)
class RunMeta:
    """Who/what/when of a run, from the caller, the CI environment or the report."""

    project: str
    suite: str = "default"
    branch: str | None = None
    commit: str | None = None
    build_id: str | None = None
    build_url: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    environment: dict = field(default_factory=dict)
