"""The log store on one SQLite file: WAL, ``synchronous=FULL``, group commit.

Appends from any number of threads (or asyncio tasks) go through one ``GroupCommitter``: a
writer thread takes everything queued, writes it in one transaction and commits it with one
fsync; only then does each caller get its index back. Other processes may append to the same
file: every batch re-reads the size inside its write transaction, so indexes stay contiguous
whoever writes. Readers use their own connection per thread and never wait for the writer.
A store opened read-only writes nothing, not even the journal mode.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.groupcommit import GroupCommitStore, GroupCommitter
from safepassage.ledger.store import Census, Frontier, StoredCheckpoint

__all__ = ["FORMAT", "SqliteLogStore"]

FORMAT: Final = "safepassage-log/1"
_NODES_PER_QUERY: Final = 64

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

# SQLite's errors, and the UnicodeError it raises when a damaged schema quotes invalid text.
_DB_ERRORS = (sqlite3.DatabaseError, UnicodeError)


def _connect(path: Path, *, mode: str) -> sqlite3.Connection:
    """Open ``path``; ``mode`` is ``rwc`` (create), ``rw`` or ``ro`` (writes nothing)."""
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode={mode}",
            uri=True,
            isolation_level=None,  # we issue BEGIN / COMMIT ourselves
            check_same_thread=False,
            timeout=60.0,
        )
    except _DB_ERRORS as exc:
        raise StoreError(f"cannot open {path}: {exc}", field="store") from exc
    try:
        if mode == "ro":
            conn.execute("PRAGMA query_only=1")
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            return conn
        # WAL lets readers run beside the writer; FULL fsyncs the WAL at every commit, so a
        # commit that returned survives power loss, not only a crash of this process.
        journal = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
    except _DB_ERRORS as exc:
        conn.close()
        raise StoreError(f"cannot open {path}: {exc}", field="store") from exc
    if str(journal).lower() != "wal":
        conn.close()
        raise StoreError(f"{path} cannot use write-ahead logging (got {journal})", field="store")
    return conn


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn SQLite's errors on reads into ``StoreError`` so callers see one error family."""
    try:
        yield
    except _DB_ERRORS as exc:
        raise StoreError(f"the database cannot be read: {exc}", field="store") from exc
    except (TypeError, ValueError) as exc:  # a row whose value is of the wrong type
        raise StoreError(f"a stored row is malformed: {exc}", field="store") from exc


class SqliteLogStore(GroupCommitStore):
    """An operation's log in one SQLite file."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, origin: str, *, readonly: bool = False
    ) -> None:
        self.path = path
        self._origin = origin
        self._mode = "ro" if readonly else "rw"
        self._write_conn: sqlite3.Connection = conn
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._frontier: Frontier | None = None
        self._closed = False
        self._committer = GroupCommitter(self._write, path.name)

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, origin: str) -> SqliteLogStore:
        """Create a new, empty log file; refuse to overwrite anything."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists", field="store")
        if not origin or "\n" in origin:
            raise StoreError("must be a non-empty single line", field="origin")
        conn = _connect(path, mode="rwc")
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
    def open(cls, path: Path, *, readonly: bool = False) -> SqliteLogStore:
        """Open an existing log file; ``StoreError`` when it is missing or not a log.

        ``readonly`` opens without writing anything to the file or its folder (``verify``).
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path} does not exist", field="store")
        conn = _connect(path, mode="ro" if readonly else "rw")
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except _DB_ERRORS as exc:
            conn.close()
            raise StoreError(f"{path} is not a safepassage log: {exc}", field="store") from exc
        if meta.get("format") != FORMAT or not meta.get("origin"):
            conn.close()
            raise StoreError(
                f"{path} is not a {FORMAT} log (format {meta.get('format')!r})", field="store"
            )
        return cls(path, conn, str(meta["origin"]), readonly=readonly)

    # --- reads -----------------------------------------------------------------------------
    # Reads CAST to BLOB throughout: a value whose type was changed behind the store's back
    # (text written over an entry, say) still reads as bytes, so the hash check names it.

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed", field="store")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, mode=self._mode)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction on this thread's connection: every read inside sees one state."""
        conn = self._reader()
        if conn.in_transaction:  # nested: the outer snapshot already holds
            yield
            return
        with _guard():
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM meta").fetchone()  # the snapshot starts here
        try:
            yield
        finally:
            with contextlib.suppress(*_DB_ERRORS):
                conn.execute("COMMIT")

    @property
    def origin(self) -> str:
        return self._origin

    def size(self) -> int:
        with _guard():
            return self._size(self._reader())

    @staticmethod
    def _size(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])

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
        sql = "SELECT idx, CAST(data AS BLOB) FROM entries WHERE idx >= ?"
        args: tuple[int, ...] = (start,)
        if end is not None:
            sql, args = sql + " AND idx < ?", (start, end)
        with _guard():  # rows are already (int, bytes): the CAST makes a blob of any data
            # a loop, not ``yield from``: closing this generator must not close the cursor
            # (the database may be closed by then)
            for row in self._reader().execute(sql + " ORDER BY idx", args):  # noqa: UP028
                yield row

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
            sql = f"SELECT level, idx, CAST(hash AS BLOB) FROM nodes WHERE {where}"  # noqa: S608 - only "?" parameters are interpolated
            for level, idx, h in conn.execute(sql, args):
                got[(int(level), int(idx))] = bytes(h)
        for level, idx in ids:
            if (level, idx) not in got:
                raise StoreError(
                    f"hash of subtree (level {level}, index {idx}) is missing", field="nodes"
                )
        return got

    def iter_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        # typeof: a row whose index is not an integer is no subtree; the census counts it.
        sql = (
            "SELECT idx, CAST(hash AS BLOB) FROM nodes "
            "WHERE level = ? AND typeof(idx) = 'integer' ORDER BY idx"
        )
        with _guard():
            for idx, h in self._reader().execute(sql, (level,)):
                yield int(idx), bytes(h)

    def census(self) -> Census:
        with _guard():
            conn = self._reader()
            e = conn.execute("SELECT count(*), min(idx), max(idx) FROM entries").fetchone()
            n = conn.execute(
                "SELECT count(*), min(level), max(level), min(idx) FROM nodes "
                "WHERE typeof(level) = 'integer' AND typeof(idx) = 'integer'"
            ).fetchone()
            odd = conn.execute(
                "SELECT count(*) FROM nodes "
                "WHERE typeof(level) != 'integer' OR typeof(idx) != 'integer'"
            ).fetchone()
        return Census(
            entries=int(e[0]),
            min_entry=e[1],
            max_entry=e[2],
            nodes=int(n[0]),
            min_level=n[1],
            max_level=n[2],
            min_node_index=n[3],
            odd_rows=int(odd[0]),
        )

    def checkpoints(self) -> list[StoredCheckpoint]:
        with _guard():
            rows = self._reader().execute("SELECT size, note FROM checkpoints ORDER BY size")
            return [StoredCheckpoint(int(size), str(note)) for size, note in rows]

    # --- writes ----------------------------------------------------------------------------

    def _writable(self) -> None:
        if self._mode == "ro":
            raise StoreError("the store is open read-only", field="store")

    def put_checkpoint(self, size: int, note: str) -> None:
        self._writable()
        with _guard():
            self._reader().execute(
                "INSERT INTO checkpoints (size, note) VALUES (?, ?) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                (size, note),
            )

    def _write(self, batches: list[tuple[bytes, ...]]) -> list[int]:
        """The committer's write: every batch in one durable transaction, or nothing."""
        conn = self._write_conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            size = self._size(conn)
            frontier = self._frontier
            if frontier is None or frontier.size != size:  # another process appended
                frontier = self._read_frontier(conn, size)
            self._frontier = None  # invalid until this transaction commits
            starts, entry_rows, node_rows = [], [], []
            for entries in batches:
                starts.append(frontier.size)
                for data in entries:
                    entry_rows.append((frontier.size, data))
                    node_rows.extend(frontier.append(merkle.leaf_hash(data)))
            conn.executemany("INSERT INTO entries (idx, data) VALUES (?, ?)", entry_rows)
            conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", node_rows)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(*_DB_ERRORS):
                    conn.execute("ROLLBACK")
            if isinstance(exc, _DB_ERRORS):
                raise StoreError(f"append failed: {exc}", field="store") from exc
            raise
        self._frontier = frontier
        self._committed = (frontier.size, frontier.root())
        return starts

    def _read_frontier(self, conn: sqlite3.Connection, size: int) -> Frontier:
        ids = Frontier.ids(size)
        got = self._nodes(conn, ids)
        return Frontier(size, [(lvl, idx, got[(lvl, idx)]) for lvl, idx in ids])

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
