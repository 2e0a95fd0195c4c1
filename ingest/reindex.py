"""Give stored runs the current test identities (``suitehealth reindex``), losing nothing.

Before the identity rules (README, "Test identity"), a JUnit testcase whose classname+name repeated
in a file was stored as a rerun of one test: Playwright's browsers, same-named tests in different
jest files, repeated mocha titles. Two ways to put that right, per run:

- **From the original report** (exact): a report file given on the command line whose content hash
  equals a stored run's is parsed again with today's rules, and the run's results are rewritten
  from it. The run keeps its id, metadata and times.
- **From the stored results** (for runs whose reports are gone): a JUnit run stored from one file
  whose non-pytest test has several results is split back into the testcases it was made of — the
  first keeps its id, the n-th becomes ``id#n`` — exactly as today's parser names true repeats.
  What the stored rows cannot say (which browser or file each one was) stays unknown, so a
  Playwright or jest run repaired this way is ``id``, ``id#2``, ``id#3`` rather than ``id[firefox]``;
  give its report to get the exact names. Earlier attempts written inside a testcase (Surefire,
  Playwright ``flakyFailure``/``rerunFailure``: failed, no duration, directly before the next
  attempt) and pytest's reruns stay reruns.

Every result row is rewritten, never dropped: same outcome, times, worker, message and order.
Tests left without any result are deleted, and the project's derived analyses (flake states,
signatures, interference suspects) are cleared so the next refresh recomputes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, exists, func, select
from sqlalchemy.orm import Session

from ingest import records as R
from ingest.analysis_models import (
    AnalysedRun,
    AnalysisState,
    FailureSignature,
    FlakeStats,
    InterferenceSuspect,
    forget_stored_summaries,
)
from ingest.db import ensure_schema, write_transaction
from ingest.models import Project, Result, Run, Suite, Test
from ingest.records import CaseRecord, ReportMeta
from ingest.sources import ReportSource
from ingest.store import combined_hash, replace_results

_STORED_NOTE = ("reindexed from the stored results (the report was not given): {n} testcase(s) stored as "
                "reruns of a same-named test were split back into tests of their own (#2, #3 …)")


@dataclass
class ReindexReport:
    """What a reindex changed (or, with dry_run, would change)."""

    runs_checked: int = 0
    runs_from_reports: int = 0
    runs_from_stored_results: int = 0
    results_rewritten: int = 0
    tests_created: int = 0
    tests_deleted: int = 0
    unmatched_reports: list[str] = field(default_factory=list)

    @property
    def runs_changed(self) -> int:
        return self.runs_from_reports + self.runs_from_stored_results


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def reindex(engine: Engine, *, project: str | None = None, reports: Sequence[ReportSource] = (),
            dry_run: bool = False) -> ReindexReport:
    """Rewrite the runs of ``project`` (every project if None) whose tests need today's identities."""
    from ingest.formats import parse

    ensure_schema(engine)
    report = ReindexReport()
    # Each file alone, and all of them together (a run stored from several files at once).
    by_hash = {combined_hash([source]): (source,) for source in reports}
    if len(reports) > 1:
        by_hash.setdefault(combined_hash(reports), tuple(reports))
    matched: set[str] = set()
    try:
        with write_transaction(engine) as session:
            query = select(Project.id).order_by(Project.id)
            if project is not None:
                query = query.where(Project.name == project)
            for project_id in session.scalars(query).all():
                tests_before = _count_tests(session, project_id)
                changed = False
                runs = session.scalars(select(Run).where(Run.project_id == project_id).order_by(Run.id)).all()
                for run in runs:
                    report.runs_checked += 1
                    sources = by_hash.get(run.content_hash)
                    if sources is not None:
                        matched.add(run.content_hash)
                        changed |= _from_reports(session, run, sources, parse, report)
                    elif "junit" in (run.formats or "").split(",") and len(run.sources or []) <= 1:
                        changed |= _from_stored_results(session, run, report)
                if changed:
                    report.tests_created += _count_tests(session, project_id) - tests_before
                    _clear_analyses(session, project_id)
                    report.tests_deleted += _delete_orphan_tests(session, project_id)
            used = {s.name for h, group in by_hash.items() if h in matched for s in group}
            report.unmatched_reports = sorted(s.name for s in reports if s.name not in used)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


def _from_reports(session: Session, run: Run, sources: tuple[ReportSource, ...], parse,
                  report: ReindexReport) -> bool:
    stored_names = list(run.sources or [])
    if len(stored_names) == len(sources):
        # Read the files in the order the run stored them, so execution order is kept.
        rank = {name: i for i, name in enumerate(stored_names)}
        sources = tuple(sorted(sources, key=lambda s: rank.get(s.name, len(rank))))
    cases: list[CaseRecord] = []
    metas: list[ReportMeta] = []
    for index, source in enumerate(sources):
        with source.open() as fh:
            parsed = parse(source.name, fh)
            cases += parsed.cases
            meta = parsed.meta_after()
        # Keep the name the run was stored under (the CLI stores paths as given; uploads their names).
        name = stored_names[index] if len(stored_names) == len(sources) else source.name
        metas.append(ReportMeta(format=meta.format, source=name, hostname=meta.hostname,
                                hostnames=meta.hostnames, random_seed=run.random_seed,
                                warnings=meta.warnings))
    hosts = sorted({h for m in metas for h in m.hostnames})[:20] or None
    if _signature(session, run.id) == [(c.nodeid, c.outcome) for c in cases] and \
            (run.environment or {}).get("hostnames") == hosts:
        return False
    replace_results(session, run, cases, metas)
    report.runs_from_reports += 1
    report.results_rewritten += len(cases)
    return True


def _from_stored_results(session: Session, run: Run, report: ReindexReport) -> bool:
    rows = session.execute(
        select(Result, Test.nodeid, Test.name, Test.classname, Test.file, Test.markers)
        .join(Test, Test.id == Result.test_id).where(Result.run_id == run.id).order_by(Result.order_index)
    ).all()
    cases = list(_split_repeats(rows))
    split = len({case.nodeid for case, row in zip(cases, rows, strict=True) if case.nodeid != row[1]})
    if not split:
        return False
    metas = [ReportMeta(format=run.formats, source=s, random_seed=run.random_seed,
                        warnings=tuple(run.warnings or ()) + (_STORED_NOTE.format(n=split),))
             for s in (run.sources or ["stored results"])]
    replace_results(session, run, cases, metas)
    report.runs_from_stored_results += 1
    report.results_rewritten += len(cases)
    return True


def _split_repeats(rows) -> Iterator[CaseRecord]:
    """Yield the run's results as records, a repeated non-pytest test split into ``id``, ``id#2`` ..."""
    taken = {row[1] for row in rows}
    occurrences: dict[str, int] = {}
    next_test = [rows[i + 1][0].test_id if i + 1 < len(rows) else None for i in range(len(rows))]
    # An attempt written inside the next testcase (flakyFailure ...) joins that testcase's occurrence.
    carried: dict[int, str] = {}
    for i, (result, nodeid, name, classname, file, markers) in enumerate(rows):
        new_id = nodeid
        inner = _inner_attempt(result, next_test[i])
        if not _pytest_like(nodeid):
            if result.test_id in carried:
                new_id = carried.pop(result.test_id)
            else:
                seen = occurrences.get(nodeid, 0) + 1
                occurrences[nodeid] = seen
                if seen > 1:
                    n = seen
                    while f"{nodeid}#{n}" in taken:
                        n += 1
                    new_id = f"{nodeid}#{n}"
                    taken.add(new_id)
            if inner:
                carried[result.test_id] = new_id
        yield CaseRecord(
            nodeid=new_id, outcome=result.outcome, name=name, classname=classname, file=file,
            duration_s=result.duration_s, setup_s=result.setup_s, call_s=result.call_s,
            teardown_s=result.teardown_s, worker_id=result.worker_id, start=result.start_ts,
            stop=result.stop_ts, message=result.message, details=result.details, final=not inner,
            markers=tuple(markers or ()),
        )


def _inner_attempt(result: Result, next_test_id: int | None) -> bool:
    """Whether a result was an earlier attempt written inside the next testcase (Surefire/Playwright)."""
    return (not result.final and result.outcome in R.BAD_OUTCOMES and result.duration_s is None
            and next_test_id == result.test_id)


def _pytest_like(nodeid: str) -> bool:
    # pytest node ids are unique within a session: a repeat there was a rerun (pytest-rerunfailures).
    return nodeid.endswith(".py") or ".py::" in nodeid


def _signature(session: Session, run_id: int) -> list[tuple[str, str]]:
    return [tuple(row) for row in session.execute(
        select(Test.nodeid, Result.outcome).join(Test, Test.id == Result.test_id)
        .where(Result.run_id == run_id).order_by(Result.order_index))]


def _count_tests(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Test).where(Test.project_id == project_id)) or 0


def _delete_orphan_tests(session: Session, project_id: int) -> int:
    orphans = session.scalars(select(Test.id).where(
        Test.project_id == project_id, ~exists().where(Result.test_id == Test.id))).all()
    if orphans:
        session.execute(delete(Test).where(Test.id.in_(orphans)))
    return len(orphans)


def _clear_analyses(session: Session, project_id: int) -> None:
    """Forget the project's derived analyses; the next refresh recomputes them from the results."""
    suites = select(Suite.id).where(Suite.project_id == project_id)
    session.execute(delete(FlakeStats).where(FlakeStats.project_id == project_id))
    session.execute(delete(FailureSignature).where(FailureSignature.suite_id.in_(suites)))
    session.execute(delete(InterferenceSuspect).where(InterferenceSuspect.project_id == project_id))
    session.execute(delete(AnalysedRun).where(AnalysedRun.project_id == project_id))
    session.execute(delete(AnalysisState).where(AnalysisState.project_id == project_id))
    # What is stored for fast pages is keyed by run ids, which keep their ids here: drop it too
    # (week findings and parts included: a stale row would still match its fingerprint).
    forget_stored_summaries(session, project_id)
