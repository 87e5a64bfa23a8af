"""The SQLite store: the shared contract, plus what only a file on disk can show."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.sqlite import SqliteLogStore
from safepassage.ledger.store import MAX_ENTRY_BYTES, LogStore
from tests.ledger.store_contract import MakeStore, Reopen, StoreContract


class TestSqliteContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        made: list[LogStore] = []
        counter = iter(range(1_000_000))

        def make() -> LogStore:
            store = SqliteLogStore.create(tmp_path / f"log{next(counter)}.db", "example.org/log")
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()

    @pytest.fixture
    def reopen(self) -> Reopen:
        def again(store: LogStore) -> LogStore:
            assert isinstance(store, SqliteLogStore)
            return SqliteLogStore.open(store.path)

        return again


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLogStore]:
    s = SqliteLogStore.create(tmp_path / "log.db", "example.org/log")
    yield s
    s.close()


def test_durability_settings(store: SqliteLogStore) -> None:
    assert store.durability() == {"journal_mode": "wal", "synchronous": "FULL"}


def test_group_commit_shares_one_transaction_and_confirms_only_after_commit(
    store: SqliteLogStore,
) -> None:
    store.append(b"warm up")
    before = store.commits
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: no commit can happen
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda k=k: results.append(store.append(b"t%d" % k)))
        for k in range(8)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    try:
        while store.waiting() < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # let the writer reach the lock it cannot take
        assert store.waiting() == 8
        assert results == []  # nobody is told an index before the commit
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 9))
    # the writer took what was queued when it started waiting; everything else shares one commit
    assert store.commits - before <= 2


def test_async_appends_in_flight_share_one_commit(store: SqliteLogStore) -> None:
    store.append(b"warm up")
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def run() -> list[int]:
        tasks = [asyncio.create_task(store.append_async([b"e%d" % k])) for k in range(100)]
        try:
            while store.waiting() < 100:  # noqa: ASYNC110 - polls another thread's counter
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in tasks)  # nothing confirmed before the commit
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return await asyncio.gather(*tasks)

    before = store.commits
    got = asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert sorted(got) == list(range(1, 101))
    assert store.commits - before <= 2


def test_a_failed_commit_fails_every_caller_and_writes_nothing(store: SqliteLogStore) -> None:
    store.append_batch([b"a", b"b", b"c"])
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON entries "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    errors: list[StoreError] = []

    def attempt(k: int) -> None:
        try:
            store.append(b"x%d" % k)
        except StoreError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 5
    assert all("disk says no" in str(e) and e.field == "store" for e in errors)
    assert store.size() == 3
    other.execute("DROP TRIGGER refuse")
    other.close()
    assert store.append(b"d") == 3  # the writer recovered, and the tree is still right
    assert store.root() == merkle.root([merkle.leaf_hash(x) for x in (b"a", b"b", b"c", b"d")])


def test_two_processes_append_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SqliteLogStore.create(path, "example.org/log").close()
    script = (
        "import sys; from pathlib import Path\n"
        "from safepassage.ledger.sqlite import SqliteLogStore\n"
        "s = SqliteLogStore.open(Path(sys.argv[1]))\n"
        "for i in range(200): s.append(b'%s-%d' % (sys.argv[2].encode(), i))\n"
        "s.close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name]) for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with SqliteLogStore.open(path) as s:
        entries = dict(s.iter_entries())
        assert sorted(entries) == list(range(400))
        assert s.root() == merkle.root([merkle.leaf_hash(entries[i]) for i in range(400)])


def test_create_refuses_an_existing_file(store: SqliteLogStore) -> None:
    with pytest.raises(StoreError, match="already exists"):
        SqliteLogStore.create(store.path, "example.org/log")


@pytest.mark.parametrize("origin", ["", "two\nlines"])
def test_create_refuses_a_bad_origin(tmp_path: Path, origin: str) -> None:
    with pytest.raises(StoreError) as err:
        SqliteLogStore.create(tmp_path / "x.db", origin)
    assert err.value.field == "origin"
    assert not (tmp_path / "x.db").exists()


def test_open_refuses_what_is_not_a_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="does not exist"):
        SqliteLogStore.open(missing)
    assert not missing.exists()  # opening never creates a file
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as err:
        SqliteLogStore.open(junk)
    assert err.value.field == "store"
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not a safepassage log"):
        SqliteLogStore.open(other)


def test_close_answers_every_append_in_flight_and_refuses_later_ones(tmp_path: Path) -> None:
    s = SqliteLogStore.create(tmp_path / "closing.db", "example.org/log")
    outcomes: list[object] = []
    stop = threading.Event()

    def appender(k: int) -> None:
        while not stop.is_set():
            try:
                outcomes.append(s.append(b"k%d" % k))
            except StoreError as exc:
                outcomes.append(exc)
                return

    threads = [threading.Thread(target=appender, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    closer = threading.Thread(target=s.close)
    closer.start()
    closer.join(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not closer.is_alive()
    assert not any(t.is_alive() for t in threads)
    errors = [o for o in outcomes if isinstance(o, StoreError)]
    assert all("closed" in str(e) for e in errors)
    indexes = sorted(o for o in outcomes if isinstance(o, int))
    with SqliteLogStore.open(s.path) as again:
        assert again.size() == len(indexes)  # every index handed out is on disk
        assert indexes == list(range(len(indexes)))


def test_any_iterable_of_entries_is_taken_and_a_bad_one_jams_nothing(store: SqliteLogStore) -> None:
    assert store.append_batch(b"%d" % i for i in range(3)) == 0  # type: ignore[arg-type]
    with pytest.raises(StoreError) as err:
        store.append_batch(42)  # type: ignore[arg-type]
    assert err.value.field == "entries"
    with pytest.raises(StoreError) as err:
        store.append_batch(b"one value")
    assert err.value.field == "entries"
    assert store.append(b"after") == 3  # the writer is alive


def test_an_entry_over_the_limit_is_refused_before_anything_is_written(
    store: SqliteLogStore,
) -> None:
    with pytest.raises(StoreError) as err:
        store.append_batch([b"ok", b"x" * (MAX_ENTRY_BYTES + 1)])
    assert err.value.field == "entries[1]"
    assert "at most" in err.value.reason
    assert store.size() == 0


def test_an_entry_the_database_refuses_fails_only_its_own_caller(store: SqliteLogStore) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.data = x'706f69736f6e' "
        "BEGIN SELECT RAISE(ABORT, 'poison'); END"
    )
    other.close()
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # so that all five land in one batch
    outcomes: dict[bytes, object] = {}

    def attempt(data: bytes) -> None:
        try:
            outcomes[data] = store.append(data)
        except StoreError as exc:
            outcomes[data] = exc

    names = [b"a", b"b", b"poison", b"c", b"d"]
    threads = [threading.Thread(target=attempt, args=(n,)) for n in names]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while store.waiting() < len(names) and time.monotonic() < deadline:
        time.sleep(0.005)
    blocker.execute("ROLLBACK")
    blocker.close()
    for t in threads:
        t.join()
    assert isinstance(outcomes[b"poison"], StoreError)
    assert "poison" in str(outcomes[b"poison"])
    assert sorted(v for k, v in outcomes.items() if k != b"poison") == [0, 1, 2, 3]  # type: ignore[type-var]
    assert store.size() == 4


def test_a_read_only_open_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with SqliteLogStore.create(path, "example.org/log") as s:
        s.append_batch([b"a", b"b"])
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")  # as a copy made by another tool might be
    db.close()
    before = path.read_bytes()
    with SqliteLogStore.open(path, readonly=True) as s:
        assert s.size() == 2
        with pytest.raises(StoreError, match="read-only"):
            s.append(b"c")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro.db"]
