"""Walk a project's runs once, in order, and keep the flakiness state and execution orders.

``Analyzer`` is the one place where runs become evidence. ``updates.refresh_project`` feeds it
new runs and stores what it holds; the ``until=`` paths feed it all runs before a date and read it
in memory. Both therefore answer the same way.
"""

from __future__ import annotations

import copy
import dataclasses
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dashboard.analysis import flakestate
from dashboard.analysis.signatures import normalise, signature_hash
from ingest.analysis_models import AnalysedRun
from ingest.models import Result, Run
from ingest.records import BAD_OUTCOMES, PASSED

# A run where at least this share of its tests (and at least OUTAGE_MIN of them) failed is an
# outage (CI infrastructure, a dead database): its failures say nothing about single tests.
OUTAGE_SHARE = 0.5
OUTAGE_MIN = 5
RUN_BATCH = 100
# At most this many results are read at once (fewer runs per batch when runs are large): a batch
# is held in memory whole, as rows and as tuples, while its runs are processed.
RESULT_BATCH = 50_000


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    suite_id: int
    started_at: datetime
    commit: str | None
    tests: int
    bad: int


@dataclass
class Signature:
    signature: str
    example: str | None
    count: int = 0
    last_run_id: int | None = None
    last_seen_at: datetime | None = None


class CommitOutcomes:
    """What the tests did on one commit (of one suite) in the runs processed so far.

    Sorted arrays of test ids, not a set per test: a replay keeps one of these per commit, and
    most commits are never run again.
    """

    __slots__ = ("passed", "failed")

    def __init__(self, passed: Iterable[int] = (), failed: Iterable[int] = ()) -> None:
        self.passed = array("q", sorted(set(passed)))
        self.failed = array("q", sorted(set(failed)))

    def has_passed(self, test_id: int) -> bool:
        return _contains(self.passed, test_id)

    def has_failed(self, test_id: int) -> bool:
        return _contains(self.failed, test_id)

    def add(self, passed: Iterable[int], failed: Iterable[int]) -> None:
        """Add one run's passes and failures (new arrays: a snapshot may share the old ones)."""
        self.passed = array("q", sorted(set(self.passed).union(passed)))
        self.failed = array("q", sorted(set(self.failed).union(failed)))

    def copy(self) -> CommitOutcomes:
        out = CommitOutcomes()
        out.passed, out.failed = self.passed, self.failed
        return out


def _contains(ids: array, test_id: int) -> bool:
    i = bisect_left(ids, test_id)
    return i < len(ids) and ids[i] == test_id


@dataclass
class Analyzer:
    """In-memory flakiness state of one project, updated one run at a time."""

    project_id: int
    states: dict[tuple[int, int], dict] = field(default_factory=dict)
    signatures: dict[tuple[int, int, str], Signature] = field(default_factory=dict)
    # (suite_id, commit) -> what each test did on that commit in earlier runs.
    commits: dict[tuple[int, str], CommitOutcomes] = field(default_factory=dict)
    # run_id -> (RunInfo, outage, sequence) for the runs processed by this analyzer.
    processed: list[tuple[RunInfo, bool, dict]] = field(default_factory=list)
    touched: set[tuple[int, int]] = field(default_factory=set)
    # One int object per test id and one tuple per untimed (test id, bad) entry, shared by every
    # processed run's sequence: the rows bring a new object per result.
    _shared: dict = field(default_factory=dict, repr=False, compare=False)

    def process(self, run: RunInfo, rows: list[tuple]) -> None:
        """Apply one run's results: rows of (test_id, outcome, attempt, final, order_index,
        worker_id, start_ts, stop_ts, message)."""
        outage = is_outage(run.tests, run.bad)
        sequence = build_sequence(rows, self._shared)
        self.processed.append((run, outage, sequence))
        if outage:
            return
        ts = run.started_at.isoformat()
        finals: dict[int, tuple] = {}
        rerun_bad: set[int] = set()
        for row in rows:
            if row[3]:
                finals[row[0]] = row
            elif row[1] in BAD_OUTCOMES:
                rerun_bad.add(row[0])
        seen = self.commits.get((run.suite_id, run.commit)) if run.commit else None
        # Each test has one final result per run, so this run's outcomes join the commit's at the end.
        passed: list[int] = []
        failed: list[int] = []
        for test_id, row in finals.items():
            outcome = row[1]
            if outcome in BAD_OUTCOMES:
                bad = True
            elif outcome == PASSED:
                bad = False
            else:
                continue
            key = (run.suite_id, test_id)
            state = self.states.get(key)
            if state is None:
                state = self.states[key] = flakestate.new_state(ts)
            flakestate.update(
                state,
                run_id=run.id,
                ts=ts,
                bad=bad,
                rerun_flake=(not bad and (row[2] > 1 or test_id in rerun_bad)),
                commit_pass_before=bad and seen is not None and seen.has_passed(test_id),
                commit_fail_before=(not bad) and seen is not None and seen.has_failed(test_id),
            )
            self.touched.add(key)
            (failed if bad else passed).append(test_id)
            if bad or test_id in rerun_bad:
                self._add_signature(run, test_id, row[8] if bad else _first_bad_message(rows, test_id))
        if run.commit:
            if seen is None:
                self.commits[(run.suite_id, run.commit)] = CommitOutcomes(passed, failed)
            else:
                seen.add(passed, failed)

    def _add_signature(self, run: RunInfo, test_id: int, message: str | None) -> None:
        sig = normalise(message)
        key = (run.suite_id, test_id, signature_hash(sig))
        entry = self.signatures.get(key)
        if entry is None:
            entry = self.signatures[key] = Signature(sig, (message or "")[:500] or None)
        entry.count += 1
        entry.last_run_id = run.id
        entry.last_seen_at = run.started_at


def _first_bad_message(rows: list[tuple], test_id: int) -> str | None:
    return next((r[8] for r in rows if r[0] == test_id and r[1] in BAD_OUTCOMES), None)


def is_outage(tests: int, bad: int) -> bool:
    """Return whether a run failed broadly enough to be an infrastructure outage."""
    return tests > 0 and bad >= OUTAGE_MIN and bad / tests >= OUTAGE_SHARE


class TimedProc:
    """One process of a run with several workers and every start and stop time known, in columns.

    About 25 bytes a test where a (test_id, bad, start, stop) tuple costs 120: a replay holds the
    processes of hundreds of runs. ``entries`` is the stored (JSON) form.
    """

    __slots__ = ("ids", "flags", "starts", "stops")

    def __init__(self, ids: array, flags: bytes, starts: array, stops: array) -> None:
        self.ids = ids  # array("q")
        self.flags = flags  # 1 bad, 0 passed, 2 neither (None in the stored form)
        self.starts = starts  # array("d")
        self.stops = stops  # array("d")

    def __len__(self) -> int:
        return len(self.ids)

    def bads(self) -> list[int | None]:
        return [_FLAGS[f] for f in self.flags]

    def entries(self) -> list[list]:
        return [list(e) for e in zip(self.ids.tolist(), self.bads(), self.starts.tolist(),
                                      self.stops.tolist(), strict=True)]


_FLAGS = (0, 1, None)


def build_sequence(rows: list[tuple], shared: dict | None = None) -> dict:
    """Return the run's first attempts per process, in execution order, in compact form.

    Single-process runs keep the report order (order_index); xdist workers are ordered by start
    time when every case has one, else by order_index. A process is a list of (test_id, bad) or,
    when several workers ran at once, a ``TimedProc`` of (test_id, bad, start, stop) for the
    concurrency analysis; ``sequence_json`` gives the stored form. ``shared`` (kept by the caller
    across runs) makes every run use the same test id objects and (test_id, bad) tuples.
    """
    if shared is None:
        shared = {}
    procs: dict[str | None, list[tuple]] = defaultdict(list)
    for row in rows:
        if row[2] != 1:
            continue  # reruns run right after the failure; the first attempt is the evidence
        procs[row[5]].append(row)
    timed = len(procs) > 1 and all(r[6] is not None and r[7] is not None for p in procs.values() for r in p)
    out: list = []
    for worker in sorted(procs, key=lambda w: (w is None, w or "")):
        members = procs[worker]
        members.sort(key=(lambda r: (r[6], r[4])) if timed else (lambda r: r[4]))
        bads = [1 if r[1] in BAD_OUTCOMES else 0 if r[1] == PASSED else None for r in members]
        # Columns only hold floats as they are: the stored form must not change (an int stays one).
        if timed and all(type(r[6]) is float and type(r[7]) is float for r in members):
            out.append(TimedProc(array("q", [r[0] for r in members]), bytes(_FLAGS.index(b) for b in bads),
                                 array("d", [r[6] for r in members]), array("d", [r[7] for r in members])))
            continue
        entries = []
        for r, bad in zip(members, bads, strict=True):
            tid = shared.setdefault(r[0], r[0])
            entries.append((tid, bad, r[6], r[7]) if timed else shared.setdefault((tid, bad), (tid, bad)))
        out.append(entries)
    return {"procs": out, "workers": [w for w in sorted(procs, key=lambda w: (w is None, w or ""))]}


def sequence_json(sequence: dict) -> dict:
    """Return a sequence of ``build_sequence`` in its stored form: lists of [test_id, bad(, start, stop)]."""
    return {"procs": [proc.entries() if isinstance(proc, TimedProc) else [list(e) for e in proc]
                      for proc in sequence["procs"]],
            "workers": list(sequence["workers"])}


def iter_runs(
    session: Session,
    project_id: int,
    *,
    after_id: int = 0,
    until: datetime | None = None,
    since: datetime | None = None,
    unanalysed_only: bool = False,
) -> list[RunInfo]:
    """Return the project's runs after ``after_id`` (started in [``since``, ``until``)) in time order.

    ``unanalysed_only`` keeps the runs without an ``analysed_runs`` row.
    """
    query = select(
        Run.id, Run.suite_id, Run.started_at, Run.commit, Run.tests, Run.failed + Run.errors
    ).where(Run.project_id == project_id, Run.id > after_id)
    if unanalysed_only:
        query = query.where(~select(AnalysedRun.run_id).where(AnalysedRun.run_id == Run.id).exists())
    if until is not None:
        query = query.where(Run.started_at < until)
    if since is not None:
        query = query.where(Run.started_at >= since)
    return [RunInfo(*row) for row in session.execute(query.order_by(Run.started_at, Run.id)).all()]


def iter_results(session: Session, runs: list[RunInfo]) -> Iterator[tuple[RunInfo, list[tuple]]]:
    """Yield each run with its result rows, reading results a batch of runs at a time."""
    for batch in _batches(runs):
        by_run: dict[int, list[tuple]] = defaultdict(list)
        # Core rows, not ORM: this reads the whole history on a full analysis. Messages of
        # passing results are never needed, so they are not transferred.
        t = Result.__table__.c
        rows = session.connection().execute(
            select(
                t.run_id,
                t.test_id,
                t.outcome,
                t.attempt,
                t.final,
                t.order_index,
                t.worker_id,
                t.start_ts,
                t.stop_ts,
                case((t.outcome.in_(BAD_OUTCOMES), t.message), else_=None),
            ).where(t.run_id.in_([r.id for r in batch]))
        )
        for row in rows:  # row by row: a batch is held once, as tuples
            by_run[row[0]].append(tuple(row[1:]))
        for run in batch:
            yield run, by_run.pop(run.id, [])


def _batches(runs: list[RunInfo]) -> Iterator[list[RunInfo]]:
    """Split ``runs`` (in order) into batches of at most RUN_BATCH runs and about RESULT_BATCH results."""
    batch: list[RunInfo] = []
    size = 0
    for run in runs:
        if batch and (len(batch) >= RUN_BATCH or size + run.tests > RESULT_BATCH):
            yield batch
            batch, size = [], 0
        batch.append(run)
        size += run.tests
    if batch:
        yield batch


def load_commit_outcomes(
    session: Session, project_id: int, runs: Iterable[RunInfo], before_id: int
) -> dict[tuple[int, str], CommitOutcomes]:
    """Return, for the commits of ``runs``, what each test did on that commit in earlier analysed runs."""
    commits = {r.commit for r in runs if r.commit}
    if not commits:
        return {}
    rows = session.execute(
        select(Run.suite_id, Run.commit, Result.test_id, Result.outcome)
        .join(Result, Result.run_id == Run.id)
        .join(AnalysedRun, AnalysedRun.run_id == Run.id)
        .where(
            Run.project_id == project_id,
            Run.commit.in_(commits),
            Run.id <= before_id,
            AnalysedRun.outage.is_(False),
            Result.final,
        )
    ).all()
    found: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
    for suite_id, commit, test_id, outcome in rows:
        if outcome in BAD_OUTCOMES or outcome == PASSED:
            passed, failed = found.setdefault((suite_id, commit), ([], []))
            (failed if outcome in BAD_OUTCOMES else passed).append(test_id)
    return {key: CommitOutcomes(passed, failed) for key, (passed, failed) in found.items()}


# The as-of path (weekly review: this week and last, flaky and broken and suspects) asks for the
# same history several times in a row; keep the last few analyses, keyed so new runs invalidate.
# Cached analyzers are never changed afterwards: a later ``until`` resumes from a copy.
_AS_OF: dict[tuple, Analyzer] = {}
AS_OF_CACHE = 4
# While replaying up to ``until``, keep the state one week earlier too: the weekly review asks for
# this week's end and then last week's, and the second answer then costs a copy, not a replay.
CHECKPOINT = timedelta(days=7)


def live_answers(until: datetime | None, now: datetime | None = None) -> bool:
    """Return whether "as of ``until``" is the live question, answered by the stored analysis.

    So it is when ``until`` has not come yet (the week in progress, ``?until=`` today or later):
    every run so far is before it, as the stored analysis judges them, in the order they arrived
    (its lag is shown beside it). A ``until`` that has passed is replayed in start order, or read
    from the week findings the worker stored that way; a late run may order the two differently.
    """
    return until is None or until > (now or datetime.now(UTC))


def analyse_until(session: Session, project_id: int, until: datetime | None) -> Analyzer:
    """Return the analysis of the whole history before ``until`` (the as-of path).

    Resumes from a cached analysis of an earlier ``until`` when there is one; the runs are
    processed in the same order either way, so the answer is the same as a replay from scratch.
    """
    latest = session.scalar(select(func.max(Run.id)).where(Run.project_id == project_id))
    base = (str(session.get_bind().engine.url), project_id, latest)
    if (*base, until) in _AS_OF:
        return _AS_OF[(*base, until)]
    earlier = [k[3] for k in _AS_OF
               if until is not None and k[:3] == base and k[3] is not None and k[3] < until]
    start = max(earlier, default=None)
    analyzer = snapshot(_AS_OF[(*base, start)]) if start is not None else Analyzer(project_id)
    checkpoint = until - CHECKPOINT if until is not None else None
    if checkpoint is not None and (
            start is not None and checkpoint <= start or (*base, checkpoint) in _AS_OF):
        checkpoint = None
    for run, rows in iter_results(session, iter_runs(session, project_id, since=start, until=until)):
        if checkpoint is not None and run.started_at >= checkpoint:
            _remember((*base, checkpoint), snapshot(analyzer))
            checkpoint = None
        analyzer.process(run, rows)
    if checkpoint is not None:
        _remember((*base, checkpoint), analyzer)  # no run in the last week: the same state
    _remember((*base, until), analyzer)
    return analyzer


def _remember(key: tuple, analyzer: Analyzer) -> None:
    _AS_OF.pop(key, None)
    while len(_AS_OF) >= AS_OF_CACHE:
        _AS_OF.pop(next(iter(_AS_OF)))
    _AS_OF[key] = analyzer


def snapshot(analyzer: Analyzer) -> Analyzer:
    """Return a copy of ``analyzer`` that can go on processing runs without changing the original."""
    # Processed runs and their sequences are never changed once built, so they are shared.
    return Analyzer(
        analyzer.project_id,
        states=copy.deepcopy(analyzer.states),
        signatures={k: dataclasses.replace(v) for k, v in analyzer.signatures.items()},
        commits={k: outcomes.copy() for k, outcomes in analyzer.commits.items()},
        processed=list(analyzer.processed),
        touched=set(analyzer.touched),
    )
