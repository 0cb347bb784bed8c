"""The schema of mutagrad 0.1: campaigns, mutants, cases, trials.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("mutagrad_schema", sa.Column("version", sa.Integer, primary_key=True))
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("tool_version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("original_alarms", sa.Integer, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "mutants",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("mutant_id", sa.String(40), primary_key=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("operator", sa.String(60), nullable=False),
        sa.Column("function", sa.String(200), nullable=False),
        sa.Column("location", sa.String(1000), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("original", sa.Text, nullable=False),
        sa.Column("replacement", sa.Text, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("dtype", sa.String(20), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.UniqueConstraint("campaign_id", "index"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("mutant_id", sa.String(40), nullable=False),
        sa.Column("case_index", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("difference", sa.Float),
        sa.Column("true_error", sa.Float),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("elapsed", sa.Float, nullable=False),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("campaign_id", "mutant_id", "case_index", "strategy", "epsilon"),
    )
    op.create_index("ix_trials_campaign_outcome", "trials", ["campaign_id", "outcome"])


def downgrade() -> None:
    for table in ("trials", "cases", "mutants", "campaigns", "mutagrad_schema"):
        op.drop_table(table)
