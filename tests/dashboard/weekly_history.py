"""A small synthetic history with planted events in known ISO weeks, and the truth about each week.

Eight weeks (2026-W02 .. 2026-W09) of project "weekly-shop": suite "unit" runs once a day, suite
"integration" twice a day. Planted:

* W02: ``test_retry`` starts flaking (fails every third run); it stops after W03 and counts as
  fixed once ``flakestate.FIXED_AFTER`` clean runs followed its last flake;
* W05: ``test_timeout`` starts flaking (fails every fourth run) and keeps flaking;
* W06: every integration test is skipped with "database not available: could not connect to
  10.0.0.5:54xx" (a skip surge); ``test_macos_only`` is skipped all along (never a surge);
* W07: ``test_total`` steps from 0.2 s to 2.5 s (a slowdown) and three legacy unit tests vanish
  from the suite (a count drop);
* W08: a new test ``test_warm_cache`` pollutes ``test_read_cache``: whenever it runs first, the
  victim fails (a new interference suspect; the victim also turns flaky);
* W09: ``test_vat_rounding`` fails in every run from Wednesday on (a real breakage, not a flake).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from dashboard.analysis.weeks import Week, week_of
from ingest.records import CaseRecord, ParsedReport, ReportMeta, RunMeta
from ingest.store import store_reports

PROJECT = "weekly-shop"
FIRST_DAY = datetime(2026, 1, 5, tzinfo=UTC)  # Monday of 2026-W02
WEEKS = [Week(2026, n) for n in range(2, 10)]
DAYS = 7 * len(WEEKS)

RETRY = "tests/unit/test_http.py::test_retry"
TIMEOUT = "tests/unit/test_http.py::test_timeout"
TOTAL = "tests/unit/test_cart.py::test_total"
MACOS = "tests/unit/test_platform.py::test_macos_only"
BROKEN = "tests/unit/test_tax.py::test_vat_rounding"
LEGACY = [f"tests/unit/test_legacy.py::test_old_{c}" for c in "abc"]
UNIT_OTHERS = [f"tests/unit/test_cart.py::test_item_{i}" for i in range(5)]
POLLUTER = "tests/integration/test_cache.py::test_warm_cache"
VICTIM = "tests/integration/test_cache.py::test_read_cache"
INTEGRATION = [VICTIM] + [f"tests/integration/test_orders.py::test_order_{i}" for i in range(5)]
SKIP_REASON = "database not available: could not connect to <host>"
# Whether the polluter runs before the victim, run by run in W08/W09: never three in a row, so the
# victim's failures stay flakes and never look like a breakage.
POLLUTER_FIRST = [True, False, True, True, False, False, True, False, True, True, False, False, True, False]

SLOWDOWN_WEEK = Week(2026, 7)
FLAKY_RETRY_UNTIL = 12  # unit runs (days) in which test_retry may fail
TIMEOUT_FROM = 21  # first unit run (day) of W05
BROKEN_FROM = 51  # Wednesday of W09


@dataclass
class Truth:
    """What the review of each week must name."""

    skip_surge_reasons: dict[str, set[str]] = field(default_factory=dict)
    skip_surge_tests: dict[str, set[str]] = field(default_factory=dict)
    slower: dict[str, set[str]] = field(default_factory=dict)
    slowdown_run_id: int | None = None
    new_flaky: dict[str, set[str]] = field(default_factory=dict)
    no_longer_flaky: dict[str, set[str]] = field(default_factory=dict)
    new_suspects: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    count_drops: dict[str, set[str]] = field(default_factory=dict)
    broken: dict[str, set[str]] = field(default_factory=dict)
    broken_since_run_id: int | None = None

    def of(self, attr: str, week: Week) -> set:
        return getattr(self, attr).get(week.label, set())


def _unit_cases(day: int) -> list[CaseRecord]:
    cases = []
    week = week_of(FIRST_DAY + timedelta(days=day))
    nodeids = [RETRY, TIMEOUT, TOTAL, MACOS, BROKEN, *UNIT_OTHERS]
    if week < SLOWDOWN_WEEK:
        nodeids += LEGACY
    for nodeid in nodeids:
        outcome, message, duration = "passed", None, 0.05
        if nodeid == RETRY and day < FLAKY_RETRY_UNTIL and day % 3 == 1:
            outcome, message = "failed", "ConnectionResetError: peer reset"
        if nodeid == TIMEOUT and day >= TIMEOUT_FROM and (day - TIMEOUT_FROM) % 4 == 1:
            outcome, message = "failed", "TimeoutError: read timed out after 5s"
        if nodeid == BROKEN and day >= BROKEN_FROM:
            outcome, message = "failed", "AssertionError: assert 19.99 == 20.00"
        if nodeid == TOTAL:
            duration = 2.5 if week >= SLOWDOWN_WEEK else 0.2
        if nodeid == MACOS:
            outcome, message, duration = "skipped", "Skipped: requires macOS", 0.0
        cases.append(CaseRecord(nodeid=nodeid, outcome=outcome, message=message, duration_s=duration,
                                file=nodeid.split("::")[0], markers=("unit",)))
    return cases


def _integration_cases(day: int, slot: int, rng: random.Random, polluted_runs: list[int]) -> list[CaseRecord]:
    week = week_of(FIRST_DAY + timedelta(days=day))
    nodeids = list(INTEGRATION)
    has_polluter = week >= Week(2026, 8)
    if has_polluter:
        nodeids.append(POLLUTER)
    rng.shuffle(nodeids)
    if has_polluter:
        # Place the polluter before or after the victim as planned; everything else stays shuffled.
        first = POLLUTER_FIRST[len(polluted_runs) % len(POLLUTER_FIRST)]
        polluted_runs.append(int(first))
        nodeids.remove(POLLUTER)
        v = nodeids.index(VICTIM)
        nodeids.insert(rng.randint(0, v) if first else rng.randint(v + 1, len(nodeids)), POLLUTER)
    cases = []
    seen_polluter = False
    for nodeid in nodeids:
        outcome, message, duration = "passed", None, 0.8
        if week == Week(2026, 6):
            outcome, duration = "skipped", 0.0
            message = f"Skipped: database not available: could not connect to 10.0.0.5:{5432 + slot}"
        elif nodeid == VICTIM and seen_polluter:
            outcome, message = "failed", "AssertionError: cache already warm: expected miss"
        seen_polluter = seen_polluter or nodeid == POLLUTER
        cases.append(CaseRecord(nodeid=nodeid, outcome=outcome, message=message, duration_s=duration,
                                file=nodeid.split("::")[0], markers=("integration",)))
    return cases


def build_history(engine: Engine) -> Truth:
    """Store the history and return the planted truth per week."""
    from dashboard.analysis.flakestate import FIXED_AFTER

    rng = random.Random(20260105)
    polluted_runs: list[int] = []
    truth = Truth()
    slowdown_run = None
    for day in range(DAYS):
        when = FIRST_DAY + timedelta(days=day, hours=6)
        summary = _store(engine, "unit", when, day, _unit_cases(day), seed=None)
        if slowdown_run is None and week_of(when) == SLOWDOWN_WEEK:
            slowdown_run = summary.run_id
        if day == BROKEN_FROM:
            truth.broken_since_run_id = summary.run_id
        for slot in range(2):
            seed = str(rng.randrange(10**9))
            cases = _integration_cases(day, slot, random.Random(seed), polluted_runs)
            _store(engine, "integration", when + timedelta(hours=6 * (slot + 1)), day, cases, seed=seed)

    w = {week.number: week.label for week in WEEKS}
    truth.new_flaky = {w[2]: {RETRY}, w[5]: {TIMEOUT}, w[8]: {VICTIM}}
    # test_retry's last flake is recorded at the pass after its last failure; fixed after FIXED_AFTER more.
    last_fail = max(d for d in range(FLAKY_RETRY_UNTIL) if d % 3 == 1)
    fixed_day = last_fail + 1 + FIXED_AFTER
    truth.no_longer_flaky = {week_of(FIRST_DAY + timedelta(days=fixed_day)).label: {RETRY}}
    truth.skip_surge_reasons = {w[6]: {SKIP_REASON}}
    truth.skip_surge_tests = {w[6]: set(INTEGRATION)}
    truth.slower = {w[7]: {TOTAL}}
    truth.slowdown_run_id = slowdown_run
    truth.count_drops = {w[7]: {"unit"}}
    truth.new_suspects = {w[8]: {(VICTIM, POLLUTER)}}
    truth.broken = {w[9]: {BROKEN}}
    return truth


def _store(engine: Engine, suite: str, when: datetime, day: int, cases: list[CaseRecord], seed: str | None):
    meta = RunMeta(project=PROJECT, suite=suite, branch="main", commit=f"{suite[:1]}{day:04d}{when.hour:02d}",
                   started_at=when)
    report_meta = ReportMeta(format="records", source="weekly_history", random_seed=seed)
    report = ParsedReport(report_meta, iter(cases))
    return store_reports(engine, meta, [report], content_hash=f"{suite}-{when.isoformat()}")
