"""Interference on short shuffled histories: power where the pattern is there, silence where not.

Pure analysis over pytest-randomly-like orders (tests/interference/shuffled.py): 20 modules x 10
tests, 16-60 runs, outcomes from planted rules only.
"""

from __future__ import annotations

from shuffled import RANDOM_VICTIMS, random_flakes, sequences, table

from dashboard.analysis.interference import ALPHA, compute_suite, to_suspect

VICTIM, POLLUTER = 1505, 703


def _fails_after(polluters, victim=VICTIM):
    return lambda rng, order, pos: {victim} if any(pos[p] < pos[victim] for p in polluters) else set()


def test_a_perfectly_consistent_polluter_in_30_runs_is_strong_not_lost_to_stratification():
    # Seed 3 gives the table: 11 failures, all after the polluter's module, 19 passes.
    seqs = sequences(3, 30, _fails_after([POLLUTER]))
    assert table(seqs, VICTIM, lambda pos: pos[POLLUTER] < pos[VICTIM]) == (11, 0, 0, 19)
    (cause,), note = compute_suite(seqs, {VICTIM}, {})[VICTIM]
    assert note is None
    assert cause["kind"] == "polluter" and POLLUTER in cause["members"]
    assert cause["tier"] == "strong" and cause["q"] <= ALPHA
    # Stratified by position the same table is far weaker: reported, not used as the gate.
    assert cause["p_stratified"] > 100 * cause["p"]
    assert cause["counts"] == {"fail_with": 11, "pass_with": 0, "fail_without": 0, "pass_without": 19}


def test_random_and_seed_dependent_flakes_get_no_suspect():
    named = [(seed, v, f["members"]) for seed, seqs in random_flakes()
             for v, (found, _) in compute_suite(seqs, set(RANDOM_VICTIMS), {}).items() for f in found]
    assert named == []


def test_two_polluters_each_enough_alone_are_both_named_with_their_own_tables():
    first, second = 304, 1106
    seqs = sequences(11, 60, _fails_after([first, second]))
    found, _ = compute_suite(seqs, {VICTIM}, {})[VICTIM]
    assert [f["kind"] for f in found] == ["polluter", "polluter"]
    assert {first, second} == {m for f in found for m in f["members"] if m in (first, second)}
    assert first in found[0]["members"] or second in found[0]["members"]
    # The second is judged on the runs the first leaves unexplained: its table counts only those.
    top, nxt = found
    assert nxt["explained_by_earlier"] == 1
    assert sum(nxt["counts"].values()) == top["counts"]["fail_without"] + top["counts"]["pass_without"]
    assert nxt["counts"]["pass_with"] == 0 and nxt["counts"]["fail_without"] == 0


def test_one_polluter_module_breaking_six_victims_names_it_for_every_victim():
    polluters, victims = [703, 704, 705], [105, 206, 1307, 1408, 1509, 1800]
    seqs = sequences(3, 16, lambda rng, order, pos: {
        v for v in victims if any(pos[p] < pos[v] for p in polluters)})
    results = compute_suite(seqs, set(victims), {})
    for v in victims:
        found, _ = results[v]
        assert [f["kind"] for f in found] == ["polluter"], v
        assert set(polluters) <= set(found[0]["members"])
    # Some victims are only strong because the same module strongly breaks the others.
    helped = [v for v in victims if results[v][0][0]["shared_prior"]]
    assert helped and all(results[v][0][0]["tier"] == "strong" for v in helped)
    names = {t: f"tests/test_m{t // 100}.py::test_{t % 100}" for t in range(2000)}
    suspect = to_suspect(names[helped[0]], results[helped[0]][0][0], names, "unit", 1)
    # The whole module travels together: a bisection plan halves it; shared evidence is shown.
    assert suspect.evidence["bisect"]["steps"] == 4
    assert len(suspect.evidence["bisect"]["first_half"]) == 5
    assert set(suspect.evidence["also_breaks"][suspect.polluters[0]]) <= {names[v] for v in victims}


def test_a_brittle_test_that_needs_a_save_test_first_gets_that_state_setter():
    save, brittle = 1203, 1207  # same module: the setter moves on its own inside the module
    seqs = sequences(5, 30, lambda rng, order, pos: {brittle} if pos[save] > pos[brittle] else set())
    (cause,), _ = compute_suite(seqs, {brittle}, {})[brittle]
    assert cause["kind"] == "state-setter" and cause["members"] == [save]
    assert cause["tier"] == "strong"
    # "failed_with" runs are runs WITHOUT the setter before the brittle test.
    for run_id in cause["examples"]["failed_with"]:
        proc = seqs[run_id - 1][2]["procs"][0]
        ids = [e[0] for e in proc]
        assert ids.index(save) > ids.index(brittle)


def test_a_likely_cause_says_how_many_more_runs_would_settle_it():
    # 14 runs, 5/0/0/9: the polluter's module is the best explanation of an order-dependent
    # victim, but not significant among ~80 hypotheses yet.
    seqs = sequences(3, 14, _fails_after([POLLUTER]))
    (cause,), _ = compute_suite(seqs, {VICTIM}, {})[VICTIM]
    assert cause["counts"] == {"fail_with": 5, "pass_with": 0, "fail_without": 0, "pass_without": 9}
    assert cause["tier"] == "likely" and POLLUTER in cause["members"]
    assert ALPHA < cause["q"] and 0 < cause["more_runs"] < 14
    # With that many more runs of the same shape it is strong.
    longer = sequences(3, 14 + cause["more_runs"] + 6, _fails_after([POLLUTER]))
    (again,), _ = compute_suite(longer, {VICTIM}, {})[VICTIM]
    assert again["tier"] == "strong"


def test_a_test_singled_out_for_one_victim_goes_first_in_the_group_it_shares_with_another():
    # 703 breaks 707 (same module: the order inside the module singles it out) and 1505 (another
    # module: there the whole of module 7 moves as one block, 703 hidden among ten).
    seqs = sequences(4, 40, lambda rng, order, pos: {
        v for v in (707, VICTIM) if pos[POLLUTER] < pos[v]})
    results = compute_suite(seqs, {707, VICTIM}, {})
    (same_module,), _ = results[707]
    assert same_module["members"] == [POLLUTER] and same_module["tier"] == "strong"
    (shared,), _ = results[VICTIM]
    assert len(shared["members"]) == 10 and shared["members"][0] == POLLUTER
    names = {t: f"tests/test_m{t // 100}.py::test_{t % 100}" for t in range(2000)}
    suspect = to_suspect(names[VICTIM], shared, names, "unit", 1)
    assert suspect.polluters[0] == names[POLLUTER]
    assert suspect.evidence["also_breaks"][names[POLLUTER]] == [names[707]]
