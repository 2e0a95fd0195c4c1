"""Median time of the weekly review on the demo history: its parts, the whole, the cache, the renderers.

    .venv/bin/python benchmarks/bench_weekly.py                 # writes the demo into a temp SQLite file
    .venv/bin/python benchmarks/bench_weekly.py --db /tmp/demo.db --week 2026-W47

The baseline is the review's own SQL (runs, pass rates, per-suite weeks, skip surges, count drops),
measured in the same process; the whole review adds the budget, pyramid, flakiness and
interference analyses as of two week ends. Never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from _common import alternate, median, print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL or SQLite path holding the demo project")
    parser.add_argument("--project", default="acme-shop")
    parser.add_argument("--week", help="ISO week (default: the last complete one)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from dashboard.analysis import history, skips, week_parts, weekly
    from dashboard.analysis.weeks import last_complete_week, parse_week
    from dashboard.analysis.window import Window
    from dashboard.weekly_render import render_html, render_markdown
    from ingest.db import ensure_schema, make_engine

    tmp = None
    if args.db is None:
        from dashboard.demo import write_demo

        tmp = tempfile.TemporaryDirectory()
        args.db = f"sqlite:///{Path(tmp.name) / 'demo.db'}"
        engine = make_engine(args.db)
        ensure_schema(engine)
        write_demo(engine, project=args.project)
    engine = make_engine(args.db)
    week = parse_week(args.week) if args.week else last_complete_week()
    window = Window.of_week(week)

    with Session(engine) as session:
        project = weekly.find_project(session, args.project)
        if project is None:
            sys.exit(f"no project {args.project!r} in {args.db}")
        # Import the analyses once so the first timed review does not pay for scipy's import.
        review = weekly.weekly_review(session, project.id, window)

        def own_sql():
            weekly._totals(session, project.id, week)
            weekly._totals(session, project.id, week.previous)
            weekly._suite_weeks(session, project, week)
            week_parts.failures_by_test(session, project.id, week)
            skips.skip_surges(session, project.id, window)
            skips.count_drops(session, project.id, window)

        def uncached():
            # The as-of analyses keep their replays per process too; a first view has none.
            history._AS_OF.clear()
            weekly.weekly_review(session, project.id, window)

        weekly.cached_weekly_review(session, project.id, window)
        candidates = {
            "own SQL sections (baseline)": own_sql,
            "whole review, uncached": uncached,
            "whole review, cache hit": lambda: weekly.cached_weekly_review(session, project.id, window),
            "render Markdown": lambda: render_markdown(review, "https://health.example.com"),
            "render self-contained HTML": lambda: render_html(review, "https://health.example.com"),
        }
        wall, cpu = alternate(candidates, runs=args.repeat)
    base = median(wall["own SQL sections (baseline)"])
    title = f"weekly review of {args.project} {week.label} ({review.runs} runs), median of {args.repeat}"
    print_table(title, [
        (name, f"{median(wall[name]) * 1000:9.1f} ms wall  {median(cpu[name]) * 1000:9.1f} ms cpu  "
               f"x{median(wall[name]) / base:7.2f}")
        for name in candidates
    ])
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
