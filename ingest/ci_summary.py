"""The CI job summary and the gate, from a run's verdicts (see ``dashboard.analysis.run_verdicts``).

``suitehealth upload`` asks the server for the verdicts of the run it just stored, then writes the
Markdown summary to $GITHUB_STEP_SUMMARY (printed when that is not set) and, with ``--fail-on``,
fails the job only on what is new. Standard library only.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ingest.ci_markdown import md_block, md_code, md_text, suspect_line
from ingest.quarantine_list import safe_url

GATES = ("new-flaky", "new-failure")
SECTIONS = (("new", "New failures"), ("new-flaky", "New flaky failures (passed on this commit before)"),
            ("known-flaky", "Known flaky"), ("quarantined", "Quarantined"))
SHORT = {"new": "new", "new-flaky": "newly flaky", "known-flaky": "known flaky", "quarantined": "quarantined"}
MAX_ROWS = 50


def verdicts_url(server: str, project: str, run_id: int) -> str:
    return f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/runs/{int(run_id)}/verdicts"


def fetch_verdicts(server: str, token: str, project: str, run_id: int, timeout_s: float = 30.0) -> dict:
    """Return the server's verdicts on ``run_id``; raise OSError/ValueError when they cannot be had."""
    # Imported here: urllib.request (http.client, ssl, email) is ~20 ms CPU of every CLI start-up.
    import urllib.error
    import urllib.request

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "User-Agent": "suitehealth-upload/1"}
    request = urllib.request.Request(verdicts_url(server, project, run_id), data=b"", headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            data = json.loads(resp.read(20 << 20))
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None
    if not isinstance(data, dict) or not isinstance(data.get("failures"), list):
        raise ValueError("the server's answer has no verdicts")
    return data


def gate(verdicts: dict, fail_on: tuple[str, ...] | list[str]) -> list[str]:
    """Return one line per reason to fail the job (empty: pass). Known flakes never fail it."""
    reasons = []
    for gate_name, key, noun in (("new-failure", "new_failures", "new failure"),
                                 ("new-flaky", "new_flaky", "newly flaky test")):
        found = verdicts.get(key) or []
        if gate_name in fail_on and found:
            more = f" and {len(found) - 10} more" if len(found) > 10 else ""
            plural = "s" if len(found) != 1 else ""
            reasons.append(f"{len(found)} {noun}{plural}: {', '.join(found[:10])}{more}")
    return reasons


def summary_markdown(verdicts: dict) -> str:
    """Return the job summary: failures by kind, suspects with commands, suite time against budget."""
    failures = verdicts.get("failures") or []
    title = f"### suitehealth: {md_text(verdicts.get('project'))} / {md_text(verdicts.get('suite'))}"
    url = safe_url(verdicts.get("url"))
    if url and not url.startswith("/"):
        title += f" ([run {int(verdicts.get('run_id') or 0)}]({url}))"
    lines = [title, ""]
    counts = {key: sum(1 for f in failures if f.get("category") == key) for key, _ in SECTIONS}
    if failures:
        parts = [f"{counts[key]} {SHORT[key]}" for key, _ in SECTIONS if counts[key]]
        lines.append(f"**{len(failures)} failed** of {verdicts.get('tests') or 0} tests: {', '.join(parts)}.")
    else:
        lines.append(f"**No failures** in {verdicts.get('tests') or 0} tests.")
    for key, label in SECTIONS:
        rows = [f for f in failures if f.get("category") == key]
        if not rows:
            continue
        lines += ["", f"#### {label}", "", "| Test | Message |", "|---|---|"]
        lines += [f"| {md_code(f.get('nodeid'))} | {md_code(f.get('message'))} |" for f in rows[:MAX_ROWS]]
        if len(rows) > MAX_ROWS:
            lines.append(f"| … and {len(rows) - MAX_ROWS} more | |")
    if verdicts.get("rerun_flakes"):
        lines += ["", "#### Passed only on a rerun (not known flaky)", ""]
        lines += [f"- {md_code(n)}" for n in verdicts["rerun_flakes"][:MAX_ROWS]]
    suspects = verdicts.get("suspects") or []
    if suspects:
        lines += ["", "#### Suspects involving failed tests", ""]
        for s in suspects[:20]:
            lines.append(suspect_line(s.get("victim", ""), s.get("causes") or [], s.get("kind", ""),
                                      float(s.get("confidence") or 0)))
            for command in s.get("commands") or []:
                lines += ["", md_block(command, "sh")]
    lines += ["", budget_line(verdicts)]
    return "\n".join(lines) + "\n"


def budget_line(verdicts: dict) -> str:
    duration, budget = verdicts.get("duration_s"), verdicts.get("budget_s")
    if duration is None:
        return "Suite time: not reported by this run."
    if not budget:
        return f"Suite time: {duration:.0f} s."
    share = duration / budget
    verdict = "**over budget**" if share > 1 else "within budget"
    return f"Suite time: {duration:.0f} s of a {budget:.0f} s budget ({share:.0%}, {verdict})."
