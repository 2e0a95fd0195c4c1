"""Every file of the conformance corpus is read (or refused with a clear reason) and stored.

The agreement of our test/failure/skip counts with junitparser's, and the rules where we differ on
purpose, are in test_identity_junitparser.py.
"""

from __future__ import annotations

import pytest
from ingest_helpers import CORPUS, REFUSED, corpus_files, final_outcomes, parse_file, stored_counts

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


def test_the_corpus_is_all_there():
    assert len(FILES) >= 140
    assert all((CORPUS / f).is_file() for f in FILES)


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
