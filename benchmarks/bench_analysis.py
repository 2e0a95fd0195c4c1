"""Time the flakiness + interference analysis: a full analysis of ~1,000 runs / 200,000 results and
the incremental update after one new run. Prints medians and ratios; asserts nothing.

    .venv/bin/python benchmarks/bench_analysis.py                 # SQLite in a temp dir
    .venv/bin/python benchmarks/bench_analysis.py --db postgresql://postgres@127.0.0.1/test --runs 1000

The baseline, measured in the same process on the same database, is one plain scan of the results
table (run_id, test_id, outcome): the least any analysis that reads the history must pay.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from ingest.analysis_models import (
    AnalysedRun,
    AnalysisState,
    FailureSignature,
    FlakeStats,
    InterferenceSuspect,
    forget_stored_summaries,
)
from ingest.db import ensure_schema, make_engine
from ingest.models import Project
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

START = datetime(2025, 1, 1, tzinfo=UTC)
PROJECT = "bench"


def suite_tests(n: int) -> dict[str, list[str]]:
    per_module = 10
    return {
        f"tests/test_b{m}.py": [f"tests/test_b{m}.py::test_{j}" for j in range(per_module)]
        for m in range(n // per_module)
    }


def one_run(rng: random.Random, modules: dict[str, list[str]], index: int) -> list[CaseRecord]:
    """A pytest-randomly order with a few flaky tests and one polluter -> victim pair."""
    names = list(modules)
    rng.shuffle(names)
    order = []
    for name in names:
        tests = list(modules[name])
        rng.shuffle(tests)
        order.extend(tests)
    pos = {t: i for i, t in enumerate(order)}
    cases = []
    for i, t in enumerate(order):
        outcome = "passed"
        if t.endswith("b0.py::test_0") and rng.random() < 0.2:
            outcome = "failed"
        if t == "tests/test_b2.py::test_2" and pos["tests/test_b1.py::test_1"] < i:
            outcome = "failed"
        cases.append(
            CaseRecord(
                nodeid=t,
                outcome=outcome,
                name=t.rsplit("::", 1)[1],
                file=t.split("::")[0],
                duration_s=0.01,
                order_index=i,
                message=f"AssertionError: {rng.random()}" if outcome == "failed" else None,
            )
        )
    return cases


def build(engine, runs: int, tests: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    modules = suite_tests(tests)
    for index in range(runs):
        meta = RunMeta(
            project=PROJECT,
            suite="unit",
            branch="main",
            commit=f"c{index // 2}",
            started_at=START + timedelta(hours=index),
        )
        store_cases(engine, meta, one_run(rng, modules, index), content_hash=f"bench-{index}")
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == PROJECT))


def reset_analysis(engine, project_id: int) -> None:
    """Forget everything the refresh stored for the project, what it stores for fast pages too."""
    with Session(engine) as s, s.begin():
        forget_stored_summaries(s, project_id)
        for model in (InterferenceSuspect, FailureSignature, FlakeStats, AnalysedRun):
            s.execute(
                delete(model).where(model.project_id == project_id)
                if hasattr(model, "project_id")
                else delete(model)
            )
        s.execute(update(AnalysisState).where(AnalysisState.project_id == project_id).values(last_run_id=0))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    with Session(engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == PROJECT))
    if project_id is None:
        t0 = time.perf_counter()
        project_id = build(engine, args.runs, args.tests)
        print(f"built {args.runs} runs x {args.tests} tests in {time.perf_counter() - t0:.0f} s ({url})")
    with Session(engine) as s:
        results = s.scalar(text("SELECT count(*) FROM results"))

    def scan() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT run_id, test_id, outcome FROM results")).fetchall()

    def full() -> None:
        reset_analysis(engine, project_id)
        refresh_project(engine, project_id)

    baseline = statistics.median(timed(scan, args.repeat))
    full_s = statistics.median(timed(full, args.repeat))
    rng = random.Random(99)
    modules = suite_tests(args.tests)
    counter = iter(range(10**6))

    def one_more(started_at: datetime) -> None:
        i = next(counter)
        meta = RunMeta(project=PROJECT, suite="unit", branch="main", commit=f"new{i}", started_at=started_at)
        store_cases(engine, meta, one_run(rng, modules, i), content_hash=f"bench-new-{i}-{time.time()}")

    def incremental(started_at) -> float:
        times = []
        for i in range(max(5, args.repeat)):
            one_more(started_at(i))
            times.extend(timed(lambda: refresh_project(engine, project_id), 1))
        return statistics.median(times)

    # A run uploaded as it happens: its week has not ended, so no stored week boundary changes.
    inc_s = incremental(lambda i: datetime.now(UTC) - timedelta(minutes=30 - i))
    # A late run, into a week whose boundary has passed (a backfill): the worker also replays the
    # history up to that boundary to store the weekly review's findings again.
    late_s = incremental(lambda i: START + timedelta(days=60, hours=i))
    noop = statistics.median(timed(lambda: refresh_project(engine, project_id), 5))
    print(f"results: {results:,}  (backend {engine.dialect.name})")
    print(f"baseline: scan of the results table        median {baseline:8.3f} s")
    print(
        f"full analysis (refresh from nothing)       median {full_s:8.3f} s"
        f"   {full_s / baseline:6.1f}x baseline   (target <= 10 s)"
    )
    print(
        f"incremental refresh after one new run      median {inc_s:8.3f} s"
        f"   {inc_s / baseline:6.2f}x baseline   (target <= 0.5 s)"
    )
    print(f"incremental, a late run into a past week   median {late_s:8.3f} s"
          f"   {late_s / baseline:6.2f}x baseline   (replays up to the week's end)")
    print(f"refresh with nothing new                   median {noop * 1000:8.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
