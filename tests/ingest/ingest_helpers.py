"""Helpers shared by the ingest tests: the corpus, parsing a file, reading back what was stored."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.formats import parse
from ingest.models import Result, Run, Test
from ingest.records import CaseRecord, ReportMeta
from ingest.sources import ReportSource

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
# Files that are not reports we read, each with the words its refusal must contain.
REFUSED = {
    "eclipse-junit/junit-testrun.xml": "testrun",
    "maven-failsafe/failsafe-summary.xml": "failsafe",
    "malformed/allure1-wrong-format.xml": "test-suite",
    "malformed/bogus-root-in-reports-dir.xml": "bogus",
    "malformed/empty.json": "empty",
    "malformed/empty.xml": "empty",
    "malformed/malformed-json.json": "invalid JSON",
    "malformed/non-json.json": "not a report format",
    "malformed/non-junit-wrong-root.xml": "suites",
    "malformed/non-xml.xml": "not a report format",
    "malformed/surefire-truncated-in-cdata.xml": "invalid XML",
    "malformed/truncated-pytest.xml": "invalid XML",
    "malformed/xxe-external-entity.xml": "DOCTYPE",
    "malformed/xxe-oob.dtd.xml": "DOCTYPE",
}


def corpus_files() -> list[str]:
    """Return every report file of the corpus (relative paths), as listed in its MANIFEST."""
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[0] for row in rows[1:] if row and not row[0].endswith(".py.txt")]


def parse_file(path: Path | str, name: str | None = None) -> tuple[list[CaseRecord], ReportMeta]:
    """Parse a report completely; return its records and its final metadata."""
    source = ReportSource.from_path(path)
    with source.open() as fh:
        report = parse(name or str(path), fh)
        cases = list(report.cases)
        return cases, report.meta_after()


def final_outcomes(cases: list[CaseRecord]) -> dict[str, str]:
    """Return nodeid -> outcome of the last attempt, as the store counts them."""
    final: dict[str, str] = {}
    for case in cases:
        final[case.nodeid] = case.outcome
    return final


def stored_counts(engine) -> dict:
    """Return how many runs, tests and results the database holds."""
    with Session(engine) as session:
        return {
            "runs": session.scalar(select(func.count()).select_from(Run)),
            "tests": session.scalar(select(func.count()).select_from(Test)),
            "results": session.scalar(select(func.count()).select_from(Result)),
        }
