"""runs.warnings: what ingest decided for the user (repeated test names kept apart)

Revision ID: 0003_identity
Revises: 0003_alerts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_identity"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: runs stored before this revision simply have no warnings.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("warnings")
