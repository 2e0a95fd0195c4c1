"""Flaky tests the history cannot explain, with the stored orders `suitehealth confirm --unexplained` re-runs.

A flaky test without a suspect and without a verdict may still owe its flips to a test that ran
before it in the same process. Each such victim comes with the newest stored run where it passed
and the newest where it failed: the node ids that ran before it on its worker, in their order.
The CLI reads this from the database (after a refresh) or from the server's JSON API
(GET /api/v1/projects/<p>/unexplained); both read it here, and only read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.confirmations import latest_verdicts
from dashboard.analysis.flaky import FlakyTest, flaky_tests
from dashboard.analysis.interference import find_suspects
from ingest.models import Project, Result, Run, Suite, Test

DEFAULT_VICTIMS = 10  # victims per answer by default (confirm's own --limit default)
# Victims per answer at most: each carries two orders of up to a whole run's node ids.
MAX_VICTIMS = 100
_SIMPLE = {"passed": "passed", "failed": "failed", "error": "failed"}


@dataclass(frozen=True)
class StoredOrder:
    """The tests that ran before the victim in one stored run, on its worker, in their order."""

    run_id: int
    outcome: str  # the victim's stored outcome in that run: passed | failed
    before: list[str]

    @classmethod
    def from_json(cls, data: dict | None) -> StoredOrder | None:
        if data is None:
            return None
        before = data["before"]
        if not isinstance(before, list) or not all(isinstance(n, str) for n in before):
            raise ValueError("'before' must be a list of node ids")
        if data["outcome"] not in ("passed", "failed"):
            raise ValueError(f"unknown outcome {data['outcome']!r}")
        return cls(int(data["run_id"]), data["outcome"], before)


@dataclass(frozen=True)
class Victim:
    """A flaky test without a suspect, and the newest stored run of each outcome."""

    nodeid: str
    suite: str | None
    passed_run: StoredOrder | None
    failed_run: StoredOrder | None
    has_suspect: bool = False  # only when asked for by name: the detector does name a cause

    @classmethod
    def from_json(cls, data: dict) -> Victim:
        if not isinstance(data["nodeid"], str):
            raise ValueError("'nodeid' must be a string")
        return cls(data["nodeid"], data.get("suite"), StoredOrder.from_json(data.get("passed_run")),
                   StoredOrder.from_json(data.get("failed_run")), bool(data.get("has_suspect")))


@dataclass(frozen=True)
class UnexplainedVictims:
    """The first ``limit`` victims, most flaky first, and how many more were left off."""

    victims: list[Victim]
    total: int  # victims found, before the limit
    limit: int

    @property
    def left_off(self) -> int:
        return self.total - len(self.victims)

    def as_json(self) -> dict:
        return {**asdict(self), "left_off": self.left_off}

    @classmethod
    def from_json(cls, data: dict) -> UnexplainedVictims:
        victims = [Victim.from_json(v) for v in data["victims"]]
        return cls(victims, int(data.get("total", len(victims))), int(data.get("limit", len(victims))))


class NotFlaky(LookupError):
    """The victim asked for by name is not a flaky test of the project."""


def unexplained_victims(session: Session, project_id: int, *, victim: str | None = None, again: bool = False,
                        limit: int = DEFAULT_VICTIMS) -> UnexplainedVictims:
    """Return the project's flaky tests without a suspect or a verdict, each with its stored orders.

    The stored analysis is read as it is (bring it up to date first to see the newest runs).
    ``victim`` picks one node id, which must be flaky (else ``NotFlaky``), suspect or verdict or not;
    ``again`` keeps those that already have a verdict. Orders are read for the first ``limit`` only.
    """
    chosen, explained = _flaky_without_cause(session, project_id, victim=victim, again=again)
    if victim is not None and not chosen:
        name = session.scalar(select(Project.name).where(Project.id == project_id))
        raise NotFlaky(f"{victim[:300]!r} is not a flaky test of {name!r}")
    victims = [Victim(f.nodeid, f.suite, *stored_orders(session, project_id, f.suite, f.nodeid),
                      has_suspect=f.nodeid in explained) for f in chosen[:limit]]
    return UnexplainedVictims(victims, len(chosen), limit)


def without_suspect(session: Session, project_id: int) -> list[FlakyTest]:
    """Return the tests still flaky (not "fixed") with neither a suspect nor a verdict, most flaky first.

    What the suspects page lists for ``suitehealth confirm --unexplained``: their failures show no
    order signal in the history (a random flake looks the same), re-running can still tell.
    """
    return [f for f in _flaky_without_cause(session, project_id)[0] if f.status != "fixed"]


def _flaky_without_cause(session: Session, project_id: int, *, victim: str | None = None,
                         again: bool = False) -> tuple[list[FlakyTest], set[str]]:
    """Return the flaky tests without a suspect or (unless ``again``) a verdict, or only ``victim``
    whatever it has; and the node ids that have a suspect."""
    flaky = flaky_tests(session, project_id)
    explained = {s.victim for s in find_suspects(session, project_id)}
    judged = set() if again else {v.victim for v in latest_verdicts(session, project_id)}
    chosen, seen = [], set()
    for f in flaky:  # most flaky first; a test flaky in two suites is taken in its flakiest one
        if f.nodeid in seen or (victim is not None and f.nodeid != victim):
            continue
        seen.add(f.nodeid)
        if victim is None and (f.nodeid in explained or f.nodeid in judged):
            continue
        chosen.append(f)
    return chosen, explained


def stored_orders(session: Session, project_id: int, suite: str, nodeid: str
                  ) -> tuple[StoredOrder | None, StoredOrder | None]:
    """Return the newest stored run where the victim passed, and the newest where it failed."""
    rows = session.execute(
        select(Result.run_id, Result.outcome, Result.order_index, Result.worker_id)
        .join(Run, Run.id == Result.run_id).join(Suite, Suite.id == Run.suite_id)
        .join(Test, Test.id == Result.test_id)
        .where(Run.project_id == project_id, Suite.name == suite, Test.nodeid == nodeid, Result.final)
        .order_by(Run.started_at.desc(), Run.id.desc())
    ).all()
    found: dict[str, StoredOrder] = {}
    for run_id, result, order_index, worker in rows:
        simple = _SIMPLE.get(result)
        if simple is None or simple in found:
            continue
        same_worker = Result.worker_id.is_(None) if worker is None else Result.worker_id == worker
        before = session.scalars(
            select(Test.nodeid).join(Result, Result.test_id == Test.id)
            .where(Result.run_id == run_id, Result.order_index < order_index, same_worker)
            .order_by(Result.order_index)
        ).all()
        names = list(dict.fromkeys(n for n in before if n != nodeid))  # a rerun appears once, first time
        found[simple] = StoredOrder(run_id, simple, names)
        if len(found) == 2:
            break
    return found.get("passed"), found.get("failed")
