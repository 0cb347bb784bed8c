"""Mutants gain what the exploratory cases found: ``hidden_by`` (the case that shows a bug
the campaign's cases hide, or "none"), NULL while not explored.

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
    with op.batch_alter_table("mutants") as batch:
        batch.add_column(sa.Column("hidden_by", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mutants") as batch:
        batch.drop_column("hidden_by")
