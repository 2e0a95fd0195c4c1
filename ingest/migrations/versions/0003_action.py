"""quarantine list and its history

Revision ID: 0003_action
Revises: 0003_alerts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_action"
down_revision = "0003_interference"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quarantine_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("nodeid", sa.Text(), nullable=False),
        sa.Column("suite", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("evidence_url", sa.String(length=2000), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name=op.f("fk_quarantine_entries_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_entries")),
        sa.UniqueConstraint("project_id", "nodeid", name=op.f("uq_quarantine_entries_project_id")),
    )
    op.create_table(
        "quarantine_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("nodeid", sa.Text(), nullable=False),
        sa.Column("suite", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence_url", sa.String(length=2000), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name=op.f("fk_quarantine_events_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_events")),
    )
    with op.batch_alter_table("quarantine_events", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_events_project_at", ["project_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quarantine_events", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_events_project_at")
    op.drop_table("quarantine_events")
    op.drop_table("quarantine_entries")
