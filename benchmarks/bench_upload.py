"""Upload throughput and latency against a real gunicorn server, 4 concurrent clients.

    .venv/bin/python benchmarks/bench_upload.py                       # fresh SQLite file
    .venv/bin/python benchmarks/bench_upload.py --db postgresql://postgres@127.0.0.1/test
    .venv/bin/python benchmarks/bench_upload.py --tests 1000 --runs 20 --rounds 3

Each round, 4 client threads upload distinct generated pytest JUnit reports (``--tests`` cases
each) through `ingest.upload_client` (multipart, gzip) to `suitehealth serve`. Prints, as the
median over rounds: runs/s, results/s, p50/p99 upload latency, and the same-process baseline
of GET /healthz latency (sequential and under 4 concurrent clients), with the ratio of upload
p50 to healthz p50. Never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import generate_pytest_junit  # noqa: E402

from ingest.db import database_url, ensure_schema, make_engine  # noqa: E402
from ingest.tokens import create_token  # noqa: E402
from ingest.upload_client import upload_reports  # noqa: E402

CLIENTS = 4


def summary_project_id(engine, project: str) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ingest.models import Project

    with Session(engine) as session:
        return session.scalar(select(Project.id).where(Project.name == project))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def start_server(db_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")
    proc = subprocess.Popen([exe, "--db", db_url, "serve", "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("server did not start")


def healthz_latencies(url: str, count: int, clients: int) -> list[float]:
    def one(_):
        start = time.perf_counter()
        with urllib.request.urlopen(url + "/healthz", timeout=30) as resp:
            resp.read()
        return time.perf_counter() - start

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


def upload_round(url: str, token: str, project: str, reports: list[Path]) -> tuple[float, list[float], int]:
    """Upload ``reports`` with 4 clients; return (wall seconds, latencies, new runs)."""
    def one(path: Path):
        start = time.perf_counter()
        result = upload_reports(url, token, project, [path], {"suite": "bench"}, retries=0, timeout_s=300)
        return time.perf_counter() - start, result.status

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(one, reports))
    wall = time.perf_counter() - start
    return wall, [lat for lat, _ in answers], sum(1 for _, status in answers if status == 201)


def refresh_lock_hold(engine, project: str, tmp: Path, tests: int, runs: int, rounds: int) -> list[tuple]:
    """Store ``runs`` reports, then time a refresh's lock-free compute and its write phase, per round.

    The write phase is how long the refresh holds the database write lock (uploads wait that
    long at most); before the compute moved out of the write transaction, it held it for both.
    """
    from dashboard.analysis.updates import analyse_pending, apply_pending
    from ingest.records import RunMeta
    from ingest.sources import ReportSource
    from ingest.store import ingest_sources

    project_id = summary_project_id(engine, project)
    meta = RunMeta(project=project, suite="bench")
    out = []
    for rnd in range(rounds):
        for i in range(runs):
            path = generate_pytest_junit(tmp / f"lock-{rnd}-{i}.xml", tests, seed=900_000 + rnd * 1000 + i)
            ingest_sources(engine, [ReportSource.from_path(path)], meta)
        start = time.perf_counter()
        pending = analyse_pending(engine, project_id)
        computed = time.perf_counter()
        stored = pending is not None and apply_pending(engine, pending)
        done = time.perf_counter()
        if stored:
            out.append((computed - start, done - computed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--tests", type=int, default=500, help="test cases per report (default 500)")
    parser.add_argument("--runs", type=int, default=24, help="uploads per round (default 24)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed (default 3)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    db_url = database_url(args.db or f"sqlite:///{tmp / 'bench.db'}")
    engine = make_engine(db_url)
    ensure_schema(engine)
    project = f"bench-{os.getpid()}"
    token = create_token(engine, project, "bench")[1]
    proc, url = start_server(db_url, args.workers)
    try:
        healthz_latencies(url, 20, CLIENTS)  # warm every worker
        rows = []
        for rnd in range(args.rounds):
            reports = [generate_pytest_junit(tmp / f"r{rnd}-{i}.xml", args.tests, seed=rnd * 10_000 + i)
                       for i in range(args.runs)]
            base_seq = healthz_latencies(url, 50, 1)
            base_par = healthz_latencies(url, 100, CLIENTS)
            wall, lat, new = upload_round(url, token, project, reports)
            rows.append({
                "runs_s": new / wall, "results_s": new * args.tests / wall,
                "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                "h_seq": statistics.median(base_seq), "h_par": statistics.median(base_par),
            })
            print(f"round {rnd + 1}: {new} runs in {wall:.2f}s, latency p50 {rows[-1]['p50'] * 1000:.0f} ms, "
                  f"p99 {rows[-1]['p99'] * 1000:.0f} ms", file=sys.stderr)
        proc.terminate()
        proc.wait(timeout=30)
        from dashboard.analysis.updates import refresh_project

        refresh_project(engine, summary_project_id(engine, project))  # catch up before timing
        holds = refresh_lock_hold(engine, project, tmp, args.tests, 8, args.rounds)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    backend = db_url.split(":", 1)[0]
    print(f"upload benchmark: {backend}, gunicorn {args.workers} workers, {CLIENTS} clients, "
          f"{args.runs} uploads x {args.tests} tests per round, median of {args.rounds} rounds")
    print(f"  throughput        {med['runs_s']:8.2f} runs/s   {med['results_s']:10.0f} results/s")
    print(f"  upload latency    p50 {med['p50'] * 1000:8.1f} ms   p99 {med['p99'] * 1000:8.1f} ms")
    print(f"  baseline /healthz p50 {med['h_seq'] * 1000:8.1f} ms sequential, "
          f"{med['h_par'] * 1000:.1f} ms with {CLIENTS} clients")
    print(f"  ratio upload p50 / healthz p50 (4 clients): {med['p50'] / med['h_par']:.1f}x")
    if holds:
        compute = statistics.median(h[0] for h in holds)
        write = statistics.median(h[1] for h in holds)
        print(f"  refresh of 8 new runs: compute {compute * 1000:.0f} ms without a lock, write lock held "
              f"{write * 1000:.0f} ms (computing inside the write transaction held it "
              f"{(compute + write) * 1000:.0f} ms: {(compute + write) / write:.1f}x as long)")


if __name__ == "__main__":
    main()
