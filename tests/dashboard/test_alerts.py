"""Alerts: a new flaky test, a new suspect and a suite newly over budget are announced exactly once,
to a real local webhook receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from history import case, store_run

from dashboard.alerts import send_alerts
from dashboard.analysis.levels import ConfigError
from dashboard.analysis.updates import refresh_project
from dashboard.settings import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLLUTER = "tests/test_state.py::test_writes_global"
VICTIM = "tests/test_state.py::test_reads_global"
OTHERS = [f"tests/test_misc.py::test_{i}" for i in range(6)]
FLAKY = "tests/test_net.py::test_retry"
CHECKOUT = "tests/it/test_flow.py::test_checkout"


@pytest.fixture
def receiver(webhook_receiver):
    return webhook_receiver.url + "/hook", webhook_receiver.bodies


def _random_order_runs(engine, count: int, first: int = 0, *, flaky_at: int | None = None) -> None:
    """Runs in random order: the victim fails exactly when the polluter ran before it."""
    rng = random.Random(7)
    for i in range(first, first + count):
        order = [POLLUTER, VICTIM, FLAKY, *OTHERS]
        rng.shuffle(order)
        before = order.index(POLLUTER) < order.index(VICTIM)
        cases = [case(n, "failed" if (n == VICTIM and before) or (n == FLAKY and i == flaky_at) else "passed",
                      order_index=position)
                 for position, n in enumerate(order)]
        store_run(engine, "shop", "unit", cases, started_at=START + timedelta(hours=i), commit="c1")


def _slow_runs(engine, count: int, seconds: float) -> None:
    for i in range(count):
        store_run(engine, "shop", "integration", [case(CHECKOUT, duration=seconds)],
                  started_at=START + timedelta(hours=i, minutes=30), duration_s=seconds)


def _send(engine, url):
    refresh_project(engine, 1)
    settings = Settings(file_table={"notify": {"webhooks": [{"kind": "json", "url": url}]}})
    return send_alerts(engine, 1, settings=settings, base_url="https://health.example.com")


def test_each_new_problem_is_announced_once_with_a_link(engine, receiver):
    url, received = receiver
    _random_order_runs(engine, 30, flaky_at=11)
    _slow_runs(engine, 5, 420.0)
    outcomes = _send(engine, url)
    assert [o.ok for o in outcomes] == [True]
    assert len(received) == 1 and received[0]["event"] == "alert"
    events = received[0]["events"]
    kinds = sorted(e["kind"] for e in events)
    assert kinds.count("flaky") >= 1 and "budget" in kinds
    flaky_titles = [e["title"] for e in events if e["kind"] == "flaky"]
    assert any(FLAKY in t for t in flaky_titles)
    assert all(e["url"].startswith("https://health.example.com/projects/shop") for e in events)

    # Nothing new: nothing sent. More runs with the same problems: still nothing.
    assert _send(engine, url) == []
    _random_order_runs(engine, 3, first=30)
    assert _send(engine, url) == []
    assert len(received) == 1


def test_a_new_suspect_is_announced(engine, receiver):
    url, received = receiver
    _random_order_runs(engine, 30)
    _send(engine, url)
    suspects = [e for m in received for e in m["events"] if e["kind"] == "suspect"]
    assert len(suspects) == 1
    assert VICTIM in suspects[0]["title"] and POLLUTER in suspects[0]["title"]
    assert suspects[0]["url"] == "https://health.example.com/projects/shop/suspects"


def test_two_workers_racing_announce_an_event_once(engine, receiver):
    url, received = receiver
    _slow_runs(engine, 5, 420.0)
    refresh_project(engine, 1)

    def one():
        settings = Settings(file_table={"notify": {"webhooks": [{"kind": "json", "url": url}]}})
        return send_alerts(engine, 1, settings=settings, base_url="https://h")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: one(), range(2)))
    budget_events = [e for message in received for e in message["events"] if e["kind"] == "budget"]
    assert len(budget_events) == 1


def test_a_problem_that_went_away_and_came_back_is_news_again(engine, receiver):
    url, received = receiver
    _slow_runs(engine, 5, 420.0)
    assert len(_send(engine, url)) == 1
    # The suite gets fast again (budget ok), then slow again.
    for i in range(12):
        store_run(engine, "shop", "integration", [case(CHECKOUT, duration=30.0)],
                  started_at=START + timedelta(days=1, hours=i), duration_s=30.0)
    assert _send(engine, url) == []
    for i in range(12):
        store_run(engine, "shop", "integration", [case(CHECKOUT, duration=500.0)],
                  started_at=START + timedelta(days=2, hours=i), duration_s=500.0)
    assert len(_send(engine, url)) == 1
    assert [e["kind"] for m in received for e in m["events"]] == ["budget", "budget"]


def test_alerts_off_or_unknown_mode(engine):
    store_run(engine, "shop", "unit", [case("t.py::test_a")], started_at=START)
    assert send_alerts(engine, 1, settings=Settings(file_table={"notify": {"alerts": "off", "webhooks": [
        {"kind": "json", "url": "http://127.0.0.1:9/never"}]}}), base_url="") == []
    with pytest.raises(ConfigError, match="notify.alerts must be one of"):
        send_alerts(engine, 1, settings=Settings(file_table={"notify": {"alerts": "loud"}}), base_url="")


def test_an_alert_whose_delivery_failed_is_retried_later_and_then_only_once(engine, receiver):
    url, received = receiver
    _slow_runs(engine, 5, 420.0)
    refresh_project(engine, 1)
    dead = Settings(file_table={"notify": {"webhooks": [{"kind": "json", "url": "http://127.0.0.1:9/closed"}]}})
    live = Settings(file_table={"notify": {"webhooks": [{"kind": "json", "url": url}]}})
    assert [o.ok for o in send_alerts(engine, 1, settings=dead, base_url="")] == [False]
    # Within the retry delay the claim stands (another worker may still be delivering it).
    assert send_alerts(engine, 1, settings=live, base_url="") == []
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert [o.ok for o in send_alerts(engine, 1, settings=live, base_url="", now=later)] == [True]
    assert send_alerts(engine, 1, settings=live, base_url="", now=later + timedelta(minutes=10)) == []
    assert [e["kind"] for m in received for e in m["events"]] == ["budget"]


def test_the_worker_announces_after_analysing_new_runs_and_only_then(engine, cli, receiver, tmp_path):
    url, received = receiver
    config = tmp_path / "suitehealth.toml"
    config.write_text(f'[notify]\nwebhooks = [{{ kind = "json", url = "{url}" }}]\n')
    env = {"SUITEHEALTH_CONFIG_FILE": str(config), "SUITEHEALTH_BASE_URL": "https://health.example.com"}
    _slow_runs(engine, 5, 420.0)
    assert cli("worker", "--once", env=env).exit_code == 0
    assert [e["kind"] for m in received for e in m["events"]] == ["budget"]
    assert received[0]["events"][0]["url"] == "https://health.example.com/projects/shop/budget?suite=integration"
    _slow_runs(engine, 1, 430.0)  # a new run, the same problem
    assert cli("worker", "--once", env=env).exit_code == 0
    assert len(received) == 1
