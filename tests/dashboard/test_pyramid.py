"""The pyramid: levels, time, shape, weekly trend; the page, its JSON twin and the config file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from dashboard.analysis.levels import DEFAULT_MARKERS
from dashboard.analysis.pyramid import pyramid_levels, pyramid_shape
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

# nodeid -> (markers, durations in the three runs): medians 0.02, 0.04, ... are easy to add up.
UNIT = {f"tests/unit/test_m.py::test_{i}": ((), (0.01, 0.02, 0.09)) for i in range(5)}
INTEGRATION = {
    "tests/test_db.py::test_a": (("integration",), (1.0, 2.0, 3.0)),
    "tests/test_db.py::test_b": (("django_db",), (2.0, 2.0, 2.0)),
    "tests/test_misc.py::test_medium": ((), (0.5, 0.6, 0.7)),  # duration fallback
}
E2E = {"tests/test_ui.py::test_login": (("fixture:live_server",), (5.0, 6.0, 100.0))}


def store_run(engine, when, tests: dict, index: int, suite="main", project="shop"):
    cases = [CaseRecord(nodeid=n, outcome="passed", duration_s=d[index] if isinstance(d, tuple) else d,
                        markers=tuple(m), order_index=i)
             for i, (n, (m, d)) in enumerate(tests.items())]
    return store_cases(engine, RunMeta(project=project, suite=suite, started_at=when, duration_s=60.0),
                       cases, content_hash=f"{suite}-{when.isoformat()}-{index}")


@pytest.fixture
def history(engine):
    every = {**UNIT, **INTEGRATION, **E2E}
    for i in range(3):
        store_run(engine, T0 + timedelta(days=7 + i), every, i)
    return engine


def test_levels_count_distinct_tests_and_add_up_median_durations(history):
    with Session(history) as session:
        result = pyramid_levels(session, 1)
    assert result.levels["unit"].tests == 5
    assert result.levels["unit"].time_s == pytest.approx(5 * 0.02)
    assert result.levels["integration"].tests == 3
    assert result.levels["integration"].time_s == pytest.approx(2.0 + 2.0 + 0.6)
    assert result.levels["e2e"].tests == 1
    assert result.levels["e2e"].time_s == pytest.approx(6.0)
    assert "unknown" not in result.levels
    assert result.shape == "pyramid"
    assert result.runs == 3 and result.tests == 9
    reasons = {t.nodeid: t.reason for t in result.classified}
    assert reasons["tests/test_misc.py::test_medium"] == "duration <= 2 s"
    assert reasons["tests/unit/test_m.py::test_0"] == "path **/unit/**"


def test_weekly_trend_counts_tests_from_the_week_they_first_ran(engine):
    week1 = dict(list(UNIT.items())[:2]) | E2E
    store_run(engine, T0, week1, 0)
    store_run(engine, T0 + timedelta(days=1), week1 | INTEGRATION, 0)  # the last run of week 1 wins
    store_run(engine, T0 + timedelta(days=8), {**UNIT, **INTEGRATION, **E2E}, 1)
    with Session(engine) as session:
        trend = pyramid_levels(session, 1).trend
    assert [(r["week"].isoformat(), r["unit"], r["integration"], r["e2e"], r["shape"]) for r in trend] == [
        ("2026-03-02", 2, 3, 1, "diamond"),
        ("2026-03-09", 5, 3, 1, "pyramid"),
    ]


def test_weekly_trend_is_the_same_when_older_runs_are_stored_after_newer_ones(engine):
    week1 = dict(list(UNIT.items())[:2]) | E2E
    # A backfill: the newest run is stored first, so run ids no longer follow time.
    store_run(engine, T0 + timedelta(days=8), {**UNIT, **INTEGRATION, **E2E}, 1)
    store_run(engine, T0 + timedelta(days=1), week1 | INTEGRATION, 0)
    store_run(engine, T0, week1, 0)
    with Session(engine) as session:
        trend = pyramid_levels(session, 1).trend
    assert [(r["week"].isoformat(), r["unit"], r["integration"], r["e2e"], r["shape"]) for r in trend] == [
        ("2026-03-02", 2, 3, 1, "diamond"),
        ("2026-03-09", 5, 3, 1, "pyramid"),
    ]


@pytest.mark.parametrize(("counts", "shape"), [
    ((0, 0, 0), "empty"),
    ((10, 0, 0), "unit only"),
    ((10, 5, 1), "pyramid"),
    ((5, 5, 5), "pyramid"),
    ((3, 10, 2), "diamond"),
    ((10, 2, 8), "hourglass"),
    ((8, 2, 10), "hourglass"),
    ((1, 4, 10), "ice-cream cone"),
    ((0, 4, 10), "ice-cream cone"),
])
def test_shape_rule(counts, shape):
    assert pyramid_shape(*counts) == shape


def test_pyramid_json_twin_has_the_contract_shape(history, client):
    data = client.get("/api/v1/projects/shop/pyramid").get_json()
    assert data["levels"]["unit"]["tests"] == 5
    assert data["levels"]["integration"] == {"tests": 3, "time_s": pytest.approx(4.6),
                                             "share_tests": pytest.approx(3 / 9),
                                             "share_time": pytest.approx(4.6 / 10.7)}
    assert data["levels"]["e2e"]["tests"] == 1
    assert data["shape"] == "pyramid"
    assert data["classified"]["total"] == 9
    assert data["rules"][0] == {"kind": "marker", "level": "e2e", "patterns": list(DEFAULT_MARKERS["e2e"])}
    assert data["rules"][-1] == {"kind": "duration", "level": "e2e", "patterns": ["median > 2 s"]}
    assert data["rules_source"] == "built-in defaults"
    only_e2e = client.get("/api/v1/projects/shop/pyramid?level=e2e").get_json()["classified"]
    assert [t["nodeid"] for t in only_e2e["tests"]] == ["tests/test_ui.py::test_login"]
    assert client.get("/api/v1/projects/shop/pyramid?level=bogus").status_code == 400


def test_pyramid_page_uses_rules_from_the_configured_file(history, tmp_path):
    from dashboard import create_app

    config = tmp_path / "suitehealth.toml"
    config.write_text('[tool.suitehealth.levels]\nmarkers = {e2e = ["integration"]}\n')
    app = create_app({"DATABASE_URL": history.url.render_as_string(hide_password=False),
                      "CONFIG_FILE": str(config)})
    client = app.test_client()
    data = client.get("/api/v1/projects/shop/pyramid").get_json()
    assert data["levels"]["e2e"]["tests"] == 2  # the "integration"-marked test is e2e by this file
    assert str(config.resolve()) in data["rules_source"]
    html = client.get("/projects/shop/pyramid").get_data(as_text=True)
    assert "Level rules in use" in html and str(config.resolve()) in html


def test_pyramid_page_shows_shape_and_escapes_test_names(engine, client):
    evil = 'tests/unit/test_x.py::test_<script>alert("x")</script>'
    store_run(engine, T0, {evil: ((), (0.01,)), **{k: (m, (d[0],)) for k, (m, d) in INTEGRATION.items()}}, 0)
    html = client.get("/projects/shop/pyramid").get_data(as_text=True)
    assert "diamond" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    # A new run is seen at once: cached analyses are keyed on the project's runs.
    store_run(engine, T0 + timedelta(hours=1), {**UNIT, **INTEGRATION}, 0)
    assert client.get("/api/v1/projects/shop/pyramid").get_json()["shape"] == "pyramid"


def test_pyramid_page_of_a_project_without_runs_explains_what_to_do(engine, client):
    from ingest.db import write_transaction
    from ingest.store import get_or_create_project

    with write_transaction(engine) as session:
        get_or_create_project(session, "fresh")
    response = client.get("/projects/fresh/pyramid")
    assert response.status_code == 200
    assert "No tests in this window yet" in response.get_data(as_text=True)
    assert client.get("/api/v1/projects/fresh/pyramid").get_json()["shape"] == "empty"
    assert client.get("/api/v1/projects/nope/pyramid").status_code == 404
