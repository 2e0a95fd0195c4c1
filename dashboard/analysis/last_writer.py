"""Last writer wins: a victim decided by whichever module last wrote a shared value before it.

Some brittle tests read a value that many tests write (a class attribute every test class of a base
sets in ``setUpClass``, a global registry, an environment variable). The victim passes when the last
module to write it before the victim wrote a value it can live with, and fails otherwise. "Ran
before" then carries nothing: some writer of each kind ran before it in nearly every run, so the
greedy search in ``interference`` names nothing, and the victim used to be left without a suspect.

pytest-randomly runs a module as one block, so the unit here is the module. For each run, the
modules that ran before the victim are listed nearest first. The model: each module is a setter,
an undoer or neutral (it writes nothing); the nearest non-neutral module decides. It is fitted by
elimination: every module starts as a writer; a module whose runs as the nearest writer have
both outcomes cannot be a writer and becomes neutral, which makes a module further back the
nearest writer of those runs; repeat until nothing changes.

Whether this is more than chance is judged like the greedy search: the same fit on shuffled
outcomes (PERMUTATIONS of them). The statistic counts only modules seen as the nearest writer at
least twice with one outcome each time, so a victim whose failures do not depend on order (a
random or seed-dependent flake) has nothing to gain from it. Only a fit that beats every shuffle
names anything; then the modules that were the nearest writer before the rarer outcome are one
group (each was seen only a few times, so the group, not one test, is the finding, and
``suitehealth confirm`` bisects it).

Measured on python-openflow 2021.1's real suite (tests/data/realsuites/python-openflow): 30
shuffled runs carry no such signal (the search finds none, as it must: even knowing every writer,
shuffled outcomes fit as well 1 time in 20); from 120 runs on every shuffle is beaten, and from 150 on
the group holds every setter that decided a pass (its README has the curve).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

DEPTH = 32  # modules before the victim looked at, nearest first
PERMUTATIONS = 999
BATCH = 111  # shuffles fitted at once (the first batch that beats the observed fit ends the test)
MAX_ROUNDS = 30  # elimination rounds; each makes at least one module neutral or stops


def nearest_modules(
    befores: Sequence[Sequence[int]], modules: Mapping[int, str]
) -> tuple[np.ndarray, list[str]]:
    """Return runs x DEPTH module indexes, nearest first (-1: none), and the modules' names.

    ``befores`` holds, per run, the test ids that ran before the victim in its process, in order.
    In numpy per run: a big suite's module can hold hundreds of tests, and a victim has hundreds
    of runs.
    """
    keys = np.array(sorted(modules), dtype=np.int64)
    all_names = sorted(set(modules.values()))
    name_index = {name: i for i, name in enumerate(all_names)}
    of_key = np.array([name_index[modules[int(k)]] for k in keys], dtype=np.int64)
    out = np.full((len(befores), DEPTH), -1, dtype=np.int64)
    for r, before in enumerate(befores):
        ids = np.asarray(before, dtype=np.int64)[::-1]  # nearest first
        if not len(ids) or not len(keys):
            continue
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        mods = of_key[at][keys[at] == ids]
        _, first = np.unique(mods, return_index=True)
        seen = mods[np.sort(first)[:DEPTH]]
        out[r, : len(seen)] = seen
    # Only the modules that occur: the fit's arrays are as wide as this.
    used, compact = np.unique(out[out >= 0], return_inverse=True)
    out[out >= 0] = compact
    return out, [all_names[u] for u in used]


def fit(nearest: np.ndarray, Y: np.ndarray, units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the model to each row of Y (outcome vectors, True = failed) at once.

    Returns per outcome vector and module: runs where it was the nearest writer, failures among
    them, and whether it was eliminated as neutral. The padding index ``units`` is always neutral.
    """
    B = Y.shape[0]
    padded = np.where(nearest < 0, units, nearest)
    neutral = np.zeros((B, units + 1), dtype=bool)
    neutral[:, units] = True
    offset = (np.arange(B) * (units + 1))[:, None]
    for _ in range(MAX_ROUNDS):
        keys = (_nearest_writer(padded, neutral) + offset).ravel()
        total = np.bincount(keys, minlength=B * (units + 1)).reshape(B, units + 1)
        fails = np.bincount(keys, weights=Y.ravel(), minlength=B * (units + 1)).reshape(B, units + 1)
        mixed = (fails > 0) & (fails < total)
        new = mixed & ~neutral
        if not new.any():
            break
        neutral |= new
    return total[:, :units], fails[:, :units].astype(np.int64), neutral[:, :units]


def _nearest_writer(padded: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Return, per outcome vector (a row of ``neutral``) and run, the nearest module not neutral.

    ``padded``: runs x DEPTH module indexes with the padding index (always neutral) for "none";
    that index is the answer for a run with no writer left.
    """
    B, units = neutral.shape[0], neutral.shape[1] - 1
    rows = np.arange(padded.shape[0])
    writes = ~neutral[:, padded]  # B x runs x DEPTH
    first = writes.argmax(2)
    found = writes[np.arange(B)[:, None], rows[None, :], first]
    return np.where(found, padded[rows[None, :], first], units)


def statistic(total: np.ndarray, fails: np.ndarray, neutral: np.ndarray, rate: float) -> np.ndarray:
    """How surprising the fitted writers are: -log chance of each repeated one-outcome module."""
    repeated = (total >= 2) & ~neutral
    all_fail = repeated & (fails == total)
    all_pass = repeated & (fails == 0)
    return (total * all_fail).sum(-1) * -np.log(rate) + (total * all_pass).sum(-1) * -np.log(1 - rate)


def signal_p(nearest: np.ndarray, y: np.ndarray, units: int, seed: int) -> tuple[float, float]:
    """Return the observed statistic and its permutation p (stops at the first shuffle that ties it)."""
    rate = float(y.mean())
    observed = float(statistic(*fit(nearest, y[None, :], units), rate)[0])
    if observed <= 0:
        return observed, 1.0
    rng = np.random.default_rng(seed)
    done = 0
    while done < PERMUTATIONS:
        size = min(BATCH, PERMUTATIONS - done)
        Y = np.stack([y[rng.permutation(len(y))] for _ in range(size)])
        null = statistic(*fit(nearest, Y, units), rate)
        if (null >= observed - 1e-9).any():
            # Not every shuffle is beaten: p is at least 2 / (PERMUTATIONS + 1), past any threshold.
            return observed, float((1 + done + 1) / (PERMUTATIONS + 1))
        done += size
    return observed, 1.0 / (PERMUTATIONS + 1)


def analyse(
    befores: Sequence[Sequence[int]],
    y: np.ndarray,
    modules: Mapping[int, str],
    seed: int,
) -> dict | None:
    """Return the last-writer finding for one victim, or None when the history shows no such pattern.

    The finding: ``kind`` ("state-setter" when passes are the rarer outcome, so the group is what
    lets it pass; "polluter" otherwise), the group's ``modules`` and ``members`` (test ids, most
    often the nearest writer first), ``x`` (runs where no group module was the nearest writer, the
    cause's presence in ``interference``'s terms) and the permutation p.
    """
    if y.all() or not y.any():
        return None  # one outcome only: nothing for order to explain
    nearest, names = nearest_modules(befores, modules)
    units = len(names)
    if units < 2:
        return None
    stat, p = signal_p(nearest, y, units, seed)
    if p > 1.0 / (PERMUTATIONS + 1):
        return None
    total, fails, neutral = (a[0] for a in fit(nearest, y[None, :], units))
    setter = int(y.sum()) * 2 > len(y)  # passes are rarer: name what lets it pass
    decided = (fails == 0) if setter else (fails == total)
    group = np.flatnonzero(decided & (total > 0) & ~neutral)
    group = group[np.argsort(-total[group], kind="stable")]
    by_module: dict[str, list[int]] = {}
    for tid, name in modules.items():
        by_module.setdefault(name, []).append(tid)
    ran = {t for before in befores for t in before}
    members = [t for g in group for t in sorted(by_module.get(names[g], ())) if t in ran]
    if not members:
        return None
    # The nearest writer of each run, refitted: x marks runs it does not put down to the group.
    near = _nearest_writer(np.where(nearest < 0, units, nearest), np.append(neutral, True)[None, :])[0]
    in_group = np.isin(near, group)
    return {
        "kind": "state-setter" if setter else "polluter",
        "modules": [names[g] for g in group],
        "members": members,
        "x": ~in_group if setter else in_group,
        "perm_p": p,
        "statistic": stat,
        "repeated": int((total[group] >= 2).sum()),
        "writers": int((~neutral & (total > 0)).sum()),
    }
