"""The projection tables in a SQL database: kept up to date, caught up, rebuilt, dumped.

The log is the record; the projections are a cache of it for queries, so they may always be
dropped and rebuilt (``safepassage rebuild``). Their ``projection_state`` row says how many log
entries they reflect and the tree's root at that size, so an operation that finds them behind
(a crash between the log's commit and theirs) catches up, and one that finds them on another
history rebuilds them. The rows themselves are computed by ``safepassage.operation.projection``.

The default database is a SQLite file beside the log (WAL, ``synchronous=NORMAL``: durability
comes from the log, not from here); any SQLAlchemy URL works, PostgreSQL included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, insert, select
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from safepassage.errors import StoreError
from safepassage.events.envelope import Event
from safepassage.operation.projection import (
    FAMILIES,
    Entity,
    Row,
    all_entities,
    entity_rows,
    event_row,
    touched,
)
from safepassage.operation.state import OperationState
from safepassage.projections.schema import TABLES, events, metadata, projection_state

__all__ = ["DamagedProjectionsError", "Position", "Projections", "sqlite_url"]

Position = tuple[int, str]
"""(log size, root hex) the tables reflect."""

_BATCH = 20_000
Progress = Callable[[int], None]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _alembic(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "safepassage.projections:migrations")
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
    # Python's sqlite3 commits before DDL on its own; take transactions over (SQLAlchemy's
    # recipe) so that a rebuild (drop, create, fill) is one transaction that a crash undoes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: a rebuild's indexes stay in memory
    cursor.close()


class DamagedProjectionsError(StoreError):
    """The projections' file is not a database the driver can read (not merely locked)."""


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Projections:
    """The projection tables of one operation."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Self:
        """Connect and bring the tables to the latest migration (creating them if new)."""
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        try:
            with engine.begin() as connection:
                command.upgrade(_alembic(connection), "head")
        except (DatabaseError, OperationalError) as exc:
            engine.dispose()
            if isinstance(exc, OperationalError):  # locked, no space, no permission: transient
                raise StoreError(
                    f"cannot open the projections: {exc.orig}", field="projections"
                ) from exc
            raise DamagedProjectionsError(
                f"not a usable database: {exc.orig}", field="projections"
            ) from exc
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the projections: {exc}", field="projections") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def position(self) -> Position | None:
        """What the tables reflect, or ``None`` if they were never filled or are unreadable."""
        try:
            with self.engine.connect() as connection:
                row = connection.execute(
                    select(projection_state.c.log_size, projection_state.c.log_root)
                ).first()
        except SQLAlchemyError:
            return None  # damaged or half-dropped tables: the caller rebuilds them
        return None if row is None else (int(row[0]), str(row[1]))

    def apply(
        self,
        state: OperationState,
        entries: Sequence[tuple[int, Event]],
        position: Position,
    ) -> None:
        """Record ``entries`` (already folded into ``state``) in one transaction.

        Each entry adds its ``events`` row; each entity they touched gets its rows replaced by
        what ``state`` now says. ``entries`` may be the one event just appended or every entry
        the tables missed: either way the result is the rows of ``state``.
        """
        entities = list(dict.fromkeys(e for _, event in entries for e in touched(event)))
        with self.engine.begin() as connection:
            if entries:
                _bulk_insert(connection, events, [event_row(i, ev) for i, ev in entries])
            self._replace(connection, state, entities)
            self._set_position(connection, position)

    def rebuild(
        self,
        entries: Iterable[tuple[int, Event]],
        position: Position,
        progress: Progress | None = None,
    ) -> OperationState:
        """Drop every table, recreate them by migration, and fill them from ``entries``.

        One transaction (SQLite's DDL is transactional too): interrupted, it leaves the tables
        as they were.

        Returns the state folded from ``entries`` (the log, in order, trusted as logged).
        """
        state = OperationState()
        with self.engine.begin() as connection:
            # drop whatever is there (tables may be damaged or half gone), then migrate anew
            metadata.drop_all(connection, checkfirst=True)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            command.upgrade(_alembic(connection), "head")
            done = 0
            for batch in _batches(entries):
                rows: list[Row] = []
                for index, ev in batch:
                    state.apply(ev)
                    rows.append(event_row(index, ev))
                _bulk_insert(connection, events, rows)
                done += len(batch)
                if progress is not None:
                    progress(done)
            by_table: dict[str, list[Row]] = {}
            for entity in all_entities(state):
                for table, table_rows in entity_rows(state, entity).items():
                    by_table.setdefault(table, []).extend(table_rows)
            for table, table_rows in by_table.items():
                _bulk_insert(connection, TABLES[table], table_rows)
            self._set_position(connection, position)
        return state

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, in primary-key order: to compare two projections."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as connection:
            for name, table in sorted(TABLES.items()):
                query = select(table).order_by(*table.primary_key.columns)
                out[name] = [tuple(row) for row in connection.execute(query)]
        return out

    @staticmethod
    def _replace(connection: Connection, state: OperationState, entities: list[Entity]) -> None:
        inserts: dict[str, list[Row]] = {}
        for entity in entities:
            family, key = entity
            for table, column in FAMILIES[family]:
                t = TABLES[table]
                connection.execute(delete(t).where(t.c[column] == key))
            for table, rows in entity_rows(state, entity).items():
                inserts.setdefault(table, []).extend(rows)
        for table, rows in inserts.items():
            _bulk_insert(connection, TABLES[table], rows)

    @staticmethod
    def _set_position(connection: Connection, position: Position) -> None:
        size, root = position
        connection.execute(delete(projection_state))
        connection.execute(insert(projection_state).values(id=1, log_size=size, log_root=root))


def _bulk_insert(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Insert rows straight through the driver's ``executemany``: every insert of the tables.

    The statement is compiled once for the dialect, and values go through each column type's
    own bind processing (times to UTC and the dialect's form), without the per-row work a Core
    ``insert`` does on top.
    """
    if not rows:
        return
    columns = list(rows[0])
    compiled = insert(table).compile(dialect=connection.dialect, column_keys=columns)
    processors = {n: table.c[n].type.bind_processor(connection.dialect) for n in columns}
    process = [(n, p) for n, p in processors.items() if p is not None]
    prepared: list[dict[str, Any]] = []
    for row in rows:
        values = dict(row)
        for name, p in process:
            values[name] = p(values[name])
        prepared.append(values)
    if compiled.positional:
        order = compiled.positiontup or []
        connection.exec_driver_sql(str(compiled), [tuple(v[n] for n in order) for v in prepared])
    else:
        connection.exec_driver_sql(str(compiled), prepared)


def _batches(entries: Iterable[tuple[int, Event]]) -> Iterator[list[tuple[int, Event]]]:
    batch: list[tuple[int, Event]] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
