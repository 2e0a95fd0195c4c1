"""One window type: half-open [since, until), converted once from the pages' ?since=&until= days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard.analysis.weeks import Week
from dashboard.analysis.window import ALL_TIME, Window
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

DAY = date(2026, 3, 4)
MIDNIGHT_AFTER = datetime(2026, 3, 5, tzinfo=UTC)


def test_page_days_become_a_half_open_window_and_back():
    w = Window.from_dates(date(2026, 3, 2), DAY)
    assert (w.since, w.until) == (datetime(2026, 3, 2, tzinfo=UTC), MIDNIGHT_AFTER)
    assert w.page_params() == {"since": "2026-03-02", "until": "2026-03-04"}
    assert w.last_moment == MIDNIGHT_AFTER - timedelta(microseconds=1)
    assert w.contains(MIDNIGHT_AFTER - timedelta(microseconds=1)) and not w.contains(MIDNIGHT_AFTER)
    assert w.contains(w.since) and not w.contains(None)
    assert Window.from_dates() == ALL_TIME and ALL_TIME.last_moment is None and ALL_TIME.page_params() == {}
    # Naive datetimes are UTC; other zones are converted.
    assert Window(datetime(2026, 3, 2)).since == datetime(2026, 3, 2, tzinfo=UTC)


def test_weeks_tile_without_overlap_and_only_a_week_is_a_week():
    week = Week(2026, 10)
    this, after = Window.of_week(week), Window.of_week(week.next)
    assert this.until == after.since and this.week() == week
    assert Window.weeks(week.previous, week) == Window(week.previous.start, week.end)
    short = Window(week.start, week.end - timedelta(seconds=1))
    for not_a_week in (ALL_TIME, Window.before(week.end), short):
        with pytest.raises(ValueError):
            not_a_week.week()


@pytest.fixture
def edge_runs(engine):
    """Runs at the last microsecond of ?until='s day and at the first moment after it."""
    edges = (MIDNIGHT_AFTER - timedelta(days=1), MIDNIGHT_AFTER - timedelta(microseconds=1), MIDNIGHT_AFTER)
    for i, started in enumerate(edges):
        store_cases(engine, RunMeta(project="edge", suite="unit", started_at=started, duration_s=10.0 + i),
                    [CaseRecord("t.py::test_a", "passed", duration_s=1.0)], content_hash=f"edge{i}")


def test_until_means_the_same_last_day_on_every_page(client, edge_runs):
    query = f"?since={DAY}&until={DAY}"
    budget = client.get(f"/api/v1/projects/edge/budget{query}").get_json()
    assert [r["duration_s"] for r in budget["runs"]] == [10.0, 11.0]
    pyramid = client.get(f"/api/v1/projects/edge/pyramid{query}").get_json()
    assert pyramid["runs"] == 2
    assert pyramid["until"] == (MIDNIGHT_AFTER - timedelta(microseconds=1)).isoformat()
    assert client.get(f"/api/v1/projects/edge/flaky{query}").status_code == 200
    # The day after holds only the midnight run.
    after = client.get(f"/api/v1/projects/edge/budget?since={DAY + timedelta(days=1)}").get_json()
    assert [r["duration_s"] for r in after["runs"]] == [12.0]
