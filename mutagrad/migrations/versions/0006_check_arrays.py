"""Each mutant's trials of one check as arrays (``mutant_checks``), written when a campaign
stops and brought current when it resumes: any tolerance is then judged over the arrays
(mutagrad.tally) instead of over the check's rows of ``trials``. Campaigns stored before
this revision have none and are judged in SQL, as before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutant_checks",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("mutant_id", sa.String(40), primary_key=True),
        sa.Column("strategy", sa.String(40), primary_key=True),
        sa.Column("epsilon", sa.Float, primary_key=True),
        sa.Column("trials", sa.Integer, nullable=False),
        sa.Column("min_kind", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_case", sa.Integer, nullable=True),
        sa.Column("cases", sa.LargeBinary, nullable=False),
        sa.Column("kinds", sa.LargeBinary, nullable=False),
        sa.Column("decisive", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mutant_checks")
