"""Schema migrations (Alembic). Every schema change is a revision in ``versions/``; an old
database is upgraded in place when a store opens it (SQLite: a copy is kept beside it).

Revision ``0001`` is the schema of mutagrad 0.1 (``mutagrad_schema.version == 1``, before
Alembic): such a database is stamped ``0001`` and then upgraded.
"""
