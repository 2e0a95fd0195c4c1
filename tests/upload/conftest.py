"""Upload-test fixtures: apps on the test database (the analysis is the worker's job, not theirs)."""

from __future__ import annotations

import pytest

from dashboard import create_app


def make_app(engine, **config):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       **config})


@pytest.fixture
def app(engine):
    """The app on the test database."""
    return make_app(engine)


@pytest.fixture
def small_client(engine):
    """A client of an app whose report size limit is 64 KiB."""
    return make_app(engine, MAX_REPORT_BYTES=64 * 1024).test_client()


@pytest.fixture
def sqlite_app(sqlite_engine):
    """An app on SQLite, for what does not depend on the backend (the API description)."""
    return make_app(sqlite_engine)
