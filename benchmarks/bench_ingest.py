"""Ingest speed and memory on a generated 100,000-testcase pytest JUnit file (~17 MB).

Compares, alternating runs, our full ingest (parse + store into a fresh SQLite file) with
junitparser's bare whole-tree parse of the same file; reports medians, the ratio, and the peak
RSS of our ingest and of junitparser's parse, each measured in a fresh child process.

    .venv/bin/python benchmarks/bench_ingest.py [--tests 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import alternate, generate_pytest_junit, median, peak_rss_mb, print_table  # noqa: E402

INGEST_CODE = """
from ingest.db import make_engine
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
engine = make_engine(sys.argv[2])
summary = ingest_sources(engine, [ReportSource.from_path(sys.argv[1])], RunMeta(project="bench", suite="unit"))
print("TESTS", summary.tests)
"""
JUNITPARSER_CODE = """
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
print("SUITES", sum(1 for _ in xml))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from junitparser import JUnitXml

    from ingest.db import ensure_schema, make_engine
    from ingest.records import RunMeta
    from ingest.sources import ReportSource
    from ingest.store import ingest_sources

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report = generate_pytest_junit(tmp / "big.xml", args.tests)
        size_mb = report.stat().st_size / 1e6
        counter = {"n": 0}
        state: dict = {}

        def fresh_db() -> None:
            counter["n"] += 1
            engine = make_engine(f"sqlite:///{tmp}/db{counter['n']}.sqlite")
            ensure_schema(engine)  # migrations are a one-off cost, not part of ingest
            state["engine"] = engine

        def ours() -> None:
            ingest_sources(state["engine"], [ReportSource.from_path(report)], RunMeta(project="bench", suite="unit"))

        def junitparser_parse() -> None:
            xml = JUnitXml.fromfile(str(report))
            sum(1 for _ in xml)

        timings = alternate({"suitehealth ingest": ours, "junitparser parse": junitparser_parse},
                            runs=args.runs, setup=fresh_db)
        ours_s = median(timings["suitehealth ingest"])
        base_s = median(timings["junitparser parse"])
        db_url = f"sqlite:///{tmp / 'rss.sqlite'}"
        ensure_schema(make_engine(db_url))
        rss_ours, _ = peak_rss_mb(INGEST_CODE, str(report), db_url)
        rss_base, _ = peak_rss_mb(JUNITPARSER_CODE, str(report))
        print_table(f"{args.tests:,} testcases, {size_mb:.1f} MB, median of {args.runs} alternating runs", [
            ("suitehealth ingest (parse+store, SQLite)", f"{ours_s:.3f} s  (runs: "
             + ", ".join(f"{t:.2f}" for t in timings["suitehealth ingest"]) + ")"),
            ("junitparser whole-tree parse", f"{base_s:.3f} s  (runs: "
             + ", ".join(f"{t:.2f}" for t in timings["junitparser parse"]) + ")"),
            ("ratio ours / junitparser", f"{ours_s / base_s:.2f}  (target <= 1.5, aim <= 1.0)"),
            ("peak RSS suitehealth ingest", f"{rss_ours:.0f} MB  (target <= 150, aim <= 64)"),
            ("peak RSS junitparser parse", f"{rss_base:.0f} MB"),
            ("throughput", f"{args.tests / ours_s:,.0f} results/s"),
        ])


if __name__ == "__main__":
    main()
