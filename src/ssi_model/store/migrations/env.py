"""Alembic environment for the snapshot store.

Run through :func:`ssi_model.store.db.upgrade` (``ssi store upgrade``, or on first open), which
hands in a connection already inside a transaction; without one it opens ``SSI_DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ssi_model.store.db import create_store_engine
from ssi_model.store.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with create_store_engine().begin() as conn:
        run_migrations(conn)
