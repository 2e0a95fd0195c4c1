"""pytest-json-report JSON (``pytest --json-report``): one object with a ``tests`` list.

The format is a single JSON document, so it is decoded whole (the size limit bounds it); the
records are still produced lazily.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

from ingest import records as R
from ingest.errors import MalformedReportError
from ingest.formats.pytest_common import (
    first_line,
    markers_from_keywords,
    phase_outcome,
    worker_hint,
)
from ingest.formats.shapes import expect, optional
from ingest.formats.values import epoch_in_range, seconds_in_range
from ingest.records import CaseRecord, ParsedReport, ReportMeta

FORMAT = "pytest-json"
PHASES = ("setup", "call", "teardown")


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Return the ParsedReport of a pytest-json-report document."""
    data = load_json(source_name, fh)
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise MalformedReportError(
            'JSON is not a pytest-json-report report (no "tests" list)', source=source_name
        )
    number = (int, float)
    # Out-of-range numbers (1e308, NaN, negative) are unknown, not a traceback or an absurd run.
    duration = seconds_in_range(optional(data, "duration", number, "", source_name))
    created = epoch_in_range(optional(data, "created", number, "", source_name))
    started = None
    if created is not None:
        started = datetime.fromtimestamp(max(0.0, created - (duration or 0.0)), UTC)
    root = optional(data, "root", (str,), "", source_name)
    root_name = (PureWindowsPath(root).name if "\\" in root else PurePosixPath(root).name) if root else None
    summary = optional(data, "summary", (dict,), "", source_name) or {}
    meta = ReportMeta(
        format=FORMAT,
        source=source_name,
        started_at=started,
        duration_s=duration,
        claimed_tests=_int(summary.get("total")),
    )
    return ParsedReport(meta, _cases(source_name, data["tests"], root_name))


def load_json(source_name: str, fh: BinaryIO):
    """Decode a whole JSON document, naming line and column when it is broken."""
    try:
        text = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedReportError(
            f"not UTF-8 text: {exc.reason} at byte {exc.start}", source=source_name
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedReportError(
            f"invalid JSON: {exc.msg}", source=source_name, line=exc.lineno, column=exc.colno
        ) from None


def _cases(source: str, tests: list, root_name: str | None) -> Iterator[CaseRecord]:
    for index, test in enumerate(tests):
        if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
            raise MalformedReportError(f"tests[{index}] has no nodeid", source=source)
        nodeid = test["nodeid"]
        where = f"tests[{index}]"
        phases = {p: _phase(source, test, p, where) for p in PHASES if test.get(p) is not None}
        worker = None
        message = details = None
        for name in PHASES:
            phase = phases.get(name)
            if phase is None:
                continue
            hint, longrepr = worker_hint(phase.get("longrepr"))
            worker = worker or hint
            if details is None and phase.get("outcome") in ("failed", "skipped") and longrepr:
                crash = phase.get("crash") or {}
                message = crash.get("message") or first_line(longrepr)
                details = longrepr
        durations = {p: seconds_in_range(phases[p].get("duration")) for p in phases}
        known = [d for d in durations.values() if d is not None]
        outcome = optional(test, "outcome", (str,), where, source)
        if outcome not in R.OUTCOMES:
            outcome = phase_outcome(phases, wasxfail=False)
        keywords = optional(test, "keywords", (list, dict), where, source) or []
        if isinstance(keywords, dict):
            keywords = list(keywords)
        markers = markers_from_keywords(nodeid, [k for k in keywords if isinstance(k, str)], root_name)
        path, _, rest = nodeid.partition("::")
        common = {
            "name": rest.rsplit("::", 1)[-1] if rest else path,
            "file": path or None,
            "worker_id": worker,
            "markers": markers,
        }
        if test.get("outcome") == "rerun":
            # The report keeps one entry per test; "rerun" means an earlier attempt failed first.
            yield CaseRecord(
                nodeid=nodeid, outcome=R.FAILED, message="failed, then rerun", final=False, **common
            )
        yield CaseRecord(
            nodeid=nodeid,
            outcome=outcome,
            duration_s=sum(known) if known else None,
            setup_s=durations.get("setup"),
            call_s=durations.get("call"),
            teardown_s=durations.get("teardown"),
            message=message if outcome != R.PASSED else None,
            details=details if outcome != R.PASSED else None,
            **common,
        )


def _phase(source: str, test: dict, name: str, where: str) -> dict:
    """Return a test's setup/call/teardown object after checking the values the parser reads."""
    where = f"{where}.{name}"
    phase = expect(test[name], (dict,), where, source)
    optional(phase, "outcome", (str,), where, source)
    optional(phase, "duration", (int, float), where, source)
    optional(phase, "longrepr", (str,), where, source)
    crash = optional(phase, "crash", (dict,), where, source)
    if crash is not None:
        optional(crash, "message", (str,), f"{where}.crash", source)
    return phase


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
