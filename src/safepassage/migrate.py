"""What the SQL stores (projections, vault) share: Alembic run in code, SQLite transactions.

Each store ships its migrations as a package (``<package>:migrations``) and runs them on the
connection it holds; there is no ``alembic.ini`` to keep in step.
"""

from __future__ import annotations

from alembic.config import Config
from sqlalchemy import Connection, Engine

__all__ = ["alembic_config", "begin_immediate", "reading"]


def alembic_config(connection: Connection, script_location: str) -> Config:
    """Alembic's configuration for migrations at ``script_location``, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    return config


def begin_immediate(connection: Connection) -> None:
    """SQLAlchemy's ``begin`` hook for SQLite: take the write lock at the start (Python's
    ``sqlite3`` would otherwise begin lazily, and commit on its own before DDL). A connection
    from ``reading`` begins a plain transaction instead: it takes no write lock."""
    if connection.get_execution_options().get(_READING):
        connection.exec_driver_sql("BEGIN")
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


_READING = "safepassage_reading"


def reading(engine: Engine) -> Connection:
    """A connection for reads only. On SQLite it takes no write lock (a read does not wait for
    a writer, nor hold one up); on PostgreSQL each statement runs on its own, without the
    round trips of a BEGIN and a ROLLBACK around it."""
    if engine.dialect.name == "sqlite":
        return engine.connect().execution_options(**{_READING: True})
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
