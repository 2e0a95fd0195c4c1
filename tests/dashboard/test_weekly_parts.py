"""The weekly review's pure parts: ISO weeks, skip-reason normalisation and Markdown escaping."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dashboard.analysis.skips import NO_REASON, guess_level, normalise_skip_reason
from dashboard.analysis.weeks import Week, last_complete_week, parse_week, week_of
from dashboard.weekly_render import md_code, md_table, md_text


def test_week_parses_formats_and_spans_monday_to_monday_utc():
    week = parse_week("2026-W07")
    assert week == parse_week("2026w7") == Week(2026, 7)
    assert week.label == "2026-W07"
    assert week.start == datetime(2026, 2, 9, tzinfo=UTC)
    assert week.end == datetime(2026, 2, 16, tzinfo=UTC)
    assert week.last_day == date(2026, 2, 15)


def test_week_navigation_crosses_year_boundaries_including_week_53():
    assert Week(2026, 53).next == Week(2027, 1)
    assert Week(2027, 1).previous == Week(2026, 53)
    assert Week(2025, 52).next == Week(2026, 1)
    assert Week(2026, 10).shifted(-4) == Week(2026, 6)


@pytest.mark.parametrize("text", ["2026-13", "W07", "2026-W00", "2025-W53", "next week"])
def test_malformed_or_impossible_weeks_are_refused(text):
    with pytest.raises(ValueError):
        parse_week(text)


def test_last_complete_week_is_the_one_before_now_in_utc():
    sunday_night = datetime(2026, 2, 15, 23, 59, tzinfo=UTC)
    monday = datetime(2026, 2, 16, 0, 0, tzinfo=UTC)
    assert last_complete_week(sunday_night) == Week(2026, 6)
    assert last_complete_week(monday) == Week(2026, 7)
    assert week_of(date(2026, 1, 1)) == Week(2026, 1)


@pytest.mark.parametrize(("message", "reason"), [
    ("Skipped: database not available", "database not available"),
    ("database not available: could not connect to 10.0.0.5:5432",
     "database not available: could not connect to <host>"),
    ("('/src/tests/test_db.py', 41, 'Skipped: database not available')", "database not available"),
    ("tests/test_db.py:41: Skipped: needs redis at localhost:6379.", "needs redis at <host>"),
    ("object at 0x7f3a2c1d0e80 not ready after 30 tries", "object at <addr> not ready after <n> tries"),
    ("   ", NO_REASON),
    (None, NO_REASON),
])
def test_skip_reasons_normalise_so_the_same_cause_groups_together(message, reason):
    assert normalise_skip_reason(message) == reason


def test_level_guess_prefers_markers_then_suite_name_then_path():
    assert guess_level("tests/test_a.py::test_x", ["integration"], "unit") == "integration"
    assert guess_level("tests/test_a.py::test_x", [], "integration") == "integration"
    assert guess_level("tests/e2e/test_a.py::test_x", [], "ci") == "e2e"
    assert guess_level("tests/test_a.py::test_x", [], "unit") == "unit"


def test_markdown_escapes_pipes_and_markup_so_tables_keep_their_shape():
    assert md_text("a|b <i>*x*</i>\nnext") == "a\\|b \\<i\\>\\*x\\*\\</i\\> next"
    assert md_code("t.py::test[a|b]") == "`t.py::test[a\\|b]`"
    assert md_code("t.py::test[`x`]") == "``t.py::test[`x`]``"
    assert md_code("`edge`") == "`` `edge` ``"
    lines = md_table(["Test", "Runs"], [[md_code("t.py::test[a|b]"), "3"]], right={1})
    assert lines[:2] == ["| Test | Runs |", "|---|---:|"]
    assert lines[2].replace("\\|", "").count("|") == 3

