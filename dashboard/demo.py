"""A realistic, deterministic demo history: four months of "acme-shop" CI runs with known stories.

Every page should have something real to show, so the history plants (dates relative to the day it is
written, so that "last week" always has data):

* suites unit / integration / e2e, daily-ish on ``main`` plus feature-branch runs, and test growth;
* the integration suite's wall time climbing through its 300 s budget (``integration crossing``);
  e2e has its own 100 s budget (``Suite.budget_s``) and is forecast to reach it;
* one integration test that gets 5x slower from a known run on (``regression``);
* flaky tests failing at 3 %, 8 %, 15 % (rerun, passes on attempt 2) and 25 %;
* a polluter -> victim pair and a state-setter -> brittle pair in randomised order (random_seed set);
* a concurrent clash: two e2e tests on different xdist workers that fail when they overlap in time;
* an outage run where most integration tests error, a multi-day real breakage of one unit test,
  a slow-runner outlier, and a skip surge ("database not available") in the last complete ISO week.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from ingest.db import ensure_schema, write_transaction
from ingest.models import Project, Suite
from ingest.records import CaseRecord, ParsedReport, ReportMeta, RunMeta
from ingest.store import store_reports

PROJECT = "acme-shop"
SEED = 20260401
DAYS = 120
E2E_BUDGET_S = 100.0

UNIT_MODULES = ("cart", "pricing", "catalog", "users", "orders", "payments", "search", "inventory",
                "shipping", "emails", "tax", "discounts")
INTEGRATION_AREAS = ("checkout", "payments", "inventory", "accounts", "orders", "search_index", "emails",
                     "shipping_rates")
E2E_FLOWS = ("checkout_flow", "signup", "admin", "search_ui", "account_settings", "wishlist")
VERBS = ("computes", "rejects", "handles", "formats", "validates", "rounds", "merges", "caches", "lists",
         "updates")

POLLUTER = "tests/unit/test_settings.py::test_override_currency"
VICTIM = "tests/unit/test_pricing.py::test_default_currency_is_usd"
STATE_SETTER = "tests/unit/test_catalog.py::test_load_fixture_products"
BRITTLE = "tests/unit/test_search.py::test_search_finds_seeded_teapot"
BROKEN = "tests/unit/test_shipping.py::test_free_shipping_threshold"
REGRESSED = "tests/integration/test_checkout.py::test_checkout_applies_coupon"
CLASH_A = "tests/e2e/test_admin.py::test_bulk_price_update"
CLASH_B = "tests/e2e/test_checkout_flow.py::test_guest_checkout_total"
FLAKY = {
    "tests/unit/test_orders.py::test_order_number_is_unique": (
        0.03, "AssertionError: duplicate order number 'A-10493' generated twice"),
    "tests/integration/test_payments.py::test_refund_webhook_retry": (
        0.08, "ConnectionResetError: [Errno 104] Connection reset by peer"),
    "tests/e2e/test_search_ui.py::test_autocomplete_shows_suggestions": (
        0.15, "TimeoutError: locator('.suggestions') not visible after 5000 ms"),
    "tests/integration/test_inventory.py::test_concurrent_reservations": (
        0.25, "AssertionError: assert 9 == 10 (one reservation lost)"),
}
BRANCHES = ("feature/coupons", "fix/shipping-rounding", "feature/search-v2", "chore/upgrade-django")


@dataclass
class DemoSummary:
    """What the demo wrote, for the CLI to print and tests to check."""

    project: str
    first_day: date
    last_day: date
    runs: int = 0
    results: int = 0
    runs_by_suite: dict = field(default_factory=dict)
    regression_run_id: int | None = None
    regression_day: date | None = None
    outage_run_id: int | None = None
    outlier_run_id: int | None = None
    skip_surge_run_ids: list = field(default_factory=list)
    broken_days: tuple = ()


@dataclass(frozen=True)
class _Test:
    nodeid: str
    base_s: float
    markers: tuple[str, ...] = ()
    setup_share: float = 0.1


def project_exists(engine: Engine, project: str = PROJECT) -> bool:
    ensure_schema(engine)
    with Session(engine) as session:
        return session.scalar(select(Project.id).where(Project.name == project)) is not None


def remove_project(engine: Engine, project: str = PROJECT) -> None:
    """Delete a project and everything below it (the schema cascades from projects)."""
    with write_transaction(engine) as session:
        session.execute(delete(Project).where(Project.name == project))


def _catalogue(rng: random.Random) -> tuple[list[_Test], list[_Test], list[_Test]]:
    """Return the unit, integration and e2e tests in the order they were added to the code base."""
    unit = [_Test(STATE_SETTER, 0.03), _Test(BRITTLE, 0.02), _Test(BROKEN, 0.01),
            _Test("tests/test_cli.py::test_help_lists_commands", 0.02),
            _Test("tests/test_smoke.py::test_app_starts", 0.8)]
    unit.append(_Test("tests/unit/test_orders.py::test_order_number_is_unique", 0.015, ("unit",)))
    for i in range(330):
        module = UNIT_MODULES[i % len(UNIT_MODULES)]
        unit.append(_Test(f"tests/unit/test_{module}.py::test_{VERBS[i % len(VERBS)]}_{module}_{i}",
                          min(0.4, rng.lognormvariate(math.log(0.025), 0.7)),
                          ("unit",) if i % 5 == 0 else ()))
    # The polluter arrives later than the others (the suite reaches this size around day 55).
    unit.insert(150, _Test(POLLUTER, 0.01))
    unit.insert(8, _Test(VICTIM, 0.01))

    integration = [
        _Test(REGRESSED, 1.2, ("integration",), 0.3),
        _Test("tests/integration/test_payments.py::test_refund_webhook_retry", 2.0, ("integration",), 0.3),
        _Test("tests/integration/test_inventory.py::test_concurrent_reservations", 2.5, ("fixture:db",), 0.3),
    ]
    for i in range(130):
        area = INTEGRATION_AREAS[i % len(INTEGRATION_AREAS)]
        markers = ("integration", "fixture:db") if i % 3 else ("django_db",)
        integration.append(_Test(f"tests/integration/test_{area}.py::test_{VERBS[i % len(VERBS)]}_{area}_{i}",
                                 rng.uniform(1.3, 3.6), markers, 0.3))

    e2e = [_Test(CLASH_A, 9.0, ("e2e",), 0.2), _Test(CLASH_B, 8.0, ("e2e", "fixture:live_server"), 0.2),
           _Test("tests/e2e/test_search_ui.py::test_autocomplete_shows_suggestions", 5.0, ("e2e",), 0.2)]
    for i in range(30):
        flow = E2E_FLOWS[i % len(E2E_FLOWS)]
        e2e.append(_Test(f"tests/e2e/test_{flow}.py::test_{flow}_step_{i}", rng.uniform(3.0, 7.0),
                         ("fixture:live_server",) if i % 2 else ("e2e",), 0.2))
    return unit, integration, e2e


def _sha(*parts) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def write_demo(engine: Engine, *, project: str = PROJECT, today: date | None = None, force: bool = False,
               days: int = DAYS) -> DemoSummary | None:
    """Write ``days`` days of history up to yesterday (``today`` defaults to today, UTC).

    Returns None, writing nothing, if the project already exists.

    ``force`` replaces an existing project of that name. The content is deterministic for a given
    ``today``: the same seed draws the same tests, durations, orders and failures. The history stops
    before ``today`` so that no run lies in the future, whatever the time of day.
    """
    ensure_schema(engine)
    if project_exists(engine, project):
        if not force:
            return None
        remove_project(engine, project)
    rng = random.Random(SEED)
    today = today or datetime.now(UTC).date()
    end = today - timedelta(days=1)
    first = today - timedelta(days=days)
    this_monday = today - timedelta(days=today.weekday())
    surge_days = {this_monday - timedelta(days=6), this_monday - timedelta(days=5)}  # Tue, Wed of last week
    # The stories sit at fixed fractions of the history, so a short one (tests) still has them all.
    broken_days = tuple(first + timedelta(days=days * 3 // 4 + d) for d in range(4))
    regression_day = first + timedelta(days=days * 78 // 100)
    outage_day = first + timedelta(days=days * 58 // 100)
    outlier_day = first + timedelta(days=days * 42 // 100)
    special = {regression_day, outage_day, outlier_day, *surge_days, *broken_days}
    unit, integration, e2e = _catalogue(rng)
    summary = DemoSummary(project, first, end, broken_days=broken_days, regression_day=regression_day)
    build = 1000

    def save(suite: str, day: date, branch: str, cases: list[CaseRecord], wall: float, hour: int,
             seed: str | None = None) -> int:
        nonlocal build
        build += 1
        started = datetime.combine(day, time(hour, rng.randrange(60)), UTC)
        meta = RunMeta(project=project, suite=suite, branch=branch, commit=_sha(day, branch, suite)[:40],
                       build_id=str(build), build_url=f"https://ci.example.com/acme-shop/builds/{build}",
                       started_at=started, duration_s=round(wall, 3), environment={"ci": "demo"})
        report = ParsedReport(ReportMeta(format="demo", source=f"{suite}-{day}.demo", random_seed=seed),
                              iter(cases))
        stored = store_reports(engine, meta, [report], content_hash=_sha("demo", project, suite, day, branch))
        summary.runs += 1
        summary.results += len(cases)
        summary.runs_by_suite[suite] = summary.runs_by_suite.get(suite, 0) + 1
        return stored.run_id

    def case(test: _Test, outcome: str, duration: float, order: int, message: str | None = None,
             **extra) -> CaseRecord:
        setup = duration * test.setup_share
        return CaseRecord(
            nodeid=test.nodeid, outcome=outcome, name=test.nodeid.rsplit("::", 1)[-1],
            file=test.nodeid.split("::", 1)[0], duration_s=round(duration, 4), setup_s=round(setup, 4),
            call_s=round(duration - setup * 1.5, 4), teardown_s=round(setup * 0.5, 4), order_index=order,
            message=message, details=(f"{message}\n\n(demo traceback)" if message else None),
            markers=test.markers, **extra)

    for d in range(days):
        day = first + timedelta(days=d)
        if day not in special and day.weekday() >= 5 and rng.random() < (0.5 if day.weekday() == 5 else 0.7):
            continue  # little happens at weekends
        branches = ["main"] + ([BRANCHES[(d // 4) % len(BRANCHES)]] if d % 4 == 2 else [])
        for branch in branches:
            hour = 6 if branch == "main" else 14
            # ---- unit: serial, random order (pytest-randomly) ------------------------------------
            size = 110 + d * 3 // 4  # test growth
            tests = unit[:size]
            seed = str(rng.randrange(10**9))
            order = list(tests)
            random.Random(seed).shuffle(order)
            position = {t.nodeid: i for i, t in enumerate(order)}
            cases, total = [], 0.0
            for i, t in enumerate(order):
                duration = t.base_s * rng.uniform(0.85, 1.2)
                outcome, message = "passed", None
                if t.nodeid == VICTIM and POLLUTER in position and position[POLLUTER] < i:
                    outcome, message = "failed", "AssertionError: assert 'EUR' == 'USD'"
                elif t.nodeid == BRITTLE and position[STATE_SETTER] > i:
                    outcome, message = "failed", "AssertionError: expected 1 result for 'teapot', got 0"
                elif t.nodeid == BROKEN and day in broken_days and branch == "main":
                    outcome = "failed"
                    message = "AssertionError: assert 49.99 >= 50.0 (free shipping not applied)"
                elif t.nodeid in FLAKY and rng.random() < FLAKY[t.nodeid][0]:
                    outcome, message = "failed", FLAKY[t.nodeid][1]
                cases.append(case(t, outcome, duration, i, message))
                total += duration
            save("unit", day, branch, cases, total + rng.uniform(5, 8), hour, seed)

            # ---- integration: serial, fixed order, grows and slows -------------------------------
            size = 60 + d // 2
            tests = integration[:size]
            slow_runner = day == outlier_day and branch == "main"
            cases, total = [], 0.0
            for i, t in enumerate(tests):
                duration = t.base_s * rng.uniform(0.93, 1.07) * (2.2 if slow_runner else 1.0)
                regressed = day > regression_day or (day == regression_day and branch == "main")
                if t.nodeid == REGRESSED and regressed:
                    duration = 6.5 * rng.uniform(0.95, 1.05)
                outcome, message = "passed", None
                if day in surge_days and branch == "main" and i % 7:
                    outcome, message, duration = "skipped", "database not available", 0.0
                elif day == outage_day and branch == "main" and i % 10:
                    outcome, duration = "error", 0.05
                    message = "sqlalchemy.exc.OperationalError: connection to server at db:5432 refused"
                elif t.nodeid in FLAKY and rng.random() < FLAKY[t.nodeid][0]:
                    outcome, message = "failed", FLAKY[t.nodeid][1]
                cases.append(case(t, outcome, duration, i, message))
                total += duration
            run_id = save("integration", day, branch, cases, total + rng.uniform(20, 28), hour)
            if branch == "main":
                if day == regression_day:
                    summary.regression_run_id = run_id
                if day == outage_day:
                    summary.outage_run_id = run_id
                if slow_runner:
                    summary.outlier_run_id = run_id
                if day in surge_days:
                    summary.skip_surge_run_ids.append(run_id)

            # ---- e2e: weekdays on main, 3 xdist workers, reruns ----------------------------------
            if branch != "main" or day.weekday() >= 5:
                continue
            size = 8 + d // 5  # e2e grows faster than the rest: the pyramid's top is getting heavier
            order = list(e2e[:size])
            seed = str(rng.randrange(10**9))
            random.Random(seed).shuffle(order)
            cases = _e2e_cases(order, day, hour, rng, case)
            span = max(c.stop for c in cases) - min(c.start for c in cases)
            save("e2e", day, branch, cases, span + rng.uniform(12, 16), hour, seed)

    with write_transaction(engine) as session:
        session.execute(update(Suite).where(
            Suite.name == "e2e", Suite.project_id == select(Project.id).where(Project.name == project)
            .scalar_subquery()).values(budget_s=E2E_BUDGET_S))
    return summary


def _e2e_cases(order: list[_Test], day: date, hour: int, rng: random.Random, case) -> list[CaseRecord]:
    """Schedule tests on 3 workers (each takes the next test when free) with start/stop timestamps."""
    t0 = datetime.combine(day, time(hour, 30), UTC).timestamp() + 10.0
    free = {f"gw{i}": t0 for i in range(3)}
    planned = []
    for t in order:
        worker = min(free, key=lambda w: (free[w], w))
        duration = t.base_s * rng.uniform(0.9, 1.15)
        start = free[worker]
        free[worker] = start + duration
        planned.append((t, worker, start, duration))
    window = {t.nodeid: (start, start + duration, worker) for t, worker, start, duration in planned}
    clash = False
    if CLASH_A in window and CLASH_B in window:
        a, b = window[CLASH_A], window[CLASH_B]
        clash = a[2] != b[2] and a[0] < b[1] and b[0] < a[1]
    cases = []
    for i, (t, worker, start, duration) in enumerate(planned):
        common = dict(worker_id=worker, start=start, stop=start + duration)
        if t.nodeid == CLASH_B and clash:
            message = "AssertionError: order total changed during checkout: 17.99 != 19.99"
            cases.append(case(t, "failed", duration, i, message, **common))
        elif t.nodeid in FLAKY and rng.random() < FLAKY[t.nodeid][0]:
            # pytest-rerunfailures: the failed attempt, then the passing rerun in the same slot.
            first = duration * 0.6
            cases.append(case(t, "failed", first, i, FLAKY[t.nodeid][1], worker_id=worker, start=start,
                              stop=start + first))
            cases.append(case(t, "passed", duration - first, i, worker_id=worker, start=start + first,
                              stop=start + duration))
        else:
            cases.append(case(t, "passed", duration, i, **common))
    return cases
