"""The worker sends each active project's weekly review once, at the team's local Monday 08:00."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from history import case, store_run

from dashboard.analysis.levels import ConfigError
from dashboard.analysis.weeks import Week
from dashboard.settings import Settings
from dashboard.weekly_delivery import due_week, schedule, send_due_reviews

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def receiver(webhook_receiver):
    return webhook_receiver.url + "/hook", webhook_receiver.bodies


@pytest.mark.parametrize("now, expected", [
    # Monday 2026-03-09, 06:59 UTC = 07:59 in Berlin: W10's moment has not come; W09's has.
    (datetime(2026, 3, 9, 6, 59, tzinfo=UTC), Week(2026, 9)),
    # 07:00 UTC = 08:00 in Berlin: the week that just ended, 2026-W10.
    (datetime(2026, 3, 9, 7, 0, tzinfo=UTC), Week(2026, 10)),
    # Later that week it stays due (a worker that was down catches up).
    (datetime(2026, 3, 12, 23, 0, tzinfo=UTC), Week(2026, 10)),
    # Sunday night UTC is already Monday 00:30 in Berlin, but before 08:00.
    (datetime(2026, 3, 15, 23, 30, tzinfo=UTC), Week(2026, 10)),
])
def test_the_review_is_due_from_the_local_moment_on(now, expected):
    assert due_week(now, 0, 8, 0, BERLIN) == expected


def test_worker_sends_each_active_projects_review_once(engine, receiver):
    url, received = receiver
    for project in ("shop", "blog"):
        for day in range(3):
            store_run(engine, project, "unit", [case("t.py::test_a")],
                      started_at=datetime(2026, 3, 3 + day, 9, 0, tzinfo=UTC))
    store_run(engine, "dead", "unit", [case("t.py::test_a")], started_at=datetime(2025, 1, 6, tzinfo=UTC))
    settings = {"notify": {"webhooks": [{"kind": "json", "url": url}], "timezone": "Europe/Berlin"}}
    config = Settings(base_url="https://health.example.com", file_table=settings)
    # Before Monday 08:00 Berlin W09 is the week due: it had no runs of these projects, so nothing goes.
    assert send_due_reviews(engine, config, now=datetime(2026, 3, 9, 6, 0, tzinfo=UTC)) == []
    monday = datetime(2026, 3, 9, 7, 5, tzinfo=UTC)
    sent = send_due_reviews(engine, config, now=monday)
    assert sorted(p for p, o in sent if o.ok) == ["blog", "shop"]
    assert sorted((m["review"]["project"], m["review"]["week"], m["review"]["runs"]) for m in received) == [
        ("blog", "2026-W10", 3), ("shop", "2026-W10", 3)]
    assert send_due_reviews(engine, config, now=monday.replace(hour=9)) == []
    assert len(received) == 2


@pytest.mark.parametrize("notify, problem", [
    ({"weekly_at": "someday"}, 'must look like "Mon 08:00"'),
    ({"weekly_at": "Mon 25:00"}, 'must look like "Mon 08:00"'),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_bad_schedules_are_refused_by_name(notify, problem):
    with pytest.raises(ConfigError) as info:
        schedule({"notify": {"webhooks": [{"kind": "json", "url": "https://x"}], **notify}})
    assert problem in str(info.value)


def test_no_destinations_or_off_means_no_schedule():
    assert schedule({}) is None
    hooks = [{"kind": "json", "url": "https://x"}]
    assert schedule({"notify": {"webhooks": hooks, "weekly_at": "off"}}) is None
