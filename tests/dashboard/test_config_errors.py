"""A broken [tool.suitehealth] file answers 400 with the reason on every page that reads it."""

from __future__ import annotations

import pytest

from dashboard import create_app
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

PAGES = ["/projects/shop", "/projects/shop/pyramid", "/projects/shop/budget", "/projects/shop/weekly"]


@pytest.fixture
def broken_config_client(engine, tmp_path):
    config = tmp_path / "suitehealth.toml"
    config.write_text("[tool.suitehealth.levels\n")  # unterminated table header
    store_cases(engine, RunMeta(project="shop", suite="unit"),
                [CaseRecord("tests/unit/test_a.py::test_x", "passed", duration_s=0.1)], content_hash="h")
    app = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False),
                      "CONFIG_FILE": str(config)})
    return app.test_client()


@pytest.mark.parametrize("path", PAGES)
def test_a_broken_config_file_is_a_400_naming_the_configuration(broken_config_client, path):
    answer = broken_config_client.get("/api/v1" + path)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("suitehealth configuration:")
    page = broken_config_client.get(path)
    assert page.status_code == 400
    assert "suitehealth configuration:" in page.get_data(as_text=True)
