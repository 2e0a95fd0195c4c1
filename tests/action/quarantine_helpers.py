"""Build quarantine lists in a real database for the tests in tests/action."""

from __future__ import annotations

from ingest.db import write_transaction
from ingest.quarantine import add_entry
from ingest.store import get_or_create_project

# A suite whose failures are all known: two flaky ones to quarantine and one real bug.
SUITE = """
import pytest

def test_flaky_network():
    assert False, "ConnectionResetError: connection reset by peer"

def test_stable():
    assert True

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1

def test_real_bug():
    assert 1 == 2
"""
QUARANTINED = {
    "test_suite.py::test_flaky_network": "resets under load <script>x</script>",
    # A parametrize base covers every case under it, as on pytest's command line.
    "test_suite.py::test_param": "param 2 races the cache",
}


def quarantine(engine, project: str, tests: dict[str, str], actor: str = "alice (cli)") -> None:
    """Quarantine ``tests`` ({nodeid: reason}) in ``project``, creating the project."""
    with write_transaction(engine) as session:
        proj = get_or_create_project(session, project)
        for nodeid, reason in tests.items():
            add_entry(session, proj.id, nodeid, actor=actor, reason=reason, suite="unit")
