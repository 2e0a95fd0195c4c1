"""The quarantine policy: quarantine tests that flake often enough, release them once they are clean.

Configured in ``[tool.suitehealth.quarantine]``::

    [tool.suitehealth.quarantine]
    auto_quarantine = true   # off by default: nothing is quarantined without a person asking
    min_score = 0.05         # X: estimated flake rate (posterior mean) at least this ...
    min_runs = 10            # N: ... over at least this many runs
    auto_release = true      # release the policy's own entries ...
    release_after = 20       # M: ... after this many clean runs since the last flake

Rules that keep it honest:

* a broken test (failing in a streak right now, or never passed) is not flaky and is never
  quarantined automatically: quarantine would hide a real breakage;
* only entries the policy added are released automatically; a person's entry stays until a person
  removes it;
* after a test is removed (by a person or by the policy), the policy quarantines it again only for
  a flake in a run newer than that removal, so a person's decision is not undone at the next refresh.

``apply_policy`` is called by the analysis refresh (``updates``) inside its write transaction,
right after the per-test flake states are stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis import flakestate
from dashboard.analysis.levels import ConfigError
from ingest.analysis_models import FlakeStats
from ingest.models import Project, Suite, Test
from ingest.quarantine import add_entry, default_evidence, entries, remove_entry
from ingest.quarantine_list import nodeid_problem
from ingest.quarantine_models import QuarantineEvent

POLICY_ACTOR = "policy"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    auto_quarantine: bool = False
    min_score: float = 0.05
    min_runs: int = 10
    auto_release: bool = True
    release_after: int = flakestate.FIXED_AFTER


@dataclass
class PolicyResult:
    """What one application of the policy changed (node ids)."""

    added: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


def policy_from_settings(settings: Mapping | None) -> Policy:
    """Read ``[tool.suitehealth.quarantine]``; a wrong type or range is a ConfigError naming the key."""
    table = (settings or {}).get("quarantine") or {}
    if not isinstance(table, Mapping):
        raise ConfigError("[tool.suitehealth.quarantine] must be a table")
    defaults = Policy()
    values = {}
    checks = {
        "auto_quarantine": (bool, None), "auto_release": (bool, None),
        "min_score": ((int, float), (0.0, 1.0)), "min_runs": (int, (1, 1_000_000)),
        "release_after": (int, (1, 1_000_000)),
    }
    for key, value in table.items():
        if key not in checks:
            raise ConfigError(f"[tool.suitehealth.quarantine] has an unknown key {key!r}; "
                              f"known: {', '.join(checks)}")
        kind, bounds = checks[key]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise ConfigError(f"[tool.suitehealth.quarantine] {key} = {value!r} has the wrong type")
        if bounds and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"[tool.suitehealth.quarantine] {key} = {value!r} is outside "
                              f"{bounds[0]}..{bounds[1]}")
        values[key] = value
    return Policy(**{**defaults.__dict__, **values})


@dataclass
class _Evidence:
    """One (suite, test) state as the policy judges it."""

    suite: str
    score: float
    runs: int
    flakes: int
    clean_runs: int
    broken: bool
    last_flake_run_id: int | None


def apply_policy(session: Session, project_id: int, settings: Mapping | None,
                 now: datetime | None = None) -> PolicyResult:
    """Quarantine and release the project's tests as ``settings`` say; return what changed."""
    policy = policy_from_settings(settings)
    result = PolicyResult()
    if not (policy.auto_quarantine or policy.auto_release):
        return result
    now = now or datetime.now(UTC)
    project = session.get(Project, project_id)
    evidence = _evidence(session, project_id)
    current = {e.nodeid: e for e in entries(session, project_id)}
    if policy.auto_release:
        for nodeid, entry in current.items():
            seen = evidence.get(nodeid)
            if not entry.automatic or not seen:
                continue
            clean = min(e.clean_runs for e in seen)
            if clean >= policy.release_after:
                remove_entry(session, project_id, nodeid, actor=POLICY_ACTOR, now=now,
                             reason=f"{clean} clean runs since the last flake "
                                    f"(policy: {policy.release_after})",
                             details={"clean_runs": clean, "release_after": policy.release_after})
                result.released.append(nodeid)
    if policy.auto_quarantine:
        removed_after = _last_removals(session, project_id)
        for nodeid, seen in sorted(evidence.items()):
            if nodeid in current or nodeid_problem(nodeid):
                continue
            worst = _qualifying(seen, policy, removed_after.get(nodeid))
            if worst is None:
                continue
            add_entry(session, project_id, nodeid, actor=POLICY_ACTOR, suite=worst.suite, automatic=True,
                      now=now, evidence_url=default_evidence(project.name, nodeid),
                      reason=(f"flake score {worst.score:.1%} over {worst.runs} runs in {worst.suite} "
                              f"(policy: >= {policy.min_score:.1%} over >= {policy.min_runs} runs)"),
                      details={"score": round(worst.score, 4), "runs": worst.runs, "flakes": worst.flakes,
                               "suite": worst.suite, "min_score": policy.min_score,
                               "min_runs": policy.min_runs})
            result.added.append(nodeid)
    return result


def _qualifying(seen: list[_Evidence], policy: Policy, removed_after: int | None) -> _Evidence | None:
    """Return the suite state that puts the test in quarantine (the highest score), if any."""
    if any(e.broken for e in seen):
        return None  # broken right now (or never passed): not flaky, and quarantine would hide it
    candidates = [
        e for e in seen
        if e.flakes and e.runs >= policy.min_runs and e.score >= policy.min_score
        and (not policy.auto_release or e.clean_runs < policy.release_after)
        and (removed_after is None or (e.last_flake_run_id or 0) > removed_after)
    ]
    return max(candidates, key=lambda e: (e.score, e.runs), default=None)


def _evidence(session: Session, project_id: int) -> dict[str, list[_Evidence]]:
    """Return the flake states of the project's tests that ever failed or flaked, by node id."""
    rows = session.execute(
        select(Test.nodeid, Suite.name, FlakeStats.runs, FlakeStats.score, FlakeStats.state)
        .join(Test, Test.id == FlakeStats.test_id)
        .join(Suite, Suite.id == FlakeStats.suite_id)
        .where(FlakeStats.project_id == project_id, (FlakeStats.failures > 0) | (FlakeStats.flakes > 0))
    ).all()
    out: dict[str, list[_Evidence]] = defaultdict(list)
    for nodeid, suite, runs, score, state in rows:
        view = flakestate.effective(state)
        out[nodeid].append(_Evidence(
            suite=suite, score=float(score or 0.0), runs=runs, flakes=view["flakes"],
            clean_runs=state.get("clean_since", 0),
            broken=view["broken_now"] or not state.get("had_pass", False),
            last_flake_run_id=state.get("last_flake_run_id"),
        ))
    return out


def _last_removals(session: Session, project_id: int) -> dict[str, int]:
    """Return {nodeid: newest run id when it was last removed}; run ids, not clocks, since history
    may be uploaded long after it ran (backfills)."""
    out: dict[str, int] = {}
    for nodeid, details in session.execute(
        select(QuarantineEvent.nodeid, QuarantineEvent.details)
        .where(QuarantineEvent.project_id == project_id, QuarantineEvent.action == "removed")
        .order_by(QuarantineEvent.id)
    ):
        out[nodeid] = int((details or {}).get("last_run_id") or 0)
    return out


def configured_settings() -> dict:
    """Return ``[tool.suitehealth]`` of the configured file (CONFIG_FILE, else the cwd's)."""
    from dashboard.settings import Settings

    return Settings.from_environment().table


def refresh_hook(session: Session, project_id: int) -> None:
    """Apply the configured policy inside the refresh's transaction, never failing the refresh.

    A broken config file or a bug here must not stop the analyses: the policy runs in a savepoint
    and a failure is logged and rolled back to it.
    """
    try:
        with session.begin_nested():
            changed = apply_policy(session, project_id, configured_settings())
    except Exception:
        log.exception("the quarantine policy of project %s failed; the analysis refresh goes on", project_id)
        return
    if changed.added or changed.released:
        log.info("quarantine policy of project %s: added %s, released %s", project_id,
                 len(changed.added), len(changed.released))
