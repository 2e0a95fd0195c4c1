"""The per-test flakiness state machine: one JSON-able dict per (suite, test), updated per run.

It separates flaky failures from breakage the way TestGrid does: a run of BROKEN_STREAK or more
consecutive failures (until a pass) is a breakage, not flakiness. Shorter failure streaks between
passes, a pass on a rerun within a run, and a pass and a failure on the same commit are flakes.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache

from scipy.stats import beta

BROKEN_STREAK = 3
# A longer streak is needed when chance alone would produce one this often (flaky tests).
STREAK_CHANCE = 0.05
MAX_STREAK = 12
# Clean runs after the last flake before a test counts as fixed.
FIXED_AFTER = 20
# A test whose first flake is among its last NEW_WITHIN runs is newly flaky.
NEW_WITHIN = 10
# Jeffreys prior for the flake probability: small samples are the norm.
PRIOR_A = PRIOR_B = 0.5
CREDIBLE = 0.90


def new_state(ts: str) -> dict:
    return {
        "runs": 0,
        "fails": 0,
        "flaky_fails": 0,
        "broken_fails": 0,
        "reruns": 0,
        "commit_flakes": 0,
        "flakes": 0,
        "flips": 0,
        "prev": None,
        "had_pass": False,
        "streak": 0,
        "streak_start": None,
        "pending": 0,
        "episodes": [],
        "first_seen": ts,
        "last_seen": ts,
        "first_flake": None,
        "first_flake_run": None,
        "last_flake": None,
        "last_flake_run_id": None,
        "clean_since": 0,
    }


def _flake(state: dict, ts: str, n: int, run_id: int) -> None:
    state["flakes"] += n
    state["last_flake"] = ts
    state["last_flake_run_id"] = run_id
    if state["first_flake"] is None:
        state["first_flake"] = ts
        state["first_flake_run"] = state["runs"]
    state["clean_since"] = 0


def update(
    state: dict,
    *,
    run_id: int,
    ts: str,
    bad: bool,
    rerun_flake: bool = False,
    commit_pass_before: bool = False,
    commit_fail_before: bool = False,
) -> None:
    """Apply one final outcome (pass or failure) of the test to ``state``."""
    state["runs"] += 1
    state["last_seen"] = ts
    prev = state["prev"]
    if prev is not None and prev != ("f" if bad else "p"):
        state["flips"] += 1
    if bad:
        state["fails"] += 1
        state["streak"] += 1
        if state["streak"] == 1:
            state["streak_start"] = [run_id, ts]
        state["clean_since"] = 0
        if commit_pass_before:
            # Same code passed before: flaky whatever comes next.
            state["flaky_fails"] += 1
            _flake(state, ts, 1, run_id)
        else:
            state["pending"] += 1
        episodes = state["episodes"]
        open_episode = episodes and episodes[-1][2] is None
        if open_episode:
            state["broken_fails"] += state["pending"]
            episodes[-1][3] += state["pending"]
            state["pending"] = 0
        elif state["streak"] >= broken_streak(state):
            start_run, start_ts = state["streak_start"]
            episodes.append([start_run, start_ts, None, state["pending"], None])
            state["broken_fails"] += state["pending"]
            state["pending"] = 0
        state["prev"] = "f"
        return
    flaked = False
    episodes = state["episodes"]
    if episodes and episodes[-1][2] is None:
        episodes[-1][2] = ts  # fixed: the episode ends at this pass
        episodes[-1][4] = run_id
    elif state["pending"]:
        if state["had_pass"] or commit_fail_before:
            if commit_fail_before:
                state["commit_flakes"] += 1
            state["flaky_fails"] += state["pending"]
            _flake(state, ts, state["pending"], run_id)
            flaked = True
        else:
            # Failing from its first run and then fixed: a new test being finished, unless the
            # test turns out to flake this often anyway (``effective`` decides when read).
            start_run, start_ts = state["streak_start"]
            episodes.append([start_run, start_ts, ts, state["pending"], run_id])
            state["broken_fails"] += state["pending"]
        state["pending"] = 0
    if rerun_flake:
        state["reruns"] += 1
        _flake(state, ts, 1, run_id)
        flaked = True
    if not flaked:
        state["clean_since"] += 1
    state["streak"] = 0
    state["had_pass"] = True
    state["prev"] = "p"


def broken_streak(state: dict) -> int:
    """Return how many failures in a row make a breakage for this test.

    BROKEN_STREAK for a stable test; more for a test that already flakes often, since a test
    failing 40% of the time fails three times in a row every 15 runs by chance alone.
    """
    if not state["had_pass"]:
        return BROKEN_STREAK
    judged = max(0, state["runs"] - state["broken_fails"] - state["streak"])
    return streak_for((state["flaky_fails"] + PRIOR_A) / (judged + PRIOR_A + PRIOR_B), state["runs"])


def streak_for(rate: float, runs: int) -> int:
    """Return the failure streak that chance alone produces anywhere in ``runs`` runs with
    probability below STREAK_CHANCE (about runs * rate**L)."""
    if not 0 < rate < 1:
        return MAX_STREAK
    needed = math.ceil(math.log(STREAK_CHANCE / max(1, runs)) / math.log(rate))
    return min(MAX_STREAK, max(BROKEN_STREAK, needed))


def effective(state: dict) -> dict:
    """Return ``state`` with past breakages judged against the test's whole history.

    A streak that looked like a breakage when it happened (3 failures in a row of a test not
    known to flake yet) is a flake if the test turned out to fail that often anyway. Adds
    ``windows``: the (start, end) timestamps of the breakages that stand.
    """
    closed = [e for e in state["episodes"] if e[2] is not None]
    # Start from "every past streak was chance" and keep as breakages the streaks too long for
    # the resulting flake rate; repeat, since each breakage lowers the rate.
    flaky_eps = list(closed)
    for _ in range(len(closed) + 1):
        extra = sum(e[3] for e in flaky_eps)
        judged = max(1, state["runs"] - state["broken_fails"] + extra)
        rate = (state["flaky_fails"] + extra + PRIOR_A) / (judged + PRIOR_A + PRIOR_B)
        need = streak_for(rate, state["runs"])
        now = [e for e in closed if e[3] < need]
        if len(now) == len(flaky_eps):
            break
        flaky_eps = now
    out = dict(state)
    extra = sum(e[3] for e in flaky_eps)
    out["flaky_fails"] += extra
    out["flakes"] += extra
    out["broken_fails"] -= extra
    if flaky_eps:
        out["last_flake"] = max(filter(None, [out["last_flake"], *(e[2] for e in flaky_eps)]))
        out["first_flake"] = min(filter(None, [out["first_flake"], *(e[1] for e in flaky_eps)]))
        if out["first_flake_run"] is None:
            out["first_flake_run"] = 0
    windows = [(e[1], e[2]) for e in closed if e not in flaky_eps]
    if state["episodes"] and state["episodes"][-1][2] is None and state["streak"] >= need:
        windows.append((state["episodes"][-1][1], None))
    out["windows"] = windows
    out["broken_now"] = (
        bool(state["episodes"]) and state["episodes"][-1][2] is None and state["streak"] >= need
    )
    return out


def posterior(state: dict) -> tuple[float, float, float]:
    """Return the flake probability's posterior mean and credible interval (Beta, Jeffreys prior)."""
    n = max(0, state["runs"] - state["broken_fails"])
    k = min(state["flakes"], n)
    a, b = PRIOR_A + k, PRIOR_B + n - k
    low, high = _interval(a, b)
    return a / (a + b), low, high


@lru_cache(maxsize=16384)
def _interval(a: float, b: float) -> tuple[float, float]:
    # Tests share (runs, flakes) counts, and scipy's per-call overhead dwarfs the maths: one
    # vectorised call per distinct pair.
    tail = (1 - CREDIBLE) / 2
    low, high = beta.ppf([tail, 1 - tail], a, b)
    return float(low), float(high)


def status(state: dict) -> str:
    """Return "new", "flaky" or "fixed" for a test with at least one flake."""
    if state["clean_since"] >= FIXED_AFTER:
        return "fixed"
    if state["first_flake_run"] is not None and state["runs"] - state["first_flake_run"] <= NEW_WITHIN:
        return "new"
    return "flaky"


def parse_ts(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None
