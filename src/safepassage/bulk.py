"""Many rows into one table at once: what the projections and the vault insert batch by batch.

The statement is compiled once per table, columns and dialect, and values go through each
column type's own bind processing (times to UTC and the dialect's form), without the per-row
work a Core ``insert`` does on top. SQLite takes the rows through the driver's ``executemany``
(each row is a call into the library, in process). PostgreSQL takes them as one statement of
many ``VALUES`` rows: ``executemany`` would run the statement once per row, each a round of
parse, bind and execute for the server, and of protocol work for psycopg.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.types import TypeEngine

from safepassage.projections.schema import UtcDateTime

__all__ = ["insert_rows"]

# PostgreSQL takes at most 65,535 parameters per statement; a thousand rows is plenty per trip.
_MAX_PARAMETERS: Final = 30_000
_MAX_ROWS: Final = 1_000
_NAMED: Final = re.compile(r"%\((\w+)\)s")


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
    if plan.row is not None:  # PostgreSQL: many rows per statement
        step = max(1, min(_MAX_ROWS, _MAX_PARAMETERS // len(order)))
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            connection.exec_driver_sql(
                _many(plan.head, plan.row, len(chunk)), tuple(v for row in chunk for v in row)
            )
        return
    if not plan.positional:
        values = [dict(zip(order, value, strict=True)) for value in values]
    elif process or len(order) == 1:
        values = [tuple(value) for value in values]
    connection.exec_driver_sql(plan.sql, values)


class _Plan:
    __slots__ = ("head", "order", "positional", "process", "row", "sql")

    def __init__(self, sql: str, order: list[str], positional: bool) -> None:
        self.sql = sql
        self.order = order
        self.positional = positional
        self.process: list[tuple[int, Callable[[Any], Any]]] = []
        self.head = sql
        self.row: str | None = None


@functools.lru_cache(maxsize=256)  # a few shapes per table and engine
def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan:
    """The insert of ``columns`` into ``table`` compiled for ``dialect``, the order its values
    go in, whether they go by position, and each value's bind processing: worked out once per
    statement (a server's writer inserts the same few shapes of rows thousands of times)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = list(compiled.positiontup or []) if compiled.positional else list(columns)
    plan = _Plan(str(compiled), order, bool(compiled.positional))
    sqlite = dialect.name == "sqlite"
    plan.process = [
        (position, p)
        for position, name in enumerate(order)
        if (p := _processor(table.c[name].type, dialect, sqlite=sqlite)) is not None
    ]
    if dialect.name == "postgresql":
        head, _, row = plan.sql.partition(" VALUES ")
        if [m.group(1) for m in _NAMED.finditer(row)] == order:  # one placeholder per column
            plan.head, plan.row = head, _NAMED.sub("%s", row)  # casts kept: ``%s::VARCHAR``
    return plan


@functools.lru_cache(maxsize=1024)
def _many(head: str, row: str, n: int) -> str:
    return f"{head} VALUES {', '.join([row] * n)}"


def _processor(
    type_: TypeEngine[Any], dialect: Dialect, *, sqlite: bool
) -> Callable[[Any], Any] | None:
    if sqlite and isinstance(type_, UtcDateTime):
        return _sqlite_utc_text
    return type_.bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """What ``UtcDateTime`` and the sqlite3 module together store, in one step: the UTC time
    in ISO form (``2022-05-06 15:35:00+00:00``), read back by the same column type."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a naive time cannot be stored; it must carry a time zone")
    return value.astimezone(UTC).isoformat(" ")
