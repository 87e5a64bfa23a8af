"""The log store on one SQLite file: WAL, ``synchronous=FULL``, group commit.

Appends from any number of threads are handed to one writer thread, which takes everything
queued, writes it in one transaction and commits it with one fsync; only then does each caller
get its index back. Other processes may append to the same file: every batch re-reads the size
inside its write transaction, so indexes stay contiguous whoever writes. Readers use their own
connection per thread and never wait for the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.store import Frontier, LogStore, StoredCheckpoint

__all__ = ["FORMAT", "SqliteLogStore"]

FORMAT: Final = "safepassage-log/1"
_NODES_PER_QUERY: Final = 64
_BATCH_LIMIT: Final = 8192
# Longest a writer waits for more appenders before a commit: under a third of one fsync here.
_GATHER_SECONDS: Final = 0.0005

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode={mode}",
            uri=True,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,
            timeout=60.0,
        )
        # WAL lets readers run beside the writer; FULL fsyncs the WAL at every commit, so a
        # commit that returned survives power loss, not only a crash of this process.
        mode_set = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open {path}: {exc}", field="store") from exc
    if str(mode_set).lower() != "wal":
        conn.close()
        raise StoreError(f"{path} cannot use write-ahead logging (got {mode_set})", field="store")
    return conn


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn SQLite's errors on reads into ``StoreError`` so callers see one error family."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the database cannot be read: {exc}", field="store") from exc


class _Request:
    """One caller's entries and how to answer it: a one-shot lock, or an asyncio future."""

    __slots__ = ("done", "entries", "error", "future", "loop", "start")

    def __init__(
        self, entries: Sequence[bytes], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.entries = entries
        self.start = -1
        self.error: BaseException | None = None
        self.loop = loop
        self.future: asyncio.Future[int] | None = None
        self.done: threading.Lock | None = None
        if loop is None:
            # A lock acquired here and released by the writer is CPython's cheapest wake-up.
            self.done = threading.Lock()
            self.done.acquire()
        else:
            self.future = loop.create_future()

    def wait(self) -> int:
        assert self.done is not None
        self.done.acquire()
        if self.error is not None:
            raise self.error
        return self.start


def _settle(requests: list[_Request]) -> None:
    """Resolve asyncio futures, on their own loop, in one call per commit."""
    for r in requests:
        if r.future is not None and not r.future.done():
            if r.error is not None:
                r.future.set_exception(r.error)
            else:
                r.future.set_result(r.start)


class SqliteLogStore(LogStore):
    """An operation's log in one SQLite file."""

    def __init__(self, path: Path, conn: sqlite3.Connection, origin: str) -> None:
        self.path = path
        self._origin = origin
        self._write_conn = conn
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._frontier: Frontier | None = None
        self._closed = False
        self.commits = 0  # transactions committed by this process: shows group commit at work
        self._waiting = 0  # append calls not yet answered
        self._waiting_lock = threading.Lock()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, origin: str) -> SqliteLogStore:
        """Create a new, empty log file; refuse to overwrite anything."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists", field="store")
        if not origin or "\n" in origin:
            raise StoreError("must be a non-empty single line", field="origin")
        conn = _connect(path, create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", FORMAT), ("origin", origin)],
            )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"cannot create {path}: {exc}", field="store") from exc
        return cls(path, conn, origin)

    @classmethod
    def open(cls, path: Path) -> SqliteLogStore:
        """Open an existing log file; ``StoreError`` when it is missing or not a log."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path} does not exist", field="store")
        conn = _connect(path, create=False)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path} is not a safepassage log: {exc}", field="store") from exc
        if meta.get("format") != FORMAT or not meta.get("origin"):
            conn.close()
            raise StoreError(
                f"{path} is not a {FORMAT} log (format {meta.get('format')!r})", field="store"
            )
        return cls(path, conn, meta["origin"])

    # --- reads -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed", field="store")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, create=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @property
    def origin(self) -> str:
        return self._origin

    def size(self) -> int:
        with _guard():
            return self._size(self._reader())

    @staticmethod
    def _size(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])

    # Reads CAST to BLOB throughout: a value whose type was changed behind the store's back
    # (text written over an entry, say) still reads as bytes, so the hash check names it.

    def entry(self, index: int) -> bytes:
        with _guard():
            row = (
                self._reader()
                .execute("SELECT CAST(data AS BLOB) FROM entries WHERE idx = ?", (index,))
                .fetchone()
            )
        if row is None:
            raise StoreError(f"no entry {index}", field="index")
        return bytes(row[0])

    def iter_entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        stop = (1 << 62) if end is None else end
        with _guard():
            cur = self._reader().execute(
                "SELECT idx, CAST(data AS BLOB) FROM entries"
                " WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, stop),
            )
            for idx, data in cur:
                yield int(idx), bytes(data)

    def nodes(self, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        with _guard():
            return self._nodes(self._reader(), ids)

    @staticmethod
    def _nodes(
        conn: sqlite3.Connection, ids: Sequence[merkle.NodeId]
    ) -> dict[merkle.NodeId, bytes]:
        got: dict[merkle.NodeId, bytes] = {}
        # An OR of primary-key terms is answered with one index probe per term in one statement;
        # a row-value IN (VALUES ...) would scan the whole table. Chunks keep the SQL short.
        for start in range(0, len(ids), _NODES_PER_QUERY):
            chunk = ids[start : start + _NODES_PER_QUERY]
            where = " OR ".join(["(level = ? AND idx = ?)"] * len(chunk))
            args = [v for node in chunk for v in node]
            sql = f"SELECT level, idx, CAST(hash AS BLOB) FROM nodes WHERE {where}"  # noqa: S608 - only placeholders are interpolated
            for level, idx, h in conn.execute(sql, args):
                got[(int(level), int(idx))] = bytes(h)
        for level, idx in ids:
            if (level, idx) not in got:
                raise StoreError(
                    f"hash of subtree (level {level}, index {idx}) is missing", field="nodes"
                )
        return got

    def iter_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        with _guard():
            cur = self._reader().execute(
                "SELECT idx, CAST(hash AS BLOB) FROM nodes WHERE level = ? ORDER BY idx", (level,)
            )
            for idx, h in cur:
                yield int(idx), bytes(h)

    def checkpoints(self) -> list[StoredCheckpoint]:
        with _guard():
            rows = self._reader().execute("SELECT size, note FROM checkpoints ORDER BY size")
            return [StoredCheckpoint(int(size), str(note)) for size, note in rows]

    # --- writes ----------------------------------------------------------------------------

    def put_checkpoint(self, size: int, note: str) -> None:
        with _guard():
            self._reader().execute(
                "INSERT INTO checkpoints (size, note) VALUES (?, ?) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                (size, note),
            )

    def append(self, entry: bytes) -> int:
        return self.append_batch([entry])

    def append_batch(self, entries: Sequence[bytes]) -> int:
        request = self._enqueue(entries, None)
        try:
            return request.wait()
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    async def append_async(self, entries: Sequence[bytes]) -> int:
        """``append_batch`` for asyncio callers: many appends in flight on one thread.

        Resolves once the entries are durable, with the index of the first; every caller of a
        loop that shared a commit is answered by one cross-thread call.
        """
        request = self._enqueue(entries, asyncio.get_running_loop())
        assert request.future is not None
        try:
            return await request.future
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def _enqueue(
        self, entries: Sequence[bytes], loop: asyncio.AbstractEventLoop | None
    ) -> _Request:
        if not entries:
            raise StoreError("nothing to append", field="entries")
        for i, e in enumerate(entries):
            if not isinstance(e, bytes):
                raise StoreError(f"must be bytes, got {type(e).__name__}", field=f"entries[{i}]")
        self._ensure_writer()
        request = _Request(entries, loop)
        with self._waiting_lock:
            self._waiting += 1
        self._queue.put(request)
        return request

    def _ensure_writer(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", field="store")
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name=f"log-writer:{self.path.name}", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        expected = 1  # how many callers the last commit answered: they are likely to return
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first, expected)
            self._commit(batch)
            expected = len(batch)
            if stop:
                return

    def _gather(self, first: _Request, expected: int) -> tuple[list[_Request], bool]:
        """Take what is queued; after a shared commit, wait briefly for its callers to return.

        With N callers each waiting on its own commit, a writer that commits whatever is queued
        settles into two alternating groups of N/2. Waiting up to a fraction of one fsync for the
        callers just answered (PostgreSQL's commit_delay idea) lets one commit carry all N. A
        lone appender (expected == 1) never waits.
        """
        batch, count = [first], len(first.entries)
        deadline = time.monotonic() + _GATHER_SECONDS if expected > 1 else 0.0
        while count < _BATCH_LIMIT:
            try:
                if len(batch) < expected and (wait := deadline - time.monotonic()) > 0:
                    more = self._queue.get(timeout=wait)
                else:
                    more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return batch, True
            batch.append(more)
            count += len(more.entries)
        return batch, False

    def _commit(self, batch: list[_Request]) -> None:
        conn = self._write_conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                size = self._size(conn)
                frontier = self._frontier
                if frontier is None or frontier.size != size:  # another process appended
                    frontier = self._read_frontier(conn, size)
                self._frontier = None  # invalid until this transaction commits
                entry_rows, node_rows = [], []
                for request in batch:
                    request.start = frontier.size
                    for data in request.entries:
                        entry_rows.append((frontier.size, data))
                        node_rows.extend(frontier.append(merkle.leaf_hash(data)))
                conn.executemany("INSERT INTO entries (idx, data) VALUES (?, ?)", entry_rows)
                conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", node_rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:  # noqa: BLE001 - every waiting caller must hear of the failure
            error = (
                exc
                if isinstance(exc, StoreError)
                else StoreError(f"append failed: {exc}", field="store")
            )
            for request in batch:
                request.error = error
        else:
            self._frontier = frontier
            self.commits += 1
        self._answer(batch)

    @staticmethod
    def _answer(batch: list[_Request]) -> None:
        """Tell every caller of the batch; only after the commit (or its failure)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        for request in batch:
            if request.done is not None:
                request.done.release()
            elif request.loop is not None:
                by_loop.setdefault(request.loop, []).append(request)
        for loop, requests in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, requests)

    def _read_frontier(self, conn: sqlite3.Connection, size: int) -> Frontier:
        ids = Frontier.ids(size)
        got = self._nodes(conn, ids)
        return Frontier(size, [(lvl, idx, got[(lvl, idx)]) for lvl, idx in ids])

    def waiting(self) -> int:
        """Append calls in this process not yet answered (for tests and monitoring)."""
        with self._waiting_lock:
            return self._waiting

    def durability(self) -> dict[str, str]:
        """The write connection's journal mode and synchronous level, as SQLite reports them."""
        conn = self._write_conn
        with _guard():
            journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {"journal_mode": journal, "synchronous": names.get(level, str(level))}

    def structural_problems(self) -> list[str]:
        """SQLite's own structural check of the file; empty when the file is sound."""
        with _guard():
            rows = self._reader().execute("PRAGMA quick_check").fetchall()
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    def close(self) -> None:
        if self._closed:
            return
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._write_conn.close()
