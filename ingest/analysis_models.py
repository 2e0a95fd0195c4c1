"""Tables of stored analysis results (flakiness, interference suspects), on the shared Base.

Imported by ``ingest.models`` so that Alembic sees them. ``dashboard.analysis.updates`` fills
them incrementally: each run is analysed once (watermark per project), pages only read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ingest.models import Base, BigId, UTCDateTime


class AnalysisState(Base):
    """How far a project's stored analyses are up to date: the last run id analysed."""

    __tablename__ = "analysis_state"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    last_run_id: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AnalysedRun(Base):
    """One analysed run, with its execution order in compact form (the interference evidence).

    ``sequence`` is {"procs": [[[test_id, bad(0/1/null), start, stop], ...] per process in order]};
    a few kilobytes per run instead of re-reading thousands of result rows.
    """

    __tablename__ = "analysed_runs"
    __table_args__ = (Index("ix_analysed_runs_suite_started", "suite_id", "started_at"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A run where a large share of the tests failed at once (infrastructure outage): ignored.
    outage: Mapped[bool] = mapped_column(Boolean, default=False)
    sequence: Mapped[dict] = mapped_column(JSON, default=dict)


class FlakeStats(Base):
    """Per (suite, test) counters of the flakiness state machine; ``state`` holds its internals."""

    __tablename__ = "test_flake_stats"

    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    flakes: Mapped[int] = mapped_column(Integer, default=0)
    broken: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    last_flake_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[dict] = mapped_column(JSON, default=dict)


class FailureSignature(Base):
    """Failure messages of one test grouped by normalised signature."""

    __tablename__ = "failure_signatures"

    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"), primary_key=True)
    signature_hash: Mapped[str] = mapped_column(String(16), primary_key=True)
    signature: Mapped[str] = mapped_column(Text)
    example: Mapped[str | None] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_run_id: Mapped[int | None] = mapped_column(BigId)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InterferenceSuspect(Base):
    """A stored suspect (or an 'undecidable' note) for one victim; replaced when the victim is re-analysed."""

    __tablename__ = "interference_suspects"
    __table_args__ = (Index("ix_interference_suspects_project_victim", "project_id", "victim_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"))
    victim_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    # Node ids of the equivalence group, best first (JSON so both backends store it alike).
    polluters: Mapped[list] = mapped_column(JSON, default=list)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertSent(Base):
    """An alert event already announced (a new flaky test, a new suspect, a suite newly over budget).

    One row per (project, event key): the unique constraint is what makes an alert fire once, even
    with several workers. ``sent_at`` stays empty until a destination took it, so a failed delivery is
    retried on the next refresh. A row is deleted when its event is no longer true, so a test that is
    fixed and later turns flaky again is news again.
    """

    __tablename__ = "alerts_sent"
    __table_args__ = (UniqueConstraint("project_id", "key_hash", name="uq_alerts_sent_project_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # sha256 of the event key: node ids can be longer than an index entry may be.
    key_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConfirmVerdict(Base):
    """What ``suitehealth confirm`` saw when it re-ran a suspect in a checkout of the project.

    Keyed by node ids, not the suspects table's ids: suspects are replaced on every refresh, a
    verdict stays true of the code it was measured on (``commit``).
    """

    __tablename__ = "confirm_verdicts"
    __table_args__ = (Index("ix_confirm_verdicts_project_victim", "project_id", "victim"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    victim: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    # The suspect's group as it was tested (node ids), and what bisection narrowed it to.
    tested: Mapped[list] = mapped_column(JSON, default=list)
    culprits: Mapped[list] = mapped_column(JSON, default=list)
    verdict: Mapped[str] = mapped_column(String(20))  # proven | not-reproduced | skipped
    commit: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatWindow(Base):
    """Per-test statistics over one window of runs, stored by the refresh so pages need not scan results.

    ``kind`` names the statistic (``dashboard.analysis.window_stats``); ``fingerprint`` is a hash of
    exactly what it is computed from (the window's run ids, in the order that matters), so a page
    that would read the same runs uses the stored rows and any other window is computed per request.
    """

    __tablename__ = "stat_windows"
    __table_args__ = (UniqueConstraint("project_id", "kind", "fingerprint",
                                       name="uq_stat_windows_project_kind_fingerprint"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(64))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TestWindowStats(Base):
    """One test's statistics over a stored window; which columns are set depends on the window's kind.

    pyramid: ``typical_s`` and the trend's ``first_week``/``last_week``; slowest: ``runs``,
    ``mean_s``, ``median_s``; regressions (only the tests that regressed): ``runs``, ``before_s``,
    ``after_s``, ``step_run_id``.
    """

    __tablename__ = "test_window_stats"
    __test__ = False  # not a pytest class

    window_id: Mapped[int] = mapped_column(ForeignKey("stat_windows.id", ondelete="CASCADE"),
                                           primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"), primary_key=True)
    runs: Mapped[int | None] = mapped_column(Integer)
    typical_s: Mapped[float | None] = mapped_column(Float)
    mean_s: Mapped[float | None] = mapped_column(Float)
    median_s: Mapped[float | None] = mapped_column(Float)
    first_week: Mapped[int | None] = mapped_column(Integer)
    last_week: Mapped[int | None] = mapped_column(Integer)
    before_s: Mapped[float | None] = mapped_column(Float)
    after_s: Mapped[float | None] = mapped_column(Float)
    step_run_id: Mapped[int | None] = mapped_column(BigId)


class WeekFindingsRow(Base):
    """The as-of flakiness and interference findings at one week boundary, stored by the worker.

    ``boundary`` is a Monday 00:00 UTC; the findings are those of the runs started before it, which
    ``runs``/``fingerprint`` describe (count, sum and max of their ids): a page uses the row only
    while the runs before the boundary are still exactly those. ``findings`` is
    ``dashboard.analysis.week_findings.WeekFindings`` in JSON form.
    """

    __tablename__ = "week_findings"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    boundary: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64))
    findings: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WeekPartsRow(Base):
    """The parts of one week's review that summarise results, stored by the worker.

    ``week_start`` is the week's Monday 00:00 UTC; ``parts`` is
    ``dashboard.analysis.week_parts.WeekParts`` in JSON form, computed from the runs that
    ``fingerprint`` describes (those started from ``LOOKBACK_WEEKS`` weeks before the week to its
    end) under one set of settings: a page uses the row only while both are still the same.
    """

    __tablename__ = "week_parts"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    week_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    parts: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


def forget_stored_summaries(session: Session, project_id: int) -> None:
    """Delete what the worker stored to serve pages fast (window statistics, week findings and parts).

    For ``reindex``, which rewrites results under the same run ids (every fingerprint would still
    match), and for benchmarks that time a refresh from nothing; the next refresh stores them again.
    """
    window_ids = select(StatWindow.id).where(StatWindow.project_id == project_id)
    session.execute(delete(TestWindowStats).where(TestWindowStats.window_id.in_(window_ids)))
    session.execute(delete(StatWindow).where(StatWindow.project_id == project_id))
    session.execute(delete(WeekFindingsRow).where(WeekFindingsRow.project_id == project_id))
    session.execute(delete(WeekPartsRow).where(WeekPartsRow.project_id == project_id))
