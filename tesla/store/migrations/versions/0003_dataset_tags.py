"""Dataset versions carry tags (``dataset_tags``: ``tesla data tag NAME@V TAG``, ``NAME@TAG``).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_tags",
        sa.Column("name", sa.String, sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("tag", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.current_timestamp()),
        sa.Column("created_by", sa.String),
    )


def downgrade() -> None:
    op.drop_table("dataset_tags")
