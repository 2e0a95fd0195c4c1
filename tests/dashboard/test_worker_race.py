"""Two `suitehealth serve` (two gunicorn servers, each with its analysis worker) on one PostgreSQL
database, with uploads racing into both: every run is analysed by exactly one worker, once, no
analysis is computed and thrown away, and nothing is lost."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_worker import ServeProcess

from dashboard.analysis.freshness import projects_behind
from ingest.analysis_models import AnalysedRun, FlakeStats
from ingest.db import ensure_schema, make_engine
from ingest.models import Result, Run
from ingest.records import BAD_OUTCOMES, PASSED
from ingest.tokens import create_token
from ingest.upload_client import upload_reports

REPORT = Path(__file__).resolve().parents[1] / "data" / "upload" / "python-xunit-pytest.xml"
PASSING = '<testcase classname="tests.test_lib" name="test_always_pass" time="0.002"/>'
FAILING = ('<testcase classname="tests.test_lib" name="test_always_pass" time="0.002">'
           '<failure message="flaky">boom</failure></testcase>')
UPLOADS_PER_THREAD = 8
ANALYSED = re.compile(r"suitehealth worker\[(\d+)\]: project \d+: analysed (\d+) run\(s\) \(ids ([\d,-]+)\), "
                      r"discarded (\d+) attempt")


def _variant(folder: Path, n: int) -> Path:
    """A real report made distinct per upload; every third one fails test_always_pass (a flaky test)."""
    text = REPORT.read_text(encoding="utf-8")
    if n % 3 == 0:
        text = text.replace(PASSING, FAILING)
    path = folder / f"junit-{n}.xml"
    path.write_text(text.rstrip() + f"\n<!-- ci build {n} -->\n", encoding="utf-8")
    return path


def _ids(ranges: str) -> list[int]:
    out: list[int] = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        out += range(int(low), int(high or low) + 1)
    return out


@pytest.mark.postgres
def test_two_servers_and_two_workers_with_racing_uploads_analyse_each_run_once(pg_url, tmp_path):
    engine = make_engine(pg_url)
    ensure_schema(engine)
    token = create_token(engine, "shop")[1]
    servers = [ServeProcess(pg_url) for _ in range(2)]
    try:
        pids = {server.wait_for("watching") for server in servers}
        uploaded: list[int] = []
        errors: list[BaseException] = []

        def upload(server: ServeProcess, first: int) -> None:
            try:
                for n in range(first, first + UPLOADS_PER_THREAD):
                    result = upload_reports(server.base, token, "shop", [_variant(tmp_path, n)],
                                            {"suite": "unit", "commit": f"c{n // 2}"})
                    uploaded.append(result.run_id)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=upload, args=(servers[i % 2], i * UPLOADS_PER_THREAD))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        while True:  # the workers catch up by themselves
            with Session(engine) as s:
                if not projects_behind(s):
                    break
            assert all(server.proc.poll() is None for server in servers)
            time.sleep(0.1)
    finally:
        outputs = [server.stop() for server in servers]
    log = "".join(outputs)
    assert "Traceback" not in log, log
    assert len({line.split("]")[0] for line in pids}) == 2  # two workers watched

    analysed = [(int(pid), _ids(ranges), int(discarded))
                for pid, _, ranges, discarded in ANALYSED.findall(log)]
    per_run = Counter(run_id for _, ids, _ in analysed for run_id in ids)
    assert sorted(per_run) == sorted(uploaded) and len(uploaded) == 4 * UPLOADS_PER_THREAD
    assert set(per_run.values()) == {1}  # no run analysed twice
    assert [d for _, _, d in analysed if d] == []  # no analysis computed and discarded

    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AnalysedRun)) == len(uploaded)
        # Nothing lost: each test's stored state counted every run where it passed or failed.
        counted = dict(s.execute(
            select(Result.test_id, func.count())
            .where(Result.final, Result.outcome.in_([PASSED, *BAD_OUTCOMES]))
            .join(Run, Run.id == Result.run_id).group_by(Result.test_id)).all())
        stored = dict(s.execute(select(FlakeStats.test_id, FlakeStats.runs)).all())
        flaky = s.scalar(select(func.count()).select_from(FlakeStats).where(FlakeStats.flakes > 0))
    assert stored == counted
    assert flaky >= 1  # test_always_pass failed every third run: the analysis saw it
    engine.dispose()
