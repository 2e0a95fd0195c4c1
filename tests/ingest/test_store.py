"""Storing runs: idempotent on content, one transaction, attempts numbered, kill-safe."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ingest_helpers import CORPUS, stored_counts
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.models import Result, Run
from ingest.records import CaseRecord, RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources, store_cases

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SHARD_A = CORPUS / "pytest/junit.gloo.elastic.xml"
SHARD_B = CORPUS / "pytest/junit.gloo.standalone.xml"


def test_reingesting_the_same_content_is_recognised_and_stores_nothing(engine):
    first = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p", suite="unit"))
    counts = stored_counts(engine)
    again = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p", suite="unit"))
    assert not first.duplicate and again.duplicate
    assert again.run_id == first.run_id and again.tests == first.tests
    assert stored_counts(engine) == counts


def test_gzip_of_the_same_content_is_the_same_run(engine):
    first = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p"))
    zipped = ReportSource.from_bytes("a.xml.gz", gzip.compress(SHARD_A.read_bytes(), mtime=12345))
    again = ingest_sources(engine, [zipped], RunMeta(project="p"))
    assert again.duplicate and again.run_id == first.run_id


def test_shards_in_another_order_are_the_same_run(engine):
    first = ingest_sources(
        engine, [ReportSource.from_path(SHARD_A), ReportSource.from_path(SHARD_B)], RunMeta(project="p")
    )
    again = ingest_sources(
        engine, [ReportSource.from_path(SHARD_B), ReportSource.from_path(SHARD_A)], RunMeta(project="p")
    )
    assert first.files == 2 and first.tests == 14 + 97
    assert again.duplicate and again.run_id == first.run_id


def test_the_same_content_for_another_suite_is_a_new_run(engine):
    a = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p", suite="unit"))
    b = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p", suite="nightly"))
    assert not b.duplicate and b.run_id != a.run_id
    assert stored_counts(engine)["tests"] == a.tests  # the tests are the project's, shared by suites


def test_reruns_are_numbered_and_only_the_last_attempt_is_final(engine):
    cases = [
        CaseRecord("t.py::a", "failed"),
        CaseRecord("t.py::b", "passed"),
        CaseRecord("t.py::a", "failed"),
        CaseRecord("t.py::a", "passed"),
    ]
    summary = store_cases(engine, RunMeta(project="p"), cases)
    assert (summary.tests, summary.passed, summary.failed, summary.reruns) == (2, 2, 0, 2)
    with Session(engine) as session:
        rows = session.execute(
            select(Result.order_index, Result.attempt, Result.final, Result.outcome).order_by(
                Result.order_index
            )
        ).all()
        run = session.get(Run, summary.run_id)
        assert run.rerun_passed == 1
    assert [tuple(r) for r in rows] == [
        (0, 1, False, "failed"),
        (1, 1, True, "passed"),
        (2, 2, False, "failed"),
        (3, 3, True, "passed"),
    ]


def test_run_time_comes_from_the_report_when_no_flag_gives_it(engine):
    summary = ingest_sources(engine, [ReportSource.from_path(SHARD_A)], RunMeta(project="p"))
    assert summary.started_at.startswith("2020-08-31T09:25:25")
    assert summary.duration_s is not None


KILLED_INGEST = textwrap.dedent("""
    import sys
    sys.path.insert(0, {benchmarks!r})
    from _common import generate_pytest_junit
    from pathlib import Path
    from ingest import formats
    from ingest.db import make_engine
    from ingest.records import RunMeta
    from ingest.sources import ReportSource
    from ingest.store import ingest_sources

    real_parse = formats.parse

    def parse(name, fh):
        report = real_parse(name, fh)
        cases = report.cases

        def announcing():
            for i, case in enumerate(cases):
                if i == 10_500:  # past two batches of 5,000: rows are in the open transaction
                    print("MIDWAY", flush=True)
                    sys.stdin.readline()  # wait here until the parent kills us
                yield case
        report.cases = announcing()
        return report

    path = generate_pytest_junit(Path(sys.argv[2]), 12_000)
    engine = make_engine(sys.argv[1])
    ingest_sources(engine, [ReportSource.from_path(path)], RunMeta(project="p"), parse=parse)
    print("FINISHED", flush=True)
""")


def test_a_killed_ingest_leaves_no_partial_run(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    report = tmp_path / "big.xml"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST.format(benchmarks=str(BENCHMARKS)), url, str(report)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "MIDWAY"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    engine.dispose()
    assert stored_counts(engine) == {"runs": 0, "tests": 0, "results": 0}
    # The same file then ingests normally: the killed attempt left no duplicate marker either.
    summary = ingest_sources(engine, [ReportSource.from_path(report)], RunMeta(project="p"))
    assert not summary.duplicate and summary.tests == 12_000
