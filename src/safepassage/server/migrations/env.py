"""Alembic's environment for the server's accounts table: run on the connection it is handed.

``safepassage.server.accounts`` builds the configuration in code (``safepassage.migrate``).
"""

from __future__ import annotations

from alembic import context

from safepassage.server.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
