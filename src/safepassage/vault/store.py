"""The vault: ``DIR/vault/key.json`` (the wrapped data key) and the sealed records.

The records are in ``DIR/vault/vault.db`` (SQLite), or, for an operation whose data is in
PostgreSQL (``DIR/database.url``, see ``safepassage.database``), in the ``vault`` schema of that
database; the key file and the registration lock stay in ``DIR/vault`` either way.

Personal data lives here, never in the log. Each record is sealed under its person's own key,
that key sealed to the operation's data key (``vault.crypto``); the data key is stored only
wrapped, so the files alone reveal nothing. Sealing needs only the data key's public half:
registering a person does not unlock the vault. Opening a record (``read``) needs the unlocked
data key, and is recorded in ``accesses`` *before* the plaintext is returned: who, when, which
reference, and why. Erasing (``shred``) deletes the person's sealed key and record, then makes
sure no old copy stays reachable in the database:

* SQLite: ``secure_delete`` overwrites the freed bytes and the WAL is truncated, so no copy of
  them stays in the files.
* PostgreSQL: a plain ``VACUUM`` of ``records`` removes the old row version the update left, so
  no query, and no page-level tool reading tuples, finds it. That is all PostgreSQL offers
  without rewriting the table: the old bytes may stay in the page's free space until it is
  reused, in WAL segments until they are recycled, in WAL archives, on replicas' disks until
  they replay the change, and in every backup taken before. A row version still visible to a
  transaction open elsewhere at that moment survives until a later VACUUM (autovacuum does
  it). Crypto-shredding reaches live storage only; whoever keeps backups or WAL archives must
  expire them (and keep them from anyone holding the data key).

A record is ``pending`` from the moment it is stored until its ``person.registered`` event is in
the log, then ``held``; ``settle`` resolves what a crash between the two left behind.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from safepassage import canonical
from safepassage.bulk import insert_rows
from safepassage.database import VAULT_SCHEMA, database_for, ensure_schema, postgres_engine
from safepassage.errors import FormatError, StoreError
from safepassage.migrate import alembic_config, begin_immediate, reading
from safepassage.vault.crypto import (
    DataKey,
    WrappedDataKey,
    commitment,
    context,
    open_record,
    seal_person_key,
    seal_record,
    seal_to,
)
from safepassage.vault.schema import accesses, records

# The statements a server runs batch after batch, built once (building one costs more than
# running it); an expanding parameter takes a list.
_LOOKUP = select(records.c.submission_id, records.c.ref).where(
    records.c.submission_id.in_(bindparam("ids", expanding=True))
    | records.c.ref.in_(bindparam("refs", expanding=True))
)
_PENDING = select(records.c.ref).where(records.c.status == "pending")
_UNSHREDDED = select(records.c.ref).where(
    records.c.status != "erased", records.c.ref.in_(bindparam("refs", expanding=True))
)
# "not erased", not "in (pending, held)": that one makes SQLite walk the status index (every
# held record) instead of looking up the few references
_HOLD = (
    update(records)
    .where(records.c.ref.in_(bindparam("refs", expanding=True)), records.c.status != "erased")
    .values(status="held")
)
_HOLD_PENDING = (
    update(records)
    .where(records.c.ref.in_(bindparam("refs", expanding=True)), records.c.status == "pending")
    .values(status="held")
)
_DROP = delete(records).where(
    records.c.ref.in_(bindparam("refs", expanding=True)), records.c.status == "pending"
)
_CHUNK = 500  # references per IN list

__all__ = [
    "VAULT_DIR",
    "Access",
    "PersonalData",
    "Sealed",
    "Settled",
    "Vault",
    "access_statement",
]

VAULT_DIR = "vault"
KEY_FILE = "key.json"
DB_FILE = "vault.db"
SALT_BYTES = 32
LOCK_FILE = "registering.lock"
"""Held (shared) by every registration under way: ``settle`` drops no pending record while any
process holds it. A process that dies lets go of it with its file descriptors."""

_PERSONAL_FIELDS = (
    "given_name",
    "family_name",
    "birth_date",
    "document_number",
    "phone",
    "notes",
)


@dataclass(frozen=True)
class Settled:
    """What ``Vault.settle`` did not finish itself."""

    held: list[str]
    """With ``defer``: the pending records whose events the log holds, to mark held."""
    kept: bool
    """Whether pending records without a logged event were kept (a registration was under
    way in some process): a later ``settle`` drops those its writer never logged."""


@dataclass(frozen=True)
class PersonalData:
    """What the vault keeps about a person: the minimum a registration needs."""

    given_name: str = field(repr=False)
    family_name: str = field(repr=False)
    birth_date: str | None = field(default=None, repr=False)
    """ISO date (``YYYY-MM-DD``)."""
    document_number: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    notes: str | None = field(default=None, repr=False)

    def committed(self, ref: str) -> dict[str, Any]:
        """The canonical record the log's commitment covers (the reference included)."""
        return {"ref": ref} | {name: getattr(self, name) for name in _PERSONAL_FIELDS}

    @classmethod
    def from_committed(cls, record: dict[str, Any]) -> PersonalData:
        return cls(
            given_name=str(record["given_name"]),
            family_name=str(record["family_name"]),
            birth_date=record.get("birth_date"),
            document_number=record.get("document_number"),
            phone=record.get("phone"),
            notes=record.get("notes"),
        )


@dataclass(frozen=True)
class Sealed:
    """A record sealed for the vault, with the commitment its log event will carry."""

    ref: str
    sealed_key: bytes = field(repr=False)
    sealed_record: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    commitment: str
    submission_id: str | None = None


@dataclass(frozen=True)
class Access:
    at: datetime
    actor: str
    ref: str
    action: str
    purpose: str
    signature: bytes | None = None


def access_statement(operation: str, actor: str, ref: str, action: str, at: datetime) -> bytes:
    """What an actor signs to open a record (RFC 8785 JSON): an opening is theirs, not only
    claimed in their name by whoever holds the data key."""
    return canonical.dumps(
        {
            "statement": "safepassage vault access v1",
            "operation": operation,
            "actor": actor,
            "ref": ref,
            "action": action,
            "at": at.astimezone(UTC).isoformat(),
        }
    )


def _alembic(connection: Connection) -> Config:
    return alembic_config(connection, "safepassage.vault:migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # the only copy of this data: durable first
    cursor.execute("PRAGMA secure_delete=ON")  # deleted bytes are overwritten, not just freed
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Vault:
    """One operation's vault."""

    def __init__(self, directory: Path, engine: Engine, operation: str, wrapped: WrappedDataKey,
                 public_key: bytes) -> None:  # fmt: skip
        self.directory = directory
        self.engine = engine
        self.operation = operation
        self.wrapped = wrapped
        self.public_key = public_key

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def create(  # noqa: PLR0913 - the folder, the operation, and keyword options
        cls,
        directory: Path,
        operation: str,
        *,
        passphrase: str | None = None,
        key_file: bytes | None = None,
        scrypt: dict[str, int] | None = None,
        database: str | None = None,
    ) -> Self:
        """A new vault in ``directory/vault``, its data key wrapped by one of the two means.

        Its records go where the operation keeps its data (``DIR/database.url``); ``database``,
        when given, must be that URL (``StoreError(field="--db")`` otherwise).
        """
        folder = Path(directory) / VAULT_DIR
        if (folder / KEY_FILE).exists():
            raise StoreError("this operation already has a vault", field=str(folder / KEY_FILE))
        if (passphrase is None) == (key_file is None):
            raise FormatError("give a passphrase or a key file (one of them)", field="unlock")
        url = database_for(Path(directory), database)
        data_key = DataKey.generate()
        if passphrase is not None:
            wrapped = data_key.wrap_with_passphrase(passphrase, **(scrypt or {}))
        else:
            assert key_file is not None
            wrapped = data_key.wrap_with_key_file(key_file)
        folder.mkdir(parents=True, exist_ok=True)
        stored = {
            "operation": operation,
            "public_key": base64.b64encode(data_key.public_key()).decode(),
            "data_key": wrapped.to_json(),
        }
        _write_new(folder / KEY_FILE, json.dumps(stored, indent=2) + "\n")
        return cls._connect(Path(directory), operation, wrapped, data_key.public_key(), url)

    @classmethod
    def open(cls, directory: Path, *, database: str | None = None) -> Self:
        """The vault of the operation in ``directory``; ``StoreError`` if it has none.

        ``database``, when given, must be the URL recorded for the operation.
        """
        url = database_for(Path(directory), database)
        path = Path(directory) / VAULT_DIR / KEY_FILE
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            operation = str(stored["operation"])
            public_key = base64.b64decode(stored["public_key"], validate=True)
            wrapped = WrappedDataKey.from_json(stored["data_key"])
        except FileNotFoundError as exc:
            raise StoreError(
                "this operation has no vault (create one with `safepassage vault init`)",
                field="vault",
            ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"is not a vault key file: {exc}", field=str(path)) from exc
        return cls._connect(Path(directory), operation, wrapped, public_key, url)

    @classmethod
    def _connect(
        cls,
        directory: Path,
        operation: str,
        wrapped: WrappedDataKey,
        public_key: bytes,
        database: str | None,
    ) -> Self:
        if database is None:
            db = directory / VAULT_DIR / DB_FILE
            engine = create_engine(f"sqlite:///{db.resolve()}")
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", begin_immediate)
        else:
            engine = postgres_engine(database, VAULT_SCHEMA)
        try:
            with engine.begin() as connection:
                if database is not None:
                    ensure_schema(connection, VAULT_SCHEMA)
                command.upgrade(_alembic(connection), "head")
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the vault: {exc}", field="vault") from exc
        return cls(directory, engine, operation, wrapped, public_key)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def unlock(self, *, passphrase: str | None = None, key_file: bytes | None = None) -> DataKey:
        """The data key, or one clear error: wrong or missing passphrase or key file."""
        key = DataKey.unwrap(self.wrapped, passphrase=passphrase, key_file=key_file)
        if key.public_key() != self.public_key:
            raise FormatError("does not match the vault's public key", field="vault key")
        return key

    # --- writing ------------------------------------------------------------------------------

    def seal(self, ref: str, data: PersonalData, submission_id: str | None = None) -> Sealed:
        """Seal ``data`` for ``ref`` (no unlock needed) and commit to it for the log."""
        person_key, salt = os.urandom(32), os.urandom(SALT_BYTES)
        record = data.committed(ref)
        sealed_record = seal_record(
            self.operation,
            ref,
            person_key,
            {"record": record, "salt": base64.b64encode(salt).decode()},
        )
        return Sealed(
            ref=ref,
            sealed_key=seal_person_key(self.public_key, self.operation, ref, person_key),
            sealed_record=sealed_record,
            salt=salt,
            commitment=commitment(salt, record),
            submission_id=submission_id,
        )

    def put_pending(
        self,
        items: Sequence[Sealed],
        at: datetime | None = None,
        *,
        held: Iterable[str] = (),
        dropped: Iterable[str] = (),
    ) -> None:
        """Store sealed records, all or none, as ``pending`` until their events are logged;
        in the same transaction, settle earlier pending records: mark ``held`` those whose
        events the log now holds, delete ``dropped`` ones whose events were refused. Unlike
        ``confirm``, only records still pending are touched, and none is counted: one another
        process settled (or erased) meanwhile is left as it is."""
        held, dropped = list(held), list(dropped)
        if not items and not held and not dropped:
            return
        now = at or datetime.now(UTC)
        rows = [
            {
                "ref": s.ref,
                "submission_id": s.submission_id,
                "sealed_key": s.sealed_key,
                "sealed_record": s.sealed_record,
                "status": "pending",
                "created_at": now,
            }
            for s in items
        ]
        with self._write() as connection:
            _by_chunk(connection, _HOLD_PENDING, held)
            _by_chunk(connection, _DROP, dropped)
            insert_rows(connection, records, rows)

    def confirm(self, held: Iterable[str], dropped: Iterable[str] = ()) -> None:
        """Their events are in the log (``held``), or were refused (``dropped``: deleted)."""
        held, dropped = list(dict.fromkeys(held)), list(dropped)
        with self._write() as connection:
            if held:
                self._hold(connection, held)
            _by_chunk(connection, _DROP, dropped)

    @staticmethod
    def _hold(connection: Connection, held: list[str]) -> None:
        held = list(dict.fromkeys(held))
        done = _by_chunk(connection, _HOLD, held)
        if done != len(held):
            raise StoreError(
                f"{len(held) - done} recorded registrations have no record in the vault",
                field="vault",
            )

    @contextlib.contextmanager
    def registering(self) -> Iterator[None]:
        """Held while records are pending (shared: many registrations may run at once)."""
        with self._lock_file() as fd:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def _lock_file(self) -> Iterator[int]:
        fd = os.open(self.directory / VAULT_DIR / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            yield fd
        finally:
            os.close(fd)  # releases the lock too

    def settle(
        self,
        registered: Callable[[str], bool],
        erased: Iterable[str],
        *,
        defer: bool = False,
        refresh: Callable[[], None] | None = None,
    ) -> Settled:
        """Finish what a crash interrupted. A pending record whose event is in the log is held;
        one without is dropped, but only when no registration is under way in any process
        (then its writer died before logging it); a record the log says was erased (``erased``:
        the references whose erasure the log holds) but that is still here is shredded.
        ``registered`` and ``erased`` must read the log as it is now (the caller catches up
        first); ``refresh`` catches them up again once no registration is under way, before
        anything is dropped (one may have been logged in between). With ``defer``, the records
        to hold are returned instead, for the caller's next ``put_pending`` to mark in its own
        transaction."""
        erased = list(erased)
        with reading(self.engine) as connection:
            pending = list(connection.execute(_PENDING).scalars())
            unshredded: list[str] = []
            for start in range(0, len(erased), _CHUNK):
                unshredded += connection.execute(
                    _UNSHREDDED, {"refs": erased[start : start + _CHUNK]}
                ).scalars()
        logged = [ref for ref in pending if registered(ref)]
        orphans = [ref for ref in pending if not registered(ref)]
        kept = False
        if orphans:
            with self._lock_file() as fd:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    kept = True  # a registration is under way: its records may still be logged
                else:
                    if refresh is not None:
                        refresh()
                    logged += [ref for ref in orphans if registered(ref)]
                    orphans = [ref for ref in orphans if not registered(ref)]
                    if orphans or not defer:
                        self.confirm([] if defer else logged, orphans)
                    logged = logged if defer else []
        if logged and not defer:
            self.confirm(logged)
        for ref in unshredded:
            self.shred(ref, actor="safepassage", reason="recorded-in-log")
        return Settled(logged if defer else [], kept=kept)

    def shred(self, ref: str, *, actor: str, reason: str, at: datetime | None = None) -> None:
        """Destroy the person's key and record (crypto-shredding) and say who did it and why."""
        now = at or datetime.now(UTC)
        with self._write() as connection:
            found = connection.execute(
                update(records)
                .where(records.c.ref == ref, records.c.status != "erased")
                .values(status="erased", sealed_key=None, sealed_record=None, erased_at=now)
            ).rowcount
            if found:
                self._record_access(connection, now, actor, ref, action="erase", purpose=reason)
        self.scrub()

    def scrub(self) -> None:
        """Leave no erased record reachable in the database: SQLite truncates its WAL (the
        freed pages were overwritten by ``secure_delete``); PostgreSQL vacuums ``records``
        (see the module's docstring for what that does not reach)."""
        if self.engine.dialect.name == "sqlite":
            self.truncate_wal()
            return
        # VACUUM cannot run inside a transaction: this connection commits each statement.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f'VACUUM "{VAULT_SCHEMA}".records')

    def truncate_wal(self, attempts: int = 50) -> None:
        """SQLite only: write the WAL back into the database and empty it: erased pages must not
        survive in it. A reader holding an old snapshot blocks this; it is retried, then an
        error."""
        raw = self.engine.raw_connection()
        try:
            for _ in range(attempts):
                busy, _, _ = raw.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
                if not busy:
                    return
                time.sleep(0.1)
        finally:
            raw.close()
        raise StoreError(
            "another process keeps the vault open: the erased record's old pages stay in its "
            "write-ahead log until it closes; run the command again then",
            field="vault",
        )

    # --- reading ------------------------------------------------------------------------------

    def status(self, ref: str) -> str | None:
        with reading(self.engine) as connection:
            found = connection.execute(
                select(records.c.status).where(records.c.ref == ref)
            ).scalar()
        return None if found is None else str(found)

    def lookup(self, ids: Iterable[str], refs: Iterable[str]) -> tuple[dict[str, str], set[str]]:
        """Which of the intake submission ids ``ids`` the vault already holds, and as whom, and
        which of ``refs`` it holds (in any state): in one connection (none if both are empty),
        what a batch of registrations asks first."""
        ids, refs = list(dict.fromkeys(ids)), list(dict.fromkeys(refs))
        found: dict[str, str] = {}
        taken: set[str] = set()
        if not ids and not refs:
            return found, taken
        wanted_ids, wanted_refs = set(ids), set(refs)
        with reading(self.engine) as connection:
            for start in range(0, max(len(ids), len(refs)), _CHUNK):  # one statement a chunk
                chunk = {"ids": ids[start : start + _CHUNK], "refs": refs[start : start + _CHUNK]}
                for sub, ref in connection.execute(_LOOKUP, chunk):
                    if sub is not None and sub in wanted_ids:
                        found[str(sub)] = str(ref)
                    if ref in wanted_refs:
                        taken.add(str(ref))
        return found, taken

    def refs(self) -> set[str]:
        with reading(self.engine) as connection:
            return set(connection.execute(select(records.c.ref)).scalars())

    def taken(self, refs: Iterable[str]) -> set[str]:
        """Which of ``refs`` the vault already holds (in any state)."""
        return self.lookup((), refs)[1]

    def read(  # noqa: PLR0913 - who, what, why: each a keyword
        self,
        key: DataKey,
        ref: str,
        *,
        actor: str,
        purpose: str,
        action: str = "show",
        at: datetime | None = None,
        signature: bytes | None = None,
    ) -> tuple[PersonalData, bytes]:
        """A person's data and commitment salt, recorded as opened by ``actor`` for
        ``purpose`` before anything is decrypted."""
        if not purpose.strip():
            raise FormatError("say why the record is opened", field="purpose")
        with self.engine.connect() as connection:
            row = connection.execute(
                select(records.c.sealed_key, records.c.sealed_record, records.c.status).where(
                    records.c.ref == ref
                )
            ).first()
        if row is None:
            raise StoreError(f"no record for {ref!r} in the vault", field="ref")
        if row.status == "erased":
            raise StoreError(f"the record of {ref!r} was erased", field="ref")
        if row.status == "pending":
            raise StoreError(f"the registration of {ref!r} is not recorded yet", field="ref")
        with self._write() as connection:
            self._record_access(
                connection,
                at or datetime.now(UTC),
                actor,
                ref,
                action=action,
                purpose=purpose,
                signature=signature,
            )
        person_key = key.open_person_key(self.operation, ref, row.sealed_key)
        opened = open_record(self.operation, ref, person_key, row.sealed_record)
        return PersonalData.from_committed(opened["record"]), base64.b64decode(opened["salt"])

    def accesses(self, ref: str | None = None, *, key: DataKey | None = None) -> list[Access]:
        """Who opened or erased which record, when; the purposes only with the data key."""
        query = select(accesses).order_by(accesses.c.seq)
        if ref is not None:
            query = query.where(accesses.c.ref == ref)
        with reading(self.engine) as connection:
            rows = list(connection.execute(query))
        return [
            Access(
                r.at,
                r.actor,
                r.ref,
                r.action,
                self._purpose(key, r.ref, r.sealed_purpose),
                r.signature,
            )
            for r in rows
        ]

    def _purpose(self, key: DataKey | None, ref: str, sealed: bytes) -> str:
        if key is None:
            return "(sealed: unlock the vault to read it)"
        return key.open_sealed_to(sealed, context(self.operation, ref, "purpose")).decode()

    def statuses(self) -> dict[str, str]:
        """Each reference the vault has a row for, and its status."""
        with reading(self.engine) as connection:
            return {
                str(ref): str(status)
                for ref, status in connection.execute(select(records.c.ref, records.c.status))
            }

    def _record_access(  # noqa: PLR0913 - one row's columns
        self,
        connection: Connection,
        at: datetime,
        actor: str,
        ref: str,
        *,
        action: str,
        purpose: str,
        signature: bytes | None = None,
    ) -> None:
        """Who, when, which record, what, and why (sealed: a purpose may name people)."""
        sealed = seal_to(
            self.public_key, purpose[:500].encode(), context(self.operation, ref, "purpose")
        )
        row = {
            "at": at,
            "actor": actor,
            "ref": ref,
            "action": action,
            "sealed_purpose": sealed,
            "signature": signature,
        }
        connection.execute(insert(accesses).values(**row))

    # --- helpers ------------------------------------------------------------------------------

    def _write(self) -> Any:  # noqa: ANN401 - SQLAlchemy's transaction context manager
        return self.engine.begin()


def _write_new(path: Path, text: str) -> None:
    """Write a file that must not exist yet, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _by_chunk(connection: Connection, statement: Executable, refs: list[str]) -> int:
    """Run ``statement`` for ``refs``, ``_CHUNK`` references at a time; the rows it touched."""
    return sum(
        connection.execute(statement, {"refs": refs[start : start + _CHUNK]}).rowcount
        for start in range(0, len(refs), _CHUNK)
    )
