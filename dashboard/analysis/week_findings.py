"""The as-of findings of a project at its week boundaries, stored by the worker, read by the weekly review.

The weekly review compares flaky and broken tests and interference suspects as of this week's end
and the previous week's end. Computed per request that is a replay of the whole history through
``history.Analyzer`` (minutes at millions of results); here the worker does it once per boundary:

* ``refresh_week_findings`` (called by ``updates.refresh_project`` under the per-project refresh
  lock) replays the runs in the same order as ``history.analyse_until`` and, at each Monday 00:00
  UTC that ends or starts a week with runs, stores what ``flaky.flaky_tests``,
  ``flaky.broken_tests`` and ``interference.find_suspects`` would answer with ``until=`` that
  boundary (``WeekFindings``, one JSON row per boundary in ``week_findings``).
* The same replay passes every midnight of a week that has ended: for the ``DAILY_WEEKS`` most
  recent weeks it stores there the flaky and broken tests only (the interference analysis costs
  seconds per point at millions of results), so ``/flaky?until=`` any such day reads a row too.
* A row names the runs it was computed from (count, sum and max of the ids of the runs started
  before the boundary). A run stored later that started before the boundary (a late upload, a
  backfill) or a deleted run changes that, and the row is no longer used: the page computes as
  before, and the worker's next pass drops the row and stores it anew.
* Each pass that has boundaries to store replays from the first run (about once a week per
  project, and after a late run). The first pass on an upgraded database stores every week's
  boundaries at once: at 5 million results, tens of minutes in the background.
* ``flaky_as_of``, ``broken_as_of`` and ``suspects_as_of`` answer from a valid row and otherwise
  from the replay (the worker is behind or has not run); ``review_source`` tells the page which.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from dashboard.analysis import flaky, interference
from dashboard.analysis.flaky import BrokenTest, FlakyTest, SignatureGroup
from dashboard.analysis.history import Analyzer, RunInfo, iter_results, iter_runs, live_answers
from dashboard.analysis.interference import Suspect, Undecidable
from dashboard.analysis.weeks import Week, week_of
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from ingest.analysis_models import WeekFindingsRow
from ingest.db import write_transaction
from ingest.models import Run

log = logging.getLogger(__name__)
T = TypeVar("T")

# How many weeks back from its newest run a project's midnights are stored besides its Mondays (those
# are stored for every week with runs: the weekly review of any week reads them).
DAILY_WEEKS = 12
# A boundary is stored this long after it passed: runs started just before it are still uploading
# (each one started before a stored boundary makes the worker replay the history again).
SETTLE = timedelta(hours=1)
# The JSON form's version: a row written by another version is not used (and is stored anew).
FORMAT = 3


# ---- the findings and their JSON form -------------------------------------------------------

@dataclass
class WeekFindings:
    """What the flakiness and interference analyses find in the runs started before ``boundary``."""

    boundary: datetime
    flaky: list[FlakyTest]
    broken: list[BrokenTest]
    # Without ``suitehealth confirm`` verdicts: those are attached when read (they change any time).
    # None at a midnight that is not a Monday: only the flaky and broken tests are stored there.
    suspects: list[Suspect] | None
    # The victims the history cannot decide about, beside the suspects (None: not stored).
    notes: list[Undecidable] | None = None

    def to_json(self) -> dict:
        return {"format": FORMAT, "boundary": self.boundary.isoformat(),
                "flaky": [_dump(f) for f in self.flaky], "broken": [_dump(b) for b in self.broken],
                "suspects": None if self.suspects is None else [_dump(s) for s in self.suspects],
                "notes": None if self.notes is None else [asdict(n) for n in self.notes]}

    @classmethod
    def from_json(cls, data: dict) -> WeekFindings:
        flaky_tests = []
        for raw in data["flaky"]:
            f = _load(FlakyTest, raw)
            f.signatures = [_load(SignatureGroup, g) for g in raw["signatures"]]
            flaky_tests.append(f)
        return cls(boundary=_parse(data["boundary"]), flaky=flaky_tests,
                   broken=[_load(BrokenTest, b) for b in data["broken"]],
                   suspects=None if data["suspects"] is None
                   else [_load(Suspect, s) for s in data["suspects"]],
                   notes=None if data.get("notes") is None else [Undecidable(**n) for n in data["notes"]])


# Fields holding datetimes, per type (everything else is JSON as it is).
_DATETIMES = {
    FlakyTest: {"first_seen", "last_flake"},
    SignatureGroup: {"last_seen_at"},
    BrokenTest: {"since_at", "last_seen"},
    Suspect: {"first_seen_at", "last_seen_at"},
}


def _dump(item) -> dict:
    out = asdict(item)
    for cls, names in _DATETIMES.items():
        if isinstance(item, cls):
            for name in names:
                out[name] = iso(out[name])
    if isinstance(item, FlakyTest):
        out["signatures"] = [_dump(g) for g in item.signatures]
    return out


def _load(cls, raw: dict):
    dates = _DATETIMES[cls]
    values = {name: (_parse(raw[name]) if name in dates else raw[name])
              for name in _FIELDS[cls] if name in raw}
    return cls(**values)


_FIELDS = {cls: tuple(f.name for f in fields(cls)) for cls in _DATETIMES}


def iso(value: datetime | None) -> str | None:
    """``value.isoformat()``, None for None (the stored rows' and the review's JSON-ready dates)."""
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return None if value is None else utc(datetime.fromisoformat(value))


# ---- which runs a boundary's findings come from -----------------------------------------------

def fingerprint(count: int, id_sum: int, id_max: int | None) -> str:
    """Return the fingerprint of a set of runs from its size, id sum and largest id."""
    return f"{FORMAT}:{count}:{id_sum}:{id_max or 0}"


def inputs_before(session: Session, project_id: int, boundary: datetime) -> str:
    """Return the fingerprint of the project's runs started before ``boundary`` (one indexed query)."""
    return fingerprint(*runs_before(session, project_id, boundary))


def runs_before(session: Session, project_id: int, boundary: datetime) -> tuple[int, int, int | None]:
    """Return the count, id sum and largest id of the project's runs started before ``boundary``."""
    count, id_sum, id_max = session.execute(
        select(func.count(Run.id), func.sum(Run.id), func.max(Run.id))
        .where(Run.project_id == project_id, Run.started_at < boundary)
    ).one()
    return int(count or 0), int(id_sum or 0), id_max


def runs_before_each(runs: list[RunInfo], boundaries: list[datetime]) -> dict[datetime, tuple]:
    """Return boundary -> ``runs_before`` of it, from the project's runs read once (in start order)."""
    out: dict[datetime, tuple] = {}
    count = id_sum = 0
    id_max: int | None = None
    i = 0
    for boundary in sorted(boundaries):
        while i < len(runs) and runs[i].started_at < boundary:
            count += 1
            id_sum += runs[i].id
            id_max = max(id_max or 0, runs[i].id)
            i += 1
        out[boundary] = (count, id_sum, id_max)
    return out


def wanted_boundaries(runs: list[RunInfo], now: datetime) -> list[datetime]:
    """Return the boundaries the worker stores, passed by ``SETTLE`` at ``now``: those a weekly
    review of the runs' weeks asks about (a week's end and its start, the previous week's end), and
    each midnight of such a week in the ``DAILY_WEEKS`` up to the newest run's once it has ended
    (the replay that stores its end passes them anyway).
    """
    if not runs:
        return []
    recent = week_of(max(run.started_at for run in runs)).shifted(-DAILY_WEEKS).start
    settled = now - SETTLE
    weeks = {week_of(run.started_at) for run in runs}
    wanted = {b for w in weeks for b in (w.start, w.end)}
    wanted |= {w.start + timedelta(days=d) for w in weeks if w.start >= recent and w.end <= settled
               for d in range(1, 7)}
    return sorted(b for b in wanted if b <= settled)


def with_suspects(boundary: datetime) -> bool:
    """Return whether the findings stored at ``boundary`` include the suspects (Mondays only)."""
    return boundary.weekday() == 0


# ---- reading --------------------------------------------------------------------------------

def _valid_row(session: Session, project_id: int, boundary: datetime, *, stale: bool = False
               ) -> tuple | None:
    """Return the key of the row stored at ``boundary`` if it describes exactly today's runs before it
    (with ``stale``, whatever runs it describes)."""
    row = session.execute(select(WeekFindingsRow.fingerprint, WeekFindingsRow.computed_at).where(
        WeekFindingsRow.project_id == project_id, WeekFindingsRow.boundary == boundary)).one_or_none()
    if row is None or (not stale and row[0] != inputs_before(session, project_id, boundary)):
        return None
    return (project_id, boundary, *row)


def parsed_row(data, version: int, from_json: Callable[[dict], T]) -> T | None:
    """Return a stored row's JSON read by ``from_json``, or None when it is not the shape this version
    writes (another ``format`` than ``version``, edited by hand, damaged): the page then computes it."""
    if not isinstance(data, dict) or data.get("format") != version:
        return None
    try:
        return from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def results_before(session: Session, project_id: int, moment: datetime) -> int:
    """Return how many results the project's runs started before ``moment`` hold (what a replay reads)."""
    return int(session.scalar(select(func.coalesce(func.sum(Run.tests), 0)).where(
        Run.project_id == project_id, Run.started_at < moment)) or 0)


def too_big_to_replay(session: Session, project_id: int, moment: datetime, settings: Settings) -> bool:
    """Return whether judging the history before ``moment`` is more than a request replays."""
    return results_before(session, project_id, moment) > settings.replay_limit


def stored_findings(session: Session, project_id: int, boundary: datetime, *, stale: bool = False
                    ) -> WeekFindings | None:
    """Return the stored findings at ``boundary`` if they describe exactly today's runs before it.

    ``stale`` takes the row whatever runs it describes: what the weekly review shows, labelled, while
    the worker stores it again after a late run, when a replay in the request would take too long.
    """
    boundary = utc(boundary)
    key = _valid_row(session, project_id, boundary, stale=stale)
    if key is None:
        return None
    # A review reads each boundary several times (flaky, broken, suspects): parsed once per session.
    memo = session.info.setdefault("week_findings", {})
    if key not in memo:
        data = session.scalar(select(WeekFindingsRow.findings).where(
            WeekFindingsRow.project_id == project_id, WeekFindingsRow.boundary == boundary))
        memo[key] = parsed_row(data, FORMAT, WeekFindings.from_json)
    found = memo[key]
    if found is None:
        return None
    # Verdicts are attached to the suspects (their polluters reordered): those are copied each time.
    suspects = None if found.suspects is None else [replace(s, polluters=list(s.polluters))
                                                    for s in found.suspects]
    return WeekFindings(found.boundary, found.flaky, found.broken, suspects, found.notes)


def _stored_for(session: Session, project_id: int, window: Window,
                settings: Settings | None = None) -> WeekFindings | None:
    """Return the stored findings answering ``window`` ("everything before a boundary"), if valid; with
    ``settings``, a stale row too when the history before it is too big to replay (``review_source``)."""
    if window.since is not None or window.until is None:
        return None
    found = stored_findings(session, project_id, window.until)
    if found is None and settings is not None and too_big_to_replay(session, project_id, window.until,
                                                                    settings):
        found = stored_findings(session, project_id, window.until, stale=True)
    return found


def flaky_as_of(session: Session, project_id: int, window: Window,
                settings: Settings | None = None) -> list[FlakyTest]:
    """Return ``flaky.flaky_tests(...)``, from the stored findings when they are valid."""
    found = _stored_for(session, project_id, window, settings)
    return found.flaky if found is not None else flaky.flaky_tests(session, project_id, window, settings)


def broken_as_of(session: Session, project_id: int, window: Window,
                 settings: Settings | None = None) -> list[BrokenTest]:
    """Return ``flaky.broken_tests(...)``, from the stored findings when they are valid."""
    found = _stored_for(session, project_id, window, settings)
    return found.broken if found is not None else flaky.broken_tests(session, project_id, window, settings)


def suspects_as_of(session: Session, project_id: int, window: Window,
                   settings: Settings | None = None) -> list[Suspect]:
    """Return ``interference.find_suspects(...)``, from the stored findings when they are valid."""
    found = _stored_for(session, project_id, window, settings)
    if found is None or found.suspects is None:
        return interference.find_suspects(session, project_id, window, settings)
    suspects, _ = interference.with_verdicts(session, project_id, found.suspects, [], window)
    return suspects


def suspects_and_notes_as_of(session: Session, project_id: int, window: Window,
                             settings: Settings | None = None) -> tuple[list[Suspect], list[Undecidable]]:
    """Return ``interference.suspects_and_notes(...)``, from the stored findings at ``window.until``
    when they are valid (a ``since`` only filters what that replay finds, so it may be given)."""
    found = None if window.until is None else stored_findings(session, project_id, window.until)
    if found is None or found.suspects is None or found.notes is None:
        return interference.suspects_and_notes(session, project_id, window, settings)
    return interference.with_verdicts(session, project_id, found.suspects, found.notes, window)


def flaky_and_broken_as_of(session: Session, project_id: int, window: Window,
                           settings: Settings | None = None, *, suite: str | None = None
                           ) -> tuple[list[FlakyTest], list[BrokenTest]]:
    """Return ``flaky.flaky_and_broken(...)``; from the stored findings when ``window.until`` is a
    stored boundary (a ``since`` then keeps what was seen since, as the replay would)."""
    found = None if window.until is None else stored_findings(session, project_id, window.until)
    if found is None:
        return flaky.flaky_and_broken(session, project_id, window, settings, suite=suite)
    tests, broken = found.flaky, found.broken
    if suite is not None:
        tests, broken = [t for t in tests if t.suite == suite], [b for b in broken if b.suite == suite]
    return flaky.seen_since(tests, broken, window.since)


@dataclass(frozen=True)
class AsOf:
    """The moment an as-of page answers for: the one asked for, or the nearest stored one before it.

    ``results`` is what a replay of the asked moment would read, when that is more than ``limit``.
    """

    asked: datetime | None
    answered: datetime | None
    results: int = 0
    limit: int = 0

    @property
    def exact(self) -> bool:
        return self.asked == self.answered

    def as_json(self) -> dict:
        return {"asked": self.asked, "answered": self.answered, "exact": self.exact,
                "message": None if self.exact else self.describe()}

    def describe(self) -> str:
        return (f"shown as of {self.answered:%Y-%m-%d %H:%M} UTC, the nearest point the analysis worker "
                f"stored before {self.asked:%Y-%m-%d %H:%M} UTC: judging the {self.results:,} results "
                f"before the moment asked for is more than a page replays (REPLAY_LIMIT {self.limit:,})")


def as_of_point(session: Session, project_id: int, until: datetime | None, settings: Settings, *,
                suspects: bool = False) -> AsOf:
    """Return which moment a page asked about ``until`` answers for, without replaying too much.

    Exactly ``until`` when the question is live, a stored row answers it (with the suspects, when
    ``suspects``), or the history before it holds at most ``settings.replay_limit`` results (a replay
    in the request takes about 5 s per million results, more for the suspects). Otherwise the
    newest stored boundary before it that answers; without one, ``until`` (replayed after all).
    """
    if until is None or live_answers(until):
        return AsOf(until, until)
    until = utc(until)

    def answers(boundary: datetime) -> bool:
        found = stored_findings(session, project_id, boundary)
        if found is None:
            return False
        return not suspects or (found.suspects is not None and found.notes is not None)

    if answers(until):
        return AsOf(until, until)
    results = results_before(session, project_id, until)
    if results <= settings.replay_limit:
        return AsOf(until, until)
    for boundary in session.scalars(
            select(WeekFindingsRow.boundary)
            .where(WeekFindingsRow.project_id == project_id, WeekFindingsRow.boundary < until)
            .order_by(WeekFindingsRow.boundary.desc()).limit(8)):
        if answers(utc(boundary)):
            return AsOf(until, utc(boundary), results, settings.replay_limit)
    return AsOf(until, until)


def review_source(session: Session, project_id: int, week: Week, settings: Settings | None = None
                  ) -> str | None:
    """Return "stored" when the review of ``week`` reads stored findings, "stale" when it reads rows the
    worker is storing again (runs arrived late; too big to replay, see ``_stored_for``), "computed"
    when it replays the history, None when it needs none (a week without runs)."""
    busy = session.scalar(select(Run.id).where(
        Run.project_id == project_id, Run.started_at >= week.start, Run.started_at < week.end).limit(1))
    if busy is None:
        return None
    sources = set()
    for boundary in (week.start, week.end):
        # A boundary still to come (the week in progress) is answered by the stored live analysis.
        if live_answers(boundary) or stored_findings(session, project_id, boundary) is not None:
            sources.add("stored")
        elif _stored_for(session, project_id, Window.before(boundary), settings) is not None:
            sources.add("stale")
        else:
            sources.add("computed")
    return next(s for s in ("computed", "stale", "stored") if s in sources)


def stored_version(session: Session, project_id: int, week: Week) -> tuple:
    """Return what changes when the worker stores the findings a review of ``week`` reads."""
    return tuple(session.execute(
        select(WeekFindingsRow.boundary, WeekFindingsRow.fingerprint, WeekFindingsRow.computed_at)
        .where(WeekFindingsRow.project_id == project_id,
               WeekFindingsRow.boundary.in_([week.start, week.end]))
        .order_by(WeekFindingsRow.boundary)
    ).all())


def utc(moment: datetime) -> datetime:
    """``moment`` as stored (a database may give it back naive: it is UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- computing (the worker) -----------------------------------------------------------------

def findings_of(session: Session, analyzer: Analyzer, boundary: datetime) -> WeekFindings:
    """Return what the analyses answer from ``analyzer`` (the replay of the runs before ``boundary``).

    The same steps as ``flaky._states`` and ``interference.suspects_and_notes`` take on the
    ``until=`` path, without the verdicts (attached when read); suspects only at a Monday.
    """
    states, sigs = flaky.analyzer_states(session, analyzer)
    suspects, notes = interference.compute_from_analyzer(session, analyzer) if with_suspects(boundary) \
        else (None, None)
    return WeekFindings(boundary=boundary, flaky=flaky._flaky(states, sigs, None),
                        broken=flaky._broken(states, sigs, None), suspects=suspects, notes=notes)


def refresh_week_findings(engine: Engine, project_id: int, *, now: datetime | None = None) -> int:
    """Store the findings of the project's week boundaries that are missing or out of date; return
    how many were stored. The caller holds the project's refresh lock (``updates._one_analyser``).
    """
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        # One read of the runs: their fingerprints and the replay below agree by construction.
        runs = iter_runs(session, project_id)
        wanted = wanted_boundaries(runs, now)
        stored = dict(session.execute(
            select(WeekFindingsRow.boundary, WeekFindingsRow.fingerprint)
            .where(WeekFindingsRow.project_id == project_id)).all())
        current = {b: fingerprint(*counts) for b, counts in
                   runs_before_each(runs, sorted(set(wanted) | set(stored))).items()}
        missing = [b for b in wanted if stored.get(b) != current[b]]
        # Rows of runs that changed since (a late run, a deleted one) go; older weeks' rows stay.
        stale = [b for b, key in stored.items() if current[b] != key]
        if not missing and not stale:
            return 0
        computed = _replay(session, project_id, runs, missing) if missing else []
    stamp = datetime.now(UTC)
    drop = sorted(set(stale) | {f.boundary for f in computed})
    replace_rows(engine, WeekFindingsRow.boundary, project_id, drop,
                 [{"project_id": project_id, "boundary": f.boundary, "runs": _count(current[f.boundary]),
                   "fingerprint": current[f.boundary], "findings": f.to_json(), "computed_at": stamp}
                  for f in computed])
    if computed:
        log.info("project %s: stored the findings of %d week boundar%s", project_id, len(computed),
                 "y" if len(computed) == 1 else "ies")
    return len(computed)


def replace_rows(engine: Engine, key: InstrumentedAttribute, project_id: int, drop: list,
                 rows: list[dict]) -> None:
    """Delete the project's rows of ``key``'s table whose ``key`` is in ``drop``, insert ``rows``: one
    short write transaction (the stored rows of ``week_findings`` and ``week_parts``)."""
    table = key.class_
    with write_transaction(engine) as session:
        if drop:
            session.execute(delete(table).where(table.project_id == project_id, key.in_(drop)))
        if rows:
            session.execute(insert(table), rows)


def _count(key: str) -> int:
    return int(key.split(":")[1])


def _replay(session: Session, project_id: int, runs: list[RunInfo], missing: list[datetime]
            ) -> list[WeekFindings]:
    """Replay the runs in ``analyse_until``'s order and return the findings at each missing boundary.

    From the first run every time: the analyzer is not kept between passes (at millions of results
    it holds hundreds of megabytes, for a replay needed about once a week per project).
    """
    analyzer = Analyzer(project_id)
    todo = [r for r in runs if r.started_at < missing[-1]]
    out: list[WeekFindings] = []
    pending = list(missing)
    for n, (run, rows) in enumerate(iter_results(session, todo), 1):
        while pending and run.started_at >= pending[0]:
            out.append(findings_of(session, analyzer, pending.pop(0)))
            _trim(analyzer)
        analyzer.process(run, rows)
        if n % TRIM_EVERY == 0:
            _trim(analyzer)
    for boundary in pending:  # no run between these and the last one replayed: the same state
        out.append(findings_of(session, analyzer, boundary))
    return out


TRIM_EVERY = 200  # runs replayed between two trims of the processed runs


def _trim(analyzer: Analyzer) -> None:
    """Keep only the processed runs the interference analysis still looks at (the newest
    ``HISTORY_RUNS`` non-outage runs of each suite): a long-lived replay must not grow without end."""
    kept: dict[int, int] = defaultdict(int)
    keep = []
    for entry in reversed(analyzer.processed):
        run, outage, _ = entry
        if outage or kept[run.suite_id] >= interference.HISTORY_RUNS:
            continue
        kept[run.suite_id] += 1
        keep.append(entry)
    keep.reverse()
    analyzer.processed = keep
