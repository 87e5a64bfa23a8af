"""The projection tables in a SQL database: kept up to date, caught up, rebuilt, dumped.

The log is the record; the projections are a cache of it for queries, so they may always be
dropped and rebuilt (``safepassage rebuild``). Their ``projection_state`` row says how many log
entries they reflect and the tree's root at that size, so an operation that finds them behind
(a crash between the log's commit and theirs) catches up, and one that finds them on another
history rebuilds them. The rows themselves are computed by ``safepassage.operation.projection``.

The default database is a SQLite file beside the log (WAL, ``synchronous=NORMAL``: durability
comes from the log, not from here; on PostgreSQL ``synchronous_commit=off`` likewise). A
PostgreSQL URL (``postgresql://…``, as users write it)
puts the tables in the ``projections`` schema of that database (``safepassage.database``), so
they share it with the log and the vault without a name colliding; there a rebuild is one
transaction, DDL included.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Delete,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from safepassage.bulk import insert_rows
from safepassage.database import (
    PROJECTIONS_SCHEMA,
    ensure_schema,
    is_postgresql,
    postgres_engine,
)
from safepassage.errors import StoreError
from safepassage.events.envelope import Event
from safepassage.migrate import alembic_config, begin_immediate, reading
from safepassage.operation.projection import (
    FAMILIES,
    Entity,
    Row,
    all_entities,
    entity_rows,
    event_row,
    logged_event_row,
    touched,
)
from safepassage.operation.state import OperationState
from safepassage.projections.schema import (
    TABLES,
    events,
    metadata,
    projection_state,
)

__all__ = [
    "PARALLEL_FROM",
    "DamagedProjectionsError",
    "EntryReader",
    "Position",
    "Projections",
    "sqlite_url",
]

_T = TypeVar("_T")

Position = tuple[int, str]
"""(log size, root hex) the tables reflect."""

_BATCH = 20_000
Progress = Callable[[int], None]

_POSITION = select(projection_state.c.log_size, projection_state.c.log_root)
_ADVANCE = (
    update(projection_state)
    .where(projection_state.c.log_size == bindparam("expected"))
    .values(log_size=bindparam("size"), log_root=bindparam("root"))
)


@functools.cache
def _delete_where_in(table: str, column: str) -> Delete:
    """``DELETE FROM table WHERE column IN (:keys)``, built once (building a statement costs
    more than running it)."""
    t = TABLES[table]
    return delete(t).where(t.c[column].in_(bindparam("keys", expanding=True)))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _alembic(connection: Connection) -> Config:
    return alembic_config(connection, "safepassage.projections:migrations")


def _postgres_settings(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
    """A commit of the projections does not wait for PostgreSQL to flush its WAL, as SQLite's
    ``synchronous=NORMAL`` here: a crash may lose the last commits, never half of one, and the
    next open catches the tables up from the log."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.autocommit = autocommit


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


class Projections:
    """The projection tables of one operation."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self.path: Path | None = None if database in {None, "", ":memory:"} else Path(database)
        """The SQLite file, or ``None`` for a server database (or an in-memory one)."""
        self._inode = self._file_inode()

    def _file_inode(self) -> int | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_ino
        except FileNotFoundError:
            return None

    def reconnect(self) -> None:
        """Let go of open connections: the next ones open the file now at ``path``."""
        self.engine.dispose()
        self._inode = self._file_inode()

    def _follow_rebuilds(self) -> None:
        """Another process may have rebuilt the file and renamed it in: follow it."""
        if self.path is not None and self._file_inode() != self._inode:
            self.reconnect()

    @classmethod
    def open(cls, url: str, *, schema: str = PROJECTIONS_SCHEMA) -> Self:
        """Connect and bring the tables to the latest migration (creating them if new).

        ``url`` is a SQLAlchemy URL (``sqlite:///…``) or a PostgreSQL URL (``postgresql://…``),
        whose tables then live in ``schema``.
        """
        postgres = is_postgresql(url)
        engine = postgres_engine(url, schema) if postgres else create_engine(url)
        if postgres:
            event.listen(engine, "connect", _postgres_settings)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", begin_immediate)
        try:
            with engine.begin() as connection:
                if postgres:
                    ensure_schema(connection, schema)
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
        self._follow_rebuilds()
        try:
            with reading(self.engine) as connection:
                row = connection.execute(_POSITION).first()
        except SQLAlchemyError:
            return None  # damaged or half-dropped tables: the caller rebuilds them
        return None if row is None else (int(row[0]), str(row[1]))

    def apply(
        self,
        state: OperationState,
        entries: Sequence[tuple[int, Event]],
        position: Position,
        *,
        expected: int | None = None,
    ) -> bool:
        """Record ``entries`` (already folded into ``state``) in one transaction.

        Each entry adds its ``events`` row; each entity they touched gets its rows replaced by
        what ``state`` now says. ``entries`` may be the one event just appended or every entry
        the tables missed: either way the result is the rows of ``state``.

        With ``expected`` (the log size the caller believes the tables reflect), nothing is
        written unless they do, and ``False`` says so: a writer that keeps its own count
        advances the tables batch after batch without reading their position first.
        """
        self._follow_rebuilds()
        entities = list(dict.fromkeys(e for _, event in entries for e in touched(event)))
        with self.engine.begin() as connection:
            if expected is None:
                self._set_position(connection, position)
            elif not self._advance(connection, expected, position):
                connection.rollback()
                return False
            if entries:
                insert_rows(connection, events, [event_row(i, ev) for i, ev in entries])
            self._replace(connection, state, entities)
        return True

    def rebuild(
        self,
        entries: Iterable[tuple[int, Event]],
        position: Position,
        progress: Progress | None = None,
        *,
        reader: EntryReader | None = None,
    ) -> OperationState:
        """Drop every table, recreate them by migration, and fill them from ``entries``.

        Interrupted, it leaves the tables as they were. A SQLite file is rebuilt beside the old
        one and swapped in by a rename; with ``reader`` (a picklable callable that yields the
        same entries in another process) and a large log, a second process writes the
        ``events`` table while this one folds the state. Elsewhere (PostgreSQL) the rebuild is
        one transaction, DDL included.

        Returns the state folded from ``entries`` (the log, in order, trusted as logged).
        """
        path = self.path
        if path is None:
            return self._rebuild_in_place(entries, position, progress)
        building = path.with_name(path.name + ".rebuild")
        _unlink_database(building)
        helper = None
        try:
            if reader is not None and position[0] >= PARALLEL_FROM:
                helper = _start_event_rows(building, reader)
                state = _fold(entries, progress)
                _join(helper)
                helper = None
                with _building_engine(building) as engine, engine.begin() as connection:
                    _fill_entities(connection, state, position)
            else:
                with _building_engine(building) as engine, engine.begin() as connection:
                    command.upgrade(_alembic(connection), "head")
                    state = _fill_events(connection, entries, progress)
                    _fill_entities(connection, state, position)
            _swap(building, path, self)
        except BaseException:
            if helper is not None:
                _stop(helper)
            _unlink_database(building)
            raise
        return state

    def _rebuild_in_place(
        self,
        entries: Iterable[tuple[int, Event]],
        position: Position,
        progress: Progress | None,
    ) -> OperationState:
        with self.engine.begin() as connection:
            # drop whatever is there (tables may be damaged or half gone), then migrate anew
            metadata.drop_all(connection, checkfirst=True)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            command.upgrade(_alembic(connection), "head")
            state = _fill_events(connection, entries, progress)
            _fill_entities(connection, state, position)
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
        stale: dict[tuple[str, str], list[Any]] = {}
        for entity in entities:
            family, key = entity
            for table, column in FAMILIES[family]:
                stale.setdefault((table, column), []).append(key)
            for table, rows in entity_rows(state, entity).items():
                inserts.setdefault(table, []).extend(rows)
        for (table, column), keys in stale.items():  # one statement per table, not per entity
            statement = _delete_where_in(table, column)
            for start in range(0, len(keys), 500):
                connection.execute(statement, {"keys": keys[start : start + 500]})
        for table, rows in inserts.items():
            insert_rows(connection, TABLES[table], rows)

    @staticmethod
    def _advance(connection: Connection, expected: int, position: Position) -> bool:
        """Move the position from ``expected`` to ``position``; whether it stood there."""
        size, root = position
        done = connection.execute(_ADVANCE, {"expected": expected, "size": size, "root": root})
        return done.rowcount == 1

    @staticmethod
    def _set_position(connection: Connection, position: Position) -> None:
        size, root = position
        connection.execute(delete(projection_state))
        connection.execute(insert(projection_state).values(id=1, log_size=size, log_root=root))


def _batches(entries: Iterable[_T]) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


EntryReader = Callable[[], Iterable[tuple[int, bytes]]]
"""Yields the log's entries' bytes again, in another process (a picklable callable)."""

PARALLEL_FROM = 50_000
"""From this many entries on, a rebuild writes the ``events`` table in a second process."""


def _fold(entries: Iterable[tuple[int, Event]], progress: Progress | None) -> OperationState:
    state = OperationState()
    apply = state.apply
    done = 0
    for done, (_, ev) in enumerate(entries, 1):
        apply(ev)
        if progress is not None and not done % _BATCH:
            progress(done)
    if progress is not None:
        progress(done)
    return state


def _fill_events(
    connection: Connection,
    entries: Iterable[tuple[int, Event]],
    progress: Progress | None,
) -> OperationState:
    """Insert the ``events`` rows of ``entries`` and fold them into a state."""
    state = OperationState()
    done = 0
    for batch in _batches(entries):
        for _, ev in batch:
            state.apply(ev)
        insert_rows(connection, events, [event_row(index, ev) for index, ev in batch])
        done += len(batch)
        if progress is not None:
            progress(done)
    return state


def _fill_entities(connection: Connection, state: OperationState, position: Position) -> None:
    by_table: dict[str, list[Row]] = {}
    for entity in all_entities(state):
        for table, table_rows in entity_rows(state, entity).items():
            by_table.setdefault(table, []).extend(table_rows)
    for table, table_rows in by_table.items():
        insert_rows(connection, TABLES[table], table_rows)
    Projections._set_position(connection, position)  # noqa: SLF001 - same module


def _write_event_rows(building: Path, reader: EntryReader) -> None:
    """In the helper process: migrate the new file and write its ``events`` table."""
    with _building_engine(building) as engine, engine.begin() as connection:
        command.upgrade(_alembic(connection), "head")
        # one sort at the end costs far less than inserting random hashes into the index
        (by_id,) = (index for index in events.indexes if index.name == "ix_events_id")
        by_id.drop(connection)
        for batch in _batches(reader()):
            insert_rows(connection, events, [logged_event_row(i, raw) for i, raw in batch])
        by_id.create(connection)
    _fsync(building)  # while the other process still folds: less left to sync at the swap


def _helper_main() -> None:
    gc.disable()  # it only streams rows: nothing lives long enough to need collecting
    """The helper process's entry: ``(building, reader)`` arrive pickled on its stdin."""
    building, reader = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our own parent
    try:
        _write_event_rows(building, reader)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.exit(1)


def _start_event_rows(building: Path, reader: EntryReader) -> subprocess.Popen[bytes]:
    # a fresh interpreter (not fork: the parent has threads; not multiprocessing's spawn: it
    # re-imports the caller's main module)
    helper = subprocess.Popen(
        [sys.executable, "-c", "from safepassage.projections.store import _helper_main as m; m()"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert helper.stdin is not None
    helper.stdin.write(pickle.dumps((building, reader)))
    helper.stdin.close()
    return helper


def _join(helper: subprocess.Popen[bytes]) -> None:
    assert helper.stderr is not None
    with helper.stderr:
        err = helper.stderr.read()  # until the helper exits (it writes only on failure)
    if helper.wait() != 0:
        said = err.decode(errors="replace").strip().splitlines()
        raise StoreError(
            "writing the events table failed in the helper process"
            f" (exit {helper.returncode}): {said[-1] if said else 'no message'}",
            field="projections",
        )


def _stop(helper: subprocess.Popen[bytes]) -> None:
    helper.kill()
    helper.wait()
    if helper.stderr is not None:
        helper.stderr.close()


@contextlib.contextmanager
def _building_engine(path: Path) -> Iterator[Engine]:
    """An engine on a file being built: no journal, no syncs (a crash leaves only a file that
    is deleted and begun again); ``_swap`` syncs it once, whole, before it counts."""
    engine = create_engine(sqlite_url(path), poolclass=NullPool)

    def pragmas(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    event.listen(engine, "begin", begin_immediate)
    try:
        yield engine
    finally:
        engine.dispose()


def _swap(building: Path, path: Path, projections: Projections) -> None:
    """Make the built file the projections: synced, then renamed over the old one.

    The old file's WAL and shared-memory files belong to the old file: they are removed
    before anyone opens the new one (a WAL applied to another database corrupts it).
    """
    with sqlite3.connect(building, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode=WAL")  # recorded in the file: every reader uses WAL
    db.close()
    _fsync(building)
    projections.engine.dispose()
    building.replace(path)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    projections.reconnect()


def _fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _unlink_database(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
