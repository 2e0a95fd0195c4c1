"""Interference suspects on planted-truth CI histories: every cause found, nothing else accused."""

from __future__ import annotations

import os
import shlex
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from synthetic_ci import START, Truth, _meta, build_history, unit_runs

from dashboard.analysis import interference
from dashboard.analysis.flaky import flaky_tests
from dashboard.analysis.interference import bh_adjust, stratified_p, suspects_and_notes, suspects_for_test
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.window import Window
from ingest.analysis_models import AnalysedRun, AnalysisState
from ingest.db import ensure_schema, make_engine
from ingest.models import Project
from ingest.store import store_cases

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


# Built once per backend and process, not as a module fixture: xdist tears those down whenever
# its queue runs dry, and rebuilding 150 runs each time would cost most of this module's time.
_BUILT: dict[str, tuple] = {}


BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.xdist_group("interference-sqlite")),
    pytest.param(
        "postgresql", marks=[pytest.mark.postgres, pytest.mark.xdist_group("interference-postgresql")]
    ),
]


def pytest_generate_tests(metafunc):
    if "planted" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def planted(request, backend, tmp_path_factory):
    """A stored, analysed planted-truth history: (engine, project id, Truth). Tests only read it."""
    if backend not in _BUILT:
        _BUILT[backend] = _build(request, backend, tmp_path_factory)
    return _BUILT[backend]


def _build(request, backend: str, tmp_path_factory) -> tuple:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('interference') / 'db.sqlite'}"
    else:
        base = os.environ.get("SUITEHEALTH_TEST_PG_URL", PG_URL)
        schema = "t_" + uuid.uuid4().hex[:16]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        request.config.add_cleanup(drop)
        url = f"{base}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    request.config.add_cleanup(engine.dispose)
    ensure_schema(engine)
    truth = build_history(engine, runs=60)
    with Session(engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == truth.project))
    refresh_project(engine, project_id)
    return engine, project_id, truth


def _suspects(engine, project_id, until=None):
    with Session(engine) as s:
        return suspects_and_notes(s, project_id, Window.before(until))


def test_every_planted_cause_is_found_as_the_top_suspect_of_its_victim(planted):
    engine, project_id, truth = planted
    suspects, _ = _suspects(engine, project_id)
    top = {s.victim: s for s in suspects if s.rank == 1}
    for victim, polluters in truth.polluters.items():
        assert top[victim].kind == "polluter"
        assert polluters <= set(top[victim].polluters)
    for brittle, setter in truth.setters.items():
        assert top[brittle].kind == "state-setter"
        assert top[brittle].polluters == [setter]
    for victim, other in truth.concurrent.items():
        assert top[victim].kind == "concurrent"
        assert top[victim].polluters == [other]


def test_no_false_suspects_random_flakes_breakage_and_outage_are_not_accused(planted):
    engine, project_id, truth = planted
    suspects, _ = _suspects(engine, project_id)
    planted_causes = {
        **{v: p for v, p in truth.polluters.items()},
        **{v: {s} for v, s in truth.setters.items()},
        **{v: {o} for v, o in truth.concurrent.items()},
    }
    assert {s.victim for s in suspects} == truth.suspect_victims()
    for s in suspects:
        # One suspect per victim, and its group holds the planted cause.
        assert s.rank == 1
        assert planted_causes[s.victim] & set(s.polluters)


def test_modules_that_travel_together_are_one_group_never_separate_suspects(planted):
    engine, project_id, truth = planted
    suspects, _ = _suspects(engine, project_id)
    for victim, module in truth.polluter_modules.items():
        (suspect,) = [s for s in suspects if s.victim == victim]
        # The whole polluter module moved as one block under pytest-randomly: one group, in it only.
        assert len(suspect.polluters) > 1
        assert all(p.startswith(module + "::") for p in suspect.polluters)
        assert suspect.evidence["group_size"] == len(suspect.polluters)
        # A shared word with the victim's name ("env") puts the real polluter first.
        assert suspect.polluters[0] in truth.polluters[victim]


def test_cleaner_between_polluter_and_victim_is_named_as_the_explanation(planted):
    engine, project_id, truth = planted
    suspects, _ = _suspects(engine, project_id)
    for victim, cleaner in truth.cleaners.items():
        (suspect,) = [s for s in suspects if s.victim == victim]
        assert suspect.evidence["pass_with"] > 0
        assert suspect.evidence["cleaners"] == [cleaner]
        assert suspect.confidence > 0.9


def test_suspect_carries_counts_example_runs_and_a_reproduce_command(planted):
    engine, project_id, truth = planted
    suspects, _ = _suspects(engine, project_id)
    victim = "tests/test_x2.py::test_needs_clean_global"
    (s,) = [s for s in suspects if s.victim == victim]
    ev = s.evidence
    assert (
        ev["fail_with"] >= 3 and ev["pass_without"] >= 3 and ev["fail_without"] == 0 and ev["pass_with"] == 0
    )
    assert ev["consistent"] is True
    assert ev["example_runs"]["failed_with"] and ev["example_runs"]["passed_without"]
    assert s.reproduce == "pytest -p no:randomly tests/test_x1.py::test_leaks_global " + shlex.quote(victim)
    assert 0.9 < s.confidence <= 1.0


def test_fixed_order_history_says_it_cannot_tell_and_suggests_randomising(planted):
    engine, project_id, truth = planted
    suspects, notes = _suspects(engine, project_id)
    assert {n.victim for n in notes} == truth.undecidable
    assert all("pytest-randomly" in n.note for n in notes)
    assert not [s for s in suspects if s.victim in truth.undecidable]


def test_stored_incremental_results_equal_a_from_scratch_analysis(planted):
    engine, project_id, _ = planted
    stored, stored_notes = _suspects(engine, project_id)
    fresh, fresh_notes = _suspects(engine, project_id, until=FAR_FUTURE)

    def key(s):
        return (
            s.suite,
            s.victim,
            s.kind,
            tuple(sorted(s.polluters)),
            s.evidence["fail_with"],
            s.evidence["pass_with"],
            s.evidence["fail_without"],
            s.evidence["pass_without"],
        )

    assert sorted(map(key, stored)) == sorted(map(key, fresh))
    assert {n.victim for n in stored_notes} == {n.victim for n in fresh_notes}
    with Session(engine) as s:
        stored_flaky = [(t.suite, t.nodeid, t.flakes, t.status) for t in flaky_tests(s, project_id)]
        fresh_flaky = [
            (t.suite, t.nodeid, t.flakes, t.status)
            for t in flaky_tests(s, project_id, Window.before(FAR_FUTURE))
        ]
    assert stored_flaky == fresh_flaky


def test_suspects_for_test_answers_in_both_directions(planted):
    engine, project_id, _ = planted
    with Session(engine) as s:
        as_victim = suspects_for_test(s, project_id, "tests/test_m6.py::test_brittle")
        as_cause = suspects_for_test(s, project_id, "tests/test_m6.py::test_setup_state")
        unrelated = suspects_for_test(s, project_id, "tests/test_m2.py::test_4")
    assert [x.kind for x in as_victim["as_victim"]] == ["state-setter"] and not as_victim["as_cause"]
    assert [x.victim for x in as_cause["as_cause"]] == ["tests/test_m6.py::test_brittle"]
    assert unrelated == {"as_victim": [], "as_cause": []}


def test_until_analyses_only_the_history_before_it(planted):
    engine, project_id, truth = planted
    # Before the first run there is no history; with only the first few runs, too little evidence.
    assert _suspects(engine, project_id, until=START) == ([], [])
    early, _ = _suspects(engine, project_id, until=datetime(2026, 6, 3, tzinfo=UTC))
    assert early == []


def test_one_new_run_is_analysed_alone_and_updates_the_counts(sqlite_engine):
    engine = sqlite_engine
    truth: Truth = build_history(engine, project="inc", runs=30, suites=("unit",))
    with Session(engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == "inc"))
    refresh_project(engine, project_id)
    victim, polluter = "tests/test_m5.py::test_reads_env", "tests/test_m4.py::test_sets_env"
    before = {s.victim: s for s in _suspects(engine, project_id)[0]}[victim]
    # One more run in which the polluter ran before the victim.
    import random

    for seed in range(100):
        _, cases = next(unit_runs(random.Random(seed), 1, outage_at=-1))
        order = [c.nodeid for c in cases]
        if order.index(polluter) < order.index(victim):
            break
    new = store_cases(engine, _meta("inc", "unit", 500), cases, content_hash="inc-new")
    refresh_project(engine, project_id)
    with Session(engine) as s:
        assert (
            s.scalar(select(AnalysisState.last_run_id).where(AnalysisState.project_id == project_id))
            == new.run_id
        )
        assert s.scalar(select(func.count()).select_from(AnalysedRun)) == 31
    after = {s.victim: s for s in _suspects(engine, project_id)[0]}[victim]
    assert after.evidence["fail_with"] == before.evidence["fail_with"] + 1
    assert truth.polluters[victim] <= set(after.polluters)
    # Nothing new: the refresh is a no-op.
    refresh_project(engine, project_id)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AnalysedRun)) == 31


def test_stratified_exact_test_and_benjamini_hochberg_behave_like_the_textbook():
    import numpy as np
    from scipy.stats import fisher_exact

    x = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], dtype=bool)
    one_stratum = stratified_p(x, y, np.zeros(10, dtype=int))
    table = [[int((x & y).sum()), int((x & ~y).sum())], [int((~x & y).sum()), int((~x & ~y).sum())]]
    assert one_stratum == pytest.approx(fisher_exact(table, alternative="greater")[1])
    from scipy.stats import false_discovery_control

    pvalues = [0.01, 0.04, 0.03, 0.5, 0.001]
    assert bh_adjust(pvalues) == pytest.approx(list(false_discovery_control(pvalues, method="bh")))
    assert (
        interference.reproduce_command(["a.py::t1"], "b.py::t2", "polluter")
        == "pytest -p no:randomly a.py::t1 b.py::t2"
    )
    assert "in one process" in interference.reproduce_command(["com.Foo.a"], "com.Bar.b", "polluter")
