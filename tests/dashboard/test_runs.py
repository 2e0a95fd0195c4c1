"""The run list and one run's detail page, as HTML and as /api/v1 JSON, on both backends."""

from __future__ import annotations

import pytest
from history import HOSTILE_MESSAGE, shared_history_fixtures

shop, client, history = shared_history_fixtures()


def test_run_list_json_has_contract_fields_newest_first(client, history):
    runs = client.get("/api/v1/projects/shop/runs").get_json()["runs"]
    assert len(runs) == 12
    for key in ("id", "suite", "branch", "commit", "started_at", "duration_s", "tests", "failed", "status"):
        assert key in runs[0]
    started = [r["started_at"] for r in runs]
    assert started == sorted(started, reverse=True)
    assert runs[0]["id"] == history.timed_run and runs[0]["branch"] == "feature/x"


def test_run_list_filters_by_suite_branch_and_date_range(client, history):
    def ids(query):
        return [r["id"] for r in client.get("/api/v1/projects/shop/runs" + query).get_json()["runs"]]

    assert sorted(ids("?suite=unit")) == history.run_ids["unit"]
    assert ids("?branch=feature/x") == [history.timed_run]
    # The history runs daily from 2026-03-02: the 3rd and 4th day, both suites, until is inclusive.
    assert sorted(ids("?since=2026-03-04&until=2026-03-05")) == sorted(
        history.run_ids["unit"][2:4] + history.run_ids["integration"][2:4])
    assert ids("?suite=unit&branch=feature/x") == []


def test_run_list_paginates_and_accepts_limit_up_to_1000(client, history):
    first = client.get("/api/v1/projects/shop/runs?limit=5").get_json()
    third = client.get("/api/v1/projects/shop/runs?limit=5&page=3").get_json()
    assert first["total"] == 12 and len(first["runs"]) == 5 and len(third["runs"]) == 2
    everything = client.get("/api/v1/projects/shop/runs?limit=1000").get_json()["runs"]
    assert [r["id"] for r in everything] == [r["id"] for r in first["runs"]] + [
        r["id"] for r in client.get("/api/v1/projects/shop/runs?limit=5&page=2").get_json()["runs"]] + [
        r["id"] for r in third["runs"]]
    assert client.get("/api/v1/projects/shop/runs?limit=1001").status_code == 400
    assert client.get("/api/v1/projects/shop/runs?limit=abc").status_code == 400
    html = client.get("/projects/shop/runs?limit=5").get_data(as_text=True)
    assert "page 1 of 3" in html and 'rel="next"' in html


def test_run_list_page_has_filters_chart_and_links(client, history):
    html = client.get("/projects/shop/runs").get_data(as_text=True)
    assert '<form class="filters"' in html and "<option selected>" not in html
    assert 'data-chart="chart-runs"' in html
    assert f'href="/projects/shop/runs/{history.failing_run}"' in html
    empty = client.get("/projects/shop/runs?branch=nope").get_data(as_text=True)
    assert "No runs match these filters." in empty


def test_run_detail_puts_failures_first_with_escaped_messages(client, history):
    data = client.get(f"/api/v1/projects/shop/runs/{history.failing_run}").get_json()
    assert data["run"]["failed"] == 1 and data["run"]["status"] == "failed"
    assert data["results"][0]["outcome"] == "failed"
    assert data["results"][0]["message"] == HOSTILE_MESSAGE
    assert [f["nodeid"] for f in data["failures"]] == [history.unit_tests[1]]
    html = client.get(f"/projects/shop/runs/{history.failing_run}").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


def test_run_detail_sorts_every_test_server_side(client, history):
    url = f"/api/v1/projects/shop/runs/{history.failing_run}"
    by_duration = client.get(url + "?sort=duration").get_json()["results"]
    durations = [r["duration_s"] for r in by_duration]
    assert durations == sorted(durations, reverse=True) and len(by_duration) == 5
    by_name = [r["nodeid"] for r in client.get(url + "?sort=name").get_json()["results"]]
    assert by_name == sorted(by_name)
    by_order = [r["order_index"] for r in client.get(url + "?sort=order&dir=desc").get_json()["results"]]
    assert by_order == [4, 3, 2, 1, 0]
    assert client.get(url + "?sort=bogus").status_code == 400
    skipped = client.get(url + "?outcome=skipped").get_json()
    assert skipped["total"] == 1 and skipped["results"][0]["message"] == "database not available"


def test_run_detail_shows_reruns_as_separate_attempts(client, history):
    data = client.get(f"/api/v1/projects/shop/runs/{history.rerun_run}").get_json()
    flaky = [r for r in data["results"] if r["nodeid"] == history.unit_tests[2]]
    assert sorted((r["attempt"], r["outcome"], r["final"]) for r in flaky) == [
        (1, "failed", False), (2, "passed", True)]
    assert data["run"]["reruns"] == 1 and data["run"]["status"] == "passed"


def test_run_detail_draws_worker_timeline_only_when_timings_exist(client, history):
    timed = client.get(f"/projects/shop/runs/{history.timed_run}").get_data(as_text=True)
    assert 'data-chart="chart-timeline"' in timed
    workers = client.get(f"/api/v1/projects/shop/runs/{history.timed_run}").get_json()["workers"]
    assert [(w["worker_id"], w["tests"], w["busy_s"]) for w in workers] == [("gw0", 2, 4.0), ("gw1", 2, 4.0)]
    untimed = client.get(f"/projects/shop/runs/{history.failing_run}").get_data(as_text=True)
    assert 'data-chart="chart-timeline"' not in untimed


def test_run_detail_has_phase_totals_and_neighbours(client, history):
    data = client.get(f"/api/v1/projects/shop/runs/{history.timed_run}").get_json()
    assert data["phases"]["setup_s"] == pytest.approx(0.8)
    assert data["phases"]["call_s"] == pytest.approx(6.4)
    assert data["phases"]["teardown_s"] == pytest.approx(0.8)
    assert data["run"]["previous_id"] == history.run_ids["integration"][-2]
    assert data["run"]["next_id"] is None


def test_unknown_run_and_run_of_another_project_are_404(shop, history):
    from history import START, case, store_run

    # A run of another project, stored under a project name no other test of this module reads.
    other = store_run(shop.engine, "other", "unit", [case("t.py::test_x")], started_at=START)
    client = shop.client
    assert client.get("/projects/shop/runs/999999").status_code == 404
    assert client.get(f"/api/v1/projects/shop/runs/{other}").status_code == 404
    assert client.get(f"/api/v1/projects/other/runs/{other}").status_code == 200
    assert client.get("/projects/nope/runs").status_code == 404


def test_run_list_of_project_without_runs_says_how_to_add_one(shop):
    client, engine = shop.client, shop.engine
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from ingest.models import Project

    with Session(engine) as s, s.begin():
        s.add(Project(name="fresh-runs", created_at=datetime.now(UTC)))
    html = client.get("/projects/fresh-runs/runs").get_data(as_text=True)
    assert "No runs stored yet." in html and "suitehealth ingest" in html
