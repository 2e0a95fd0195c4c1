"""Report formats: detect() picks the parser from the content; parse() runs it.

Each format module exposes ``parse(source_name: str, fh: BinaryIO) -> ParsedReport``. Detection
looks at the first bytes only (after a BOM, whitespace and XML comments), never at the file name,
so a reportlog saved as ``.json`` or a JUnit file saved as ``.txt`` are still read correctly.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO

from ingest.errors import MalformedReportError, UnknownFormatError, UnsafeXMLError
from ingest.records import ParsedReport

JUNIT = "junit"
PYTEST_JSON = "pytest-json"
REPORTLOG = "pytest-reportlog"
DURATIONS = "pytest-durations"
FORMATS = (JUNIT, PYTEST_JSON, REPORTLOG, DURATIONS)

HEAD_BYTES = 64 * 1024
# A prolog (declaration and comments before the root) longer than this is refused as unsafe.
MAX_PROLOG_BYTES = 4 * 1024 * 1024
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_DURATION_SIGNS = re.compile(
    rb"(slowest \d* ?(test )?durations|^\s*\d+(\.\d+)?s\s+(setup|call|teardown)\s+\S|test session starts)",
    re.MULTILINE,
)


def detect(head: bytes, source: str | None = None) -> str:
    """Return the format name of a report whose first bytes are ``head``.

    Raises MalformedReportError for empty input, UnsafeXMLError for XML that declares a DTD or
    entities, UnknownFormatError for anything else we do not read.
    """
    text = _strip_bom(head).lstrip()
    if not text:
        raise MalformedReportError("the file is empty", source=source)
    if text[:1] == b"<":
        declares = _declares_dtd(text)
        if declares:
            raise UnsafeXMLError(
                "DOCTYPE/ENTITY declarations are not allowed in reports (XXE protection)", source=source
            )
        if declares is None:
            raise UnsafeXMLError(
                "the XML prolog (comments before the root element) exceeds 4 MB", source=source
            )
        return JUNIT
    if text[:1] in (b"{", b"["):
        first_line = text.split(b"\n", 1)[0]
        if b'"$report_type"' in first_line:
            return REPORTLOG
        return PYTEST_JSON
    if _DURATION_SIGNS.search(text):
        return DURATIONS
    raise UnknownFormatError(
        "not a report format suitehealth reads (expected JUnit XML, pytest-json-report JSON, "
        "pytest-reportlog JSON lines or pytest --durations output)",
        source=source,
    )


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Detect the format of ``fh`` and return its parsed report (cases stream lazily)."""
    head, fh = peek(fh, HEAD_BYTES)
    if _declares_dtd(_strip_bom(head).lstrip()) is None:
        # The prolog (a licence comment, say) runs past the head: look further before parsing.
        head, fh = peek(fh, MAX_PROLOG_BYTES)
    fmt = detect(head, source_name)
    if fmt == JUNIT:
        from ingest.formats import junit as module
    elif fmt == PYTEST_JSON:
        from ingest.formats import pytest_json as module
    elif fmt == REPORTLOG:
        from ingest.formats import reportlog as module
    else:
        from ingest.formats import durations as module
    return module.parse(source_name, fh)


def peek(fh: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """Return up to ``size`` leading bytes of ``fh`` and a stream that still starts at them."""
    head = fh.read(size)
    return head, io.BufferedReader(_Prefixed(head, fh), 1 << 16)


def _strip_bom(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :]
    return data


def _declares_dtd(text: bytes) -> bool | None:
    """Return whether the XML prolog (before the root element) holds a <!DOCTYPE or <!ENTITY.

    None means the prolog does not end within ``text``; callers look further or refuse.
    """
    pos = 0
    while True:
        while pos < len(text) and text[pos : pos + 1].isspace():
            pos += 1
        if text.startswith(b"<?", pos):
            closing = b"?>"
        elif text.startswith(b"<!--", pos):
            closing = b"-->"
        elif text.startswith(b"<!", pos):
            return True
        else:
            return False
        end = text.find(closing, pos)
        if end < 0:
            return None
        pos = end + len(closing)


class _Prefixed(io.RawIOBase):
    """A raw stream that replays ``head`` and then continues with ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._rest.close()
        finally:
            super().close()
