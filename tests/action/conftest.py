"""Fixtures for the quarantine, CLI-answer and CI-summary tests."""

from __future__ import annotations

import pytest

from dashboard import create_app


@pytest.fixture(scope="module", autouse=True)
def _import_everything_first(tmp_path_factory):
    """Import the app and CLI before any pytester snapshot of sys.modules.

    pytester drops the modules first imported during a test when it ends, and numpy (under the
    dashboard) cannot be imported twice in one process.
    """
    import dashboard.cli  # noqa: F401
    import ingest.pytest_quarantine  # noqa: F401

    create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('preload') / 'x.db'}"})
