"""Issuing an evacuee's receipt from an operation, and exporting the keys that check it.

``issue_receipt`` reads only what is stored (the person's event, a checkpoint the parties have
already cosigned, the inclusion proof): it signs and writes nothing, and it checks the receipt
it built with ``verify_receipt`` before handing it out. The salt comes from the caller, who
reads it from the vault.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from safepassage.app.operation import Operation
from safepassage.errors import FormatError, RuleError, StoreError
from safepassage.ledger.note import Verifier
from safepassage.projections.schema import events
from safepassage.receipts.format import KINDS, Receipt, Stage
from safepassage.receipts.keys import Party, PublicKeys
from safepassage.receipts.verify import verify_receipt

__all__ = ["issue_receipt", "public_keys", "site_names"]


def public_keys(op: Operation) -> dict[str, Any]:
    """The operation's public-keys bundle (``safepassage.receipts.keys``) as JSON data."""
    state = op.state
    if state.operation is None or state.name is None or state.coordinator is None:
        raise RuleError("the operation has not been opened", field="DIR")

    def witness(party: str) -> Verifier | None:
        key = state.witnesses.get(party)
        return Verifier.from_key_string(key) if key else None

    coordinator = state.coordinator
    parties = {
        coordinator: Party(
            state.coordinator_name or coordinator, "coordinator", witness(coordinator)
        )
    }
    for party, joined in state.parties.items():
        parties[party] = Party(joined.name, joined.role, witness(party))
    actors = {actor.id: actor.public_key for actor in state.actors.values()}
    return PublicKeys(state.operation, state.name, op.log.verifier, parties, actors).to_json()


def site_names(op: Operation) -> dict[str, str]:
    """Each site's name by its id, for the printed receipt."""
    return {site: declared.name for site, declared in op.state.sites.items()}


def issue_receipt(op: Operation, ref: str, stage: Stage, salt: bytes) -> Receipt:
    """The receipt of ``ref``'s registration or arrival against the latest checkpoint that
    covers it and that a party other than the coordinator cosigned.

    ``RuleError`` when the person is unknown, has not arrived, or no such checkpoint exists yet
    (cosign one first: ``safepassage checkpoint cosign DIR --party P``).
    """
    if stage not in KINDS:
        raise FormatError(f"{stage!r} is not registration or arrival", field="stage")
    person = op.state.persons.get(ref)
    if person is None:
        raise RuleError(f"no person {ref!r} is registered in this operation", field="ref")
    if stage == "registration":
        event_id = person.registered_event
    elif person.status == "arrived" and person.end_event is not None:
        event_id = person.end_event
    elif person.status == "left-convoy":
        reason = f"{ref} left the convoy at {person.end_site}: there is no arrival to prove"
        raise RuleError(reason, field="stage")
    else:
        raise RuleError(f"{ref} has not arrived yet (status: {person.status})", field="stage")
    index = _index_of(op, event_id)
    keys = PublicKeys.from_json(public_keys(op))
    note, size = _cosigned_checkpoint(op, keys, index)
    receipt = Receipt(
        stage=stage,
        operation=keys.operation,
        operation_name=keys.name,
        ref=ref,
        salt=salt,
        event=op.log.store.entry(index),
        index=index,
        proof=tuple(op.log.store.inclusion_proof(index, size)),
        checkpoint=note,
    )
    verify_receipt(receipt, keys)  # what is handed out has been checked as a reader would
    return receipt


def _is_entry(op: Operation, index: int, event_id: str) -> bool:
    return index < op.log.size() and hashlib.sha256(op.log.store.entry(index)).hexdigest() == (
        event_id
    )


def _index_of(op: Operation, event_id: str) -> int:
    """The log index of an event: looked up in the projections (indexed by id), confirmed
    against the log, which is read through only if the projections are behind or damaged."""
    try:
        with op.projections.engine.connect() as connection:
            found = connection.execute(
                select(events.c.idx).where(events.c.id == event_id)
            ).scalar_one_or_none()
    except SQLAlchemyError:
        found = None
    if found is not None and _is_entry(op, int(found), event_id):
        return int(found)
    for index, raw in op.log.store.iter_entries():
        if hashlib.sha256(raw).hexdigest() == event_id:
            return index
    raise StoreError(f"event {event_id} is not in the log", field="ref")


def _cosigned_checkpoint(op: Operation, keys: PublicKeys, index: int) -> tuple[str, int]:
    for kept in reversed(op.log.store.checkpoints()):
        if kept.size <= index:
            break
        if set(op.cosigners(kept.note)) - {keys.coordinator}:
            return kept.note, kept.size
    raise RuleError(
        f"no stored checkpoint covering log entry {index} is cosigned by a party other than "
        f"the coordinator; cosign one first (safepassage checkpoint cosign DIR --party P)",
        field="checkpoint",
    )
