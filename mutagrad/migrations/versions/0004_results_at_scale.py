"""Results at scale: what the reports count in the database needs.

- ``trials.kind``: what the trial is whatever the tolerance (its place in the status order:
  shape 2, nonfinite 3, aliasing 4, crashed 5, timeout 6, indeterminate 7, equivalent 8),
  or 99 when the tolerance decides it; and ``trials.decisive``, the difference such a
  trial is judged by (infinite when not finite). Filled here from the stored outcomes,
  true errors and notes (mutagrad.values.trial_kind).
- ``campaigns.summary``: the campaign's counts at its own tolerance, written when it
  finishes or is interrupted (``history`` reads only these).
- ``ix_trials_check``: one check's trials of a campaign, mutant by mutant, with what the
  reports count (a covering index: no table row is read).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The rules as of this revision, kept here so the migration never changes.
_FIXED = {"shape": 2, "nonfinite": 3, "aliasing": 4, "crashed": 5, "timeout": 6}
_INDETERMINATE, _EQUIVALENT, _DECIDED = 7, 8, 99
_OWN_COST_NOTE = "checked against the numerical gradient of its own cost"


def _doubtful(note: str) -> bool:
    return any(not part.startswith(_OWN_COST_NOTE) for part in note.split("; "))


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("kind", sa.Integer, nullable=False,
                                   server_default=str(_DECIDED)))
        batch.add_column(sa.Column("decisive", sa.Float, nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("summary", sa.JSON, nullable=True))
    trials = sa.table("trials", sa.column("outcome", sa.String), sa.column("note", sa.Text),
                      sa.column("true_error", sa.Float), sa.column("difference", sa.Float),
                      sa.column("kind", sa.Integer), sa.column("decisive", sa.Float))
    run = op.get_bind().execute
    undecided = trials.c.kind == _DECIDED
    run(sa.update(trials).where(trials.c.outcome.in_(list(_FIXED)))
        .values(kind=sa.case(_FIXED, value=trials.c.outcome)))
    run(sa.update(trials).where(undecided, trials.c.true_error.is_(None))
        .values(kind=_FIXED["nonfinite"]))
    run(sa.update(trials).where(undecided, trials.c.outcome == "equivalent")
        .values(kind=_EQUIVALENT))
    notes = run(sa.select(trials.c.note).where(undecided, trials.c.note.is_not(None))
                .distinct()).scalars().all()
    for note in notes:
        if _doubtful(note):
            run(sa.update(trials).where(undecided, trials.c.note == note)
                .values(kind=_INDETERMINATE))
    run(sa.update(trials).where(undecided)
        .values(decisive=sa.func.coalesce(trials.c.difference, sa.literal(math.inf))))
    op.create_index("ix_trials_check", "trials",
                    ["campaign_id", "strategy", "epsilon", "mutant_id", "case_index", "kind",
                     "decisive"])


def downgrade() -> None:
    op.drop_index("ix_trials_check", "trials")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("summary")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("decisive")
        batch.drop_column("kind")
