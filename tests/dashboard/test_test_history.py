"""One test's history page (?nodeid=) and the test search, as HTML and JSON, on both backends."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from history import HOSTILE_MESSAGE, HOSTILE_NODEID, shared_history_fixtures

shop, client, history = shared_history_fixtures()


def url(nodeid: str, api: bool = True, **params) -> str:
    extra = "".join(f"&{k}={quote(str(v))}" for k, v in params.items())
    return ("/api/v1" if api else "") + "/projects/shop/tests?nodeid=" + quote(nodeid) + extra


def test_history_lists_outcome_per_run_oldest_first(client, history):
    test = client.get(url(history.unit_tests[1])).get_json()["test"]
    assert [r["run_id"] for r in test["runs"]] == history.run_ids["unit"]
    assert [r["outcome"] for r in test["runs"]] == ["passed"] * 3 + ["failed"] + ["passed"] * 2
    assert test["outcomes"] == {"passed": 5, "failed": 1}
    assert test["pass_rate"] == pytest.approx(5 / 6)
    assert [(f["run_id"], f["message"]) for f in test["failures"]] == [(history.failing_run, HOSTILE_MESSAGE)]


def test_history_has_first_and_last_seen_and_phase_medians(client, history):
    test = client.get(url(history.unit_tests[0])).get_json()["test"]
    assert test["first_seen_run_id"] == history.run_ids["unit"][0]
    assert test["last_seen_run_id"] == history.run_ids["unit"][-1]
    assert test["first_seen_at"].startswith("2026-03-02") and test["total_runs"] == 6
    # Durations 0.05 .. 0.10 s: the median is 0.075 s, split 10/80/10.
    assert test["median_s"] == pytest.approx(0.075)
    assert test["median_call_s"] == pytest.approx(0.06)


def test_history_counts_a_rerun_and_shows_the_earlier_failure(client, history):
    test = client.get(url(history.unit_tests[2])).get_json()["test"]
    rerun = [r for r in test["runs"] if r["attempts"] > 1]
    assert [(r["run_id"], r["outcome"], r["attempts"]) for r in rerun] == [(history.rerun_run, "passed", 2)]
    assert test["reruns"] == 1
    assert test["failures"][0]["message"] == "TimeoutError: flaky"


def test_history_filters_by_branch_and_limit(client, history):
    api = history.integration_tests[0]
    on_branch = client.get(url(api, branch="feature/x")).get_json()["test"]["runs"]
    assert [r["run_id"] for r in on_branch] == [history.timed_run]
    last_two = client.get(url(api, limit=2)).get_json()["test"]["runs"]
    assert [r["run_id"] for r in last_two] == history.run_ids["integration"][-2:]
    assert client.get(url(api, since="yesterday")).status_code == 400


def test_history_page_draws_strip_chart_and_escapes_names(client, history):
    html = client.get(url(HOSTILE_NODEID, api=False)).get_data(as_text=True)
    assert html.count('class="cell outcome-passed') == 6
    assert 'data-chart="chart-durations"' in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    failing = client.get(url(history.unit_tests[1], api=False)).get_data(as_text=True)
    assert "<script>alert" not in failing and "&lt;script&gt;" in failing
    assert f'href="/projects/shop/runs/{history.failing_run}"' in failing


def test_unknown_test_is_404(client, history):
    assert client.get(url("tests/nope.py::test_missing")).status_code == 404
    assert client.get(url("tests/nope.py::test_missing", api=False)).status_code == 404


def test_tests_list_searches_node_ids_and_paginates(client, history):
    data = client.get("/api/v1/projects/shop/tests?q=test_cart").get_json()
    assert [t["nodeid"] for t in data["tests"]] == sorted(
        n for n in history.unit_tests if "test_cart" in n)
    # "_" is a literal underscore, not a LIKE wildcard.
    assert client.get("/api/v1/projects/shop/tests?q=test_a_i").get_json()["total"] == 0
    page = client.get("/api/v1/projects/shop/tests?limit=4&page=3").get_json()
    assert page["total"] == 9 and len(page["tests"]) == 1
    html = client.get("/projects/shop/tests?q=zzz").get_data(as_text=True)
    assert "No test&#39;s node id contains" in html or "No test's node id contains" in html
