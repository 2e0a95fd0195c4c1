"""Build a big synthetic history quickly, for the page benchmarks.

    .venv/bin/python benchmarks/make_history.py --db /tmp/bench-200k.db --runs 1000 --tests 200
    .venv/bin/python benchmarks/make_history.py --db /tmp/bench-5m.db --runs 1000 --tests 5000

One project ("bench") with suites unit / integration / e2e taking turns; every run holds every test of
its suite. Rows are written in bulk (executemany batches on SQLite, COPY on PostgreSQL) with
explicit ids, bypassing ingest.store's per-run transaction: the point is the shape and size of the
tables, built in seconds, not the ingest path (which has its own tests and benchmarks).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ingest.db import ensure_schema, make_engine

SUITES = ("unit", "integration", "e2e")
# Per suite: typical test duration (s), share of flaky tests, xdist workers.
PROFILE = {"unit": (0.02, 0.01, 1), "integration": (0.6, 0.03, 4), "e2e": (3.0, 0.05, 4)}
BATCH = 50_000
RESULT_COLUMNS = (
    "id",
    "run_id",
    "test_id",
    "outcome",
    "duration_s",
    "setup_s",
    "call_s",
    "teardown_s",
    "order_index",
    "worker_id",
    "start_ts",
    "stop_ts",
    "message",
    "details",
    "attempt",
    "final",
)
RUN_COLUMNS = (
    "id",
    "project_id",
    "suite_id",
    "branch",
    "commit",
    "build_id",
    "build_url",
    "started_at",
    "duration_s",
    "test_time_s",
    "setup_time_s",
    "call_time_s",
    "teardown_time_s",
    "environment",
    "content_hash",
    "formats",
    "sources",
    "random_seed",
    "workers",
    "ingested_at",
    "tests",
    "passed",
    "failed",
    "errors",
    "skipped",
    "xfailed",
    "xpassed",
    "reruns",
    "rerun_passed",
)


def generate(runs: int, tests: int, seed: int = 7):
    """Yield (kind, rows) chunks describing the whole history; each run comes before its results."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    yield "project", [(1, "bench", now - timedelta(days=400))]
    yield "suite", [(i + 1, 1, name, None) for i, name in enumerate(SUITES)]
    test_rows, suite_tests = [], {}
    next_test = 1
    for s_index, suite in enumerate(SUITES):
        ids = []
        for t in range(tests):
            nodeid = f"tests/{suite}/test_mod{t // 20:04d}.py::test_case_{t:05d}"
            markers = '["integration"]' if suite == "integration" else ('["e2e"]' if suite == "e2e" else "[]")
            test_rows.append(
                (
                    next_test,
                    1,
                    nodeid,
                    nodeid.split("::")[0],
                    None,
                    f"test_case_{t:05d}",
                    markers,
                    s_index + 1,
                )
            )
            ids.append(next_test)
            next_test += 1
        suite_tests[suite] = ids
    yield "test", test_rows

    base = {suite: [rng.lognormvariate(0, 0.8) * PROFILE[suite][0] for _ in range(tests)] for suite in SUITES}
    flaky = {suite: set(rng.sample(range(tests), max(1, int(tests * PROFILE[suite][1])))) for suite in SUITES}
    result_id = 1
    start = now - timedelta(days=365)
    for r in range(runs):
        run_id = r + 1
        suite = SUITES[r % len(SUITES)]
        suite_id = SUITES.index(suite) + 1
        started = start + timedelta(minutes=int(r * 365 * 24 * 60 / runs))
        workers = PROFILE[suite][2]
        # Slow growth of durations over the year, so trends have something to find.
        growth = 1.0 + 0.6 * r / runs
        clocks = [started.timestamp()] * workers
        rows, counts, sums = [], dict.fromkeys(("passed", "failed", "skipped"), 0), [0.0, 0.0, 0.0, 0.0]
        for order, (t, test_id) in enumerate(zip(range(tests), suite_tests[suite], strict=True)):
            duration = base[suite][t] * growth * rng.uniform(0.85, 1.15)
            outcome, message = "passed", None
            if t in flaky[suite] and rng.random() < 0.15:
                outcome, message = "failed", f"AssertionError: expected 200, got 50{t % 10} (flaky)"
            elif t % 97 == 5:
                outcome, message = "skipped", "database not available"
                duration = 0.0
            worker = order % workers
            begin = clocks[worker]
            clocks[worker] = begin + duration
            setup, teardown = duration * 0.1, duration * 0.05
            rows.append(
                (
                    result_id,
                    run_id,
                    test_id,
                    outcome,
                    duration,
                    setup,
                    duration - setup - teardown,
                    teardown,
                    order,
                    f"gw{worker}" if workers > 1 else None,
                    begin,
                    begin + duration,
                    message,
                    None,
                    1,
                    True,
                )
            )
            result_id += 1
            counts[outcome] += 1
            sums[0] += duration
            sums[1] += setup
            sums[2] += duration - setup - teardown
            sums[3] += teardown
        wall = max(clocks) - started.timestamp()
        yield (
            "run",
            [
                (
                    run_id,
                    1,
                    suite_id,
                    "main" if r % 5 else f"feature/b{r % 40}",
                    f"{rng.getrandbits(64):016x}",
                    str(run_id),
                    None,
                    started,
                    wall,
                    sums[0],
                    sums[1],
                    sums[2],
                    sums[3],
                    "{}",
                    f"bench-{run_id}",
                    "records",
                    '["bench"]',
                    None,
                    workers,
                    started,
                    tests,
                    counts["passed"],
                    counts["failed"],
                    0,
                    counts["skipped"],
                    0,
                    0,
                    0,
                    0,
                )
            ],
        )
        yield "results", rows


def _names(columns) -> str:
    # "commit" is a keyword in both SQL dialects.
    return ", ".join(f'"{c}"' for c in columns)


def _sqlite_build(engine, chunks) -> int:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        conn.execute("PRAGMA synchronous=OFF")
        # Filling results without their indexes and indexing once at the end is several times faster.
        found = conn.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'results' AND sql IS NOT NULL"
        ).fetchall()
        names, indexes = [n for n, _ in found], [sql for _, sql in found]
        conn.execute("BEGIN")
        for name in names:
            conn.execute(f'DROP INDEX "{name}"')
        total = 0
        sql = {
            "project": "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
            "suite": "INSERT INTO suites (id, project_id, name, budget_s) VALUES (?, ?, ?, ?)",
            "test": "INSERT INTO tests (id, project_id, nodeid, file, classname, name, markers, "
            "first_seen_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            "run": f"INSERT INTO runs ({_names(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
            "results": f"INSERT INTO results ({_names(RESULT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(RESULT_COLUMNS))})",
        }
        pending: list = []
        for kind, rows in chunks:
            if kind != "results":  # result rows hold only numbers, strings and None already
                rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
            if kind == "results":
                pending.extend(rows)
                total += len(rows)
                if len(pending) >= BATCH:
                    conn.executemany(sql["results"], pending)
                    pending.clear()
            else:
                conn.executemany(sql[kind], rows)
        if pending:
            conn.executemany(sql["results"], pending)
        for create in indexes:
            conn.execute(create)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        return total
    finally:
        raw.close()


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_build(engine, chunks) -> int:
    tables = {
        "project": ("projects", ("id", "name", "created_at")),
        "suite": ("suites", ("id", "project_id", "name", "budget_s")),
        "test": (
            "tests",
            ("id", "project_id", "nodeid", "file", "classname", "name", "markers", "first_seen_run_id"),
        ),
        "run": ("runs", RUN_COLUMNS),
        "results": ("results", RESULT_COLUMNS),
    }
    raw = engine.raw_connection()
    total = 0
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            for kind, rows in chunks:
                table, columns = tables[kind]
                with cur.copy(f"COPY {table} ({_names(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(
                            [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row]
                        )
                total += len(rows) if kind == "results" else 0
            for table in ("projects", "suites", "tests", "runs", "results"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            cur.execute("ANALYZE")
        conn.commit()
    finally:
        raw.close()
    return total


def build(url: str, runs: int, tests: int, *, analyses: bool = True) -> dict:
    """Create the history in an EMPTY database at ``url``; return timings and sizes."""
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM runs")).scalar():
            raise SystemExit(f"{url} already holds runs; give a new database")
    t0 = time.perf_counter()
    chunks = generate(runs, tests)
    if engine.dialect.name == "sqlite":
        total = _sqlite_build(engine, chunks)
    else:
        total = _pg_build(engine, chunks)
    out = {"runs": runs, "results": total, "build_s": time.perf_counter() - t0}
    if analyses:
        try:
            from dashboard.analysis.updates import refresh_project
        except ImportError:
            out["analyses_s"] = None
        else:
            t1 = time.perf_counter()
            refresh_project(engine, 1)
            out["analyses_s"] = time.perf_counter() - t1
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="database URL or SQLite path (must be empty)")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=200, help="tests per suite (= results per run)")
    parser.add_argument("--no-analyses", action="store_true", help="skip refresh_project (flaky/suspects)")
    args = parser.parse_args(argv)
    out = build(args.db, args.runs, args.tests, analyses=not args.no_analyses)
    rate = out["results"] / out["build_s"] if out["build_s"] else 0
    print(
        f"built {out['runs']} runs / {out['results']:,} results in {out['build_s']:.1f} s "
        f"({rate:,.0f} results/s)"
    )
    if out.get("analyses_s") is not None:
        print(f"refresh_project (stored analyses): {out['analyses_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
