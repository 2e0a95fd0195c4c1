"""Store parsed reports: one run per call, in one transaction, idempotent on content.

The store is authoritative for attempts: a test that appears several times in one run (a rerun
in the same file, a Surefire flakyFailure, the same test in two shards) gets attempts 1..n in
arrival order, and only the last attempt is ``final`` and counts towards the totals.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import islice, repeat
from operator import itemgetter
from typing import TYPE_CHECKING

from ingest import records as R
from ingest.db import ensure_schema
from ingest.limits import bounded_batch, bounded_report_meta, bounded_run_meta
from ingest.records import CaseRecord, ParsedReport, ReportMeta, RunMeta
from ingest.sources import ReportSource
from ingest.sqlexec import (
    DATETIME,
    JSON,
    CoreExecutor,
    Executor,
    SqliteExecutor,
    stored_datetime,
    stored_json,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from ingest.models import Project, Run, Suite

# Storing a run needs neither the ORM nor the models (~0.13 s CPU to import and configure), nor, on
# an up-to-date SQLite file, SQLAlchemy at all: the SQL below is text with :name parameters that
# runs on either (ingest.sqlexec). The tables, as ingest.models names them (a test checks):
RUNS, TESTS, RESULTS = "runs", "tests", "results"

# Cases per INSERT batch: bigger batches were not faster, and each costs ~1 MB per 1,000 cases.
BATCH_SIZE = 2000
_MARKERS = itemgetter(CaseRecord._fields.index("markers"))
_NAME = itemgetter(CaseRecord._fields.index("name"))
_FILE = itemgetter(CaseRecord._fields.index("file"))
_CLASSNAME = itemgetter(CaseRecord._fields.index("classname"))
_NODEID_AT = CaseRecord._fields.index("nodeid")
_OUTCOME_AT = CaseRecord._fields.index("outcome")
# Result columns that are often NULL for a whole batch: (column, CaseRecord field, its index).
_OPTIONAL = tuple(
    (column, field, CaseRecord._fields.index(field))
    for column, field in (
        ("duration_s", "duration_s"), ("setup_s", "setup_s"), ("call_s", "call_s"),
        ("teardown_s", "teardown_s"), ("worker_id", "worker_id"), ("start_ts", "start"),
        ("stop_ts", "stop"), ("message", "message"), ("details", "details"),
    )
)
_PHASES = {"setup_s": 1, "call_s": 2, "teardown_s": 3}
MAX_MESSAGE = 4_000
MAX_HOSTNAMES = 20
MAX_WARNINGS = 20
MAX_DETAILS = 32_000
# SQLite caps bound variables per statement: 32,766 since 3.32, 999 before.
_SQLITE_IN_CHUNK = 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest stored (or found already stored): the CLI's and API's answer."""

    run_id: int
    project: str
    suite: str
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    xfailed: int
    xpassed: int
    reruns: int
    duration_s: float | None
    started_at: str
    duplicate: bool
    files: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


# A parse function turns one opened source into a ParsedReport (see ingest.formats.parse).
ParseFn = Callable[[str, object], ParsedReport]


def ingest_sources(engine: Engine | SqliteExecutor, sources: Sequence[ReportSource], meta: RunMeta, *,
                   max_bytes: int | None = None, parse: ParseFn | None = None) -> IngestSummary:
    """Parse ``sources`` as ONE run and store it; return the existing run if the content is known.

    ``engine`` is a SQLAlchemy engine (any database, migrated first if behind) or a bare sqlite3
    connection to a file at the newest schema (``ingest.db.open_current_sqlite``). Raises an
    IngestError subclass (naming the file) on bad input; nothing is stored then.
    """
    if parse is None:
        from ingest.formats import parse
    if not sources:
        raise ValueError("no report files given")
    meta = bounded_run_meta(meta)
    _ensure_schema(engine)
    content_hash = combined_hash(sources, max_bytes)
    existing = find_duplicate(engine, meta, content_hash)
    if existing is not None:
        return existing

    def reports() -> Iterator[ParsedReport]:
        for source in sources:
            with source.open(max_bytes) as fh:
                yield parse(source.name, fh)

    try:
        return store_reports(engine, meta, reports(), content_hash=content_hash)
    except _integrity_errors(engine):
        # Another writer stored the same content between our check and our insert.
        existing = find_duplicate(engine, meta, content_hash)
        if existing is None:
            raise
        return existing


def combined_hash(sources: Sequence[ReportSource], max_bytes: int | None = None) -> str:
    """Hash every file's content; the order of shards does not change the run's identity."""
    parts = sorted(source.content_hash(max_bytes) for source in sources)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def find_duplicate(engine: Engine | SqliteExecutor, meta: RunMeta, content_hash: str) -> IngestSummary | None:
    """Return the summary of the run already stored with this content, if any."""
    with _reading(engine) as db:
        # A plain id query first: in a backfill nearly every run is new, and loading nothing is cheap.
        params = {"project": meta.project, "suite": meta.suite, "hash": content_hash}
        run_id = db.scalar(_DUPLICATE_SQL, params)
        if run_id is None:
            return None
        row = dict(zip(_SUMMARY_COLUMNS, db.rows(_SUMMARY_SQL, {"run": run_id})[0], strict=True))
    return IngestSummary(
        run_id=row["id"], project=row["project"], suite=row["suite"], tests=row["tests"],
        passed=row["passed"], failed=row["failed"], errors=row["errors"], skipped=row["skipped"],
        xfailed=row["xfailed"], xpassed=row["xpassed"], reruns=row["reruns"], duration_s=row["duration_s"],
        started_at=_aware(stored_datetime(row["started_at"])).isoformat(), duplicate=True,
        files=len(stored_json(row["sources"]) or []),
    )


def _ensure_schema(engine: Engine | SqliteExecutor) -> None:
    # A bare sqlite3 connection is only ever opened on a file already at the newest schema.
    if not isinstance(engine, SqliteExecutor):
        ensure_schema(engine)


def _integrity_errors(engine: Engine | SqliteExecutor) -> tuple[type[Exception], ...]:
    if isinstance(engine, SqliteExecutor):
        return (sqlite3.IntegrityError,)
    from sqlalchemy.exc import IntegrityError

    return (IntegrityError,)


@contextmanager
def _reading(engine: Engine | SqliteExecutor) -> Iterator[Executor]:
    if isinstance(engine, SqliteExecutor):
        yield engine
        return
    with engine.connect() as conn:
        yield CoreExecutor(conn)


@contextmanager
def _writing(engine: Engine | SqliteExecutor) -> Iterator[Executor]:
    """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success, else rolled back."""
    if isinstance(engine, SqliteExecutor):
        with engine.transaction():
            yield engine
        return
    from ingest.db import write_connection

    with write_connection(engine) as conn:
        yield CoreExecutor(conn)


def store_reports(engine: Engine | SqliteExecutor, meta: RunMeta, reports: Iterable[ParsedReport], *,
                  content_hash: str | None = None) -> IngestSummary:
    """Store the cases of ``reports`` as one run of ``meta.project``/``meta.suite``, in ONE transaction.

    ``reports`` may be a generator; it is consumed inside the transaction, so a parse error
    half-way through any file rolls back everything.
    """
    meta = bounded_run_meta(meta)
    _ensure_schema(engine)
    with _cyclic_gc_paused(), _writing(engine) as conn:
        project_id, suite_id = _project_and_suite_ids(conn, meta.project, meta.suite)
        now = datetime.now(UTC)
        run = {
            "project_id": project_id, "suite_id": suite_id, "branch": meta.branch, "commit": meta.commit,
            "build_id": meta.build_id, "build_url": meta.build_url, "started_at": meta.started_at or now,
            "duration_s": meta.duration_s, "environment": meta.environment or {},
            "content_hash": content_hash or f"unhashed:{now.timestamp()}:{id(meta)}",
            "ingested_at": now, "formats": "", "sources": [], "test_time_s": 0.0, "workers": 1,
            **dict.fromkeys(_COUNTS, 0),
        }
        run_id = _insert_run(conn, run)
        writer = _ResultWriter(conn, project_id, run_id)
        metas: list[ReportMeta] = []
        for report in reports:
            writer.add(report.cases)
            metas.append(bounded_report_meta(report.meta_after()))
        writer.finish()
        changes = _finish_run(conn, run_id, run["environment"], meta, metas, writer)
        _update_run(conn, run_id, changes)
        run.update(changes)
        return IngestSummary(
            run_id=run_id, project=meta.project, suite=meta.suite, tests=run["tests"], passed=run["passed"],
            failed=run["failed"], errors=run["errors"], skipped=run["skipped"], xfailed=run["xfailed"],
            xpassed=run["xpassed"], reruns=run["reruns"], duration_s=run["duration_s"],
            started_at=run["started_at"].isoformat(), duplicate=False, files=len(metas),
        )


# Run columns counted from the results (all 0 until the results are in).
_COUNTS = ("tests", "passed", "failed", "errors", "skipped", "xfailed", "xpassed", "reruns", "rerun_passed")
# Run columns whose values are encoded when bound (JSON text, UTC timestamps).
_RUN_TYPES = {"environment": JSON, "sources": JSON, "warnings": JSON, "started_at": DATETIME,
              "ingested_at": DATETIME}


def _naive_utc(value: datetime) -> datetime:
    """Return ``value`` as stored: naive UTC (what ingest.models.UTCDateTime does on the way in)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _aware(value: datetime) -> datetime:
    """Return a stored timestamp as UTC-aware (what ingest.models.UTCDateTime does on the way out)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _run_params(values: dict) -> tuple[dict, dict]:
    params = {k: _naive_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}
    return params, {k: _RUN_TYPES[k] for k in values if k in _RUN_TYPES}


def _insert_run(conn: Executor, values: dict) -> int:
    """Insert the run row; return its id."""
    params, types = _run_params(values)
    columns = ", ".join(f'"{k}"' for k in values)
    return conn.insert(f"INSERT INTO {RUNS} ({columns}) VALUES ({', '.join(':' + k for k in values)})",
                       params, types)


def _update_run(conn: Executor, run_id: int, values: dict) -> None:
    params, types = _run_params(values)
    assignments = ", ".join(f'"{k}" = :{k}' for k in values)
    conn.execute(f"UPDATE {RUNS} SET {assignments} WHERE id = :run_id", {**params, "run_id": run_id}, types)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector for one ingest, then resume it (if this call paused it).

    A batch of cases waiting for its INSERT survives young collections, and CaseRecords are tuple
    subclasses, which the collector never untracks: a 100,000-case ingest promoted ~50,000 of them
    and so triggered full collections that rescan every object of the loaded libraries (measured
    ~0.15 s CPU of ~1.6 s). The ingest makes no reference cycles worth collecting meanwhile.
    Reference counting still frees everything; only cycle detection waits, and for no longer than
    this ingest: whoever paused it resumes it, even when another thread's ingest is still running.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def replace_results(session: Session, run: Run, cases: Iterable[CaseRecord], metas: list[ReportMeta]) -> None:
    """Replace the results of a stored ``run`` with ``cases`` (new identities) and recount its totals.

    Used by ``suitehealth reindex``: the run row (its id, metadata, time and content hash) stays;
    tests that the new identities name and the project does not have yet are created.
    """
    conn = CoreExecutor(session.connection())
    conn.execute(f"DELETE FROM {RESULTS} WHERE run_id = :run", {"run": run.id})
    writer = _ResultWriter(conn, run.project_id, run.id)
    writer.add(cases)
    writer.finish()
    environment = dict(run.environment or {})
    if any(m.hostnames or m.hostname for m in metas):
        environment.pop("hostnames", None)  # recomputed from the reports below
    run.environment = environment
    run.warnings = None  # the reports' (or the caller's) warnings replace the old ones
    meta = RunMeta(project="", started_at=run.started_at, duration_s=run.duration_s)
    for column, value in _finish_run(conn, run.id, environment, meta, metas, writer).items():
        setattr(run, column, value)


# One round trip for the common case (both exist), instead of two ORM queries per run.
_IDS_SQL = (
    "SELECT p.id, s.id FROM projects p LEFT JOIN suites s ON s.project_id = p.id AND s.name = :suite "
    "WHERE p.name = :project"
)
_DUPLICATE_SQL = (
    "SELECT r.id FROM runs r JOIN suites s ON s.id = r.suite_id JOIN projects p ON p.id = s.project_id "
    "WHERE p.name = :project AND s.name = :suite AND r.content_hash = :hash"
)
_SUMMARY_COLUMNS = ("id", "project", "suite", "tests", "passed", "failed", "errors", "skipped", "xfailed",
                    "xpassed", "reruns", "duration_s", "started_at", "sources")
_SUMMARY_SQL = (
    "SELECT r.id, p.name, s.name, r.tests, r.passed, r.failed, r.errors, r.skipped, "
    "r.xfailed, r.xpassed, r.reruns, r.duration_s, r.started_at, r.sources FROM runs r "
    "JOIN projects p ON p.id = r.project_id JOIN suites s ON s.id = r.suite_id WHERE r.id = :run"
)
# ON CONFLICT DO NOTHING: concurrent writers creating the same project or suite both succeed.
_NEW_PROJECT_SQL = (
    "INSERT INTO projects (name, created_at) VALUES (:name, :created_at) ON CONFLICT (name) DO NOTHING"
)
_NEW_SUITE_SQL = (
    "INSERT INTO suites (project_id, name) VALUES (:project_id, :name) "
    "ON CONFLICT (project_id, name) DO NOTHING"
)


def _project_and_suite_ids(conn: Executor, project: str, suite: str) -> tuple[int, int]:
    """Return (project id, suite id), creating whichever does not exist yet."""
    params = {"project": project, "suite": suite}
    found = conn.rows(_IDS_SQL, params)
    if found and found[0][1] is not None:
        return found[0]
    if not found:
        conn.execute(_NEW_PROJECT_SQL, {"name": project, "created_at": _naive_utc(datetime.now(UTC))},
                     {"created_at": DATETIME})
        found = conn.rows(_IDS_SQL, params)
    if found[0][1] is None:
        conn.execute(_NEW_SUITE_SQL, {"project_id": found[0][0], "name": suite})
        found = conn.rows(_IDS_SQL, params)
    (project_id, suite_id), = found
    return project_id, suite_id


def store_cases(engine: Engine | SqliteExecutor, meta: RunMeta, cases: Iterable[CaseRecord], *,
                fmt: str = "records", content_hash: str | None = None) -> IngestSummary:
    """Store already-built records as one run (used by the demo generator and tests)."""
    report = ParsedReport(ReportMeta(format=fmt, source=fmt), iter(cases))
    return store_reports(engine, meta, [report], content_hash=content_hash)


def get_or_create_project(session: Session, name: str) -> Project:
    """Return the project named ``name``, creating it if needed (safe against concurrent writers)."""
    from sqlalchemy import select

    from ingest.models import Project

    query = select(Project).where(Project.name == name)
    project = session.scalars(query).first()
    if project is None:
        _insert_ignore(session, Project, {"name": name, "created_at": datetime.now(UTC)}, ["name"])
        project = session.scalars(query).one()
    return project


def get_or_create_suite(session: Session, project_id: int, name: str) -> Suite:
    """Return the project's suite named ``name``, creating it if needed."""
    from sqlalchemy import select

    from ingest.models import Suite

    query = select(Suite).where(Suite.project_id == project_id, Suite.name == name)
    suite = session.scalars(query).first()
    if suite is None:
        _insert_ignore(session, Suite, {"project_id": project_id, "name": name}, ["project_id", "name"])
        suite = session.scalars(query).one()
    return suite


def _insert_ignore(session: Session, model, values: dict | list[dict], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, so concurrent writers creating the same row both succeed."""
    if not values:
        return
    # Imported here: loading the PostgreSQL dialect just for its insert() cost ~3 MB on SQLite.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as ins
    else:
        from sqlalchemy.dialects.sqlite import insert as ins
    session.execute(ins(model).on_conflict_do_nothing(index_elements=keys), values)


class _ResultWriter:
    """Buffers cases and bulk-inserts them, resolving node ids to test ids a batch at a time.

    The hot path talks to the DBAPI cursor directly (executemany with plain tuples): going through
    the ORM's bulk machinery cost ~25x more per row than the insert itself.
    """

    def __init__(self, conn: Executor, project_id: int, run_id: int):
        self.project_id = project_id
        self.run_id = run_id
        self.order = 0
        self.buffer: list[CaseRecord] = []
        # Tests seen in this run as a bitmap indexed by test id (100k tests cost ~12 KB, not ~8 MB
        # of dict); attempt counts are kept only for the few tests that repeat.
        self.seen = bytearray(1 << 16)
        self.attempts: dict[int, int] = {}
        self.repeated: set[int] = set()
        self.workers: set[str] = set()
        # Totals kept while inserting, so finishing the run never re-scans its results.
        self.outcomes: dict[str, int] = dict.fromkeys(R.OUTCOMES, 0)
        self.sums = [0.0, 0.0, 0.0, 0.0]
        self.known = [False, False, False, False]  # whether any setup/call/teardown time was seen
        self.min_start: float | None = None
        self.max_stop: float | None = None
        self.postgres = conn.postgres
        ph = "%s" if self.postgres else "?"
        self.cursor = conn.cursor()
        # INSERT statements by their column list (see _flush).
        self.insert_results: dict[tuple, str] = {}
        self.cursor.execute(
            f"SELECT 1 FROM {TESTS} WHERE project_id = {ph} LIMIT 1", (project_id,)
        )
        self.fresh = self.cursor.fetchone() is None
        # Values that are the same in every row of a batch are written into the statement, not bound
        # per row: binding them (a bool most of all, which sqlite3 adapts row by row) cost ~10% of the
        # inserts. The ids are ints from the database, so formatting them in is safe.
        self.true = "TRUE" if self.postgres else "1"
        # INSERT statements for tests by (file column all NULL, markers all empty).
        self.insert_tests: dict[tuple[bool, bool], str] = {}
        self.ph = ph

    def add(self, cases: Iterable[CaseRecord]) -> None:
        buffer = self.buffer
        cases = iter(cases)
        while True:
            # islice pulls from the parser in C, not one Python-level append per case.
            before = len(buffer)
            buffer.extend(islice(cases, BATCH_SIZE - before))
            if len(buffer) < BATCH_SIZE:
                return
            self._flush()

    def finish(self) -> None:
        self._flush()
        # Earlier attempts of repeated tests are not final.
        if self.repeated:
            self.cursor.executemany(
                f"UPDATE {RESULTS} SET final = {self.ph} WHERE run_id = {self.ph} "
                f"AND test_id = {self.ph} AND attempt < {self.ph}",
                [(False, self.run_id, tid, self.attempts[tid]) for tid in self.repeated],
            )
        self.cursor.close()

    def _flush(self) -> None:
        """Insert the buffered cases; work column-wise so the per-row cost stays in C."""
        if not self.buffer:
            return
        # Limits are enforced here, on the columns the insert needs anyway (one transposition).
        buffer, fields = bounded_batch(self.buffer)
        n = len(buffer)
        nodeids = fields[_NODEID_AT]
        ids = self._test_ids(buffer, nodeids)
        test_ids = list(map(ids.__getitem__, nodeids))
        attempt_col = self._attempts(test_ids)
        outcome_col = fields[_OUTCOME_AT]
        for outcome, count in Counter(outcome_col).items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        order = self.order
        self.order = order + n
        # Literal SQL for the columns equal in every row (None: bound per row, from ``values``).
        columns = ["run_id", "test_id", "outcome", "order_index", "attempt", "final"]
        literals: list[str | None] = [str(int(self.run_id)), None, None, None, None, self.true]
        values: list[Iterable] = [test_ids, outcome_col, range(order, order + n)]
        if attempt_col.__class__ is repeat:  # no test of this batch repeats an earlier one
            literals[4] = "1"
        else:
            values.append(attempt_col)
        # Columns that are NULL in the whole batch are left out of the INSERT: binding ~8 NULLs
        # per row was a third of the insert's cost for the common JUnit shape.
        for column, field, at in _OPTIONAL:
            col = fields[at]
            if col.count(None) == n:
                continue
            present = [v for v in col if v is not None]
            if field == "duration_s":
                self.sums[0] += sum(present)
            elif field in _PHASES:
                index = _PHASES[field]
                self.sums[index] += sum(present)
                self.known[index] = True
            elif field == "worker_id":
                self.workers.update(present)
            elif field == "start":
                low = min(present)
                self.min_start = low if self.min_start is None else min(self.min_start, low)
            elif field == "stop":
                high = max(present)
                self.max_stop = high if self.max_stop is None else max(self.max_stop, high)
            elif field == "message":
                col = [_clip(v, MAX_MESSAGE) if v else v for v in col]
            elif field == "details":
                col = [_clip(v, MAX_DETAILS) if v else v for v in col]
            columns.append(column)
            literals.append(None)
            values.append(col)
        key = (*columns, *literals)
        statement = self.insert_results.get(key)
        if statement is None:
            statement = self.insert_results[key] = (
                f"INSERT INTO {RESULTS} ({', '.join(columns)}) "
                f"VALUES ({', '.join(self.ph if v is None else v for v in literals)})"
            )
        self.cursor.executemany(statement, zip(*values, strict=False))
        self.buffer.clear()

    def _attempts(self, test_ids: list[int]) -> list[int] | Iterable[int]:
        """Return each row's attempt number, remembering which tests this run has seen."""
        seen = self.seen
        top = max(test_ids) >> 3
        if top >= len(seen):
            seen.extend(bytes(top + 1 - len(seen) + len(seen) // 2))
        repeats: list[tuple[int, int]] = []
        for i, test_id in enumerate(test_ids):
            byte, bit = test_id >> 3, 1 << (test_id & 7)
            if seen[byte] & bit:
                repeats.append((i, test_id))
            else:
                seen[byte] |= bit
        if not repeats:
            return repeat(1, len(test_ids))
        column = [1] * len(test_ids)
        for i, test_id in repeats:
            column[i] = self.attempts[test_id] = self.attempts.get(test_id, 1) + 1
            self.repeated.add(test_id)
        return column

    def _test_ids(self, cases: list[CaseRecord], nodeids: Sequence[str]) -> dict[str, int]:
        """Return nodeid -> test id for the batch, creating the tests that are new."""
        unique = dict.fromkeys(nodeids)
        # A project without tests at the start of this run needs no look-up: its tests are all new
        # (a repeat of one inserted by an earlier batch conflicts, and _new_ids resolves it).
        found = {} if self.fresh else self._lookup(list(unique))
        missing = [n for n in unique if n not in found] if found else list(unique)
        # dict() keeps the last value per key: feed it backwards to keep each test's first case.
        first = dict(zip(reversed(nodeids), reversed(cases), strict=True)) if missing or found else {}
        if missing:
            self.cursor.execute(f"SELECT max(id) FROM {TESTS}")
            before = self.cursor.fetchone()[0] or 0
            firsts = list(map(first.__getitem__, missing))
            names = list(map(_NAME, firsts))
            if "" in names:
                names = [name or n.rsplit("::", 1)[-1] for name, n in zip(names, missing, strict=True)]
            markers = list(map(_MARKERS, firsts))
            no_markers = markers.count(()) == len(markers)
            files = list(map(_FILE, firsts))
            no_files = files.count(None) == len(files)
            values: list[Iterable] = [missing]
            if not no_files:
                values.append(files)
            values += [map(_CLASSNAME, firsts), names]
            if not no_markers:
                values.append([json.dumps(list(m)) if m else "[]" for m in markers])
            self.cursor.executemany(self._insert_tests(no_files, no_markers), zip(*values, strict=False))
            found.update(self._new_ids(missing, before))
        # Keep markers current for known tests whose markers changed (rare, so cheap).
        if found and any(map(_MARKERS, cases)):
            new = set(missing)
            changed = [
                {"tid": found[n], "m": list(first[n].markers)}
                for n in unique if first[n].markers and n not in new
            ]
            if changed:
                self._update_markers(changed)
        return found

    def _insert_tests(self, no_files: bool, no_markers: bool) -> str:
        """Return the INSERT for new tests; a file column all NULL, or no markers, are literals."""
        statement = self.insert_tests.get((no_files, no_markers))
        if statement is None:
            ph = self.ph
            empty = "CAST('[]' AS JSON)" if self.postgres else "'[]'"
            markers = empty if no_markers else (f"CAST({ph} AS JSON)" if self.postgres else ph)
            statement = self.insert_tests[(no_files, no_markers)] = (
                f"INSERT INTO {TESTS} (project_id, nodeid, file, classname, name, markers, "
                f"first_seen_run_id) VALUES ({int(self.project_id)}, {ph}, {'NULL' if no_files else ph}, "
                f"{ph}, {ph}, {markers}, {int(self.run_id)}) ON CONFLICT (project_id, nodeid) DO NOTHING"
            )
        return statement

    def _new_ids(self, missing: list[str], before: int) -> dict[str, int]:
        """Return the ids of the tests just inserted (their ids are all above ``before``)."""
        if not self.postgres:
            # SQLite gives each new row max(rowid) + 1, and BEGIN IMMEDIATE holds the write lock, so
            # the ids are known without reading them back; the count check guards the assumption.
            self.cursor.execute(f"SELECT max(id), count(*) FROM {TESTS} WHERE id > ?", (before,))
            top, count = self.cursor.fetchone()
            if count == len(missing) and top == before + len(missing):
                return dict(zip(missing, range(before + 1, top + 1), strict=True))
        # PostgreSQL (or the unexpected): one range scan instead of a long IN list.
        self.cursor.execute(
            f"SELECT nodeid, id FROM {TESTS} WHERE project_id = {self.ph} AND id > {self.ph}",
            (self.project_id, before),
        )
        wanted = set(missing)
        found = {n: i for n, i in self.cursor.fetchall() if n in wanted}
        if len(found) < len(missing):  # a concurrent writer created some of them first
            found.update(self._lookup([n for n in missing if n not in found]))
        return found

    def _lookup(self, nodeids: list[str]) -> dict[str, int]:
        if self.postgres:
            self.cursor.execute(
                f"SELECT nodeid, id FROM {TESTS} WHERE project_id = %s AND nodeid = ANY(%s)",
                (self.project_id, nodeids),
            )
            return dict(self.cursor.fetchall())
        found: dict[str, int] = {}
        for i in range(0, len(nodeids), _SQLITE_IN_CHUNK):
            chunk = nodeids[i:i + _SQLITE_IN_CHUNK]
            self.cursor.execute(
                f"SELECT nodeid, id FROM {TESTS} WHERE project_id = ? AND nodeid IN "
                f"({', '.join('?' * len(chunk))})", (self.project_id, *chunk),
            )
            found.update(self.cursor.fetchall())
        return found

    def _update_markers(self, changed: list[dict]) -> None:
        ph = self.ph
        current: dict[int, list] = {}
        ids = [c["tid"] for c in changed]
        for i in range(0, len(ids), _SQLITE_IN_CHUNK):
            chunk = ids[i:i + _SQLITE_IN_CHUNK]
            self.cursor.execute(
                f"SELECT id, markers FROM {TESTS} WHERE id IN ({', '.join([ph] * len(chunk))})", chunk)
            # PostgreSQL's driver parses JSON; SQLite returns the text.
            current.update((i, json.loads(m) if isinstance(m, str) else m) for i, m in self.cursor.fetchall())
        markers = f"CAST({ph} AS JSON)" if self.postgres else ph
        for c in changed:
            if current.get(c["tid"]) != c["m"]:
                self.cursor.execute(f"UPDATE {TESTS} SET markers = {markers} WHERE id = {ph}",
                                    (json.dumps(c["m"]), c["tid"]))


def _clip(text: str | None, limit: int) -> str | None:
    """Keep the head and the tail of long text: the assertion is usually at the end."""
    if text is None or len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n… [{len(text) - limit:,} characters cut] …\n" + text[-half:]


_EARLIER_SQL = "SELECT outcome, count(*) FROM results WHERE run_id = :run AND final = :no GROUP BY outcome"
_RERUN_PASSED_SQL = (
    "SELECT count(*) FROM results WHERE run_id = :run AND final = :yes AND attempt > 1 AND outcome = :passed"
)


def _finish_run(conn: Executor, run_id: int, environment: dict, meta: RunMeta, metas: list[ReportMeta],
                writer: _ResultWriter) -> dict:
    """Return the run's columns to set: totals from its final results, time and meta from the reports."""
    counts = dict(writer.outcomes)
    if writer.repeated:
        # Earlier attempts of rerun tests are not final: take their outcomes back out of the totals.
        for outcome, n in conn.rows(_EARLIER_SQL, {"run": run_id, "no": False}):
            counts[outcome] -= n
    phases = zip(writer.sums[1:], writer.known[1:], strict=True)
    sums = [writer.sums[0]] + [total if seen else None for total, seen in phases]
    run = {
        "tests": sum(counts.values()),
        "passed": counts.get(R.PASSED, 0),
        "failed": counts.get(R.FAILED, 0),
        "errors": counts.get(R.ERROR, 0),
        "skipped": counts.get(R.SKIPPED, 0),
        "xfailed": counts.get(R.XFAILED, 0),
        "xpassed": counts.get(R.XPASSED, 0),
        "reruns": sum(n - 1 for n in writer.attempts.values()),
        # A reindexed run is recounted, not added to.
        "rerun_passed": (conn.scalar(_RERUN_PASSED_SQL, {"run": run_id, "yes": True, "passed": R.PASSED})
                         or 0)
        if writer.repeated else 0,
        "test_time_s": float(sums[0] or 0.0),
        "setup_time_s": sums[1], "call_time_s": sums[2], "teardown_time_s": sums[3],
        "workers": max(1, len(writer.workers)),
        "formats": ",".join(sorted({m.format for m in metas}))[:200],
        "sources": [m.source for m in metas],
        "random_seed": next((m.random_seed for m in metas if m.random_seed), None),
    }
    if meta.started_at is None:
        starts = [m.started_at for m in metas if m.started_at is not None]
        if starts:
            run["started_at"] = min(starts)
        elif writer.min_start is not None:
            run["started_at"] = datetime.fromtimestamp(writer.min_start, UTC)
    if meta.duration_s is None:
        run["duration_s"] = wall_time(metas, writer.min_start, writer.max_stop, run["test_time_s"])
    # Every host (for Playwright: every project) of every file, not just the first one's.
    hosts = sorted({h for m in metas for h in (m.hostnames or ((m.hostname,) if m.hostname else ()))})
    if hosts and "hostnames" not in environment:
        run["environment"] = {**environment, "hostnames": hosts[:MAX_HOSTNAMES]}
    warnings = [f"{m.source}: {w}" for m in metas for w in m.warnings]
    if warnings:
        run["warnings"] = warnings[:MAX_WARNINGS]
    return run


def wall_time(metas: list[ReportMeta], min_start: float | None, max_stop: float | None,
              test_time_s: float) -> float | None:
    """Best estimate of the session's wall time.

    Per-test start/stop (xdist, reportlog) gives the real span. Otherwise shards that carry a
    timestamp and a duration give the span from the first start to the last end (parallel shards
    overlap); without timestamps, report durations add up (sequential files, e.g. Surefire's
    one-file-per-class). The sum of test durations is the last resort.
    """
    if min_start is not None and max_stop is not None and max_stop >= min_start:
        return max_stop - min_start
    timed = [m for m in metas if m.duration_s is not None]
    if timed and all(m.started_at is not None for m in timed) and len(timed) == len(metas):
        start = min(m.started_at for m in timed)
        end = max(m.started_at.timestamp() + m.duration_s for m in timed)
        return max(0.0, end - start.timestamp())
    if timed:
        return sum(m.duration_s for m in timed)
    return test_time_s or None


def summarize(run: Run, *, duplicate: bool, files: int = 0, project: str | None = None,
              suite: str | None = None) -> IngestSummary:
    """Return the IngestSummary of a stored run (names given save two lookups)."""
    return IngestSummary(
        run_id=run.id, project=project or run.project.name, suite=suite or run.suite.name, tests=run.tests,
        passed=run.passed,
        failed=run.failed, errors=run.errors, skipped=run.skipped, xfailed=run.xfailed, xpassed=run.xpassed,
        reruns=run.reruns, duration_s=run.duration_s, started_at=run.started_at.isoformat(),
        duplicate=duplicate, files=files or len(run.sources or []),
    )
