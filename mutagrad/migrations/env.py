"""Alembic's environment: the store hands over its open connection (no alembic.ini)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  render_as_batch=True)  # SQLite alters tables by copy-and-move
with context.begin_transaction():
    context.run_migrations()
