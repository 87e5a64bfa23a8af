"""Registering people with their personal data, reading it back, erasing it.

The one path from a registration to the record: the personal data is sealed into the vault
(pending), the ``person.registered`` event carrying only the reference and the commitment goes
through ``Operation.submit_events`` (rules, signature, log), and the vault record is then held
or, if the event was refused, deleted. A crash in between is settled on the next command, so a
registration is never half-recorded: vault and log both have it, or neither does.

Who may open a record: actors of the coordinating or a facilitating party (``STAFF``), with the
vault unlocked; each opening is recorded in the vault with its stated purpose.
"""

from __future__ import annotations

import base64
import hmac
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from safepassage.app.operation import Operation, Receipt
from safepassage.errors import RuleError, SafepassageError, SignatureError
from safepassage.events.catalogue import (
    ErasureReason,
    PersonRecordErased,
    PersonRegistered,
    parse_body,
)
from safepassage.events.envelope import Event, sign_event
from safepassage.vault.crypto import DataKey, commitment
from safepassage.vault.store import PersonalData, Sealed, Settled, Vault, access_statement

__all__ = [
    "AlreadyImported",
    "NewPerson",
    "Registered",
    "Unsettled",
    "erase_person",
    "new_reference",
    "read_person",
    "register_people",
    "sealed_ahead",
]

STAFF = frozenset({"coordinator", "facilitator"})
RESETTLE_SECONDS = 60.0
"""A server settles its vault from the vault itself at least this often (``Unsettled``)."""


@dataclass(frozen=True)
class NewPerson:
    """A registration: non-identifying attributes for the log, personal data for the vault."""

    household: str
    site: str
    age_band: str
    sex: str
    destination: str
    data: PersonalData
    needs: tuple[str, ...] = ()
    submission_id: str | None = None
    ref: str | None = None
    """A reference chosen by the caller (a replayed plan); by default a new random one."""
    sealed: Sealed | None = None
    """The personal data already sealed under a reference drawn at random (``sealed_ahead``),
    used unless that reference turns out to be taken: then it is sealed again under another."""


def sealed_ahead(vault: Vault, person: NewPerson) -> NewPerson:
    """``person`` with its personal data sealed now, under a new random reference.

    Sealing needs only the vault's public key, so a server's HTTP process does it before handing
    the registration to its writer process, which then only checks, signs and records: the two
    processes share the work. A person with a chosen reference is left as it is."""
    if person.ref is not None:
        return person
    return replace(person, sealed=vault.seal(new_reference(), person.data, person.submission_id))


@dataclass
class Unsettled:
    """What a lazy registration (``register_people(lazy=...)``) left pending in the vault, for
    the next batch to settle in its own transaction."""

    held: list[str] = field(default_factory=list)
    """Records whose events the log holds: to mark held."""
    dropped: list[str] = field(default_factory=list)
    """Records whose events were refused: to delete."""
    known: bool = False
    """Whether these two are all there is to settle. Until a batch has gone through (at
    first, and after one failed halfway), while the vault keeps records a registration under
    way elsewhere may still log, and when the log holds an erasure not seen before (its
    process may have died before shredding), the next batch settles from the vault instead."""
    complete: bool = False
    """Whether the last settling from the vault left nothing of other processes pending."""
    erasures: int = 0
    """How many erasures the log held at that settling."""
    settled_at: float = -math.inf
    """When that was (``time.monotonic``): it is done again at least every
    ``RESETTLE_SECONDS``, for what another process left pending when it died."""


@dataclass(frozen=True)
class Registered:
    ref: str
    receipt: Receipt
    salt: bytes
    """The commitment's salt: printed on the evacuee's receipt, kept sealed in the vault."""


@dataclass(frozen=True)
class AlreadyImported:
    """A submission the vault already holds (an intake file imported twice)."""

    submission_id: str
    ref: str


def new_reference() -> str:
    """A pseudonymous reference: 60 random bits, unguessable, nothing derived from the person."""
    return "P-" + base64.b32encode(os.urandom(10)).decode().rstrip("=")[:12]


def _drawn(person: NewPerson) -> str:
    """The reference ``person`` was sealed under ahead, or a new one."""
    return person.sealed.ref if person.sealed is not None else new_reference()


def _sealed(vault: Vault, person: NewPerson, ref: str) -> Sealed:
    """``person``'s data sealed for ``ref``: as sealed ahead if it was for ``ref``, else now."""
    item = person.sealed
    if item is None or item.ref != ref or item.submission_id != person.submission_id:
        item = vault.seal(ref, person.data, person.submission_id)
    return item


def register_people(  # noqa: PLR0913 - who, what, when, and how to commit
    op: Operation,
    vault: Vault,
    people: Sequence[NewPerson],
    *,
    actor: str,
    at: datetime,
    lazy: Unsettled | None = None,
) -> list[Registered | AlreadyImported | SafepassageError]:
    """Register ``people`` in one batch; an answer per person, in order.

    A person whose submission id the vault already holds is answered ``AlreadyImported``; one
    whose event the rules refuse gets the error (field, reason) and leaves nothing behind.

    ``lazy`` (a server registering batch after batch) leaves this batch's records pending once
    the log has answered, and notes in it which to hold and which to drop: the next batch does
    both in the same transaction that stores its own records (one vault commit per batch
    instead of two), without reading which records are pending. Whoever registers lazily calls
    ``settle`` when done.
    """
    _staff(op, actor)
    logged, refused_before = _left_pending(op, vault, lazy)
    persons = op.state.persons
    chosen = {p.ref for p in people if p.ref}
    fresh = {n: _drawn(p) for n, p in enumerate(people) if p.ref is None}
    known, in_vault = vault.lookup(
        (p.submission_id for p in people if p.submission_id), [*chosen, *fresh.values()]
    )  # one connection for what the batch asks first
    stale = set(refused_before)  # still in the vault, dropped by this batch: not taken
    if stale:
        known = {sub: ref for sub, ref in known.items() if ref not in stale}
        in_vault -= stale
    taken = {ref for ref in chosen if ref in persons or ref in in_vault}
    while clash := (
        {r for r in fresh.values() if r in persons or r in chosen or r in in_vault}
        | {r for r, times in Counter(fresh.values()).items() if times > 1}
    ):  # 60 random bits: a collision is as good as impossible, but not impossible
        fresh = {n: new_reference() if r in clash else r for n, r in fresh.items()}
        in_vault = vault.taken(fresh.values()) - stale
    answers: list[Registered | AlreadyImported | SafepassageError | None] = []
    sealed: list[Sealed] = []
    events: list[Event] = []
    key = op.keys.actor(actor)
    for n, person in enumerate(people):
        if person.submission_id and person.submission_id in known:
            answers.append(AlreadyImported(person.submission_id, known[person.submission_id]))
            continue
        ref = person.ref or fresh[n]
        if ref in taken:
            answers.append(RuleError(f"person {ref!r} is already registered", field="person"))
            continue
        taken.add(ref)
        item = _sealed(vault, person, ref)
        try:
            body = parse_body(
                PersonRegistered.kind,
                {
                    "person": ref,
                    "household": person.household,
                    "site": person.site,
                    "age_band": person.age_band,
                    "sex": person.sex,
                    "needs": list(person.needs),
                    "destination": person.destination,
                    "consent": True,
                    "commitment": item.commitment,
                },
            )
        except SafepassageError as exc:
            answers.append(exc)
            continue
        if person.submission_id:
            known[person.submission_id] = ref  # a repeat later in the same batch
        sealed.append(item)
        events.append(sign_event(operation=op.state.operation or "", at=at, actor=actor,
                                 body=body, key=key))  # fmt: skip
        answers.append(None)
    with vault.registering():  # no other process drops these while they are pending
        _put_pending(vault, sealed, logged, refused_before, lazy)
        # on an exception the records stay pending: the next command settles them against
        # the log (held if their events got in, dropped if not)
        public_key = key.public_key().public_bytes_raw()
        results = op.submit_events(events, signed_here={e.id: public_key for e in events})
        _leave_pending(vault, sealed, results, lazy)
    out = iter(zip(sealed, results, strict=True))
    final: list[Registered | AlreadyImported | SafepassageError] = []
    for answer in answers:
        if answer is not None:
            final.append(answer)
            continue
        item, result = next(out)
        final.append(Registered(item.ref, result, item.salt) if isinstance(result, Receipt)
                     else result)  # fmt: skip
    return final


def _left_pending(
    op: Operation, vault: Vault, lazy: Unsettled | None
) -> tuple[list[str], list[str]]:
    """The pending records to hold and to drop before a batch: what the last lazy batch noted,
    or what the vault holds pending, settled against the log (held at once unless lazy)."""
    if lazy is None:
        settle(op, vault)
        return [], []
    known, lazy.known = lazy.known, False  # until this batch is through
    op.catch_up()
    now, erasures = time.monotonic(), len(op.state.erased)
    if known and now - lazy.settled_at < RESETTLE_SECONDS and erasures == lazy.erasures:
        return lazy.held, lazy.dropped
    done = settle(op, vault, defer=True)
    # counted before settling: one that settling only saw later makes the next batch settle
    lazy.complete, lazy.erasures, lazy.settled_at = not done.kept, erasures, now
    return done.held, lazy.dropped  # refused: dropped whatever else is under way


def _put_pending(
    vault: Vault, sealed: list[Sealed], held: list[str], dropped: list[str], lazy: Unsettled | None
) -> None:
    """Store this batch's records pending, and settle the last batch's in the same commit."""
    vault.put_pending(sealed, held=held, dropped=dropped)
    if lazy is not None:
        lazy.held, lazy.dropped = [], []  # done: never again, even if what follows fails


def _leave_pending(
    vault: Vault,
    sealed: Sequence[Sealed],
    results: Sequence[Receipt | SafepassageError],
    lazy: Unsettled | None,
) -> None:
    """After the log answered: hold the records it took and drop the refused ones, now or
    (``lazy``) in the next batch's transaction."""
    held = [s.ref for s, r in zip(sealed, results, strict=True) if isinstance(r, Receipt)]
    refused = [s.ref for s, r in zip(sealed, results, strict=True) if not isinstance(r, Receipt)]
    if lazy is None:
        vault.confirm(held, refused)
    else:
        lazy.held, lazy.dropped, lazy.known = held, refused, lazy.complete


def settle(op: Operation, vault: Vault, *, defer: bool = False) -> Settled:
    """Resolve pending records and unfinished erasures against the log as it is now (with
    ``defer``: return the records to mark held instead, see ``Vault.settle``)."""
    op.catch_up()
    return vault.settle(
        lambda ref: ref in op.state.persons, op.state.erased, defer=defer, refresh=op.catch_up
    )


def read_person(  # noqa: PLR0913 - who, what, why: each a keyword
    op: Operation,
    vault: Vault,
    key: DataKey,
    ref: str,
    *,
    actor: str,
    purpose: str,
    action: Literal["show", "receipt"] = "show",
) -> tuple[PersonalData, bytes]:
    """A person's data (and commitment salt), for a staff actor, recorded with its purpose."""
    _staff(op, actor)
    settle(op, vault)
    person = op.state.persons.get(ref)
    if person is None:
        raise RuleError(f"unknown person {ref!r}", field="ref")
    at = datetime.now(UTC)
    signature = _sign_access(op, vault, actor, ref, action, at)
    data, salt = vault.read(
        key, ref, actor=actor, purpose=purpose, action=action, at=at, signature=signature
    )
    if person.commitment is None or not hmac.compare_digest(
        person.commitment, commitment(salt, data.committed(ref))
    ):
        raise SignatureError(
            f"the vault's record for {ref!r} is not the one its registration committed to in "
            "the log (replaced or altered)",
            field="ref",
        )
    return data, salt


def erase_person(  # noqa: PLR0913 - who, what, why: each a keyword
    op: Operation,
    vault: Vault,
    key: DataKey,
    ref: str,
    *,
    actor: str,
    reason: ErasureReason,
    at: datetime,
) -> Receipt:
    """Record the erasure in the log, then destroy the person's key and record.

    The unlocked data key is asked for as proof of authority, not to decrypt anything. The log
    comes first: a crash after it leaves a record that the next command shreds (``settle``).
    """
    _staff(op, actor)
    settle(op, vault)
    if key.public_key() != vault.public_key:
        raise RuleError("is not this vault's data key", field="vault key")
    body = parse_body(PersonRecordErased.kind, {"person": ref, "reason": reason})
    event = sign_event(
        operation=op.state.operation or "", at=at, actor=actor, body=body, key=op.keys.actor(actor)
    )
    receipt = op.submit_event(event)
    vault.shred(ref, actor=actor, reason=reason)
    return receipt


def _sign_access(  # noqa: PLR0913, PLR0917 - the statement's parts
    op: Operation, vault: Vault, actor: str, ref: str, action: str, at: datetime
) -> bytes:
    """The actor signs the opening with their own key, checked against their key of record:
    holding the data key is not enough to open a record in someone else's name."""
    statement = access_statement(vault.operation, actor, ref, action, at)
    signature = op.keys.actor(actor).sign(statement)
    try:
        Ed25519PublicKey.from_public_bytes(op.state.actors[actor].public_key).verify(
            signature, statement
        )
    except InvalidSignature as exc:
        raise SignatureError(
            f"the key held here for {actor} is not their key of record", field="actor"
        ) from exc
    return signature


def _staff(op: Operation, actor: str) -> None:
    """Only actors of the coordinating or a facilitating party handle personal data."""
    known = op.state.actors.get(actor)
    if known is None:
        raise RuleError(f"{actor} has no registered key", field="actor")
    if known.revoked:
        raise RuleError(f"{actor}'s key was revoked", field="actor")
    role = op.state.role(known.party)
    if role not in STAFF:
        raise RuleError(
            f"{actor} acts for {known.party} ({role}): only the coordinator's and facilitators' "
            "actors handle personal data",
            field="actor",
        )
