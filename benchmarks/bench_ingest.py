"""Ingest speed and memory on a generated 100,000-testcase pytest JUnit file (~17 MB).

Compares, alternating runs, our full ingest (detect + streaming parse + store into a fresh SQLite
file, one transaction) with junitparser's bare whole-tree parse of the same file, and, for
context, our streaming parse alone (no database) and junitparser's parse plus a walk that reads
every case (what ingesting with junitparser would need at least). Prints wall and CPU medians and
ratios, and the peak RSS (VmHWM) of our ingest and of junitparser's parse, each measured in a fresh
child process.

    .venv/bin/python benchmarks/bench_ingest.py [--tests 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
    from ingest.formats import parse
    from ingest.sources import ReportSource

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report = generate_pytest_junit(tmp / "big.xml", args.tests)
        size_mb = report.stat().st_size / 1e6
        state: dict = {"n": 0}

        def fresh_db() -> None:
            state["n"] += 1
            engine = make_engine(f"sqlite:///{tmp}/db{state['n']}.sqlite")
            ensure_schema(engine)  # migrating is a one-off cost per database, not part of ingest
            state["engine"] = engine

        def ours() -> None:
            assert ingest_report(state["engine"], report) == args.tests

        def ours_parse_only() -> None:
            source = ReportSource.from_path(report)
            with source.open(None) as fh:
                count = sum(1 for _ in parse(source.name, fh).cases)
            assert count == args.tests

        def junitparser_parse() -> None:
            xml = JUnitXml.fromfile(str(report))
            sum(1 for _ in xml)

        def junitparser_walk() -> None:
            xml = JUnitXml.fromfile(str(report))
            for suite in xml:
                for case in suite:
                    _ = (case.classname, case.name, case.time, case.result)

        wall, cpu = alternate(
            {
                "ours": ours,
                "parse": ours_parse_only,
                "junitparser": junitparser_parse,
                "walk": junitparser_walk,
            },
            runs=args.runs,
            setup=fresh_db,
        )
        db_url = f"sqlite:///{tmp}/rss.sqlite"
        ensure_schema(make_engine(db_url))
        rss_ours, _ = peak_rss_mb(INGEST_CODE, str(report), db_url)
        rss_base, _ = peak_rss_mb(JUNITPARSER_CODE, str(report))

        def show(name: str) -> str:
            return (
                f"wall {median(wall[name]):.3f} s, cpu {median(cpu[name]):.3f} s  (wall runs: "
                + ", ".join(f"{t:.2f}" for t in wall[name])
                + ")"
            )

        print_table(
            f"{args.tests:,} testcases, {size_mb:.1f} MB, median of {args.runs} alternating runs, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            [
                ("suitehealth ingest (parse+store, SQLite)", show("ours")),
                ("  of which: our streaming parse alone", show("parse")),
                ("junitparser whole-tree parse", show("junitparser")),
                ("junitparser parse + read every case", show("walk")),
                (
                    "ratio ours / junitparser parse",
                    f"wall {median(wall['ours']) / median(wall['junitparser']):.2f}, "
                    f"cpu {median(cpu['ours']) / median(cpu['junitparser']):.2f}  (target <= 1.5, aim 1.0)",
                ),
                (
                    "ratio our parse alone / junitparser parse",
                    f"wall {median(wall['parse']) / median(wall['junitparser']):.2f}, "
                    f"cpu {median(cpu['parse']) / median(cpu['junitparser']):.2f}",
                ),
                (
                    "ratio ours / junitparser parse+walk",
                    f"wall {median(wall['ours']) / median(wall['walk']):.2f}, "
                    f"cpu {median(cpu['ours']) / median(cpu['walk']):.2f}",
                ),
                ("peak RSS suitehealth ingest", f"{rss_ours:.0f} MB  (target <= 150, aim <= 64)"),
                ("peak RSS junitparser parse", f"{rss_base:.0f} MB"),
                ("throughput", f"{args.tests / median(wall['ours']):,.0f} results/s wall"),
            ],
        )


if __name__ == "__main__":
    main()
