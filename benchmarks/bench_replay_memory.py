"""Peak memory and CPU of the worker's replay of a whole history (week_findings.refresh_week_findings).

    .venv/bin/python benchmarks/make_history.py --db sqlite:////tmp/rm-1m.db \
        --runs 1000 --tests 1000 --no-analyses
    .venv/bin/python benchmarks/bench_replay_memory.py --db sqlite:////tmp/rm-1m.db

Each measurement is a fresh interpreter (peak RSS is per process): the stored week findings of the
project are dropped, then ``refresh_week_findings`` replays the history and stores them again (the
database is written to). The baseline, measured the same way, is a bare ``iter_results`` pass over
the same runs with the same imports: what reading the history costs without the analysis. Prints
medians and ratios; never asserts. Without ``--db`` a small history is built in a temp directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import median, peak_rss_mb, print_table  # noqa: E402

_SETUP = """
import time
from datetime import timedelta
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from dashboard.analysis import week_findings
from dashboard.analysis.history import iter_results, iter_runs
from ingest.analysis_models import WeekFindingsRow
from ingest.db import make_engine
from ingest.models import Project

engine = make_engine(sys.argv[1])
with Session(engine) as session:
    project_id = session.scalar(select(Project.id).where(Project.name == sys.argv[2]))
    runs = iter_runs(session, project_id)
# A fixed "now" (a week after the newest run) so the same boundaries are stored whenever it runs.
now = max(r.started_at for r in runs) + timedelta(days=8)
"""

_REPLAY = _SETUP + """
with Session(engine) as session, session.begin():
    session.execute(delete(WeekFindingsRow).where(WeekFindingsRow.project_id == project_id))
start = time.process_time()
stored = week_findings.refresh_week_findings(engine, project_id, now=now)
print("CPU", time.process_time() - start, "STORED", stored)
"""

_BASELINE = _SETUP + """
last = max(week_findings.wanted_boundaries(runs, now))
start = time.process_time()
results = 0
with Session(engine) as session, session.begin():
    for run, rows in iter_results(session, [r for r in runs if r.started_at < last]):
        results += len(rows)
print("CPU", time.process_time() - start, "STORED", results)
"""


def measure(code: str, db: str, project: str) -> tuple[float, float, int]:
    """Return (peak RSS MB, CPU s, count) of ``code`` run in a fresh interpreter."""
    peak, out = peak_rss_mb(code, db, project)
    words = next(line for line in out.splitlines() if line.startswith("CPU")).split()
    return peak, float(words[1]), int(words[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL holding a history (make_history.py); it is written to")
    parser.add_argument("--project", default="bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tmp = None
    if args.db is None:
        from make_history import build

        tmp = tempfile.TemporaryDirectory()
        args.db = f"sqlite:///{Path(tmp.name) / 'replay.db'}"
        build(args.db, runs=300, tests=300, analyses=False)

    samples: dict[str, list[tuple[float, float, int]]] = {"iter_results pass (baseline)": [], "replay": []}
    for _ in range(args.repeat):  # alternating, so drift on a shared machine hits both alike
        samples["iter_results pass (baseline)"].append(measure(_BASELINE, args.db, args.project))
        samples["replay"].append(measure(_REPLAY, args.db, args.project))
    base_rss = median([s[0] for s in samples["iter_results pass (baseline)"]])
    base_cpu = median([s[1] for s in samples["iter_results pass (baseline)"]])
    results = samples["iter_results pass (baseline)"][0][2]
    rows = []
    for name, got in samples.items():
        rss, cpu = median([s[0] for s in got]), median([s[1] for s in got])
        what = f"{got[0][2]} boundaries stored" if name == "replay" else f"{got[0][2]:,} results read"
        rows.append((name, f"peak RSS {rss:8.0f} MB (x{rss / base_rss:5.2f})  "
                           f"CPU {cpu:7.1f} s (x{cpu / base_cpu:5.2f})  {what}"))
    print_table(f"replay of {results:,} results, median of {args.repeat} fresh processes", rows)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
