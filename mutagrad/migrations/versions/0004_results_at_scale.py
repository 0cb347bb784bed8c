"""Results at scale: what the queries aggregate in the database needs.

- ``trials.doubtful``: the trial's note says the check cannot be trusted on its case (a
  kink crossed, precision lost); until now only the note's text said it, which SQL cannot
  read. Filled here from the stored notes.
- ``campaigns.summary``: the campaign's counts at its own tolerance, written when it
  finishes or is interrupted (``history`` reads only these).
- ``ix_trials_check``: one check's trials of a campaign, mutant by mutant (what every
  report groups by).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The rule as of this revision (mutagrad.values.doubtful): any part of the note that is not
# the own-cost remark makes the trial doubtful. Kept here so the migration never changes.
_OWN_COST_NOTE = "checked against the numerical gradient of its own cost"


def _doubtful(note: str) -> bool:
    return any(not part.startswith(_OWN_COST_NOTE) for part in note.split("; "))


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("doubtful", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("summary", sa.JSON, nullable=True))
    trials = sa.table("trials", sa.column("note", sa.Text), sa.column("doubtful", sa.Boolean))
    connection = op.get_bind()
    notes = connection.execute(sa.select(trials.c.note).where(trials.c.note.is_not(None))
                               .distinct()).scalars().all()
    for note in notes:
        if _doubtful(note):
            connection.execute(sa.update(trials).where(trials.c.note == note)
                               .values(doubtful=True))
    op.create_index("ix_trials_check", "trials",
                    ["campaign_id", "strategy", "epsilon", "mutant_id", "case_index"])


def downgrade() -> None:
    op.drop_index("ix_trials_check", "trials")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("summary")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("doubtful")
