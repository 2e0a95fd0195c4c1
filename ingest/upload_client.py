"""Send reports to a suitehealth server: stdlib-only multipart upload with gzip and retries.

Only the standard library is used so the client (and the pytest plugin that calls it) works in any
CI image with nothing but suitehealth installed. The request body is built in a temporary file,
so big reports never sit in memory, and the same body is re-sent on a retry: the server
recognises repeated content and answers with the run it already stored.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# Statuses worth retrying: the server or a proxy in front of it is restarting or overloaded.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
FIELDS = ("suite", "branch", "commit", "build_id", "build_url", "started_at")


class UploadError(Exception):
    """The upload failed for good: refused by the server (4xx) or retries exhausted."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class UploadResult:
    """The server's answer: HTTP status (201 new run, 200 duplicate) and its JSON body."""

    status: int
    body: dict = field(default_factory=dict)
    attempts: int = 1

    @property
    def run_id(self) -> int | None:
        return self.body.get("run_id")

    @property
    def duplicate(self) -> bool:
        return bool(self.body.get("duplicate"))

    @property
    def url(self) -> str | None:
        return self.body.get("url")


def runs_endpoint(server: str, project: str) -> str:
    """Return the upload URL of ``project`` on ``server`` (project names may contain '/')."""
    return f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/runs"


def upload_reports(server: str, token: str, project: str, files: Sequence[str | os.PathLike],
                   fields: Mapping[str, str | None] | None = None, *, retries: int = 4,
                   backoff_s: float = 1.0, timeout_s: float = 120.0,
                   sleep: Callable[[float], None] = time.sleep) -> UploadResult:
    """Upload ``files`` as ONE run of ``project``; retry connection errors and 5xx with backoff.

    Raises UploadError on a refusal (4xx, with the server's message) or when retries run out.
    """
    if not files:
        raise UploadError("no report files given")
    with tempfile.TemporaryFile(prefix="suitehealth-upload-") as body:
        boundary = "suitehealth-" + secrets.token_hex(16)
        write_multipart(body, boundary, files, fields or {})
        size = body.tell()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(size),
            "Accept": "application/json",
            "User-Agent": "suitehealth-upload/1",
        }
        url = runs_endpoint(server, project)
        attempt = 0
        while True:
            attempt += 1
            body.seek(0)
            try:
                status, payload = _post(url, body, headers, timeout_s)
            except UploadError as exc:
                if not exc.retryable or attempt > retries:
                    if exc.retryable:
                        raise UploadError(f"{exc} (gave up after {attempt} attempts)", status=exc.status,
                                          retryable=True) from exc
                    raise
                # Exponential backoff with jitter, so a fleet of CI jobs does not retry in lockstep.
                sleep(backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random()))
                continue
            if isinstance(payload.get("url"), str) and payload["url"].startswith("/"):
                # Without a configured public URL the server answers a path: it is under what we called.
                payload = {**payload, "url": server.rstrip("/") + payload["url"]}
            return UploadResult(status=status, body=payload, attempts=attempt)


def write_multipart(out: BinaryIO, boundary: str, files: Sequence[str | os.PathLike],
                    fields: Mapping[str, str | None]) -> None:
    """Write a multipart/form-data body: the metadata fields, then each file gzipped (once)."""
    dash = f"--{boundary}\r\n".encode()
    for name, value in fields.items():
        if value is None or value == "":
            continue
        out.write(dash)
        out.write(f'Content-Disposition: form-data; name="{_quote_header(name)}"\r\n\r\n'.encode())
        out.write(str(value).encode("utf-8"))
        out.write(b"\r\n")
    for path in map(Path, files):
        out.write(dash)
        # The part keeps the user's file name (the server recognises gzip by its magic bytes), so an
        # error names the file the user sent, not "report.xml.gz".
        filename = path.name
        out.write(f'Content-Disposition: form-data; name="file"; filename="{_quote_header(filename)}"\r\n'
                  "Content-Type: application/gzip\r\n\r\n".encode())
        with open(path, "rb") as src:
            if src.read(2) == _GZIP_MAGIC:
                src.seek(0)
                shutil.copyfileobj(src, out, _CHUNK)
            else:
                src.seek(0)
                # mtime=0: the same report gzips to the same bytes (the server hashes content anyway).
                with gzip.GzipFile(fileobj=_NoClose(out), mode="wb", compresslevel=6, mtime=0) as gz:
                    shutil.copyfileobj(src, gz, _CHUNK)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())


def _quote_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")


def _post(url: str, body: BinaryIO, headers: dict, timeout_s: float) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as exc:
        payload = _json(exc.read())
        message = payload.get("error") or exc.reason or "request failed"
        raise UploadError(f"HTTP {exc.code}: {message}", status=exc.code,
                          retryable=exc.code in RETRY_STATUSES) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UploadError(f"cannot reach {url}: {reason}", retryable=True) from None


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"error": raw[:200].decode("utf-8", "replace").strip()}
    return value if isinstance(value, dict) else {"value": value}


class _NoClose:
    """Let GzipFile finish its trailer without closing the body file it writes into."""

    def __init__(self, inner: BinaryIO):
        self._inner = inner

    def write(self, data) -> int:
        return self._inner.write(data)

    def flush(self) -> None:
        self._inner.flush()
