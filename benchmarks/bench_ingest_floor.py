"""Our 100,000-testcase ingest against the floor: a bare lxml parse writing the same rows with executemany.

The floor is the least any ingest of this file into our schema must do: stream the file with lxml
``iterparse`` (freeing each testcase as it goes), map each testcase to its test row and its result
row (the same node ids, outcomes, durations, messages and order as ours), and write them with
``sqlite3.executemany`` in batches, in one transaction, into a fresh file whose schema (tables and
indexes) was created by our migrations, with the same pragmas our engine sets. It does none of what
makes ours an ingest: format detection, the content hash and duplicate check, identity rules,
limits, attempts, run totals from the stream, warnings.

Both are timed alternating in this one process (median wall and CPU of ``--runs`` runs, each into a
fresh database), the rows they wrote are compared once, and the peak RSS (VmHWM) of each is measured
in a fresh child process.

    .venv/bin/python benchmarks/bench_ingest_floor.py [--tests 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    INGEST_CODE,
    alternate,
    generate_pytest_junit,
    ingest_report,
    median,
    peak_rss_mb,
    print_table,
)

BATCH = 2000
_OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}

FLOOR_CODE = f"""
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from bench_ingest_floor import floor_ingest
print("TESTS", floor_ingest(sys.argv[1], sys.argv[2]))
"""


def floor_ingest(report: str | os.PathLike, db_path: str | os.PathLike) -> int:
    """Write ``report``'s tests and results into the migrated SQLite file ``db_path``; return the count."""
    from lxml import etree

    from ingest.formats.junit import pytest_nodeid

    conn = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("BEGIN IMMEDIATE")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    project_id = conn.execute("INSERT INTO projects (name, created_at) VALUES ('floor', ?)", (now,)).lastrowid
    suite_id = conn.execute(
        "INSERT INTO suites (project_id, name) VALUES (?, 'unit')", (project_id,)).lastrowid
    run_id = conn.execute(
        "INSERT INTO runs (project_id, suite_id, started_at, environment, content_hash, formats, sources, "
        "workers, ingested_at, test_time_s, tests, passed, failed, errors, skipped, xfailed, xpassed, "
        "reruns, rerun_passed) "
        "VALUES (?, ?, ?, '{}', 'floor', 'junit', '[]', 1, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
        (project_id, suite_id, now, now),
    ).lastrowid
    next_id = (conn.execute("SELECT max(id) FROM tests").fetchone()[0] or 0) + 1
    insert_tests = (
        "INSERT INTO tests (id, project_id, nodeid, file, classname, name, markers, first_seen_run_id) "
        "VALUES (?, ?, ?, NULL, ?, ?, '[]', ?)"
    )
    insert_results = (
        "INSERT INTO results (run_id, test_id, outcome, order_index, attempt, final, duration_s, message, "
        "details) VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?)"
    )
    prefixes: dict[str, str] = {}
    tests: list[tuple] = []
    results: list[tuple] = []
    order = 0
    for _event, elem in etree.iterparse(report, events=("end",), tag="testcase", resolve_entities=False,
                                        no_network=True, load_dtd=False, huge_tree=False):
        classname = elem.get("classname")
        name = elem.get("name")
        prefix = prefixes.get(classname)
        if prefix is None:
            prefix = prefixes[classname] = pytest_nodeid(classname, "\0")[:-1]
        outcome = "passed"
        message = details = None
        if len(elem):
            child = elem[0]
            outcome = _OUTCOMES.get(child.tag, "passed")
            message, details = child.get("message"), child.text
        tests.append((next_id, project_id, prefix + name, classname, name, run_id))
        results.append((run_id, next_id, outcome, order, float(elem.get("time")), message, details))
        next_id += 1
        order += 1
        elem.clear(keep_tail=False)
        parent = elem.getparent()
        while elem.getprevious() is not None:
            del parent[0]
        if len(results) == BATCH:
            conn.executemany(insert_tests, tests)
            conn.executemany(insert_results, results)
            tests.clear()
            results.clear()
    conn.executemany(insert_tests, tests)
    conn.executemany(insert_results, results)
    conn.execute(
        "UPDATE runs SET tests = (SELECT count(*) FROM results WHERE run_id = ?) WHERE id = ?",
        (run_id, run_id),
    )
    conn.execute("COMMIT")
    conn.close()
    return order


_ROWS = (
    "SELECT t.nodeid, t.classname, t.name, t.file, r.outcome, r.order_index, r.attempt, r.final, "
    "r.duration_s, r.message, r.details FROM results r JOIN tests t ON t.id = r.test_id "
    "ORDER BY r.order_index"
)


def _rows(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(_ROWS).fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from ingest.db import ensure_schema, make_engine

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report = generate_pytest_junit(tmp / "big.xml", args.tests)
        size_mb = report.stat().st_size / 1e6
        state: dict = {"n": 0}

        def migrated(name: str) -> Path:
            path = tmp / name
            engine = make_engine(f"sqlite:///{path}")
            ensure_schema(engine)  # the same migrations, so the same tables and indexes for both
            engine.dispose()
            return path

        def fresh_dbs() -> None:
            state["n"] += 1
            n = state["n"]
            for old in tmp.glob("*.sqlite*"):
                old.unlink()
            state["ours"] = make_engine(f"sqlite:///{migrated(f'ours{n}.sqlite')}")
            ensure_schema(state["ours"])  # the check (already at head) stays outside the timing
            state["floor"] = migrated(f"floor{n}.sqlite")

        def ours() -> None:
            assert ingest_report(state["ours"], report) == args.tests
            state["ours"].dispose()

        def floor() -> None:
            assert floor_ingest(report, state["floor"]) == args.tests

        # One checked pair first: the floor must write what ours writes, or it is no floor.
        fresh_dbs()
        ours()
        floor()
        same = _rows(Path(state["ours"].url.database)) == _rows(state["floor"])
        wall, cpu = alternate({"ours": ours, "floor": floor}, runs=args.runs, setup=fresh_dbs)

        rss_ours, _ = peak_rss_mb(INGEST_CODE, str(report), f"sqlite:///{migrated('rss-ours.sqlite')}")
        rss_floor, _ = peak_rss_mb(FLOOR_CODE, str(report), str(migrated("rss-floor.sqlite")))

        def show(name: str) -> str:
            return (f"wall {median(wall[name]):.3f} s, cpu {median(cpu[name]):.3f} s  (cpu runs: "
                    + ", ".join(f"{t:.2f}" for t in cpu[name]) + ")")

        print_table(
            f"{args.tests:,} testcases, {size_mb:.1f} MB, median of {args.runs} alternating runs, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            [
                ("suitehealth ingest (detect, hash, parse, rules, store)", show("ours")),
                ("floor: lxml iterparse + sqlite3.executemany", show("floor")),
                ("same test and result rows written", "yes" if same else "NO (the floor is not comparable)"),
                ("ratio ours / floor",
                 f"wall {median(wall['ours']) / median(wall['floor']):.2f}, "
                 f"cpu {median(cpu['ours']) / median(cpu['floor']):.2f}  (target <= 1.5)"),
                ("peak RSS suitehealth ingest", f"{rss_ours:.0f} MB  (target <= 100)"),
                ("peak RSS floor", f"{rss_floor:.0f} MB"),
            ],
        )


if __name__ == "__main__":
    main()
