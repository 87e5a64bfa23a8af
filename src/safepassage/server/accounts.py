"""Accounts: who may use the server, in which role, acting as which actor of which party.

There is no default account. ``safepassage account create`` makes one and prints its token
once; the server keeps only the token's SHA-256 (a token is 256 random bits, so a fast hash is
enough: nobody can guess one to match a stolen hash). An account acts with the registered key
of one actor of its party, whose private key the server holds; a revoked account is refused
from the next request on.

Roles, and the parties they may belong to (the party's role is in the log):

* ``coordinator``    the coordinating party (plans, notifies, reads everything);
* ``facilitator``    a facilitating party (vehicles, movements, people);
* ``registrar``      staff of the coordinator or a facilitator at a site (registers, boards);
* ``party-liaison``  a party to the conflict or an observer party (acknowledges, attests);
* ``observer``       any party, read-only, aggregate figures only.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Self

from sqlalchemy import Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from safepassage.database import database_for, ensure_schema, postgres_engine
from safepassage.errors import RuleError, StoreError
from safepassage.migrate import alembic_config, begin_immediate
from safepassage.operation.state import OperationState
from safepassage.server.schema import accounts

__all__ = ["Account", "Accounts", "Role", "hash_token", "new_token"]

TOKEN_PREFIX = "spt_"  # noqa: S105 - a prefix that says what a string is, not a secret
FRESH_SECONDS = 1.0
"""How long a token's check is remembered (a revocation elsewhere takes effect within it)."""
ACCOUNTS_FILE = "accounts.db"
SCHEMA = "accounts"


class Role(StrEnum):
    coordinator = "coordinator"
    facilitator = "facilitator"
    registrar = "registrar"
    party_liaison = "party-liaison"
    observer = "observer"


PARTY_ROLES: dict[Role, frozenset[str] | None] = {
    Role.coordinator: frozenset({"coordinator"}),
    Role.facilitator: frozenset({"facilitator"}),
    Role.registrar: frozenset({"coordinator", "facilitator"}),
    Role.party_liaison: frozenset({"party-to-conflict", "observer"}),
    Role.observer: None,  # any party
}
"""Which roles a party (as the log records it) must have for an account of each role."""


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: Role
    party: str
    actor: str
    created_at: datetime
    revoked_at: datetime | None = None


def new_token() -> str:
    """A bearer token: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Accounts:
    """The accounts table of one operation's server."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen: dict[str, tuple[float, Account | None]] = {}

    @classmethod
    def open(cls, directory: Path, database: str | None = None) -> Self:
        """The accounts of the operation in ``directory``: ``DIR/accounts.db``, or the schema
        ``accounts`` of the operation's PostgreSQL database (created or migrated as needed)."""
        url = database_for(directory, database)
        if url is None:
            engine = create_engine(f"sqlite:///{(Path(directory) / ACCOUNTS_FILE).resolve()}")
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", begin_immediate)
        else:
            engine = postgres_engine(url, SCHEMA)
        try:
            from alembic import command  # noqa: PLC0415 - only needed when opening

            if url is not None:
                with engine.begin() as connection:
                    ensure_schema(connection, SCHEMA)
            with engine.begin() as connection:
                command.upgrade(alembic_config(connection, "safepassage.server:migrations"), "head")
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the accounts: {exc}", field="accounts") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(
        self, state: OperationState, *, role: Role, party: str, name: str, actor: str
    ) -> tuple[Account, str]:
        """Make an account and its token (returned once, never stored)."""
        check_account(state, role=role, party=party, name=name, actor=actor)
        token = new_token()
        account = Account(
            id="acct-" + secrets.token_hex(6),
            name=name,
            role=role,
            party=party,
            actor=actor,
            created_at=datetime.now(UTC),
        )
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(accounts).values(
                        id=account.id,
                        name=name,
                        role=role.value,
                        party=party,
                        actor=actor,
                        token_hash=hash_token(token),
                        created_at=account.created_at,
                    )
                )
        except IntegrityError as exc:  # 2^-256: a broken random source, not bad luck
            raise StoreError("a token collided with another account's", field="token") from exc
        return account, token

    def authenticate(self, token: str) -> Account | None:
        """The live account holding ``token``; ``None`` if unknown or revoked.

        Answers are remembered for ``FRESH_SECONDS``: a revocation made by another process
        (``safepassage account revoke``) takes effect within that time, one made through this
        object at once."""
        digest = hash_token(token)
        seen = self._seen.get(digest)
        now = time.monotonic()
        if seen is not None and now - seen[0] < FRESH_SECONDS:
            return seen[1]
        with self.engine.connect() as connection:
            row = connection.execute(
                select(accounts).where(accounts.c.token_hash == digest)
            ).first()
        account = None if row is None or row.revoked_at is not None else _account(row)
        if len(self._seen) > 10_000:  # wrong tokens are remembered too: bound the memory
            self._seen.clear()
        self._seen[digest] = (now, account)
        return account

    def remembered(self, token: str) -> tuple[bool, Account | None]:
        """``authenticate`` without touching the database: (known fresh, account)."""
        seen = self._seen.get(hash_token(token))
        if seen is not None and time.monotonic() - seen[0] < FRESH_SECONDS:
            return True, seen[1]
        return False, None

    def list(self) -> list[Account]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(accounts).order_by(accounts.c.created_at)).all()
        return [_account(row) for row in rows]

    def revoke(self, account_id: str) -> Account:
        with self.engine.begin() as connection:
            done = connection.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = connection.execute(select(accounts).where(accounts.c.id == account_id)).first()
        self._seen.clear()
        if row is None:
            raise StoreError(f"no account {account_id!r}", field="ACCOUNT")
        if done.rowcount == 0:
            raise StoreError(f"account {account_id!r} is already revoked", field="ACCOUNT")
        return _account(row)


def _account(row: object) -> Account:
    def aware(value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:  # SQLite keeps no zone: it was UTC
            return value.replace(tzinfo=UTC)
        return value

    created = aware(row.created_at)  # type: ignore[attr-defined]
    assert created is not None
    return Account(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        party=row.party,  # type: ignore[attr-defined]
        actor=row.actor,  # type: ignore[attr-defined]
        created_at=created,
        revoked_at=aware(row.revoked_at),  # type: ignore[attr-defined]
    )


def check_account(state: OperationState, *, role: Role, party: str, name: str, actor: str) -> None:
    """Refuse an account the log does not support: unknown party, a role the party's role does
    not allow, an actor of another party or a revoked one."""
    if not name.strip() or len(name) > 200:
        raise RuleError("must be 1 to 200 characters", field="--name")
    check_role(state, role=role, party=party)
    known_actor = state.actors.get(actor)
    if known_actor is None:
        raise RuleError(f"no actor {actor!r} registered in the log", field="--actor")
    if known_actor.party != party:
        raise RuleError(f"actor {actor!r} acts for {known_actor.party!r}, not {party!r}",
                        field="--actor")  # fmt: skip
    if known_actor.revoked:
        raise RuleError(f"actor {actor!r}'s key is revoked", field="--actor")


def check_role(state: OperationState, *, role: Role, party: str) -> None:
    """Refuse an unknown party, or a role its role in the log does not allow."""
    party_role = state.role(party)
    if party_role is None:
        known = ", ".join(
            sorted({*state.parties, *([state.coordinator] if state.coordinator else [])})
        )
        raise RuleError(f"no party {party!r} in this operation (known: {known})", field="--party")
    allowed = PARTY_ROLES[role]
    if allowed is not None and party_role not in allowed:
        raise RuleError(
            f"a {role.value} account must belong to a party of role "
            f"{' or '.join(sorted(allowed))}; {party!r} is a {party_role}",
            field="--role",
        )
