"""confirm verdicts: what `suitehealth confirm` saw when it re-ran a suspect

Revision ID: 0003_interference
Revises: 0003_alerts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_interference"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirm_verdicts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("victim", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tested", sa.JSON(), nullable=False),
        sa.Column("culprits", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("commit", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_confirm_verdicts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirm_verdicts")),
    )
    with op.batch_alter_table("confirm_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_confirm_verdicts_project_victim", ["project_id", "victim"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("confirm_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_confirm_verdicts_project_victim")
    op.drop_table("confirm_verdicts")
