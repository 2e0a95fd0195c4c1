"""Quarantine tables: the per-project list of quarantined tests and the history of every change.

Imported by ``ingest.models`` so that Alembic sees them. The list is keyed by (project, node id):
a test is quarantined for the whole project, whichever CI job runs it, so every reader of the
list (the CLI export, the server endpoint, the pytest plugin) sees the same set. ``suite`` only
says where the test was seen flaky.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ingest.models import Base, BigId, UTCDateTime


class QuarantineEntry(Base):
    """A test currently in quarantine: who or what put it there, why, when, and the evidence."""

    __tablename__ = "quarantine_entries"
    __table_args__ = (UniqueConstraint("project_id", "nodeid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    nodeid: Mapped[str] = mapped_column(Text)
    suite: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    # "policy" for the automatic policy, else the person or tool named on the command line.
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # http(s) URL, or a dashboard path starting with "/" (made absolute when exported).
    evidence_url: Mapped[str | None] = mapped_column(String(2000))
    # Added by the policy: only these are released automatically; a person's decision stays.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)


class QuarantineEvent(Base):
    """One change of the quarantine list (added or removed), kept after the entry is gone."""

    __tablename__ = "quarantine_events"
    __table_args__ = (Index("ix_quarantine_events_project_at", "project_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    nodeid: Mapped[str] = mapped_column(Text)
    suite: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # "added" or "removed"
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence_url: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The numbers the policy decided on (score, runs, clean runs), empty for a person's change.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
