"""The analyzer's compact run sequences: stored exactly as before, and the same evidence either way."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from dashboard.analysis import flakestate
from dashboard.analysis.history import Analyzer, RunInfo, TimedProc, build_sequence, sequence_json, snapshot
from dashboard.analysis.interference import observations

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _row(test_id, outcome, order, worker=None, start=None, stop=None, attempt=1, final=True, message=None):
    return (test_id, outcome, attempt, final, order, worker, start, stop, message)


def test_timed_processes_are_columns_and_stored_as_the_lists_they_replace():
    rows = [
        _row(11, "passed", 0, "gw0", 100.0, 100.5),
        _row(12, "failed", 1, "gw0", 100.5, 101.25, attempt=1, final=False, message="boom"),
        _row(12, "passed", 2, "gw0", 101.25, 101.5, attempt=2),  # a rerun: not evidence
        _row(13, "skipped", 3, "gw0", 101.5, 101.5),
        _row(21, "failed", 0, "gw1", 100.25, 100.75, message="boom"),
        _row(22, "passed", 1, "gw1", 100.0, 100.25),
    ]
    seq = build_sequence(rows)
    assert all(isinstance(proc, TimedProc) for proc in seq["procs"])
    stored = sequence_json(seq)
    assert stored == {
        "procs": [
            [[11, 0, 100.0, 100.5], [12, 1, 100.5, 101.25], [13, None, 101.5, 101.5]],
            [[22, 0, 100.0, 100.25], [21, 1, 100.25, 100.75]],
        ],
        "workers": ["gw0", "gw1"],
    }
    assert json.dumps(stored) == (
        '{"procs": [[[11, 0, 100.0, 100.5], [12, 1, 100.5, 101.25], [13, null, 101.5, 101.5]], '
        '[[22, 0, 100.0, 100.25], [21, 1, 100.25, 100.75]]], "workers": ["gw0", "gw1"]}'
    )


def test_untimed_runs_and_integer_times_keep_their_entries():
    single = build_sequence([_row(2, "passed", 1), _row(1, "failed", 0, message="x")])
    assert sequence_json(single) == {"procs": [[[1, 1], [2, 0]]], "workers": [None]}
    # Times that are not floats are stored as they came: no column may turn 5 into 5.0.
    ints = build_sequence([_row(1, "passed", 0, "gw0", 5, 6), _row(2, "passed", 0, "gw1", 5, 7)])
    assert not any(isinstance(proc, TimedProc) for proc in ints["procs"])
    assert json.dumps(sequence_json(ints)) == (
        '{"procs": [[[1, 0, 5, 6]], [[2, 0, 5, 7]]], "workers": ["gw0", "gw1"]}'
    )


def _observed(obs) -> dict:
    return {victim: [(o.run_id, o.failed, o.stratum, list(o.before), o.concurrent, o.failed_before,
                      o.position, o.last_of_module) for o in found] for victim, found in obs.items()}


def test_compact_and_stored_sequences_give_the_same_observations():
    rng = random.Random(5)
    runs = []
    for r in range(12):
        rows, clocks = [], [1000.0 * r] * 3
        tests = list(range(1, 41))
        rng.shuffle(tests)
        for order, tid in enumerate(tests):
            worker = order % 3
            duration = rng.choice([0.5, 1.0, 1.5])
            outcome = "failed" if rng.random() < 0.2 else ("skipped" if tid == 7 else "passed")
            rows.append(_row(tid, outcome, order, f"gw{worker}", clocks[worker], clocks[worker] + duration))
            clocks[worker] += duration
        runs.append((r + 1, T0 + timedelta(hours=r), build_sequence(rows)))
    victims = {3, 7, 17, 29}
    modules = {t: f"tests/test_m{t % 4}.py" for t in range(1, 41)}
    compact = _observed(observations(runs, victims, modules))
    stored = _observed(observations([(i, at, sequence_json(s)) for i, at, s in runs], victims, modules))
    assert compact == stored
    # Concurrent: the tests of the other processes whose [start, stop) overlaps the victim's, in
    # their order (the entry-by-entry rule the columns replaced; times touching do not overlap).
    expected: dict[int, list[list[int]]] = {}
    for _, _, seq in runs:
        procs = sequence_json(seq)["procs"]
        for p, proc in enumerate(procs):
            for tid, bad, start, stop in proc:
                if tid in victims and bad is not None:
                    expected.setdefault(tid, []).append(
                        [e[0] for q, other in enumerate(procs) if q != p for e in other
                         if e[2] < stop and e[3] > start])
    assert {v: [o[4] for o in found] for v, found in compact.items()} == expected
    assert any(o[4] for found in compact.values() for o in found)  # concurrency was found at all


def test_a_pass_and_a_failure_on_one_commit_are_a_flake_and_a_snapshot_keeps_its_own():
    analyzer = Analyzer(1)
    analyzer.process(RunInfo(1, 1, T0, "abc", 1, 0), [_row(5, "passed", 0)])
    before = snapshot(analyzer)
    analyzer.process(RunInfo(2, 1, T0 + timedelta(hours=1), "abc", 1, 1), [_row(5, "failed", 0, message="x")])
    state = analyzer.states[(1, 5)]
    assert (state["flaky_fails"], state["flakes"], state["pending"]) == (1, 1, 0)
    assert analyzer.commits[(1, "abc")].has_passed(5) and analyzer.commits[(1, "abc")].has_failed(5)
    assert not before.commits[(1, "abc")].has_failed(5)
    # The same failure on another commit is pending evidence, not a flake yet.
    other = Analyzer(1)
    other.process(RunInfo(1, 1, T0, "abc", 1, 0), [_row(5, "passed", 0)])
    other.process(RunInfo(2, 1, T0 + timedelta(hours=1), "def", 1, 1), [_row(5, "failed", 0, message="x")])
    assert flakestate.effective(other.states[(1, 5)])["flakes"] == 0
