"""Flaky versus broken tests: the state machine, the stored analysis and the /flaky and /suspects pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from synthetic_ci import _case, _meta, build_history

from dashboard.analysis import flakestate
from dashboard.analysis.flaky import broken_tests, flaky_tests
from dashboard.analysis.signatures import normalise
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.window import Window
from ingest.analysis_models import AnalysedRun
from ingest.records import RunMeta
from ingest.store import store_cases

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _walk(outcomes: str, **flags) -> dict:
    """Feed a string like "ppfpp" (p pass, f fail, r pass on rerun) through a fresh state."""
    state = flakestate.new_state(T0.isoformat())
    for i, o in enumerate(outcomes):
        ts = (T0 + timedelta(hours=i)).isoformat()
        flakestate.update(state, run_id=i + 1, ts=ts, bad=o == "f", rerun_flake=o == "r", **flags)
    return flakestate.effective(state)


def test_a_short_failure_between_passes_is_a_flake():
    state = _walk("ppppfpppp")
    assert state["flakes"] == 1 and state["broken_fails"] == 0 and not state["broken_now"]


def test_three_failures_in_a_row_until_a_fix_is_a_breakage_not_a_flake():
    state = _walk("p" * 30 + "fffff" + "p" * 10)
    assert state["flakes"] == 0 and state["broken_fails"] == 5
    assert state["windows"] and not state["broken_now"]


def test_a_test_failing_now_for_three_runs_is_broken_and_one_that_never_passed_too():
    assert _walk("p" * 20 + "fff")["broken_now"]
    never = _walk("ffffffff")
    assert never["broken_now"] and never["flakes"] == 0


def test_streaks_that_chance_explains_for_a_very_flaky_test_are_flakes():
    # Fails about half the time: three or four failures in a row happen by chance alone.
    rng = random.Random(3)
    outcomes = "".join(rng.choice("pf") for _ in range(60)) + "fffp"
    state = _walk(outcomes)
    assert state["broken_fails"] == 0
    assert state["flakes"] == outcomes.count("f")


def test_pass_on_rerun_counts_as_a_flake_of_a_passing_run():
    state = _walk("pppprppp")
    assert state["flakes"] == 1 and state["reruns"] == 1 and state["fails"] == 0


def test_failure_on_a_commit_that_passed_before_is_flaky_at_once():
    state = flakestate.new_state(T0.isoformat())
    flakestate.update(state, run_id=1, ts=T0.isoformat(), bad=False)
    flakestate.update(state, run_id=2, ts=T0.isoformat(), bad=True, commit_pass_before=True)
    assert state["flakes"] == 1 and state["commit_flakes"] == 0 and state["pending"] == 0


def test_posterior_interval_is_wide_for_few_runs_and_narrow_for_many():
    few = flakestate.posterior(_walk("pfpp"))
    many = flakestate.posterior(_walk("pfpp" * 50))
    assert few[1] < many[0] < few[2]
    assert (many[2] - many[1]) < (few[2] - few[1]) / 2


def test_status_is_new_then_flaky_then_fixed_after_clean_runs():
    assert flakestate.status(_walk("pppfp")) == "new"
    assert flakestate.status(_walk("pppfp" + "pfpppppp" * 3)) == "flaky"
    assert flakestate.status(_walk("pppfp" + "p" * flakestate.FIXED_AFTER)) == "fixed"


def test_signatures_strip_numbers_addresses_uuids_and_temp_paths():
    a = normalise(
        "AssertionError: got 503 at 0x7f3a9c2b10 in /tmp/pytest-of-ci/pytest-12/x.db "
        "id=3f2b8c1e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
    )
    b = normalise(
        "AssertionError: got 502 at 0x1111 in /tmp/pytest-of-bob/pytest-7/y.db "
        "id=00000000-1d2a-4c3b-9e8f-0a1b2c3d4e5f\n  more lines"
    )
    assert a == b == "AssertionError: got <n> at <addr> in <tmp> id=<uuid>"
    assert normalise(None) == "(no message)"


# ---- stored analysis on real databases (both backends) --------------------------------------


def _store_runs(
    engine, project: str, outcomes_per_run: list[dict[str, str]], suite: str = "unit"
) -> list[int]:
    ids = []
    for i, outcomes in enumerate(outcomes_per_run):
        cases = [
            _case(n, o, j, message=f"boom {i}" if o != "passed" else None)
            for j, (n, o) in enumerate(outcomes.items())
        ]
        meta = RunMeta(
            project=project, suite=suite, branch="main", commit=f"k{i}", started_at=T0 + timedelta(hours=i)
        )
        ids.append(store_cases(engine, meta, cases, content_hash=f"{project}-{i}").run_id)
    return ids


def _project_id(engine, name):
    from ingest.models import Project

    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == name))


def test_outage_run_does_not_make_every_test_flaky(engine):
    tests = [f"tests/test_o.py::test_{i}" for i in range(10)]
    runs = [{t: "passed" for t in tests} for _ in range(12)]
    runs[6] = {t: ("error" if i < 8 else "passed") for i, t in enumerate(tests)}  # the database was down
    ids = _store_runs(engine, "outage", runs)
    pid = _project_id(engine, "outage")
    refresh_project(engine, pid)
    with Session(engine) as s:
        assert flaky_tests(s, pid) == []
        assert broken_tests(s, pid) == []
        outage = s.scalars(select(AnalysedRun.run_id).where(AnalysedRun.outage)).all()
    assert outage == [ids[6]]


def test_multi_day_breakage_is_not_flaky_and_a_still_failing_test_is_listed_as_broken(engine):
    fixed, failing, flaky = (
        "tests/test_b.py::test_fixed",
        "tests/test_b.py::test_failing",
        "tests/test_b.py::test_f",
    )
    runs = []
    for i in range(30):
        runs.append(
            {
                fixed: "failed" if 10 <= i < 16 else "passed",
                failing: "failed" if i >= 25 else "passed",
                flaky: "failed" if i in (3, 12, 21) else "passed",
            }
        )
    ids = _store_runs(engine, "breakage", runs)
    pid = _project_id(engine, "breakage")
    refresh_project(engine, pid)
    with Session(engine) as s:
        found = flaky_tests(s, pid)
        broken = broken_tests(s, pid)
    assert [t.nodeid for t in found] == [flaky]
    assert found[0].flakes == 3 and found[0].runs == 30 and found[0].failure_rate == 0.1
    assert found[0].signatures and found[0].signatures[0].signature == "boom <n>"
    assert [(b.nodeid, b.consecutive_failures, b.since_run_id) for b in broken] == [(failing, 5, ids[25])]


def test_flaky_list_is_most_flaky_first_and_until_reads_only_earlier_runs(engine):
    truth = build_history(engine, project="rank", runs=24, suites=("unit",))
    pid = _project_id(engine, "rank")
    with Session(engine) as s:
        found = flaky_tests(s, pid)
        early = flaky_tests(s, pid, Window.before(_meta("rank", "unit", 8).started_at))
    active = [t for t in found if t.status != "fixed"]
    assert [t.score for t in active] == sorted((t.score for t in active), reverse=True)
    names = {t.nodeid for t in found}
    assert not names & (truth.broken | truth.always_failing)
    assert all(t.runs <= 8 for t in early)
    assert all(t.ci_low <= t.score <= t.ci_high for t in found)


def test_as_of_answers_are_the_same_replayed_resumed_or_from_the_week_earlier_checkpoint(engine):
    from dashboard.analysis import history
    from dashboard.analysis.interference import find_suspects

    build_history(engine, project="asof", runs=48, suites=("unit",))
    pid = _project_id(engine, "asof")
    late = _meta("asof", "unit", 44).started_at
    untils = [late, late - history.CHECKPOINT, late - timedelta(days=3)]

    def answers(s, until):
        window = Window.before(until)
        return repr((flaky_tests(s, pid, window), broken_tests(s, pid, window),
                     find_suspects(s, pid, window)))

    with Session(engine) as s:
        fresh = {}
        for until in untils:
            history._AS_OF.clear()
            fresh[until] = answers(s, until)
        history._AS_OF.clear()
        answers(s, late)
        assert late - history.CHECKPOINT in {key[-1] for key in history._AS_OF}  # kept on the way
        newest_first = {until: answers(s, until) for until in untils}  # the checkpoint serves the second
        history._AS_OF.clear()
        oldest_first = {until: answers(s, until) for until in sorted(untils)}  # later ones resume
    history._AS_OF.clear()
    assert len({fresh[u] for u in untils}) == 3  # the three dates really see different histories
    assert newest_first == fresh
    assert oldest_first == fresh


# ---- pages and JSON ---------------------------------------------------------------------------


def test_flaky_page_and_json_list_flaky_tests_and_broken_ones_apart(client, engine):
    truth = build_history(engine, project="web", runs=24, suites=("unit",))
    data = client.get("/api/v1/projects/web/flaky").get_json()
    nodeids = [t["nodeid"] for t in data["tests"]]
    assert nodeids and set(nodeids) <= truth.random_flaky.keys() | truth.suspect_victims() | truth.rerun_flaky
    first = data["tests"][0]
    assert {
        "nodeid",
        "score",
        "runs",
        "failures",
        "status",
        "ci_low",
        "ci_high",
        "signatures",
    } <= first.keys()
    assert [b["nodeid"] for b in data["broken"]] == sorted(truth.always_failing)
    paged = client.get("/api/v1/projects/web/flaky?limit=2&page=2").get_json()
    assert [t["nodeid"] for t in paged["tests"]] == nodeids[2:4]
    html = client.get("/projects/web/flaky").get_data(as_text=True)
    assert nodeids[0] in html and "Broken tests" in html and "data-chart" in html


def test_suspects_page_and_json_show_evidence_and_reproduce_command(client, engine):
    build_history(engine, project="web", runs=40, suites=("unit",))
    data = client.get("/api/v1/projects/web/suspects").get_json()
    brittle = [s for s in data["suspects"] if s["victim"] == "tests/test_m6.py::test_brittle"]
    assert brittle and brittle[0]["kind"] == "state-setter"
    assert brittle[0]["polluters"] == ["tests/test_m6.py::test_setup_state"]
    assert {"fail_with", "pass_with", "fail_without", "pass_without", "example_runs"} <= brittle[0][
        "evidence"
    ].keys()
    html = client.get("/projects/web/suspects").get_data(as_text=True)
    assert "pytest -p no:randomly" in html and "tests/test_m6.py::test_setup_state" in html


def test_empty_project_pages_tell_a_new_user_what_to_do(client, engine):
    _store_runs(engine, "quiet", [{"tests/test_q.py::test_ok": "passed"}] * 3)
    flaky_html = client.get("/projects/quiet/flaky").get_data(as_text=True)
    suspects_html = client.get("/projects/quiet/suspects").get_data(as_text=True)
    assert "No flaky tests found yet" in flaky_html and "suitehealth ingest" in flaky_html
    assert "No interference suspects" in suspects_html and "pytest-randomly" in suspects_html
    assert client.get("/api/v1/projects/quiet/suspects").get_json()["suspects"] == []
    assert client.get("/api/v1/projects/missing/flaky").status_code == 404


def test_test_names_and_messages_are_escaped_on_the_pages(client, engine):
    hostile = "tests/test_h.py::test_x[<script>alert(1)</script>]"
    runs = [{hostile: "failed" if i % 4 == 1 else "passed"} for i in range(12)]
    _store_runs(engine, "hostile", runs)
    refresh_project(engine, _project_id(engine, "hostile"))
    html = client.get("/projects/hostile/flaky").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
