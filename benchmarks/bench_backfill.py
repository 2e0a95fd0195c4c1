"""Backfill throughput: results/s importing a ~1,000-run CI history through ``backfill``.

Generates a history of pytest JUnit reports (one suite, tests added over time, a few failures
and reruns), writes a JSONL manifest, and imports it into a fresh database with the same code
the ``suitehealth backfill`` command runs. Prints median runs/s and results/s over --runs.

    .venv/bin/python benchmarks/bench_backfill.py [--runs-in-history 1000] [--tests 100] [--runs 3] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, print_table  # noqa: E402


def write_history(root: Path, runs: int, tests: int, seed: int = 7) -> tuple[Path, int]:
    """Write ``runs`` JUnit reports and their manifest; return (manifest, total results)."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    lines, total = [], 0
    for run in range(runs):
        count = tests + run * tests // runs  # the suite grows by ~100% over the history
        parts = [
            f'<testsuites name="pytest tests"><testsuite name="pytest" tests="{count}" '
            f'timestamp="{(start + timedelta(hours=6 * run)).isoformat()}" time="{count * 0.05:.2f}">'
        ]
        for i in range(count):
            parts.append(
                f'<testcase classname="tests.unit.test_mod{i // 25}" name="test_case_{i}" '
                f'time="{rng.random() * 0.1:.4f}"'
            )
            if rng.random() < 0.01:
                parts.append('><failure message="assert 0">assert 0</failure></testcase>')
            else:
                parts.append("/>")
            total += 1
        parts.append("</testsuite></testsuites>")
        name = f"reports/run-{run:05d}.xml"
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text("".join(parts))
        lines.append(
            json.dumps(
                {
                    "project": "history",
                    "suite": "unit",
                    "branch": "main",
                    "commit": f"{run:040x}",
                    "build_id": str(run),
                    "started_at": (start + timedelta(hours=6 * run)).isoformat(),
                    "files": [name],
                }
            )
        )
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-in-history", type=int, default=1000)
    ap.add_argument(
        "--tests", type=int, default=100, help="tests in the first run (the last has twice as many)"
    )
    ap.add_argument("--runs", type=int, default=3, help="repetitions, each into a fresh database")
    ap.add_argument("--db", help="database URL template for PostgreSQL runs (default: fresh SQLite files)")
    args = ap.parse_args()

    from ingest.cli_backfill import backfill
    from ingest.db import ensure_schema, make_engine

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest, total = write_history(root, args.runs_in_history, args.tests)
        seconds, cpu = [], []
        for rep in range(args.runs):
            engine = make_engine(args.db or f"sqlite:///{root}/backfill{rep}.sqlite")
            ensure_schema(engine)
            start, start_cpu = time.perf_counter(), time.process_time()
            result = backfill(engine, manifest)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert result.failed == 0 and result.as_dict()["results"] == total
            engine.dispose()
        wall = median(seconds)
        print_table(
            f"backfill of {args.runs_in_history:,} runs, {total:,} results, median of {args.runs}, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            [
                ("wall", f"{wall:.2f} s (runs: " + ", ".join(f"{s:.1f}" for s in seconds) + ")"),
                ("cpu", f"{median(cpu):.2f} s"),
                ("runs/s", f"{args.runs_in_history / wall:,.1f}"),
                ("results/s", f"{total / wall:,.0f} wall, {total / median(cpu):,.0f} per CPU-second"),
            ],
        )


if __name__ == "__main__":
    main()
