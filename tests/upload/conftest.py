"""Upload-test fixtures: apps that finish their background analysis refresh before the database goes."""

from __future__ import annotations

import pytest

from dashboard import create_app
from dashboard.views.upload import wait_for_refreshes


def make_app(engine, **config):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       "REFRESH_DELAY_S": 0.0, **config})


@pytest.fixture
def app(engine):
    """The app on the test database; its refresh threads finish before the schema is dropped."""
    yield make_app(engine)
    assert wait_for_refreshes(), "a background refresh did not finish"


@pytest.fixture
def small_client(engine):
    """A client of an app whose report size limit is 64 KiB."""
    yield make_app(engine, MAX_REPORT_BYTES=64 * 1024).test_client()
    assert wait_for_refreshes(), "a background refresh did not finish"


@pytest.fixture
def sqlite_app(sqlite_engine):
    """An app on SQLite, for what does not depend on the backend (the API description)."""
    yield make_app(sqlite_engine)
    assert wait_for_refreshes(), "a background refresh did not finish"
