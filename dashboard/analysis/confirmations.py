"""Verdicts of ``suitehealth confirm``: record them, and attach the latest one to each suspect.

A verdict names the victim, the kind and the group it tested (node ids), so it survives the
suspects table being rebuilt on every refresh. It applies to a suspect of the same victim and
kind whose group shares a test with what was tested (bisection may have narrowed it since).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.analysis_models import ConfirmVerdict

VERDICTS = ("proven", "not-reproduced", "skipped")
MAX_NAMES = 1000  # node ids per verdict (a group bigger than this is not confirmed by hand)
MAX_TEXT = 4000
PROOF_KINDS = ("polluter", "state-setter")  # what a proof without a detector suspect can show as


@dataclass(frozen=True)
class Verdict:
    """One confirmation: what was tested, what reproduced it, where and when."""

    victim: str
    kind: str
    tested: list[str]
    culprits: list[str]
    verdict: str
    commit: str | None
    detail: str | None
    recorded_at: datetime

    @property
    def text(self) -> str:
        """'proven on 2026-12-02 at abc1234', 'narrowed to X (proven …)', 'not reproduced on …'."""
        when = f"on {self.recorded_at:%Y-%m-%d}" + (f" at {self.commit[:12]}" if self.commit else "")
        if self.verdict == "proven":
            if self.culprits and len(self.culprits) < len(self.tested):
                return f"narrowed to {', '.join(self.culprits)} (proven {when})"
            return f"proven {when}"
        if self.verdict == "not-reproduced":
            return f"not reproduced {when}"
        return f"not confirmable by re-running ({self.detail or 'skipped'}) {when}"

    def as_dict(self) -> dict:
        return {"victim": self.victim, "kind": self.kind, "tested": self.tested, "culprits": self.culprits,
                "verdict": self.verdict, "commit": self.commit, "detail": self.detail,
                "recorded_at": self.recorded_at.isoformat(), "text": self.text}


def record_verdict(session: Session, project_id: int, *, victim: str, kind: str, tested: Iterable[str],
                   culprits: Iterable[str], verdict: str, commit: str | None = None,
                   detail: str | None = None, recorded_at: datetime | None = None) -> Verdict:
    """Store one verdict (bounded at the boundary) and return it; raise ValueError on bad input."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    tested, culprits = _names(tested, "tested"), _names(culprits, "culprits")
    if not victim or not isinstance(victim, str) or len(victim) > MAX_TEXT:
        raise ValueError("victim must be a node id")
    if not isinstance(kind, str) or not 0 < len(kind) <= 20:
        raise ValueError("kind must be a suspect kind")
    row = ConfirmVerdict(project_id=project_id, victim=victim, kind=kind, tested=tested, culprits=culprits,
                         verdict=verdict, commit=(commit or None) and str(commit)[:100],
                         detail=(detail or None) and str(detail)[:MAX_TEXT],
                         recorded_at=recorded_at or datetime.now(UTC))
    session.add(row)
    session.flush()
    return _verdict(row)


def _names(values: Iterable[str], what: str) -> list[str]:
    out = list(values or [])
    if len(out) > MAX_NAMES or not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in out):
        raise ValueError(f"{what} must be a list of at most {MAX_NAMES} node ids")
    return out


def _verdict(row: ConfirmVerdict) -> Verdict:
    return Verdict(row.victim, row.kind, list(row.tested or []), list(row.culprits or []), row.verdict,
                   row.commit, row.detail, row.recorded_at)


def latest_verdicts(session: Session, project_id: int) -> list[Verdict]:
    """Return the project's verdicts, newest first."""
    rows = session.scalars(
        select(ConfirmVerdict).where(ConfirmVerdict.project_id == project_id)
        .order_by(ConfirmVerdict.recorded_at.desc(), ConfirmVerdict.id.desc())
    ).all()
    return [_verdict(r) for r in rows]


def attach_verdicts(suspects: list, verdicts: list[Verdict]) -> list:
    """Set ``verdict`` (and tier "proven") on each suspect from its newest matching verdict."""
    by_victim: dict[str, list[Verdict]] = {}
    proven_culprits: set[str] = set()
    for v in verdicts:
        by_victim.setdefault(v.victim, []).append(v)
        if v.verdict == "proven" and v.kind == "polluter":
            proven_culprits.update(v.culprits)
    for s in suspects:
        # A test proven to break some victim goes first in every group it belongs to.
        s.polluters.sort(key=lambda p: p not in proven_culprits)
        group = set(s.polluters)
        for v in by_victim.get(s.victim, []):
            if v.kind == s.kind and group & set(v.culprits or v.tested):
                s.verdict = v.as_dict()
                if v.verdict == "proven":
                    s.tier = "proven"
                break
    return suspects


def unmatched_proofs(suspects: list, verdicts: list[Verdict]) -> list[Verdict]:
    """Return the newest proven verdict of each (victim, kind) that no suspect carries.

    ``suitehealth confirm --unexplained`` proves causes of flaky tests the history could not name:
    such a verdict is shown as a suspect of its own, with the re-runs as its evidence.
    """
    carried = {(s.victim, s.kind) for s in suspects if s.verdict and s.verdict.get("verdict") == "proven"}
    has_suspect = {(s.victim, s.kind) for s in suspects}
    out, seen = [], set()
    for v in verdicts:  # newest first
        key = (v.victim, v.kind)
        if key in seen:
            continue
        seen.add(key)
        if (v.verdict == "proven" and v.kind in PROOF_KINDS and v.culprits and key not in carried
                and key not in has_suspect):
            out.append(v)
    return out


def flaky_suites(session: Session, project_id: int, nodeids: Iterable[str]
                 ) -> dict[str, tuple[str, datetime | None]]:
    """Return {node id: (suite, last flake)} for those of ``nodeids`` still flaky (not yet "fixed").

    A proof is shown as a suspect while its victim is still flaky: once it has run clean long enough
    to count as fixed, the cause was fixed with it.
    """
    from dashboard.analysis import flakestate
    from ingest.analysis_models import FlakeStats
    from ingest.models import Suite, Test

    names = sorted(set(nodeids))
    if not names:
        return {}
    rows = session.execute(
        select(Test.nodeid, Suite.name, FlakeStats.state)
        .join(FlakeStats, FlakeStats.test_id == Test.id).join(Suite, Suite.id == FlakeStats.suite_id)
        .where(Test.project_id == project_id, FlakeStats.project_id == project_id,
               Test.nodeid.in_(names[:MAX_NAMES]), FlakeStats.flakes > 0)
    ).all()
    out: dict[str, tuple[str, datetime | None]] = {}
    for nodeid, suite, state in rows:
        view = flakestate.effective(state)
        if view["flakes"] and flakestate.status(view) != "fixed":
            out.setdefault(nodeid, (suite, flakestate.parse_ts(view["last_flake"])))
    return out
