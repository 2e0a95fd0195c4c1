"""The format parsers: dialect details, pytest formats, detection, and one identity across formats."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime

import pytest
from ingest_helpers import CORPUS, final_outcomes, parse_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import models
from ingest import records as R
from ingest.errors import MalformedReportError, UnknownFormatError
from ingest.formats import DURATIONS, JUNIT, PYTEST_JSON, REPORTLOG, detect, parse
from ingest.formats.junit import pytest_nodeid
from ingest.formats.pytest_common import markers_from_keywords
from ingest.formats.values import parse_seconds, parse_timestamp
from ingest.models import Result
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

LIVE = CORPUS / "pytest-live"
LIVE_FILES = [
    "pytest-xunit2-setup-teardown-errors-reruns.xml",
    "pytest-xunit1-durations-call.xml",
    "pytest-json-report-xdist.json",
    "pytest-reportlog-xdist.jsonl",
    "pytest-durations-all.txt",
]


def parse_bytes(data: bytes, name: str = "report"):
    report = parse(name, io.BytesIO(data))
    return list(report.cases), report.meta_after()


# ---- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xef\xbb\xbf  <?xml version='1.0'?><testsuites/>", JUNIT),
        (b"<!-- licence -->\n<testsuite/>", JUNIT),
        (b'{"created": 1, "tests": []}', PYTEST_JSON),
        (b'{"pytest_version": "9", "$report_type": "SessionStart"}\n{}', REPORTLOG),
        (b"==== slowest 10 durations ====\n0.10s call     t.py::test_a\n", DURATIONS),
    ],
)
def test_format_is_detected_from_content_not_name(head, fmt):
    assert detect(head) == fmt


def test_a_reportlog_saved_as_json_is_read_as_reportlog():
    cases, meta = parse_file(CORPUS / "pytest-reportlog/launchable-report-log.json")
    assert meta.format == REPORTLOG
    assert len(cases) == 7


def test_unknown_text_is_refused_as_unknown_format():
    with pytest.raises(UnknownFormatError):
        detect(b"hello world, not a report")


# ---- JUnit dialects -----------------------------------------------------------------------


def test_pytest_xfail_is_xfailed_and_xpass_strict_is_failed():
    cases, _ = parse_file(LIVE / "pytest-xunit2-setup-teardown-errors-reruns.xml")
    final = final_outcomes(cases)
    assert final["tests/test_shop.py::test_xfail"] == R.XFAILED
    assert final["tests/test_shop.py::test_xpass_strict"] == R.FAILED
    assert final["tests/test_shop.py::test_setup_error"] == R.ERROR
    assert final["tests/test_shop.py::test_teardown_error"] == R.ERROR


def test_a_repeated_testcase_is_a_rerun_in_file_order():
    cases, _ = parse_file(LIVE / "pytest-xunit2-setup-teardown-errors-reruns.xml")
    flaky = [c for c in cases if c.nodeid == "tests/test_shop.py::test_flaky_rerun"]
    assert [c.outcome for c in flaky] == [R.FAILED, R.PASSED]


def test_surefire_flaky_failures_become_earlier_attempts_before_the_final_pass():
    cases, _ = parse_file(CORPUS / "maven-surefire/TEST-io.olamy.FlakyTest.xml")
    by_id: dict[str, list] = {}
    for case in cases:
        by_id.setdefault(case.nodeid, []).append(case)
    flaky = [attempts for attempts in by_id.values() if len(attempts) > 1]
    assert len(flaky) == 1
    assert [c.outcome for c in flaky[0]] == [R.FAILED, R.FAILED, R.PASSED]
    assert flaky[0][0].details and "at " in flaky[0][0].details  # the stackTrace text


def test_surefire_rerun_failures_are_all_failed_attempts():
    cases, _ = parse_file(CORPUS / "maven-surefire/TEST-io.olamy.AlwaysFailTest.xml")
    assert len({c.nodeid for c in cases}) == 1
    assert [c.outcome for c in cases] == [R.FAILED] * 4


def test_multiple_results_in_one_testcase_keep_the_worst():
    cases, _ = parse_file(CORPUS / "handwritten/junit.multiresult.xml")
    assert R.ERROR in {c.outcome for c in cases}
    data = (
        b'<testsuite><testcase classname="c" name="n"><skipped/><failure/><error message="boom"/>'
        b"</testcase></testsuite>"
    )
    (case,), _ = parse_bytes(data)
    assert case.outcome == R.ERROR and case.message == "boom"


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("handwritten/TEST-status-attribute.xml", 2),  # status="notrun", no <skipped/>
        # DISABLED_ tests (status="notrun" result="suppressed") and GTEST_SKIP (result="skipped")
        ("googletest/gtest-xml-output-unittest.xml", 3),
        ("tst/disabled.xml", 5),  # status='disabled'
    ],
)
def test_not_run_statuses_are_skips(name, skipped):
    cases, _ = parse_file(CORPUS / name)
    assert sum(1 for o in final_outcomes(cases).values() if o == R.SKIPPED) == skipped


def test_ctest_status_run_is_not_a_skip():
    cases, _ = parse_file(CORPUS / "ctest/ctest-output-junit.xml")
    assert {c.outcome for c in cases} == {R.PASSED}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1.5", 1.5),
        ("0.", 0.0),
        ("2,503.1", 2503.1),
        ("4.50611114501953e-05", 4.50611114501953e-05),
        ("0,5", 0.5),
        ("-345345", None),
        ("", None),
        ("abc", None),
        ("nan", None),
        ("999638317", 0.999638317),
    ],
)
def test_odd_times_are_read_or_dropped(value, seconds):
    assert (
        parse_seconds(value) == pytest.approx(seconds)
        if seconds is not None
        else parse_seconds(value) is None
    )


def test_ant_child_element_times_are_read():
    cases, meta = parse_file(CORPUS / "ant/TEST-AntUnit.xml")
    assert cases[0].duration_s == pytest.approx(0.378)
    assert meta.duration_s == pytest.approx(0.378)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-03T11:23:00.00", datetime(2024, 1, 3, 11, 23, tzinfo=UTC)),
        ("2024-01-03T 12:40:13", datetime(2024, 1, 3, 12, 40, 13, tzinfo=UTC)),
        ("2024-01-03 12:40:13Z", datetime(2024, 1, 3, 12, 40, 13, tzinfo=UTC)),
        ("2021-03-07T10:36:56 UTC", datetime(2021, 3, 7, 10, 36, 56, tzinfo=UTC)),
        ("2025-11-15T16:51:49.548396-05:00", datetime(2025, 11, 15, 21, 51, 49, 548396, tzinfo=UTC)),
        ("Sat, 03 Dec 2022 23:10:07 GMT", datetime(2022, 12, 3, 23, 10, 7, tzinfo=UTC)),
        ("2025-06-09T08:30:48.826123456Z", datetime(2025, 6, 9, 8, 30, 48, 826123, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("1970-01-01T00:00:00", None),
        ("yesterday", None),
    ],
)
def test_timestamps_in_all_corpus_forms_become_aware_utc(text, expected):
    assert parse_timestamp(text) == expected


def test_suite_time_timestamp_hostname_and_properties_reach_the_report_meta():
    _, meta = parse_file(CORPUS / "pytest/python-xunit-pytest.xml")
    assert meta.started_at is not None and meta.started_at.tzinfo is not None
    assert meta.duration_s is not None and meta.hostname
    assert meta.properties  # record_testsuite_property values


def test_empty_testsuites_is_a_valid_run_with_no_tests():
    cases, _ = parse_bytes(b"<testsuites/>")
    assert cases == []


def test_cdata_bom_and_entities_are_decoded():
    cases, _ = parse_file(CORPUS / "handwritten/with-xml-entities.xml")
    assert any('"' in c.nodeid or "&" in c.nodeid or "<" in (c.message or "") for c in cases)
    cases, _ = parse_file(CORPUS / "xunit-net/xunit.xml")  # UTF-8 BOM before the declaration
    assert len(cases) == 2


def test_gzip_is_transparent():
    data = (CORPUS / "pytest/report.xml").read_bytes()
    source = ReportSource.from_bytes("report.xml.gz", gzip.compress(data))
    with source.open() as fh:
        cases = list(parse("report.xml.gz", fh).cases)
    assert len(cases) == 3


# ---- pytest identity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classname", "name", "file", "nodeid"),
    [
        (
            "tests.unit.test_cart.TestCart",
            "test_add[x]",
            None,
            "tests/unit/test_cart.py::TestCart::test_add[x]",
        ),
        ("tests.unit.test_cart", "test_add", None, "tests/unit/test_cart.py::test_add"),
        ("tests.test_a.TestOuter.TestInner", "test_x", None, "tests/test_a.py::TestOuter::TestInner::test_x"),
        (
            "tests.test_shop.TestCart",
            "test_in_class",
            "tests/test_shop.py",
            "tests/test_shop.py::TestCart::test_in_class",
        ),
        ("Tests.Test_Upper", "test_x", "Tests/Test_Upper.py", "Tests/Test_Upper.py::test_x"),
        ("", "tests.test_async_client", None, "tests/test_async_client.py"),
        ("", "", None, "(collection)"),
    ],
)
def test_pytest_junit_names_map_back_to_node_ids(classname, name, file, nodeid):
    assert pytest_nodeid(classname, name, file) == nodeid


def test_non_pytest_tools_keep_classname_and_name():
    (case,), _ = parse_bytes(
        b'<testsuite name="jest"><testcase classname="Cart adds" name="one item"/></testsuite>'
    )
    assert case.nodeid == "Cart adds::one item"
    # Without a classname the suite (usually the file) stands in for it: names repeat across files.
    (case,), _ = parse_bytes(b'<testsuite name="jest"><testcase name="alone"/></testsuite>')
    assert case.nodeid == "jest::alone"


def test_the_same_pytest_run_has_the_same_node_ids_and_outcomes_in_every_format():
    reference = final_outcomes(parse_file(LIVE / LIVE_FILES[0])[0])
    assert len(reference) == 13
    for name in LIVE_FILES[1:]:
        outcomes = final_outcomes(parse_file(LIVE / name)[0])
        if name.endswith(".txt"):  # --durations text cannot tell an xfail from a pass
            outcomes["tests/test_shop.py::test_xfail"] = R.XFAILED
        assert outcomes == reference, name


def test_the_same_tests_ingested_in_every_format_are_one_test_each(engine):
    for index, name in enumerate(LIVE_FILES):
        ingest_sources(
            engine, [ReportSource.from_path(LIVE / name)], RunMeta(project="shop", suite=f"s{index}")
        )
    with Session(engine) as session:
        nodeids = session.scalars(select(models.Test.nodeid)).all()
        assert len(nodeids) == 13
        markers = dict(session.execute(select(models.Test.nodeid, models.Test.markers)).all())
    assert "integration" in markers["tests/test_shop.py::test_slow_integration"]


# ---- pytest-json-report, reportlog, durations -----------------------------------------------


def test_json_report_phases_markers_workers_and_crash_message():
    cases, meta = parse_file(LIVE / "pytest-json-report-xdist.json")
    by_id = {c.nodeid: c for c in cases}
    slow = by_id["tests/test_shop.py::test_slow_integration"]
    assert slow.call_s is not None and slow.setup_s is not None and slow.duration_s >= slow.call_s
    assert slow.markers == ("integration",) and slow.worker_id in ("gw0", "gw1")
    teardown = by_id["tests/test_shop.py::test_teardown_error"]
    assert teardown.outcome == R.ERROR and "teardown" in teardown.message
    assert not teardown.details.startswith("[gw")
    assert meta.started_at is not None and meta.duration_s is not None


def test_reportlog_keeps_workers_start_stop_and_order_by_start():
    cases, _ = parse_file(LIVE / "pytest-reportlog-xdist.jsonl")
    assert {c.worker_id for c in cases} == {"gw0", "gw1"}
    starts = [c.start for c in cases]
    assert None not in starts and starts == sorted(starts)
    assert all(c.stop >= c.start for c in cases)
    flaky = [c for c in cases if c.nodeid.endswith("test_flaky_rerun")]
    assert [c.outcome for c in flaky] == [R.FAILED, R.PASSED]
    assert all(c.extra and "item_index" in c.extra for c in cases)


def test_reportlog_suitehealth_keys_give_markers_fixtures_and_seed():
    lines = [
        {
            "$report_type": "SessionStart",
            "pytest_version": "9.2.0",
            "suitehealth": {"format_version": 1, "random_seed": "4242", "started_at": "2026-01-05T10:00:00Z"},
        },
    ]
    for when in ("setup", "call", "teardown"):
        lines.append(
            {
                "$report_type": "TestReport",
                "nodeid": "tests/test_db.py::test_q",
                "when": when,
                "outcome": "passed",
                "duration": 0.5,
                "start": 100.0 + len(lines),
                "stop": 100.5 + len(lines),
                "keywords": {"test_q": 1, "slow": 1},
                "location": ["tests/test_db.py", 3, "test_q"],
                "suitehealth": {"markers": ["integration"], "fixtures": ["db", "tmp_path"]},
            }
        )
    lines.append({"$report_type": "SessionFinish", "exitstatus": 0})
    data = "\n".join(json.dumps(line) for line in lines).encode()
    (case,), meta = parse_bytes(data)
    assert case.markers == ("integration", "fixture:db", "fixture:tmp_path")
    assert case.duration_s == pytest.approx(1.5)
    assert meta.random_seed == "4242"
    assert meta.started_at == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_reportlog_broken_line_names_its_line_number():
    data = b'{"$report_type": "SessionStart"}\n{"$report_type": "TestReport", nodeid}\n'
    with pytest.raises(MalformedReportError) as info:
        parse_bytes(data, "log.jsonl")
    assert str(info.value).startswith("log.jsonl:2:")


def test_durations_text_gives_phase_times_outcomes_and_seed():
    cases, meta = parse_file(LIVE / "pytest-durations-all.txt")
    by_id = {c.nodeid: c for c in cases}
    slow = by_id["tests/test_shop.py::test_slow_integration"]
    assert slow.call_s == pytest.approx(0.30)
    assert by_id["tests/test_shop.py::test_fail"].outcome == R.FAILED
    assert by_id["tests/test_shop.py::test_setup_error"].outcome == R.ERROR
    assert by_id["tests/test_shop.py::test_skipped_db"].outcome == R.SKIPPED
    assert meta.random_seed == "12345" and meta.duration_s == pytest.approx(0.43)


def test_keywords_that_are_node_names_are_not_markers():
    keywords = [
        "test_in[a-1]",
        "slow",
        "pytestmark",
        "a-1",
        "a",
        "1",
        "TestX",
        "test_m.py",
        "pkg",
        "tests",
        "repo",
        "",
    ]
    assert markers_from_keywords("tests/pkg/test_m.py::TestX::test_in[a-1]", keywords) == ("slow",)


def test_execution_order_of_junit_is_file_order(engine):
    ingest_sources(engine, [ReportSource.from_path(CORPUS / "pytest/report.xml")], RunMeta(project="p"))
    cases, _ = parse_file(CORPUS / "pytest/report.xml")
    with Session(engine) as session:
        query = select(models.Test.nodeid).join(Result, Result.test_id == models.Test.id)
        stored = session.scalars(query.order_by(Result.order_index)).all()
    assert stored == [c.nodeid for c in cases]


def test_pytest_xunit1_under_a_renamed_suite_is_still_recognised_by_its_file_attribute():
    data = (
        b'<testsuites><testsuite name="unit"><testcase classname="tests.test_cart.TestCart" name="test_add" '
        b'file="tests/test_cart.py" line="3"/><testcase classname="TestAcme" name="test_x" '
        b'file="tests/test_lib.py"/></testsuite></testsuites>'
    )
    cases, _ = parse_bytes(data)
    assert [c.nodeid for c in cases] == ["tests/test_cart.py::TestCart::test_add", "TestAcme::test_x"]
