"""The signed event: one log entry. Pure: canonical JSON, Ed25519 signatures, ids; no I/O.

An event is the RFC 8785 (JCS) canonical JSON object

    {"v": 1, "operation": ..., "kind": ..., "at": ..., "actor": ..., "body": {...}, "sig": ...}

where ``sig`` is the base64 Ed25519 signature, by the actor's registered key, over the canonical
JSON of the same object without ``sig``. The bytes in the log are exactly that canonical form,
and the event's id is the SHA-256 of those bytes, so a retried submission is the same event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from safepassage import canonical
from safepassage.errors import FormatError, SignatureError
from safepassage.events.catalogue import KINDS, Body, parse_body

__all__ = ["VERSION", "Event", "parse_event", "read_event", "sign_event"]

VERSION = 1
_FIELDS = ("v", "operation", "kind", "at", "actor", "body", "sig")


def _format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise FormatError("must carry a time zone", field="at")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """A parsed, well-formed event; ``verify`` checks its signature against a key."""

    operation: str
    kind: str
    at: datetime
    actor: str
    body: Body
    signature: bytes
    raw: bytes
    """The canonical bytes, exactly as signed and logged."""
    id: str = field(init=False, compare=False)
    """The SHA-256 of the event's bytes, in hex: the same content always has the same id."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", hashlib.sha256(self.raw).hexdigest())

    @property
    def party(self) -> str:
        """The party the actor acts for (``<party>/<name>``)."""
        return self.actor.split("/", 1)[0]

    def signed_content(self) -> bytes:
        """The canonical bytes the signature covers (the event without ``sig``).

        In the canonical form the keys are sorted, so the entry ends ``,"sig":"<base64>","v":1}``
        and dropping that member leaves the canonical form of the rest: no second
        serialisation. Bytes of any other shape (never logged) are re-serialised.
        """
        raw = self.raw
        start = raw.rfind(b',"sig":"')
        end = raw.find(b'"', start + 8)
        if start > 0 and raw[end:] == b'","v":1}':
            return raw[:start] + raw[end + 1 :]
        obj = json.loads(raw)
        del obj["sig"]
        return canonical.dumps(obj)

    def verify(self, public_key: bytes) -> None:
        """``SignatureError`` unless the signature is the actor's over the content."""
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                self.signature, self.signed_content()
            )
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(
                f"the signature is not {self.actor}'s over this event", field="sig"
            ) from exc


def sign_event(
    *,
    operation: str,
    at: datetime,
    actor: str,
    body: Body,
    key: Ed25519PrivateKey,
) -> Event:
    """Make the signed, canonical event for ``body`` by ``actor``."""
    content: dict[str, Any] = {
        "v": VERSION,
        "operation": operation,
        "kind": body.kind,
        "at": _format_time(at),
        "actor": actor,
        "body": body.model_dump(mode="json"),
    }
    signed = canonical.dumps(content)
    signature = key.sign(signed)
    # keys sorted: "sig" goes just before "v", the last member; no second serialisation
    tail = b',"v":%d}' % VERSION
    sig = base64.b64encode(signature)
    raw = signed[: -len(tail)] + b',"sig":"' + sig + b'"' + tail
    return Event(
        operation=operation,
        kind=body.kind,
        at=datetime.fromisoformat(content["at"]),
        actor=actor,
        body=body,
        signature=signature,
        raw=raw,
    )


def _string(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise FormatError("must be a non-empty string", field=name)
    return value


def _parse_header(obj: dict[str, Any]) -> tuple[datetime, str, bytes]:
    """The envelope's own fields: when, who, and the signature bytes."""
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise FormatError(f"unknown field {unknown[0]!r}", field="event")
    if obj.get("v") != VERSION:
        raise FormatError(f"must be {VERSION}", field="v")
    try:
        at = datetime.fromisoformat(_string(obj, "at"))
    except ValueError as exc:
        raise FormatError("must be an RFC 3339 time", field="at") from exc
    if at.tzinfo is None:
        raise FormatError("must carry a time zone", field="at")
    actor = _string(obj, "actor")
    if actor.count("/") != 1:
        raise FormatError("must be <party>/<name>", field="actor")
    try:
        signature = base64.b64decode(_string(obj, "sig"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("is not base64", field="sig") from exc
    if len(signature) != 64:
        raise FormatError("must be a 64-byte Ed25519 signature", field="sig")
    if base64.b64encode(signature).decode() != obj["sig"]:
        # the last character carries 4 spare bits: 16 spellings of one signature, 16 ids
        raise FormatError("is not in canonical base64 (spare bits must be zero)", field="sig")
    return at, actor, signature


def parse_event(raw: bytes) -> Event:
    """Parse one log entry; ``FormatError`` names the field that is wrong.

    The bytes must be the canonical form of what they hold, so an event has one spelling and
    one id. The signature is parsed, not checked: that needs the actor's key (``verify``).
    """
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"is not JSON: {exc}", field="event") from exc
    if not isinstance(obj, dict):
        raise FormatError("must be a JSON object", field="event")
    at, actor, signature = _parse_header(obj)
    kind = _string(obj, "kind")
    body = parse_body(kind, obj.get("body"))
    try:
        canonical_form = canonical.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise FormatError(f"cannot be canonicalised: {exc}", field="event") from exc
    if canonical_form != raw:
        raise FormatError("is not in canonical form (RFC 8785)", field="event")
    return Event(
        operation=_string(obj, "operation"),
        kind=kind,
        at=at,
        actor=actor,
        body=body,
        signature=signature,
        raw=raw,
    )


def _logged(model: type[Body]) -> type[BaseModel]:
    """The whole envelope of one kind, so one compiled pass validates an entry end to end."""
    fields: dict[str, Any] = {
        "v": (Literal[1], ...),
        "operation": (str, ...),
        "kind": (Literal[model.kind], ...),
        "at": (str, ...),
        "actor": (str, ...),
        "body": (model, ...),
        "sig": (str, ...),
    }
    return create_model(
        f"Logged{model.__name__}", __config__=ConfigDict(frozen=True, extra="forbid"), **fields
    )


_ANY_LOGGED: Any = Annotated[
    Union[tuple(_logged(m) for m in KINDS.values())],  # noqa: UP007 - a union built at run time
    Field(discriminator="kind"),
]
_LOGGED: TypeAdapter[Any] = TypeAdapter(_ANY_LOGGED)
_VALIDATE_LOGGED = _LOGGED.validator.validate_json  # without the adapter's Python wrapper


def read_event(raw: bytes) -> Event:
    """Read an entry already in the log: the same ``Event`` as ``parse_event``, much faster.

    Replaying a log (opening an operation, rebuilding projections, a report) reads every
    entry; this validates the envelope and body in one compiled schema pass and skips the
    re-canonicalisation, because only bytes that passed ``parse_event`` are ever appended and
    the log's Merkle tree (``safepassage verify``) detects any byte changed since. Whatever the
    schema pass refuses goes through ``parse_event``, so an error still names its field.
    """
    try:
        env = _VALIDATE_LOGGED(raw)
        at = datetime.fromisoformat(env.at)
        signature = binascii.a2b_base64(env.sig.encode(), strict_mode=True)
    except (ValidationError, ValueError):
        return parse_event(raw)
    if at.tzinfo is None or env.actor.count("/") != 1 or len(signature) != 64 or not env.actor:
        return parse_event(raw)
    # 64 bytes: 88 characters ending "==", the 86th carrying 2 bits and 4 spare ones (all 0)
    if env.sig[85] not in _SPARE_BITS_ZERO or not env.operation:
        return parse_event(raw)
    return _trusted_event(env, at, signature, raw)


_SPARE_BITS_ZERO = frozenset("AQgw")  # base64 digits whose low 4 bits are 0 (0, 16, 32, 48)


def _trusted_event(env: Any, at: datetime, signature: bytes, raw: bytes) -> Event:  # noqa: ANN401
    """An ``Event`` with fields already checked, filled without the frozen dataclass's
    ``__init__`` (a third of reading an entry): same fields, same id."""
    event = object.__new__(Event)
    event.__dict__.update(
        operation=env.operation,
        kind=env.kind,
        at=at,
        actor=env.actor,
        body=env.body,
        signature=signature,
        raw=raw,
        id=hashlib.sha256(raw).hexdigest(),
    )
    return event
