"""The PostgreSQL store: the shared contract, plus what only a database server can show."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.audit import audit
from safepassage.ledger.checkpoint import Checkpoint, sign_checkpoint
from safepassage.ledger.note import Signer
from safepassage.ledger.postgres import PostgresLogStore
from safepassage.ledger.store import LogStore
from tests.ledger.store_contract import MakeStore, Reopen, StoreContract

ORIGIN = "example.org/log"


class TestPostgresContract(StoreContract):
    @pytest.fixture
    def make_store(self, postgres_url: str) -> Iterator[MakeStore]:
        made: list[LogStore] = []
        counter = iter(range(1_000_000))

        def make() -> LogStore:  # each in a schema of its own: one database per test is enough
            store = PostgresLogStore.create(postgres_url, ORIGIN, schema=f"log{next(counter)}")
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()

    @pytest.fixture
    def reopen(self) -> Reopen:
        def again(store: LogStore) -> LogStore:
            assert isinstance(store, PostgresLogStore)
            return PostgresLogStore.open(store.url, schema=store.schema)

        return again


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresLogStore]:
    s = PostgresLogStore.create(postgres_url, ORIGIN)
    yield s
    s.close()


@pytest.fixture
def sql(postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Another session on the same database, as another program (or an attacker) would be."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


def test_durability_settings_are_the_servers_for_this_connection(
    store: PostgresLogStore, postgres_url: str
) -> None:
    assert store.durability() == {
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
    }
    local = postgres_url + "?options=-c%20synchronous_commit%3Dlocal"
    with PostgresLogStore.open(local) as other:
        assert other.durability()["synchronous_commit"] == "local"
        assert other.append(b"still works") == 0


def test_group_commit_shares_one_transaction_and_confirms_only_after_commit(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    store.append(b"warm up")
    before = store.commits
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda k=k: results.append(store.append(b"t%d" % k)))
        for k in range(8)
    ]
    with sql.transaction():
        sql.execute("LOCK TABLE log.entries IN EXCLUSIVE MODE")  # no append can commit now
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while store.waiting() < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # let the writer reach the lock it cannot take
        assert store.waiting() == 8
        assert results == []  # nobody is told an index before the commit
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 9))
    assert store.commits - before <= 2  # the first waiter's commit, then everyone else's


def test_an_append_is_two_round_trips_and_a_commit(
    store: PostgresLogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock and the size under it in one call; the entries and their tree nodes in one
    statement, whatever the batch's size (then the commit)."""
    store.append(b"warm up")
    ran: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(self: psycopg.Cursor[object], query: object, *args: object, **kw: object) -> object:
        ran.append(str(query))
        return execute(self, query, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    assert store.append_batch([b"a", b"b", b"c", b"d", b"e"]) == 1
    assert len(ran) == 2
    assert ran[0].startswith("LOCK TABLE")
    assert "entries" in ran[1]
    assert "nodes" in ran[1]
    monkeypatch.undo()
    again = PostgresLogStore.open(store.url, schema=store.schema)  # what was stored, not cached
    try:
        entries = [b"warm up", b"a", b"b", b"c", b"d", b"e"]
        assert again.size() == 6
        assert again.root(6) == merkle.root([merkle.leaf_hash(e) for e in entries])
        assert [data for _, data in again.iter_entries(0)] == entries
    finally:
        again.close()


def test_async_appends_in_flight_share_one_commit(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    store.append(b"warm up")
    blocker = sql.transaction()
    blocker.__enter__()
    sql.execute("LOCK TABLE log.entries IN EXCLUSIVE MODE")

    async def run() -> list[int]:
        tasks = [asyncio.create_task(store.append_async([b"e%d" % k])) for k in range(100)]
        try:
            while store.waiting() < 100:  # noqa: ASYNC110 - polls another thread's counter
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in tasks)  # nothing confirmed before the commit
        finally:
            blocker.__exit__(None, None, None)
        return await asyncio.gather(*tasks)

    before = store.commits
    got = asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert sorted(got) == list(range(1, 101))
    assert store.commits - before <= 2


def test_a_failed_commit_fails_every_caller_and_writes_nothing(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    store.append_batch([b"a", b"b", b"c"])
    sql.execute(
        "CREATE FUNCTION log.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk says no'; END $$"
    )
    sql.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON log.entries "
        "FOR EACH ROW EXECUTE FUNCTION log.refuse()"
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
    sql.execute("DROP TRIGGER refuse ON log.entries")
    assert store.append(b"d") == 3  # the writer recovered, and the tree is still right
    assert store.root() == merkle.root([merkle.leaf_hash(x) for x in (b"a", b"b", b"c", b"d")])


def test_an_entry_the_database_refuses_fails_only_its_own_caller(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    sql.execute(
        "CREATE FUNCTION log.poison() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.data = 'poison'::bytea THEN RAISE EXCEPTION 'poison'; END IF; "
        "RETURN NEW; END $$"
    )
    sql.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON log.entries "
        "FOR EACH ROW EXECUTE FUNCTION log.poison()"
    )
    outcomes: dict[bytes, object] = {}

    def attempt(data: bytes) -> None:
        try:
            outcomes[data] = store.append(data)
        except StoreError as exc:
            outcomes[data] = exc

    names = [b"a", b"b", b"poison", b"c", b"d"]
    threads = [threading.Thread(target=attempt, args=(n,)) for n in names]
    with sql.transaction():
        sql.execute("LOCK TABLE log.entries IN EXCLUSIVE MODE")  # so that all five share a batch
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while store.waiting() < len(names) and time.monotonic() < deadline:
            time.sleep(0.005)
    for t in threads:
        t.join()
    assert isinstance(outcomes[b"poison"], StoreError)
    assert "poison" in str(outcomes[b"poison"])
    assert sorted(v for k, v in outcomes.items() if k != b"poison") == [0, 1, 2, 3]  # type: ignore[type-var]
    assert store.size() == 4


def test_two_stores_and_two_processes_append_to_one_log(postgres_url: str) -> None:
    PostgresLogStore.create(postgres_url, ORIGIN).close()
    script = (
        "import sys\n"
        "from safepassage.ledger.postgres import PostgresLogStore\n"
        "s = PostgresLogStore.open(sys.argv[1])\n"
        "for i in range(150): s.append(b'%s-%d' % (sys.argv[2].encode(), i))\n"
        "s.close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, postgres_url, name]) for name in ("a", "b")
    ]
    with PostgresLogStore.open(postgres_url) as one, PostgresLogStore.open(postgres_url) as two:
        for i in range(100):  # two stores of this process, interleaved with the two others
            (one if i % 2 else two).append(b"here-%d" % i)
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with PostgresLogStore.open(postgres_url) as s:
        entries = dict(s.iter_entries())
        assert sorted(entries) == list(range(400))
        assert len(set(entries.values())) == 400
        assert s.root() == merkle.root([merkle.leaf_hash(entries[i]) for i in range(400)])
        assert audit(s, Signer.generate(ORIGIN).verifier()).size == 400


def test_create_refuses_a_database_that_holds_a_log(store: PostgresLogStore) -> None:
    store.append(b"kept")
    with pytest.raises(StoreError, match="already holds a log"):
        PostgresLogStore.create(store.url, ORIGIN)
    assert store.size() == 1


@pytest.mark.parametrize("origin", ["", "two\nlines"])
def test_create_refuses_a_bad_origin(postgres_url: str, origin: str) -> None:
    with pytest.raises(StoreError) as err:
        PostgresLogStore.create(postgres_url, origin)
    assert err.value.field == "origin"
    with pytest.raises(StoreError, match="no safepassage log"):
        PostgresLogStore.open(postgres_url)


def test_open_refuses_what_is_not_a_log(
    postgres_url: str, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    with pytest.raises(StoreError, match="no safepassage log"):
        PostgresLogStore.open(postgres_url)
    sql.execute("CREATE SCHEMA log")
    sql.execute("CREATE TABLE log.meta (key text, value text)")
    sql.execute("INSERT INTO log.meta VALUES ('format', 'something-else/9')")
    with pytest.raises(StoreError, match="not a safepassage-log/1 log"):
        PostgresLogStore.open(postgres_url)
    with pytest.raises(StoreError) as err:
        PostgresLogStore.open("sqlite:///x.db")
    assert err.value.field == "store"


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as err:
        PostgresLogStore.open("postgresql://someone:hunter2@127.0.0.1:1/nothing")
    assert err.value.field == "store"
    assert "hunter2" not in str(err.value)


def test_a_read_only_open_writes_nothing(store: PostgresLogStore) -> None:
    store.append_batch([b"a", b"b"])
    with PostgresLogStore.open(store.url, readonly=True) as ro:
        assert ro.size() == 2
        with pytest.raises(StoreError, match="read-only"):
            ro.append(b"c")
        with pytest.raises(StoreError, match="read-only"):
            ro.put_checkpoint(2, "note\n")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            ro._reader().execute("INSERT INTO log.checkpoints VALUES (9, 'x')")  # its session too
    assert store.checkpoints() == []


def test_a_snapshot_sees_one_state_while_another_store_appends(store: PostgresLogStore) -> None:
    store.append_batch([b"a", b"b", b"c"])
    with PostgresLogStore.open(store.url) as writer, store.snapshot():
        root = store.root()
        writer.append_batch([b"d", b"e"])
        with store.snapshot():  # nested: the outer one holds
            assert store.size() == 3
        assert [i for i, _ in store.iter_entries()] == [0, 1, 2]
        assert store.root() == root
    assert store.size() == 5


def test_entries_stream_in_chunks_and_gaps_stay_visible(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    store.append_batch([b"%d" % i for i in range(4500)])  # more than two chunks
    assert [i for i, _ in store.iter_entries()] == list(range(4500))
    assert [i for i, _ in store.iter_entries(1999, 4001)] == list(range(1999, 4001))
    assert len(list(store.iter_level(0))) == 4500
    sql.execute("DELETE FROM log.entries WHERE idx = 2100")
    got = [i for i, _ in store.iter_entries()]
    assert 2100 not in got
    assert len(got) == 4499


def test_audit_names_an_entry_altered_in_the_database(
    store: PostgresLogStore, sql: psycopg.Connection[tuple[object, ...]]
) -> None:
    from safepassage.errors import VerificationError  # noqa: PLC0415

    signer = Signer.generate(ORIGIN)
    store.append_batch([b"e%d" % i for i in range(20)])
    store.put_checkpoint(20, sign_checkpoint(Checkpoint(ORIGIN, 20, store.root()), signer))
    assert audit(store, signer.verifier()).checkpoints == 1
    sql.execute("UPDATE log.entries SET data = 'forged'::bytea WHERE idx = 7")
    with pytest.raises(VerificationError) as err:
        audit(store, signer.verifier())
    assert err.value.index == 7
