"""Alembic's environment for the vault's tables: run on the connection it is handed.

``safepassage.vault.store`` builds the Alembic configuration in code and passes the open
connection in ``config.attributes["connection"]``; there is no ``alembic.ini`` to keep in step.
"""

from __future__ import annotations

from alembic import context

from safepassage.vault.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
