"""analysis tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_state",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_analysis_state_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_analysis_state")),
    )
    op.create_table(
        "failure_signatures",
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signature_hash", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("example", sa.Text(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["suite_id"],
            ["suites.id"],
            name=op.f("fk_failure_signatures_suite_id_suites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["tests.id"], name=op.f("fk_failure_signatures_test_id_tests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("suite_id", "test_id", "signature_hash", name=op.f("pk_failure_signatures")),
    )
    op.create_table(
        "interference_suspects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("polluters", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_interference_suspects_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"],
            ["suites.id"],
            name=op.f("fk_interference_suspects_suite_id_suites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["victim_id"],
            ["tests.id"],
            name=op.f("fk_interference_suspects_victim_id_tests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interference_suspects")),
    )
    with op.batch_alter_table("interference_suspects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interference_suspects_project_victim", ["project_id", "victim_id"], unique=False
        )

    op.create_table(
        "test_flake_stats",
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("flakes", sa.Integer(), nullable=False),
        sa.Column("broken", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("last_flake_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_test_flake_stats_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"], ["suites.id"], name=op.f("fk_test_flake_stats_suite_id_suites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["tests.id"], name=op.f("fk_test_flake_stats_test_id_tests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("suite_id", "test_id", name=op.f("pk_test_flake_stats")),
    )
    with op.batch_alter_table("test_flake_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_flake_stats_project_id"), ["project_id"], unique=False)

    op.create_table(
        "analysed_runs",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("outage", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_analysed_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_analysed_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"], ["suites.id"], name=op.f("fk_analysed_runs_suite_id_suites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_analysed_runs")),
    )
    with op.batch_alter_table("analysed_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analysed_runs_project_id"), ["project_id"], unique=False)
        batch_op.create_index("ix_analysed_runs_suite_started", ["suite_id", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analysed_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_analysed_runs_suite_started")
        batch_op.drop_index(batch_op.f("ix_analysed_runs_project_id"))

    op.drop_table("analysed_runs")
    with op.batch_alter_table("test_flake_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_flake_stats_project_id"))

    op.drop_table("test_flake_stats")
    with op.batch_alter_table("interference_suspects", schema=None) as batch_op:
        batch_op.drop_index("ix_interference_suspects_project_victim")

    op.drop_table("interference_suspects")
    op.drop_table("failure_signatures")
    op.drop_table("analysis_state")
