"""A project's history as JSON Lines: ``suitehealth export`` writes it, ``suitehealth import`` reads it.

One object per line, so a history of any size streams both ways and files concatenate:

    {"type": "header", "format": "suitehealth-history", "version": 1, "project": "shop"}
    {"type": "suite", "name": "unit", "budget_s": 120.0}
    {"type": "run", "suite": "unit", "branch": ..., "content_hash": ..., "cases": [{...}, ...]}
    {"type": "quarantine", "nodeid": ..., "reason": ..., "added_by": ..., ...}

Import stores each run through the normal ingest path under its original content hash, so
importing the same file twice, or two databases that share runs, stores each run once: that is
how CI databases are merged. Analyses are not exported; they are recomputed from the runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest.db import ensure_schema, write_transaction
from ingest.models import Project, Result, Run, Suite, Test
from ingest.records import CaseRecord, ParsedReport, ReportMeta, RunMeta
from ingest.store import get_or_create_project, get_or_create_suite, store_reports

FORMAT = "suitehealth-history"
VERSION = 1
_CASE_FIELDS = ("outcome", "duration_s", "setup_s", "call_s", "teardown_s", "order_index", "worker_id",
                "start_ts", "stop_ts", "message", "details", "attempt", "final")


class HistoryError(ValueError):
    """The file is not a suitehealth history, or a line of it is broken (named by number)."""


@dataclass
class ImportCounts:
    runs: int = 0
    duplicates: int = 0
    quarantined: int = 0


def export_lines(engine: Engine, project: str) -> Iterator[str]:
    """Yield the project's history as JSON lines, oldest run first."""
    ensure_schema(engine)
    with Session(engine) as session:
        proj = session.scalars(select(Project).where(Project.name == project)).first()
        if proj is None:
            raise HistoryError(f"no project named {project!r}")
        yield _line({"type": "header", "format": FORMAT, "version": VERSION, "project": proj.name})
        suites = {s.id: s for s in session.scalars(select(Suite).where(Suite.project_id == proj.id))}
        for suite in suites.values():
            yield _line({"type": "suite", "name": suite.name, "budget_s": suite.budget_s})
        tests: dict[int, Test] = {}
        run_ids = session.scalars(select(Run.id).where(Run.project_id == proj.id)
                                  .order_by(Run.started_at, Run.id)).all()
        for run_id in run_ids:
            run = session.get(Run, run_id)
            rows = session.scalars(select(Result).where(Result.run_id == run_id)
                                   .order_by(Result.order_index, Result.attempt)).all()
            missing = {r.test_id for r in rows} - set(tests)
            if missing:
                tests.update({t.id: t for t in session.scalars(select(Test).where(Test.id.in_(missing)))})
            yield _line({
                "type": "run", "suite": suites[run.suite_id].name, "branch": run.branch,
                "commit": run.commit, "build_id": run.build_id, "build_url": run.build_url,
                "started_at": run.started_at.isoformat(),
                "duration_s": run.duration_s, "environment": run.environment, "random_seed": run.random_seed,
                "content_hash": run.content_hash, "formats": run.formats,
                "cases": [_case(r, tests[r.test_id]) for r in rows],
            })
            session.expunge_all()  # a long history must not pile up in the identity map
        from ingest.quarantine import entries

        for e in entries(session, proj.id):
            yield _line({"type": "quarantine", "nodeid": e.nodeid, "suite": e.suite, "reason": e.reason,
                         "added_by": e.added_by, "added_at": e.added_at.isoformat(),
                         "evidence_url": e.evidence_url, "automatic": e.automatic})


def _case(r: Result, t: Test) -> dict:
    out = {"nodeid": t.nodeid, "name": t.name, "classname": t.classname, "file": t.file,
           "markers": list(t.markers or [])}
    out.update({name: getattr(r, name) for name in _CASE_FIELDS})
    return out


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def import_lines(engine: Engine, lines: Iterable[str], project: str | None = None) -> ImportCounts:
    """Store the runs (and quarantine entries) of a history file; ``project`` renames the project."""
    ensure_schema(engine)
    counts = ImportCounts()
    name = project
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise HistoryError(f"line {number}: not JSON ({exc})") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if number == 1 or kind == "header":
            if kind != "header" or obj.get("format") != FORMAT or obj.get("version", 0) > VERSION:
                raise HistoryError(f"line {number}: not a {FORMAT} file (version <= {VERSION})")
            name = project or obj.get("project")
            if not isinstance(name, str) or not name:
                raise HistoryError(f"line {number}: the header names no project")
            continue
        try:
            if kind == "suite":
                _import_suite(engine, name, obj)
            elif kind == "run":
                if _already_stored(engine, name, obj):
                    counts.duplicates += 1
                else:
                    _import_run(engine, name, obj)
                    counts.runs += 1
            elif kind == "quarantine":
                counts.quarantined += _import_quarantine(engine, name, obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise HistoryError(f"line {number}: bad {kind} record ({exc})") from None
    return counts


def _import_suite(engine: Engine, project: str, obj: dict) -> None:
    with write_transaction(engine) as session:
        proj = get_or_create_project(session, project)
        suite = get_or_create_suite(session, proj.id, str(obj["name"]))
        if suite.budget_s is None and obj.get("budget_s") is not None:
            suite.budget_s = float(obj["budget_s"])


def _already_stored(engine: Engine, project: str, obj: dict) -> bool:
    """Return whether the run (same suite, same content hash) is in the database already."""
    if not obj.get("content_hash"):
        return False
    with Session(engine) as session:
        return session.scalar(
            select(Run.id).join(Suite, Suite.id == Run.suite_id).join(Project, Project.id == Suite.project_id)
            .where(Project.name == project, Suite.name == str(obj["suite"]),
                   Run.content_hash == obj["content_hash"]).limit(1)
        ) is not None


def _import_run(engine: Engine, project: str, obj: dict):
    meta = RunMeta(project=project, suite=str(obj["suite"]), branch=obj.get("branch"),
                   commit=obj.get("commit"), build_id=obj.get("build_id"), build_url=obj.get("build_url"),
                   started_at=datetime.fromisoformat(obj["started_at"]), duration_s=obj.get("duration_s"),
                   environment=obj.get("environment") or {})
    cases = (CaseRecord(
        nodeid=c["nodeid"], outcome=c["outcome"], name=c.get("name") or "", classname=c.get("classname"),
        file=c.get("file"), duration_s=c.get("duration_s"), setup_s=c.get("setup_s"),
        call_s=c.get("call_s"), teardown_s=c.get("teardown_s"), order_index=int(c.get("order_index") or 0),
        worker_id=c.get("worker_id"), start=c.get("start_ts"), stop=c.get("stop_ts"),
        message=c.get("message"), details=c.get("details"), attempt=int(c.get("attempt") or 1),
        final=bool(c.get("final", True)), markers=tuple(c.get("markers") or ()),
    ) for c in obj["cases"])
    report = ParsedReport(ReportMeta(format=obj.get("formats") or "import", source="history import",
                                     random_seed=obj.get("random_seed")), cases)
    return store_reports(engine, meta, [report], content_hash=obj.get("content_hash"))


def _import_quarantine(engine: Engine, project: str, obj: dict) -> bool:
    from ingest.quarantine import add_entry

    with write_transaction(engine) as session:
        proj = get_or_create_project(session, project)
        _, added = add_entry(session, proj.id, obj["nodeid"], actor=obj.get("added_by") or "import",
                             suite=obj.get("suite"), reason=obj.get("reason"),
                             evidence_url=obj.get("evidence_url"), automatic=bool(obj.get("automatic")),
                             now=datetime.fromisoformat(obj["added_at"]) if obj.get("added_at") else None)
        return added
