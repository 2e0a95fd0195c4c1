"""Report formats: detect() picks the parser from the content; parse() runs it.

Each format module exposes ``parse(source_name: str, fh: BinaryIO) -> ParsedReport``.
"""

from __future__ import annotations

from typing import BinaryIO

from ingest.records import ParsedReport


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Detect the format of ``fh`` and return its parsed report."""
    raise NotImplementedError("format parsers are being written")
