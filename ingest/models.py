"""The database schema: SQLAlchemy 2 typed ORM, identical on SQLite and PostgreSQL.

Results is the big table (millions of rows); every dashboard query reaches it through an index
on (test_id, run_id) or (run_id, order_index). Per-run totals live on ``runs`` so that trend
pages never scan results.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# A naming convention makes Alembic produce the same constraint names on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class UTCDateTime(TypeDecorator):
    """Timestamps stored as naive UTC and always returned timezone-aware (UTC).

    SQLite drops time zones and PostgreSQL keeps them; this makes both behave the same.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BigInteger ids on PostgreSQL; SQLite only auto-increments a plain INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    suites: Mapped[list[Suite]] = relationship(back_populates="project", order_by="Suite.name")


class Suite(Base):
    """A named CI job of a project ("unit", "integration"): the unit of budgets and trends."""

    __tablename__ = "suites"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Wall-time budget in seconds; None means the configured default (300 s).
    budget_s: Mapped[float | None] = mapped_column(Float)

    project: Mapped[Project] = relationship(back_populates="suites")


class Run(Base):
    """One CI job's test session: possibly several report files (shards) merged."""

    __tablename__ = "runs"
    __table_args__ = (
        # Idempotence: the same report content for the same suite is one run.
        UniqueConstraint("suite_id", "content_hash"),
        Index("ix_runs_project_started", "project_id", "started_at"),
        Index("ix_runs_suite_started", "suite_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"))
    branch: Mapped[str | None] = mapped_column(String(300))
    commit: Mapped[str | None] = mapped_column(String(64), index=True)
    build_id: Mapped[str | None] = mapped_column(String(200))
    build_url: Mapped[str | None] = mapped_column(String(2000))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Wall time of the session; the sum of test durations is ``test_time_s``.
    duration_s: Mapped[float | None] = mapped_column(Float)
    test_time_s: Mapped[float] = mapped_column(Float, default=0.0)
    setup_time_s: Mapped[float | None] = mapped_column(Float)
    call_time_s: Mapped[float | None] = mapped_column(Float)
    teardown_time_s: Mapped[float | None] = mapped_column(Float)
    environment: Mapped[dict] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    formats: Mapped[str] = mapped_column(String(200), default="")
    sources: Mapped[list] = mapped_column(JSON, default=list)
    random_seed: Mapped[str | None] = mapped_column(String(100))
    workers: Mapped[int] = mapped_column(Integer, default=1)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Totals over final attempts (one per test), kept here so trends never scan results.
    tests: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    xfailed: Mapped[int] = mapped_column(Integer, default=0)
    xpassed: Mapped[int] = mapped_column(Integer, default=0)
    # Extra attempts beyond the first (reruns), and tests that passed only on a rerun.
    reruns: Mapped[int] = mapped_column(Integer, default=0)
    rerun_passed: Mapped[int] = mapped_column(Integer, default=0)
    # What ingest decided for the user and should say on the run page (e.g. repeated names kept apart).
    warnings: Mapped[list | None] = mapped_column(JSON)

    suite: Mapped[Suite] = relationship()
    project: Mapped[Project] = relationship()


class Test(Base):
    """A test's stable identity within a project: its pytest node id (or classname::name)."""

    __tablename__ = "tests"
    __test__ = False  # a model named Test, not a pytest test class
    __table_args__ = (UniqueConstraint("project_id", "nodeid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    nodeid: Mapped[str] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    classname: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, default="")
    # Latest markers/keywords seen (pytest marks, "integration", "django_db" ...): level rules read these.
    markers: Mapped[list] = mapped_column(JSON, default=list)
    first_seen_run_id: Mapped[int | None] = mapped_column(BigId)


class Result(Base):
    """One attempt of one test in one run."""

    __tablename__ = "results"
    __table_args__ = (
        Index("ix_results_test_run", "test_id", "run_id"),
        Index("ix_results_run_order", "run_id", "order_index"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(10))
    duration_s: Mapped[float | None] = mapped_column(Float)
    setup_s: Mapped[float | None] = mapped_column(Float)
    call_s: Mapped[float | None] = mapped_column(Float)
    teardown_s: Mapped[float | None] = mapped_column(Float)
    order_index: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str | None] = mapped_column(String(50))
    start_ts: Mapped[float | None] = mapped_column(Float)
    stop_ts: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    final: Mapped[bool] = mapped_column(Boolean, default=True)


class UploadToken(Base):
    """A token; only its SHA-256 is stored.

    ``access`` is "upload" (uploads to its project, and reads it) or "read" (reads its project, or every
    project when ``project_id`` is NULL). Upload tokens always have a project.
    """

    __tablename__ = "upload_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    access: Mapped[str] = mapped_column(String(10), default="upload", server_default="upload")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardSecret(Base):
    """A secret the web servers share, e.g. the key that signs session cookies (generated once)."""

    __tablename__ = "dashboard_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Analysis tables live in their own module but on the same metadata (Alembic must see them).
from ingest import analysis_models, quarantine_models  # noqa: E402,F401
