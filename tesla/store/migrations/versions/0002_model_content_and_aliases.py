"""Models are recognised by content (``models.content_sha``) and carry aliases (``model_aliases``).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("content_sha", sa.String))
    op.create_index("ix_models_name_content_sha", "models", ["name", "content_sha"], unique=True)
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("alias", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, server_default=sa.func.current_timestamp()),
        sa.Column("updated_by", sa.String),
    )


def downgrade() -> None:
    op.drop_table("model_aliases")
    op.drop_index("ix_models_name_content_sha", table_name="models")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("content_sha")
