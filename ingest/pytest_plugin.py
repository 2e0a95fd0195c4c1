"""pytest plugin (entry point ``suitehealth``), inactive unless --suitehealth-report or --suitehealth-upload.

It records what JUnit XML loses: per-phase durations, start/stop times and the worker of every
test under xdist, markers, the fixtures each test used, the pytest-randomly seed and reruns. The
report is pytest-reportlog's JSON-lines format (SessionStart, one TestReport per phase,
SessionFinish) with an extra ``"suitehealth"`` key on some lines, so `suitehealth ingest` and
any reportlog reader can read it. Under xdist the controller writes the file: workers forward
every report with ``worker_id``/``item_index``, and attach markers and fixtures to it here.

With --suitehealth-upload the report is sent to $SUITEHEALTH_URL at session end; a failed
upload is a warning, never a failed test session.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

FORMAT_VERSION = 1
# Markers pytest itself uses for plumbing; they say nothing about the kind of test.
_PLUMBING_MARKERS = frozenset({"parametrize", "usefixtures", "filterwarnings"})
_PLUMBING_FIXTURES = frozenset({"request"})
_PLUGIN_NAME = "suitehealth-recorder"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("suitehealth")
    group.addoption("--suitehealth-report", metavar="PATH", default=None,
                    help="write a suitehealth report (per-phase timings, workers, markers) to PATH")
    group.addoption("--suitehealth-upload", action="store_true", default=False,
                    help="upload the report to $SUITEHEALTH_URL at session end")
    group.addoption("--suitehealth-url", metavar="URL", default=None,
                    help="server to upload to [default: $SUITEHEALTH_URL]; the token is read from "
                         "$SUITEHEALTH_TOKEN only, so it never shows in logs")
    group.addoption("--suitehealth-project", metavar="NAME", default=None,
                    help="project to upload to [default: $SUITEHEALTH_PROJECT, then the CI environment]")
    group.addoption("--suitehealth-suite", metavar="NAME", default=None,
                    help="suite (CI job) name of the run [default: $SUITEHEALTH_SUITE, then the CI job]")
    group.addoption("--suitehealth-quarantine", metavar="SOURCE", default=None,
                    help="quarantine list: a file from `suitehealth quarantine export --format json`, or the "
                         "server's URL (token from --suitehealth-token or $SUITEHEALTH_TOKEN)")
    group.addoption("--suitehealth-quarantine-mode", choices=("run", "skip"), default="run",
                    help="run: quarantined tests run, a failure is reported as xfail (default); "
                         "skip: they do not run")
    group.addoption("--suitehealth-summary", action="store_true", default=False,
                    help="write a Markdown job summary to $GITHUB_STEP_SUMMARY (printed when unset); "
                         "automatic when that is set and another suitehealth option is used")
    group.addoption("--suitehealth-token", metavar="TOKEN", default=None,
                    help="project token for the quarantine list [default: $SUITEHEALTH_TOKEN, which "
                         "keeps it out of logs]")


def pytest_configure(config) -> None:
    if config.getoption("suitehealth_quarantine"):
        from ingest.pytest_quarantine import register

        register(config)
    if not hasattr(config, "workerinput"):
        from ingest.pytest_summary import PLUGIN_NAME, SummaryPlugin, wanted

        if wanted(config):
            config.pluginmanager.register(SummaryPlugin(config), PLUGIN_NAME)
    if not (config.getoption("suitehealth_report") or config.getoption("suitehealth_upload")):
        return
    if hasattr(config, "workerinput"):  # an xdist worker: only annotate reports for the controller
        config.pluginmanager.register(_Annotator(), _PLUGIN_NAME)
    else:
        config.pluginmanager.register(Recorder(config), _PLUGIN_NAME)


def pytest_unconfigure(config) -> None:
    plugin = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if plugin is not None:
        if isinstance(plugin, Recorder):
            plugin.close()
        config.pluginmanager.unregister(plugin, _PLUGIN_NAME)


def item_annotations(item) -> dict:
    """Return the markers and fixtures of ``item`` (what the pyramid rules look at)."""
    markers = []
    for mark in item.iter_markers():
        if mark.name not in _PLUMBING_MARKERS and mark.name not in markers:
            markers.append(mark.name)
    fixtures = [f for f in getattr(item, "fixturenames", ()) if f not in _PLUMBING_FIXTURES]
    return {"markers": markers, "fixtures": fixtures}


class _Annotator:
    """Attach markers/fixtures to each report; xdist serialises report attributes to the controller."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        report.suitehealth = item_annotations(item)
        return report


class Recorder(_Annotator):
    """Write the reportlog-compatible report on the controller (or the only process)."""

    def __init__(self, config):
        self.config = config
        path = config.getoption("suitehealth_report")
        self.upload = bool(config.getoption("suitehealth_upload"))
        if path:
            self.path = Path(path).expanduser().resolve()
            self.temporary = False
        else:  # upload only: the report lives just long enough to be sent
            fd, name = tempfile.mkstemp(prefix="suitehealth-", suffix=".jsonl")
            os.close(fd)
            self.path = Path(name)
            self.temporary = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8")
        self.summary_lines: list[tuple[str, dict]] = []
        self.uploaded: tuple[str, str, str, int] | None = None

    def _write(self, data: dict) -> None:
        self._fh.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")

    def pytest_sessionstart(self, session) -> None:
        self._write({
            "pytest_version": pytest.__version__,
            "$report_type": "SessionStart",
            "suitehealth": {"format_version": FORMAT_VERSION, "random_seed": random_seed(self.config),
                            "started_at": datetime.now(UTC).isoformat()},
        })

    def pytest_runtest_logreport(self, report) -> None:
        self._write(self._serialize(report))

    def pytest_collectreport(self, report) -> None:
        # Only failed collection matters (an import error hides a whole module's tests).
        if report.failed:
            self._write(self._serialize(report))

    def _serialize(self, report) -> dict:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        # xdist's controller hangs its WorkerController on the report; it is not data.
        data.pop("node", None)
        if data.pop("suitehealth_quarantined", None):
            # Quarantine turned a failure into an xfail for the build; the history keeps the failure.
            data["outcome"] = "failed"
            data.pop("wasxfail", None)
        return data

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if self._fh.closed:
            return
        self._write({"exitstatus": int(exitstatus), "$report_type": "SessionFinish",
                     "suitehealth": {"stopped_at": datetime.now(UTC).isoformat()}})
        self._fh.close()
        if self.upload:
            self.summary_lines.append(self._upload())
        elif not self.temporary:
            self.summary_lines.append((f"suitehealth: report written to {self.path}", {}))

    def _upload(self) -> tuple[str, dict]:
        """Send the report; every failure becomes a warning line (the session's outcome stands)."""
        opt = self.config.getoption
        server = opt("suitehealth_url") or os.environ.get("SUITEHEALTH_URL")
        token = os.environ.get("SUITEHEALTH_TOKEN")
        if not server or not token:
            return ("suitehealth: NOT uploaded: set SUITEHEALTH_URL (or --suitehealth-url) and "
                    "SUITEHEALTH_TOKEN", {"yellow": True})
        try:
            from ingest.ci_env import ci_metadata
            from ingest.upload_client import upload_reports

            ci = ci_metadata()
            project = opt("suitehealth_project") or os.environ.get("SUITEHEALTH_PROJECT") or ci.get("project")
            if not project:
                return ("suitehealth: NOT uploaded: no project (--suitehealth-project or "
                        "SUITEHEALTH_PROJECT)", {"yellow": True})
            fields = {
                "suite": opt("suitehealth_suite") or os.environ.get("SUITEHEALTH_SUITE") or ci.get("suite"),
                "branch": ci.get("branch"), "commit": ci.get("commit"), "build_id": ci.get("build_id"),
                "build_url": ci.get("build_url"), "ci": ci.get("provider"),
            }
            retries = int(os.environ.get("SUITEHEALTH_UPLOAD_RETRIES", "2"))
            result = upload_reports(server, token, project, [self.path], fields, retries=retries,
                                    backoff_s=1.0, timeout_s=60.0)
        except Exception as exc:  # a dashboard outage must never fail the build
            return (f"suitehealth: NOT uploaded ({exc}); report kept at {self.path}", {"yellow": True})
        if self.temporary:
            self.path.unlink(missing_ok=True)
        if result.run_id:  # for the job summary (pytest_summary), which asks for the run's verdicts
            self.uploaded = (server, token, project, result.run_id)
        verb = "already stored as" if result.duplicate else "uploaded as"
        return (f"suitehealth: {verb} run {result.run_id}: {result.url or ''}".rstrip(), {"green": True})

    def pytest_terminal_summary(self, terminalreporter) -> None:
        for line, markup in self.summary_lines:
            terminalreporter.write_line(line, **markup)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def random_seed(config) -> str | None:
    """Return pytest-randomly's seed when it is active and shuffling, else None."""
    if not config.pluginmanager.hasplugin("randomly"):
        return None
    if not getattr(config.option, "randomly_reorganize", True):
        return None
    seed = getattr(config.option, "randomly_seed", None)
    return None if seed in (None, "default", "last") else str(seed)
