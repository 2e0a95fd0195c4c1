"""Exceptions the ingest library raises. Each names the file and, where known, the position."""

from __future__ import annotations


class IngestError(Exception):
    """Base class: something about the input (not about our code) prevents storing it."""

    status = 422

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        if self.source is None and self.line is None:
            return self.reason  # not about a file (e.g. a bad --started-at value)
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.reason}"


class UnknownFormatError(IngestError):
    """The content is not any report format we read."""


class MalformedReportError(IngestError):
    """The content looks like a known format but is broken (truncated, invalid syntax, wrong root)."""


class UnsafeXMLError(IngestError):
    """The XML declares a DTD or entities; refused to prevent XXE and entity-expansion attacks."""


class ReportTooLargeError(IngestError):
    """The (uncompressed) content exceeds the configured size limit."""

    status = 413


class MetadataError(IngestError):
    """A metadata value (e.g. --started-at) is not valid."""

    status = 400


class SettingError(ValueError):
    """A SUITEHEALTH_* setting has a value that cannot be used; the message names the setting."""
