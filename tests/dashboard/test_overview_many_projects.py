"""The home page's pass rate is each project's own, for every project, not only the first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from history import case, store_run

# name -> (passed, failed) per run; three runs each, so the rates are 2/3, 1/4 and 1.
RATES = {"alpha": (2, 1), "beta": (1, 3), "gamma": (5, 0)}


def _store_projects(engine, now):
    for offset, (name, (passed, failed)) in enumerate(RATES.items()):
        cases = ([case(f"t.py::test_ok{i}") for i in range(passed)]
                 + [case(f"t.py::test_bad{i}", "failed") for i in range(failed)]
                 + [case("t.py::test_skipped", "skipped"), case("t.py::test_xf", "xfailed")])
        for day in range(3):
            store_run(engine, name, "unit", cases, started_at=now - timedelta(days=day, hours=offset))


def test_each_project_gets_its_own_pass_rate_in_json_and_page(engine, client):
    now = datetime.now(UTC).replace(microsecond=0)
    _store_projects(engine, now)
    projects = {p["name"]: p for p in client.get("/api/v1/projects").get_json()["projects"]}
    html = client.get("/").get_data(as_text=True)
    assert set(projects) == set(RATES)
    for name, (passed, failed) in RATES.items():
        expected = passed / (passed + failed)
        assert abs(projects[name]["recent_pass_rate"] - expected) < 1e-9, name
        assert f"{expected * 100:.1f}% of tests passed over the last 14 days" in projects[name]["health"]
        assert f"{expected * 100:.1f}% of tests passed" in html
        assert projects[name]["recent_window_days"] == 14


def test_a_project_that_stopped_uploading_names_the_window_it_is_judged_on(engine, client):
    last = datetime(2025, 11, 14, 9, 0, tzinfo=UTC)
    store_run(engine, "old", "unit", [case("t.py::test_a"), case("t.py::test_b", "failed")], started_at=last)
    project = client.get("/api/v1/projects").get_json()["projects"][0]
    assert "50.0% of tests passed over the 14 days up to its last run (2025-11-14)" in project["health"]
    assert "over the last 14 days" not in project["health"]
