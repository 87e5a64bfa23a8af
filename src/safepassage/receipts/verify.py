"""Checking a receipt offline against the operation's public keys. Pure: no I/O, no clock.

What ``verify_receipt`` establishes, in this order (the first failure is raised, naming the
receipt's field at fault):

1. the receipt is for the operation the keys are for (id and name);
2. its checkpoint is signed by the log's key, every other signature on it is a cosignature
   that verifies under a party's witness key (a signature by a key the bundle does not hold is
   refused, stricter than a C2SP note reader: a receipt carries its operation's signatures
   only), and at least one party *other than the coordinator* cosigned it. The coordinator runs
   the log; a checkpoint only it vouches for could be a view shown to this person alone;
3. the event's leaf hash is at the receipt's index in the tree of that checkpoint (RFC 9162);
4. the event is a well-formed canonical event of this operation, of the kind the stage names
   (``person.registered`` or ``person.arrived``), about the receipt's reference, signed by its
   actor's key as the bundle lists it, and its actor's party has a role that may record it;
5. optionally, given the person's record: the registration's commitment is the HMAC of that
   record under the receipt's salt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from safepassage.errors import FormatError, ProofError, SafepassageError, SignatureError
from safepassage.events import catalogue as c
from safepassage.events.envelope import Event, parse_event
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.note import signatures
from safepassage.operation.rules import ALLOWED_ROLES
from safepassage.receipts.format import KINDS, Receipt, Stage
from safepassage.receipts.keys import PublicKeys
from safepassage.vault.crypto import commitment

__all__ = ["VerifiedReceipt", "open_cosigned_checkpoint", "verify_receipt"]


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt proved."""

    operation: str
    operation_name: str
    ref: str
    stage: Stage
    index: int
    at: datetime
    """When the event says the registration or the arrival happened."""
    actor: str
    site: str
    """Where the person was registered, or arrived."""
    destination: str | None
    """The destination chosen at registration; ``None`` for an arrival."""
    checkpoint: Checkpoint
    cosigners: tuple[str, ...]
    """The parties whose witness cosigned the checkpoint, in the note's order."""
    record_checked: bool


def verify_receipt(
    receipt: Receipt, keys: PublicKeys, record: Mapping[str, Any] | None = None
) -> VerifiedReceipt:
    """Check ``receipt`` against ``keys`` (and ``record``, if given); see the module docstring.

    Raises ``SignatureError`` (keys, signatures), ``ProofError`` (the proof, or what the receipt
    claims against what its event says) or ``FormatError`` (an event that is not well-formed),
    each naming the receipt's field.
    """
    if receipt.operation != keys.operation:
        reason = f"the receipt is for {receipt.operation!r}, these keys for {keys.operation!r}"
        raise SignatureError(reason, field="operation")
    if receipt.operation_name != keys.name:
        reason = f"{receipt.operation_name!r} is not the name in the keys, {keys.name!r}"
        raise SignatureError(reason, field="operation_name")
    checkpoint, cosigners = open_cosigned_checkpoint(receipt.checkpoint, keys)
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.event),
            receipt.index,
            checkpoint.size,
            list(receipt.proof),
            checkpoint.root,
        )
    except ProofError as exc:
        reason = f"the event is not entry {receipt.index} of the checkpointed log: {exc.reason}"
        raise ProofError(reason, field="proof") from exc
    event, body = _event(receipt, keys)
    checked = False
    if record is not None:
        _check_record(receipt, body, record)
        checked = True
    return VerifiedReceipt(
        operation=receipt.operation,
        operation_name=receipt.operation_name,
        ref=receipt.ref,
        stage=receipt.stage,
        index=receipt.index,
        at=event.at,
        actor=event.actor,
        site=body.site,
        destination=body.destination if isinstance(body, c.PersonRegistered) else None,
        checkpoint=checkpoint,
        cosigners=tuple(cosigners),
        record_checked=checked,
    )


def open_cosigned_checkpoint(note: str, keys: PublicKeys) -> tuple[Checkpoint, list[str]]:
    """The checkpoint ``note`` signed by the log's key and the parties whose witnesses cosigned
    it; refused unless a party other than the coordinator is among them."""
    witnesses = keys.witnesses()
    try:
        checkpoint, names = open_checkpoint(note, keys.log, witnesses.values())
    except SafepassageError as exc:
        field = f"checkpoint ({exc.field})" if exc.field else "checkpoint"
        raise type(exc)(exc.reason, field=field) from exc
    known = {(v.name, v.key_id) for v in (keys.log, *witnesses.values())}
    for number, (name, key_id, _) in enumerate(signatures(note), 1):
        if (name, key_id) not in known:
            raise SignatureError(
                f"signed by {name}+{key_id.hex()}, neither the log's key nor a party's witness",
                field=f"checkpoint (signature line {number})",
            )
    party_of = {v.name: party for party, v in witnesses.items()}
    cosigners = [party_of[name] for name in names]
    if not set(cosigners) - {keys.coordinator}:
        by = ", ".join(cosigners) or "nobody"
        raise SignatureError(
            f"is cosigned by no party but the coordinator (cosigned by {by})", field="checkpoint"
        )
    return checkpoint, cosigners


def _event(
    receipt: Receipt, keys: PublicKeys
) -> tuple[Event, c.PersonRegistered | c.PersonArrived]:
    try:
        event = parse_event(receipt.event)
    except FormatError as exc:
        raise FormatError(exc.reason, field=f"event.{exc.field}" if exc.field else "event") from exc
    if event.operation != receipt.operation:
        reason = f"is {event.operation!r}, not the receipt's {receipt.operation!r}"
        raise ProofError(reason, field="event.operation")
    body = event.body
    if event.kind != KINDS[receipt.stage] or not isinstance(
        body, c.PersonRegistered | c.PersonArrived
    ):
        reason = f"a {receipt.stage} receipt proves {KINDS[receipt.stage]}, not {event.kind}"
        raise ProofError(reason, field="stage")
    if body.person != receipt.ref:
        reason = f"the event is about {body.person!r}, not {receipt.ref!r}"
        raise ProofError(reason, field="ref")
    key = keys.actors.get(event.actor)
    if key is None:
        raise SignatureError(f"{event.actor} has no key in these keys", field="event.actor")
    try:
        event.verify(key)
    except SignatureError as exc:
        raise SignatureError(exc.reason, field="event.sig") from exc
    party = keys.parties.get(event.party)
    role = party.role if party else None
    if role not in ALLOWED_ROLES[event.kind]:
        reason = f"{event.actor} acts for a {role}, which may not record {event.kind}"
        raise SignatureError(reason, field="event.actor")
    return event, body


def _check_record(
    receipt: Receipt, body: c.PersonRegistered | c.PersonArrived, record: Mapping[str, Any]
) -> None:
    if not isinstance(body, c.PersonRegistered):
        raise FormatError(
            "an arrival receipt carries no commitment: check the record with the registration "
            "receipt",
            field="record",
        )
    if body.commitment is None:
        raise ProofError("the registration carries no commitment to check it by", field="record")
    try:
        made = commitment(receipt.salt, dict(record))
    except (TypeError, ValueError) as exc:  # rfc8785's CanonicalizationError is a ValueError
        raise FormatError(f"cannot be canonicalised: {exc}", field="record") from exc
    if made != body.commitment:
        raise ProofError(
            "does not match the registration's commitment under the receipt's salt",
            field="record",
        )
