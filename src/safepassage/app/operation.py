"""The application layer: a command becomes a checked, signed event in the operation's log.

Every way in (CLI, the demo, later the API and field sync) calls ``Operation.submit`` (the
server signs as the actor) or ``Operation.submit_event`` (the client signed it). Each is checked
against the current state (``rules.check``), appended durably to the log, and only then folded
into the state. A refused command writes nothing. An event already in the log (same id) is not
appended twice: its receipt is returned again.

Layout of an operation folder ``DIR``:

* ``DIR/log/``      the operation's log (``safepassage.ledger.log``);
* ``DIR/keys/``     private keys the server holds for actors and witnesses (the demo's);
* ``DIR/witness/``  each party's witness state: the last checkpoint it cosigned.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from safepassage.app.keys import Keyring
from safepassage.errors import ProofError, RuleError, StoreError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import Event, parse_event, sign_event
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.checkpoint import cosign as cosign_note
from safepassage.ledger.log import Log
from safepassage.ledger.note import Verifier
from safepassage.operation import rules
from safepassage.operation.report import CheckpointOut, Report, build_report
from safepassage.operation.state import OperationState

__all__ = ["Operation", "Receipt"]

LOG_DIR = "log"


@dataclass(frozen=True)
class Receipt:
    """What the log answers for an accepted event: where it is, and its id."""

    index: int
    id: str
    duplicate: bool = False


def origin_for(operation: str) -> str:
    """The log origin of an operation (its name in checkpoints)."""
    return f"safepassage.example/{operation}"


class Operation:
    """One operation: its log, the state folded from it, and the keys its server holds."""

    def __init__(
        self, directory: Path, log: Log, state: OperationState, ids: dict[str, int]
    ) -> None:
        self.directory = Path(directory)
        self.log = log
        self.state = state
        self._ids = ids
        self._lock = threading.Lock()  # check, append and fold one event at a time
        self.keys = Keyring(self.directory / "keys")

    @classmethod
    def create(cls, directory: Path, operation: str) -> Operation:
        directory = Path(directory)
        log = Log.create(directory / LOG_DIR, origin_for(operation))
        return cls(directory, log, OperationState(), {})

    @classmethod
    def open(cls, directory: Path) -> Operation:
        """Open an operation and fold its whole log into the state."""
        directory = Path(directory)
        log = Log.open(directory / LOG_DIR)
        state, ids = OperationState(), {}
        for index, raw in log.store.iter_entries():
            event = parse_event(raw)
            state.apply(event)
            ids[event.id] = index
        return cls(directory, log, state, ids)

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands ---------------------------------------------------------------------------

    def submit(self, actor: str, kind: str, body: dict[str, Any], at: datetime) -> Receipt:
        """Sign ``body`` as ``actor`` with the key this server holds for it, then submit it."""
        event = sign_event(
            operation=self.state.operation or str(body.get("operation", "")),
            at=at,
            actor=actor,
            body=parse_body(kind, body),
            key=self.keys.actor(actor),
        )
        return self.submit_event(event)

    def submit_event(self, event: Event) -> Receipt:
        """Check, append and fold an event signed by its actor; idempotent by event id."""
        with self._lock:
            known = self._ids.get(event.id)
            if known is not None:
                return Receipt(known, event.id, duplicate=True)
            rules.check(self.state, event)
            index = self.log.append(event.raw)
            self.state.apply(event)
            self._ids[event.id] = index
            return Receipt(index, event.id)

    def events(self, end: int | None = None) -> Iterator[Event]:
        for _, raw in self.log.store.iter_entries(0, end):
            yield parse_event(raw)

    # --- checkpoints and cosigning ------------------------------------------------------------

    def cosign(self, party: str, timestamp: int | None = None) -> str:
        """The party's witness cosigns the current checkpoint, if consistent with its last one.

        The witness keeps the last checkpoint it cosigned in ``DIR/witness/<party>.json``; a
        checkpoint that is smaller, or not an extension of that one (a fork, a rewritten
        history), is refused with ``RuleError`` and nothing is signed.
        """
        if party not in self.state.witnesses:
            raise RuleError(f"party {party!r} has no witness key on record", field="party")
        note = self.log.checkpoint()
        checkpoint = self.log.open_checkpoint(note)
        witness = WitnessState(self.directory / "witness" / f"{party}.json")
        witness.check(checkpoint, self.log)
        signer = self.keys.witness(party)
        if signer.verifier().key_string() != self.state.witnesses[party]:
            raise RuleError("the key held for this witness is not the one on record", field="party")
        if party in self.cosigners(note):
            return note  # already cosigned at this size: nothing to add
        cosigned = cosign_note(note, signer, timestamp)
        self.log.store.put_checkpoint(checkpoint.size, cosigned)
        witness.save(checkpoint)
        return cosigned

    def cosigners(self, note: str) -> list[str]:
        """The parties whose witness cosignature on ``note`` verifies."""
        verifiers = {
            party: Verifier.from_key_string(key) for party, key in self.state.witnesses.items()
        }
        _, names = open_checkpoint(note, self.log.verifier, verifiers.values())
        return [party for party, v in verifiers.items() if v.name in names]

    # --- the report ---------------------------------------------------------------------------

    def report(self, at: int | None = None) -> Report:
        """The report computed from the events up to checkpoint ``at`` (default: now)."""
        size = self.log.size() if at is None else at
        if not 0 <= size <= self.log.size():
            raise StoreError(f"must be between 0 and the log size {self.log.size()}", field="--at")
        state = OperationState()
        for event in self.events(size):
            state.apply(event)
        note = self.log.checkpoint(size)
        checkpoint = self.log.open_checkpoint(note)
        out = CheckpointOut(
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=base64.b64encode(checkpoint.root).decode(),
            cosigners=self.cosigners(note),
        )
        return build_report(state, out)


class WitnessState:
    """A party's memory of the last checkpoint it cosigned: what it will never contradict."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Checkpoint(data["origin"], int(data["size"]), base64.b64decode(data["root"]))

    def check(self, new: Checkpoint, log: Log) -> None:
        last = self.load()
        if last is None:
            return
        if last.origin != new.origin:
            raise RuleError(f"this witness cosigns {last.origin}, not {new.origin}", field="party")
        if new.size < last.size:
            raise RuleError(
                f"the log shrank: size {new.size} after cosigning size {last.size}", field="party"
            )
        if new.size == last.size:
            if new.root != last.root:
                raise RuleError(f"a different root for size {new.size}: a fork", field="party")
            return
        if last.size == 0:
            return
        try:
            merkle.verify_consistency(
                last.size,
                new.size,
                log.store.consistency_proof(last.size, new.size),
                last.root,
                new.root,
            )
        except ProofError as exc:
            raise RuleError(
                f"size {new.size} is not an extension of the cosigned size {last.size}: a fork",
                field="party",
            ) from exc

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
        }
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)  # atomic: the witness never half-remembers
