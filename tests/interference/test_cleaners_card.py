"""Suspect cards: a last-of-module polluter group, a group shared with a victim failing the same way."""

from __future__ import annotations

from flask import render_template

from dashboard.analysis.interference import Suspect

VICTIM = "tests/test_cmd.py::test_run"
LEAKS = [f"tests/test_archive.py::{c}::test_extract_no_to_path" for c in ("TestTar", "TestZip", "TestGz")]


def _evidence(**kw):
    return {"fail_with": 5, "pass_with": 0, "fail_without": 0, "pass_without": 25, "p_value": 7e-6,
            "q_value": 1e-3, "family": 140, "consistent": True, "cleaners": [], "tier": "strong",
            "example_runs": {"failed_with": [2], "passed_without": [3], "passed_with": []},
            "explains_after": 0, "also_breaks": {}, "bisect": None, "more_runs": 0, **kw}


def _card(app, suspect):
    with app.test_request_context():
        return render_template("flaky/_suspect.html", s=suspect, project="pydu")


def test_a_last_of_module_group_says_only_the_modules_last_test_counts(sqlite_app):
    evidence = _evidence(model="last-of-module", template="tests/test_archive.py::test_extract_no_to_path")
    html = _card(sqlite_app, Suspect(VICTIM, LEAKS, "polluter", 0.99, evidence, "pytest …"))
    assert "Fails when the last test of its module to run before it was one of these 3 tests" in html
    assert "only the last one counts" in html and "one test function, run in several classes" in html
    assert "they always ran together" not in html
    evidence = _evidence(model="last-of-module")  # a group of tests with the same pattern, no template
    group = _card(sqlite_app, Suspect(VICTIM, LEAKS[:2], "polluter", 0.99, evidence, "pytest …"))
    assert "one of these 2 tests (they always ran together" in group and "only the last one counts" in group
    plain = _card(sqlite_app, Suspect(VICTIM, LEAKS, "polluter", 0.99, _evidence(model="before"), "pytest …"))
    assert "Fails after one of these 3 tests (they always ran together" in plain
    assert "only the last one counts" not in plain
    # Suspects stored before the model was recorded read as "ran before".
    old = _card(sqlite_app, Suspect(VICTIM, LEAKS, "polluter", 0.99, _evidence(), "pytest …"))
    assert "they always ran together" in old


def test_a_member_shown_to_break_a_victim_failing_the_same_way_says_so(sqlite_app):
    other = "tests/test_path.py::test_cd"
    evidence = _evidence(also_breaks={LEAKS[0]: [other, "tests/test_x.py::test_y"]},
                         same_signature={LEAKS[0]: [other]})
    html = _card(sqlite_app, Suspect(VICTIM, LEAKS, "polluter", 0.99, evidence, "pytest …"))
    assert "(also breaks 2 other tests, 1 failing with the same message)" in html
