"""Many rows into one table at once: what the projections and the vault insert batch by batch.

The statement is compiled once per table, columns and dialect, and values go through each
column type's own bind processing (times to UTC and the dialect's form), without the per-row
work a Core ``insert`` does on top. SQLite takes the rows through the driver's ``executemany``
(each row is a call into the library, in process). PostgreSQL takes them in one statement, a
column per array, sent binary: ``INSERT … SELECT * FROM unnest(%b::VARCHAR[], %b::INTEGER[],
…)``. ``executemany`` would run the statement once per row, each a round of parse, bind and
execute for the server and of protocol work for psycopg; a statement of many ``VALUES`` rows
would be new text for every number of rows, and psycopg parses such long text anew each run.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Dialect, String, Table, insert
from sqlalchemy.types import TypeDecorator, TypeEngine

from safepassage.projections.schema import UtcDateTime

__all__ = ["insert_rows"]

_MAX_ROWS: Final = 5_000  # per statement on PostgreSQL: bounds one message's size


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same columns) into ``table``, in as few statements as the
    database takes."""
    if not rows:
        return
    plan = _plan(connection.dialect, table, tuple(rows[0]))
    order, process = plan.order, plan.process
    if len(order) == 1:
        values: list[Any] = [[row[order[0]]] for row in rows]
    else:
        pick = operator.itemgetter(*order)
        values = [list(pick(row)) for row in rows] if process else [pick(row) for row in rows]
    for position, p in process:
        for value in values:
            value[position] = p(value[position])
    if plan.arrays is not None:  # PostgreSQL: a column per array
        for start in range(0, len(values), _MAX_ROWS):
            columns = zip(*values[start : start + _MAX_ROWS], strict=True)
            connection.exec_driver_sql(plan.arrays, tuple(list(c) for c in columns))
        return
    if not plan.positional:
        values = [dict(zip(order, value, strict=True)) for value in values]
    elif process or len(order) == 1:
        values = [tuple(value) for value in values]
    connection.exec_driver_sql(plan.sql, values)


@dataclass
class _Plan:
    sql: str
    order: list[str]
    positional: bool
    process: list[tuple[int, Callable[[Any], Any]]] = field(default_factory=list)
    arrays: str | None = None
    """PostgreSQL: the insert with one array parameter per column."""


@functools.lru_cache(maxsize=256)  # a few shapes per table and engine
def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan:
    """The insert of ``columns`` into ``table`` compiled for ``dialect``, the order its values
    go in, whether they go by position, and each value's bind processing: worked out once per
    statement (a server's writer inserts the same few shapes of rows thousands of times)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if compiled.positional:
        order = list(compiled.positiontup or [])
    elif dialect.name == "postgresql":  # the arrays go in the order the insert names columns
        order = [column.name for column in table.columns if column.name in columns]
    else:
        order = list(columns)
    plan = _Plan(str(compiled), order, bool(compiled.positional))
    sqlite = dialect.name == "sqlite"
    plan.process = [
        (position, p)
        for position, name in enumerate(order)
        if (p := _processor(table.c[name].type, dialect, sqlite=sqlite)) is not None
    ]
    if dialect.name == "postgresql":
        head = plan.sql.partition(" VALUES ")[0]
        arrays = ", ".join(f"%b::{_array_type(table.c[name].type, dialect)}[]" for name in order)
        plan.arrays = f"{head} SELECT * FROM unnest({arrays})"  # noqa: S608 - our own schema
    return plan


def _array_type(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """The element type of a column's array: a string without its length (a cast to
    ``VARCHAR(63)`` would cut a longer value short; the insert refuses it instead)."""
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, String):
        return "VARCHAR"
    return type_.compile(dialect=dialect)


def _processor(
    type_: TypeEngine[Any], dialect: Dialect, *, sqlite: bool
) -> Callable[[Any], Any] | None:
    if sqlite and isinstance(type_, UtcDateTime):
        return _sqlite_utc_text
    return type_.bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """The UTC time in ISO form (``2022-05-06 15:35:00+00:00``), in one step instead of a bind
    processing per value; ``UtcDateTime`` reads it back as the same instant (a Core insert
    stores it as ``2022-05-06 15:35:00.000000``: only the text differs)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a naive time cannot be stored; it must carry a time zone")
    return value.astimezone(UTC).isoformat(" ")
