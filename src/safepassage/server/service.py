"""What a running server holds: the operation, its vault, the accounts, the one writer.

The writer runs in a process of its own (``WriterProcess``); this process reads its own
``Operation``, which folds in what the writer appended each time it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.app.operation import Operation
from safepassage.app.persons import AlreadyImported, NewPerson, Registered, sealed_ahead
from safepassage.errors import SafepassageError
from safepassage.operation.state import OperationState
from safepassage.server.accounts import Accounts
from safepassage.server.writer import WriterProcess
from safepassage.vault.crypto import DataKey
from safepassage.vault.store import Vault

__all__ = ["Service"]


class Service:
    """One operation served: opened once, written by one process, read by many threads."""

    def __init__(
        self,
        op: Operation,
        accounts: Accounts,
        vault: Vault | None,
        data_key: DataKey | None = None,
    ) -> None:
        self.op = op
        self.accounts = accounts
        self.vault = vault
        self.data_key = data_key
        self.writer = WriterProcess(op.directory, op.database)

    @classmethod
    def open(
        cls, directory: Path, *, database: str | None = None, data_key: DataKey | None = None
    ) -> Self:
        op = Operation.open(directory, database=database)
        try:
            accounts = Accounts.open(directory, database)
        except BaseException:
            op.close()
            raise
        try:
            vault = Vault.open(directory) if (Path(directory) / "vault").is_dir() else None
        except BaseException:
            accounts.close()
            op.close()
            raise
        try:
            return cls(op, accounts, vault, data_key)
        except BaseException:  # the writer process could not open the operation
            if vault is not None:
                vault.close()
            accounts.close()
            op.close()
            raise

    def register(
        self, people: Sequence[NewPerson], actor: str
    ) -> Future[list[Registered | AlreadyImported | SafepassageError]]:
        """Register ``people`` through the writer process. ``StoreError`` at once if the
        operation has no vault.

        Where their personal data is sealed depends on where the operation's data is, as
        measured (``docs/benchmarks.md``): on PostgreSQL the writer spends its batches waiting
        on round trips, so the HTTP process seals (``sealed_ahead``) and the writer only checks,
        signs and records; on SQLite sealing costs less in the writer, a batch at a time, than
        here between requests, and the writer seals."""
        if self.vault is not None and self.op.database is not None:
            people = [sealed_ahead(self.vault, person) for person in people]
        return self.writer.register(people, actor)

    def state(self) -> OperationState:
        """The operation's state with everything the writer has recorded folded in (not
        locked: for a caller that reads it while nothing records, as tests do)."""
        self.op.catch_up()
        return self.op.state

    def actor_key(self, actor: str) -> Ed25519PrivateKey:
        """The private key the server holds for ``actor`` (read once)."""
        return self.op.keys.actor(actor)

    def close(self) -> None:
        self.writer.close()
        if self.vault is not None:
            self.vault.close()
        self.accounts.close()
        self.op.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
