"""Polluters whose module-mates clean up after them: only the module's last test before the victim counts.

pytest-randomly runs each module as one block in shuffled order. When the module's other tests undo
the leak (pydu's archive tests: one test chdirs into a directory it deletes, every other test's
setUp chdirs back), "ran before the victim" is diluted and "was its module's last test before the
victim" is the evidence. Pure analysis over shuffled orders (tests/interference/shuffled.py) with
node ids, as the worker passes them.
"""

from __future__ import annotations

from shuffled import MODULES, RANDOM_VICTIMS, random_flakes, sequences

from dashboard.analysis.interference import (
    ALPHA,
    compute_suite,
    module_of,
    template_of,
    to_suspect,
)

VICTIM = 1505
# Module 7 is a test file of three classes; test_leak is one method inherited by all three.
LEAKS = {701: "TestA", 704: "TestB", 708: "TestC"}


def _names() -> dict[int, str]:
    names = {t: f"tests/test_m{t // 100}.py::test_{t % 100}" for m in MODULES for t in m}
    for t in MODULES[7]:
        names[t] = f"tests/test_m7.py::{LEAKS.get(t, 'TestA')}::test_{'leak' if t in LEAKS else t % 100}"
    # Templates everywhere else too (for the null cases): five classes share two method names.
    for m in MODULES:
        if m[0] // 100 != 7:
            for t in m:
                names[t] = f"tests/test_m{t // 100}.py::TestC{t % 5}::test_f{t % 100 // 5}"
    return names


def _last_of_module_is(polluters, module=7, victim=VICTIM):
    """Fail iff the last test of MODULE that ran before the victim is one of POLLUTERS."""

    def rule(rng, order, pos):
        before = [t for t in order[: pos[victim]] if t // 100 == module]
        return {victim} if before and before[-1] in polluters else set()

    return rule


def test_module_and_template_come_from_the_node_id():
    assert module_of("tests/test_archive.py::TestTar::test_x[a]") == "tests/test_archive.py"
    assert module_of("tests.test_archive.TestTar::test_x") == "tests.test_archive"
    assert module_of("tests.test_archive.test_x") == "tests.test_archive"
    assert template_of("tests/test_archive.py::TestTar::test_x[a]") == "tests/test_archive.py::test_x"
    assert template_of("tests/test_archive.py::TestZip::test_x") == "tests/test_archive.py::test_x"


def test_an_inherited_polluter_undone_by_its_module_mates_is_named_with_every_class():
    names = _names()
    checked = 0
    for seed in range(10):
        seqs = sequences(seed, 30, _last_of_module_is(set(LEAKS)))
        failures = sum(s["procs"][0][[e[0] for e in s["procs"][0]].index(VICTIM)][1] for _, _, s in seqs)
        # Without node ids ("ran before" only) the cleaners hide it: nothing is named.
        assert compute_suite(seqs, {VICTIM}, {})[VICTIM] == ([], None)
        found, note = compute_suite(seqs, {VICTIM}, {}, names)[VICTIM]
        assert note is None
        if failures < 4:  # 3 failures in 30 runs (seeds 2, 5): too few to name anything, and nothing is
            assert found == []
            continue
        checked += 1
        (cause,) = found
        assert cause["kind"] == "polluter" and cause["model"] == "last-of-module"
        assert sorted(cause["members"]) == sorted(LEAKS)
        assert cause["template"] == "tests/test_m7.py::test_leak"
        assert cause["tier"] == "strong" and cause["q"] <= ALPHA
        assert cause["counts"] == {"fail_with": failures, "pass_with": 0, "fail_without": 0,
                                   "pass_without": 30 - failures}
    assert checked >= 7  # 4-7 failures in 30 runs, like pydu's 4-5
    suspect = to_suspect(names[VICTIM], cause, names, "unit", 1)
    assert suspect.evidence["model"] == "last-of-module"
    # The reproduce command runs every member, then the victim: the last one run leaks.
    assert suspect.reproduce.split()[-1] == names[VICTIM]
    assert all(names[t] in suspect.reproduce for t in LEAKS)


def test_a_single_polluter_with_cleaners_is_named_alone():
    names = _names()
    seqs = sequences(1, 90, _last_of_module_is({704}))
    (cause,), _ = compute_suite(seqs, {VICTIM}, {}, names)[VICTIM]
    assert cause["model"] == "last-of-module" and cause["members"] == [704] and cause["template"] is None
    assert cause["counts"]["pass_with"] == 0 and cause["counts"]["fail_without"] == 0


def test_a_polluter_without_cleaners_keeps_the_ran_before_model():
    names = _names()
    seqs = sequences(3, 30, lambda rng, order, pos: {VICTIM} if pos[703] < pos[VICTIM] else set())
    (cause,), _ = compute_suite(seqs, {VICTIM}, {}, names)[VICTIM]
    assert cause["model"] == "before" and 703 in cause["members"] and cause["tier"] == "strong"


def test_random_flakes_get_no_suspect_with_module_and_template_hypotheses_too():
    names = _names()
    named = [(seed, v, f["members"]) for seed, seqs in random_flakes()
             for v, (found, _) in compute_suite(seqs, set(RANDOM_VICTIMS), {}, names).items() for f in found]
    assert named == []


def _before(polluters, victim=VICTIM):
    return lambda rng, order, pos: {victim} if any(pos[p] < pos[victim] for p in polluters) else set()


def test_node_ids_change_nothing_where_ran_before_already_names_a_cause():
    # The planted cases of test_power.py: "ran before" finds them, so last-of-module hypotheses
    # are never searched and the results are identical, families and p-values included.
    names = _names()
    cases = [
        (sequences(3, 30, _before([703])), {VICTIM}),
        (sequences(11, 60, _before([304, 1106])), {VICTIM}),
        (sequences(3, 16, lambda rng, order, pos: {
            v for v in (105, 206, 1307, 1408, 1509, 1800) if any(pos[p] < pos[v] for p in (703, 704, 705))}),
         {105, 206, 1307, 1408, 1509, 1800}),
        (sequences(5, 30, lambda rng, order, pos: {1207} if pos[1203] > pos[1207] else set()), {1207}),
        (sequences(3, 14, _before([703])), {VICTIM}),
        (sequences(4, 40, lambda rng, order, pos: {v for v in (707, VICTIM) if pos[703] < pos[v]}),
         {707, VICTIM}),
    ]
    for seqs, victims in cases:
        plain = compute_suite(seqs, victims, {})
        assert all(found for found, _ in plain.values())
        assert compute_suite(seqs, victims, {}, names) == plain


def test_a_test_shown_to_break_a_victim_failing_the_same_way_goes_first_in_a_shared_group():
    # 703 breaks 707 and 704 breaks 708 and 709 (module 7: each singled out by the order inside
    # the module). Victim 1505 fails after either, so for it module 7 is one group of ten. 704 is
    # the cause of more victims, but 1505 fails with 707's message: 703 goes first.
    rule = {707: 703, 708: 704, 709: 704}

    def fails(rng, order, pos):
        bad = {v for v, p in rule.items() if pos[p] < pos[v]}
        return bad | ({VICTIM} if min(pos[703], pos[704]) < pos[VICTIM] else set())

    seqs = sequences(4, 40, fails)
    victims = {*rule, VICTIM}
    plain = compute_suite(seqs, victims, {})
    for v, p in rule.items():
        assert plain[v][0][0]["members"] == [p] and plain[v][0][0]["tier"] == "strong"
    (group,), _ = plain[VICTIM]
    assert len(group["members"]) == 10 and group["members"][0] == 704  # two victims beat one
    signatures = {707: {"e-chdir"}, 708: {"e-cache"}, 709: {"e-cache"}, VICTIM: {"e-chdir", "e-other"}}
    (group,), _ = compute_suite(seqs, victims, {}, None, signatures)[VICTIM]
    assert group["members"][:2] == [703, 704]
    assert group["same_signature"] == {"703": [707]}
    names = {t: f"tests/test_m{t // 100}.py::test_{t % 100}" for m in MODULES for t in m}
    suspect = to_suspect(names[VICTIM], group, names, "unit", 1)
    assert suspect.polluters[:2] == [names[703], names[704]]
    assert suspect.evidence["same_signature"] == {names[703]: [names[707]]}
    assert sorted(suspect.evidence["also_breaks"][names[704]]) == [names[708], names[709]]
