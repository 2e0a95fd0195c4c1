"""Our tests, failures and skips equal junitparser's for every corpus file junitparser can read,
except where a documented rule below says why we count differently.

junitparser is the oracle: every <testcase> at any depth is one test, and its outcome is the worst
of its <error>, <failure>, <skipped> children (error > failure > skipped), else passed. Our
xfailed counts as skipped and our xpassed as passed (junitparser has neither).

The documented rules (the only places we may differ):
- NOT_RUN: a testcase with no result child but a "did not run" status — googletest
  ``status="notrun" result="suppressed"`` (DISABLED_) or ``result="skipped"`` (GTEST_SKIP), tst's
  ``status='disabled'``, ``status="notrun"|"skipped"|...`` — is skipped, not passed
  (reasons beside ``_SKIP_STATUS`` in ingest/formats/junit.py).
- FAIL_STATUS: likewise ``status="failed"|"error"`` with no result child is a failure/error.
- PYTEST_RERUN: in a pytest report a repeated node id is a pytest-rerunfailures rerun (pytest node
  ids are unique within a session): one test, the outcome of its last testcase.
- STRESS_RERUN: nextest's ``<binary>@stress-<n>`` suites run the same tests again on purpose: one
  test per id, the outcome of its last iteration.
Playwright's ``--repeat-each`` (one title again within one project) is folded the same way; no corpus
file has it (test_identity_rules.py covers it). Surefire/Playwright ``flakyFailure``/``rerunFailure``
are reruns too, but inside one testcase, so they never change these counts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from ingest_helpers import CORPUS, REFUSED, corpus_files, final_outcomes, parse_file
from junitparser import Error, Failure, JUnitXml, Skipped
from junitparser import TestCase as CaseElement

from ingest import records as R

NOT_RUN_STATUS = {"notrun", "disabled", "skipped", "skip", "ignored", "pending"}
NOT_RUN_RESULT = {"suppressed", "skipped"}
FAIL_STATUS = {
    "failed": R.FAILED,
    "failure": R.FAILED,
    "fail": R.FAILED,
    "error": R.ERROR,
    "errored": R.ERROR,
}
STRESS = re.compile(r"@stress-\d+$")

# Every corpus file whose counts differ from junitparser's, and the rules that explain it. The
# test below recomputes the differing files and fails if this list is not exactly right.
DIFFERS = {
    "googletest/gtest-xml-output-unittest.xml": {"NOT_RUN"},
    "handwritten/TEST-status-attribute.xml": {"NOT_RUN"},
    "tst/disabled.xml": {"NOT_RUN"},
    "pytest-live/pytest-xunit1-durations-call.xml": {"PYTEST_RERUN"},
    "pytest-live/pytest-xunit2-setup-teardown-errors-reruns.xml": {"PYTEST_RERUN"},
    "cargo-nextest/stress-test-junit.xml": {"STRESS_RERUN"},
}

JUNIT_FILES = [f for f in corpus_files() if f not in REFUSED and not f.endswith((".json", ".jsonl", ".txt"))]


def junitparser_cases(path: Path) -> list[tuple[CaseElement, object]]:
    """Return (testcase, its suite element) at every depth, in document order, as junitparser reads them."""
    found = []

    def walk(elem) -> None:
        for child in elem:
            tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
            if tag == "testcase":
                found.append((CaseElement.fromelem(child), elem))
            elif tag == "testsuite":
                walk(child)

    walk(JUnitXml.fromfile(str(path))._elem)
    return found


def junitparser_outcome(case: CaseElement) -> str:
    kinds = {type(r) for r in case.result}
    if Error in kinds:
        return R.ERROR
    if Failure in kinds:
        return R.FAILED
    if Skipped in kinds:
        return R.SKIPPED
    return R.PASSED


def expected_outcomes(path: Path) -> tuple[list[str], list[str], set[str]]:
    """Return (junitparser's outcomes, outcomes under our documented rules, the rules that applied)."""
    cases = junitparser_cases(path)
    plain = [junitparser_outcome(case) for case, _suite in cases]
    root = JUnitXml.fromfile(str(path))._elem
    pytest_report = root.get("name") in ("pytest", "pytest tests") or any(
        suite.get("name") == "pytest" for _case, suite in cases
    )
    applied: set[str] = set()
    final: dict = {}
    for index, ((case, suite), outcome) in enumerate(zip(cases, plain, strict=True)):
        attrs = case._elem.attrib
        if outcome == R.PASSED and not case.result:
            status = (attrs.get("status") or attrs.get("result") or "").lower()
            if status in NOT_RUN_STATUS or (attrs.get("result") or "").lower() in NOT_RUN_RESULT:
                outcome = R.SKIPPED
                applied.add("NOT_RUN")
            elif status in FAIL_STATUS:
                outcome = FAIL_STATUS[status]
                applied.add("FAIL_STATUS")
        key: tuple = ("each", index)
        same = (attrs.get("classname") or "", attrs.get("name") or "")
        if pytest_report and all(same):
            key = ("pytest", *same)
        elif STRESS.search(suite.get("name") or ""):
            key = ("stress", STRESS.sub("", suite.get("name")), *same)
        if key in final:
            applied.add("PYTEST_RERUN" if key[0] == "pytest" else "STRESS_RERUN")
        final[key] = outcome
    return plain, list(final.values()), applied


def totals(outcomes) -> dict:
    counts = Counter(outcomes)
    counts[R.SKIPPED] += counts.pop(R.XFAILED, 0)
    counts[R.PASSED] += counts.pop(R.XPASSED, 0)
    return {
        "tests": sum(counts.values()),
        "failures": counts[R.FAILED],
        "errors": counts[R.ERROR],
        "skipped": counts[R.SKIPPED],
    }


def test_junitparser_reads_every_xml_file_we_read():
    assert len(JUNIT_FILES) > 100
    for name in JUNIT_FILES:
        junitparser_cases(CORPUS / name)


@pytest.mark.parametrize("name", JUNIT_FILES)
def test_counts_equal_junitparser_except_by_documented_rules(name):
    plain, ruled, applied = expected_outcomes(CORPUS / name)
    cases, _meta = parse_file(CORPUS / name, name)
    ours = totals(final_outcomes(cases).values())
    assert ours == totals(ruled)
    if totals(plain) != totals(ruled):
        assert DIFFERS.get(name) == applied, f"{name} differs from junitparser by {applied}: document it"
    else:
        assert name not in DIFFERS


def test_the_list_of_differing_files_is_complete_and_says_by_how_much():
    differences = {}
    for name in JUNIT_FILES:
        plain, ruled, _applied = expected_outcomes(CORPUS / name)
        if totals(plain) != totals(ruled):
            differences[name] = (totals(plain), totals(ruled))
    assert set(differences) == set(DIFFERS)
    # The rules only ever move tests out of "passed" (not-run statuses) or fold reruns together.
    for plain, ruled in differences.values():
        assert ruled["tests"] <= plain["tests"]
        assert ruled["skipped"] >= plain["skipped"] or ruled["tests"] < plain["tests"]


@pytest.mark.parametrize(
    ("name", "tests"),
    [
        # The counts the issue measured against: every testcase is its own test here.
        ("playwright/report.xml", 93),
        ("jest-junit/jest-large-test-results.xml", 4239),
        ("ginkgo/junit-sonobouy.xml", 710),
        ("mocha-junit-reporter/02-example.xml", 30),
    ],
)
def test_distinct_tests_are_not_collapsed_into_reruns(name, tests):
    cases, _meta = parse_file(CORPUS / name, name)
    assert len(junitparser_cases(CORPUS / name)) == tests
    assert len(final_outcomes(cases)) == len(cases) == tests


@pytest.mark.parametrize(
    ("name", "testcase", "attributes"),
    [
        # googletest DISABLED_ test: never run, counted in the suite's disabled=, not as passed.
        ("googletest/gtest-xml-output-unittest.xml", "MixedResultTest::DISABLED_test", 'status="notrun"'),
        (
            "googletest/gtest-xml-output-unittest.xml",
            "DisabledTest::DISABLED_test_not_run",
            'result="suppressed"',
        ),
        # GTEST_SKIP() in googletest < 1.11: status="run" but result="skipped" and no <skipped/>.
        ("googletest/gtest-xml-output-unittest.xml", "SkippedTest::Skipped", 'result="skipped"'),
        ("tst/disabled.xml", "factorial::disabled_test", "status='disabled'"),
        ("handwritten/TEST-status-attribute.xml", None, 'status="notrun"'),
    ],
)
def test_a_testcase_that_says_it_did_not_run_is_skipped_though_junitparser_calls_it_passed(
    name, testcase, attributes
):
    assert attributes in (CORPUS / name).read_text(encoding="utf-8-sig")
    cases, _meta = parse_file(CORPUS / name, name)
    outcomes = final_outcomes(cases)
    by_junitparser = {
        f"{c._elem.get('classname') or suite.get('name')}::{c.name}": junitparser_outcome(c)
        for c, suite in junitparser_cases(CORPUS / name)
    }
    chosen = testcase or next(
        n for n in outcomes if outcomes[n] == R.SKIPPED and by_junitparser.get(n) == R.PASSED
    )
    assert outcomes[chosen] == R.SKIPPED
    assert by_junitparser[chosen] == R.PASSED
