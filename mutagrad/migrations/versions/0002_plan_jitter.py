"""The plan gains ``jitter`` (parameters moved off their initial values, on by default).

Campaigns stored before ran without it: their plans say ``jitter: false``, so a resume
rebuilds exactly the cases they started with.

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

_campaigns = sa.table("campaigns", sa.column("id", sa.Integer), sa.column("config", sa.JSON))


def upgrade() -> None:
    connection = op.get_bind()
    for campaign_id, config in connection.execute(sa.select(_campaigns.c.id,
                                                            _campaigns.c.config)).all():
        if "jitter" not in config:
            connection.execute(sa.update(_campaigns).where(_campaigns.c.id == campaign_id)
                               .values(config={**config, "jitter": False}))


def downgrade() -> None:
    connection = op.get_bind()
    for campaign_id, config in connection.execute(sa.select(_campaigns.c.id,
                                                            _campaigns.c.config)).all():
        connection.execute(sa.update(_campaigns).where(_campaigns.c.id == campaign_id)
                           .values(config={k: v for k, v in config.items() if k != "jitter"}))
