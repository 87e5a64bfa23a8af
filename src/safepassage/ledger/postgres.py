"""The log store in a PostgreSQL database (psycopg 3): durable commits, group commit.

The tables (``meta``, ``entries``, ``nodes``, ``checkpoints``, as in the SQLite store) live in
one schema of the database, ``log`` by default. Appends from any number of threads (or asyncio
tasks) go through one ``GroupCommitter``: a writer thread on its own connection takes everything
queued and, in one transaction, locks ``entries`` against other writers (``EXCLUSIVE`` mode:
readers go on), re-reads the size, inserts the entries and the new subtree hashes, and commits.
Each caller gets its index only after ``COMMIT`` returned, that is once the server has flushed
its write-ahead log, provided ``fsync`` is on and ``synchronous_commit`` is not ``off``:
``durability`` reports what the server does for this store's connection, and
``safepassage.ledger.durability`` names the settings that make a database unsafe for a log.
The table lock serialises writers in the database, so any number of processes (or stores)
appending to the same log get contiguous indexes. Readers use one connection per thread in
autocommit mode; ``snapshot`` holds one REPEATABLE READ transaction. A store opened read-only
sets its connections read-only and refuses appends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Final

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow

from safepassage.database import (
    LOG_SCHEMA,
    SESSION_SETTINGS,
    check_schema,
    is_postgresql,
    redacted,
)
from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.groupcommit import GroupCommitStore, GroupCommitter
from safepassage.ledger.store import Census, Frontier, StoredCheckpoint

__all__ = ["FORMAT", "PostgresLogStore"]

FORMAT: Final = "safepassage-log/1"
_CHUNK: Final = 2000  # rows per query when streaming entries or a level: bounded memory
_NODES_PER_QUERY: Final = 1000

_Conn = psycopg.Connection[TupleRow]

# Every statement, with ``{s}`` for the schema: ``_statements`` fills in the checked name.
_TEMPLATES: Final = {
    "create": """
        CREATE SCHEMA IF NOT EXISTS {s};
        CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE {s}.entries (idx bigint PRIMARY KEY, data bytea NOT NULL);
        CREATE TABLE {s}.nodes (
            level integer NOT NULL,
            idx bigint NOT NULL,
            hash bytea NOT NULL,
            PRIMARY KEY (level, idx)
        );
        CREATE TABLE {s}.checkpoints (size bigint PRIMARY KEY, note text NOT NULL)
    """,
    "drop_tables": "DROP TABLE IF EXISTS {s}.meta, {s}.entries, {s}.nodes, {s}.checkpoints",
    "drop_schema": "DROP SCHEMA IF EXISTS {s}",  # never CASCADE: only an empty schema goes
    "exists": "SELECT to_regclass('{s}.meta') IS NOT NULL",
    "meta": "SELECT key, value FROM {s}.meta",
    "put_meta": "INSERT INTO {s}.meta (key, value) VALUES (%s, %s)",
    "size": "SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.entries",
    "lock_then_size": (
        "LOCK TABLE {s}.entries IN EXCLUSIVE MODE;"
        " SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.entries"
    ),
    "entry": "SELECT data FROM {s}.entries WHERE idx = %s",
    "entries": "SELECT idx, data FROM {s}.entries WHERE idx >= %s AND idx < %s "
    "ORDER BY idx LIMIT %s",
    "nodes": "SELECT w.level, w.idx, n.hash FROM unnest(%s::integer[], %s::bigint[]) "
    "AS w(level, idx) JOIN {s}.nodes AS n ON n.level = w.level AND n.idx = w.idx",
    "level": "SELECT idx, hash FROM {s}.nodes WHERE level = %s AND idx >= %s ORDER BY idx LIMIT %s",
    # an append's entries and nodes: one statement, one round trip, arrays sent binary
    "put": "WITH e AS (INSERT INTO {s}.entries (idx, data) "
    "SELECT * FROM unnest(%b::bigint[], %b::bytea[])) "
    "INSERT INTO {s}.nodes (level, idx, hash) "
    "SELECT * FROM unnest(%b::integer[], %b::bigint[], %b::bytea[])",
    "census_entries": "SELECT count(*), min(idx), max(idx) FROM {s}.entries",
    "census_nodes": "SELECT count(*), min(level), max(level), min(idx) FROM {s}.nodes",
    "checkpoints": "SELECT size, note FROM {s}.checkpoints ORDER BY size",
    "put_checkpoint": "INSERT INTO {s}.checkpoints (size, note) VALUES (%s, %s) "
    "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
}


def _statements(schema: str) -> dict[str, str]:
    """The statements on the log in ``schema``: the only text ever put into SQL is that name,
    checked to be a plain lower-case identifier, and quoted."""
    quoted = '"' + check_schema(schema) + '"'
    return {name: template.format(s=quoted) for name, template in _TEMPLATES.items()}


def _connect(url: str, *, readonly: bool, autocommit: bool) -> _Conn:
    try:
        conn = psycopg.connect(url, autocommit=autocommit)
        conn.execute(SESSION_SETTINGS)
        if readonly:  # for the whole session: autocommit statements included
            conn.execute("SET default_transaction_read_only = on")
        if not autocommit:
            conn.commit()  # the settings hold for the session, not only this transaction
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redacted(url)}: {exc}", field="store") from exc
    return conn


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn the driver's errors on reads into ``StoreError`` so callers see one error family."""
    try:
        yield
    except psycopg.Error as exc:
        raise StoreError(f"the database cannot be read: {exc}", field="store") from exc


class PostgresLogStore(GroupCommitStore):
    """An operation's log in one schema of a PostgreSQL database."""

    def __init__(
        self,
        url: str,
        conn: _Conn,
        origin: str,
        *,
        schema: str = LOG_SCHEMA,
        readonly: bool = False,
    ) -> None:
        self.url = url
        self.schema = schema
        self._origin = origin
        self._readonly = readonly
        self._write_conn: _Conn = conn
        self._write_lock = threading.Lock()  # the writer's transaction, or a durability() read
        self._local = threading.local()
        self._readers: list[_Conn] = []
        self._readers_lock = threading.Lock()
        self._frontier: Frontier | None = None
        self._closed = False
        self._committer = GroupCommitter(self._write, f"{schema}@postgresql")
        self._sql = _statements(schema)

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, url: str, origin: str, *, schema: str = LOG_SCHEMA) -> PostgresLogStore:
        """Create a new, empty log in ``schema`` of the database at ``url``; refuse to touch a
        log that is already there. All in one transaction: nothing is left if it fails."""
        _check_url(url)
        sql = _statements(schema)
        if not origin or "\n" in origin:
            raise StoreError("must be a non-empty single line", field="origin")
        conn = _connect(url, readonly=False, autocommit=False)
        try:
            with conn.transaction():
                exists = _exists(conn, sql)
                if not exists:
                    for statement in sql["create"].split(";"):
                        conn.execute(statement)
                    conn.cursor().executemany(
                        sql["put_meta"], [("format", FORMAT), ("origin", origin)]
                    )
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot create the log: {exc}", field="store") from exc
        except BaseException:
            conn.close()
            raise
        if exists:
            conn.close()
            raise StoreError(
                f"{redacted(url)} already holds a log (schema {schema})", field="store"
            )
        return cls(url, conn, origin, schema=schema)

    @classmethod
    def open(
        cls, url: str, *, readonly: bool = False, schema: str = LOG_SCHEMA
    ) -> PostgresLogStore:
        """Open the log in ``schema`` of the database at ``url``; ``StoreError`` when there is
        none. ``readonly`` connections refuse every write (``verify``)."""
        _check_url(url)
        sql = _statements(schema)
        conn = _connect(url, readonly=readonly, autocommit=False)
        meta: dict[str, str] = {}
        try:
            with conn.transaction():
                exists = _exists(conn, sql)
                if exists:
                    meta = {str(k): str(v) for k, v in conn.execute(sql["meta"]).fetchall()}
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(
                f"{redacted(url)} is not a safepassage log: {exc}", field="store"
            ) from exc
        except BaseException:
            conn.close()
            raise
        if not exists:
            conn.close()
            raise StoreError(
                f"{redacted(url)} holds no safepassage log (no schema {schema})", field="store"
            )
        if meta.get("format") != FORMAT or not meta.get("origin"):
            conn.close()
            raise StoreError(
                f"{redacted(url)} is not a {FORMAT} log (format {meta.get('format')!r})",
                field="store",
            )
        return cls(url, conn, meta["origin"], schema=schema, readonly=readonly)

    @classmethod
    def drop(cls, url: str, *, schema: str = LOG_SCHEMA) -> None:
        """Delete the log in ``schema`` (its four tables; the schema too if nothing else is in
        it): what undoes a ``create`` whose caller failed before anything was appended."""
        _check_url(url)
        sql = _statements(schema)
        conn = _connect(url, readonly=False, autocommit=True)
        try:
            conn.execute(sql["drop_tables"])
            with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                conn.execute(sql["drop_schema"])
        except psycopg.Error as exc:
            raise StoreError(f"cannot drop the log: {exc}", field="store") from exc
        finally:
            conn.close()

    # --- reads -----------------------------------------------------------------------------

    def _reader(self) -> _Conn:
        if self._closed:
            raise StoreError("the store is closed", field="store")
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is not None and conn.broken:  # the server restarted: connect again
            conn = None
        if conn is None:
            conn = _connect(self.url, readonly=self._readonly, autocommit=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ transaction on this thread's connection: one state for all."""
        conn = self._reader()
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:  # nested: outer holds
            yield
            return
        with _guard():
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.execute(self._sql["size"]).fetchone()  # the snapshot is taken here
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("COMMIT")

    @property
    def origin(self) -> str:
        return self._origin

    def size(self) -> int:
        with _guard():
            row = self._reader().execute(self._sql["size"]).fetchone()
        return int(row[0]) if row else 0

    def entry(self, index: int) -> bytes:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise StoreError(f"no entry {index}", field="index")
        with _guard():
            row = self._reader().execute(self._sql["entry"], (index,)).fetchone()
        if row is None:
            raise StoreError(f"no entry {index}", field="index")
        return bytes(row[0])

    def iter_entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        # In chunks, each query finished before the caller sees a row: the caller may use the
        # store (on this thread's connection) while it iterates.
        stop = (1 << 63) - 1 if end is None else end
        at = max(start, 0)
        while at < stop:
            with _guard():
                rows = self._reader().execute(self._sql["entries"], (at, stop, _CHUNK)).fetchall()
            for idx, data in rows:
                yield int(idx), bytes(data)
            if len(rows) < _CHUNK:
                return
            at = int(rows[-1][0]) + 1

    def nodes(self, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        with _guard():
            return self._nodes(self._reader(), ids)

    def _nodes(self, conn: _Conn, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        got: dict[merkle.NodeId, bytes] = {}
        for start in range(0, len(ids), _NODES_PER_QUERY):
            chunk = ids[start : start + _NODES_PER_QUERY]
            levels = [level for level, _ in chunk]
            indexes = [idx for _, idx in chunk]
            for level, idx, h in conn.execute(self._sql["nodes"], (levels, indexes)):
                got[(int(level), int(idx))] = bytes(h)
        for level, idx in ids:
            if (level, idx) not in got:
                raise StoreError(
                    f"hash of subtree (level {level}, index {idx}) is missing", field="nodes"
                )
        return got

    def iter_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        at = -(1 << 62)  # a negative index is no subtree, but the census must see it: list it
        while True:
            with _guard():
                rows = self._reader().execute(self._sql["level"], (level, at, _CHUNK)).fetchall()
            for idx, h in rows:
                yield int(idx), bytes(h)
            if len(rows) < _CHUNK:
                return
            at = int(rows[-1][0]) + 1

    def census(self) -> Census:
        with _guard():
            conn = self._reader()
            e = conn.execute(self._sql["census_entries"]).fetchone()
            n = conn.execute(self._sql["census_nodes"]).fetchone()
        assert e is not None
        assert n is not None
        return Census(
            entries=int(e[0]),
            min_entry=e[1],
            max_entry=e[2],
            nodes=int(n[0]),
            min_level=n[1],
            max_level=n[2],
            min_node_index=n[3],
            odd_rows=0,  # the column types admit integers only
        )

    def checkpoints(self) -> list[StoredCheckpoint]:
        with _guard():
            rows = self._reader().execute(self._sql["checkpoints"]).fetchall()
        return [StoredCheckpoint(int(size), str(note)) for size, note in rows]

    # --- writes ----------------------------------------------------------------------------

    def _writable(self) -> None:
        if self._readonly:
            raise StoreError("the store is open read-only", field="store")

    def put_checkpoint(self, size: int, note: str) -> None:
        self._writable()
        with _guard():
            self._reader().execute(self._sql["put_checkpoint"], (size, note))

    def _writer(self) -> _Conn:
        if self._write_conn.broken or self._write_conn.closed:  # the server restarted
            self._write_conn = _connect(self.url, readonly=self._readonly, autocommit=False)
            self._frontier = None
        return self._write_conn

    def _write(self, batches: list[tuple[bytes, ...]]) -> list[int]:
        """The committer's write: every batch in one durable transaction, or nothing."""
        with self._write_lock:
            conn = self._writer()
            try:
                cursor = conn.cursor()
                # other writers wait at the lock (readers do not); then the size under it: two
                # statements in one round trip (no parameters: the simple protocol takes both)
                cursor.execute(self._sql["lock_then_size"])
                cursor.nextset()
                row = cursor.fetchone()
                size = int(row[0]) if row else 0
                frontier = self._frontier
                if frontier is None or frontier.size != size:  # another process appended
                    frontier = self._read_frontier(conn, size)
                self._frontier = None  # invalid until this transaction commits
                starts: list[int] = []
                idxs: list[int] = []
                datas: list[bytes] = []
                levels: list[int] = []
                node_idxs: list[int] = []
                hashes: list[bytes] = []
                for entries in batches:
                    starts.append(frontier.size)
                    for data in entries:
                        idxs.append(frontier.size)
                        datas.append(data)
                        for level, idx, h in frontier.append(merkle.leaf_hash(data)):
                            levels.append(level)
                            node_idxs.append(idx)
                            hashes.append(h)
                cursor.execute(self._sql["put"], (idxs, datas, levels, node_idxs, hashes))
                conn.commit()  # returns once the server has flushed the commit record
            except BaseException as exc:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                if isinstance(exc, psycopg.Error):
                    raise StoreError(f"append failed: {exc}", field="store") from exc
                raise
            self._frontier = frontier
            self._committed = (frontier.size, frontier.root())
            return starts

    def _read_frontier(self, conn: _Conn, size: int) -> Frontier:
        ids = Frontier.ids(size)
        got = self._nodes(conn, ids)
        return Frontier(size, [(lvl, idx, got[(lvl, idx)]) for lvl, idx in ids])

    def durability(self) -> dict[str, str]:
        """``fsync``, ``synchronous_commit`` and ``full_page_writes`` as the server applies them
        to this store's write connection (``safepassage.ledger.durability`` judges them)."""
        with self._write_lock, _guard():
            conn = self._writer()
            try:
                got = {
                    name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                    for name in ("fsync", "synchronous_commit", "full_page_writes")
                }
            finally:
                conn.rollback()  # SHOW began a transaction: do not keep it open
        return got


def _exists(conn: _Conn, sql: dict[str, str]) -> bool:
    row = conn.execute(sql["exists"]).fetchone()
    return bool(row and row[0])


def _check_url(url: str) -> None:
    if not is_postgresql(url) or "+" in url.split(":", 1)[0]:
        raise StoreError("must be a postgresql:// URL", field="store")
