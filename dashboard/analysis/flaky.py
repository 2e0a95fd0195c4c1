"""Flaky and broken tests, from the stored per-test state machines (see ``flakestate``).

Flaky: passed and failed on the same commit, passed on a rerun within a run, or short failure
streaks between passes. Broken: >= 3 failures in a row until fixed (or still failing). Outage runs
(a large share of a run's tests failing at once) are left out entirely.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis import flakestate
from dashboard.analysis.history import analyse_until, live_answers
from dashboard.analysis.window import ALL_TIME, Window
from dashboard.settings import Settings
from ingest.analysis_models import FailureSignature, FlakeStats
from ingest.models import Suite, Test

SIGNATURES_PER_TEST = 5


@dataclass
class SignatureGroup:
    signature: str
    count: int
    example: str | None
    last_seen_at: datetime | None


@dataclass
class FlakyTest:
    """A flaky test of one suite, with its evidence and a Bayesian flake-rate estimate."""

    nodeid: str
    suite: str
    score: float
    runs: int
    failures: int
    flakes: int
    status: str
    first_seen: datetime | None
    last_flake: datetime | None
    failure_rate: float
    flip_rate: float
    ci_low: float
    ci_high: float
    rerun_flakes: int
    same_commit_flakes: int
    broken_failures: int
    clean_runs_since_flake: int
    signatures: list[SignatureGroup] = field(default_factory=list)


@dataclass
class BrokenTest:
    """A test failing deterministically: a streak of >= 3 failures that has not ended."""

    nodeid: str
    suite: str
    since_run_id: int
    since_at: datetime | None
    consecutive_failures: int
    message: str | None
    always_failed: bool
    # The test's newest result in the history judged (``?since=`` keeps breakages seen since then).
    last_seen: datetime | None = None


def flaky_tests(
    session: Session,
    project_id: int,
    window: Window = ALL_TIME,
    settings: Settings | None = None,
    *,
    suite: str | None = None,
) -> list[FlakyTest]:
    """Return flaky tests most flaky first (new and flaky before fixed).

    The history before ``window.until`` is judged (the stored analysis when the window is open-ended);
    with ``window.since``, only tests that flaked since then are kept.
    """
    return _flaky(*_states(session, project_id, window.until, suite), window.since)


def flaky_and_broken(
    session: Session,
    project_id: int,
    window: Window = ALL_TIME,
    settings: Settings | None = None,
    *,
    suite: str | None = None,
) -> tuple[list[FlakyTest], list[BrokenTest]]:
    """Return ``flaky_tests`` and ``broken_tests`` from one read of the stored states (the /flaky page)."""
    states, sigs = _states(session, project_id, window.until, suite)
    since_dt = window.since
    return _flaky(states, sigs, since_dt), _broken(states, sigs, since_dt)


def seen_since(tests: list[FlakyTest], broken: list[BrokenTest], since: datetime | None
               ) -> tuple[list[FlakyTest], list[BrokenTest]]:
    """Keep what ``_flaky`` and ``_broken`` keep for ``since`` (already-built lists, e.g. stored ones)."""
    if since is None:
        return tests, broken
    return ([t for t in tests if t.last_flake is not None and t.last_flake >= since],
            [b for b in broken if b.last_seen is not None and b.last_seen >= since])


def _flaky(states: dict, sigs: dict, since_dt: datetime | None) -> list[FlakyTest]:
    out = []
    for (suite_name, nodeid, key), raw in states.items():
        state = flakestate.effective(raw)
        if not state["flakes"]:
            continue
        last_flake = flakestate.parse_ts(state["last_flake"])
        if since_dt is not None and (last_flake is None or last_flake < since_dt):
            continue
        mean, low, high = flakestate.posterior(state)
        judged = max(1, state["runs"] - state["broken_fails"])
        out.append(
            FlakyTest(
                nodeid=nodeid,
                suite=suite_name,
                score=round(mean, 4),
                runs=state["runs"],
                failures=state["fails"],
                flakes=state["flakes"],
                status=flakestate.status(state),
                first_seen=flakestate.parse_ts(state["first_seen"]),
                last_flake=last_flake,
                failure_rate=round((state["fails"] - state["broken_fails"]) / judged, 4),
                flip_rate=round(state["flips"] / max(1, state["runs"] - 1), 4),
                ci_low=round(low, 4),
                ci_high=round(high, 4),
                rerun_flakes=state["reruns"],
                same_commit_flakes=state["commit_flakes"],
                broken_failures=state["broken_fails"],
                clean_runs_since_flake=state["clean_since"],
                signatures=sigs.get(key, []),
            )
        )
    out.sort(key=lambda t: (t.status == "fixed", -t.score, -t.ci_low, t.nodeid))
    return out


def broken_tests(
    session: Session,
    project_id: int,
    window: Window = ALL_TIME,
    settings: Settings | None = None,
    *,
    suite: str | None = None,
) -> list[BrokenTest]:
    """Return tests failing at ``window.until`` (now) in a run of >= 3 consecutive failures, longest first."""
    return _broken(*_states(session, project_id, window.until, suite), window.since)


def _broken(states: dict, sigs: dict, since_dt: datetime | None) -> list[BrokenTest]:
    out = []
    for (suite_name, nodeid, key), raw in states.items():
        state = flakestate.effective(raw)
        if not state["broken_now"]:
            continue
        if since_dt is not None and flakestate.parse_ts(state["last_seen"]) < since_dt:
            continue
        episode = state["episodes"][-1]
        groups = sigs.get(key, [])
        latest = max(groups, key=lambda g: g.last_seen_at.isoformat() if g.last_seen_at else "", default=None)
        out.append(
            BrokenTest(
                nodeid=nodeid,
                suite=suite_name,
                since_run_id=episode[0],
                since_at=flakestate.parse_ts(episode[1]),
                consecutive_failures=state["streak"],
                message=latest.example if latest else None,
                always_failed=not state["had_pass"],
                last_seen=flakestate.parse_ts(state["last_seen"]),
            )
        )
    out.sort(key=lambda t: (-t.consecutive_failures, t.nodeid))
    return out


def _states(session: Session, project_id: int, until, suite: str | None):
    """Return {(suite name, nodeid, (suite_id, test_id)): state} and signature groups per key."""
    if live_answers(_as_dt(until)):
        # Core rows, not ORM ones: on a big project this is thousands of states per page.
        rows = session.connection().execute(
            select(FlakeStats.suite_id, FlakeStats.test_id, FlakeStats.state).where(
                FlakeStats.project_id == project_id, (FlakeStats.flakes > 0) | FlakeStats.broken
            )
        ).all()
        raw = {(sid, tid): state for sid, tid, state in rows}
        sig_rows = (
            session.connection().execute(
                select(
                    FailureSignature.suite_id,
                    FailureSignature.test_id,
                    FailureSignature.signature,
                    FailureSignature.count,
                    FailureSignature.example,
                    FailureSignature.last_seen_at,
                ).where(FailureSignature.test_id.in_({tid for _, tid in raw} or {-1}))
            ).all()
            if raw
            else []
        )
        return _named_states(session, project_id, raw, sig_rows, suite)
    return analyzer_states(session, analyse_until(session, project_id, _as_dt(until)), suite)


def analyzer_states(session: Session, analyzer, suite: str | None = None):
    """``_states`` of a replayed history (the as-of path), for an analyzer already at hand."""
    raw = {
        k: s
        for k, s in analyzer.states.items()
        if (view := flakestate.effective(s))["flakes"] or view["broken_now"]
    }
    sig_rows = [
        (sid, tid, s.signature, s.count, s.example, s.last_seen_at)
        for (sid, tid, _), s in analyzer.signatures.items()
        if (sid, tid) in raw
    ]
    return _named_states(session, analyzer.project_id, raw, sig_rows, suite)


def _named_states(session: Session, project_id: int, raw: dict, sig_rows, suite: str | None):
    """Key ``raw`` states by suite name and node id, and group their failure signatures."""
    suites = dict(session.execute(select(Suite.id, Suite.name).where(Suite.project_id == project_id)).all())
    if suite is not None:
        raw = {k: s for k, s in raw.items() if suites.get(k[0]) == suite}
    names = {}
    ids = sorted({tid for _, tid in raw})
    for i in range(0, len(ids), 500):
        names.update(session.execute(select(Test.id, Test.nodeid).where(Test.id.in_(ids[i : i + 500]))).all())
    sigs: dict[tuple[int, int], list[SignatureGroup]] = defaultdict(list)
    for sid, tid, signature, count, example, last_seen in sig_rows:
        if (sid, tid) in raw:
            sigs[(sid, tid)].append(SignatureGroup(signature, count, example, last_seen))
    for key in sigs:
        sigs[key] = sorted(sigs[key], key=lambda g: -g.count)[:SIGNATURES_PER_TEST]
    states = {(suites.get(k[0], "?"), names.get(k[1], str(k[1])), k): s for k, s in raw.items()}
    return states, sigs


def _as_dt(value: datetime | date | None) -> datetime | None:
    """Return a date or naive datetime as an aware UTC datetime (a date means its midnight)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)
