"""What one run's failures mean, for the CI job that produced it: known flaky, quarantined or new.

Read-only, from what is stored *before* this run was analysed, so the answer does not depend on
whether the analysis worker has got to the run yet:

* quarantined: the test (or a node above it) is on the project's quarantine list;
* known flaky: the test had flaked in this suite before this run started;
* flaky now (a new flake): it failed but passed on the same commit in an earlier run, or it passed
  here only on a rerun, and was not known flaky;
* new: any other failure.

Suspects are the stored interference suspects in which a failed test is the victim or a cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from dashboard.analysis import flakestate
from dashboard.analysis.budget import resolve_budget
from dashboard.analysis.interference import suspects_and_notes
from dashboard.settings import Settings
from ingest.analysis_models import FlakeStats
from ingest.ci_markdown import reproduce_commands
from ingest.models import Result, Run, Test
from ingest.quarantine import entries
from ingest.quarantine_list import covering
from ingest.records import BAD_OUTCOMES, PASSED

QUARANTINED = "quarantined"
KNOWN_FLAKY = "known-flaky"
FLAKY_NOW = "new-flaky"
NEW = "new"


@dataclass(frozen=True)
class Failure:
    nodeid: str
    category: str
    message: str | None


@dataclass(frozen=True)
class SuspectLine:
    victim: str
    causes: list[str]
    kind: str
    confidence: float


@dataclass
class RunVerdicts:
    project: str
    suite: str
    run_id: int
    failures: list[Failure] = field(default_factory=list)
    # Tests that passed only on a rerun here and were not known flaky (no failure left, still news).
    rerun_flakes: list[str] = field(default_factory=list)
    suspects: list[SuspectLine] = field(default_factory=list)
    duration_s: float | None = None
    budget_s: float | None = None
    budget_source: str | None = None
    tests: int = 0

    def of(self, category: str) -> list[Failure]:
        return [f for f in self.failures if f.category == category]

    @property
    def new_flaky(self) -> list[str]:
        return [f.nodeid for f in self.of(FLAKY_NOW)] + self.rerun_flakes

    @property
    def new_failures(self) -> list[str]:
        return [f.nodeid for f in self.of(NEW)]

    def as_dict(self, url: str | None = None) -> dict:
        """Return the JSON the CI summary and the gate read (``ingest.ci_summary``)."""
        return {
            "project": self.project, "suite": self.suite, "run_id": self.run_id, "url": url,
            "tests": self.tests, "duration_s": self.duration_s, "budget_s": self.budget_s,
            "budget_source": self.budget_source,
            "failures": [{"nodeid": f.nodeid, "category": f.category, "message": f.message}
                         for f in self.failures],
            "rerun_flakes": self.rerun_flakes, "new_flaky": self.new_flaky, "new_failures": self.new_failures,
            "suspects": [{"victim": s.victim, "causes": s.causes, "kind": s.kind, "confidence": s.confidence,
                          "commands": reproduce_commands(s.kind, s.causes, s.victim)} for s in self.suspects],
        }


def run_verdicts(session: Session, project_id: int, project: str, run_id: int,
                 settings: Settings | None = None) -> RunVerdicts:
    """Return the verdicts on run ``run_id``'s failures (see the module docstring)."""
    run = session.get(Run, run_id)
    if run is None or run.project_id != project_id:
        raise LookupError(f"run {run_id} is not a run of {project!r}")
    out = RunVerdicts(project, run.suite.name, run.id, duration_s=run.duration_s, tests=run.tests)
    rows = session.execute(
        select(Test.id, Test.nodeid, Result.outcome, Result.final, Result.message)
        .join(Test, Test.id == Result.test_id).where(Result.run_id == run.id)
        .order_by(Result.order_index, Result.attempt)
    ).all()
    finals = {tid: (nodeid, outcome, message) for tid, nodeid, outcome, final, message in rows if final}
    retried = {tid for tid, _, outcome, final, _ in rows if not final and outcome in BAD_OUTCOMES}
    failed = {tid for tid, (_, outcome, _) in finals.items() if outcome in BAD_OUTCOMES}
    rerun_passed = {tid for tid in retried if finals.get(tid, (None, None))[1] == PASSED}
    known = _known_flaky(session, run, failed | rerun_passed)
    listed = {e.nodeid: e for e in entries(session, project_id)}
    same_commit_passed = _passed_on_commit_before(session, run, failed)
    for tid in sorted(failed, key=lambda t: finals[t][0]):
        nodeid, _, message = finals[tid]
        if covering(nodeid, listed) is not None:
            category = QUARANTINED
        elif tid in known:
            category = KNOWN_FLAKY
        elif tid in same_commit_passed:
            category = FLAKY_NOW
        else:
            category = NEW
        out.failures.append(Failure(nodeid, category, (message or "").split("\n", 1)[0][:300] or None))
    out.rerun_flakes = sorted(finals[t][0] for t in rerun_passed
                              if t not in known and covering(finals[t][0], listed) is None)
    failed_ids = {finals[t][0] for t in failed}
    suspects, _ = suspects_and_notes(session, project_id)
    out.suspects = [SuspectLine(s.victim, list(s.polluters), s.kind, s.confidence) for s in suspects
                    if s.suite == out.suite and (s.victim in failed_ids or failed_ids & set(s.polluters))]
    out.budget_s, out.budget_source = resolve_budget(session, project_id, out.suite, settings)
    return out


def _known_flaky(session: Session, run: Run, test_ids: set[int]) -> set[int]:
    """Return the tests that had flaked in the run's suite before the run started."""
    if not test_ids:
        return set()
    before = run.started_at.isoformat()
    known = set()
    for tid, state in session.execute(
        select(FlakeStats.test_id, FlakeStats.state)
        .where(FlakeStats.suite_id == run.suite_id, FlakeStats.test_id.in_(test_ids))
    ):
        view = flakestate.effective(state)
        if view["flakes"] and view["first_flake"] and view["first_flake"] < before:
            known.add(tid)
    return known


def _passed_on_commit_before(session: Session, run: Run, test_ids: set[int]) -> set[int]:
    """Return the tests that passed on this commit in an earlier run of the suite (a flip: flaky)."""
    if not test_ids or not run.commit:
        return set()
    earlier = select(Run.id).where(Run.suite_id == run.suite_id, Run.commit == run.commit, Run.id != run.id,
                                   Run.started_at <= run.started_at)
    return set(session.scalars(
        select(Result.test_id).distinct()
        .where(and_(Result.run_id.in_(earlier), Result.test_id.in_(test_ids), Result.final.is_(True),
                    Result.outcome == PASSED))
    ))


def stored_run_verdicts(engine, project: str, run_id: int) -> dict:
    """Bring the analyses up to date, then return the verdicts on ``run_id`` (for `ingest --fail-on`).

    Refreshing first is safe: a flake this run itself adds counts from this run's start, and
    "known flaky" means flaked before it.
    """
    from dashboard.analysis.updates import refresh_project

    settings = Settings.from_environment()
    with Session(engine) as session:
        run = session.get(Run, run_id)
        project_id = run.project_id
    refresh_project(engine, project_id)
    with Session(engine) as session:
        found = run_verdicts(session, project_id, project, run_id, settings=settings)
    return found.as_dict()
