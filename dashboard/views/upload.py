"""POST /api/v1/projects/<p>/runs (token-guarded report upload) and GET /api/v1/openapi.json."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

from dashboard.db import get_engine
from dashboard.errors import BadRequest
from dashboard.openapi import openapi_document
from dashboard.settings import current_settings
from dashboard.urls import public_urls
from ingest.cli import parse_started_at
from ingest.records import RunMeta
from ingest.sources import ExpansionBudget, ReportSource, expand_to_file
from ingest.store import ingest_sources
from ingest.tokens import verify_token

bp = Blueprint("upload", __name__)

# Multipart overhead on top of the report size limit for the whole request body.
BODY_SLACK_BYTES = 1 << 20
# A refused request's body is read and dropped up to this size so the client gets the answer
# instead of a connection reset (gunicorn closes the socket with unread data in it).
DRAIN_LIMIT_BYTES = 64 << 20
MAX_FILES = 100
# Form fields longer than this are refused outright; shorter ones meet ingest.limits (names that
# do not fit are refused there, descriptive text is clipped), exactly as on the command line.
MAX_FIELD_CHARS = 4096
_FIELDS = ("suite", "branch", "commit", "build_id", "build_url", "started_at", "ci")


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(openapi_document(current_settings().auth, current_app.config.get("SESSION_COOKIE_NAME")))


@bp.post("/api/v1/projects/<path:project>/runs")
def upload_run(project: str):
    """Store the uploaded report files as ONE run of ``project``; 201 new, 200 duplicate."""
    engine = get_engine()
    verified = verify_token(engine, _bearer_token())
    if verified is None:
        return _refuse(401, "missing, unknown or revoked upload token (send 'Authorization: Bearer <token>')",
                       {"WWW-Authenticate": 'Bearer realm="suitehealth"'})
    if verified.project != project:
        return _refuse(403, f"this token uploads to project {verified.project!r}, not {project!r}")
    max_report = int(current_app.config["MAX_REPORT_BYTES"])
    max_body = int(current_app.config.get("MAX_CONTENT_LENGTH") or max_report + BODY_SLACK_BYTES)
    if request.content_length is not None and request.content_length > max_body:
        return _refuse(413, f"request body of {request.content_length:,} bytes is larger than the limit "
                            f"of {max_body:,} bytes")
    # Werkzeug then refuses a longer (e.g. chunked) body itself while parsing it.
    request.max_content_length = max_body
    parts = request.files.getlist("file")
    if not parts:
        raise BadRequest("no report: send one or more multipart parts named 'file'")
    if len(parts) > MAX_FILES:
        raise BadRequest(f"too many files ({len(parts)}); at most {MAX_FILES} per run")
    meta = _run_meta(project)
    with tempfile.TemporaryDirectory(prefix="suitehealth-upload-") as tmp:
        budget = int(current_app.config.get("MAX_UPLOAD_EXPANDED_BYTES") or max_report)
        sources = _spool(parts, Path(tmp), max_report, budget)
        summary = ingest_sources(engine, sources, meta, max_bytes=max_report)
    # The analysis worker (`suitehealth worker`, or the one `serve` starts) finds the new run itself.
    body = {**summary.as_dict(), "url": run_url(summary.project, summary.run_id)}
    return jsonify(body), (200 if summary.duplicate else 201)


def run_url(project: str, run_id: int) -> str:
    """Return the dashboard URL of a run (absolute when the public base URL is known)."""
    return public_urls().run(project, run_id)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _refuse(status: int, message: str, headers: dict | None = None):
    _drain()
    return jsonify({"error": message, "status": status}), status, headers or {}


def _drain() -> None:
    """Read and drop a small enough unread body (see DRAIN_LIMIT_BYTES)."""
    length = request.content_length
    if length is None or length > DRAIN_LIMIT_BYTES:
        return
    stream = request.stream
    try:
        while stream.read(1 << 16):
            pass
    except Exception:  # the client went away; nothing to answer then
        pass


def _run_meta(project: str) -> RunMeta:
    form = request.form
    values: dict[str, str | None] = {}
    for name in _FIELDS:
        value = (form.get(name) or "").strip() or None
        if value is not None and len(value) > MAX_FIELD_CHARS:
            raise BadRequest(f"form field {name!r} is longer than {MAX_FIELD_CHARS} characters")
        values[name] = value
    return RunMeta(
        project=project, suite=values["suite"] or "default", branch=values["branch"], commit=values["commit"],
        build_id=values["build_id"], build_url=values["build_url"],
        started_at=parse_started_at(values["started_at"]),
        environment={"ci": values["ci"]} if values["ci"] else {},
    )


def _spool(parts, folder: Path, max_report: int, budget: int) -> list[ReportSource]:
    """Expand the uploaded parts into files once, hashing on the way, within the request's budget.

    Each part is decompressed exactly once (ingest reads the plain file and reuses the hash), and
    all parts together may expand to at most ``budget`` bytes: a request of many small gzip bombs
    stops at the budget instead of inflating every part in full.
    """
    left = ExpansionBudget(budget)
    return [
        expand_to_file(ReportSource(_display_name(part.filename, i), _part_opener(part)),
                       folder / f"{i:03d}.report", max_report, left)
        for i, part in enumerate(parts)
    ]


def _part_opener(part):
    def opener():
        part.stream.seek(0)
        return _Unclosed(part.stream)
    return opener


class _Unclosed:
    """The part's own stream, which werkzeug closes after the request (ingest must not)."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def close(self) -> None:
        pass


def _display_name(filename: str | None, index: int) -> str:
    # Only the base name, printable characters: it ends up in error messages and the run's sources.
    # Clients on Windows send "C:\\dir\\report.xml": both separators end a folder name.
    base = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[^\w.\-+@ ]", "_", base)[:200]
    return name or f"file{index + 1}"
