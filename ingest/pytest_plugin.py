"""pytest plugin (entry point ``suitehealth``): inactive unless --suitehealth-report/--suitehealth-upload is given."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    group = parser.getgroup("suitehealth")
    group.addoption("--suitehealth-report", metavar="PATH", default=None,
                    help="write a suitehealth report (per-phase timings, workers, markers) to PATH")
    group.addoption("--suitehealth-upload", action="store_true", default=False,
                    help="upload the report to $SUITEHEALTH_URL at session end")
