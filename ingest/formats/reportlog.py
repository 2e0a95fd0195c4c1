"""pytest-reportlog JSON lines (``pytest --report-log``), including the suitehealth plugin's keys.

Each test arrives as one line per phase; under xdist the lines of different workers interleave.
Phases are gathered per (worker, node id) until the teardown line, and finished tests are handed
out in start-time order through a heap: a test is released once no test still running started
before it and a window of later tests has been seen, so memory stays bounded.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

from ingest import records as R
from ingest.errors import MalformedReportError
from ingest.formats.pytest_common import first_line, markers_from_keywords, phase_outcome
from ingest.formats.shapes import expect, optional
from ingest.formats.values import epoch_in_range, parse_timestamp, seconds_in_range
from ingest.records import CaseRecord, ParsedReport, ReportMeta

FORMAT = "pytest-reportlog"
_WORKER = re.compile(r"<WorkerController (gw\d+)>")
_NO_START = float("-inf")
REORDER_WINDOW = 2000


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Return a streaming ParsedReport of a pytest-reportlog file."""
    lines = _lines(source_name, fh)
    # Warnings raised while pytest configures itself may be logged before SessionStart.
    leading: list[tuple[int, dict]] = []
    for number, obj in lines:
        if "$report_type" not in obj:
            raise MalformedReportError(
                'not a pytest-reportlog line (no "$report_type")', source=source_name, line=number
            )
        leading.append((number, obj))
        if obj["$report_type"] in ("SessionStart", "TestReport", "CollectReport"):
            break
    if not leading:
        raise MalformedReportError("the file is empty", source=source_name)
    number, head = next(((n, obj) for n, obj in leading if obj["$report_type"] == "SessionStart"), (None, {}))
    extra = optional(head, "suitehealth", (dict,), "SessionStart", source_name, number) or {}
    seed = optional(extra, "random_seed", (str, int), "SessionStart.suitehealth", source_name, number)
    started = parse_timestamp(
        optional(extra, "started_at", (str,), "SessionStart.suitehealth", source_name, number))
    meta = ReportMeta(
        format=FORMAT,
        source=source_name,
        started_at=started,
        random_seed=str(seed) if seed not in (None, "") else None,
    )
    late: dict = {}
    return ParsedReport(meta, _Assembler(source_name, late).cases(itertools.chain(leading, lines)), late)


def _lines(source: str, fh: BinaryIO) -> Iterator[tuple[int, dict]]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline=None)
    number = 0
    try:
        for number, line in enumerate(text, 1):  # noqa: B007  (number is used after the loop)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedReportError(
                    f"invalid JSON line: {exc.msg}", source=source, line=number, column=exc.colno
                ) from None
            if not isinstance(obj, dict):
                raise MalformedReportError("each line must be a JSON object", source=source, line=number)
            yield number, obj
    except UnicodeDecodeError as exc:
        raise MalformedReportError(f"not UTF-8 text: {exc.reason}", source=source, line=number + 1) from None


class _Assembler:
    """Turns phase lines into one CaseRecord per attempt, released in start order."""

    def __init__(self, source: str, late: dict):
        self.source = source
        self.late = late
        self.running: dict[tuple, dict] = {}
        self.done: list[tuple[float, int, CaseRecord]] = []
        self.seq = 0

    def cases(self, lines: Iterator[tuple[int, dict]]) -> Iterator[CaseRecord]:
        for number, obj in lines:
            kind = obj.get("$report_type")
            if kind == "TestReport":
                self._phase(number, obj)
                yield from self._release()
            elif kind == "CollectReport" and obj.get("outcome") == "failed":
                _check_report(self.source, number, obj)
                self._collect_error(obj)
            elif kind == "SessionFinish":
                if isinstance(obj.get("exitstatus"), int):
                    self.late["properties"] = {"exitstatus": obj["exitstatus"]}
        for key in list(self.running):
            self._finish(key)
        while self.done:
            yield heapq.heappop(self.done)[2]

    def _phase(self, number: int, obj: dict) -> None:
        nodeid = obj.get("nodeid")
        when = obj.get("when")
        if not isinstance(nodeid, str) or when not in ("setup", "call", "teardown"):
            raise MalformedReportError("TestReport without nodeid/when", source=self.source, line=number)
        _check_report(self.source, number, obj)
        worker = obj.get("worker_id")
        if isinstance(worker, int):
            worker = str(worker)
        if not worker and isinstance(obj.get("node"), str):
            match = _WORKER.search(obj["node"])
            worker = match.group(1) if match else None
        key = (worker, nodeid)
        if when == "setup" and key in self.running:
            self._finish(key)  # a rerun starts again with setup
        attempt = self.running.setdefault(key, {"phases": {}, "worker": worker, "nodeid": nodeid})
        attempt["phases"][when] = obj
        if when == "teardown":
            self._finish(key)

    def _finish(self, key: tuple) -> None:
        attempt = self.running.pop(key)
        phases: dict = attempt["phases"]
        nodeid = attempt["nodeid"]
        ordered = [phases[p] for p in ("setup", "call", "teardown") if p in phases]
        wasxfail = any("wasxfail" in p for p in ordered)
        outcome = phase_outcome(phases, wasxfail)
        rerun = any(p.get("outcome") == "rerun" for p in ordered)
        durations = {p: seconds_in_range(phases[p].get("duration")) for p in phases}
        known = [d for d in durations.values() if d is not None]
        starts = [s for s in (epoch_in_range(p.get("start")) for p in ordered) if s is not None]
        stops = [s for s in (epoch_in_range(p.get("stop")) for p in ordered) if s is not None]
        message = details = None
        if outcome not in (R.PASSED, R.XPASSED):
            bad = next((p for p in ordered if p.get("outcome") in ("failed", "rerun", "skipped")), None)
            if bad is not None:
                message, details = _longrepr(bad.get("longrepr"))
                if message is None and bad.get("wasxfail"):
                    message = str(bad["wasxfail"])
        first = ordered[0]
        markers = _markers(nodeid, ordered)
        location = first.get("location")
        path, _, rest = nodeid.partition("::")
        record = CaseRecord(
            nodeid=nodeid,
            outcome=outcome,
            name=rest.rsplit("::", 1)[-1] if rest else path,
            file=(location[0] if isinstance(location, list) and location else path) or None,
            duration_s=sum(known) if known else None,
            setup_s=durations.get("setup"),
            call_s=durations.get("call"),
            teardown_s=durations.get("teardown"),
            worker_id=attempt["worker"],
            start=min(starts) if starts else None,
            stop=max(stops) if stops else None,
            message=message,
            details=details,
            final=not rerun,
            markers=markers,
            extra={"item_index": first["item_index"]} if isinstance(first.get("item_index"), int) else None,
        )
        self.seq += 1
        heapq.heappush(self.done, (record.start if record.start is not None else _NO_START, self.seq, record))

    def _release(self) -> Iterator[CaseRecord]:
        if not self.done:
            return
        if self.running:
            earliest = min(_attempt_start(a) for a in self.running.values())
        else:
            earliest = float("inf")
        # xdist's controller logs each worker's lines late and in bursts, so a test may arrive after
        # later-starting ones; holding a window of finished tests puts those back in order.
        while len(self.done) > REORDER_WINDOW and self.done[0][0] <= earliest:
            yield heapq.heappop(self.done)[2]

    def _collect_error(self, obj: dict) -> None:
        nodeid = obj.get("nodeid") or "(collection)"
        message, details = _longrepr(obj.get("longrepr"))
        record = CaseRecord(
            nodeid=nodeid,
            outcome=R.ERROR,
            name=nodeid.rsplit("/", 1)[-1],
            file=nodeid or None,
            message=message or "collection failed",
            details=details,
        )
        self.seq += 1
        heapq.heappush(self.done, (_NO_START, self.seq, record))


def _attempt_start(attempt: dict) -> float:
    starts = [epoch_in_range(p.get("start")) for p in attempt["phases"].values()]
    known = [s for s in starts if s is not None]
    return min(known) if known else _NO_START


def _check_report(source: str, line: int, obj: dict) -> None:
    """Refuse a TestReport/CollectReport line whose values have the wrong JSON type."""
    kind = obj.get("$report_type")
    where = str(kind) if isinstance(kind, str) else "report"
    optional(obj, "nodeid", (str,), where, source, line)
    optional(obj, "worker_id", (str, int), where, source, line)
    optional(obj, "node", (str,), where, source, line)
    optional(obj, "outcome", (str,), where, source, line)
    for key in ("duration", "start", "stop"):
        optional(obj, key, (int, float), where, source, line)
    optional(obj, "keywords", (dict, list), where, source, line)
    location = optional(obj, "location", (list,), where, source, line)
    if location:
        expect(location[0], (str, type(None)), f"{where}.location[0]", source, line)
    ours = optional(obj, "suitehealth", (dict,), where, source, line)
    if ours is not None:
        optional(ours, "markers", (list,), f"{where}.suitehealth", source, line)
        optional(ours, "fixtures", (list,), f"{where}.suitehealth", source, line)
    longrepr = optional(obj, "longrepr", (str, list, dict), where, source, line)
    if isinstance(longrepr, dict):
        where += ".longrepr"
        crash = optional(longrepr, "reprcrash", (dict,), where, source, line)
        if crash is not None:
            optional(crash, "message", (str,), f"{where}.reprcrash", source, line)
        traceback = optional(longrepr, "reprtraceback", (dict,), where, source, line)
        entries = optional(traceback or {}, "reprentries", (list,), f"{where}.reprtraceback", source, line)
        for i, entry in enumerate(entries or ()):
            data = entry.get("data") if isinstance(entry, dict) else None
            if isinstance(data, dict):
                optional(data, "lines", (list,), f"{where}.reprtraceback.reprentries[{i}].data", source, line)


def _markers(nodeid: str, phases: list[dict]) -> tuple[str, ...]:
    """Return the suitehealth plugin's markers and fixtures if present, else marks from keywords."""
    for phase in phases:
        ours = phase.get("suitehealth")
        if isinstance(ours, dict) and (ours.get("markers") is not None or ours.get("fixtures") is not None):
            marks = [m for m in ours.get("markers") or [] if isinstance(m, str)]
            marks += [f"fixture:{f}" for f in ours.get("fixtures") or [] if isinstance(f, str)]
            return tuple(dict.fromkeys(marks))
    keywords = phases[0].get("keywords")
    if isinstance(keywords, dict):
        return markers_from_keywords(nodeid, [k for k in keywords if isinstance(k, str)])
    return ()


def _longrepr(value) -> tuple[str | None, str | None]:
    """Return (message, details) from a serialized pytest longrepr (dict, [path, line, msg] or text)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return first_line(value), value
    if isinstance(value, list) and len(value) == 3:  # skip: [path, lineno, "Skipped: reason"]
        reason = str(value[2])
        return (reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason), None
    if isinstance(value, dict):
        crash = value.get("reprcrash") if isinstance(value.get("reprcrash"), dict) else {}
        lines: list[str] = []
        entries = (value.get("reprtraceback") or {}).get("reprentries") or []
        for entry in entries:
            data = entry.get("data") if isinstance(entry, dict) else None
            if not isinstance(data, dict):
                continue
            lines.extend(str(line) for line in data.get("lines") or [])
            loc = data.get("reprfileloc")
            if isinstance(loc, dict):
                lines.append(f"\n{loc.get('path')}:{loc.get('lineno')}: {loc.get('message')}")
        details = "\n".join(lines) or None
        message = crash.get("message") if isinstance(crash.get("message"), str) else first_line(details)
        return message, details
    return None, None

