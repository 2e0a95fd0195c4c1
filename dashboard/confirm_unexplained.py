"""``suitehealth confirm --unexplained``: find the cause of a flaky test that has no suspect, actively.

Passive detection cannot always separate a cause (a brittle test with fifty setters and a hundred
"undoers", where the last writer wins, decides each run differently). A stored run still holds a
cause: the tests that ran before the victim in the same process. So, for each flaky test without
a suspect and without a verdict:

1. run the victim alone, twice. If it failed both times it may be brittle (something must set its
   state first): take the newest stored run where it *passed*. If it passed both times, take the
   newest stored run where it *failed*. If it did both, it is not order-dependent here: stop.
2. rebuild the order of the tests that ran before it in that run, on the same worker, and run
   them then the victim (``-p no:randomly``: pytest runs node ids in the order given). If the
   victim does not come out as it did in the stored run, stop: not reproduced.
3. shrink that prefix with delta debugging (ddmin, Zeller & Hildebrandt 2002), keeping the tests'
   relative order, to a 1-minimal set that still flips the victim; then run that set then the
   victim three times more and the victim alone twice more. Only when all of these agree is the cause
   proven: a polluter (alone passes, after it fails) or a state-setter (alone fails, after it
   passes). Nothing is ever inferred without a run that shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import quote, urlencode

from dashboard.analysis.unexplained import (
    DEFAULT_VICTIMS,
    MAX_VICTIMS,
    StoredOrder,
    UnexplainedVictims,
    Victim,
)
from dashboard.confirm import (
    Outcome,
    PytestTimeout,
    ServerError,
    Target,
    _http_json,
    _simple,
    refreshed_project,
)

__all__ = ["StoredOrder", "Victim", "UnexplainedVictims", "confirm_unexplained", "ddmin", "victims_from_db",
           "victims_from_server"]

# A random flake must not end "proven": it would need to agree with itself in every one of these runs
# (alone twice, the prefix, ddmin's steps, VERIFY_RUNS after the culprits, RECHECK_RUNS alone).
ALONE_RUNS = 2  # the victim on its own before anything else
VERIFY_RUNS = 3  # extra runs of the minimal set then the victim (on top of the ddmin run that found it)
RECHECK_RUNS = 2  # the victim alone again at the end
MAX_DDMIN_RUNS = 120  # pytest runs one bisection may take (ddmin is quadratic at worst)
KIND = "unexplained"  # the kind of a verdict that proved nothing (no suspect kind shares it)


def ddmin(items: Sequence[str], flips: Callable[[Sequence[str]], bool], *, max_tests: int = MAX_DDMIN_RUNS
          ) -> list[str]:
    """Return a 1-minimal subsequence of ``items`` (order kept) for which ``flips`` still holds.

    ``flips(items)`` is assumed true. Subsets, then complements, of n chunks are tried; n doubles
    when none holds (Zeller's ddmin). Answers are memoised; after ``max_tests`` calls the smallest
    set found so far is returned (then it may not be 1-minimal).
    """
    current, n, seen = list(items), 2, {}

    def test(candidate: list[str]) -> bool:
        key = tuple(candidate)
        if key not in seen:
            if len(seen) >= max_tests:
                raise _Budget
            seen[key] = flips(candidate)
        return seen[key]

    try:
        while len(current) >= 2:
            size = len(current)
            bounds = [size * i // n for i in range(n + 1)]
            chunks = [current[bounds[i]:bounds[i + 1]] for i in range(n)]
            chunks = [c for c in chunks if c]
            reduced = False
            for chunk in chunks:
                if test(chunk):
                    current, n, reduced = chunk, 2, True
                    break
            if not reduced and len(chunks) > 2:
                for i in range(len(chunks)):
                    rest = [t for j, c in enumerate(chunks) if j != i for t in c]
                    if test(rest):
                        current, n, reduced = rest, max(n - 1, 2), True
                        break
            if not reduced:
                if n >= len(current):
                    break
                n = min(len(current), 2 * n)
    except _Budget:
        pass
    return current


class _Budget(Exception):
    pass


def confirm_unexplained(victim: Victim, run: Callable[[Sequence[str]], dict[str, str]]) -> Outcome:
    """Re-run one flaky test without a suspect; prove a polluter/state-setter or say it did not reproduce."""
    node = victim.nodeid
    target = Target(node, KIND, [], "unexplained", victim.suite)
    outcome = Outcome(target, "not-reproduced")

    def victim_after(tests: Sequence[str]) -> str:
        outcome.runs += 1
        return _simple(run([*tests, node]).get(node))

    try:
        alone = [victim_after([]) for _ in range(ALONE_RUNS)]
        if "missing" in alone:
            problem = getattr(run, "problem", None) or "the victim was not collected in this checkout"
            return Outcome(target, "skipped", runs=outcome.runs, detail=problem)
        if len(set(alone)) > 1 or alone[0] not in ("passed", "failed"):
            outcome.detail = (f"not order-dependent here: on its own it {' then '.join(alone)}; "
                              "no cause can be proven by re-running")
            return outcome
        brittle = alone[0] == "failed"
        kind, flipped = ("state-setter", "passed") if brittle else ("polluter", "failed")
        stored = victim.passed_run if brittle else victim.failed_run
        alone_word = "fails" if brittle else "passes"
        if stored is None or not stored.before:
            outcome.detail = (f"it {alone_word} on its own and no stored run has it {flipped} after other "
                              "tests in its process: not order-dependent here (not reproduced)")
            return outcome
        prefix = stored.before
        where = f"the {len(prefix)} tests that ran before it in run #{stored.run_id}"
        first = victim_after(prefix)
        if first != flipped:
            outcome.detail = (f"not order-dependent here (not reproduced): it {alone_word} on its own and "
                              f"{first} after {where} (stored: {flipped})")
            return outcome
        culprits = ddmin(prefix, lambda tests: victim_after(tests) == flipped)
        after = [victim_after(culprits) for _ in range(VERIFY_RUNS)]
        again = [victim_after([]) for _ in range(RECHECK_RUNS)]
        if after != [flipped] * VERIFY_RUNS or again != alone[:1] * RECHECK_RUNS:
            outcome.detail = (f"not reproduced: {_names(culprits)} then the victim flipped it during the "
                              f"bisection but not every time again ({', '.join(after)} after it; "
                              f"{', '.join(again)} alone)")
            return outcome
    except PytestTimeout as exc:
        return Outcome(target, "skipped", detail=str(exc), runs=outcome.runs)
    proven = Target(node, kind, list(prefix), "proven", victim.suite)
    then = "passes" if brittle else "fails"
    n_after, n_alone = 1 + VERIFY_RUNS, ALONE_RUNS + RECHECK_RUNS
    return Outcome(proven, "proven", culprits=list(culprits), runs=outcome.runs,
                   detail=(f"{_names(culprits)} then victim {then} ({n_after}/{n_after}); "
                           f"victim alone {alone_word} ({n_alone}/{n_alone}); narrowed from {where}"))


def _names(tests: Sequence[str]) -> str:
    if len(tests) == 1:
        return tests[0]
    return f"{len(tests)} tests ({', '.join(tests[:3])}{' …' if len(tests) > 3 else ''})"


# ---- where the victims and their stored orders come from ----------------------------------


def victims_from_db(engine, project: str, *, only: str | None = None, again: bool = False,
                    limit: int = DEFAULT_VICTIMS) -> UnexplainedVictims:
    """Return ``project``'s flaky tests without a suspect or verdict, after bringing its analysis up to date.

    ``only`` picks one node id (it must be flaky: else LookupError); ``again`` keeps those that already
    have a verdict. See ``dashboard.analysis.unexplained.unexplained_victims``.
    """
    from sqlalchemy.orm import Session

    from dashboard.analysis.unexplained import unexplained_victims

    project_id = refreshed_project(engine, project)
    with Session(engine) as session:
        return unexplained_victims(session, project_id, victim=only, again=again, limit=limit)


def victims_from_server(server: str, project: str, token: str | None, *, only: str | None = None,
                        again: bool = False, limit: int = DEFAULT_VICTIMS) -> UnexplainedVictims:
    """Return the same from a server: GET /api/v1/projects/<p>/unexplained (at most MAX_VICTIMS)."""
    query: dict[str, object] = {"limit": min(limit, MAX_VICTIMS)}
    if only is not None:
        query["victim"] = only
    if again:
        query["again"] = 1
    url = f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/unexplained?{urlencode(query)}"
    body = _http_json("GET", url, token)
    try:
        return UnexplainedVictims.from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ServerError(f"GET {url}: not an answer of suitehealth's unexplained API ({exc!r})") from None
