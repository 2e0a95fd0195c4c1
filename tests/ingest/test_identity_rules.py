"""The identity rules one by one, on small reports shaped like each tool's output."""

from __future__ import annotations

import io

from ingest import records as R
from ingest.formats import parse
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources


def ids(xml: str) -> list[str]:
    return [case.nodeid for case in parse("r.xml", io.BytesIO(xml.encode())).cases]


def jest(*files: tuple[str, list[str]]) -> str:
    suites = "".join(
        f'<testsuite name="{file}">'
        + "".join(f'<testcase classname="cart" name="{title}" time="0.1"/>' for title in titles)
        + "</testsuite>"
        for file, titles in files
    )
    return f'<testsuites name="jest tests">{suites}</testsuites>'


def test_jest_tests_keep_their_identity_whichever_file_the_report_lists_first():
    # jest-junit lists files in completion order, which changes from run to run.
    a, b = ("src/a.test.js", ["adds"]), ("src/b.test.js", ["adds"])
    assert (
        sorted(ids(jest(a, b)))
        == sorted(ids(jest(b, a)))
        == [
            "cart::adds[src/a.test.js]",
            "cart::adds[src/b.test.js]",
        ]
    )


def test_a_same_named_test_in_another_suite_is_a_variant_and_in_the_same_suite_a_numbered_repeat():
    xml = (
        "<testsuites>"
        '<testsuite name="unit"><testcase classname="C" name="t"/>'
        '<testcase classname="C" name="t"/></testsuite>'
        '<testsuite name="e2e"><testcase classname="C" name="t"/></testsuite>'
        "</testsuites>"
    )
    assert ids(xml) == ["C::t", "C::t#2", "C::t[e2e]"]


def test_a_numbered_repeat_never_merges_with_a_test_really_named_so():
    xml = (
        '<testsuite name="s"><testcase classname="C" name="t#2"/>'
        '<testcase classname="C" name="t"/><testcase classname="C" name="t"/></testsuite>'
    )
    assert ids(xml) == ["C::t#2", "C::t", "C::t#3"]


def test_playwright_project_already_in_the_name_is_not_added_twice():
    xml = (
        '<testsuites id="" name="" tests="2" failures="0" skipped="0" errors="0" time="1">'
        '<testsuite name="a.spec.ts" hostname="chromium" tests="1">'
        '<testcase name="[chromium] › works" classname="a.spec.ts"/></testsuite>'
        '<testsuite name="a.spec.ts" hostname="firefox" tests="1">'
        '<testcase name="works" classname="a.spec.ts"/></testsuite></testsuites>'
    )
    assert ids(xml) == ["a.spec.ts::[chromium] › works", "a.spec.ts::works[firefox]"]


def test_hostnames_of_other_tools_are_machines_not_variants():
    xml = (
        "<testsuites>"
        '<testsuite name="com.C" hostname="ci-1"><testcase classname="com.C" name="t"/></testsuite>'
        '<testsuite name="com.D" hostname="ci-2"><testcase classname="com.D" name="t"/></testsuite>'
        "</testsuites>"
    )
    report = parse("r.xml", io.BytesIO(xml.encode()))
    assert [c.nodeid for c in report.cases] == ["com.C::t", "com.D::t"]
    assert report.meta_after().hostnames == ("ci-1", "ci-2")


def test_nextest_stress_iterations_and_pytest_repeats_are_attempts_of_one_test(engine):
    stress = (
        '<testsuites name="nextest-run">'
        + "".join(
            f'<testsuite name="crate::bin@stress-{i}"><testcase classname="crate::bin" name="t">'
            f"{'<failure/>' if i == 0 else ''}</testcase></testsuite>"
            for i in range(3)
        )
        + "</testsuites>"
    )
    # pytest-rerunfailures under xdist: the rerun need not follow its first attempt directly.
    pytest_xml = (
        '<testsuites name="pytest tests"><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_x"><failure/></testcase>'
        '<testcase classname="tests.test_a" name="test_y"/>'
        '<testcase classname="tests.test_a" name="test_x"/>'
        "</testsuite></testsuites>"
    )
    # (tests, reruns, failed, passed): the last attempt counts.
    for name, xml, counts in (("stress.xml", stress, (1, 2, 0, 1)), ("pytest.xml", pytest_xml, (2, 1, 0, 2))):
        summary = ingest_sources(
            engine, [ReportSource.from_bytes(name, xml.encode())], RunMeta(project="p", suite=name)
        )
        assert (summary.tests, summary.reruns, summary.failed, summary.passed) == counts, name


def test_a_testcase_without_a_classname_takes_its_suite():
    xml = (
        "<testsuites>"
        '<testsuite name="t/math.t"><testcase name="1 - add"/></testsuite>'
        '<testsuite name="t/fail.t"><testcase name="1 - add"><failure/></testcase></testsuite>'
        "</testsuites>"
    )
    cases = list(parse("r.xml", io.BytesIO(xml.encode())).cases)
    assert [(c.nodeid, c.outcome) for c in cases] == [
        ("t/math.t::1 - add", R.PASSED),
        ("t/fail.t::1 - add", R.FAILED),
    ]


def test_playwright_repeat_each_runs_one_test_again(engine):
    # Playwright refuses duplicate titles in a file; --repeat-each writes the same test N times.
    xml = (
        '<testsuites id="" name="" tests="3" failures="1" skipped="0" errors="0" time="1">'
        '<testsuite name="a.spec.ts" hostname="chromium" tests="3">'
        '<testcase name="works" classname="a.spec.ts"/>'
        '<testcase name="works" classname="a.spec.ts"><failure message="flaked"/></testcase>'
        '<testcase name="works" classname="a.spec.ts"/>'
        "</testsuite></testsuites>"
    )
    assert ids(xml) == ["a.spec.ts::works[chromium]"] * 3
    summary = ingest_sources(engine, [ReportSource.from_bytes("pw.xml", xml.encode())], RunMeta(project="p"))
    assert (summary.tests, summary.reruns, summary.passed) == (1, 2, 1)
