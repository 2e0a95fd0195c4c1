"""A JUnit time outside [0, a week] is unknown, as in every other format: in the parsed report (which
the CI summary reads without storing) and in the database, for test cases and test suites alike."""

from __future__ import annotations

import io

import pytest
from input_helpers import junit, stored_values_are_sane
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.formats import parse
from ingest.models import Result, Run
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

ABSURD_TIMES = {"eight-days": "691200", "a-million-seconds": "1e6", "1e308": "1e308", "nan": "NaN",
                "negative": "-1"}
STAMP = 'timestamp="2026-11-02T10:00:00"'


def _report(time: str) -> bytes:
    """Return a JUnit report whose suite and first case take ``time``; a second case takes 0.25 s."""
    return junit(f'classname="t" name="test_absurd" time="{time}" {STAMP}/>'
                 f'<testcase classname="t" name="test_sane" time="0.25" {STAMP}', f'time="{time}" {STAMP}')


@pytest.mark.parametrize("time", ABSURD_TIMES.values(), ids=ABSURD_TIMES.keys())
def test_a_junit_time_outside_a_week_is_parsed_and_stored_as_unknown(engine, time):
    data = _report(time)
    report = parse("absurd.xml", io.BytesIO(data))
    cases = {case.name: case for case in report.cases}
    assert cases["test_absurd"].duration_s is None
    assert cases["test_absurd"].stop == cases["test_absurd"].start  # not pushed days into the future
    assert cases["test_sane"].duration_s == 0.25
    assert report.meta_after().duration_s is None

    summary = ingest_sources(engine, [ReportSource.from_bytes("absurd.xml", data)],
                             RunMeta(project="bounds", suite="junit"))
    assert summary.duration_s == 0.25  # the span of the cases' known times, not days
    assert stored_values_are_sane(engine) == []
    with Session(engine) as session:
        assert sorted(session.scalars(select(Result.duration_s)), key=str) == [0.25, None]
        run = session.scalars(select(Run)).one()
        assert (run.duration_s, run.test_time_s) == (0.25, 0.25)
