"""How suspects are presented: weekly actions, state-setter cards and collapsed failure messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from flask import render_template

from dashboard.analysis.interference import Suspect
from dashboard.analysis.weekly import recommended_actions
from dashboard.views.tests import failure_groups

BRITTLE, SETTER = "tests/test_reload.py::test_reload_settings", "tests/test_store.py::test_save_settings"
VICTIM, POLLUTER = "tests/test_render.py::test_render", "tests/test_flags.py::test_sets_debug"


def _review(suspects):
    return SimpleNamespace(project="shop", new_suspects=suspects, broken=[], new_flaky=[], skip_surges=[],
                           count_drops=[], suites=[], slower_tests=[])


def _suspect(victim, cause, kind, **kw):
    return {"victim": victim, "polluters": [cause], "kind": kind, "tier": kw.get("tier", "strong"),
            "verdict": kw.get("verdict"), "link": f"/projects/shop/tests?nodeid={victim}"}


def test_weekly_action_for_a_state_setter_says_to_fix_the_brittle_test_not_the_setter():
    suspects = [_suspect(BRITTLE, SETTER, "state-setter"),
                _suspect(VICTIM, POLLUTER, "polluter", tier="likely")]
    actions = recommended_actions(_review(suspects), {BRITTLE: 4, VICTIM: 2})
    brittle, polluter = actions
    assert brittle.title == f"make brittle test {BRITTLE} create its own state"
    assert brittle.subject == BRITTLE and SETTER in brittle.evidence
    assert "passes only after" in brittle.evidence
    assert "leaks" not in brittle.evidence and SETTER not in brittle.title
    assert polluter.title == f"fix polluter {POLLUTER}"
    assert "leaks state into" in polluter.evidence and "(likely, not yet proven)" in polluter.evidence


def test_weekly_action_quotes_the_confirm_verdict():
    verdict = {"text": "proven on 2026-12-02 at abc123", "verdict": "proven"}
    (action,) = recommended_actions(_review([_suspect(VICTIM, POLLUTER, "polluter", verdict=verdict)]),
                                    {VICTIM: 3})
    assert "(proven on 2026-12-02 at abc123)" in action.evidence


def _card(app, suspect):
    with app.test_request_context():
        return render_template("flaky/_suspect.html", s=suspect, project="shop")


def test_state_setter_card_lists_runs_without_the_setter_as_the_failures(sqlite_app):
    # For a state-setter the cause is the setter's ABSENCE: "failed_with" holds runs without it.
    evidence = {"fail_with": 5, "pass_with": 0, "fail_without": 0, "pass_without": 7, "p_value": 1e-4,
                "q_value": 1e-3, "family": 10, "consistent": True, "cleaners": [], "tier": "strong",
                "example_runs": {"failed_with": [11, 12], "passed_without": [21, 22], "passed_with": []},
                "explains_after": 0, "also_breaks": {}, "bisect": None, "more_runs": 0}
    html = _card(sqlite_app, Suspect(BRITTLE, [SETTER], "state-setter", 0.99, evidence, "pytest …"))
    failed = html.index("failed without it:")
    passed = html.index("passed after it:")
    assert failed < html.index("#11") < passed < html.index("#21")
    assert "failed with it" not in html and "passed without it" not in html
    polluter = _card(sqlite_app, Suspect(VICTIM, [POLLUTER], "polluter", 0.99, evidence, "pytest …"))
    assert polluter.index("failed with it:") < polluter.index("#11") < polluter.index("passed without it:")


def test_likely_card_says_how_many_more_runs_and_large_groups_get_a_bisection_plan(sqlite_app):
    group = [f"tests/test_utils.py::test_{i}" for i in range(10)]
    evidence = {"fail_with": 5, "pass_with": 0, "fail_without": 0, "pass_without": 9, "p_value": 5e-4,
                "q_value": 0.04, "family": 80, "consistent": True, "cleaners": [], "tier": "likely",
                "example_runs": {"failed_with": [1], "passed_without": [2], "passed_with": []},
                "explains_after": 0, "more_runs": 6, "position_also_explains": True,
                "also_breaks": {group[0]: ["tests/test_a.py::test_a"]},
                "bisect": {"first_half": group[:5], "second_half": group[5:], "steps": 4}}
    html = _card(sqlite_app, Suspect(VICTIM, group, "polluter", 0.9, evidence, "pytest …", tier="likely"))
    assert "about 6 more shuffled runs would settle it" in html
    assert "Position alone" in html and "Bisection plan (4 steps" in html
    assert "also breaks 1 other test)" in html


def test_identical_failure_messages_collapse_into_one_group_latest_first():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    failures = [SimpleNamespace(run_id=i, started_at=start + timedelta(hours=i),
                                message="boom" if i % 3 else "other") for i in range(1, 13)]
    groups = failure_groups(failures)
    # Run 12 failed with "other" last, so its group comes first.
    assert [(g["latest"].message, g["count"]) for g in groups] == [("other", 4), ("boom", 8)]
    assert groups[1]["latest"].run_id == 11 and len(groups[1]["others"]) == 7
