"""The budget: trend, breach forecast, exclusions, regressions, slowest tests, LPT what-if, page + JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from dashboard.analysis.budget import (
    Regression,
    duration_regressions,
    fewest_workers,
    lpt_makespan,
    slowest_tests,
    suite_budget,
    what_if,
)
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

T0 = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


def store_run(engine, when: datetime, wall: float, *, suite="integration", tests=10, skipped=0,
              durations: dict | None = None, workers: int = 1, project="shop") -> int:
    """Store one run; without ``durations`` its tests share the wall time minus 20 s of overhead."""
    if durations is None:
        each = max(wall - 20.0, 0.0) / tests
        durations = {f"tests/it/test_{i}.py::test_case": each for i in range(tests)}
    cases = [
        CaseRecord(nodeid=n, outcome="skipped" if i < skipped else "passed",
                   duration_s=0.0 if i < skipped else d, order_index=i,
                   worker_id=f"gw{i % workers}" if workers > 1 else None,
                   setup_s=d * 0.25, call_s=d * 0.7, teardown_s=d * 0.05)
        for i, (n, d) in enumerate(durations.items())
    ]
    meta = RunMeta(project=project, suite=suite, branch="main", started_at=when, duration_s=wall)
    return store_cases(engine, meta, cases, content_hash=f"{suite}-{when.isoformat()}").run_id


def growing_history(engine, *, planted: bool = True, suite="integration") -> dict:
    """20 runs, one every other day, growing 2 s/day from 200 s (300 s is reached on day 50: 2026-02-20),
    plus a skip-surge run (short) and a slow-runner outlier that must not move anything."""
    ids = {}
    for d in range(0, 40, 2):
        ids[d] = store_run(engine, T0 + timedelta(days=d), 200.0 + 2 * d, suite=suite)
    if planted:
        ids["surge"] = store_run(engine, T0 + timedelta(days=20, hours=6), 50.0, skipped=9, suite=suite)
        ids["outlier"] = store_run(engine, T0 + timedelta(days=30, hours=6), 900.0, suite=suite)
    return ids


def test_forecast_finds_the_budget_crossing_date_despite_skip_surge_and_outlier_runs(engine):
    ids = growing_history(engine)
    with Session(engine) as session:
        result = suite_budget(session, 1, suite="integration", budget_s=300.0)
    assert result.forecast_breach_date == date(2026, 2, 20)
    assert result.trend_s_per_week == pytest.approx(14.0)
    assert result.latest_s == pytest.approx(276.0)
    assert result.median_s == pytest.approx(264.0)  # median of the last 7 included runs (days 26..38)
    assert result.status == "at-risk"
    marked = {r["id"]: r["excluded"] for r in result.runs if r["excluded"]}
    assert marked == {ids["surge"]: "skip-surge", ids["outlier"]: "outlier"}
    assert [r["outlier"] for r in result.runs].count(True) == 1
    assert result.excluded == {"skip-surge": 1, "outlier": 1}
    assert len(result.runs) == 22


def test_planted_runs_do_not_move_the_trend_at_all(engine, db_url):
    growing_history(engine, suite="planted")
    growing_history(engine, planted=False, suite="clean")
    with Session(engine) as session:
        planted = suite_budget(session, 1, suite="planted", budget_s=300.0)
        clean = suite_budget(session, 1, suite="clean", budget_s=300.0)
    assert (planted.trend_s_per_week, planted.forecast_breach_date, planted.median_s) == (
        clean.trend_s_per_week, clean.forecast_breach_date, clean.median_s)


def test_no_forecast_when_already_over_or_shrinking(engine):
    growing_history(engine)
    for d in range(10):
        store_run(engine, T0 + timedelta(days=d), 300.0 - 5 * d, suite="shrinking")
    with Session(engine) as session:
        over = suite_budget(session, 1, suite="integration", budget_s=250.0)
        shrinking = suite_budget(session, 1, suite="shrinking", budget_s=400.0)
    assert over.status == "over" and over.forecast_breach_date is None
    assert over.forecast_note.startswith("already over budget")
    assert shrinking.status == "ok" and shrinking.forecast_breach_date is None
    assert shrinking.trend_s_per_week == pytest.approx(-35.0)
    assert "not growing" in shrinking.forecast_note


def test_lpt_schedules_longest_first_on_the_least_loaded_worker():
    durations = [7, 5, 4, 3, 3, 2]
    assert lpt_makespan(durations, 1) == 24
    assert lpt_makespan(durations, 2) == 12
    assert lpt_makespan(durations, 3) == 9
    assert lpt_makespan(durations, 10) == 7
    assert fewest_workers(durations, overhead_s=1.0, budget_s=10.0) == 3
    assert fewest_workers(durations, overhead_s=4.0, budget_s=10.0) is None  # 7 s test + 4 s overhead
    table, needed = what_if(durations, 1.0, 13.0, workers=(1, 2))
    assert table == [{"workers": 1, "wall_s": 25.0, "meets_budget": False},
                     {"workers": 2, "wall_s": 13.0, "meets_budget": True}]
    assert needed == 2


def test_what_if_uses_the_latest_runs_durations_and_its_overhead(engine):
    tests = {f"tests/e2e/test_{i}.py::test_flow": 60.0 for i in range(10)}
    store_run(engine, T0, 620.0, suite="e2e", durations=tests)
    two_workers = {f"tests/e2e/test_{i}.py::test_flow": 30.0 for i in range(4)}
    store_run(engine, T0, 100.0, suite="xdist", durations=two_workers, workers=2)
    with Session(engine) as session:
        serial = suite_budget(session, 1, suite="e2e", budget_s=300.0)
        parallel = suite_budget(session, 1, suite="xdist", budget_s=50.0)
    assert serial.overhead_s == pytest.approx(20.0)
    walls = {row["workers"]: row["wall_s"] for row in serial.whatif}
    assert walls[1] == pytest.approx(620.0) and walls[2] == pytest.approx(320.0)
    assert walls[3] == pytest.approx(260.0) and walls[4] == pytest.approx(200.0)
    assert serial.workers_needed == 3 and serial.latest_workers == 1
    assert parallel.latest_workers == 2 and parallel.overhead_s == pytest.approx(40.0)
    assert parallel.workers_needed is None  # one 30 s test + 40 s overhead > 50 s


def regression_history(engine) -> list[int]:
    ids = []
    for d in range(20):
        durations = {
            "tests/test_slow.py::test_grows": 1.0 if d < 12 else 3.0,
            "tests/test_spike.py::test_spike": 10.0 if d == 5 else 1.0,
            "tests/test_steady.py::test_steady": 0.5,
        }
        ids.append(store_run(engine, T0 + timedelta(days=d), 30.0, suite="unit", durations=durations))
    return ids


def test_step_regression_is_found_at_the_run_where_it_began_and_a_spike_is_not(engine):
    ids = regression_history(engine)
    with Session(engine) as session:
        found = duration_regressions(session, 1, suite="unit")
        everywhere = duration_regressions(session, 1)
    assert found == [Regression("tests/test_slow.py::test_grows", 1.0, 3.0, 3.0, ids[12],
                                T0 + timedelta(days=12), 20, "unit")]
    assert everywhere == found


def test_slowest_tests_by_median_with_their_share_of_suite_time(engine):
    regression_history(engine)
    with Session(engine) as session:
        slow = slowest_tests(session, 1, suite="unit", limit=2)
    assert [(t.nodeid, t.median_s, t.runs) for t in slow] == [
        ("tests/test_slow.py::test_grows", 1.0, 20), ("tests/test_spike.py::test_spike", 1.0, 20)]
    assert slow[0].share_of_suite == pytest.approx(1.0 / 2.5)  # median test time of a run is 2.5 s


def test_budget_json_picks_the_suite_closest_to_budget_and_lists_the_others(engine, client):
    growing_history(engine)
    regression_history(engine)
    data = client.get("/api/v1/projects/shop/budget").get_json()
    assert data["suite"] == "integration"
    assert data["budget_s"] == 300.0 and data["budget_source"] == "default"
    assert data["forecast_breach_date"] == "2026-02-20"
    assert data["trend_s_per_week"] == pytest.approx(14.0)
    assert data["latest_s"] == pytest.approx(276.0)
    assert data["status"] == "at-risk"
    assert data["workers_needed"] == 1
    assert [s["suite"] for s in data["suites"]] == ["integration", "unit"]
    keys = {"id", "started_at", "duration_s", "tests", "skipped", "outlier", "excluded", "rolling_median_s"}
    assert keys <= set(data["runs"][0])
    assert data["phases"]["latest"]["setup_s"] == pytest.approx((276.0 - 20.0) * 0.25)
    unit = client.get("/api/v1/projects/shop/budget?suite=unit").get_json()
    assert unit["regressions"][0]["nodeid"] == "tests/test_slow.py::test_grows"
    assert unit["slowest"][0]["median_s"] == 1.0
    earlier = client.get("/api/v1/projects/shop/budget?suite=integration&until=2026-01-20").get_json()
    assert earlier["latest_s"] == pytest.approx(236.0)
    assert client.get("/api/v1/projects/shop/budget?suite=nope").status_code == 404
    assert client.get("/api/v1/projects/shop/budget?until=junk").status_code == 400


def test_budget_comes_from_the_suite_then_the_config_file_then_the_app_default(engine, cli, tmp_path):
    from dashboard import create_app

    growing_history(engine)
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.suitehealth.budgets]\nintegration = 250\n")
    url = engine.url.render_as_string(hide_password=False)
    from_file = create_app({"DATABASE_URL": url, "CONFIG_FILE": str(config)}).test_client()
    data = from_file.get("/api/v1/projects/shop/budget?suite=integration").get_json()
    assert data["budget_s"] == 250.0 and data["status"] == "over" and data["forecast_breach_date"] is None
    assert "budgets" in data["budget_source"]
    default = create_app({"DATABASE_URL": url, "BUDGET_S": 400.0}).test_client()
    data = default.get("/api/v1/projects/shop/budget?suite=integration").get_json()
    assert data["budget_s"] == 400.0 and data["forecast_breach_date"] == "2026-04-11"

    result = cli("suite", "budget", "--project", "shop", "--suite", "integration", "330")
    assert result.exit_code == 0, result.output
    data = from_file.get("/api/v1/projects/shop/budget?suite=integration").get_json()
    assert data["budget_s"] == 330.0 and data["forecast_breach_date"] == "2026-03-07"
    listed = cli("suite", "list", "--project", "shop", "--json")
    assert '"budget_s": 330.0' in listed.output
    assert cli("suite", "budget", "--project", "shop", "--suite", "integration", "--clear").exit_code == 0
    assert from_file.get("/api/v1/projects/shop/budget?suite=integration").get_json()["budget_s"] == 250.0


def test_budget_page_marks_excluded_runs_and_shows_the_forecast(engine, client):
    growing_history(engine)
    html = client.get("/projects/shop/budget").get_data(as_text=True)
    assert "2026-02-20" in html and "at-risk" in html
    assert "excluded: skip-surge" in html and "excluded: outlier" in html
    assert 'data-chart="chart-wall"' in html and 'data-chart="chart-whatif"' in html


def test_budget_page_of_a_project_without_runs_explains_what_to_do(engine, client):
    from ingest.db import write_transaction
    from ingest.store import get_or_create_project

    with write_transaction(engine) as session:
        get_or_create_project(session, "fresh")
    response = client.get("/projects/fresh/budget")
    assert response.status_code == 200
    assert "No runs to measure yet" in response.get_data(as_text=True)
    assert client.get("/api/v1/projects/fresh/budget").get_json()["runs"] == []


@pytest.mark.browser
@pytest.mark.server
def test_chromium_draws_the_budget_charts_and_follows_the_nav_to_the_pyramid(
        sqlite_engine, sqlite_url, server_factory, page):
    growing_history(sqlite_engine)
    server = server_factory(sqlite_url, workers=1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/projects/shop/budget")
    # Each drawn plot holds plotly's SVG; wall time, what-if and phases are the three.
    page.wait_for_function("[...document.querySelectorAll('.chart-ready')]"
                           ".filter(el => el.querySelector('.main-svg')).length === 3")
    assert page.locator("#forecast").inner_text() == "2026-02-20"
    assert page.locator("#budget-status").inner_text() == "at-risk"
    page.click(".project-nav >> text=Pyramid")
    page.wait_for_url(lambda url: url.endswith("/projects/shop/pyramid"))
    page.wait_for_selector(".chart-ready .main-svg")
    assert page.locator(".shape strong").inner_text() == "integration only"  # all under tests/it/
    assert errors == []
