"""Median server time of every dashboard page and JSON twin, in-process (Flask test client).

    .venv/bin/python benchmarks/make_history.py --db /tmp/bench-200k.db --runs 1000 --tests 200
    .venv/bin/python benchmarks/bench_pages.py --db /tmp/bench-200k.db

Without --db, a 1,000-run / 200,000-result SQLite history is built in a temporary directory first.
Each URL is timed three ways: its first request (analysis cache emptied, nothing read yet), the
median of --repeat requests with the analysis cache emptied before each (cold) and without (warm);
the cold median's ratio to /healthz measured in the same process (a floor: routing + one trivial
query) is shown too. Build the history, then run `suitehealth --db URL worker --once` so the stored
analyses are filled, as a server's worker keeps them. Never asserts.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

# Page templates; {p} project, {suite}, {run} the newest run of the first suite, {nodeid} a test of it.
PAGES = [
    "/",
    "/api/v1/projects",
    "/projects/{p}",
    "/api/v1/projects/{p}",
    "/projects/{p}/runs",
    "/api/v1/projects/{p}/runs?limit=1000",
    "/projects/{p}/runs?suite={suite}&branch=main&page=5",
    "/projects/{p}/runs/{run}",
    "/projects/{p}/runs/{run}?sort=duration&page=3",
    "/api/v1/projects/{p}/runs/{run}?limit=1000",
    "/projects/{p}/tests?q=test_case_0001",
    "/projects/{p}/tests?nodeid={nodeid}",
    "/api/v1/projects/{p}/tests?nodeid={nodeid}&limit=1000",
    "/projects/{p}/pyramid",
    "/api/v1/projects/{p}/pyramid",
    "/projects/{p}/budget?suite={suite}",
    "/api/v1/projects/{p}/budget?suite={suite}",
    "/projects/{p}/budget?suite={suite}&since=2026-09-01",
    "/projects/{p}/flaky",
    "/api/v1/projects/{p}/flaky",
    "/projects/{p}/suspects",
    "/projects/{p}/weekly",
    "/api/v1/projects/{p}/weekly",
    "/projects/{p}/weekly?week={latest}",
    "/projects/{p}/weekly?week={week}",
    "/api/v1/projects/{p}/weekly?week={week}",
    "/projects/{p}/flaky?until={sunday}",
    "/projects/{p}/flaky?until={wednesday}",
    "/projects/{p}/flaky?since={monday}&until={sunday}",
    "/projects/{p}/suspects?until={sunday}",
    "/projects/{p}/weekly?week={old}",
    "/projects/{p}/flaky?until={old_wednesday}",
]
# ?week={latest} reviews the newest run's week (the default review of a live project);
# ?week={week} a week with runs this many weeks before it ({sunday}, {wednesday}, {monday} its days);
# ?week={old} one OLD_WEEKS_BACK weeks before it ({old_wednesday}: a day older than the stored days).
WEEKS_BACK = 8
OLD_WEEKS_BACK = 40


def targets(url: str) -> dict:
    """Pick the project, a suite, its newest run and one of its tests from the database."""
    from dashboard.analysis.weeks import week_of
    from ingest.db import make_engine
    from ingest.models import Project, Result, Run, Suite, Test

    engine = make_engine(url)
    with Session(engine) as s:
        project = s.scalars(select(Project).order_by(Project.id)).first()
        if project is None:
            raise SystemExit(f"{url} holds no project; build one with benchmarks/make_history.py")
        suite = s.scalars(select(Suite).where(Suite.project_id == project.id).order_by(Suite.name)).first()
        run_id = s.scalar(
            select(Run.id).where(Run.suite_id == suite.id).order_by(Run.started_at.desc()).limit(1))
        nodeid = s.scalar(
            select(Test.nodeid).join(Result, Result.test_id == Test.id)
            .where(Result.run_id == run_id).limit(1))
        newest = s.scalar(select(func.max(Run.started_at)).where(Run.project_id == project.id))
        size = s.scalar(select(func.count()).select_from(Result))
        runs = s.scalar(select(func.count()).select_from(Run))
    engine.dispose()
    week = week_of(newest).shifted(-WEEKS_BACK) if newest else week_of(datetime.now(UTC))
    old = week.shifted(-OLD_WEEKS_BACK)
    return {"week": week.label, "latest": week_of(newest or datetime.now(UTC)).label,
            "sunday": week.last_day.isoformat(), "monday": week.first_day.isoformat(),
            "wednesday": (week.first_day + timedelta(days=2)).isoformat(), "old": old.label,
            "old_wednesday": (old.first_day + timedelta(days=2)).isoformat(),
            "p": quote(project.name, safe=""), "suite": quote(suite.name, safe=""), "run": run_id,
            "nodeid": quote(nodeid or "", safe=""), "_results": size, "_runs": runs}


def measure(client, path: str, repeat: int, cold: bool = False) -> tuple[float, int, int, float]:
    """Return (median seconds, status, bytes, median CPU seconds) of ``repeat`` requests after one warm-up.

    ``cold`` empties the per-process analysis cache before each timed request: what the first view
    after a new run (or in a fresh gunicorn worker) costs.
    """
    from dashboard.analysis import history, run_cache

    response = client.get(path)
    times, cpu = [], []
    for _ in range(repeat):
        if cold:
            run_cache.clear()
            history._AS_OF.clear()  # what a new run does to the as-of (until=) replays
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(path)
        response.get_data()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), response.status_code, len(response.get_data()), statistics.median(cpu)


def first_request(client, path: str) -> float:
    """Return the seconds of one request of ``path`` with the per-process analysis cache emptied.

    Run before any other request of that path: the first view after a new run or in a fresh worker.
    """
    from dashboard.analysis import history, run_cache

    run_cache.clear()
    history._AS_OF.clear()
    t0 = time.perf_counter()
    client.get(path).get_data()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL or SQLite path (default: build a 200k-result history)")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page")
    parser.add_argument("--only", help="only pages whose template contains this text")
    parser.add_argument("--cold", action="store_true",
                        help="only the cold measures (first request, cold median), not the warm median")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the app's objects in the garbage collector (serve freezes them)")
    args = parser.parse_args(argv)

    url = args.db
    if url is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from make_history import build

        url = f"sqlite:///{tempfile.mkdtemp(prefix='suitehealth-bench-')}/bench.db"
        print(f"building 1,000 runs / 200,000 results in {url} ...", flush=True)
        print(build(url, 1000, 200), flush=True)

    from dashboard import compile_templates, create_app

    picks = targets(url)
    app = create_app({"DATABASE_URL": url})
    compile_templates(app)  # as `suitehealth serve` does in gunicorn's master
    if not args.no_freeze:
        gc.freeze()  # as `suitehealth serve` does after building the app in gunicorn's master
    client = app.test_client()
    baseline, _, _, _ = measure(client, "/healthz", args.repeat * 3)
    paths = [template.format(**{k: v for k, v in picks.items() if not k.startswith("_")})
             for template in PAGES if not args.only or args.only in template]
    # First requests before anything else touches those pages' data: each path's first view with
    # the analysis cache emptied (the app, templates and connection pool are already up).
    firsts = {path: first_request(client, path) for path in paths}
    print(f"database: {picks['_runs']:,} runs, {picks['_results']:,} results; repeat={args.repeat}"
          f"{'; app objects not frozen' if args.no_freeze else ''}")
    print(f"baseline /healthz median: {baseline * 1000:.2f} ms\n")
    # cold: the analysis cache emptied before each request; warm: not. CPU time of this process
    # (SQLite work included; a PostgreSQL server's is not) is steadier than wall time on a shared
    # machine.
    print(f"{'first ms':>9} {'cold ms':>8} {'warm ms':>8} {'cold/hz':>8} {'cold cpu':>8} {'status':>6} "
          f"{'KiB':>7}  page")
    worst = 0.0
    for path in paths:
        cold, status, size, cpu = measure(client, path, args.repeat, cold=True)
        warm = float("nan") if args.cold else measure(client, path, args.repeat)[0]
        worst = max(worst, cold, firsts[path])
        print(f"{firsts[path] * 1000:>9.1f} {cold * 1000:>8.1f} {warm * 1000:>8.1f} {cold / baseline:>8.1f} "
              f"{cpu * 1000:>8.1f} {status:>6} {size / 1024:>7.1f}  {path}", flush=True)
    print(f"\nslowest page, first request or cold median: {worst * 1000:.1f} ms "
          "(target <= 150 ms, aim <= 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
