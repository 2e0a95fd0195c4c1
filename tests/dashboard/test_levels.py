"""Level rules: defaults, first match wins, config files override."""

from __future__ import annotations

import pytest

from dashboard.analysis.levels import (
    ConfigError,
    Rules,
    classify,
    classify_with_reason,
    glob_regex,
    level_rules,
    load_settings,
)


def test_markers_win_over_paths_and_the_most_specific_level_wins():
    rules = Rules()
    assert classify("tests/unit/test_a.py::test_x", ["integration"], 0.01, rules) == "integration"
    assert classify("tests/unit/test_a.py::test_x", ["integration", "e2e"], 0.01, rules) == "e2e"
    assert classify_with_reason("tests/test_a.py::test_x", ["fixture:live_server"], 0.01, rules) == (
        "e2e", "marker fixture:live_server")
    assert classify("tests/test_a.py::test_x", ["django_db"], 9.0, rules) == "integration"


def test_path_globs_decide_when_no_marker_matches():
    rules = Rules()
    assert classify_with_reason("tests/e2e/test_flow.py::test_x", [], 0.01, rules) == (
        "e2e", "path **/e2e/**")
    assert classify("backend/tests/integration/sub/test_db.py::T::test_x", ["parametrize"], 0.01, rules) == \
        "integration"
    assert classify("tests/unit/test_a.py::test_x", [], 30.0, rules) == "unit"
    # JUnit ids from other tools: the dotted classname is read as a path.
    assert classify("com.acme.shop.CartIT::testTotals", [], None, rules) == "integration"
    assert classify("com.acme.integration.CartTest::testTotals", [], None, rules) == "integration"


def test_duration_fallback_and_unknown_without_any_evidence():
    rules = Rules()
    assert classify_with_reason("tests/test_a.py::test_x", [], 0.1, rules) == ("unit", "duration <= 0.1 s")
    assert classify("tests/test_a.py::test_x", [], 0.5, rules) == "integration"
    assert classify("tests/test_a.py::test_x", [], 2.01, rules) == "e2e"
    assert classify("tests/test_a.py::test_x", [], None, rules) == "unknown"


def test_single_star_stays_within_one_directory():
    assert glob_regex("tests/*/test_a.py").fullmatch("tests/unit/test_a.py")
    assert not glob_regex("tests/*/test_a.py").fullmatch("tests/unit/deep/test_a.py")
    assert glob_regex("tests/**/test_a.py").fullmatch("tests/unit/deep/test_a.py")
    assert glob_regex("tests/**/test_a.py").fullmatch("tests/test_a.py")


def test_pyproject_levels_override_the_defaults_they_name_and_keep_the_others(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n'
        "[tool.suitehealth.levels]\n"
        "unit_max_s = 0.5\n"
        "integration_max_s = 10\n"
        'markers = {integration = ["needs_redis"]}\n'
        'paths = {e2e = ["tests/browser_suite/**"]}\n'
        "[tool.suitehealth.budgets]\nintegration = 420\n"
    )
    settings = load_settings(pyproject)
    rules = level_rules(settings)
    assert str(pyproject.resolve()) in rules.source
    assert settings["budgets"] == {"integration": 420}
    assert classify("tests/test_a.py::test_x", ["needs_redis"], 0.01, rules) == "integration"
    # "integration" as a marker is no longer an integration rule (the list was replaced) ...
    assert classify("tests/test_a.py::test_x", ["integration"], 0.01, rules) == "unit"
    # ... while the default e2e markers and unit paths still apply.
    assert classify("tests/test_a.py::test_x", ["e2e"], 0.01, rules) == "e2e"
    assert classify("tests/browser_suite/test_b.py::test_y", [], 0.01, rules) == "e2e"
    assert classify("tests/e2e/test_b.py::test_y", [], 0.01, rules) == "unit"  # default e2e paths replaced
    assert classify("tests/test_a.py::test_x", [], 0.4, rules) == "unit"
    assert classify("tests/test_a.py::test_x", [], 9.0, rules) == "integration"


def test_suitehealth_toml_at_top_level_with_replace_defaults(tmp_path):
    path = tmp_path / "suitehealth.toml"
    path.write_text('[levels]\nreplace_defaults = true\nmarkers = {e2e = ["slow"]}\n')
    rules = level_rules(load_settings(path))
    assert rules.paths == {}
    assert classify("tests/e2e/test_b.py::test_y", [], 0.01, rules) == "unit"
    assert classify("tests/unit/test_b.py::test_y", ["slow"], 0.01, rules) == "e2e"


def test_config_file_is_found_in_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "suitehealth.toml").write_text("[tool.suitehealth.levels]\nunit_max_s = 1.5\n")
    monkeypatch.chdir(tmp_path)
    assert level_rules(load_settings()).unit_max_s == 1.5


@pytest.mark.parametrize("text", [
    '[tool.suitehealth.levels]\nmarkers = {smoke = ["x"]}\n',
    '[tool.suitehealth.levels]\npaths = {unit = "tests/unit/**"}\n',
    "[tool.suitehealth.levels]\nunit_max_s = 5\nintegration_max_s = 1\n",
    "[tool.suitehealth.levels\n",
])
def test_malformed_level_config_is_refused_with_a_reason(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        level_rules(load_settings(path))
