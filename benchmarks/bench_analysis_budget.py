"""Time the pyramid and budget analyses (the data behind their pages) on a big synthetic history.

    .venv/bin/python benchmarks/bench_analysis_budget.py                      # builds 1,000 runs x 200 tests
    .venv/bin/python benchmarks/bench_analysis_budget.py --db /tmp/bench-5m.db  # an existing history

Prints the median of several calls of each analysis and its ratio to a baseline measured in the same
process: reading the suite's per-run totals (the cheapest query a budget page must make). Never asserts
on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard.analysis.budget import (  # noqa: E402
    duration_regressions,
    slowest_tests,
    suite_budget,
    suite_budgets,
)
from dashboard.analysis.pyramid import pyramid_levels  # noqa: E402
from dashboard.settings import Settings  # noqa: E402
from ingest.db import make_engine  # noqa: E402
from ingest.models import Run  # noqa: E402

# The app's default budget and no config file: the numbers do not depend on the cwd.
NO_FILE = Settings(file_table={})


def median_ms(fn, repeat: int) -> float:
    fn()  # warm caches and the connection pool
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL or SQLite path (default: build 1,000 runs x 200 tests)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--suite", default="integration")
    args = parser.parse_args(argv)
    url = args.db
    if url is None:
        from make_history import build

        url = f"sqlite:///{tempfile.mkdtemp(prefix='suitehealth-bench-')}/history.db"
        out = build(url, 1000, 200, analyses=False)
        print(f"built {out['runs']} runs / {out['results']:,} results in {out['build_s']:.1f} s")
    engine = make_engine(url)
    with Session(engine) as session:
        suite = args.suite

        def baseline():
            return session.execute(select(Run.id, Run.duration_s, Run.tests).where(Run.project_id == 1)
                                   .order_by(Run.started_at.desc()).limit(400)).all()

        cases = {
            "baseline: 400 runs' totals": baseline,
            "suite_budget (with what-if)": lambda: suite_budget(session, 1, settings=NO_FILE, suite=suite),
            "suite_budgets (all suites)": lambda: suite_budgets(session, 1, settings=NO_FILE),
            "slowest_tests": lambda: slowest_tests(session, 1, suite=suite),
            "duration_regressions": lambda: duration_regressions(session, 1, suite=suite),
            "pyramid_levels": lambda: pyramid_levels(session, 1),
        }
        base = None
        print(f"{'analysis':<32} {'median ms':>10} {'x baseline':>11}")
        for name, fn in cases.items():
            ms = median_ms(fn, args.repeat)
            base = base or ms
            print(f"{name:<32} {ms:>10.1f} {ms / base:>11.1f}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
