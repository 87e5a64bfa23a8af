"""A log directory: the store, the log's signing key, its checkpoints and proofs.

Layout of ``DIR``:

* ``log.db``   the SQLite store (entries, subtree hashes, signed checkpoints), unless the log
  was created with a PostgreSQL ``database`` URL: then the store is the ``log`` schema of that
  database (``ledger.postgres``) and there is no ``log.db``;
* ``log.key``  the log's private signer key string (Go note format), readable by its owner only;
* ``log.vkey`` the verifier key string anyone can use to check checkpoints.

The keys are files in ``DIR`` whatever the database. ``Log`` does not remember the URL: its
caller passes it to ``open`` again (an operation records it in ``DIR/database.url``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

from safepassage.errors import FormatError, StoreError
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from safepassage.ledger.note import Signer, Verifier
from safepassage.ledger.proof import TlogProof
from safepassage.ledger.sqlite import SqliteLogStore
from safepassage.ledger.store import LogStore

if TYPE_CHECKING:
    from safepassage.ledger.postgres import PostgresLogStore

__all__ = ["DB_FILE", "KEY_FILE", "VKEY_FILE", "Log", "open_store"]

DB_FILE = "log.db"
KEY_FILE = "log.key"
VKEY_FILE = "log.vkey"


def _write_new(path: Path, text: str, mode: int) -> None:
    # O_EXCL: never overwrite a key; fsync: a key file is either whole on disk or absent.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    # New directory entries (the key files) are durable only once the directory is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_verifier(directory: Path) -> Verifier:
    """The log's verifier key from ``DIR/log.vkey``."""
    path = Path(directory) / VKEY_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise StoreError(f"cannot read the verifier key: {exc.strerror}", field=str(path)) from exc
    return Verifier.from_key_string(text)


def open_store(directory: Path, database: str | None, *, readonly: bool = False) -> LogStore:
    """The store of the log in ``directory``: ``DIR/log.db``, or in the ``database`` URL."""
    if database is None:
        return SqliteLogStore.open(Path(directory) / DB_FILE, readonly=readonly)
    return _postgres().open(database, readonly=readonly)


def _postgres() -> type[PostgresLogStore]:
    # imported on first use: the driver costs a SQLite-only command a third of a second
    from safepassage.ledger.postgres import PostgresLogStore  # noqa: PLC0415

    return PostgresLogStore


class Log:
    """An operation's log: append entries, sign checkpoints, prove inclusion and consistency."""

    def __init__(
        self, directory: Path, store: LogStore, verifier: Verifier, database: str | None = None
    ) -> None:
        self.directory = Path(directory)
        self.store = store
        self.verifier = verifier
        self.database = database
        """The PostgreSQL URL the store is in, or ``None`` for ``DIR/log.db``."""
        self._signer: Signer | None = None

    @classmethod
    def create(cls, directory: Path, origin: str, *, database: str | None = None) -> Log:
        """Create the store and a fresh signing key named after the origin; the store is
        ``DIR/log.db``, or the ``log`` schema of the PostgreSQL ``database`` URL.

        All or nothing: if any step fails, the files and tables made so far are removed again.
        """
        directory = Path(directory)
        if any((directory / name).exists() for name in (DB_FILE, KEY_FILE, VKEY_FILE)):
            raise StoreError(f"{directory} already holds a log", field="DIR")
        signer = Signer.generate(origin)  # validates the origin as a key name too
        new_dir = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        made: list[Path] = []
        store: LogStore | None = None
        try:
            if database is None:
                store = SqliteLogStore.create(directory / DB_FILE, origin)
                made.append(directory / DB_FILE)
            else:
                store = _postgres().create(database, origin)
            made.append(directory / KEY_FILE)
            # 0o600: the signing key is for the log's operator only.
            _write_new(directory / KEY_FILE, signer.key_string() + "\n", 0o600)
            made.append(directory / VKEY_FILE)
            _write_new(directory / VKEY_FILE, signer.verifier().key_string() + "\n", 0o644)
            _fsync_dir(directory)
            if new_dir:
                _fsync_dir(directory.parent)
        except BaseException:
            if store is not None:
                with contextlib.suppress(Exception):
                    store.close()
                if database is not None:
                    with contextlib.suppress(Exception):
                        _postgres().drop(database)
            for path in made:
                for extra in ("", "-wal", "-shm"):
                    Path(str(path) + extra).unlink(missing_ok=True)
            if new_dir:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        log = cls(directory, store, signer.verifier(), database)
        log._signer = signer
        return log

    @classmethod
    def open(cls, directory: Path, *, database: str | None = None, readonly: bool = False) -> Log:
        """Open the log whose keys are in ``directory`` and whose store is ``DIR/log.db`` or,
        given a PostgreSQL ``database`` URL, in that database; ``StoreError`` when there is
        none. ``readonly`` opens a store that writes nothing."""
        directory = Path(directory)
        if database is None and not (directory / DB_FILE).is_file():
            raise StoreError(f"no log here (missing {DB_FILE})", field=str(directory))
        verifier = read_verifier(directory)
        store = open_store(directory, database, readonly=readonly)
        if store.origin != verifier.name:
            store.close()
            raise StoreError(
                f"log origin {store.origin!r} does not match the key name {verifier.name!r}",
                field=VKEY_FILE,
            )
        return cls(directory, store, verifier, database)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            path = self.directory / KEY_FILE
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise StoreError(
                    f"cannot read the signing key: {exc.strerror}", field=str(path)
                ) from exc
            signer = Signer.from_key_string(text)
            if signer.verifier().key_string() != self.verifier.key_string():
                raise FormatError("does not match log.vkey", field=str(path))
            self._signer = signer
        return self._signer

    @property
    def origin(self) -> str:
        return self.store.origin

    def size(self) -> int:
        return self.store.size()

    def append(self, entry: bytes) -> int:
        """Append one entry; returns its index once it is durable."""
        return self.store.append(entry)

    def append_batch(self, entries: Sequence[bytes]) -> int:
        """Append entries in one transaction; returns the index of the first."""
        return self.store.append_batch(entries)

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint note for ``size`` (default: now), kept in the store."""
        size = self.store.size() if size is None else size
        for kept in reversed(self.store.checkpoints()):
            if kept.size == size:
                return kept.note
        note = sign_checkpoint(Checkpoint(self.origin, size, self.store.root(size)), self.signer)
        self.store.put_checkpoint(size, note)
        return note

    def prove(self, index: int, size: int | None = None) -> str:
        """A C2SP tlog-proof of entry ``index`` against the signed checkpoint at ``size``."""
        size = self.store.size() if size is None else size
        hashes = self.store.inclusion_proof(index, size)
        return TlogProof(index, tuple(hashes), self.checkpoint(size)).to_text()

    def open_checkpoint(self, note: str) -> Checkpoint:
        """Parse and verify a checkpoint note signed by this log."""
        checkpoint, _ = open_checkpoint(note, self.verifier)
        return checkpoint

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
