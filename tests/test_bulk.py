"""Many rows at once (``safepassage.bulk``): what goes in comes back, on both databases, and on
PostgreSQL in one statement per chunk of rows instead of one per row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError

from safepassage import bulk
from safepassage.bulk import _sqlite_utc_text, insert_rows
from safepassage.database import ensure_schema, postgres_engine
from safepassage.projections.schema import UtcDateTime

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(50), nullable=True),
    Column("at", UtcDateTime, nullable=True),
    Column("blob", LargeBinary, nullable=True),
    Column("flag", Boolean, nullable=True),
    Column("share", Float, nullable=True),
)


@pytest.fixture
def engine(tmp_path: Path, database: str | None) -> Iterator[Engine]:
    if database is None:
        made = create_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    else:
        made = postgres_engine(database, "bulk")
    with made.begin() as connection:
        if database is not None:
            ensure_schema(connection, "bulk")
        metadata.create_all(connection)
    yield made
    made.dispose()


def _read(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(things).order_by(things.c.id))]


names = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=50)
times = st.none() | st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; zone below
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": names,
            "at": times,
            "blob": st.none() | st.binary(max_size=40),
            "flag": st.none() | st.booleans(),
            "share": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
        }
    ),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows, step=st.integers(1, 7))
def test_what_goes_in_comes_back(
    engine: Engine, rows: list[dict[str, Any]], step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_MAX_ROWS", step)  # statements of a few rows: chunks meet
    numbered = [{"id": n} | row for n, row in enumerate(rows)]
    with engine.begin() as connection:
        connection.execute(things.delete())
        insert_rows(connection, things, numbered)
    assert _read(engine) == numbered


def test_postgresql_takes_a_batch_in_one_statement_per_chunk(
    engine: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_MAX_ROWS", 400)
    sent: list[tuple[str, bool]] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, _p, _ctx, many: sent.append((statement, many)),
    )
    start = datetime(2022, 5, 6, tzinfo=UTC)
    many = [{"id": n, "name": f"p{n}", "at": start + timedelta(minutes=n)} for n in range(1000)]
    with engine.begin() as connection:
        insert_rows(connection, things, many)
    inserts = [(s, m) for s, m in sent if s.startswith("INSERT")]
    if backend == "postgresql":
        assert [m for _, m in inserts] == [False, False, False]  # 400 + 400 + 200 rows
    else:
        assert [m for _, m in inserts] == [True]  # sqlite3's executemany, in process
    assert [(r["id"], r["at"]) for r in _read(engine)] == [(r["id"], r["at"]) for r in many]


def test_a_refused_row_leaves_none_of_the_batch(engine: Engine) -> None:
    with engine.begin() as connection:
        insert_rows(connection, things, [{"id": 7, "name": "first"}])
    with pytest.raises(IntegrityError), engine.begin() as connection:
        insert_rows(connection, things, [{"id": 8, "name": "new"}, {"id": 7, "name": "again"}])
    assert _read(engine) == [
        {"id": 7, "name": "first", "at": None, "blob": None, "flag": None, "share": None}
    ]


def test_a_naive_time_is_never_stored() -> None:
    with pytest.raises(ValueError, match="time zone"):
        _sqlite_utc_text(datetime(2022, 5, 6, 15, 35))  # noqa: DTZ001 - the point of the test
    assert _sqlite_utc_text(datetime(2022, 5, 6, 15, 35, tzinfo=UTC)) == "2022-05-06 15:35:00+00:00"


def test_a_value_too_long_for_its_column_is_refused_not_cut(postgres_url: str) -> None:
    engine = postgres_engine(postgres_url, "bulk")
    try:
        with engine.begin() as connection:
            ensure_schema(connection, "bulk")
            metadata.create_all(connection)
        with pytest.raises(DataError, match="too long"), engine.begin() as connection:
            insert_rows(connection, things, [{"id": 1, "name": "x" * 51}])
        assert _read(engine) == []
    finally:
        engine.dispose()
