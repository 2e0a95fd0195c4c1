"""Regenerate reports with the installed pytest (plugin ``pytester``) and read them back.

If a new pytest, pytest-reportlog or pytest-json-report changes what it writes, these tests fail
here rather than in a user's CI: the node ids and outcomes we read must be pytest's own.
"""

from __future__ import annotations

import pytest

from ingest import records as R
from ingest.formats import parse

pytest_plugins = ["pytester"]

SUITE = {
    "tests/__init__.py": "",
    "tests/unit/__init__.py": "",
    "tests/unit/test_cart.py": """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("no database")

class TestCart:
    def test_add(self):
        assert 1

    @pytest.mark.parametrize("n", [1, 2, "x-y"])
    def test_many(self, n):
        assert n

    class TestNested:
        def test_deep(self):
            assert 1

def test_fails():
    assert 1 == 2, "broken maths"

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="database not available")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0

@pytest.mark.integration
def test_marked():
    assert 1
""",
}
EXPECTED = {
    "tests/unit/test_cart.py::TestCart::test_add": R.PASSED,
    "tests/unit/test_cart.py::TestCart::test_many[1]": R.PASSED,
    "tests/unit/test_cart.py::TestCart::test_many[2]": R.PASSED,
    "tests/unit/test_cart.py::TestCart::test_many[x-y]": R.PASSED,
    "tests/unit/test_cart.py::TestCart::TestNested::test_deep": R.PASSED,
    "tests/unit/test_cart.py::test_fails": R.FAILED,
    "tests/unit/test_cart.py::test_setup_error": R.ERROR,
    "tests/unit/test_cart.py::test_skipped": R.SKIPPED,
    "tests/unit/test_cart.py::test_xfail": R.XFAILED,
    "tests/unit/test_cart.py::test_marked": R.PASSED,
}


@pytest.fixture
def regenerated(pytester):
    """Run the sample suite once, writing JUnit (both families), reportlog and json-report."""
    pytester.makeini("[pytest]\nmarkers =\n    integration: slow\n")
    for path, source in SUITE.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    # Two sessions: --junitxml can be given only once per session.
    sessions = [
        ["--junitxml=xunit2.xml", "-o", "junit_family=xunit2", "--report-log=log.jsonl"],
        [
            "--junitxml=xunit1.xml",
            "-o",
            "junit_family=xunit1",
            "--json-report",
            "--json-report-file=report.json",
        ],
    ]
    for args in sessions:
        result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)
        seen = {r.nodeid for r in result.reprec.getreports("pytest_runtest_logreport")}
        assert seen == set(EXPECTED)  # the sample suite itself still behaves as intended
    return {name: pytester.path / name for name in ("xunit2.xml", "xunit1.xml", "log.jsonl", "report.json")}


@pytest.mark.parametrize("name", ["xunit2.xml", "xunit1.xml", "log.jsonl", "report.json"])
def test_reports_from_this_pytest_map_to_its_own_node_ids_and_outcomes(regenerated, name):
    with open(regenerated[name], "rb") as fh:
        report = parse(name, fh)
        cases = list(report.cases)
    assert {c.nodeid: c.outcome for c in cases} == EXPECTED
    failed = next(c for c in cases if c.nodeid.endswith("test_fails"))
    assert "broken maths" in (failed.message or "") + (failed.details or "")
    if name in ("log.jsonl", "report.json"):
        marked = next(c for c in cases if c.nodeid.endswith("test_marked"))
        assert marked.markers == ("integration",)
        assert all(c.call_s is not None or c.outcome in (R.SKIPPED, R.ERROR) for c in cases)
