"""The vault on disk: ``DIR/vault/key.json`` (the wrapped data key) and ``DIR/vault/vault.db``.

Personal data lives here, never in the log. Each record is sealed under its person's own key,
that key sealed to the operation's data key (``vault.crypto``); the data key is stored only
wrapped, so the files alone reveal nothing. Sealing needs only the data key's public half:
registering a person does not unlock the vault. Opening a record (``read``) needs the unlocked
data key, and is recorded in ``accesses`` *before* the plaintext is returned: who, when, which
reference, and why. Erasing (``shred``) deletes the person's sealed key and record with SQLite's
``secure_delete`` on and truncates the WAL, so no copy of them stays in the files.

A record is ``pending`` from the moment it is stored until its ``person.registered`` event is in
the log, then ``held``; ``settle`` resolves what a crash between the two left behind.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from safepassage.errors import FormatError, StoreError
from safepassage.vault.crypto import (
    DataKey,
    WrappedDataKey,
    commitment,
    open_record,
    seal_person_key,
    seal_record,
)
from safepassage.vault.schema import accesses, records

__all__ = ["VAULT_DIR", "Access", "PersonalData", "Sealed", "Vault"]

VAULT_DIR = "vault"
KEY_FILE = "key.json"
DB_FILE = "vault.db"
SALT_BYTES = 32
PENDING_GRACE = timedelta(minutes=10)
"""A pending record younger than this may belong to a registration still under way."""

_PERSONAL_FIELDS = (
    "given_name",
    "family_name",
    "birth_date",
    "document_number",
    "phone",
    "notes",
)


@dataclass(frozen=True)
class PersonalData:
    """What the vault keeps about a person: the minimum a registration needs."""

    given_name: str
    family_name: str
    birth_date: str | None = None
    """ISO date (``YYYY-MM-DD``)."""
    document_number: str | None = None
    phone: str | None = None
    notes: str | None = None

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
    sealed_key: bytes
    sealed_record: bytes
    salt: bytes
    commitment: str
    submission_id: str | None = None


@dataclass(frozen=True)
class Access:
    at: datetime
    actor: str
    ref: str
    action: str
    purpose: str


def _alembic(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "safepassage.vault:migrations")
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DB-API
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # the only copy of this data: durable first
    cursor.execute("PRAGMA secure_delete=ON")  # deleted bytes are overwritten, not just freed
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


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
    def create(
        cls,
        directory: Path,
        operation: str,
        *,
        passphrase: str | None = None,
        key_file: bytes | None = None,
        scrypt: dict[str, int] | None = None,
    ) -> Self:
        """A new vault in ``directory/vault``, its data key wrapped by one of the two means."""
        folder = Path(directory) / VAULT_DIR
        if (folder / KEY_FILE).exists():
            raise StoreError("this operation already has a vault", field=str(folder / KEY_FILE))
        if (passphrase is None) == (key_file is None):
            raise FormatError("give a passphrase or a key file (one of them)", field="unlock")
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
        return cls._connect(Path(directory), operation, wrapped, data_key.public_key())

    @classmethod
    def open(cls, directory: Path) -> Self:
        """The vault of the operation in ``directory``; ``StoreError`` if it has none."""
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
        return cls._connect(Path(directory), operation, wrapped, public_key)

    @classmethod
    def _connect(
        cls, directory: Path, operation: str, wrapped: WrappedDataKey, public_key: bytes
    ) -> Self:
        db = directory / VAULT_DIR / DB_FILE
        engine = create_engine(f"sqlite:///{db.resolve()}")
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        try:
            with engine.begin() as connection:
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

    def put_pending(self, items: Sequence[Sealed], at: datetime | None = None) -> None:
        """Store sealed records, all or none, as ``pending`` until their events are logged."""
        if not items:
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
            connection.execute(insert(records), rows)

    def confirm(self, held: Iterable[str], dropped: Iterable[str] = ()) -> None:
        """Their events are in the log (``held``), or were refused (``dropped``: deleted)."""
        held, dropped = list(held), list(dropped)
        with self._write() as connection:
            if held:
                connection.execute(
                    update(records)
                    .where(records.c.ref.in_(held), records.c.status == "pending")
                    .values(status="held")
                )
            if dropped:
                connection.execute(
                    delete(records).where(records.c.ref.in_(dropped), records.c.status == "pending")
                )

    def settle(
        self,
        registered: Callable[[str], bool],
        erased: Callable[[str], bool],
        now: datetime | None = None,
    ) -> None:
        """Finish what a crash interrupted: a pending record whose event is in the log is held;
        one without, older than a grace period, is dropped; a record the log says was erased
        but that is still here is shredded."""
        now = now or datetime.now(UTC)
        with self.engine.connect() as connection:
            pending = connection.execute(
                select(records.c.ref, records.c.created_at).where(records.c.status == "pending")
            ).all()
            held = connection.execute(
                select(records.c.ref).where(records.c.status == "held")
            ).scalars()
            unshredded = [ref for ref in held if erased(ref)]
        self.confirm(
            [ref for ref, _ in pending if registered(ref)],
            [ref for ref, t in pending if not registered(ref) and now - t > PENDING_GRACE],
        )
        for ref in unshredded:
            self.shred(ref, actor="safepassage", reason="the log records this erasure")

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
                _record_access(connection, now, actor, ref, action="erase", purpose=reason)
        # the WAL may still hold the pages as they were: write them back and empty it (outside
        # any transaction, or SQLite cannot)
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()

    # --- reading ------------------------------------------------------------------------------

    def status(self, ref: str) -> str | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(records.c.status).where(records.c.ref == ref)
            ).scalar()
        return None if found is None else str(found)

    def submissions(self, ids: Iterable[str]) -> dict[str, str]:
        """Which of these intake submission ids are already in the vault, and as whom."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for sub, ref in connection.execute(
                    select(records.c.submission_id, records.c.ref).where(
                        records.c.submission_id.in_(chunk)
                    )
                ):
                    found[str(sub)] = str(ref)
        return found

    def refs(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(records.c.ref)).scalars())

    def read(  # noqa: PLR0913 - who, what, why: each a keyword
        self,
        key: DataKey,
        ref: str,
        *,
        actor: str,
        purpose: str,
        action: str = "show",
        at: datetime | None = None,
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
            _record_access(
                connection, at or datetime.now(UTC), actor, ref, action=action, purpose=purpose
            )
        person_key = key.open_person_key(self.operation, ref, row.sealed_key)
        opened = open_record(self.operation, ref, person_key, row.sealed_record)
        return PersonalData.from_committed(opened["record"]), base64.b64decode(opened["salt"])

    def accesses(self, ref: str | None = None) -> list[Access]:
        query = select(accesses).order_by(accesses.c.seq)
        if ref is not None:
            query = query.where(accesses.c.ref == ref)
        with self.engine.connect() as connection:
            return [
                Access(r.at, r.actor, r.ref, r.action, r.purpose) for r in connection.execute(query)
            ]

    # --- helpers ------------------------------------------------------------------------------

    def _write(self) -> Any:  # noqa: ANN401 - SQLAlchemy's transaction context manager
        return self.engine.begin()


def _record_access(  # noqa: PLR0913 - one row's columns
    connection: Connection, at: datetime, actor: str, ref: str, *, action: str, purpose: str
) -> None:
    connection.execute(
        insert(accesses).values(at=at, actor=actor, ref=ref, action=action, purpose=purpose[:500])
    )


def _write_new(path: Path, text: str) -> None:
    """Write a file that must not exist yet, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
