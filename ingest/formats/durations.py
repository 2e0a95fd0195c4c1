"""``pytest --durations=N`` terminal output: per-phase timing rows plus the short test summary.

Only the tests listed appear (``--durations=0`` lists all). Rows are sorted by time, not by
execution, so the order kept is the order of first appearance. Outcomes come from the
``FAILED``/``ERROR``/``XFAIL``/``XPASS`` summary lines when present; a listed test without one passed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from ingest import records as R
from ingest.formats.values import seconds_in_range
from ingest.records import CaseRecord, ParsedReport, ReportMeta

FORMAT = "pytest-durations"
_ROW = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s+(setup|call|teardown)\s+(\S.*?)\s*$")
_SUMMARY = re.compile(r"^(FAILED|ERROR|XFAIL|XPASS|PASSED)\s+(\S+?)(?:\s+-\s+(.*))?$")
_SEED = re.compile(r"--randomly-seed=(\d+)|random seed(?: is)?[:=]?\s*(\d+)", re.IGNORECASE)
_FINAL = re.compile(r"=+ .*\bin (\d+(?:\.\d+)?)(?:s| seconds?)\b")
_ALL_ROWS = re.compile(r"=+ slowest (test )?durations =+")
_HIDDEN = re.compile(r"durations < [\d.]+s hidden")
_SUMMARY_OUTCOME = {
    "FAILED": R.FAILED,
    "ERROR": R.ERROR,
    "XFAIL": R.XFAILED,
    "XPASS": R.XPASSED,
    "PASSED": R.PASSED,
}


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Return the ParsedReport of pytest ``--durations`` output."""
    late: dict = {}
    report = ParsedReport(ReportMeta(format=FORMAT, source=source_name), iter(()), late)
    report.cases = _cases(fh, late)
    return report


def _cases(fh: BinaryIO, late: dict) -> Iterator[CaseRecord]:
    phases: dict[str, dict[str, float]] = {}
    outcomes: dict[str, tuple[str, str | None]] = {}
    # With every row listed (--durations=0 --durations-min=0) a test without a call row was skipped.
    complete = False
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline=None)
    for line in text:
        line = line.rstrip("\n")
        row = _ROW.match(line)
        if row:
            seconds, phase, nodeid = seconds_in_range(float(row.group(1))), row.group(2), row.group(3)
            timings = phases.setdefault(nodeid, {})
            if seconds is None:  # 999…9 s is not a time; the test is still listed
                continue
            # A rerun test lists a phase twice; its time is the sum of both attempts.
            timings[phase] = timings.get(phase, 0.0) + seconds
            continue
        summary = _SUMMARY.match(line)
        if summary and "::" in summary.group(2):
            outcomes[summary.group(2)] = (_SUMMARY_OUTCOME[summary.group(1)], summary.group(3))
            phases.setdefault(summary.group(2), {})
            continue
        if _ALL_ROWS.search(line):
            complete = True
        elif _HIDDEN.search(line):
            complete = False
        seed = _SEED.search(line)
        if seed and "random_seed" not in late:
            late["random_seed"] = seed.group(1) or seed.group(2)
        final = _FINAL.search(line)
        if final:
            late["duration_s"] = seconds_in_range(float(final.group(1)))
    for nodeid, timings in phases.items():
        outcome, message = outcomes.get(nodeid, (R.PASSED, None))
        if complete and nodeid not in outcomes and timings and "call" not in timings:
            outcome = R.SKIPPED
        path, _, rest = nodeid.partition("::")
        yield CaseRecord(
            nodeid=nodeid,
            outcome=outcome,
            name=rest.rsplit("::", 1)[-1] if rest else path,
            file=path or None,
            duration_s=sum(timings.values()) if timings else None,
            setup_s=timings.get("setup"),
            call_s=timings.get("call"),
            teardown_s=timings.get("teardown"),
            message=message,
        )
