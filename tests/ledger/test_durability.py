"""The settings a log refuses: judged from a store's report, an open store, or a URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from safepassage.errors import StoreError
from safepassage.ledger.durability import problems, unsafe
from safepassage.ledger.postgres import PostgresLogStore
from safepassage.ledger.sqlite import SqliteLogStore
from tests.postgres import PostgresServer

SYNC_OFF = "?options=-c%20synchronous_commit%3Doff"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"journal_mode": "wal", "synchronous": "FULL"}, []),
        ({"journal_mode": "wal", "synchronous": "EXTRA"}, []),
        ({"journal_mode": "wal", "synchronous": "NORMAL"}, ["synchronous=NORMAL"]),
        ({"journal_mode": "delete", "synchronous": "OFF"}, ["synchronous=OFF"]),
        ({"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}, []),
        ({"fsync": "on", "synchronous_commit": "local", "full_page_writes": "on"}, []),
        ({"fsync": "on", "synchronous_commit": "remote_apply", "full_page_writes": "on"}, []),
        ({"fsync": "off", "synchronous_commit": "on"}, ["fsync=off"]),
        ({"fsync": "on", "synchronous_commit": "off"}, ["synchronous_commit=off"]),
        ({"full_page_writes": "off"}, ["full_page_writes=off"]),
        ({"fsync": "off", "synchronous_commit": "off"}, ["fsync=off", "synchronous_commit=off"]),
    ],
)  # fmt: skip
def test_each_unsafe_setting_is_named(settings: dict[str, str], named: list[str]) -> None:
    reasons = problems(settings)
    assert len(reasons) == len(named)
    for reason, setting in zip(reasons, named, strict=True):
        assert setting in reason


def test_a_sqlite_store_is_judged_on_the_connection_it_writes_with(tmp_path: Path) -> None:
    with SqliteLogStore.create(tmp_path / "log.db", "example.org/log") as store:
        assert unsafe(store) == []
        store._write_conn.execute("PRAGMA synchronous=NORMAL")  # as a careless change would
        [reason] = unsafe(store)
        assert "synchronous=NORMAL" in reason


def test_synchronous_commit_off_in_the_url_is_refused(postgres_url: str) -> None:
    assert unsafe(postgres_url) == []
    [reason] = unsafe(postgres_url + SYNC_OFF)
    assert "synchronous_commit=off" in reason
    assert unsafe(postgres_url + "?options=-c%20synchronous_commit%3Dlocal") == []
    PostgresLogStore.create(postgres_url, "example.org/log").close()
    with PostgresLogStore.open(postgres_url + SYNC_OFF) as store:
        [reason] = unsafe(store)  # the store's own connection, as its appends see it
        assert "synchronous_commit=off" in reason


def _reload_until(server: PostgresServer, url: str, value: str) -> None:
    server.admin().execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the postmaster applies a reload asynchronously
        with psycopg.connect(url) as conn:
            row = conn.execute("SHOW fsync").fetchone()
        if row is not None and row[0] == value:
            return
        time.sleep(0.02)
    pytest.fail(f"the server did not apply fsync={value}")


@pytest.fixture
def fsync_off(postgres_server: PostgresServer, postgres_url: str) -> Iterator[None]:
    """``fsync = off`` for the whole server (it is reloadable), set back on afterwards."""
    admin = postgres_server.admin()
    admin.execute("ALTER SYSTEM SET fsync = off")
    try:
        _reload_until(postgres_server, postgres_url, "off")
        yield
    finally:
        admin.execute("ALTER SYSTEM RESET fsync")
        _reload_until(postgres_server, postgres_url, "on")


def test_a_server_running_without_fsync_is_refused(fsync_off: None, postgres_url: str) -> None:
    [reason] = unsafe(postgres_url)
    assert "fsync=off" in reason
    with PostgresLogStore.create(postgres_url, "example.org/log") as store:
        [reason] = unsafe(store)
        assert "fsync=off" in reason


def test_what_is_neither_a_store_nor_a_postgresql_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        unsafe(f"sqlite:///{tmp_path}/log.db")
    assert err.value.field == "--db"
    with pytest.raises(StoreError) as down:
        unsafe("postgresql://someone:hunter2@127.0.0.1:1/nothing")
    assert down.value.field == "--db"
    assert "hunter2" not in str(down.value)
