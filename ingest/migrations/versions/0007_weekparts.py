"""stored window parts of the weekly review (week_parts): slowdowns, slowest tests, pyramid drift, skips

Revision ID: 0007_weekparts
Revises: 0006_weeklysnap
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_weekparts"
down_revision = "0006_weeklysnap"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "week_parts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.DateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_week_parts_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "week_start", name=op.f("pk_week_parts")),
    )


def downgrade() -> None:
    op.drop_table("week_parts")
