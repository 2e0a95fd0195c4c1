"""stored per-test window statistics (stat_windows, test_window_stats): pages at 5M results read them

Revision ID: 0005_pages5m
Revises: 0004_signin
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_pages5m"
down_revision = "0004_signin"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stat_windows",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_stat_windows_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stat_windows")),
        sa.UniqueConstraint("project_id", "kind", "fingerprint", name="uq_stat_windows_project_kind_fingerprint"),
    )
    op.create_table(
        "test_window_stats",
        sa.Column("window_id", BIG_ID, nullable=False),
        sa.Column("test_id", BIG_ID, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=True),
        sa.Column("typical_s", sa.Float(), nullable=True),
        sa.Column("mean_s", sa.Float(), nullable=True),
        sa.Column("median_s", sa.Float(), nullable=True),
        sa.Column("first_week", sa.Integer(), nullable=True),
        sa.Column("last_week", sa.Integer(), nullable=True),
        sa.Column("before_s", sa.Float(), nullable=True),
        sa.Column("after_s", sa.Float(), nullable=True),
        sa.Column("step_run_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["window_id"], ["stat_windows.id"],
                                name=op.f("fk_test_window_stats_window_id_stat_windows"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["test_id"], ["tests.id"], name=op.f("fk_test_window_stats_test_id_tests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("window_id", "test_id", name=op.f("pk_test_window_stats")),
    )


def downgrade() -> None:
    op.drop_table("test_window_stats")
    op.drop_table("stat_windows")
