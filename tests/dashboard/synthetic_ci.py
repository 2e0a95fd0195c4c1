"""Synthetic CI histories with planted truths, for the flakiness and interference tests.

Tests are laid out in modules; every run shuffles like pytest-randomly does (module order, then
tests within a module), or schedules tests onto xdist workers with start/stop times. Outcomes
follow the planted rules and nothing else, so whatever the analysis reports beyond the plan is a
false suspect.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dashboard.worker import run_once
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@dataclass
class Truth:
    """What was planted: the analysis must find all of it and nothing else."""

    project: str
    random_flaky: dict[str, float] = field(default_factory=dict)
    rerun_flaky: set[str] = field(default_factory=set)
    polluters: dict[str, set[str]] = field(default_factory=dict)  # victim -> polluters
    polluter_modules: dict[str, str] = field(default_factory=dict)  # victim -> module of its polluter
    setters: dict[str, str] = field(default_factory=dict)  # brittle -> state-setter
    concurrent: dict[str, str] = field(default_factory=dict)  # victim -> test it clashes with
    cleaners: dict[str, str] = field(default_factory=dict)  # victim -> cleaner
    broken: set[str] = field(default_factory=set)
    always_failing: set[str] = field(default_factory=set)
    undecidable: set[str] = field(default_factory=set)
    outage_run_ids: list[int] = field(default_factory=list)

    def suspect_victims(self) -> set[str]:
        return set(self.polluters) | set(self.setters) | set(self.concurrent)


def module_tests(prefix: str, modules: int, per_module: int) -> dict[str, list[str]]:
    return {
        f"tests/{prefix}{m}.py": [f"tests/{prefix}{m}.py::test_{j}" for j in range(per_module)]
        for m in range(modules)
    }


def shuffled_order(rng: random.Random, modules: dict[str, list[str]]) -> list[str]:
    """pytest-randomly's shuffle: module order, then the tests inside each module."""
    names = list(modules)
    rng.shuffle(names)
    order: list[str] = []
    for name in names:
        tests = list(modules[name])
        rng.shuffle(tests)
        order.extend(tests)
    return order


# ---- the single-process suite ("unit") ----------------------------------------------------

UNIT = module_tests("test_m", 8, 6)
UNIT["tests/test_m3.py"] += [
    "tests/test_m3.py::test_pollute_cache",
    "tests/test_m3.py::test_victim_cache",
    "tests/test_m3.py::test_clear_cache",
]
UNIT["tests/test_m4.py"] += ["tests/test_m4.py::test_sets_env"]
UNIT["tests/test_m5.py"] += ["tests/test_m5.py::test_reads_env"]
UNIT["tests/test_m6.py"] += ["tests/test_m6.py::test_setup_state", "tests/test_m6.py::test_brittle"]
UNIT["tests/test_m7.py"] += ["tests/test_m7.py::test_broken_for_days", "tests/test_m7.py::test_always_fails"]
UNIT["tests/test_m1.py"] += ["tests/test_m1.py::test_rerun_flaky"]

# ---- the xdist suite ----------------------------------------------------------------------

XDIST = module_tests("test_x", 5, 6)
XDIST["tests/test_x1.py"] += ["tests/test_x1.py::test_leaks_global"]
XDIST["tests/test_x2.py"] += ["tests/test_x2.py::test_needs_clean_global"]
XDIST["tests/test_x3.py"] += ["tests/test_x3.py::test_holds_port"]
XDIST["tests/test_x4.py"] += ["tests/test_x4.py::test_binds_port"]

FIXED = module_tests("test_f", 2, 5)


def _unit_run(rng: random.Random, index: int, runs: int) -> tuple[list[str], dict[str, str], set[str]]:
    """Return the order, the outcomes and the tests that passed on a rerun for one unit run."""
    order = shuffled_order(rng, UNIT)
    pos = {t: i for i, t in enumerate(order)}
    out = {t: "passed" for t in order}
    for test, rate in {
        "tests/test_m0.py::test_0": 0.3,
        "tests/test_m1.py::test_1": 0.12,
        "tests/test_m2.py::test_2": 0.06,
    }.items():
        if rng.random() < rate:
            out[test] = "failed"
    # Polluter -> victim in the same module, with a cleaner that undoes the pollution.
    p, v, c = (
        "tests/test_m3.py::test_pollute_cache",
        "tests/test_m3.py::test_victim_cache",
        "tests/test_m3.py::test_clear_cache",
    )
    if pos[p] < pos[v] and not (pos[p] < pos[c] < pos[v]):
        out[v] = "failed"
    # Polluter -> victim across modules: the whole polluter module travels with it.
    if pos["tests/test_m4.py::test_sets_env"] < pos["tests/test_m5.py::test_reads_env"]:
        out["tests/test_m5.py::test_reads_env"] = "failed"
    # Brittle: passes only after its state-setter.
    if pos["tests/test_m6.py::test_setup_state"] > pos["tests/test_m6.py::test_brittle"]:
        out["tests/test_m6.py::test_brittle"] = "error"
    # A real breakage for several days, then fixed; and a test that never passed.
    # Breakages come with a commit (a new commit every third run) and end with the fixing commit.
    if runs // 9 * 3 <= index < runs // 9 * 3 + 9:
        out["tests/test_m7.py::test_broken_for_days"] = "failed"
    out["tests/test_m7.py::test_always_fails"] = "failed"
    reruns = set()
    if rng.random() < 0.2:
        reruns.add("tests/test_m1.py::test_rerun_flaky")
    return order, out, reruns


def unit_runs(rng: random.Random, runs: int, outage_at: int) -> Iterator[tuple[int, list[CaseRecord]]]:
    for index in range(runs):
        order, out, reruns = _unit_run(rng, index, runs)
        if index == outage_at:
            for t in order:
                if rng.random() < 0.85:
                    out[t] = "error"
        cases = []
        for t in order:
            message = _message(t, out[t], rng)
            if t in reruns:
                cases.append(_case(t, "failed", len(cases), message="AssertionError: timeout after 5.0s"))
            cases.append(_case(t, out[t], len(cases), message=message))
        yield index, cases


def xdist_runs(rng: random.Random, runs: int, workers: int = 2) -> Iterator[tuple[int, list[CaseRecord]]]:
    for index in range(runs):
        order = shuffled_order(rng, XDIST)
        # loadscheduling: tests go to workers in chunks that change from run to run.
        lanes: dict[str, list[str]] = {f"gw{w}": [] for w in range(workers)}
        for t in order:
            lanes[f"gw{rng.randrange(workers)}"].append(t)
        base = START.timestamp() + index * 3600
        timing: dict[str, tuple[str, float, float]] = {}
        for worker, tests in lanes.items():
            clock = base
            for t in tests:
                duration = 6.0 if t.endswith("test_holds_port") else rng.uniform(0.1, 0.6)
                timing[t] = (worker, clock, clock + duration)
                clock += duration
        out = {t: "passed" for t in order}
        if rng.random() < 0.15:
            out["tests/test_x0.py::test_0"] = "failed"
        lw, ls, _ = timing["tests/test_x1.py::test_leaks_global"]
        vw, vs, _ = timing["tests/test_x2.py::test_needs_clean_global"]
        if lw == vw and ls < vs:
            out["tests/test_x2.py::test_needs_clean_global"] = "failed"
        hw, hs, he = timing["tests/test_x3.py::test_holds_port"]
        bw, bs, be = timing["tests/test_x4.py::test_binds_port"]
        if hw != bw and hs < be and bs < he:
            out["tests/test_x4.py::test_binds_port"] = "failed"
        cases = [
            _case(
                t,
                out[t],
                i,
                worker=timing[t][0],
                start=timing[t][1],
                stop=timing[t][2],
                message=_message(t, out[t], rng),
            )
            for i, t in enumerate(order)
        ]
        yield index, cases


def unit_and_xdist_history(runs: int, seed: int) -> Iterator[tuple[str, int, list[CaseRecord]]]:
    """Yield (suite, index, cases) of two interleaved suites with planted flakes and polluters."""
    rng = random.Random(seed)
    unit = unit_runs(rng, runs, outage_at=runs * 3 // 4)
    xdist = xdist_runs(rng, runs)
    for (i, unit_cases), (j, xdist_cases) in zip(unit, xdist, strict=True):
        yield "unit", i, unit_cases
        yield "xdist", j, xdist_cases


def fixed_runs(rng: random.Random, runs: int) -> Iterator[tuple[int, list[CaseRecord]]]:
    order = [t for tests in FIXED.values() for t in tests]
    for index in range(runs):
        out = {t: "passed" for t in order}
        if rng.random() < 0.3:
            out["tests/test_f1.py::test_3"] = "failed"
        yield index, [_case(t, out[t], i, message=_message(t, out[t], rng)) for i, t in enumerate(order)]


def _message(test: str, outcome: str, rng: random.Random) -> str | None:
    if outcome == "passed":
        return None
    return (
        f"AssertionError: expected 200 got {rng.choice([500, 502, 503])} "
        f"at 0x{rng.randrange(1 << 40):x} in /tmp/pytest-of-ci/pytest-{rng.randrange(999)}/x"
    )


def _case(
    nodeid: str,
    outcome: str,
    order: int,
    *,
    worker: str | None = None,
    start: float | None = None,
    stop: float | None = None,
    message: str | None = None,
) -> CaseRecord:
    file, _, name = nodeid.partition("::")
    return CaseRecord(
        nodeid=nodeid,
        outcome=outcome,
        name=name,
        file=file,
        classname=file[:-3].replace("/", "."),
        duration_s=(stop - start) if start is not None and stop is not None else 0.2,
        order_index=order,
        worker_id=worker,
        start=start,
        stop=stop,
        message=message,
    )


def build_history(
    engine,
    *,
    project: str = "synth",
    runs: int = 80,
    seed: int = 7,
    suites: tuple[str, ...] = ("unit", "xdist", "legacy"),
) -> Truth:
    """Store a planted-truth history for ``project`` and return what was planted."""
    rng = random.Random(seed)
    truth = Truth(project)
    outage_at = runs * 3 // 4
    if "unit" in suites:
        truth.random_flaky.update(
            {
                "tests/test_m0.py::test_0": 0.3,
                "tests/test_m1.py::test_1": 0.12,
                "tests/test_m2.py::test_2": 0.06,
            }
        )
        truth.rerun_flaky.add("tests/test_m1.py::test_rerun_flaky")
        truth.polluters["tests/test_m3.py::test_victim_cache"] = {"tests/test_m3.py::test_pollute_cache"}
        truth.cleaners["tests/test_m3.py::test_victim_cache"] = "tests/test_m3.py::test_clear_cache"
        truth.polluters["tests/test_m5.py::test_reads_env"] = {"tests/test_m4.py::test_sets_env"}
        truth.polluter_modules["tests/test_m5.py::test_reads_env"] = "tests/test_m4.py"
        truth.setters["tests/test_m6.py::test_brittle"] = "tests/test_m6.py::test_setup_state"
        truth.broken.add("tests/test_m7.py::test_broken_for_days")
        truth.always_failing.add("tests/test_m7.py::test_always_fails")
        for index, cases in unit_runs(rng, runs, outage_at):
            summary = store_cases(
                engine, _meta(project, "unit", index), cases, content_hash=f"unit-{seed}-{index}"
            )
            if index == outage_at:
                truth.outage_run_ids.append(summary.run_id)
    if "xdist" in suites:
        truth.random_flaky["tests/test_x0.py::test_0"] = 0.15
        truth.polluters["tests/test_x2.py::test_needs_clean_global"] = {"tests/test_x1.py::test_leaks_global"}
        truth.concurrent["tests/test_x4.py::test_binds_port"] = "tests/test_x3.py::test_holds_port"
        for index, cases in xdist_runs(rng, runs):
            store_cases(engine, _meta(project, "xdist", index), cases, content_hash=f"xdist-{seed}-{index}")
    if "legacy" in suites:
        truth.undecidable.add("tests/test_f1.py::test_3")
        for index, cases in fixed_runs(rng, max(20, runs // 2)):
            store_cases(engine, _meta(project, "legacy", index), cases, content_hash=f"legacy-{seed}-{index}")
    run_once(engine)  # what the analysis worker does after uploads: the pages only read its results
    return truth


def _meta(project: str, suite: str, index: int) -> RunMeta:
    # A new commit every third run, so some commits have several runs (same-commit evidence).
    return RunMeta(
        project=project,
        suite=suite,
        branch="main",
        commit=f"c{index // 3:05d}",
        started_at=START + timedelta(hours=index * 6, minutes=len(suite)),
    )
