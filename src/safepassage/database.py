"""Where an operation keeps its data: SQLite files in its folder, or one PostgreSQL database.

The choice is made once, when the operation is created, and recorded in ``DIR/database.url``
(mode 0600) so that every later command opening ``DIR`` uses the same database. No file means
SQLite: ``DIR/log/log.db``, ``DIR/projections.db``, ``DIR/vault/vault.db``. Keys are files in
``DIR`` whatever the database.

In a PostgreSQL database each component has its own schema: ``log``, ``projections`` and
``vault`` (``LOG_SCHEMA``…), so their table names never collide with each other (the
projections have an ``events`` table) nor with tables others add outside those schemas.

Users write the URL libpq reads (``postgresql://user@host:port/dbname?options``); a password is
better kept in ``~/.pgpass`` or ``PGPASSWORD`` than in the URL (and so in ``database.url``).
SQLAlchemy names the driver in the scheme; ``sqlalchemy_url`` is the one place that adds it.
This module reads and writes that one file and builds engines; it never prints or exits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from safepassage.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "DATABASE_FILE",
    "LOG_SCHEMA",
    "PROJECTIONS_SCHEMA",
    "SESSION_SETTINGS",
    "VAULT_SCHEMA",
    "check_schema",
    "check_url",
    "database_for",
    "ensure_schema",
    "is_postgresql",
    "postgres_engine",
    "record_database",
    "recorded_database",
    "redacted",
    "sqlalchemy_url",
]

DATABASE_FILE: Final = "database.url"
LOG_SCHEMA: Final = "log"
PROJECTIONS_SCHEMA: Final = "projections"
VAULT_SCHEMA: Final = "vault"

_SCHEMES: Final = ("postgresql", "postgres")
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_postgresql(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://``, ``postgres://``, or a
    SQLAlchemy ``postgresql+driver://``)."""
    if not url:
        return False
    scheme = url.split(":", 1)[0].lower()
    return scheme.split("+", 1)[0] in _SCHEMES and url[len(scheme) :].startswith("://")


def check_url(url: str) -> str:
    """``url`` stripped of surrounding blanks; ``StoreError(field="--db")`` unless PostgreSQL."""
    url = url.strip()
    if not is_postgresql(url) or "+" in url.split(":", 1)[0]:
        raise StoreError(
            "must be a PostgreSQL URL such as postgresql://user@host/dbname "
            "(leave it out to keep the data in SQLite files in the folder)",
            field="--db",
        )
    return url


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``: what error messages may show."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "(a URL that cannot be parsed)"


# --- the record in DIR ----------------------------------------------------------------------


def recorded_database(directory: Path) -> str | None:
    """The database URL recorded for the operation in ``directory``; ``None`` means SQLite."""
    path = Path(directory) / DATABASE_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the recorded database URL: {exc}", field=str(path)) from exc
    if not is_postgresql(text):
        raise StoreError("does not hold a PostgreSQL URL", field=str(path))
    return text


def record_database(directory: Path, url: str) -> None:
    """Record ``url`` as the database of the operation in ``directory`` (mode 0600, synced).

    Recording the URL already recorded is a no-op; recording another one is refused.
    """
    directory = Path(directory)
    url = check_url(url)
    known = recorded_database(directory)
    if known is not None:
        if known != url:
            raise StoreError(
                f"this folder already uses {redacted(known)}, not {redacted(url)}", field="--db"
            )
        return
    path = directory / DATABASE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it may hold a password
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(url + "\n")
        f.flush()
        os.fsync(f.fileno())
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def database_for(directory: Path, database: str | None = None) -> str | None:
    """The database to use for the operation in ``directory``: the recorded one.

    ``database`` is what the user asked for (``--db``): ``None`` takes whatever is recorded;
    a URL must be the recorded one (``StoreError(field="--db")`` otherwise, also when the
    folder keeps its data in SQLite files). Returns ``None`` for SQLite.
    """
    known = recorded_database(directory)
    if database is None:
        return known
    url = check_url(database)
    if known is None:
        raise StoreError(
            f"{directory} keeps its data in SQLite files (it has no {DATABASE_FILE}), "
            f"not in {redacted(url)}",
            field="--db",
        )
    if known != url:
        raise StoreError(
            f"{directory} keeps its data in {redacted(known)} (recorded in {DATABASE_FILE}), "
            f"not in {redacted(url)}",
            field="--db",
        )
    return known


# --- engines ---------------------------------------------------------------------------------


def check_schema(schema: str) -> str:
    """``schema`` if it is a plain lower-case SQL name (safe to put in a statement)."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError("must be a lower-case name of letters, digits and _", field="schema")
    return schema


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL URL: the same, with psycopg 3 named as the driver."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - the log store does without it

    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


SESSION_SETTINGS: Final = "SET plan_cache_mode = force_custom_plan"
"""Set on every PostgreSQL connection safepassage opens. A statement run again and again
(psycopg prepares it from its fifth run) would otherwise keep the plan PostgreSQL made when its
tables were small: an operation's tables start empty and grow by thousands of rows a minute, so
a key lookup planned as a scan of a few pages went on scanning the whole table until the next
``ANALYZE``. Planned for each run, it uses the index as soon as the table is worth it."""


def postgres_engine(url: str, schema: str) -> Engine:
    """A SQLAlchemy engine on PostgreSQL whose connections see only ``schema`` (their
    ``search_path``): unqualified names, Alembic's version table included, live there; with
    ``SESSION_SETTINGS``.

    The caller creates the schema (``CREATE SCHEMA IF NOT EXISTS``) before making tables.
    """
    from sqlalchemy import create_engine, event  # noqa: PLC0415 - the log store does without it

    schema = check_schema(schema)
    engine = create_engine(sqlalchemy_url(url))

    def search_path(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
        # SQLAlchemy's recipe: SET outside a transaction, so no rollback undoes it.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{schema}"')
            cursor.execute(SESSION_SETTINGS)
        dbapi_connection.autocommit = autocommit

    event.listen(engine, "connect", search_path, insert=True)
    return engine


def ensure_schema(connection: Connection, schema: str) -> None:
    """Create ``schema`` if it is missing. An existing one is left alone without asking for the
    ``CREATE`` privilege on the database (which ``CREATE SCHEMA IF NOT EXISTS`` checks first):
    a database whose schemas an administrator made may grant only their use."""
    schema = check_schema(schema)
    found = connection.exec_driver_sql(f"SELECT to_regnamespace('{schema}') IS NOT NULL").scalar()
    if not found:
        connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
