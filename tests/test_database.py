"""The choice of database: URLs checked and redacted, recorded once in DIR/database.url."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url

from safepassage.database import (
    DATABASE_FILE,
    check_schema,
    check_url,
    database_for,
    ensure_schema,
    is_postgresql,
    postgres_engine,
    record_database,
    recorded_database,
    redacted,
    sqlalchemy_url,
)
from safepassage.errors import StoreError
from safepassage.ledger.postgres import PostgresLogStore

URL = "postgresql://ops@db.example.org:5432/azovstal"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, True),
        ("postgres://ops@db/x", True),
        ("POSTGRESQL://ops@db/x", True),
        ("postgresql+psycopg://ops@db/x", True),
        ("postgresql:///x?host=/var/run/postgresql", True),
        ("sqlite:///x.db", False),
        ("mysql://ops@db/x", False),
        ("postgresql", False),
        ("", False),
        (None, False),
    ],
)
def test_what_counts_as_postgresql(url: str | None, expected: bool) -> None:
    assert is_postgresql(url) is expected


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "mysql://a@b/c", "azovstal", "postgresql+psycopg://a@b/c"]
)
def test_only_a_plain_postgresql_url_is_taken(url: str) -> None:
    with pytest.raises(StoreError) as err:
        check_url(url)
    assert err.value.field == "--db"
    assert check_url(f"  {URL}\n") == URL


def test_passwords_never_reach_a_message() -> None:
    assert redacted("postgresql://ops:s3cret@db/x") == "postgresql://ops:***@db/x"
    assert "s3cret" not in redacted("postgresql://db/x?user=ops&password=s3cret&sslmode=require")
    assert "sslmode=require" in redacted("postgresql://db/x?password=s3cret&sslmode=require")
    assert redacted(URL) == URL


def test_sqlalchemy_gets_the_driver_and_everything_else_as_written() -> None:
    url = make_url(sqlalchemy_url("postgresql://ops:p%40ss@db:5433/x?options=-c%20a%3Db"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "ops",
        "p@ss",
        "db",
        5433,
        "x",
    )
    assert url.query == {"options": "-c a=b"}


def test_a_schema_name_is_a_plain_identifier() -> None:
    assert check_schema("log_2") == "log_2"
    for bad in ("Log", 'log"; drop', "", "2log", "x" * 64):
        with pytest.raises(StoreError):
            check_schema(bad)


def test_the_url_is_recorded_once_for_the_owner_only(tmp_path: Path) -> None:
    assert recorded_database(tmp_path) is None
    record_database(tmp_path, URL)
    path = tmp_path / DATABASE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert recorded_database(tmp_path) == URL
    record_database(tmp_path, URL)  # the same again: nothing to do
    with pytest.raises(StoreError) as err:
        record_database(tmp_path, "postgresql://ops:s3cret@elsewhere/x")
    assert err.value.field == "--db"
    assert "s3cret" not in str(err.value)
    assert recorded_database(tmp_path) == URL


def test_an_explicit_database_must_be_the_recorded_one(tmp_path: Path) -> None:
    sqlite_dir, pg_dir = tmp_path / "sqlite", tmp_path / "pg"
    sqlite_dir.mkdir()
    pg_dir.mkdir()
    record_database(pg_dir, URL)
    assert database_for(sqlite_dir) is None
    assert database_for(pg_dir) == URL
    assert database_for(pg_dir, URL) == URL
    with pytest.raises(StoreError) as other:
        database_for(pg_dir, "postgresql://ops:s3cret@elsewhere/x")
    assert other.value.field == "--db"
    assert "s3cret" not in str(other.value)
    with pytest.raises(StoreError) as files:
        database_for(sqlite_dir, URL)
    assert files.value.field == "--db"
    assert "SQLite files" in files.value.reason


def test_a_damaged_record_is_an_error_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILE).write_text("not a url\n")
    with pytest.raises(StoreError) as err:
        recorded_database(tmp_path)
    assert err.value.field == str(tmp_path / DATABASE_FILE)


def test_a_statement_run_again_is_planned_for_the_rows_it_meets(postgres_url: str) -> None:
    """A lookup run batch after batch is planned each time, never with a plan kept from when
    the table was small (PostgreSQL's default switches to one after five runs): a writer's key
    lookups went on scanning a growing table, and PostgreSQL spent most of its time there."""
    engine = postgres_engine(postgres_url, "planning")
    try:
        with engine.begin() as connection:
            ensure_schema(connection, "planning")
            connection.exec_driver_sql("CREATE TABLE records (ref text PRIMARY KEY)")
            connection.exec_driver_sql("INSERT INTO records VALUES ('P-1')")
        lookup = text("SELECT ref FROM records WHERE ref IN :refs").bindparams(
            bindparam("refs", expanding=True)
        )
        with engine.connect() as connection:
            for n in range(12):  # psycopg prepares it from its fifth run on
                connection.execute(lookup, {"refs": [f"P-{n}", "P-1"]}).all()
            generic, custom = connection.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE starts_with(statement, 'SELECT ref FROM records')"
            ).one()
        assert (generic, custom) == (0, custom)
        assert custom >= 5
    finally:
        engine.dispose()


def test_the_log_stores_connections_are_planned_the_same_way(postgres_url: str) -> None:
    store = PostgresLogStore.create(postgres_url, "example.org/log")
    try:
        store.append(b"entry")
        for conn in (store._reader(), store._writer()):  # its two sessions
            row = conn.execute("SHOW plan_cache_mode").fetchone()
            assert row == ("force_custom_plan",)
    finally:
        store.close()
