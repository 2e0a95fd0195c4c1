"""The home page (every project) and a project's overview, as HTML and as /api/v1 JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from history import BACKENDS, START, build_history, case, shared_history, store_run

from dashboard.worker import run_once


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request, tmp_path_factory):
    """A history shared by this module's read-only tests."""
    yield from shared_history(request, tmp_path_factory)


def test_empty_database_home_tells_a_new_user_how_to_start(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b"suitehealth demo" in page.data and b"suitehealth ingest" in page.data
    assert client.get("/api/v1/projects").get_json() == {"projects": []}


def test_projects_json_lists_each_project_with_last_run_and_health(engine, client):
    h = build_history(engine, project="shop")
    store_run(engine, "other", "unit", [case("t.py::test_ok")], started_at=START)
    projects = client.get("/api/v1/projects").get_json()["projects"]
    assert [p["name"] for p in projects] == ["other", "shop"]
    shop = projects[1]
    assert shop["last_run"]["id"] == h.timed_run
    assert shop["last_run"]["status"] == "failed"
    assert shop["suites"] == 2 and shop["runs"] == 12 and shop["tests"] == 9
    assert shop["failing_suites"] == ["integration"]
    assert "1 of 2 suites green" in shop["health"]
    assert projects[0]["failing_suites"] == [] and "1 of 1 suites green" in projects[0]["health"]


def test_home_page_links_each_project_to_its_overview(shop):
    html = shop.client.get("/").get_data(as_text=True)
    assert 'href="/projects/shop"' in html
    assert "integration failing" in html


def test_overview_shows_latest_run_per_suite_and_pass_rate(shop):
    h, client = shop.history, shop.client
    data = client.get("/api/v1/projects/shop").get_json()
    latest = {s["name"]: s["latest"]["id"] for s in data["suites"]}
    assert latest == h.latest
    unit = next(s for s in data["suites"] if s["name"] == "unit")
    # 6 unit runs x 4 tests that ran (one skipped each time); one failure on day 3.
    assert unit["recent_runs"] == 6
    assert abs(unit["recent_pass_rate"] - 23 / 24) < 1e-9
    assert [r["id"] for r in data["recent_runs"]][:2] == [h.timed_run, h.latest["unit"]]


def test_overview_lists_the_latest_failures_as_problems_with_links(shop):
    h, client = shop.history, shop.client
    data = client.get("/api/v1/projects/shop").get_json()
    failing = [p for p in data["problems"] if p["kind"] == "failing"]
    assert failing == [{
        "kind": "failing", "title": h.integration_tests[0], "suite": "integration",
        "nodeid": h.integration_tests[0], "run_id": h.timed_run,
        "detail": "failed in the latest integration run: assert 500 == 200",
    }]
    html = client.get("/projects/shop").get_data(as_text=True)
    assert f'href="/projects/shop/runs/{h.timed_run}"' in html
    # The one URL builder quotes the whole node id in the query (dashboard/urls.py).
    assert "/projects/shop/tests?nodeid=tests%2Fintegration%2Ftest_api.py%3A%3Atest_api" in html
    assert 'data-chart="chart-trend"' in html


def test_overview_reports_budget_status_per_suite(shop):
    client = shop.client
    suites = client.get("/api/v1/projects/shop").get_json()["suites"]
    statuses = {s["name"]: s["budget_status"] for s in suites}
    # A few seconds per run against the default 5-minute budget.
    assert statuses == {"integration": "ok", "unit": "ok"}
    assert {s["budget_s"] for s in suites} == {300.0}


def test_overview_lists_flaky_tests_as_problems_with_their_evidence(shop):
    flaky = {p["nodeid"]: p for p in shop.client.get("/api/v1/projects/shop").get_json()["problems"]
             if p["kind"] == "flaky"}
    # test_flaky failed once and passed on the rerun (day 2); test_total failed once (day 3).
    rerun = flaky["tests/unit/test_cart.py::test_flaky"]
    assert rerun["suite"] == "unit"
    assert rerun["detail"].endswith("1 flaky result in 6 runs, 1 passed only on a rerun")
    assert "tests/unit/test_cart.py::test_total" in flaky


def test_overview_lists_a_broken_test_with_the_run_its_streak_began(engine, client):
    build_history(engine, project="shop")
    streak = [store_run(engine, "shop", "unit", [case("tests/unit/test_cart.py::test_add", "failed",
                                                      message="KeyError: 'sku'\nmore")],
                        started_at=START + timedelta(days=7 + n)) for n in range(3)]
    run_once(engine)
    problems = client.get("/api/v1/projects/shop").get_json()["problems"]
    broken = [p for p in problems if p["kind"] == "broken"]
    assert broken == [{
        "kind": "broken", "title": "tests/unit/test_cart.py::test_add", "suite": "unit",
        "nodeid": "tests/unit/test_cart.py::test_add", "run_id": streak[0],
        "detail": "broken: failed the last 3 runs — KeyError: 'sku'",
    }]
    # A broken test is not listed again as merely failing in the latest run.
    assert not [p for p in problems if p["kind"] == "failing" and p["nodeid"] == broken[0]["nodeid"]]


def test_overview_of_a_project_without_runs_shows_how_to_add_one(engine, client):
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from ingest.models import Project

    with Session(engine) as s, s.begin():
        s.add(Project(name="fresh", created_at=datetime.now(UTC)))
    page = client.get("/projects/fresh")
    assert page.status_code == 200
    assert b"suitehealth ingest report.xml --project fresh" in page.data
    assert client.get("/api/v1/projects/fresh").get_json()["suites"] == []


def test_unknown_project_is_404_as_page_and_json(shop):
    client = shop.client
    assert client.get("/projects/nope").status_code == 404
    answer = client.get("/api/v1/projects/nope")
    assert answer.status_code == 404 and answer.get_json()["status"] == 404


def test_budget_s_in_the_app_config_changes_the_overview_budget_status(shop):
    from dashboard import create_app

    tight = create_app({"DATABASE_URL": shop.url, "TESTING": True, "BUDGET_S": 0.5})
    try:
        # Unit runs take about a second and integration runs a few: both are over a half-second budget.
        data = tight.test_client().get("/api/v1/projects/shop").get_json()
        assert {s["name"]: (s["budget_status"], s["budget_s"]) for s in data["suites"]} == {
            "integration": ("over", 0.5), "unit": ("over", 0.5)}
        budget_problems = [p["suite"] for p in data["problems"] if p["kind"] == "budget"]
        assert sorted(budget_problems) == ["integration", "unit"]
        # The cached verdicts of one configuration never answer for another.
        default = shop.client.get("/api/v1/projects/shop").get_json()
        assert {s["budget_status"] for s in default["suites"]} == {"ok"}
        assert not [p for p in default["problems"] if p["kind"] == "budget"]
    finally:
        tight.extensions["suitehealth_engine"].dispose()
