"""Report sources: named byte streams, gunzipped transparently and held to a size limit."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.errors import MalformedReportError, ReportTooLargeError

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MAX_BYTES_ENV = "SUITEHEALTH_MAX_REPORT_BYTES"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def max_report_bytes(value: int | None = None) -> int:
    """Return the uncompressed size limit: the argument, else the environment, else 200 MB."""
    if value is not None:
        return value
    env = os.environ.get(MAX_BYTES_ENV)
    return int(env) if env else DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class ReportSource:
    """A report to read: a display name (for error messages) and a way to open its raw bytes.

    ``digest`` is the SHA-256 of the decompressed content when it is already known (an upload
    hashes while it expands), so that the content is not decompressed a second time to hash it.
    """

    name: str
    opener: Callable[[], BinaryIO]
    digest: str | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> ReportSource:
        path = Path(path)
        return cls(str(path), lambda: open(path, "rb"))

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ReportSource:
        return cls(name, lambda: io.BytesIO(data))

    def open(self, max_bytes: int | None = None) -> BinaryIO:
        """Open the (decompressed) content, raising ReportTooLargeError past ``max_bytes``."""
        raw = self.opener()
        head = raw.read(2)
        raw.seek(0)
        if head == _GZIP_MAGIC:
            raw = gzip.GzipFile(fileobj=raw, mode="rb")
        return io.BufferedReader(_LimitedReader(raw, self.name, max_report_bytes(max_bytes)), 1 << 16)

    def content_hash(self, max_bytes: int | None = None) -> str:
        """Return the SHA-256 of the decompressed content (gzip level/mtime do not matter)."""
        if self.digest is not None:
            return self.digest
        digest = hashlib.sha256()
        with self.open(max_bytes) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


@dataclass
class ExpansionBudget:
    """Uncompressed bytes that all reports of one request may still expand to."""

    total: int
    used: int = 0


def expand_to_file(source: ReportSource, path: Path, max_bytes: int | None = None,
                   budget: ExpansionBudget | None = None) -> ReportSource:
    """Decompress ``source`` once into ``path``, hashing on the way; return a plain source of it.

    ``max_bytes`` bounds this report; ``budget`` bounds all reports of the request together, so
    twenty gzip parts of 190 MB each stop at the budget instead of costing 3.8 GB of inflation.
    Raises ReportTooLargeError naming the file that crossed either limit.
    """
    digest = hashlib.sha256()
    with source.open(max_bytes) as fh, open(path, "wb") as out:
        while chunk := fh.read(_CHUNK):
            if budget is not None:
                budget.used += len(chunk)
                if budget.used > budget.total:
                    raise ReportTooLargeError(
                        f"the reports of one upload are larger than the limit of {budget.total:,} bytes "
                        "for all of them together (uncompressed)", source=source.name)
            digest.update(chunk)
            out.write(chunk)
    return ReportSource(source.name, lambda: open(path, "rb"), digest=digest.hexdigest())


class _LimitedReader(io.RawIOBase):
    """A read-only stream that refuses to deliver more than ``limit`` bytes.

    It wraps the gzip stream too, so a gzip bomb is stopped after ``limit`` bytes of output
    rather than after it has filled the memory or the disk.
    """

    def __init__(self, inner: BinaryIO, name: str, limit: int):
        self._inner = inner
        self._name = name
        self._limit = limit
        self._count = 0
        self._readinto = getattr(inner, "readinto", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            if self._readinto is not None:  # straight into the caller's buffer: no second copy
                n = self._readinto(buffer)
            else:  # an opener's stream may offer read() only
                data = self._inner.read(len(buffer))
                n = len(data)
                buffer[:n] = data
        except (OSError, EOFError, zlib.error) as exc:  # corrupt or truncated gzip
            raise MalformedReportError(f"cannot decompress: {exc}", source=self._name) from exc
        if n is None:  # a non-blocking stream with nothing ready; files and gzip never do this
            return None
        self._count += n
        if self._count > self._limit:
            raise ReportTooLargeError(
                f"report is larger than the limit of {self._limit:,} bytes (uncompressed)", source=self._name
            )
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()
