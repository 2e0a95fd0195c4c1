"""read tokens (upload_tokens.access, project_id NULL for every project) and dashboard_secrets

Revision ID: 0004_signin
Revises: 0003_action
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_signin"
down_revision = "0003_action"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing token is an upload token: the server default fills them in.
    with op.batch_alter_table("upload_tokens") as batch:
        batch.add_column(sa.Column("access", sa.String(length=10), server_default="upload", nullable=False))
        batch.alter_column("project_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "dashboard_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dashboard_secrets")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_secrets")
    # Without the access column a read token would become an upload token: drop them all.
    op.execute("DELETE FROM upload_tokens WHERE access <> 'upload' OR project_id IS NULL")
    with op.batch_alter_table("upload_tokens") as batch:
        batch.alter_column("project_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("access")
