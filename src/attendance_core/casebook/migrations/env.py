"""Alembic environment of the casebook: run on the connection the casebook opened.

:class:`attendance_core.Casebook` passes its connection in ``config.attributes["connection"]``;
the ``alembic`` command line is not needed (and no ``alembic.ini`` is shipped).
"""

from __future__ import annotations

from alembic import context

from attendance_core.casebook._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached through a hand-made alembic.ini
    raise RuntimeError("open the casebook with attendance_core.Casebook(url): it migrates")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
