"""One settings accessor: ``Settings``, built once per request or command; nothing else reads the config."""

from __future__ import annotations

import ast
from pathlib import Path

import dashboard
from dashboard.settings import Settings, current_settings

PACKAGE = Path(dashboard.__file__).parent


def _calls(name: str) -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == name:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return sorted(found)


def test_only_the_settings_accessor_and_the_app_factory_read_the_configuration():
    assert [c.split(":")[0] for c in _calls("load_config")] == ["__init__.py", "settings.py"]
    assert [c.split(":")[0] for c in _calls("load_settings")] == ["settings.py"]
    assert _calls("app_settings") == []


def test_settings_come_from_the_environment_then_the_given_values(tmp_path):
    config = tmp_path / "suitehealth.toml"
    config.write_text('[budgets]\nunit = 12.5\n')
    env = {"SUITEHEALTH_BUDGET_S": "42", "SUITEHEALTH_CONFIG_FILE": str(config), "SUITEHEALTH_AUTH": "Token"}
    from dashboard.config import load_config

    settings = Settings.from_config(load_config(environ=env))
    assert (settings.budget_s, settings.auth, settings.config_file) == (42.0, "token", str(config))
    assert settings.budgets == {"unit": 12.5} and settings.source == str(config.resolve())
    # Read once: the same object keeps the version of the file it first read.
    config.write_text('[budgets]\nunit = 99\n')
    assert settings.budgets == {"unit": 12.5}
    assert Settings.from_config(load_config(environ=env)).budgets == {"unit": 99}
    assert Settings(base_url="https://h.example/").report_urls().run("p", 1) == "https://h.example/projects/p/runs/1"
    assert Settings().report_urls("https://x").home() == "https://x/"


def test_a_request_builds_its_settings_once_from_the_app(tmp_path):
    from dashboard import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "BUDGET_S": 77.0,
                      "BASE_URL": "https://health.example"})
    with app.test_request_context("/"):
        first = current_settings()
        assert first is current_settings()
        assert (first.budget_s, first.base_url) == (77.0, "https://health.example")
    with app.test_request_context("/"):
        assert current_settings() is not first and current_settings() == first
    app.extensions["suitehealth_engine"].dispose()


BAD_VALUES = [
    ("SUITEHEALTH_REPLAY_LIMIT", "abc", "must be a whole number, not 'abc'"),
    ("SUITEHEALTH_REPLAY_LIMIT", "-1", "must be a whole number of at least 0, not '-1'"),
    ("SUITEHEALTH_PAGE_SIZE", "1e400", "must be a whole number, not '1e400'"),
    ("SUITEHEALTH_BUDGET_S", "nan", "must be a number of at least 0, not 'nan'"),
    ("SUITEHEALTH_BUDGET_S", "inf", "must be a number of at least 0, not 'inf'"),
    ("SUITEHEALTH_SESSION_HOURS", "x" * 500, "must be a number, not '" + "x" * 80 + "'"),
]


def test_a_bad_numeric_setting_is_refused_by_name(tmp_path):
    import pytest

    from dashboard.config import load_config
    from ingest.errors import SettingError

    for name, raw, message in BAD_VALUES:
        with pytest.raises(SettingError) as caught:
            load_config(environ={name: raw})
        assert str(caught.value) == f"{name} {message}"


def test_a_bad_numeric_setting_is_one_line_and_exit_1_in_the_cli_not_a_traceback(tmp_path):
    from click.testing import CliRunner

    from dashboard.cli import main

    db = f"sqlite:///{tmp_path / 'x.db'}"
    for name, raw, message in BAD_VALUES:
        args = ["--db", db, "report", "weekly", "--project", "shop"]
        result = CliRunner().invoke(main, args, env={name: raw})
        assert result.exit_code == 1, (name, result.output)
        assert result.output == f"Error: {name} {message}\n", name
