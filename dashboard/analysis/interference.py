"""Interference suspects from passive CI history: which test makes another fail.

For each victim (a test with flaky failures) every run where it ran is one observation: did it
fail, where was it in its process, which tests ran before it in the same process, which ran at
the same time on another worker, which failed before it. Shuffled orders (pytest-randomly,
changing xdist schedules) make these sets vary, and that variation is the evidence.

Method (after iDFlakies/iFixFlakies and what they learnt about false suspects):

* candidates whose "ran before" pattern is identical over the victim's runs form ONE equivalence
  group (shuffling moves whole modules), tested and reported together;
* causes are found by greedy set cover with explain-away (a disjunctive model: any one cause is
  enough); each next cause is chosen and judged only on the runs the earlier ones leave
  unexplained, and carries its own 2x2 table;
* each cause gets the unstratified one-sided exact test, Bonferroni-corrected within its family,
  and the whole search a permutation test (the same search on shuffled outcomes), which keeps the
  power of 30 runs and still leaves a random or seed-dependent flake without suspects;
* position is a confounder check, not a stratification that erases a consistent pattern: when
  "fails iff it ran late" fits as well as the causes do, no cause is named;
* tiers: *strong* (significant), *likely* (the best explanation of a victim whose failures do
  depend on order, with an estimate of how many more shuffled runs would settle it); *proven*
  comes from ``suitehealth confirm`` re-running the pair;
* shared evidence: a test that strongly breaks one victim forms a small family of its own when
  another victim is analysed, and goes first inside the groups it belongs to;
* the consistency rule: a polluter is before the victim whenever it fails and never when it
  passes; passes despite the polluter are checked for a cleaner that ran in between;
* cleaners among module-mates: when "ran before" names nothing, a polluter may count only when
  it was its module's last test before the victim (pytest-randomly runs a module as one block,
  and the module's other tests may undo the leak), alone or joined with the other tests of its
  template (an inherited method, a parametrized test); each such cause must survive Bonferroni;
* failure signatures: inside a group, a test shown to break a victim that fails with the same
  message goes first;
* last writer wins (``last_writer``): a victim all of the above leave without a cause may depend
  on which module last wrote a shared value before it; when that fit beats every shuffled outcome
  vector and position explains less, the modules that decided its rarer outcome are one *likely*
  group;
* a victim whose "ran before" set never changed gets an "undecidable" note instead of guesses.
"""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache

import numpy as np
from scipy.special import gammaln
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import shell
from dashboard.analysis import flakestate, last_writer
from dashboard.analysis import store as analysis_store
from dashboard.analysis.confirmations import attach_verdicts, flaky_suites, latest_verdicts, unmatched_proofs
from dashboard.analysis.history import TimedProc, analyse_until, live_answers
from dashboard.analysis.window import ALL_TIME, Window
from dashboard.settings import Settings
from ingest.models import Suite, Test

MIN_FAILURES = 3  # victim failures before anything is analysed
MIN_EVIDENCE = 3  # failures the first cause must explain
MIN_NEXT_EVIDENCE = 2  # failures each further cause must explain (among those still unexplained)
MIN_PASSES = 3
ALPHA = 0.01  # family-corrected p-value (or permutation p) a "strong" cause needs
SIGNAL_P = 0.005  # permutation p under which the victim's failures depend on order at all
NEXT_CAUSE_P = 0.05  # exact p a further cause needs on the runs the earlier ones leave unexplained
PERMUTATIONS = 199  # shuffled outcome vectors of the permutation null (smallest p: 0.005)
MIN_PRECISION = 0.8  # share of runs with the suspect present in which the victim failed
POSITION_STRATA = 4
MAX_CAUSES = 8  # causes per victim (any one of them is enough to make it fail)
MAX_GROUP_IN_COMMAND = 12
BISECT_FROM = 4  # groups this large get a bisection plan
CLEANER_CANDIDATES = 3  # polluters per step checked for a cleaner that excuses their passes
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
    tier: str = "strong"  # strong | likely; "proven" once `suitehealth confirm` reproduced it
    verdict: dict | None = None  # the latest `suitehealth confirm` verdict, if any


@dataclass
class Undecidable:
    """A victim whose history cannot name a cause (its order never changed)."""

    victim: str
    suite: str | None
    failures: int
    runs: int
    note: str


@dataclass(slots=True)
class Observation:
    run_id: int
    started_at: datetime
    failed: bool
    stratum: int
    # The tests that ran before it in its process, in order: a view of the process's order shared
    # by the observations of every victim in it (a copy each is hundreds of MB at millions of results).
    before: Sequence[int]
    concurrent: list[int] = field(default_factory=list)
    failed_before: list[int] = field(default_factory=list)
    position: float = 0.0  # share of the process's tests that ran before it
    # The last test of every other module that ran before it (needs node ids): a module's later
    # tests often undo what an earlier one leaked (a setUp that chdirs back), so "ran before" is
    # diluted and "was the last of its module before" is what the victim sees.
    last_of_module: list[int] = field(default_factory=list)


# ---- observations ---------------------------------------------------------------------------


def observations(
    runs: Iterable[tuple[int, datetime, dict]], victims: set[int], modules: Mapping[int, str] | None = None
) -> dict[int, list[Observation]]:
    """Return each victim's observations from compact run sequences (run_id, started_at, sequence).

    ``modules`` maps test ids to their module (``module_of``); without it no ``last_of_module``.
    """
    out: dict[int, list[Observation]] = defaultdict(list)
    for run_id, started_at, sequence in runs:
        columns = [_columns(proc) for proc in sequence.get("procs", [])]
        timed = [(q_index, np.asarray(ids, dtype=np.int64), q_starts, q_stops)
                 for q_index, (ids, _, q_starts, q_stops) in enumerate(columns) if q_starts is not None]
        for p_index, (ids, bads, starts, stops) in enumerate(columns):
            if victims.isdisjoint(ids):
                continue
            order = memoryview(ids if isinstance(ids, array) else array("q", ids))
            size = max(1, len(ids))
            bad_ids: list[int] = []  # the failures so far in this process, in order
            last: dict[str, int] = {}  # module -> its latest test so far in this process
            for pos, (tid, bad) in enumerate(zip(ids, bads, strict=True)):
                if tid in victims and bad is not None:
                    concurrent: list[int] = []
                    if starts is not None and not np.isnan(starts[pos]):
                        start, stop = starts[pos], stops[pos]
                        for q_index, other, q_starts, q_stops in timed:
                            if q_index != p_index:
                                # NaN (no time) compares false: the entries without times are skipped.
                                ran = (q_starts < stop) & (q_stops > start)
                                concurrent.extend(other[ran].tolist())
                    stratum = min(POSITION_STRATA - 1, POSITION_STRATA * pos // size)
                    observation = Observation(
                        run_id, started_at, bool(bad), stratum, order[:pos], concurrent, list(bad_ids),
                        pos / size,
                    )
                    if modules:
                        mine = modules.get(tid)
                        observation.last_of_module = [t for m, t in last.items() if m != mine]
                    out[tid].append(observation)
                if bad == 1:
                    bad_ids.append(tid)
                if modules:
                    module = modules.get(tid)
                    if module is not None:
                        last[module] = tid
    return out


def _columns(proc) -> tuple[Sequence[int], list, np.ndarray | None, np.ndarray | None]:
    """Return a process's test ids, bad flags (1, 0, None) and start and stop times (NaN where an
    entry has none; None when none has) from its compact form (``history.build_sequence``) or its
    stored one."""
    if isinstance(proc, TimedProc):
        return proc.ids, proc.bads(), np.frombuffer(proc.starts), np.frombuffer(proc.stops)
    ids = [e[0] for e in proc]
    bads = [e[1] for e in proc]
    if not any(len(e) > 2 and e[2] is not None for e in proc):
        return ids, bads, None, None
    timed = [len(e) > 2 and e[2] is not None for e in proc]
    starts = np.array([e[2] if t else np.nan for e, t in zip(proc, timed, strict=True)], dtype=float)
    stops = np.array([e[3] if t else np.nan for e, t in zip(proc, timed, strict=True)], dtype=float)
    return ids, bads, starts, stops


# ---- statistics -----------------------------------------------------------------------------


def stratified_p(x: np.ndarray, y: np.ndarray, strata: np.ndarray) -> float:
    """One-sided exact p-value that y (failed) is more common where x holds, within position strata.

    Given the margins of each stratum, the count of (x, y) rows is hypergeometric; the total over
    strata is their convolution (the exact conditional test behind Mantel–Haenszel). Reported as
    evidence only: with 30 runs, 4 strata take away most of the power (see ``position_errors`` for
    how position is checked instead).
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


def exact_p(a: int, n: int, m: int, f: int) -> float:
    """One-sided Fisher exact p: at least ``a`` of ``f`` failures among the ``m`` of ``n`` runs with x."""
    return float(min(1.0, _stratum_pmf(n, m, f)[a:].sum()))


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
    return np.exp(_log_pmf(k, n, m, f))


def _log_pmf(k, n, m, f):
    logc = _log_choose
    return logc(m, k) + logc(n - m, f - k) - logc(n, f)


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


def position_errors(position: np.ndarray, y: np.ndarray) -> int:
    """Return the fewest runs misclassified by position alone ("fails iff it ran after x%", or before).

    A test that fails because *something* ran before it (a slow leak, a full temp dir) fails
    when it runs late, whatever ran first; every test of a big module then looks like a cause.
    """
    order = np.argsort(position, kind="stable")
    ys, ps = y[order], position[order]
    cf = np.concatenate([[0], np.cumsum(ys)])  # failures among the first i
    cp = np.concatenate([[0], np.cumsum(~ys)])  # passes among the first i
    cut = np.concatenate([[True], ps[1:] != ps[:-1], [True]])  # thresholds between distinct positions
    late = cf + (cp[-1] - cp)  # predict "fails" from i on
    early = cp + (cf[-1] - cf)  # predict "fails" before i
    return int(min(late[cut].min(), early[cut].min()))


@dataclass
class _Hypothesis:
    kind: str
    members: list[int]
    x: np.ndarray
    p: float = 1.0
    q: float = 1.0
    model: str = "before"  # "before": ran before the victim; "last-of-module": no module-mate after it
    template: str | None = None  # the template (``template_of``) whose tests this hypothesis joins


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


def _hypotheses(
    obs: list[Observation], victim: int, templates: Mapping[int, str] | None = None
) -> list[_Hypothesis]:
    """Every candidate cause, in both directions, whatever the victim's outcomes were.

    The set must not depend on the outcomes: the permutation null re-runs the same search on
    shuffled outcomes over the same hypotheses.
    """
    candidates = sorted(
        ({t for o in obs for t in o.before} | {t for o in obs for t in o.concurrent}) - {victim}
    )
    index = {t: i for i, t in enumerate(candidates)}
    out: list[_Hypothesis] = []
    before = _matrix([o.before for o in obs], index, len(candidates))
    seen: set[bytes] = set()
    for members, x in _groups(before, candidates):
        seen.add(np.packbits(x).tobytes())
        out.append(_Hypothesis("polluter", members, x))
        out.append(_Hypothesis("state-setter", members, ~x))  # fails when the setter did not run first
    if any(o.last_of_module for o in obs):
        out.extend(_last_of_module_hypotheses(obs, candidates, index, templates or {}, seen))
    if any(o.concurrent for o in obs):
        conc = _matrix([o.concurrent for o in obs], index, len(candidates))
        for members, x in _groups(conc, candidates):
            out.append(_Hypothesis("concurrent", members, x))
    if any(o.failed_before for o in obs):
        fb = _matrix([o.failed_before for o in obs], index, len(candidates))
        for members, x in _groups(fb, candidates):
            # A failure-before pattern equal to a ran-before pattern is the polluter question again.
            if np.packbits(x).tobytes() not in seen:
                out.append(_Hypothesis("cascade", members, x))
    return out


def _last_of_module_hypotheses(
    obs: list[Observation], candidates: list[int], index: dict[int, int], templates: Mapping[int, str],
    seen: set[bytes],
) -> list[_Hypothesis]:
    """Polluters that count only when no test of their own module ran after them (before the victim).

    pytest-randomly runs a module as one block in shuffled order, and the module's other tests
    often undo the leak (a setUp that chdirs back, a fixture that resets a registry): the victim
    fails only when the polluter was its module's last test before it. Tests of one template (an
    inherited test method in several classes, the cases of one parametrized test) run the same
    code: their union is one more hypothesis, as several polluters each explain only a few runs.
    Patterns equal to a ran-before pattern add nothing and are left out.
    """
    last = _matrix([o.last_of_module for o in obs], index, len(candidates))
    out: list[_Hypothesis] = []
    mine: set[bytes] = set()
    for members, x in _groups(last, candidates):
        key = np.packbits(x).tobytes()
        if key not in seen:
            mine.add(key)
            out.append(_Hypothesis("polluter", members, x, model="last-of-module"))
    by_template: dict[str, list[int]] = defaultdict(list)
    for t in candidates:
        if t in templates:
            by_template[templates[t]].append(index[t])
    for template, cols in sorted(by_template.items()):
        if len(cols) < 2:
            continue
        x = last[:, cols].any(axis=1)
        key = np.packbits(x).tobytes()
        if x.all() or not x.any() or key in seen or key in mine:
            continue
        mine.add(key)
        out.append(_Hypothesis("polluter", [candidates[j] for j in cols], x, model="last-of-module",
                               template=template))
    return out


def _pack(columns: np.ndarray) -> np.ndarray:
    """Pack boolean columns (runs x k) into k rows of 64-bit words (zero padding at the end).

    Counting runs with bitwise AND and popcount instead of a float matrix product: no BLAS
    threads, which on a busy 2-CPU machine made each product hundreds of times slower.
    """
    rows = np.packbits(np.asarray(columns, dtype=bool).T, axis=1)
    pad = (-rows.shape[1]) % 8
    if pad:
        rows = np.pad(rows, ((0, 0), (0, pad)))
    return np.ascontiguousarray(rows).view(np.uint64)


def _count(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Popcount of a & b over the last axis (broadcasting)."""
    return np.bitwise_count(a & b).sum(-1, dtype=np.int64)


def _scores(X: np.ndarray, Y: np.ndarray, active: np.ndarray, min_a: int, family_log: np.ndarray):
    """Score every hypothesis against every outcome vector (all packed by ``_pack``).

    X: hypotheses x words; Y and active: outcome vectors x words. Returns (score, a, m), each
    hypotheses x outcome vectors: the score is -log of the hypergeometric probability of the
    observed table on the active runs, less log(family size) (Bonferroni inside its family); a
    hypothesis with fewer than ``min_a`` explained failures, or more failures than chance would
    give, or precision under MIN_PRECISION scores -inf.
    """
    ya = Y & active
    a = _count(X[:, None, :], ya[None, :, :])  # failures with the cause present
    m = _count(X[:, None, :], active[None, :, :])  # active runs with the cause present
    n = np.bitwise_count(active).sum(-1, dtype=np.int64)
    f = np.bitwise_count(ya).sum(-1, dtype=np.int64)
    score = -_log_pmf(a, n, m, f) - family_log[:, None]
    keep = (a >= min_a) & (a * n > m * f) & (a >= MIN_PRECISION * m)
    return np.where(keep, score, -np.inf), a, m


def _null_union_scores(X, y, family_log, steps: int, seed: int) -> np.ndarray:
    """The disjunctive search run on PERMUTATIONS shuffled copies of the outcomes.

    Returns, per permutation, the best union score reached within 1..steps causes (steps x P).
    Under "failures do not depend on order" any run is as likely to fail as any other, so the
    observed search's score ranks among these like a uniform draw.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    Y = _pack(np.stack([y[rng.permutation(n)] for _ in range(PERMUTATIONS)], axis=1))
    Xp = _pack(X)
    everything = _pack(np.ones((n, 1), dtype=bool))
    active = np.repeat(everything, PERMUTATIONS, axis=0)
    alive = np.ones(PERMUTATIONS, dtype=bool)
    f_all = int(y.sum())
    best = np.zeros(PERMUTATIONS)
    out = np.zeros((steps, PERMUTATIONS))
    cols = np.arange(PERMUTATIONS)
    for k in range(steps):
        score, _, _ = _scores(Xp, Y, active, MIN_EVIDENCE if k == 0 else MIN_NEXT_EVIDENCE, family_log)
        j = score.argmax(0)
        ok = alive & np.isfinite(score[j, cols])
        if ok.any():
            active = np.where(ok[:, None], active & ~Xp[j], active)
            explained = everything & ~active
            ua = np.bitwise_count(explained & Y).sum(-1, dtype=np.int64)
            um = np.bitwise_count(explained).sum(-1, dtype=np.int64)
            union = -_log_pmf(ua, n, um, f_all)
            best = np.where(ok, np.maximum(best, union), best)
        alive &= ok
        if not alive.any():
            out[k:] = best
            break
        out[k] = best
    return out


def _union_score(explained: np.ndarray, y: np.ndarray) -> float:
    return float(-_log_pmf(int((explained & y).sum()), len(y), int(explained.sum()), int(y.sum())))


def _more_runs(a: int, b: int, c: int, d: int, family: int, total_runs: int) -> int:
    """Roughly how many more shuffled runs would make this table significant, if it keeps its shape."""
    n = a + b + c + d
    for scale in np.arange(1.25, 20.01, 0.25):
        sa, sb, sc, sd = (int(round(v * scale)) for v in (a, b, c, d))
        if exact_p(sa, sa + sb + sc + sd, sa + sb, sa + sc) * family <= ALPHA:
            return int(np.ceil((scale - 1) * n * total_runs / max(1, n)))
    return int(19 * total_runs)


def analyse_victim(
    obs: list[Observation],
    victim: int,
    priors: set[int] | frozenset[int] = frozenset(),
    templates: Mapping[int, str] | None = None,
) -> tuple[list[dict], str | None]:
    """Return the victim's causes (plain dicts with test ids) best first, or a note why none.

    A disjunctive model (any one cause is enough): greedy set cover with explain-away, each next
    cause chosen and judged on the runs the causes before it leave unexplained. The victim has an
    order signal when the search's best union beats the same search on shuffled outcomes
    (permutation p <= SIGNAL_P); without one, nothing is named, however good one test looks,
    unless that test alone survives Bonferroni. Each cause is *strong* when its exact test
    survives Bonferroni in its family, otherwise *likely*. ``priors`` are tests already shown to
    break other victims: hypotheses holding one form their own, much smaller family.
    ``templates`` (test id -> ``template_of``) joins the tests of one template into one hypothesis.

    Two stages: first the "ran before" hypotheses alone, as above. Only when they name nothing, or
    nothing but cascades, are the last-of-module ones (``Observation.last_of_module``) added, and
    then a cause must survive Bonferroni over every hypothesis: they are many, rare and disjoint, and
    a greedy union of them fits a random flake's failures better than the permutation null expects of
    "ran before". A cascade yields to a cause found there: when one polluter breaks several victims,
    each victim also fails after another victim failed, a symptom that is often the more consistent
    pattern (pydu's real suite over 200 runs: the other victims' failures explained 13 of test_run's
    29 failures with no exception, its polluter, the last of its module, all 29).
    """
    y = np.array([o.failed for o in obs])
    if y.sum() < MIN_FAILURES or (~y).sum() < MIN_PASSES:
        return [], None
    if len({tuple(sorted(o.before)) for o in obs}) == 1 and not any(o.concurrent for o in obs):
        return [], "fixed-order"
    every = _hypotheses(obs, victim, templates)
    plain = [h for h in every if h.model == "before"]
    found, note = _search(obs, victim, y, plain, priors, strict=False)
    symptoms_only = bool(found) and all(f["kind"] == "cascade" for f in found)
    if (found and not symptoms_only) or note or len(plain) == len(every):
        return found, note
    again = _search(obs, victim, y, every, priors, strict=True)
    if not symptoms_only or (again[0] and again[0][0]["kind"] != "cascade"):
        return again
    return found, note


def _search(
    obs: list[Observation], victim: int, y: np.ndarray, hyps: list[_Hypothesis],
    priors: set[int] | frozenset[int], *, strict: bool,
) -> tuple[list[dict], str | None]:
    """The greedy disjunctive search over HYPS; ``strict``: every cause needs q <= ALPHA, no null."""
    if not hyps:
        return [], None
    X = np.stack([h.x for h in hyps], axis=1)  # runs x hypotheses
    prior_cols = np.array([bool(priors) and not priors.isdisjoint(h.members) for h in hyps])
    family_size = np.where(prior_cols, max(1, int(prior_cols.sum())), len(hyps))
    family_log = np.log(family_size.astype(float))
    Xp = _pack(X)

    steps: list[dict] = []
    active = np.ones(len(obs), dtype=bool)
    best_union = 0.0
    for k in range(MAX_CAUSES):
        min_a = MIN_EVIDENCE if k == 0 else MIN_NEXT_EVIDENCE
        if int((y & active).sum()) < min_a:
            break
        score, _, _ = _scores(Xp, _pack(y[:, None]), _pack(active[:, None]), min_a, family_log)
        best_i, cleaners = _best(obs, hyps, score[:, 0], y, active, min_a, family_log)
        if best_i is None:
            break
        h = hyps[best_i]
        x = h.x & active
        a, b, c, d = _table(h.x, y, active)
        p = exact_p(a, a + b + c + d, a + b, a + c)
        if np.isfinite(score[best_i, 0]):
            # Only what the shuffled search could also have found counts towards the signal: a
            # cause that qualifies through a cleaner's excuse is judged by its own exact test.
            best_union = max(best_union, _union_score(~active | h.x, y))
        steps.append({"i": best_i, "table": (a, b, c, d), "p": p, "cleaners": cleaners,
                      "q": min(1.0, p * float(family_size[best_i])), "x": x, "active": active.copy()})
        # Explain away: the next cause is judged on the runs this one does not explain.
        active = active & ~h.x
    if strict:
        steps = steps[: next((k for k, s in enumerate(steps) if s["q"] > ALPHA), len(steps))]
    if not steps:
        return [], None
    if strict:
        signal_p = 1.0  # not tested: each cause stands on its own Bonferroni-corrected test
    else:
        null = _null_union_scores(X, y, family_log, MAX_CAUSES, seed=victim * 7919 + len(obs))
        signal_p = float((1 + (null[-1] >= best_union - 1e-9).sum()) / (PERMUTATIONS + 1))
    if signal_p > SIGNAL_P and steps[0]["q"] > ALPHA:
        return [], None  # no order signal: a random or seed-dependent flake
    if hyps[steps[0]["i"]].kind == "cascade" and steps[0]["q"] > ALPHA:
        # Another flaky test failing first is itself random: only a significant cascade is named.
        return [], None
    kept = [steps[0]]
    for s in steps[1:]:
        if s["p"] > NEXT_CAUSE_P:
            break
        kept.append(s)
    # Position as a confounder: when "fails iff it ran late" (or early) fits the runs as well as
    # the causes do, say so and call no cause strong: only a rerun of the pair can tell them apart.
    covered = np.zeros(len(obs), dtype=bool)
    excused = np.zeros(len(obs), dtype=bool)
    for s in kept:
        covered |= hyps[s["i"]].x
        if s["cleaners"]:
            excused |= s["x"] & ~y
    model_errors = int((y & ~covered).sum() + (~y & covered & ~excused).sum())
    pos_errors = position_errors(np.array([o.position for o in obs]), y)
    strata = np.array([o.stratum for o in obs])
    found: list[dict] = []
    for s in kept:
        h, x, act = hyps[s["i"]], s["x"], s["active"]
        a, b, c, d = s["table"]
        strong = s["q"] <= ALPHA and pos_errors > model_errors
        unexplained_passes = 0 if s["cleaners"] else b
        precision = a / (a + unexplained_passes) if a + unexplained_passes else 0.0
        found.append(
            {
                "kind": h.kind,
                "model": h.model,
                "template": h.template,
                "members": h.members,
                "tier": "strong" if strong else "likely",
                "q": s["q"],
                "p": s["p"],
                "signal_p": signal_p,
                "p_stratified": stratified_p(x[act], y[act], strata[act]),
                "family": int(family_size[s["i"]]),
                "shared_prior": bool(prior_cols[s["i"]]),
                "more_runs": 0 if strong else _more_runs(a, b, c, d, int(family_size[s["i"]]), len(obs)),
                "confidence": round(float((1 - min(s["q"], signal_p)) * precision), 4),
                **_evidence(h.x, y, act, obs),
                "cleaners": s["cleaners"],
                "explained_by_earlier": len(found),
                "position_errors": pos_errors,
                "model_errors": model_errors,
                "position_also_explains": pos_errors <= model_errors,
            }
        )
    return found, None


def _table(hx: np.ndarray, y: np.ndarray, active: np.ndarray) -> tuple[int, int, int, int]:
    """The 2x2 of a cause's presence ``hx`` against the victim failing ``y``, over the ``active`` runs:
    failed and passed with it, failed and passed without it."""
    x, rest = hx & active, ~hx & active
    return int((x & y).sum()), int((x & ~y).sum()), int((rest & y).sum()), int((rest & ~y).sum())


def _evidence(hx: np.ndarray, y: np.ndarray, active: np.ndarray, obs: list[Observation]) -> dict:
    """A cause's card evidence over the ``active`` runs: its 2x2 counts, example runs and when it was
    first and last seen with the victim failing."""
    a, b, c, d = _table(hx, y, active)
    x, ids = hx & active, [o.run_id for o in obs]
    when = [obs[i].started_at for i in np.flatnonzero(x & y)]
    return {
        "counts": {"fail_with": a, "pass_with": b, "fail_without": c, "pass_without": d},
        "consistent": b == 0 and c == 0,
        # Named by the cause's presence: for a state-setter the cause is the setter's absence, so
        # "failed_with" are runs where the setter did NOT run first.
        "examples": {
            "failed_with": [ids[i] for i in np.flatnonzero(x & y)][-5:],
            "passed_without": [ids[i] for i in np.flatnonzero(~hx & active & ~y)][-5:],
            "passed_with": [ids[i] for i in np.flatnonzero(x & ~y)][-5:],
        },
        "first_seen_at": min(when) if when else None,
        "last_seen_at": max(when) if when else None,
    }


def _best(obs, hyps, score, y, active, min_a, family_log) -> tuple[int | None, list[int]]:
    """Return the index of the best-scoring hypothesis (ties: kind order, more failures, lowest
    test id) and its cleaners; a polluter whose passes are all explained by a cleaner qualifies."""
    order = sorted(
        (i for i in range(len(hyps)) if np.isfinite(score[i])),
        key=lambda i: (-round(float(score[i]), 9), KIND_ORDER[hyps[i].kind],
                       -int((hyps[i].x & active & y).sum()), hyps[i].members[0]),
    )
    best = order[0] if order else None
    # Polluters that miss the precision rule only through passes a cleaner may explain: at most
    # CLEANER_CANDIDATES of them, best first, each with at least as many failures as passes.
    n, f = int(active.sum()), int((y & active).sum())
    excusable = []
    for i, h in enumerate(hyps):
        if h.kind != "polluter" or np.isfinite(score[i]):
            continue
        x = h.x & active
        a, b, m = int((x & y).sum()), int((x & ~y).sum()), int(x.sum())
        if a >= min_a and 0 < b <= a and a * n > m * f:
            excusable.append((float(-_log_pmf(a, n, m, f) - family_log[i]), i))
    cleaned: tuple[float, int, list[int]] | None = None
    sub = [o for o, keep in zip(obs, active, strict=True) if keep]
    for s, i in sorted(excusable, reverse=True)[:CLEANER_CANDIDATES]:
        if best is not None and s <= score[best]:
            break
        h = hyps[i]
        cl = _cleaners(sub, _Hypothesis(h.kind, h.members, h.x[active]), y[active])
        if cl:
            cleaned = (s, i, cl)
            break
    if cleaned is not None and (best is None or cleaned[0] > score[best]):
        return cleaned[1], cleaned[2]
    if best is not None and hyps[best].kind == "polluter" and (hyps[best].x & active & ~y).any():
        h = hyps[best]
        return best, _cleaners(sub, _Hypothesis(h.kind, h.members, h.x[active]), y[active])
    return best, []


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
    also = {names.get(int(t), t): [names.get(v, str(v)) for v in vs]
            for t, vs in (found.get("also_breaks") or {}).items()}
    weight = {names.get(int(t), t): w for t, w in (found.get("shared_weight") or {}).items()}
    same = {names.get(int(t), t): [names.get(v, str(v)) for v in vs]
            for t, vs in (found.get("same_signature") or {}).items()}
    polluters = [names.get(t, str(t)) for t in found["members"]]
    # Members of a group are indistinguishable by order. A member already singled out as the
    # cause of other victims is the best bet, first of victims that fail the same way; then a
    # shared word with the victim's name ("cache").
    wanted = _tokens(victim)
    same_weight = {names.get(int(t), t): w for t, w in (found.get("same_signature_weight") or {}).items()}
    polluters.sort(key=lambda n: (-same_weight.get(n, 0.0), -weight.get(n, 0.0), -len(_tokens(n) & wanted)))
    evidence = {
        **found["counts"],
        "p_value": found["p"],
        "q_value": found["q"],
        "perm_p": found.get("perm_p"),
        "p_stratified": found.get("p_stratified"),
        "family": found.get("family"),
        "tier": found.get("tier", "strong"),
        "model": found.get("model", "before"),
        "template": found.get("template"),
        **({"modules": found["modules"]} if found.get("modules") else {}),
        "more_runs": found.get("more_runs", 0),
        "position_errors": found.get("position_errors"),
        "model_errors": found.get("model_errors"),
        "position_also_explains": found.get("position_also_explains", False),
        "consistent": found["consistent"],
        "group_size": len(polluters),
        "cleaners": [names.get(t, str(t)) for t in found["cleaners"]],
        "example_runs": found["examples"],
        "explains_after": found["explained_by_earlier"],
        "also_breaks": also,
        "same_signature": same,
        "bisect": bisection_plan(polluters),
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
        tier=found.get("tier", "strong"),
    )


def bisection_plan(group: Sequence[str]) -> dict | None:
    """Return a delta-debugging plan for a large group: its two halves and the steps it takes.

    Run the first half, then the victim; if the victim's outcome flips, the cause is in that half,
    otherwise in the other; halve again (iDFlakies). ``suitehealth confirm`` does this itself.
    """
    if len(group) < BISECT_FROM:
        return None
    half = (len(group) + 1) // 2
    return {"first_half": list(group[:half]), "second_half": list(group[half:]),
            "steps": int(np.ceil(np.log2(len(group))))}


UNDECIDABLE_NOTE = (
    "The tests ran in the same order in every run, so the history cannot tell which test "
    "interferes. Randomise the order (pip install pytest-randomly) for a few days of CI."
)
POSITION_NOTE = (
    "It fails when it runs late (or early) in its process, and position alone explains its "
    "failures as well as any test that ran before it: something accumulates (memory, files, "
    "warnings) rather than one test leaking state. No single test is named."
)
NOTES = {"fixed-order": UNDECIDABLE_NOTE, "position": POSITION_NOTE}


# ---- public API -----------------------------------------------------------------------------


def find_suspects(
    session: Session, project_id: int, window: Window = ALL_TIME, settings: Settings | None = None
) -> list[Suspect]:
    """Return interference suspects, the strongest suspect of each victim first.

    Without ``window.until`` the stored results (see ``updates.refresh_project``) are read; with it
    the history before ``window.until`` is analysed from scratch.
    """
    suspects, _ = suspects_and_notes(session, project_id, window, settings)
    return suspects


def suspects_and_notes(
    session: Session, project_id: int, window: Window = ALL_TIME, settings: Settings | None = None
) -> tuple[list[Suspect], list[Undecidable]]:
    """Return the suspects seen in ``window`` and the victims the history cannot decide about."""
    until = _as_datetime(window.until) if window.until is not None else None
    if live_answers(until):
        results, counts = analysis_store.stored_results(session, project_id)
        suspects, notes = materialise(session, project_id, results, counts)
    else:
        analyzer = analyse_until(session, project_id, until)
        suspects, notes = compute_from_analyzer(session, analyzer)
    return with_verdicts(session, project_id, suspects, notes, window)


def with_verdicts(
    session: Session, project_id: int, suspects: list[Suspect], notes: list[Undecidable],
    window: Window = ALL_TIME,
) -> tuple[list[Suspect], list[Undecidable]]:
    """Return the analysis's suspects with ``suitehealth confirm``'s verdicts and proofs, ordered.

    The last step of ``suspects_and_notes``; the weekly review's stored findings take it too.
    """
    since = _as_datetime(window.since) if window.since is not None else None
    if since is not None:
        suspects = [s for s in suspects if s.last_seen_at is None or s.last_seen_at >= since]
    verdicts = latest_verdicts(session, project_id)
    attach_verdicts(suspects, verdicts)
    # Causes `suitehealth confirm --unexplained` proved for victims the history could not explain.
    # Shown while the victim is still flaky (a fixed victim's cause was fixed with it).
    unmatched = unmatched_proofs(suspects, verdicts)
    flaky = flaky_suites(session, project_id, [v.victim for v in unmatched]) if unmatched else {}
    proofs = [proven_suspect(v, *flaky[v.victim]) for v in unmatched if v.victim in flaky]
    if window.until is not None:  # a view of the past shows only what had been proven by then
        until = _as_datetime(window.until)
        proofs = [s for s in proofs if s.first_seen_at is None or s.first_seen_at < until]
    if since is not None:
        proofs = [s for s in proofs if s.last_seen_at is None or s.last_seen_at >= since]
    suspects.extend(proofs)
    notes = [n for n in notes if n.victim not in {s.victim for s in proofs}]
    return _order(suspects), notes


def proven_suspect(verdict, suite: str | None = None, last_flake: datetime | None = None) -> Suspect:
    """A suspect made of a confirm verdict alone: the re-runs are its evidence, not the history."""
    v = verdict.as_dict()
    evidence = {"model": "confirm", "proof": v["detail"], "tested": len(v["tested"]), "commit": v["commit"],
                "recorded_at": v["recorded_at"], "example_runs": {"failed_with": [], "passed_without": []}}
    reproduce = reproduce_command(verdict.culprits, verdict.victim, verdict.kind)
    return Suspect(victim=verdict.victim, polluters=list(verdict.culprits), kind=verdict.kind, confidence=1.0,
                   evidence=evidence, reproduce=reproduce,
                   first_seen_at=verdict.recorded_at, last_seen_at=last_flake or verdict.recorded_at,
                   tier="proven", verdict=v, suite=suite)


TIER_ORDER = {"proven": 0, "strong": 1, "likely": 2}


def _order(suspects: list[Suspect]) -> list[Suspect]:
    """Victims with a proven, then strong, then likely cause first; by confidence within a tier."""
    best: dict[tuple, tuple[int, float]] = {}
    for s in suspects:
        key = (s.suite, s.victim)
        mine = (TIER_ORDER.get(s.tier, 3), -s.confidence)
        best[key] = min(best.get(key, mine), mine)
    return sorted(suspects, key=lambda s: (best[(s.suite, s.victim)], s.suite or "", s.victim, s.rank))


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
    nodeids: Mapping[int, str] | None = None,
    signatures: Mapping[int, Collection[str]] | None = None,
) -> dict[int, tuple[list[dict], str | None]]:
    """Analyse every victim of one suite from its run sequences; return victim id -> (found, note).

    Two passes: the second re-analyses victims without a strong cause, with the tests that
    strongly break another victim of the suite as priors (shared evidence). ``nodeids`` (test id
    -> node id) gives modules and templates, for polluters whose module-mates clean up after them.
    ``signatures`` (victim id -> its failure signature hashes, ``suite_signatures``): inside a
    group, a test shown to break a victim that fails the same way goes first.
    """
    modules = {t: module_of(n) for t, n in nodeids.items()} if nodeids else None
    templates = {t: template_of(n) for t, n in nodeids.items()} if nodeids else None
    obs = observations(sequences, victims, modules)
    rows_of: dict[int, list[Observation]] = {}
    out: dict[int, tuple[list[dict], str | None]] = {}
    for victim, rows in obs.items():
        windows = broken_windows.get(victim) or []
        if windows:
            rows = [o for o in rows if not _in_windows(o.started_at, windows)]
        rows_of[victim] = rows
        out[victim] = analyse_victim(rows, victim, templates=templates)
    breaks = known_causes(out)
    for victim, rows in rows_of.items():
        found, note = out[victim]
        priors = {t for t, vs in breaks.items() if set(vs) - {victim}}
        if priors and note is None and not any(f["tier"] == "strong" for f in found):
            again = analyse_victim(rows, victim, priors, templates)
            if again[0] and (not found or again[0][0]["tier"] == "strong"):
                out[victim] = again
    if modules:
        for victim, rows in rows_of.items():
            if out[victim] == ([], None):
                found = last_writer_cause(rows, victim, modules)
                if found is not None:
                    out[victim] = ([found], None)
    breaks = known_causes(out)
    sigs = signatures or {}
    for victim, (found, _) in out.items():
        mine = set(sigs.get(victim, ()))
        for f in found:
            shared = {t: {v: g for v, g in breaks.get(t, {}).items() if v != victim} for t in f["members"]}
            f["also_breaks"] = {str(t): sorted(vs) for t, vs in shared.items() if vs}
            # How singled out each member is as the cause elsewhere: the only test of another
            # victim's group counts 1, one of ten counts 0.1. Victims that fail with the same
            # message as this one count first: the same leak, most likely the same polluter.
            same = {t: {v: g for v, g in vs.items() if mine & set(sigs.get(v, ()))}
                    for t, vs in shared.items()}
            weight = {t: sum(1 / g for g in vs.values()) for t, vs in shared.items()}
            same_weight = {t: sum(1 / g for g in vs.values()) for t, vs in same.items()}
            f["members"] = sorted(f["members"], key=lambda t: (-same_weight[t], -weight[t]))
            f["shared_weight"] = {str(t): round(w, 4) for t, w in weight.items() if w}
            f["same_signature"] = {str(t): sorted(vs) for t, vs in same.items() if vs}
            f["same_signature_weight"] = {str(t): round(w, 4) for t, w in same_weight.items() if w}
    return out


def last_writer_cause(obs: list[Observation], victim: int, modules: Mapping[int, str]) -> dict | None:
    """The "last writer wins" cause of a victim the greedy search named nothing for (``last_writer``).

    Named only when the fit beats every shuffled outcome vector and position alone does not explain
    the failures as well (a victim failing when it runs late has a nearest module too). Always
    *likely*: the pattern is significant, but each module of the group was the nearest writer only a
    few times; ``suitehealth confirm`` bisects the group to the module that decides.
    """
    y = np.array([o.failed for o in obs], dtype=bool)
    if y.sum() < MIN_FAILURES or (~y).sum() < MIN_PASSES:
        return None
    found = last_writer.analyse([o.before for o in obs], y, modules, seed=victim * 7919 + len(obs))
    if found is None:
        return None
    evidence = _evidence(found["x"], y, np.ones(len(obs), dtype=bool), obs)
    counts = evidence["counts"]
    a, b = counts["fail_with"], counts["pass_with"]
    model_errors = b + counts["fail_without"]
    pos_errors = position_errors(np.array([o.position for o in obs]), y)
    if pos_errors <= model_errors:
        return None
    perm_p = found["perm_p"]
    precision = a / (a + b) if a + b else 0.0
    return {
        "kind": found["kind"],
        "model": "last-writer",
        "template": None,
        "modules": found["modules"],
        "members": found["members"],
        "tier": "likely",
        # The group was picked by the outcomes, so its own exact test would flatter it: the
        # p reported is the permutation p of the whole fit.
        "q": perm_p,
        "p": perm_p,
        "signal_p": perm_p,
        "p_stratified": None,
        "family": None,
        "shared_prior": False,
        "more_runs": 0,
        "confidence": round((1 - perm_p) * precision * found["repeated"] / max(1, len(found["modules"])), 4),
        **evidence,
        "cleaners": [],
        "explained_by_earlier": 0,
        "position_errors": pos_errors,
        "model_errors": model_errors,
        "position_also_explains": False,
    }


def suite_signatures(signatures: Iterable[tuple[int, int, str]], suite_id: int) -> dict[int, set[str]]:
    """Return test id -> its failure signature hashes in the suite, from (suite, test, hash) keys."""
    out: dict[int, set[str]] = defaultdict(set)
    for sid, tid, sig in signatures:
        if sid == suite_id:
            out[tid].add(sig)
    return out


def module_of(nodeid: str) -> str:
    """Return the module of a node id: its file (``a/b.py::C::t``) or dotted prefix (``a.b.C::t``)."""
    head, sep, _rest = nodeid.partition("::")
    if not sep:
        return nodeid.rsplit(".", 1)[0]
    if head.endswith(".py"):
        return head
    # JUnit without a file: "pkg.test_mod.TestClass::test" -> "pkg.test_mod" when a class is named.
    parts = head.split(".")
    while len(parts) > 1 and parts[-1][:1].isupper():
        parts.pop()
    return ".".join(parts)


def template_of(nodeid: str) -> str:
    """Return the code a test runs: its module and function name, without class or parameters."""
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    return f"{module_of(nodeid)}::{name}"


def known_causes(results: dict[int, tuple[list[dict], str | None]]) -> dict[int, dict[int, int]]:
    """Return test id -> {victim it strongly breaks: size of the group it was found in}."""
    breaks: dict[int, dict[int, int]] = defaultdict(dict)
    for victim, (found, _) in results.items():
        for f in found:
            if f["tier"] == "strong" and f["kind"] in ("polluter", "cascade"):
                for t in f["members"]:
                    breaks[t][victim] = len(f["members"])
    return breaks


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
    nodeids = project_nodeids(session, analyzer.project_id) if by_suite else {}
    for suite_id, seqs in by_suite.items():
        victims, windows = victims_and_windows(analyzer.states, suite_id)
        sigs = suite_signatures(analyzer.signatures, suite_id)
        for victim, res in compute_suite(seqs[-HISTORY_RUNS:], victims, windows, nodeids, sigs).items():
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
    } | {
        int(t) for found, _ in results.values() for f in found for t in f.get("also_breaks") or {}
    } | {
        v for found, _ in results.values() for f in found for vs in (f.get("also_breaks") or {}).values()
        for v in vs
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
                    vname, suites.get(suite_id), st.get("fails", 0), st.get("runs", 0),
                    NOTES.get(note, UNDECIDABLE_NOTE),
                )
            )
    return suspects, notes


def project_nodeids(session: Session, project_id: int) -> dict[int, str]:
    """Return test id -> node id for every test of the project (modules and templates come from it)."""
    return dict(session.execute(select(Test.id, Test.nodeid).where(Test.project_id == project_id)).all())


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
