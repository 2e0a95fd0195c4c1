"""pytest-randomly-like shuffled run sequences in the analysis's compact form, with planted rules.

A suite of 20 modules x 10 tests (test ids m*100+j). Each run shuffles the module order, then the
tests inside each module; ``rule(rng, order, pos)`` returns the ids that fail in that run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

MODULES = [[m * 100 + j for j in range(10)] for m in range(20)]
START = datetime(2026, 1, 1, tzinfo=UTC)

Rule = Callable[[random.Random, list[int], dict[int, int]], set[int]]


def shuffled(rng: random.Random) -> list[int]:
    modules = [list(m) for m in MODULES]
    rng.shuffle(modules)
    order: list[int] = []
    for m in modules:
        rng.shuffle(m)
        order.extend(m)
    return order


def sequences(seed: int, runs: int, rule: Rule) -> list[tuple[int, datetime, dict]]:
    """Return (run_id, started_at, sequence) for ``runs`` shuffled runs under ``rule``."""
    rng = random.Random(seed)
    out = []
    for i in range(runs):
        order = shuffled(rng)
        pos = {t: k for k, t in enumerate(order)}
        bad = rule(rng, order, pos)
        out.append((i + 1, START + timedelta(hours=i), {"procs": [[[t, int(t in bad)] for t in order]]}))
    return out


# Tests that fail at random in ``random_flakes``, whatever ran before them.
RANDOM_VICTIMS = [1501, 1602, 1703]


def random_flakes(seeds: range = range(60), runs: int = 30):
    """Yield (seed, sequences): ``runs`` shuffled runs where each of ``RANDOM_VICTIMS`` fails at random,
    at 10, 20, 30 or 50% depending on the seed (no order signal: no suspect may be named)."""
    for seed in seeds:
        rate = [0.1, 0.2, 0.3, 0.5][seed % 4]
        yield seed, sequences(seed, runs, lambda rng, order, pos, rate=rate: {
            v for v in RANDOM_VICTIMS if rng.random() < rate})


def table(seqs, victim: int, cause: Callable[[dict[int, int]], bool]) -> tuple[int, int, int, int]:
    """Return (fail with, pass with, fail without, pass without) of the victim against ``cause``."""
    counts = [0, 0, 0, 0]
    for _, _, seq in seqs:
        proc = seq["procs"][0]
        pos = {e[0]: k for k, e in enumerate(proc)}
        failed = bool(proc[pos[victim]][1])
        present = cause(pos)
        counts[(0 if present else 2) + (0 if failed else 1)] += 1
    return tuple(counts)
