"""Interference suspects from passive CI history: which test makes another fail.

For each victim (a test with flaky failures) every run where it ran is one observation: did it
fail, where was it in its process, which tests ran before it in the same process, which ran at
the same time on another worker, which failed before it. Shuffled orders (pytest-randomly,
changing xdist schedules) make these sets vary, and that variation is the evidence.

Method (after iDFlakies/iFixFlakies and what they learnt about false suspects):

* candidates whose "ran before" pattern is identical over the victim's runs form ONE equivalence
  group (shuffling moves whole modules), tested and reported together;
* each group is tested with an exact one-sided test of conditional independence stratified by the
  victim's relative position (a late test has more tests before it), then Benjamini–Hochberg
  across all of the victim's hypotheses; nothing is shown below MIN_EVIDENCE observations;
* the consistency rule: a polluter is before the victim whenever it fails and never when it
  passes; passes despite the polluter are checked for a cleaner that ran in between;
* explain away: once the top suspect explains its failures, the remaining failures are analysed
  again without the runs it explains, so a second polluter is found and its co-travellers are not;
* a victim whose "ran before" set never changed gets an "undecidable" note instead of guesses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache

import numpy as np
from scipy.special import gammaln
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import shell
from dashboard.analysis import flakestate
from dashboard.analysis import store as analysis_store
from dashboard.analysis.history import analyse_until
from ingest.models import Suite, Test

MIN_FAILURES = 3  # victim failures before anything is analysed
MIN_EVIDENCE = 3  # failures the suspect must explain
MIN_PASSES = 3
ALPHA = 0.01  # BH-adjusted p-value a suspect needs
MIN_PRECISION = 0.8  # share of runs with the suspect present in which the victim failed
POSITION_STRATA = 4
MAX_EXPLAIN = 3  # suspects per victim after explaining away
MAX_GROUP_IN_COMMAND = 12
KIND_ORDER = {"polluter": 0, "state-setter": 1, "concurrent": 2, "cascade": 3}


@dataclass
class Suspect:
    """One suspected cause of a victim's failures."""

    victim: str
    polluters: list[str]
    kind: str
    confidence: float
    evidence: dict
    reproduce: str
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    suite: str | None = None
    rank: int = 1


@dataclass
class Undecidable:
    """A victim whose history cannot name a cause (its order never changed)."""

    victim: str
    suite: str | None
    failures: int
    runs: int
    note: str


@dataclass
class Observation:
    run_id: int
    started_at: datetime
    failed: bool
    stratum: int
    before: list[int]
    concurrent: list[int] = field(default_factory=list)
    failed_before: list[int] = field(default_factory=list)


# ---- observations ---------------------------------------------------------------------------


def observations(
    runs: Iterable[tuple[int, datetime, dict]], victims: set[int]
) -> dict[int, list[Observation]]:
    """Return each victim's observations from compact run sequences (run_id, started_at, sequence)."""
    out: dict[int, list[Observation]] = defaultdict(list)
    for run_id, started_at, sequence in runs:
        procs = sequence.get("procs", [])
        for p_index, proc in enumerate(procs):
            ids = [e[0] for e in proc]
            if victims.isdisjoint(ids):
                continue
            bad_ids: list[int] = []  # the failures so far in this process, in order
            for pos, entry in enumerate(proc):
                tid, bad = entry[0], entry[1]
                if tid in victims and bad is not None:
                    concurrent: list[int] = []
                    if len(entry) > 2 and entry[2] is not None:
                        start, stop = entry[2], entry[3]
                        for q_index, other in enumerate(procs):
                            if q_index != p_index:
                                concurrent.extend(
                                    e[0]
                                    for e in other
                                    if len(e) > 2 and e[2] is not None and e[2] < stop and e[3] > start
                                )
                    stratum = min(POSITION_STRATA - 1, POSITION_STRATA * pos // max(1, len(proc)))
                    observation = Observation(
                        run_id, started_at, bool(bad), stratum, ids[:pos], concurrent, list(bad_ids)
                    )
                    out[tid].append(observation)
                if bad == 1:
                    bad_ids.append(tid)
    return out


# ---- statistics -----------------------------------------------------------------------------


def stratified_p(x: np.ndarray, y: np.ndarray, strata: np.ndarray) -> float:
    """One-sided exact p-value that y (failed) is more common where x holds, within position strata.

    Given the margins of each stratum, the count of (x, y) rows is hypergeometric; the total over
    strata is their convolution (the exact conditional test behind Mantel–Haenszel).
    """
    x, y = np.asarray(x, dtype=bool), np.asarray(y, dtype=bool)
    # Margins of every stratum in one pass (bincount), not one boolean mask per stratum.
    _levels, inverse = np.unique(strata, return_inverse=True)
    inverse = inverse.ravel()
    n_s = np.bincount(inverse)
    m_s = np.bincount(inverse, weights=x).astype(np.int64)
    f_s = np.bincount(inverse, weights=y).astype(np.int64)
    xy_s = np.bincount(inverse, weights=x & y).astype(np.int64)
    informative = (m_s > 0) & (m_s < n_s) & (xy_s > 0)
    if int(f_s[informative].sum()) < MIN_EVIDENCE:
        # Position and candidate coincide (e.g. a two-test module: "second" means "after the
        # other"); stratifying would erase the only evidence there is, so test unstratified.
        n_s, m_s, f_s, xy_s = (np.array([int(a.sum())]) for a in (n_s, m_s, f_s, xy_s))
    dist = np.array([1.0])
    for n, m, f in zip(n_s.tolist(), m_s.tolist(), f_s.tolist(), strict=True):
        dist = np.convolve(dist, _stratum_pmf(n, m, f))
    observed = int(xy_s.sum())
    return float(min(1.0, dist[observed:].sum()))


@lru_cache(maxsize=8192)
def _stratum_pmf(n: int, m: int, f: int) -> np.ndarray:
    # Victims are tested against many candidates over the same strata: the same margins recur.
    lo, hi = max(0, m + f - n), min(m, f)
    pmf = np.zeros(hi + 1)
    pmf[lo : hi + 1] = _hypergeom_pmf(np.arange(lo, hi + 1), n, m, f)
    pmf.setflags(write=False)
    return pmf


def _hypergeom_pmf(k: np.ndarray, n: int, m: int, f: int) -> np.ndarray:
    """P(k of the f failures fall on the m marked rows of n), via log-gamma (scipy's pmf is slow per call)."""
    logc = _log_choose
    return np.exp(logc(m, k) + logc(n - m, f - k) - logc(n, f))


def _log_choose(n, k):
    n, k = np.asarray(n), np.asarray(k)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def bh_adjust(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order."""
    n = len(pvalues)
    if n == 0:
        return []
    order = np.argsort(pvalues)
    ranked = np.asarray(pvalues, dtype=float)[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(ranked, 1.0)
    return out.tolist()


@dataclass
class _Hypothesis:
    kind: str
    members: list[int]
    x: np.ndarray
    p: float = 1.0
    q: float = 1.0


def _groups(matrix: np.ndarray, ids: list[int]) -> list[tuple[list[int], np.ndarray]]:
    """Group candidate columns with identical patterns (equivalence groups); drop constant ones."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for j in range(matrix.shape[1]):
        col = matrix[:, j]
        if col.all() or not col.any():
            continue
        groups[np.packbits(col).tobytes()].append(j)
    return [([ids[j] for j in cols], matrix[:, cols[0]].copy()) for cols in groups.values()]


def _matrix(rows: list[list[int]], index: dict[int, int], n: int) -> np.ndarray:
    m = np.zeros((len(rows), n), dtype=bool)
    for i, members in enumerate(rows):
        cols = [index[t] for t in members if t in index]
        m[i, cols] = True
    return m


def _hypotheses(obs: list[Observation], victim: int, exclude: set[int]) -> list[_Hypothesis]:
    y = np.array([o.failed for o in obs])
    candidates = sorted(
        {t for o in obs for t in o.before} | {t for o in obs for t in o.concurrent} - {victim} - exclude
    )
    index = {t: i for i, t in enumerate(candidates)}
    out: list[_Hypothesis] = []
    before = _matrix([o.before for o in obs], index, len(candidates))
    seen: set[bytes] = set()
    for members, x in _groups(before, candidates):
        seen.add(np.packbits(x).tobytes())
        if (x & y).sum() >= MIN_EVIDENCE and (x & y).sum() * (~x).sum() > (~x & y).sum() * x.sum():
            out.append(_Hypothesis("polluter", members, x))
        elif (~x & y).sum() >= MIN_EVIDENCE and (~x & y).sum() * x.sum() > (x & y).sum() * (~x).sum():
            out.append(_Hypothesis("state-setter", members, ~x))
    if any(o.concurrent for o in obs):
        conc = _matrix([o.concurrent for o in obs], index, len(candidates))
        for members, x in _groups(conc, candidates):
            if (x & y).sum() >= MIN_EVIDENCE:
                out.append(_Hypothesis("concurrent", members, x))
    if any(o.failed_before for o in obs):
        fb = _matrix([o.failed_before for o in obs], index, len(candidates))
        for members, x in _groups(fb, candidates):
            # A failure-before pattern equal to a ran-before pattern is the polluter question again.
            if np.packbits(x).tobytes() not in seen and (x & y).sum() >= MIN_EVIDENCE:
                out.append(_Hypothesis("cascade", members, x))
    return out


def analyse_victim(obs: list[Observation], victim: int) -> tuple[list[dict], str | None]:
    """Return the victim's suspects (as plain dicts with test ids) best first, or a note why none."""
    y_all = np.array([o.failed for o in obs])
    if y_all.sum() < MIN_FAILURES or (~y_all).sum() < MIN_PASSES:
        return [], None
    if len({tuple(sorted(o.before)) for o in obs}) == 1 and not any(o.concurrent for o in obs):
        return [], "fixed-order"
    strata_all = np.array([o.stratum for o in obs])
    found: list[dict] = []
    active = np.ones(len(obs), dtype=bool)
    used: set[int] = set()
    for _ in range(MAX_EXPLAIN):
        sub = [o for o, keep in zip(obs, active, strict=True) if keep]
        if not sub:
            break
        y, strata = y_all[active], strata_all[active]
        if y.sum() < MIN_EVIDENCE:
            break
        hyps = _hypotheses(sub, victim, used)
        if not hyps:
            break
        for h in hyps:
            h.p = stratified_p(h.x, y, strata)
        for h, q in zip(hyps, bh_adjust([h.p for h in hyps]), strict=True):
            h.q = q
        best = min(hyps, key=lambda h: (h.q, KIND_ORDER[h.kind], -int((h.x & y).sum()), h.members[0]))
        a = int((best.x & y).sum())
        b = int((best.x & ~y).sum())
        c = int((~best.x & y).sum())
        d = int((~best.x & ~y).sum())
        cleaners: list[int] = []
        if best.kind == "polluter" and b:
            cleaners = _cleaners(sub, best, y)
        unexplained_passes = 0 if cleaners else b
        precision = a / (a + unexplained_passes) if a + unexplained_passes else 0.0
        if best.q > ALPHA or precision < MIN_PRECISION:
            break
        sub_ids = [o.run_id for o in sub]
        fail_with = [sub_ids[i] for i in np.flatnonzero(best.x & y)][-5:]
        pass_without = [sub_ids[i] for i in np.flatnonzero(~best.x & ~y)][-5:]
        pass_with = [sub_ids[i] for i in np.flatnonzero(best.x & ~y)][-5:]
        fail_when = [sub[i].started_at for i in np.flatnonzero(best.x & y)]
        found.append(
            {
                "kind": best.kind,
                "members": best.members,
                "q": best.q,
                "p": best.p,
                "confidence": round(float((1 - best.q) * precision), 4),
                "counts": {"fail_with": a, "pass_with": b, "fail_without": c, "pass_without": d},
                "consistent": b == 0 and c == 0,
                "cleaners": cleaners,
                "examples": {
                    "failed_with": fail_with,
                    "passed_without": pass_without,
                    "passed_with": pass_with,
                },
                "first_seen_at": min(fail_when) if fail_when else None,
                "last_seen_at": max(fail_when) if fail_when else None,
                "explained_by_earlier": len(found),
            }
        )
        used.update(best.members)
        # Explain away: keep only the runs the suspect does not explain.
        idx = np.flatnonzero(active)
        active[idx[best.x]] = False
    return found, None


def _cleaners(obs: list[Observation], hyp: _Hypothesis, y: np.ndarray) -> list[int]:
    """Return tests that ran between polluter and victim in every pass despite the polluter, and
    never in a failure (iFixFlakies' cleaners)."""
    members = set(hyp.members)

    def between(o: Observation) -> set[int]:
        last = max((i for i, t in enumerate(o.before) if t in members), default=None)
        return set(o.before[last + 1 :]) if last is not None else set()

    passes = [between(o) for o, x, f in zip(obs, hyp.x, y, strict=True) if x and not f]
    fails = [between(o) for o, x, f in zip(obs, hyp.x, y, strict=True) if x and f]
    if not passes:
        return []
    common = set.intersection(*passes)
    for s in fails:
        common -= s
    return sorted(common)


# ---- presentation ---------------------------------------------------------------------------


def reproduce_command(polluters: Sequence[str], victim: str, kind: str) -> str:
    """Return the command (or the words) that should reproduce the interference locally.

    Commands are built by ``dashboard.shell.command`` only: node ids are untrusted text, so each is one
    quoted argument, and comments carry fixed words only (a newline in a name must not end one).
    """
    pytest_ids = all("::" in n or n.endswith(".py") for n in [*polluters, victim])
    group = list(polluters[:MAX_GROUP_IN_COMMAND])
    pytest = ("pytest", "-p", "no:randomly")
    if kind == "state-setter":
        if pytest_ids:
            return (shell.command(pytest, victim) + "  # fails alone\n"
                    + shell.command(pytest, group, victim) + "  # passes after the suspect")
        return f"Run {victim} on its own (it should fail), then after {group[0]} (it should pass)."
    if kind == "concurrent":
        return (
            f"Run {victim} at the same time as {group[0]} (e.g. pytest -n 2 with both selected); "
            "they share something outside the process (a port, a file, a database row)."
        )
    if pytest_ids:
        return shell.command(pytest, group, victim)
    return f"Run {', '.join(group)} and then {victim} in one process, in that order; {victim} should fail."


def _tokens(nodeid: str) -> set[str]:
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if len(t) > 2 and t != "test"}


def to_suspect(victim: str, found: dict, names: dict[int, str], suite: str | None, rank: int) -> Suspect:
    polluters = [names.get(t, str(t)) for t in found["members"]]
    # Members of a group are indistinguishable by order; a shared word with the victim's name
    # ("cache", "env") is the best remaining hint of which one to try first.
    wanted = _tokens(victim)
    polluters.sort(key=lambda n: -len(_tokens(n) & wanted))
    evidence = {
        **found["counts"],
        "p_value": found["p"],
        "q_value": found["q"],
        "consistent": found["consistent"],
        "group_size": len(polluters),
        "cleaners": [names.get(t, str(t)) for t in found["cleaners"]],
        "example_runs": found["examples"],
        "explains_after": found["explained_by_earlier"],
    }
    return Suspect(
        victim=victim,
        polluters=polluters,
        kind=found["kind"],
        confidence=found["confidence"],
        evidence=evidence,
        reproduce=reproduce_command(polluters, victim, found["kind"]),
        first_seen_at=found["first_seen_at"],
        last_seen_at=found["last_seen_at"],
        suite=suite,
        rank=rank,
    )


UNDECIDABLE_NOTE = (
    "The tests ran in the same order in every run, so the history cannot tell which test "
    "interferes. Randomise the order (pip install pytest-randomly) for a few days of CI."
)


# ---- public API -----------------------------------------------------------------------------


def find_suspects(
    session: Session, project_id: int, *, until: datetime | None = None, since: datetime | None = None
) -> list[Suspect]:
    """Return interference suspects, the strongest suspect of each victim first.

    Without ``until`` the stored results (see ``updates.refresh_project``) are read; with it the
    history before ``until`` is analysed from scratch.
    """
    suspects, _ = suspects_and_notes(session, project_id, until=until, since=since)
    return suspects


def suspects_and_notes(
    session: Session, project_id: int, *, until: datetime | None = None, since: datetime | None = None
) -> tuple[list[Suspect], list[Undecidable]]:
    """Return the suspects and the victims the history cannot decide about."""
    if until is None:
        results, counts = analysis_store.stored_results(session, project_id)
        suspects, notes = materialise(session, project_id, results, counts)
    else:
        analyzer = analyse_until(session, project_id, _as_datetime(until))
        suspects, notes = compute_from_analyzer(session, analyzer)
    if since is not None:
        since_dt = _as_datetime(since)
        suspects = [s for s in suspects if s.last_seen_at is None or s.last_seen_at >= since_dt]
    return _order(suspects), notes


def _order(suspects: list[Suspect]) -> list[Suspect]:
    best: dict[tuple, float] = {}
    for s in suspects:
        key = (s.suite, s.victim)
        best[key] = max(best.get(key, 0.0), s.confidence)
    return sorted(suspects, key=lambda s: (-best[(s.suite, s.victim)], s.suite or "", s.victim, s.rank))


def suspects_for_test(session: Session, project_id: int, nodeid: str) -> dict[str, list[Suspect]]:
    """Return the test's suspects in both directions: {"as_victim": [...], "as_cause": [...]}."""
    suspects = find_suspects(session, project_id)
    return {
        "as_victim": [s for s in suspects if s.victim == nodeid],
        "as_cause": [s for s in suspects if nodeid in s.polluters],
    }


def compute_suite(
    sequences: list[tuple[int, datetime, dict]],
    victims: set[int],
    broken_windows: dict[int, list[tuple[str, str | None]]],
) -> dict[int, tuple[list[dict], str | None]]:
    """Analyse every victim of one suite from its run sequences; return victim id -> (found, note)."""
    obs = observations(sequences, victims)
    out: dict[int, tuple[list[dict], str | None]] = {}
    for victim, rows in obs.items():
        windows = broken_windows.get(victim) or []
        if windows:
            rows = [o for o in rows if not _in_windows(o.started_at, windows)]
        out[victim] = analyse_victim(rows, victim)
    return out


def _in_windows(when: datetime, windows: list[tuple[str, str | None]]) -> bool:
    iso = when.isoformat()
    return any(start <= iso and (end is None or iso < end) for start, end in windows)


def victims_and_windows(
    states: dict[tuple[int, int], dict], suite_id: int
) -> tuple[set[int], dict[int, list[tuple[str, str | None]]]]:
    """Return the suite's victims (tests with failures outside breakages) and their breakage windows."""
    victims: set[int] = set()
    windows: dict[int, list[tuple[str, str | None]]] = {}
    for (sid, tid), state in states.items():
        if sid != suite_id:
            continue
        view = flakestate.effective(state)
        if view["fails"] - view["broken_fails"] >= MIN_FAILURES or view["reruns"] >= MIN_FAILURES:
            victims.add(tid)
            if view["windows"]:
                windows[tid] = view["windows"]
    return victims, windows


def compute_from_analyzer(session: Session, analyzer) -> tuple[list[Suspect], list[Undecidable]]:
    """Analyse an in-memory analyzer's history (the until= path)."""
    by_suite: dict[int, list[tuple[int, datetime, dict]]] = defaultdict(list)
    for run, outage, seq in analyzer.processed:
        if not outage:
            by_suite[run.suite_id].append((run.id, run.started_at, seq))
    results: dict[tuple[int, int], tuple[list[dict], str | None]] = {}
    for suite_id, seqs in by_suite.items():
        victims, windows = victims_and_windows(analyzer.states, suite_id)
        for victim, res in compute_suite(seqs[-HISTORY_RUNS:], victims, windows).items():
            results[(suite_id, victim)] = res
    return materialise(session, analyzer.project_id, results, analyzer.states)


HISTORY_RUNS = 500  # most recent runs of a suite the interference analysis looks at


def materialise(
    session: Session,
    project_id: int,
    results: dict[tuple[int, int], tuple[list[dict], str | None]],
    states: dict[tuple[int, int], dict] | None = None,
) -> tuple[list[Suspect], list[Undecidable]]:
    """Turn analysis results keyed by (suite_id, victim id) into Suspects with node ids."""
    ids = {t for _, v in results for t in [v]} | {
        t for found, _ in results.values() for f in found for t in f["members"] + f["cleaners"]
    }
    names = _names(session, ids)
    suites = dict(session.execute(select(Suite.id, Suite.name).where(Suite.project_id == project_id)).all())
    suspects: list[Suspect] = []
    notes: list[Undecidable] = []
    for (suite_id, victim), (found, note) in results.items():
        vname = names.get(victim, str(victim))
        for rank, f in enumerate(found, 1):
            suspects.append(to_suspect(vname, f, names, suites.get(suite_id), rank))
        if note and states is not None:
            st = states.get((suite_id, victim), {})
            notes.append(
                Undecidable(
                    vname, suites.get(suite_id), st.get("fails", 0), st.get("runs", 0), UNDECIDABLE_NOTE
                )
            )
    return suspects, notes


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), 500):
        names.update(
            session.execute(select(Test.id, Test.nodeid).where(Test.id.in_(id_list[i : i + 500]))).all()
        )
    return names


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    raise TypeError(f"not a date: {value!r}")
