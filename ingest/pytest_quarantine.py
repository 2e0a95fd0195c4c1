"""The pytest side of quarantine (``--suitehealth-quarantine=SOURCE``), registered by ``pytest_plugin``.

Mode ``run`` (default): quarantined tests run and report as usual, but a failure becomes an xfail
whose reason names why the test is quarantined and links the evidence, so it does not fail the
session. The suitehealth report still records the real failure (``pytest_plugin.Recorder``), so
the dashboard keeps judging the test and can release it. Mode ``skip``: quarantined tests are not
run at all (for tests too costly to run); they are then never released automatically.

A quarantined node id also covers what is below it: ``tests/x.py::test_y`` covers every
``tests/x.py::test_y[...]`` and a file covers its tests, as on pytest's own command line. Under
xdist the controller loads the list once and hands it to the workers.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest

from ingest.quarantine_list import ListedTest, QuarantineListError, covering
from ingest.quarantine_source import LoadedList, export_url, is_url, load_file, load_server

PLUGIN_NAME = "suitehealth-quarantine"
MODES = ("run", "skip")
_WORKER_KEY = "suitehealth_quarantine"


def register(config) -> None:
    """Load the list (controller) or receive it (xdist worker) and register the plugin."""
    mode = config.getoption("suitehealth_quarantine_mode")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        sent = workerinput.get(_WORKER_KEY)
        if not sent:
            return
        loaded = LoadedList(tuple(ListedTest(**t) for t in sent["tests"]), sent["note"], sent["origin"])
    else:
        loaded = load(config)
    config.pluginmanager.register(QuarantinePlugin(loaded, mode), PLUGIN_NAME)


def load(config) -> LoadedList:
    """Read SOURCE: a file from ``quarantine export --format json`` or the server's URL."""
    source = config.getoption("suitehealth_quarantine")
    try:
        if not is_url(source):
            return load_file(source)
        from ingest.ci_env import ci_metadata

        project = (config.getoption("suitehealth_project") or os.environ.get("SUITEHEALTH_PROJECT")
                   or ci_metadata().get("project"))
        token = config.getoption("suitehealth_token") or os.environ.get("SUITEHEALTH_TOKEN")
        return load_server(export_url(source, project), token)
    except QuarantineListError as exc:
        raise pytest.UsageError(f"--suitehealth-quarantine: {exc}") from None


def xfail_reason(test: ListedTest) -> str:
    reason = f"quarantined by suitehealth: {test.reason or 'no reason given'}"
    return f"{reason} ({test.url})" if test.url else reason


class QuarantinePlugin:
    def __init__(self, loaded: LoadedList, mode: str):
        self.loaded = loaded
        self.mode = mode
        self.by_nodeid = {t.nodeid: t for t in loaded.tests}
        # Node ids of quarantined tests that failed this session (seen on the controller).
        self.failed: list[str] = []

    def match(self, nodeid: str) -> ListedTest | None:
        """Return the entry covering ``nodeid``: itself, a parametrize base, its class or its file."""
        return covering(nodeid, self.by_nodeid)

    def pytest_report_header(self, config) -> str:
        return f"{self.loaded.note}; mode {self.mode}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        """Send the list to each xdist worker: one fetch per session, the same set everywhere."""
        node.workerinput[_WORKER_KEY] = {"tests": [asdict(t) for t in self.loaded.tests],
                                        "note": self.loaded.note, "origin": self.loaded.origin}

    def pytest_collection_modifyitems(self, items) -> None:
        if self.mode != "skip":
            return
        for item in items:
            test = self.match(item.nodeid)
            if test is not None:
                item.add_marker(pytest.mark.skip(reason=xfail_reason(test)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if self.mode == "run" and report.failed and not hasattr(report, "wasxfail"):
            test = self.match(item.nodeid)
            if test is not None:
                report.outcome = "skipped"
                report.wasxfail = xfail_reason(test)
                # The real outcome, for the suitehealth report (and xdist carries it to the controller).
                report.suitehealth_quarantined = {"outcome": "failed", "nodeid": test.nodeid}
        return report

    def pytest_runtest_logreport(self, report) -> None:
        if getattr(report, "suitehealth_quarantined", None) and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.failed:
            n = len(self.failed)
            terminalreporter.write_line(
                f"suitehealth: {n} quarantined test{'s' if n != 1 else ''} failed and "
                f"{'were' if n != 1 else 'was'} reported as xfail: {', '.join(self.failed[:10])}"
                + (" ..." if n > 10 else ""), yellow=True)
