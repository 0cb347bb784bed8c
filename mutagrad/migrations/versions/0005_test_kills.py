"""The user's own pytest tests as the check: ``test_kills`` holds the tests that failed on
each mutant (for the original, every test it ran), and the plan gains ``pytest`` (the
selected tests; empty: mutagrad's own check, as every campaign stored before ran).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_campaigns = sa.table("campaigns", sa.column("id", sa.Integer), sa.column("config", sa.JSON))


def upgrade() -> None:
    op.create_table(
        "test_kills",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("mutant_id", sa.String(40), primary_key=True),
        sa.Column("test", sa.String(1000), primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("line", sa.Text, nullable=True),
    )
    connection = op.get_bind()
    for campaign_id, config in connection.execute(sa.select(_campaigns.c.id,
                                                            _campaigns.c.config)).all():
        if "pytest" not in config:
            connection.execute(sa.update(_campaigns).where(_campaigns.c.id == campaign_id)
                               .values(config={**config, "pytest": []}))


def downgrade() -> None:
    op.drop_table("test_kills")
    connection = op.get_bind()
    for campaign_id, config in connection.execute(sa.select(_campaigns.c.id,
                                                            _campaigns.c.config)).all():
        connection.execute(sa.update(_campaigns).where(_campaigns.c.id == campaign_id)
                           .values(config={k: v for k, v in config.items() if k != "pytest"}))
