"""stored as-of findings at week boundaries (week_findings): the weekly review reads them

Revision ID: 0006_weeklysnap
Revises: 0005_pages5m
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_weeklysnap"
down_revision = "0005_pages5m"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "week_findings",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("boundary", sa.DateTime(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_week_findings_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "boundary", name=op.f("pk_week_findings")),
    )


def downgrade() -> None:
    op.drop_table("week_findings")
