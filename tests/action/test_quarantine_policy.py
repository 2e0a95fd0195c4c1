"""The quarantine policy, applied by the real analysis refresh from [tool.suitehealth.quarantine]:
auto-quarantine, auto-release after M clean runs, broken tests left alone, people's decisions kept."""

from __future__ import annotations

from datetime import date

import pytest
from history_helpers import store_run
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.levels import ConfigError
from dashboard.analysis.quarantine_policy import policy_from_settings
from dashboard.analysis.updates import refresh_project
from dashboard.demo import BROKEN, FLAKY, write_demo
from ingest.db import write_transaction
from ingest.models import Project
from ingest.quarantine import add_entry, entries, history, remove_entry

FLAKY_TEST = "tests/test_net.py::test_retry"
BROKEN_TEST = "tests/test_tax.py::test_new_rate"  # fails from its first run on: never passed
RARE = "tests/test_cart.py::test_total"
STABLE = "tests/test_cart.py::test_empty"
POLICY = """
[tool.suitehealth.quarantine]
auto_quarantine = true
min_score = 0.1
min_runs = 10
release_after = 5
"""


@pytest.fixture
def policy_file(tmp_path, monkeypatch):
    path = tmp_path / "pyproject.toml"
    path.write_text(POLICY)
    monkeypatch.setenv("SUITEHEALTH_CONFIG_FILE", str(path))
    return path


def _flaky_history(engine, runs: int = 15, first: int = 0) -> None:
    """The flaky test fails every third run; the broken one always; the rare one once."""
    for i in range(first, first + runs):
        store_run(engine, "shop", "unit", {
            FLAKY_TEST: "failed" if i % 3 == 1 else "passed",
            BROKEN_TEST: "failed",
            RARE: "failed" if i == 7 else "passed",
            STABLE: "passed",
        }, i)


def _clean_runs(engine, first: int, runs: int) -> None:
    for i in range(first, first + runs):
        store_run(engine, "shop", "unit", {FLAKY_TEST: "passed", BROKEN_TEST: "failed", RARE: "passed",
                                           STABLE: "passed"}, i)


def _project_id(engine, name: str = "shop") -> int:
    with Session(engine) as session:
        return session.scalar(select(Project.id).where(Project.name == name))


def _listed(engine, project_id: int) -> dict:
    with Session(engine) as session:
        return {e.nodeid: e for e in entries(session, project_id)}


def test_refresh_quarantines_the_flaky_test_not_the_broken_rare_or_stable_ones(engine, policy_file):
    _flaky_history(engine)
    project_id = _project_id(engine)
    refresh_project(engine, project_id)
    listed = _listed(engine, project_id)
    assert set(listed) == {FLAKY_TEST}
    entry = listed[FLAKY_TEST]
    assert entry.automatic and entry.added_by == "policy" and entry.suite == "unit"
    assert entry.reason.startswith("flake score ") and "over 15 runs in unit" in entry.reason
    assert entry.evidence_url == "/projects/shop/tests?nodeid=tests%2Ftest_net.py%3A%3Atest_retry"
    with Session(engine) as session:
        (change,) = history(session, project_id)
    assert (change.action, change.actor, change.details["runs"]) == ("added", "policy", 15)
    assert change.details["score"] >= 0.1


def test_auto_release_after_m_clean_uploads_and_requarantine_on_a_new_flake(engine, policy_file):
    _flaky_history(engine)
    project_id = _project_id(engine)
    refresh_project(engine, project_id)
    # The last flake is run 13's failure, counted when run 14 passed: no clean run after it yet.
    # Four clean runs are one short of release_after ...
    _clean_runs(engine, 15, 4)
    refresh_project(engine, project_id)
    assert set(_listed(engine, project_id)) == {FLAKY_TEST}
    # ... the fifth releases it.
    _clean_runs(engine, 19, 1)
    refresh_project(engine, project_id)
    assert _listed(engine, project_id) == {}
    with Session(engine) as session:
        released, added = history(session, project_id)
    assert (released.action, released.actor) == ("removed", "policy")
    assert released.reason.startswith("5 clean runs since the last flake")
    assert added.action == "added"
    # A new flake puts it back.
    store_run(engine, "shop", "unit", {FLAKY_TEST: "failed", BROKEN_TEST: "failed", RARE: "passed",
                                       STABLE: "passed"}, 20)
    _clean_runs(engine, 21, 1)
    refresh_project(engine, project_id)
    assert set(_listed(engine, project_id)) == {FLAKY_TEST}


def test_a_persons_removal_holds_until_a_newer_flake_and_their_entries_are_never_auto_released(
        engine, policy_file):
    _flaky_history(engine)
    project_id = _project_id(engine)
    refresh_project(engine, project_id)
    with write_transaction(engine) as session:
        remove_entry(session, project_id, FLAKY_TEST, actor="alice (cli)", reason="fixed in #123")
        add_entry(session, project_id, STABLE, actor="bob (cli)", reason="slow on CI")
    _clean_runs(engine, 15, 8)  # 8 clean runs: more than release_after
    refresh_project(engine, project_id)
    listed = _listed(engine, project_id)
    assert set(listed) == {STABLE}  # Bob's entry stays; Alice's removal is not undone
    assert not listed[STABLE].automatic


def test_without_a_policy_nothing_is_quarantined_automatically(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("SUITEHEALTH_CONFIG_FILE", str(tmp_path / "missing.toml"))
    _flaky_history(engine)
    project_id = _project_id(engine)
    refresh_project(engine, project_id)
    assert _listed(engine, project_id) == {}


def test_a_broken_policy_table_is_reported_and_does_not_stop_the_refresh(engine, tmp_path, monkeypatch,
                                                                        caplog):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.suitehealth.quarantine]\nmin_score = "high"\n')
    monkeypatch.setenv("SUITEHEALTH_CONFIG_FILE", str(path))
    _flaky_history(engine)
    project_id = _project_id(engine)
    refresh_project(engine, project_id)
    assert _listed(engine, project_id) == {}
    assert "quarantine policy of project" in caplog.text
    from dashboard.analysis.flaky import flaky_tests

    with Session(engine) as session:  # the analyses were stored all the same
        assert [t.nodeid for t in flaky_tests(session, project_id)][:1] == [FLAKY_TEST]


@pytest.mark.parametrize("table, message", [
    ({"min_score": 2}, "outside"), ({"min_runs": 1.5}, "wrong type"), ({"auto_quarantine": 1}, "wrong type"),
    ({"min_scor": 0.1}, "unknown key"),
])
def test_policy_settings_are_checked(table, message):
    with pytest.raises(ConfigError, match=message):
        policy_from_settings({"quarantine": table})


def test_demo_flaky_tests_are_quarantined_and_its_breakage_is_not(engine, tmp_path, monkeypatch):
    path = tmp_path / "pyproject.toml"
    # release_after above the demo's clean streaks: the 8 % test last flaked 20+ runs before the end.
    path.write_text("[tool.suitehealth.quarantine]\nauto_quarantine = true\nmin_score = 0.05\n"
                    "min_runs = 10\nrelease_after = 60\n")
    monkeypatch.setenv("SUITEHEALTH_CONFIG_FILE", str(path))
    write_demo(engine, today=date(2026, 12, 1))
    project_id = _project_id(engine, "acme-shop")
    refresh_project(engine, project_id)
    listed = _listed(engine, project_id)
    often = {nodeid for nodeid, (rate, _) in FLAKY.items() if rate >= 0.08}
    assert often <= set(listed)
    assert BROKEN not in listed
    assert all(e.automatic and e.added_by == "policy" for e in listed.values())
