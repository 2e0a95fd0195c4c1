"""Turn "likely" into "proven": re-run each interference suspect with pytest in a checkout.

``suitehealth confirm`` (dashboard/cli_confirm.py) is the shim; this is the library:

* a polluter: the victim alone passes, and the polluter group then the victim fails;
* a state-setter: the victim alone fails, and the setter group then the victim passes;
* a group of several tests is bisected (delta debugging by halves, as iDFlakies does) down to the
  member that flips the victim, or to the smallest half that still does.

Each pytest runs in a subprocess (argv list, no shell) with a timeout, with order shuffling and
the cache switched off and no bytecode written, so the user's checkout is left exactly as it was.
suitehealth's own pytest plugin stays loaded (a project's ``addopts`` may pass ``--suitehealth-*``
options, which pytest refuses when the plugin is off) but the recorder switches off its report,
upload, quarantine and job summary before it configures itself. Outcomes come from that tiny
recorder plugin, written to a temporary directory outside the checkout, keyed by node id.

A cascade (the victim fails after the suspect *failed*) is re-run like a polluter. A concurrent
suspect is re-run next to the victim on two pytest-xdist workers (``-n 2``), a few times, as a
clash depends on timing; without pytest-xdist it is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Plugins that would change the order or write into the checkout.
PYTEST_FLAGS = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q", "--no-header", "-rN"]
CONFIRMABLE = ("polluter", "state-setter", "cascade", "concurrent")
CONCURRENT_MEMBERS = 3  # members of a concurrent group paired with the victim, one at a time
CONCURRENT_TRIES = 2  # two-worker runs per pair (a clash depends on timing)
# Environment that would make suitehealth's plugin upload or summarise a confirm run.
_DROPPED_ENV = ("SUITEHEALTH_URL", "SUITEHEALTH_TOKEN", "SUITEHEALTH_PROJECT", "SUITEHEALTH_SUITE",
                "GITHUB_STEP_SUMMARY")

_RECORDER = '''
import json, os

import pytest

_outcomes = {}
# suitehealth's options, switched off whatever addopts say: a confirm run is not a CI run.
_OFF = {"suitehealth_report": None, "suitehealth_upload": False, "suitehealth_quarantine": None,
        "suitehealth_summary": False}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    for name, value in _OFF.items():
        if hasattr(config.option, name):
            setattr(config.option, name, value)


def pytest_runtest_logreport(report):
    if report.failed:
        _outcomes[report.nodeid] = "failed" if report.when == "call" else "error"
    elif report.when == "call" or (report.when == "setup" and report.skipped):
        _outcomes.setdefault(report.nodeid, report.outcome)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: its reports reach the controller, which writes the file
    with open(os.environ["SUITEHEALTH_CONFIRM_OUT"], "w") as handle:
        json.dump(_outcomes, handle)
'''


@dataclass(frozen=True)
class Target:
    """One suspect to confirm: the victim, what it is suspected of, the group (best first)."""

    victim: str
    kind: str
    polluters: list[str]
    tier: str = "strong"
    suite: str | None = None
    verdict: dict | None = None


@dataclass
class Outcome:
    """What re-running one target showed."""

    target: Target
    verdict: str  # proven | not-reproduced | skipped
    culprits: list[str] = field(default_factory=list)
    detail: str = ""
    runs: int = 0


class PytestTimeout(Exception):
    """One pytest run took longer than the timeout."""


class Runner:
    """Runs ``python -m pytest <ids>`` in ``cwd`` and returns each node id's outcome."""

    def __init__(self, cwd: str | os.PathLike, *, python: str | None = None, timeout: float = 300.0,
                 extra_args: Sequence[str] = ()):
        self.cwd = Path(cwd)
        self.python = python or sys.executable
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.calls = 0
        self.problem: str | None = None  # why the last pytest run did not run the tests, if it did not

    def argv(self, node_ids: Sequence[str], workers: int = 0) -> list[str]:
        """The pytest command line for running ``node_ids`` in this order (on WORKERS xdist workers)."""
        return [self.python, "-m", "pytest", *PYTEST_FLAGS, "-p", "suitehealth_confirm_recorder",
                *(["-n", str(workers)] if workers else []), *self.extra_args, *node_ids]

    def __call__(self, node_ids: Sequence[str], workers: int = 0) -> dict[str, str]:
        self.calls += 1
        with tempfile.TemporaryDirectory(prefix="suitehealth-confirm-") as tmp:
            Path(tmp, "suitehealth_confirm_recorder.py").write_text(_RECORDER)
            out = Path(tmp, "outcomes.json")
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (tmp, env.get("PYTHONPATH")) if p)
            env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the user's checkout
            env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(Path(tmp, "hypothesis"))  # no .hypothesis/ there
            env["SUITEHEALTH_CONFIRM_OUT"] = str(out)
            for name in _DROPPED_ENV:  # never upload or summarise a confirm run
                env.pop(name, None)
            self.problem = None
            try:
                done = subprocess.run(self.argv(node_ids, workers), cwd=self.cwd, env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, timeout=self.timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise PytestTimeout(f"pytest took longer than {self.timeout:g} s") from exc
            if not out.exists() and done.returncode not in (0, 1):
                # Exit 2-4: interrupted, internal error, usage error (an option it does not know).
                lines = [ln.strip() for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
                errors = [ln for ln in lines if "error" in ln.lower()] or lines  # not "rootdir: …"
                self.problem = (f"pytest exited with {done.returncode}"
                                + (f": {errors[-1][:300]}" if errors else ""))
            return json.loads(out.read_text()) if out.exists() else {}


def confirm_target(target: Target, run: Callable[[Sequence[str]], dict[str, str]]) -> Outcome:
    """Re-run one suspect and return the verdict (bisecting a group down to its culprit)."""
    if target.kind not in CONFIRMABLE:
        return Outcome(target, "skipped", detail=f"a {target.kind} suspect cannot be re-run in one process")
    if not target.polluters:
        return Outcome(target, "skipped", detail="no suspected test")
    if target.kind == "concurrent":
        return _confirm_concurrent(target, run)
    victim = target.victim
    # A polluter (or a cascade) makes the victim fail; a state-setter makes it pass.
    flipped = "passed" if target.kind == "state-setter" else "failed"
    alone_expected = "failed" if target.kind == "state-setter" else "passed"
    outcome = Outcome(target, "not-reproduced")
    cause_failed: list[bool] = []  # per run with the group: did a member of it fail?

    def victim_after(tests: Sequence[str]) -> str:
        outcome.runs += 1
        seen = run([*tests, victim])
        if tests:
            cause_failed.append(any(_simple(seen.get(t)) == "failed" for t in tests))
        return _simple(seen.get(victim))

    try:
        alone = victim_after([])
        if alone == "missing":
            problem = getattr(run, "problem", None)
            return Outcome(target, "skipped", runs=outcome.runs,
                           detail=problem or "the victim was not collected in this checkout")
        if alone != alone_expected:
            outcome.detail = f"the victim {alone} on its own (expected: {alone_expected})"
            return outcome
        group = list(target.polluters)
        after = victim_after(group)
        if after != flipped:
            outcome.detail = (f"the victim {after} after {_count(group)} "
                              f"(expected: {flipped})")
            if target.kind == "cascade" and not cause_failed[-1]:
                outcome.detail += "; the suspect did not fail this time (it is flaky itself): try --again"
            return outcome
        cascade_note = ""
        if target.kind == "cascade":
            cascade_note = ("; it failed before the victim" if cause_failed[-1] else
                            "; it passed and the victim still failed: it leaks state whatever its outcome")
        # Delta debugging by halves: keep the half that still flips the victim.
        while len(group) > 1:
            half = (len(group) + 1) // 2
            first, second = group[:half], group[half:]
            if victim_after(first) == flipped:
                group = first
            elif victim_after(second) == flipped:
                group = second
            else:
                break  # it takes tests from both halves together: report the smallest such set
    except PytestTimeout as exc:
        return Outcome(target, "skipped", detail=str(exc), runs=outcome.runs)
    outcome.verdict, outcome.culprits = "proven", group
    outcome.detail = (f"{'fails' if flipped == 'failed' else 'passes'} after {_count(group)}; "
                      f"{alone} alone{cascade_note}")
    return outcome


def _confirm_concurrent(target: Target, run: Callable[..., dict[str, str]]) -> Outcome:
    """Run the victim alone, then next to each of the first members on two xdist workers at once."""
    victim, outcome = target.victim, Outcome(target, "not-reproduced")

    def problem(default: str) -> Outcome:
        return Outcome(target, "skipped", runs=outcome.runs, detail=getattr(run, "problem", None) or default)

    try:
        outcome.runs += 1
        alone = _simple(run([victim]).get(victim))
        if alone == "missing":
            return problem("the victim was not collected in this checkout")
        if alone != "passed":
            outcome.detail = f"the victim {alone} on its own (expected: passed)"
            return outcome
        members = target.polluters[:CONCURRENT_MEMBERS]
        for member in members:
            for _ in range(CONCURRENT_TRIES):
                outcome.runs += 1
                seen = run([member, victim], workers=2)
                if not seen:
                    return problem("pytest-xdist is needed to run two tests at the same time")
                if _simple(seen.get(victim)) == "failed":
                    outcome.verdict, outcome.culprits = "proven", [member]
                    outcome.detail = f"fails next to {member} on another worker; passed alone"
                    return outcome
    except PytestTimeout as exc:
        return Outcome(target, "skipped", detail=str(exc), runs=outcome.runs)
    outcome.detail = (f"passed next to {_count(members)} on two workers, {CONCURRENT_TRIES} tries each "
                      "(a clash depends on timing: weak evidence against it)")
    return outcome


def _simple(outcome: str | None) -> str:
    if outcome is None:
        return "missing"
    return "failed" if outcome in ("failed", "error") else outcome


def _count(group: Sequence[str]) -> str:
    return group[0] if len(group) == 1 else f"{len(group)} tests"


def planned_commands(target: Target, runner: Runner) -> list[list[str]]:
    """The first pytest command lines ``confirm_target`` would run (for --dry-run)."""
    if target.kind not in CONFIRMABLE or not target.polluters:
        return []
    if target.kind == "concurrent":
        return [runner.argv([target.victim]), runner.argv([target.polluters[0], target.victim], workers=2)]
    return [runner.argv([target.victim]), runner.argv([*target.polluters, target.victim])]


def current_commit(cwd: str | os.PathLike) -> str | None:
    """Return the checkout's HEAD commit, or None outside a git work tree (read-only git call)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=30, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# ---- where suspects come from and verdicts go -----------------------------------------------


def targets_from_db(engine, project: str) -> list[Target]:
    """Return the project's stored suspects as targets (the analysis is brought up to date first)."""
    from sqlalchemy.orm import Session

    from dashboard.analysis.interference import find_suspects

    project_id = refreshed_project(engine, project)
    with Session(engine) as session:
        return [Target(s.victim, s.kind, list(s.polluters), s.tier, s.suite, s.verdict)
                for s in find_suspects(session, project_id)]


def targets_from_server(server: str, project: str, token: str | None, *, limit: int = 1000) -> list[Target]:
    """Return the project's suspects from a suitehealth server's JSON API."""
    url = f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/suspects?limit={limit}"
    body = _http_json("GET", url, token)
    return [Target(s["victim"], s["kind"], list(s["polluters"]), s.get("tier") or "strong", s.get("suite"),
                   s.get("verdict")) for s in body.get("suspects", [])]


def verdict_payload(outcome: Outcome, commit: str | None) -> dict:
    t = outcome.target
    return {"victim": t.victim, "kind": t.kind, "tested": _bounded(t.polluters, outcome.culprits),
            "culprits": outcome.culprits,
            "verdict": outcome.verdict, "commit": commit, "detail": outcome.detail}


def _bounded(tested: Sequence[str], culprits: Sequence[str], most: int = 1000) -> list[str]:
    """At most ``most`` tested node ids (a verdict's bound), the culprits always among them."""
    if len(tested) <= most:
        return list(tested)
    keep = set(culprits)
    room = set([t for t in tested if t not in keep][: max(0, most - len(keep))])
    return [t for t in tested if t in keep or t in room]


def record_to_db(engine, project: str, outcome: Outcome, commit: str | None) -> str:
    """Store the verdict in the database; return its text."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dashboard.analysis.confirmations import record_verdict
    from ingest.models import Project

    with Session(engine) as session, session.begin():
        project_id = session.scalar(select(Project.id).where(Project.name == project))
        return record_verdict(session, project_id, **verdict_payload(outcome, commit)).text


def record_to_server(server: str, project: str, token: str, outcome: Outcome, commit: str | None) -> str:
    """POST the verdict to the server's token-guarded API; return its text."""
    url = f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/verdicts"
    return _http_json("POST", url, token, verdict_payload(outcome, commit))["text"]


class ServerError(Exception):
    """The server refused or could not be reached."""


def _http_json(method: str, url: str, token: str | None, payload: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (the user's server)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        raise ServerError(f"{method} {url}: HTTP {exc.code} {message}".strip()) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServerError(f"{method} {url}: {exc}") from exc


def refreshed_project(engine, project: str) -> int:
    """Return ``project``'s id after bringing its analysis up to date (confirm reads fresh suspects)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dashboard.analysis.updates import refresh_project
    from ingest.models import Project

    with Session(engine) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == project))
    if project_id is None:
        raise LookupError(f"no project {project!r} in the database")
    refresh_project(engine, project_id)
    return project_id
