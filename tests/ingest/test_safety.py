"""Hostile or oversized input is refused early and leaves nothing behind."""

from __future__ import annotations

import gzip
import io

import pytest
from ingest_helpers import CORPUS, stored_counts

from ingest.errors import MalformedReportError, ReportTooLargeError, UnsafeXMLError
from ingest.formats import parse
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuite><testcase classname="a" name="&lol9;"/></testsuite>
"""
EXTERNAL_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/evil.dtd">'
    b'<testsuite><testcase name="x"/></testsuite>'
)
LOCAL_FILE_XXE = (
    b'<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&x;"/></testsuite>'
)


class CountingReader(io.RawIOBase):
    """A stream that records how many bytes were read from it."""

    def __init__(self, data: bytes):
        self.inner = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


def parse_all(data: bytes, name: str = "hostile.xml"):
    return list(parse(name, io.BytesIO(data)).cases)


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        EXTERNAL_DTD,
        LOCAL_FILE_XXE,
        (CORPUS / "malformed/xxe-external-entity.xml").read_bytes(),
        (CORPUS / "malformed/xxe-oob.dtd.xml").read_bytes(),
    ],
    ids=["billion-laughs", "external-dtd", "local-file-xxe", "corpus-xxe", "corpus-dtd-fragment"],
)
def test_dtd_and_entity_declarations_are_refused(data):
    with pytest.raises(UnsafeXMLError) as info:
        parse_all(data)
    assert "DOCTYPE" in str(info.value)


def test_billion_laughs_is_refused_after_reading_only_its_head():
    # 20 MB of padding after the DTD: a parser that expanded or even read on would consume it.
    stream = CountingReader(BILLION_LAUGHS + b"<!--" + b"x" * 20_000_000 + b"-->")
    with pytest.raises(UnsafeXMLError):
        list(parse("lol.xml", io.BufferedReader(stream)).cases)
    assert stream.consumed <= 1_000_000


def test_a_doctype_behind_a_long_comment_is_still_refused():
    data = b"<?xml version='1.0'?><!--" + b"c" * 200_000 + b"-->" + LOCAL_FILE_XXE
    with pytest.raises(UnsafeXMLError):
        parse_all(data)


def test_undeclared_entities_are_a_syntax_error_not_a_lookup():
    with pytest.raises(MalformedReportError) as info:
        parse_all(b'<testsuite><testcase name="&secret;"/></testsuite>')
    assert info.value.line == 1


def test_the_size_limit_refuses_large_reports_and_stores_nothing(engine):
    data = (CORPUS / "jest-junit/jest-large-test-results.xml").read_bytes()
    with pytest.raises(ReportTooLargeError) as info:
        ingest_sources(
            engine, [ReportSource.from_bytes("big.xml", data)], RunMeta(project="p"), max_bytes=100_000
        )
    assert info.value.status == 413 and "big.xml" in str(info.value)
    assert stored_counts(engine) == {"runs": 0, "tests": 0, "results": 0}


def test_a_gzip_bomb_is_stopped_at_the_limit(engine):
    bomb = gzip.compress(b"<testsuite>" + b" " * 30_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(ReportTooLargeError):
        ingest_sources(
            engine, [ReportSource.from_bytes("bomb.xml.gz", bomb)], RunMeta(project="p"), max_bytes=1_000_000
        )
    assert stored_counts(engine)["runs"] == 0


def test_the_size_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SUITEHEALTH_MAX_REPORT_BYTES", "1000")
    with pytest.raises(ReportTooLargeError):
        ReportSource.from_bytes("x.xml", b"<testsuite>" + b" " * 5000 + b"</testsuite>").content_hash()


def test_a_corrupt_gzip_is_malformed():
    data = gzip.compress(b"<testsuite></testsuite>")[:-12]
    with pytest.raises(MalformedReportError):
        with ReportSource.from_bytes("cut.xml.gz", data).open() as fh:
            list(parse("cut.xml.gz", fh).cases)


def test_a_parse_error_in_the_second_shard_stores_nothing_of_the_first(engine):
    good = ReportSource.from_path(CORPUS / "pytest/junit.gloo.standalone.xml")
    bad = ReportSource.from_path(CORPUS / "malformed/truncated-pytest.xml")
    with pytest.raises(MalformedReportError) as info:
        ingest_sources(engine, [good, bad], RunMeta(project="p"))
    assert "truncated-pytest.xml" in str(info.value)
    assert stored_counts(engine) == {"runs": 0, "tests": 0, "results": 0}
