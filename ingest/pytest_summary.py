"""The pytest plugin's CI job summary (``--suitehealth-summary``, or automatically when
$GITHUB_STEP_SUMMARY is set and another suitehealth option is in use).

After an upload (``--suitehealth-upload``) the summary is the server's verdicts on the stored run:
failures split into known flaky, quarantined and new, suspects with reproduce commands, suite time
against the budget. Without an upload only the session itself is known: quarantined failures apart
from the others, and the session's time.
"""

from __future__ import annotations

import os
import time

from ingest.ci_markdown import md_code, md_text, write_step_summary

PLUGIN_NAME = "suitehealth-summary"


def wanted(config) -> bool:
    opt = config.getoption
    if opt("suitehealth_summary"):
        return True
    in_use = opt("suitehealth_report") or opt("suitehealth_upload") or opt("suitehealth_quarantine")
    return bool(in_use and os.environ.get("GITHUB_STEP_SUMMARY"))


class SummaryPlugin:
    def __init__(self, config):
        self.config = config
        self.started = time.time()

    def pytest_terminal_summary(self, terminalreporter) -> None:
        markdown = self._from_server() or self._from_session(terminalreporter)
        where = write_step_summary(markdown, lambda text: [terminalreporter.write_line(line)
                                                           for line in text.splitlines()])
        if where != "printed":
            terminalreporter.write_line(f"suitehealth: job summary written to {where}")

    def _from_server(self) -> str | None:
        """Return the summary of the uploaded run's verdicts, or None (no upload, or no answer)."""
        recorder = self.config.pluginmanager.get_plugin("suitehealth-recorder")
        uploaded = getattr(recorder, "uploaded", None)
        if not uploaded:
            return None
        from ingest.ci_summary import fetch_verdicts, summary_markdown

        server, token, project, run_id = uploaded
        try:
            return summary_markdown(fetch_verdicts(server, token, project, run_id))
        except (OSError, ValueError):
            return None

    def _from_session(self, terminalreporter) -> str:
        stats = terminalreporter.stats
        failed = [r for key in ("failed", "error") for r in stats.get(key, []) if getattr(r, "nodeid", "")]
        quarantined = [r for r in stats.get("xfailed", []) if getattr(r, "suitehealth_quarantined", None)]
        tests = sum(len(stats.get(k, [])) for k in ("passed", "failed", "skipped", "xfailed", "xpassed"))
        lines = ["### suitehealth: this pytest session", ""]
        lines.append(f"**{len(failed)} failed**, {len(quarantined)} quarantined failures reported as xfail, "
                     f"of {tests} tests." if failed or quarantined else f"**No failures** in {tests} tests.")
        if failed:
            lines += ["", "#### Failures (not checked against the history: upload the run to know which are "
                          "known flaky)", "", "| Test | Message |", "|---|---|"]
            lines += [f"| {md_code(r.nodeid)} | {md_code(_message(r))} |" for r in failed[:50]]
        if quarantined:
            lines += ["", "#### Quarantined", "", "| Test | Why |", "|---|---|"]
            lines += [f"| {md_code(r.nodeid)} | {md_text(getattr(r, 'wasxfail', ''))} |"
                      for r in quarantined[:50]]
        lines += ["", f"Session time: {time.time() - self.started:.0f} s."]
        return "\n".join(lines) + "\n"


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    return getattr(crash, "message", "") or ""
