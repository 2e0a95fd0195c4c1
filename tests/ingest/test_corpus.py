"""Every file of the conformance corpus is read (or refused with a clear reason), and our counts
agree with junitparser's wherever junitparser can read the file.

Comparison rule (junitparser as the oracle):
- every <testcase> at any nesting depth counts; its outcome is the worst of its <error>,
  <failure>, <skipped> children (error > failure > skipped), else passed;
- a testcase with status="notrun"/"disabled" (googletest, tst) and no result child is skipped —
  junitparser does not read that attribute;
- a testcase repeated in one file (same classname — or Codeception's class — and name) is a
  rerun: it counts once, with the outcome of its last occurrence; Surefire/nextest
  flakyFailure/rerunFailure are earlier attempts and do not change the final outcome;
- pytest's xfail (<skipped type="pytest.xfail">) is our "xfailed"; it is compared as skipped.
"""

from __future__ import annotations

from collections import Counter

import pytest
from ingest_helpers import CORPUS, REFUSED, corpus_files, final_outcomes, parse_file, stored_counts
from junitparser import Error, Failure, JUnitXml, Skipped
from junitparser import TestCase as CaseElement
from junitparser import TestSuite as SuiteElement

from ingest import records as R
from ingest.errors import IngestError
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

FILES = corpus_files()
READABLE = [f for f in FILES if f not in REFUSED]
XML = [
    f
    for f in READABLE
    if not f.startswith(("pytest-json-report/", "pytest-reportlog/", "pytest-durations/"))
    and not f.endswith((".json", ".jsonl", ".txt"))
]


def junitparser_counts(path) -> Counter:
    """Return outcome counts by junitparser's reading of the file, under the rule above."""
    xml = JUnitXml.fromfile(str(path))
    final: dict = {}
    unnamed = 0
    for case in _cases_in_document_order(xml):
        kinds = {type(r) for r in case.result}
        if Error in kinds:
            outcome = R.ERROR
        elif Failure in kinds:
            outcome = R.FAILED
        elif Skipped in kinds:
            outcome = R.SKIPPED
        elif (case._elem.get("status") or "").lower() in ("notrun", "disabled"):
            outcome = R.SKIPPED
        else:
            outcome = R.PASSED
        classname = case._elem.get("classname") or case._elem.get("class") or ""
        name = case.name or ""
        if not name:
            unnamed += 1
            key = ("", f"#{unnamed}")
        else:
            key = (classname.strip(), name.strip())
        final[key] = outcome
    return Counter(final.values())


def _cases_in_document_order(element) -> list[CaseElement]:
    """Return junitparser's TestCase objects at every depth, in document order (reruns: last wins)."""
    found = []
    for child in element._elem:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.rsplit("}", 1)[-1] == "testcase":
            found.append(CaseElement.fromelem(child))
        elif tag.rsplit("}", 1)[-1] == "testsuite":
            found.extend(_cases_in_document_order(SuiteElement.fromelem(child)))
    return found


def test_the_corpus_is_all_there():
    assert len(FILES) >= 140
    assert all((CORPUS / f).is_file() for f in FILES)


@pytest.mark.parametrize("name", XML)
def test_junit_counts_equal_junitparser(name):
    expected = junitparser_counts(CORPUS / name)
    cases, _meta = parse_file(CORPUS / name, name)
    ours = Counter(final_outcomes(cases).values())
    ours[R.SKIPPED] += ours.pop(R.XFAILED, 0)
    ours[R.PASSED] += ours.pop(R.XPASSED, 0)
    assert +ours == +expected


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_malformed_and_foreign_files_are_refused_with_a_clear_reason(name):
    with pytest.raises(IngestError) as info:
        parse_file(CORPUS / name, name)
    message = str(info.value)
    assert message.startswith(name)
    assert REFUSED[name].lower() in message.lower()
    assert "\n" not in message


def test_xml_syntax_errors_carry_line_and_column():
    with pytest.raises(IngestError) as info:
        parse_file(CORPUS / "malformed/truncated-pytest.xml", "truncated.xml")
    assert info.value.line is not None and info.value.column is not None
    assert str(info.value).startswith(f"truncated.xml:{info.value.line}:{info.value.column}: ")


def one_per_tool(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.split("/", 1)[0], name)
    return list(seen.values())


def test_every_corpus_file_is_stored_and_every_refused_one_leaves_nothing(engine):
    # Every file on SQLite; one file per producing tool on PostgreSQL keeps the suite fast.
    names = READABLE if engine.dialect.name == "sqlite" else one_per_tool(READABLE)
    for name in names:
        summary = ingest_sources(
            engine, [ReportSource.from_path(CORPUS / name)], RunMeta(project="corpus", suite=name)
        )
        cases, _ = parse_file(CORPUS / name, name)
        final = final_outcomes(cases)
        assert summary.tests == len(final), name
        assert summary.failed == sum(1 for o in final.values() if o == R.FAILED), name
        assert summary.reruns == len(cases) - len(final), name
    before = stored_counts(engine)
    for name in REFUSED:
        with pytest.raises(IngestError):
            ingest_sources(
                engine, [ReportSource.from_path(CORPUS / name)], RunMeta(project="corpus", suite="bad")
            )
    assert stored_counts(engine) == before
    assert before["runs"] == len(names)
