"""The CLI's one-line summary and its runs table: every count shown, adding up to the total."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.summary import OUTCOME_FIELDS, outcome_line

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
XDIST_JSON = CORPUS / "pytest-live" / "pytest-json-report-xdist.json"  # has xfailed and xpassed tests


def _parts(line: str) -> tuple[int, dict[str, int]]:
    total = int(re.search(r"(\d+) tests?:", line).group(1))
    names = "passed|failed|errors|skipped|xfailed|xpassed|other"
    counts = {name: int(n) for n, name in re.findall(rf"(\d+) ({names})", line)}
    return total, counts


def test_ingest_summary_names_xfailed_and_adds_up_to_the_total(cli):
    result = cli("ingest", XDIST_JSON, "--project", "p", "--suite", "unit")
    assert result.exit_code == 0, result.output
    total, counts = _parts(result.output)
    assert counts.get("xfailed", 0) > 0
    assert sum(counts.values()) == total
    stored = cli("runs", "--project", "p", "--json")
    run = __import__("json").loads(stored.output)["runs"][0]
    assert run["tests"] == total
    assert {k: run[k] for k in OUTCOME_FIELDS if run[k]} == {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("counts", [
    {"tests": 10, "passed": 6, "failed": 2, "errors": 0, "skipped": 1, "xfailed": 1, "xpassed": 0,
     "reruns": 2},
    {"tests": 1, "passed": 1},
    {"tests": 5, "passed": 1},  # parts short of the total: the rest is named, never dropped
    {"tests": 0},
])
def test_outcome_line_always_adds_up(counts):
    line = outcome_line(counts)
    total, parts = _parts(line)
    assert total == counts["tests"] and sum(parts.values()) == total
    assert ("rerun" in line) == bool(counts.get("reruns"))


def test_runs_table_shows_long_suite_and_branch_names_whole(cli, tmp_path):
    suite = "go-junit-report-integration-suite-with-a-long-name"
    branch = "feature/a-branch-name-well-over-eighteen-characters"
    report = CORPUS / "pytest" / "python-xunit-pytest.xml"
    if not report.exists():
        report = next((CORPUS / "pytest").glob("*.xml"))
    assert cli("ingest", report, "--project", "p", "--suite", suite, "--branch", branch).exit_code == 0
    table = cli("runs", "--project", "p").output
    assert suite in table and branch in table
    header, row = table.splitlines()[:2]
    assert "xfail" in header and "xpass" in header
    # Columns stay aligned: the row's numbers end where the header's last column ends.
    assert len(row.rstrip()) == len(header.rstrip())
