"""The "last writer wins" analysis on planted histories: found when it holds, silent when it does not.

Planted: modules run as shuffled blocks (pytest-randomly); some set a shared value, some undo it,
most write nothing; the victim passes iff the nearest writing module before it was a setter
(python-openflow's test_vendor_header, tests/realworld, is the real case).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analysis import last_writer
from dashboard.analysis.interference import Observation, last_writer_cause

TESTS_PER_MODULE = 2
VICTIM = 0  # test id of the victim, alone in module "m_victim"


def planted(n_runs: int, roles: dict[str, str], seed: int) -> tuple[list[list[int]], dict[int, str]]:
    """Shuffled module orders: return, per run, the test ids before the victim, and test id -> module."""
    modules = {VICTIM: "m_victim"}
    for name in roles:
        for _ in range(TESTS_PER_MODULE):
            modules[len(modules)] = name
    by_module: dict[str, list[int]] = {}
    for tid, name in modules.items():
        by_module.setdefault(name, []).append(tid)
    rng = np.random.default_rng(seed)
    befores = []
    for _ in range(n_runs):
        order = [t for m in rng.permutation(sorted(by_module)) for t in rng.permutation(by_module[m])]
        befores.append([int(t) for t in order[: order.index(VICTIM)]])
    return befores, modules


def outcomes(befores, modules, roles: dict[str, str], passes_after: str) -> np.ndarray:
    """Failed (True) unless the nearest writer before the victim has the role PASSES_AFTER."""
    y = []
    for before in befores:
        last = next((roles[modules[t]] for t in reversed(before) if roles[modules[t]] != "neutral"), None)
        y.append(last != passes_after)
    return np.array(y)


def roles_of(setters: int, undoers: int, neutral: int) -> dict[str, str]:
    return {
        **{f"m_set{i}": "setter" for i in range(setters)},
        **{f"m_undo{i}": "undoer" for i in range(undoers)},
        **{f"m_plain{i}": "neutral" for i in range(neutral)},
    }


def deciders(befores, modules, roles, role: str) -> set[str]:
    """Modules of ROLE that were the nearest writer before the victim in some run."""
    out = set()
    for before in befores:
        last = next((modules[t] for t in reversed(before) if roles[modules[t]] != "neutral"), None)
        if last is not None and roles[last] == role:
            out.add(last)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_setters_that_decided_a_pass_are_one_state_setter_group_and_no_undoer_is_in_it(seed):
    roles = roles_of(setters=6, undoers=14, neutral=20)
    befores, modules = planted(200, roles, seed)
    y = outcomes(befores, modules, roles, passes_after="setter")
    found = last_writer.analyse(befores, y, modules, seed=seed)
    assert found is not None and found["kind"] == "state-setter"
    assert deciders(befores, modules, roles, "setter") <= set(found["modules"])
    assert not {m for m in found["modules"] if roles[m] == "undoer"}
    assert found["perm_p"] == 1 / (last_writer.PERMUTATIONS + 1)
    # x (the setter's absence as the nearest writer) is exactly the runs that failed: consistent.
    assert (found["x"] == y).all()
    assert {modules[t] for t in found["members"]} == set(found["modules"])


def test_polluters_whose_leak_a_later_writer_cleans_are_a_polluter_group():
    # Mostly passing: fails iff the nearest writer was one of the few polluters, not a cleaner.
    roles = {
        **{f"m_leak{i}": "polluter" for i in range(4)},
        **{f"m_clean{i}": "cleaner" for i in range(14)},
        **{f"m_plain{i}": "neutral" for i in range(20)},
    }
    befores, modules = planted(200, roles, seed=5)
    y = outcomes(befores, modules, roles, passes_after="cleaner")
    assert y.mean() < 0.5
    found = last_writer.analyse(befores, y, modules, seed=5)
    assert found is not None and found["kind"] == "polluter"
    assert deciders(befores, modules, roles, "polluter") <= set(found["modules"])
    assert {roles[m] for m in found["modules"]} <= {"polluter", "neutral"}


@pytest.mark.parametrize("seed", range(8))
def test_a_random_flake_with_the_same_shuffled_orders_gets_nothing(seed):
    roles = roles_of(setters=6, undoers=14, neutral=20)
    befores, modules = planted(200, roles, seed)
    rng = np.random.default_rng(1000 + seed)
    y = rng.random(len(befores)) < rng.uniform(0.2, 0.8)
    assert last_writer.analyse(befores, y, modules, seed=seed) is None


def test_thirty_runs_of_a_real_sized_last_writer_victim_name_nothing():
    # What python-openflow's first 30 runs show: too few repeats of any module as the nearest writer.
    roles = roles_of(setters=25, undoers=60, neutral=15)
    befores, modules = planted(30, roles, seed=11)
    y = outcomes(befores, modules, roles, passes_after="setter")
    assert 3 <= y.sum() <= 27
    assert last_writer.analyse(befores, y, modules, seed=11) is None


def _observations(befores, y, position) -> list[Observation]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    return [
        Observation(i, start + timedelta(hours=i), bool(f), 0, before, position=float(p))
        for i, (before, f, p) in enumerate(zip(befores, y, position, strict=True))
    ]


def test_a_victim_that_fails_when_it_runs_late_is_not_put_down_to_a_last_writer():
    roles = roles_of(setters=6, undoers=14, neutral=20)
    befores, modules = planted(200, roles, seed=4)
    position = np.array([len(b) for b in befores]) / (1 + TESTS_PER_MODULE * len(roles))
    late = position > np.median(position)
    assert last_writer_cause(_observations(befores, late, position), VICTIM, modules) is None


def test_the_cause_card_counts_add_up_to_the_runs_and_say_the_model():
    roles = roles_of(setters=6, undoers=14, neutral=20)
    befores, modules = planted(200, roles, seed=2)
    y = outcomes(befores, modules, roles, passes_after="setter")
    position = np.random.default_rng(2).random(len(y))
    found = last_writer_cause(_observations(befores, y, position), VICTIM, modules)
    assert found is not None
    counts = found["counts"]
    assert sum(counts.values()) == len(y)
    assert counts["fail_with"] + counts["fail_without"] == int(y.sum())
    assert (found["kind"], found["model"], found["tier"]) == ("state-setter", "last-writer", "likely")
    assert found["consistent"] and found["model_errors"] == 0 < found["position_errors"]
    assert found["p"] == found["q"] == found["signal_p"] == 1 / (last_writer.PERMUTATIONS + 1)
    assert 0 < found["confidence"] <= 1


@st.composite
def histories(draw):
    n_modules = draw(st.integers(2, 8))
    modules = {t: f"m{t % n_modules}" for t in range(1, 1 + 2 * n_modules)}
    runs = draw(st.integers(1, 40))
    befores = [draw(st.lists(st.sampled_from(sorted(modules)), max_size=12)) for _ in range(runs)]
    y = np.array(draw(st.lists(st.booleans(), min_size=runs, max_size=runs)), dtype=bool)
    return befores, y, modules


@settings(max_examples=150, deadline=None)
@given(histories())
def test_the_fit_accounts_for_every_run_once_and_only_mixed_modules_are_neutral(history):
    befores, y, modules = history
    nearest, names = last_writer.nearest_modules(befores, modules)
    assert nearest.shape == (len(befores), last_writer.DEPTH)
    total, fails, neutral = (a[0] for a in last_writer.fit(nearest, y[None, :], len(names)))
    # A run counts for at most one module (its nearest writer), and failures never exceed runs.
    assert total.sum() <= len(y) and (fails <= total).all() and fails.sum() <= y.sum()
    # The runs no writer decides are exactly those whose every module before it was eliminated.
    undecided = len(y) - total.sum()
    assert undecided == sum(all(neutral[names.index(modules[t])] for t in b) for b in befores)
    # A module still counted as a writer has one outcome in all its runs.
    writers = ~neutral & (total > 0)
    assert ((fails[writers] == 0) | (fails[writers] == total[writers])).all()
    found = last_writer.analyse(befores, y, modules, seed=1)
    if found is not None:
        assert len(found["x"]) == len(y) and {modules[t] for t in found["members"]} == set(found["modules"])
